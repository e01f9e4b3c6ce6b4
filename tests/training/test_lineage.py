"""The model card's account of a picked checkpoint, read off the checkpoint files: soups of SOC steps
from other run folders (what the campaign ships) told and rebuilt command by command. The files here
carry only the fields the lineage reads (no weights), laid out as the stages write them."""

from __future__ import annotations

from pathlib import Path

from model.training import checkpoint
from model.training.config import PRESETS
from model.training.lineage import lineage
from model.training.paths import Locations

CAMPAIGN = PRESETS["cpu-campaign"]


def _run(loc: Locations, name: str, steps: list[int], seed: int, init_version: str = "") -> list[Path]:
    """A supervised run folder: last.pt with its settings, and its validated EMA steps."""
    run_dir = loc.run_dir(name)
    config = CAMPAIGN.with_overrides({"run": name, "seed": str(seed)}).as_dict()
    last = {"step": steps[-1], "config": config, "init_version": init_version}
    checkpoint.save(run_dir / "last.pt", last)
    paths = [run_dir / "validated" / f"step_{step}.pt" for step in steps]
    for step, path in zip(steps, paths, strict=True):
        checkpoint.save(path, {"step": step, "scores": {"iou": 0.8, "mae": 0.04}})
    return paths


def _soup(paths: list[Path], out: Path, labels: list[str] | None = None) -> Path:
    state = {"step": 0, "inputs": [str(p) for p in paths], "labels": labels or [""] * len(paths)}
    checkpoint.save(out, state)
    return out


def _soc_step(loc: Locations, run: str, step: int, origin: Path, marked: bool = True) -> Path:
    """A validated SOC step as `model.training.soc` writes it; unmarked ones are the files from
    before SOC checkpoints carried their start (it is in the folder's soc_last.pt)."""
    run_dir = loc.run_dir(run)
    settings = CAMPAIGN.with_overrides({"soc_steps": "160"}).as_dict()  # the start's run's name
    checkpoint.save(run_dir / "soc_last.pt", {"step": 160, "origin": str(origin), "config": settings})
    path = run_dir / "validated" / f"soc_step_{step}.pt"
    state: dict[str, object] = {"step": step, "scores": {"iou": 0.89, "mae": 0.033}}
    if marked:
        state |= {"stage": "soc", "origin": str(origin), "before": {"iou": 0.88, "mae": 0.035}}
    checkpoint.save(path, state)
    return path


def test_a_soup_of_soc_steps_from_two_runs_is_told_and_rebuilt(tmp_path: Path) -> None:
    loc = Locations(runs_dir=tmp_path / "runs")
    a = _run(loc, "run-a", [150, 200], seed=6)
    b = _run(loc, "run-b", [150, 200], seed=9, init_version="v-before")
    soup_a = _soup(a, loc.run_dir("run-a") / "soup_150_200.pt")
    soup_b = _soup(b, loc.run_dir("run-b") / "soup_150_200.pt")
    soc_a = _soc_step(loc, "run-a-soc", 80, soup_a, marked=False)
    soc_b = _soc_step(loc, "run-b-soc", 120, soup_b)
    shipped = _soup([soc_a, soc_b], tmp_path / "runs" / "final.pt")

    told = lineage(shipped, loc)
    assert told.description == (
        "the mean of 2 checkpoints: "
        "(1) SOC step 80 of run-a-soc, started from the mean of steps 150 and 200 of run-a (EMA), "
        f"trained from {CAMPAIGN.init_weights}; "
        "(2) SOC step 120 of run-b-soc, started from the mean of steps 150 and 200 of run-b (EMA), "
        f"trained from {CAMPAIGN.init_weights} (version v-before)"
    )
    train_a, soup_a_cmd, soc_a_cmd, train_b, soup_b_cmd, soc_b_cmd, final = told.commands
    assert train_a == "python -m model.training train --preset cpu-campaign --run run-a --set seed=6"
    assert soup_a_cmd == f"python -m model.training soup {a[0]} {a[1]} --out {soup_a}"
    # SOC runs in its own folder from the soup; only the settings SOC reads are spelled out.
    assert soc_a_cmd == (
        f"python -m model.training soc --preset cpu-campaign --run run-a-soc --checkpoint {soup_a} "
        "--set soc_steps=160"
    )
    assert train_b.endswith("--run run-b") and "--run run-b-soc" in soc_b_cmd and str(soup_b) in soup_b_cmd
    assert final == f"python -m model.training soup {soc_a} {soc_b} --out {shipped}"
    # Only the marked SOC step carries its training-time before/after.
    assert told.soc_notes == (
        "SOC step 120 of run-b-soc: training-time validation IoU 0.8800 → 0.8900 (MAE 0.0350 → 0.0330)",
    )


def test_a_weights_file_is_named_as_it_was_when_souped(tmp_path: Path) -> None:
    # The shipped file at that path is replaced by the soup itself, so its name at souping counts.
    loc = Locations(runs_dir=tmp_path / "runs")
    (step,) = _run(loc, "run-c", [200], seed=1)
    shipped = tmp_path / "modnet_people.safetensors"  # gone since
    labels = ["modnet_people.safetensors (v-old)", "modnet_people.safetensors (v-old)", ""]
    told = lineage(_soup([shipped, shipped, step], tmp_path / "mix.pt", labels), loc)
    assert told.description == (  # two thirds the file: said once, with its count
        "the mean of 3 checkpoints: (1) the weights file modnet_people.safetensors (v-old), twice; "
        f"(2) step 200 of run-c (EMA, step_200.pt), trained from {CAMPAIGN.init_weights}"
    )
    assert len(told.commands) == 2  # run-c's training and the soup: the file has no command
    # A checkpoint whose files are gone is named, not invented.
    missing = lineage(tmp_path / "runs" / "gone" / "validated" / "step_5.pt", loc)
    assert missing.description.endswith("step_5.pt (no longer on disk)") and missing.commands == ()
