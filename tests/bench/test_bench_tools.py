"""The benchmark's building blocks: loopback-only, bounded load; images of the asked size; tables."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from bench.hardware import cpu_model, detect
from bench.images import cover_resize, request_jpegs
from bench.load import LoadPlan, require_loopback, run_load_sync
from bench.report import table
from bench.server import ServerSpec, running_server


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.1:8000", "http://0.0.0.0:8000"])
def test_load_refuses_anything_but_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="local machine"):
        require_loopback(url)
    with pytest.raises(ValueError):
        run_load_sync(url, LoadPlan("/", 1, 1, 1.0), [b"x"])


def test_load_stops_at_its_time_limit_and_at_its_request_count() -> None:
    spec = ServerSpec(
        "fake", {"max_batch_size": "1", "max_batch_wait_ms": "0"}, {"BENCH_FAKE_BATCH_MS": "100"}
    )
    body = request_jpegs(1, 64, 48)
    with tempfile.TemporaryDirectory() as workdir, running_server(spec, Path(workdir)) as server:
        by_time = run_load_sync(
            server.base_url, LoadPlan("/remove-background?output=mask", 2, 10_000, 1.0), body
        )
        by_count = run_load_sync(
            server.base_url, LoadPlan("/remove-background?output=mask", 3, 4, 60.0), body
        )
        spread = run_load_sync(
            server.base_url, LoadPlan("/remove-background?output=mask", 3, 5, 60.0), body, processes=2
        )
    # 100 ms per image, one at a time: ~10 requests fit in the second, never 10,000.
    # (The time limit, not the count, ended it: 10,000 were allowed.)
    assert 1 <= len(by_time.outcomes) < 40 and by_time.errors == 0
    assert len(by_count.outcomes) == 4 and by_count.ok == 4
    # Two client processes share the count (3 + 2) and the clock: the duration spans both.
    assert len(spread.outcomes) == 5 and spread.ok == 5
    assert max(spread.latencies()) <= spread.duration_s < 10.0


def test_request_images_have_the_asked_size_real_or_synthesised(tmp_path: Path) -> None:
    for root in (None, tmp_path):  # tmp_path has no photos: synthesised
        kwargs: dict[str, Path] = {} if root is None else {"root": root}
        [jpeg] = request_jpegs(1, 320, 180, **kwargs)
        with Image.open(io.BytesIO(jpeg)) as image:
            assert (image.format, image.size) == ("JPEG", (320, 180))


def test_cover_resize_crops_instead_of_distorting() -> None:
    tall = Image.new("RGB", (100, 400), "red")
    tall.paste(Image.new("RGB", (100, 100), "blue"), (0, 150))  # the centre square
    wide = cover_resize(tall, 200, 200)
    assert wide.size == (200, 200)
    assert wide.getpixel((100, 100)) == (0, 0, 255)  # kept the centre, not squashed the whole


def test_hardware_names_the_cpu(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n")
    assert cpu_model(info) == "Test CPU 9000"
    hw = detect(with_torch=False)
    assert hw.cpu_cores >= 1 and hw.torch is None
    assert f"{hw.cpu_cores} cores" in hw.label()


def test_table_aligns_columns() -> None:
    text = table(["a", "bb"], [[1.25, None], ["long value", 3]])
    lines = text.splitlines()
    assert lines[0] == "| a          | bb |"
    assert lines[2] == "| 1.2        | –  |"
    assert len({len(line) for line in lines}) == 1
