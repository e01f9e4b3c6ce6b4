"""Blocking client: `BgRemoveClient(url).remove_background(path)`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TypeVar, Unpack

import httpx

from bgremove_client._protocol import (
    DEFAULT_URL,
    ENDPOINT,
    RETRYABLE_TRANSPORT_ERRORS,
    CommonOptions,
    Engine,
    Format,
    ImageInput,
    ImageSource,
    Output,
    Refine,
    auth_headers,
    build_params,
    connection_error,
    error_from_response,
    result_from_response,
    retry_delay,
)
from bgremove_client.errors import BgRemoveError
from bgremove_client.result import RemovalResult
from bgremove_client.retry import RetryPolicy
from bgremove_client.video import (
    VIDEO_ENDPOINT,
    ProgressCallback,
    VideoOutput,
    VideoResult,
    receive_video,
    video_params,
)

T = TypeVar("T")


class BgRemoveClient:
    """Thread-safe (one httpx.Client with its connection pool); use as a context manager or close().

    base_url: the service, e.g. "http://127.0.0.1:8000".
    api_key:  sent as X-API-Key when the server requires one.
    timeout:  seconds per attempt (connect, upload, wait for the result).
    retry:    backoff policy for 429/502/503/504 and connection failures; `NO_RETRY` disables it.
    transport/http_client: inject an httpx transport (tests: httpx.MockTransport) or a whole client;
              a given http_client is used as is (its base URL, headers and timeout; api_key,
              headers and timeout here are then ignored) and is not closed by this client.
    sleep:    how to wait between attempts (tests pass a recorder instead of sleeping).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            base_url=base_url,
            timeout=timeout,
            headers={**(headers or {}), **auth_headers(api_key)},
            transport=transport,
        )
        self._retry = retry if retry is not None else RetryPolicy()
        self._sleep = sleep

    def remove_background(
        self,
        image: ImageInput,
        *,
        output: Output | None = None,
        format: Format | None = None,
        bg_color: str | None = None,
        engine: Engine | None = None,
        refine: Refine | None = None,
        decontaminate: bool | None = None,
        filename: str | None = None,
    ) -> RemovalResult:
        """POST the image to /remove-background; parameters left as None take the server's defaults
        (output=rgba, format=png, bg_color=#ffffff, engine=auto). Raises `BgRemoveError` subclasses."""
        params = build_params(
            output=output,
            format=format,
            bg_color=bg_color,
            engine=engine,
            refine=refine,
            decontaminate=decontaminate,
        )
        source = ImageSource.from_input(image, filename)

        def attempt(attempts: int) -> RemovalResult:
            with source.open() as upload:
                response = self._http.post(ENDPOINT, params=params, files={"image": upload})
            if not response.is_success:
                raise error_from_response(response, attempts)
            return result_from_response(response, attempts)

        return self._retrying(attempt)

    def remove_video(
        self,
        video: ImageInput,
        target: str | os.PathLike[str],
        *,
        output: VideoOutput | None = None,
        bg_color: str | None = None,
        ofd: bool | None = None,
        engine: Engine | None = None,
        filename: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> VideoResult:
        """POST the clip to /remove-background/video and stream the WebM to `target` as it arrives.
        `on_progress` gets the frame count (X-Video-Frames) and the bytes received so far. A stream
        the server cuts short is retried like a lost connection; no partial file is left behind."""
        params = video_params(output=output, bg_color=bg_color, ofd=ofd, engine=engine)
        source = ImageSource.from_input(video, filename)

        def attempt(attempts: int) -> VideoResult:
            with (
                source.open() as upload,
                self._http.stream("POST", VIDEO_ENDPOINT, params=params, files={"video": upload}) as response,
            ):
                if not response.is_success:
                    response.read()
                    raise error_from_response(response, attempts)
                return receive_video(response, target, attempts, on_progress)

        return self._retrying(attempt)

    def _retrying(self, attempt: Callable[[int], T]) -> T:
        """Calls `attempt(n)` until it returns, sleeping per the retry policy between attempts that
        fail with a retryable error or a lost connection."""
        attempts = 0
        while True:
            attempts += 1
            cause: Exception | None = None
            error: BgRemoveError
            try:
                return attempt(attempts)
            except RETRYABLE_TRANSPORT_ERRORS as exc:
                cause, error = exc, connection_error(exc, attempts)
            except BgRemoveError as exc:
                error = exc
            delay = retry_delay(self._retry, error, attempts)
            if delay is None:
                raise error from cause
            self._sleep(delay)

    def cutout(
        self, image: ImageInput, *, format: Format = "png", **options: Unpack[CommonOptions]
    ) -> RemovalResult:
        """Transparent cut-out (RGBA PNG or WebP)."""
        return self.remove_background(image, output="rgba", format=format, **options)

    def mask(
        self, image: ImageInput, *, format: Format = "png", **options: Unpack[CommonOptions]
    ) -> RemovalResult:
        """8-bit alpha matte, grayscale."""
        return self.remove_background(image, output="mask", format=format, **options)

    def composite(
        self,
        image: ImageInput,
        *,
        bg_color: str = "#ffffff",
        format: Format = "jpeg",
        **options: Unpack[CommonOptions],
    ) -> RemovalResult:
        """Foreground on a solid background colour, no alpha channel."""
        return self.remove_background(image, output="composite", bg_color=bg_color, format=format, **options)

    def zip_bundle(self, image: ImageInput, **options: Unpack[CommonOptions]) -> RemovalResult:
        """ZIP with color.jpg + alpha.png (remove.bg's ZIP format)."""
        return self.remove_background(image, output="zip", **options)

    def ready(self) -> bool:
        """True when /readyz answers 200 (model loaded and warmed up)."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> BgRemoveClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
