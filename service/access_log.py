"""Keeps probe and scrape requests out of uvicorn's access log.

The kubelet asks /healthz and /readyz every few seconds per pod and Prometheus scrapes /metrics:
at INFO those lines were most of the log and buried the requests people look for. Their outcomes
are visible where they matter (pod events, the `up` series, bgremove_model_ready).
"""

from __future__ import annotations

import logging

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ACCESS_LOGGER = "uvicorn.access"


class ProbeAccessFilter(logging.Filter):
    """Drops uvicorn access records for `PROBE_PATHS` (any query string); passes everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: msg '%s - "%s %s HTTP/%s" %d' with args
        # (client address, method, path with query, HTTP version, status code).
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            return args[2].split("?", 1)[0] not in PROBE_PATHS
        return True


def install_probe_filter() -> None:
    """Adds the filter to uvicorn's access logger once per process (app factories may run often)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, ProbeAccessFilter) for f in logger.filters):
        logger.addFilter(ProbeAccessFilter())
