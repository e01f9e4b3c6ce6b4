"""Naming and resume rules of folder jobs, without a server."""

from __future__ import annotations

from pathlib import Path

from bgremove_client.batch import plan_file, plan_folder


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_tree_is_kept_and_non_images_hidden_files_ignored(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for rel in ["a.jpg", "b.PNG", "x/y/c.webp", "notes.txt", ".hidden.jpg", ".cache/d.jpg"]:
        touch(root / rel)
    plan = plan_folder(root, tmp_path / "out", ".png")
    assert [j.label for j in plan.pending] == ["a.jpg", "b.PNG", "x/y/c.webp"]
    assert [j.target.relative_to(tmp_path / "out").as_posix() for j in plan.pending] == [
        "a.png",
        "b.png",
        "x/y/c.png",
    ]


def test_same_stem_inputs_do_not_overwrite_each_other(tmp_path: Path) -> None:
    root = tmp_path / "in"
    touch(root / "p.jpg")
    touch(root / "p.png")
    touch(root / "q.jpg")
    targets = sorted(j.target.name for j in plan_folder(root, tmp_path / "out", ".png").pending)
    assert targets == ["p.jpg.png", "p.png.png", "q.png"]


def test_output_folder_inside_input_is_not_fed_back(tmp_path: Path) -> None:
    root = tmp_path / "in"
    touch(root / "a.jpg")
    touch(root / "out" / "a.png")  # a previous run's result
    plan = plan_folder(root, root / "out", ".png")
    assert plan.pending == [] and [j.label for j in plan.skipped] == ["a.jpg"]


def test_existing_non_empty_results_are_skipped_unless_overwrite(tmp_path: Path) -> None:
    root, out = tmp_path / "in", tmp_path / "out"
    touch(root / "done.jpg")
    touch(root / "empty.jpg")
    touch(root / "new.jpg")
    touch(out / "done.png")
    touch(out / "empty.png", b"")
    plan = plan_folder(root, out, ".png")
    assert [j.label for j in plan.skipped] == ["done.jpg"]
    assert [j.label for j in plan.pending] == ["empty.jpg", "new.jpg"]
    assert len(plan_folder(root, out, ".png", overwrite=True).pending) == 3
    assert plan_file(root / "done.jpg", out / "done.png").skipped
