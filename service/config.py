"""Service settings (pydantic-settings, env prefix `BGREMOVE_`). Read only by `create_app`'s caller,
never at import time, so tests build apps with whatever settings they need."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The repo ships its own MODNet weights here; when the file exists, `engine=auto` serves MODNet.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "model" / "weights" / "modnet_people.safetensors"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BGREMOVE_", env_file=None, extra="ignore")

    # --- server
    host: str = Field("0.0.0.0", description="Interface uvicorn binds to.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")

    # --- model
    weights_path: Path = Field(
        DEFAULT_WEIGHTS,
        description="MODNet weights (.safetensors, or an official .ckpt). Missing file: GrabCut only.",
    )
    modnet_factory: str = Field(
        "model.serving:create_engine",
        description="Dotted path of the MODNet engine factory (keeps torch out of the service package).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present.")
    inference_size: int = Field(
        0,
        ge=0,
        le=2048,
        description="MODNet short side, rounded to 32; 0 = the size the weights were trained for "
        "(their metadata), else 512.",
    )
    cpu_precision: Literal["auto", "fp32", "bf16"] = Field(
        "fp32",
        description="MODNet arithmetic on CPU (CUDA is always fp16): bf16 is ~35 % faster where the CPU "
        "has it natively but costs matte quality; auto = bf16 only on such CPUs.",
    )
    cpu_runtime: Literal["auto", "torch", "onnx"] = Field(
        "auto",
        description="What runs MODNet's forward pass on CPU: onnx = ONNX Runtime on a graph exported "
        "from the weights at start-up (cached under XDG_CACHE_HOME; same mattes, several times faster "
        "than torch fp32), torch = the torch network; auto = onnx when installed and fp32, else torch.",
    )
    flip_average: bool = Field(
        False,
        description="Also run MODNet on each photo mirrored and average the two mattes: fewer lost limbs "
        "and kept walls, for twice the network work per photo (README, Model).",
    )
    upsampling: Literal["guided", "bilinear"] = Field(
        "guided",
        description="How MODNet's low-resolution matte is brought to the photo's size: guided = edge-aware "
        "(the guided filter's coefficients applied to the full-resolution photo; edges land on the photo's "
        "edges), bilinear = plain interpolation (edges blurred by the scale factor).",
    )
    min_island_fraction: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Foreground regions smaller than this share of the largest one are dropped from the "
        "matte with their soft surroundings (a poster's face, a bystander, a bright leaf apart from the "
        "subject); 0 keeps them. Measured on the validation photos: fewer stray blobs, higher IoU.",
    )
    measure_batch_cap: bool = Field(
        True,
        description="At warm-up, time batches of 1, 2, 4, ... up to max_batch_size on the serving shape and "
        "cap batches where the per-item cost stops falling (1 on a small CPU); false = max_batch_size.",
    )
    warmup: bool = Field(True, description="Run each engine once before reporting ready.")
    require_modnet: bool = Field(
        False, description="Stay unready (instead of serving GrabCut only) when MODNet cannot be loaded."
    )

    # --- batching
    max_batch_size: int = Field(16, ge=1, le=256, description="Most images per MODNet call.")
    max_batch_wait_ms: float = Field(
        5.0, ge=0, le=1000, description="How long a batch may wait for more items after its first."
    )
    max_queue: int = Field(128, ge=1, description="Items waiting for the engine; beyond it: 429.")
    max_in_flight: int = Field(
        128, ge=1, description="Requests anywhere in the pipeline (upload to encode); beyond it: 429."
    )
    max_uploads: int = Field(
        256, ge=1, description="Request bodies read at once (before admission); beyond it: 429."
    )
    max_slow_uploads: int = Field(
        32,
        ge=1,
        description="Uploads still being read after slow_upload_after_s; beyond it such an upload "
        "ends with 408, so trickling clients cannot hold every upload place.",
    )
    slow_upload_after_s: float = Field(2.0, gt=0, description="An upload running longer is slow.")
    upload_timeout_s: float = Field(30.0, gt=0, description="Whole body read, at most; beyond: 408.")
    upload_idle_timeout_s: float = Field(
        10.0, gt=0, description="Longest pause between two chunks of a body; beyond: 408."
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="From connection (or a request's first byte) to its complete head."
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="Idle keep-alive connection closed after this (uvicorn's own)."
    )
    request_timeout_s: float = Field(30.0, gt=0, description="Per-request deadline, queue + inference.")
    admission_max_wait_s: float = Field(
        0.0,
        ge=0,
        description="Refuse (429) a request whose expected wait behind the admitted work is longer; "
        "0 = half of request_timeout_s (service/admission.py).",
    )
    drain_timeout_s: float = Field(30.0, ge=0, description="On shutdown, time to finish admitted work.")
    engine_stall_timeout_s: float = Field(
        15.0,
        gt=0,
        description="A MODNet call running this long (none other returning) marks the engine stalled: "
        "/readyz 503, its items go to GrabCut. Keep it under request_timeout_s.",
    )
    grabcut_workers: int = Field(2, ge=1, description="Parallel GrabCut computations.")
    cpu_workers: int = Field(0, ge=0, description="Decode/encode thread pool size; 0 = number of cores.")
    cpu_pool_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="How many Linux nice steps the decode/encode threads run below the process (and "
        "its engine thread), so they never preempt the model's forward (service/cpu_pool.py); "
        "0 = the same priority.",
    )

    malloc_reuse: bool = Field(
        True,
        description="Keep freed request buffers mapped while working (glibc: one arena, high mmap and trim "
        "thresholds), so requests do not fault their pages in afresh; memory_trim_idle_s returns them "
        "(service/malloc_reuse.py).",
    )
    memory_trim_idle_s: float = Field(
        5.0,
        ge=0,
        description="Return freed heap to the OS (glibc malloc_trim) once the engines are ready and after "
        "each spell of work once no request has been in flight for this long; 0 = never.",
    )

    # --- limits
    max_upload_bytes: int = Field(
        25 * 1024 * 1024, ge=1024, description="Largest accepted upload (413 above)."
    )
    max_pixels: int = Field(40_000_000, ge=1, description="Checked from the header, before decoding.")
    max_image_side: int = Field(20_000, ge=1, description="Longest accepted side in pixels.")
    max_aspect_ratio: float = Field(
        20.0, ge=1, description="Long side / short side at most this (short sides under 64 count as 64)."
    )
    max_jpeg_scans: int = Field(
        100, ge=1, description="Most scans in a (progressive) JPEG; more is a decoding bomb."
    )
    max_jpeg_scan_pixels: int = Field(
        1_000_000_000, ge=1, description="Decoded samples summed over a JPEG's scans (decode CPU bound)."
    )
    max_request_memory_mb: int = Field(
        3072, ge=1, description="Estimated working memory one request may need (from size and output)."
    )
    memory_budget_mb: int = Field(
        0,
        ge=0,
        description="Estimated working memory of all requests together, reserved at admission (429 "
        "beyond it); 0 = 75 % of the container's memory limit. When set, caps max_request_memory_mb.",
    )
    retry_after_s: int = Field(
        1, ge=1, description="Retry-After sent with 503, and with 429 when admission has no estimate yet."
    )

    # --- video (POST /remove-background/video); every limit is checked from the container before a
    # frame is decoded
    video_max_upload_bytes: int = Field(
        100 * 1024 * 1024, ge=1024, description="Largest accepted video upload (413 above)."
    )
    video_upload_timeout_s: float = Field(
        120.0,
        gt=0,
        description="Whole video body read, at most; beyond: 408 (idle and slow limits as photos).",
    )
    video_max_duration_s: float = Field(60.0, gt=0, description="Longest accepted clip, in seconds.")
    video_max_frames: int = Field(1800, ge=1, description="Most video frames in one clip.")
    video_max_pixels: int = Field(
        1920 * 1088, ge=1, description="Most pixels per video frame (1080p by default)."
    )
    video_frames_in_flight: int = Field(
        4, ge=1, le=256, description="Frames one clip may have queued for the engine at once."
    )
    video_max_concurrent: int = Field(2, ge=1, description="Videos processed at once; beyond it: 429.")

    # --- access
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated; if set, X-API-Key must be one of them."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated CORS allow-list; empty = CORS off."
    )

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # Env values are plain strings ("k1,k2"); Python callers may pass lists.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("inference_size")
    @classmethod
    def _zero_or_a_real_size(cls, value: int) -> int:
        if 0 < value < 64:
            raise ValueError("inference_size must be 0 (the weights' own) or at least 64")
        return value

    @model_validator(mode="after")
    def _batch_wait_shorter_than_timeout(self) -> Settings:
        # A batch that may wait longer than a request may live would time out its own items.
        if self.max_batch_wait_ms / 1000.0 >= self.request_timeout_s:
            raise ValueError("max_batch_wait_ms must be shorter than request_timeout_s")
        return self
