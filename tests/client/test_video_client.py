"""The client and the CLI with videos, against the real app (fake engines) on a real uvicorn: the
WebM streams to a file, progress reports the frame count and the bytes, errors surface as the
server's codes and leave no file behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bgremove_client import BgRemoveClient, NonRetryableError, VideoProgress
from bgremove_client.cli import EXIT_OK, main
from tests.video.clips import decode_clip, encode_clip, moving_crop


@pytest.fixture(scope="module")
def clip_bytes() -> bytes:
    return encode_clip(moving_crop(frames=12, width=96, height=64))


@pytest.fixture
def clip_path(tmp_path: Path, clip_bytes: bytes) -> Path:
    path = tmp_path / "clip.webm"
    path.write_bytes(clip_bytes)
    return path


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    from tests.client.live_server import build_app, serve

    with serve(build_app()) as base:
        yield base


def test_the_result_streams_to_a_file_with_progress(url: str, clip_path: Path, tmp_path: Path) -> None:
    progress: list[VideoProgress] = []
    target = tmp_path / "out" / "cutout.webm"
    with BgRemoveClient(url) as client:
        result = client.remove_video(clip_path, target, output="mask", ofd=False, on_progress=progress.append)
    assert result.path == target and result.size_bytes == target.stat().st_size > 0
    assert (result.engine, result.model, result.audio) == ("modnet", "fake-modnet-1", "none")
    assert (result.frames, result.width, result.height) == (12, 96, 64)
    assert len(decode_clip(target.read_bytes()).frames) == 12
    assert progress[0] == VideoProgress(12, 0) and progress[-1] == VideoProgress(12, result.size_bytes)
    received = [p.bytes_received for p in progress]
    assert received == sorted(received)
    assert [p.name for p in target.parent.iterdir()] == ["cutout.webm"]  # no temporary file left


def test_a_refused_clip_raises_the_server_code_and_writes_nothing(url: str, tmp_path: Path) -> None:
    target = tmp_path / "never.webm"
    with BgRemoveClient(url) as client, pytest.raises(NonRetryableError) as caught:
        client.remove_video(b"not a video at all", target, filename="x.mp4")
    assert (caught.value.status, caught.value.code) == (400, "invalid_video")
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_the_default_name_then_skips_it(url: str, clip_path: Path) -> None:
    argv = [str(clip_path), "--url", url, "--output", "composite", "--bg-color", "#00ff00", "--no-progress"]
    assert main(argv) == EXIT_OK
    target = clip_path.with_name("clip.composite.webm")
    written = target.stat().st_mtime_ns
    assert len(decode_clip(target.read_bytes()).frames) == 12
    assert main(argv) == EXIT_OK  # already there: skipped, not redone
    assert target.stat().st_mtime_ns == written
    assert main([*argv, "--overwrite", "--no-ofd"]) == EXIT_OK
    assert target.stat().st_mtime_ns != written
