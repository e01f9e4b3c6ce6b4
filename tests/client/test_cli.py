"""The folder CLI on real photos (copied from ../shared at test time) against the real app on a real
server: tree kept, formats honoured, resume skips finished results, failures reported and counted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from bgremove_client.cli import EXIT_FAILED, EXIT_OK, main
from tests.client.conftest import copy_people_photos
from tests.locations import REPO


@pytest.fixture
def photo_tree(tmp_path: Path) -> Path:
    """in/ with two photos at the top and two in a subfolder."""
    root = tmp_path / "in"
    photos = copy_people_photos(root, 4)
    (root / "sub").mkdir()
    for photo in photos[2:]:
        photo.rename(root / "sub" / photo.name)
    return root


def oriented_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return ImageOps.exif_transpose(img).size


def test_folder_run_then_resume(
    live_url: str, photo_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = [str(photo_tree), "-o", str(out), "--url", live_url, "-j", "3", "--no-progress"]
    assert main([*argv, "--format", "webp"]) == EXIT_OK
    summary = capsys.readouterr().err
    assert "4 done, 0 skipped, 0 failed (of 4)" in summary and "engines: modnet 4" in summary

    sources = sorted(p.relative_to(photo_tree) for p in photo_tree.rglob("*.jpg"))
    results = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert results == [s.with_suffix(".webp") for s in sources]  # same tree, nothing else written
    for rel in sources:
        with Image.open(out / rel.with_suffix(".webp")) as result:
            assert result.format == "WEBP" and result.mode == "RGBA"
            assert result.size == oriented_size(photo_tree / rel)

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.webp")}
    assert main([*argv, "--format", "webp"]) == EXIT_OK
    assert "0 done, 4 skipped, 0 failed (of 4)" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.webp")} == mtimes  # nothing rewritten


def test_partial_results_are_redone_and_failures_reported(
    live_url: str, photo_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (photo_tree / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    first = sorted(photo_tree.glob("*.jpg"))[0]
    done_before = out / first.with_suffix(".png").name
    done_before.parent.mkdir(parents=True)
    done_before.write_bytes(b"")  # an empty file is not a finished result

    argv = [str(photo_tree), "-o", str(out), "--url", live_url, "--output", "mask", "--no-progress"]
    assert main(argv) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "4 done, 0 skipped, 1 failed (of 5)" in err
    assert "sub/broken.jpg: invalid_image:" in err and "(HTTP 400)" in err
    with Image.open(done_before) as mask:
        assert mask.mode == "L"
    assert not (out / "sub" / "broken.png").exists()

    # Resume: only the failed file is tried again (and fails again).
    assert main(argv) == EXIT_FAILED
    assert "0 done, 4 skipped, 1 failed (of 5)" in capsys.readouterr().err


def test_single_file_default_name_and_composite(
    live_url: str, photo_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = sorted(photo_tree.glob("*.jpg"))[0]
    argv = [str(photo), "--url", live_url, "--output", "composite", "--format", "jpeg", "--no-progress"]
    assert main([*argv, "--bg-color", "#00ff00"]) == EXIT_OK
    target = photo.with_name(f"{photo.stem}.composite.jpg")
    with Image.open(target) as result:
        assert result.format == "JPEG" and result.size == oriented_size(photo)
    assert "1 done" in capsys.readouterr().err


def test_unreachable_server_stops_early_and_exits_non_zero(
    photo_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(photo_tree), "-o", str(tmp_path / "out"), "--url", "http://127.0.0.1:9", "--retries", "0"]
    assert main([*argv, "-j", "1", "--no-progress"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "0 done, 0 skipped, 4 failed" in err
    assert err.count("not attempted: connection_error") == 3  # the first failure stopped the rest


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for argv in ([str(folder)], [str(folder), "-o", "x", "--format", "jpeg"], [str(tmp_path / "nope.jpg")]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    err = capsys.readouterr().err
    assert "needs --out" in err and "no alpha channel" in err and "neither a file nor a folder" in err


def test_module_entry_point_with_progress_bar(live_url: str, photo_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bgremove_client", str(photo_tree), "-o", str(out), "--url", live_url]
    done = subprocess.run([*cmd, "--output", "zip"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "4/4" in done.stderr  # tqdm's bar reached the end
    assert "4 done, 0 skipped, 0 failed" in done.stderr
    assert len(list(out.rglob("*.zip"))) == 4
    with open(next(out.rglob("*.zip")), "rb") as fh:
        assert fh.read(2) == b"PK"
