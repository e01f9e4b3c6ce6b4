"""What goes over the wire for each kind of input: paths stream from disk, streams upload from their
current position, pipes are read once so they can be retried, and the part has a sensible type."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import httpx
import pytest

from bgremove_client import BgRemoveClient
from bgremove_client._protocol import ImageSource, sniff_media_type
from tests.client.scripted import ScriptedServer, busy, ok
from tests.locations import modules_loaded_by


class CountingTransport(httpx.BaseTransport):
    """Consumes the request body chunk by chunk without keeping it, like a socket would."""

    def __init__(self) -> None:
        self.body_bytes = 0
        self.largest_chunk = 0
        self.content_length: str | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.content_length = request.headers.get("content-length")
        for chunk in request.stream:  # type: ignore[union-attr]
            self.body_bytes += len(chunk)
            self.largest_chunk = max(self.largest_chunk, len(chunk))
        return ok_response()


def ok_response() -> httpx.Response:
    reply = ok()
    return httpx.Response(reply.status, headers=reply.headers, content=reply.body)


def test_a_path_is_streamed_not_read_whole(tmp_path: Path) -> None:
    size = 48 * 1024 * 1024
    big = tmp_path / "big.png"
    with big.open("wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.truncate(size)  # sparse: costs no disk, reads back as zeros
    transport = CountingTransport()
    with BgRemoveClient("http://x", transport=transport) as client:
        tracemalloc.start()
        try:
            client.remove_background(big)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert transport.body_bytes > size  # the whole file went out (plus multipart framing)
    assert transport.content_length == str(transport.body_bytes)  # known length, not chunked
    assert transport.largest_chunk <= 64 * 1024
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB: the file was read into memory"


def _sent_parts(source: object, **kwargs: object) -> list[bytes]:
    server = ScriptedServer([busy("0"), ok()])
    with BgRemoveClient("http://x", transport=httpx.MockTransport(server.handle), sleep=lambda _: None) as c:
        c.remove_background(source, **kwargs)  # type: ignore[arg-type]
    return [body for _, body in server.requests]


def test_a_stream_uploads_from_its_current_position_on_every_attempt(jpeg_bytes: bytes) -> None:
    stream = io.BytesIO(b"HEADER" + jpeg_bytes)
    stream.seek(6)
    bodies = _sent_parts(stream)
    assert len(bodies) == 2
    for body in bodies:
        assert jpeg_bytes in body and b"HEADER" not in body
        assert b"Content-Type: image/jpeg" in body


class Pipe(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_non_seekable_stream_is_read_once_so_it_can_be_retried(jpeg_bytes: bytes) -> None:
    bodies = _sent_parts(io.BufferedReader(Pipe(jpeg_bytes)), filename="cam.jpg")
    assert len(bodies) == 2 and all(jpeg_bytes in b and b'filename="cam.jpg"' in b for b in bodies)


def test_filename_and_type_of_a_path(jpeg_path: Path) -> None:
    source = ImageSource.from_input(jpeg_path)
    assert (source.filename, source.media_type, source.data) == ("photo.jpg", "image/jpeg", None)


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n", None, "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", None, "image/webp"),
        (b"\xff\xd8\xff\xe0", "x.png", "image/jpeg"),  # bytes win over a misleading name
        (b"????", "x.webp", "image/webp"),
        (b"????", None, "application/octet-stream"),
    ],
)
def test_sniff_media_type(head: bytes, name: str | None, expected: str) -> None:
    assert sniff_media_type(head, name) == expected


def test_importing_the_client_pulls_in_neither_torch_nor_the_service() -> None:
    loaded = modules_loaded_by("import bgremove_client, bgremove_client.cli")
    assert not [m for m in loaded if m.split(".")[0] in ("torch", "service", "fastapi", "numpy")]
