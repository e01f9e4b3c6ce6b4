"""Python client for the bgremove service (depends on httpx and the standard library only).

    from bgremove_client import BgRemoveClient

    with BgRemoveClient("http://127.0.0.1:8000") as client:
        result = client.remove_background("photo.jpg", output="rgba", format="png")
        result.save("photo.png")
        print(result.engine, result.processing_ms)

`AsyncBgRemoveClient` has the same methods as coroutines. The command-line tool is
`python -m bgremove_client` (installed as `bgremove`).
"""

from bgremove_client._protocol import DEFAULT_URL, Engine, Format, ImageInput, Output, Refine
from bgremove_client.async_client import AsyncBgRemoveClient
from bgremove_client.errors import (
    BgRemoveError,
    ConnectionFailed,
    NonRetryableError,
    RetryableError,
)
from bgremove_client.result import RemovalResult
from bgremove_client.retry import NO_RETRY, RetryPolicy
from bgremove_client.sync_client import BgRemoveClient
from bgremove_client.video import VideoProgress, VideoResult

__all__ = [
    "DEFAULT_URL",
    "NO_RETRY",
    "AsyncBgRemoveClient",
    "BgRemoveClient",
    "BgRemoveError",
    "ConnectionFailed",
    "Engine",
    "Format",
    "ImageInput",
    "NonRetryableError",
    "Output",
    "Refine",
    "RemovalResult",
    "RetryPolicy",
    "RetryableError",
    "VideoProgress",
    "VideoResult",
]
