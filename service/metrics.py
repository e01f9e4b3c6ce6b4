"""Every Prometheus metric of the service, declared once against an injectable registry.

Queue depth (`bgremove_queue_depth`) is the autoscaling signal (KEDA / HPA); the rest explain why it
moves. Buckets are chosen per unit: seconds for latencies, item counts for batch sizes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "bgremove_requests",
            "Finished requests to the removal endpoints.",
            ["output", "engine", "status"],
            registry=r,
        )
        self.errors = Counter("bgremove_errors", "Error responses by error code.", ["code"], registry=r)
        self.request_duration = Histogram(
            "bgremove_request_duration_seconds",
            "Wall time of a removal request, upload read to response built.",
            ["output"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "bgremove_queue_depth",
            "Items admitted and waiting for an engine (the autoscaling signal).",
            ["engine"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "bgremove_queue_wait_seconds",
            "Time from admission to the start of the item's batch.",
            ["engine"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "bgremove_batch_size",
            "Items per engine call.",
            ["engine"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            "bgremove_inference_duration_seconds",
            "Engine time per batch.",
            ["engine"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "bgremove_fallbacks",
            "Items served by GrabCut instead of MODNet, by reason.",
            ["reason"],
            registry=r,
        )
        self.dropped = Counter(
            "bgremove_dropped_items",
            "Admitted items dropped before inference (client left, deadline passed).",
            ["engine", "reason"],
            registry=r,
        )
        self.rejected = Counter(
            "bgremove_rejected",
            "Requests refused at admission (queue full, in flight, uploads, expected wait, memory).",
            ["reason"],
            registry=r,
        )
        self.in_flight = Gauge(
            "bgremove_in_flight_requests", "Removal requests being handled now.", registry=r
        )
        self.uploads = Gauge("bgremove_uploads_in_progress", "Request bodies being read now.", registry=r)
        self.memory_reserved = Gauge(
            "bgremove_memory_reserved_bytes",
            "Estimated working memory reserved by the requests in progress (against the budget).",
            registry=r,
        )
        self.batch_cap = Gauge(
            "bgremove_batch_cap",
            "Most items per engine call: where per-item cost stopped falling at warm-up (at most "
            "max_batch_size).",
            ["engine"],
            registry=r,
        )
        self.model_ready = Gauge(
            "bgremove_model_ready",
            "1 when the engine is loaded and warmed up.",
            ["engine"],
            registry=r,
        )
        # Video: a clip's frames go through the same engine batchers (so the engine metrics above
        # count them too); these say how many clips and frames, and how long each frame took.
        self.video_requests = Counter(
            "bgremove_video_requests",
            "Finished video requests, by output, engine and status.",
            ["output", "engine", "status"],
            registry=r,
        )
        self.videos_in_flight = Gauge(
            "bgremove_videos_in_flight", "Video requests being handled now (streaming included).", registry=r
        )
        self.video_frames = Counter(
            "bgremove_video_frames", "Video frames matted and encoded.", ["engine"], registry=r
        )
        self.video_frame_latency = Histogram(
            "bgremove_video_frame_latency_seconds",
            "Per video frame: decoded to encoded (engine queue, inference, OFD delay, encode).",
            ["engine"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
