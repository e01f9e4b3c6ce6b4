"""What each CLI stage does, as functions returning an exit status. Imports are local so that
`--help` and the cheap stages do not load torch."""

from __future__ import annotations

import tempfile
from pathlib import Path

from model.training.config import TrainConfig
from model.training.paths import Locations


def labels(loc: Locations, cfg: TrainConfig) -> int:
    """Teacher labels for the photos a run with `cfg` trains on (its category limits applied)."""
    from model.training.data_sources import limited, load_split
    from model.training.make_labels import make_labels
    from model.training.training_data import parse_category_values

    photos = limited(load_split(loc).train, parse_category_values(cfg.category_limits))
    stats = make_labels(photos, loc.cache_dir, loc.teacher_onnx)
    print(f"labelled {stats.photos} photos ({stats.masked} with masks) in {stats.seconds:.0f} s")
    for key, fraction in stats.excluded:
        print(f"  not trained on: {key} (mask keeps {fraction:.0%} non-person area)")
    return 0


def split(loc: Locations, size: int) -> int:
    from model.training.photos import list_photos
    from model.training.split import choose_val_split, write_val_split

    keys = choose_val_split(list_photos(loc.people_dir), size)
    write_val_split(loc.val_split, keys)
    print(f"wrote {len(keys)} validation keys to {loc.val_split}")
    return 0


def train(cfg: TrainConfig, loc: Locations) -> int:
    from model.training.train_supervised import train_supervised

    outcome = train_supervised(cfg, loc)
    best = f"IoU {outcome.best.iou:.4f} at step {outcome.best_step}" if outcome.best else "none yet"
    state = "finished" if outcome.finished else "paused (run again to resume)"
    print(f"train: step {outcome.step}/{outcome.total_steps} {state} in {outcome.seconds:.0f} s; best {best}")
    return 0


def soc(cfg: TrainConfig, loc: Locations, start: Path | None = None) -> int:
    from model.training.soc import adapt

    outcome = adapt(cfg, loc, start=start)
    print(
        f"soc: step {outcome.step}/{cfg.soc_steps} in {outcome.seconds:.0f} s; "
        f"IoU before {outcome.before.iou:.4f}, best after {outcome.best.iou:.4f} "
        f"-> ship {'SOC' if outcome.kept else 'supervised'} weights"
    )
    return 0


def soup(paths: list[Path], out: Path) -> int:
    from model.training.soup import soup as mean_of

    print(f"{out}: {mean_of(paths, out)['source']}")
    return 0


def evaluate(cfg: TrainConfig, loc: Locations, size: int, weights: Path | None) -> int:
    from model.training.evaluate import evaluate_all, markdown_table

    table = evaluate_all(cfg, loc, size, weights)
    print(markdown_table(table))
    return 0


def report(
    cfg: TrainConfig,
    loc: Locations,
    size: int,
    weights: Path | None,
    baselines: bool,
    worst: int = 0,
    picked: Path | None = None,
    against: Path | None = None,
) -> int:
    from model.training.evaluate import held_out_report
    from model.training.failure_report import gaps_markdown, markdown

    with tempfile.TemporaryDirectory() as tmp:
        if picked is not None:
            # Scored as the export would ship it (levels fitted, fp16), not as raw training weights.
            from model.training.export import picked_checkpoint, write_candidate
            from model.training.train_supervised import run_settings

            run_dir = loc.run_dir(cfg.run)
            state, source = picked_checkpoint(run_dir, picked)
            size = size or run_settings(state.get("config"), cfg).train_size
            # Named by the picked file (within runs/): the preset's run is seldom where a soup or a
            # SOC step lives, and rows named after it read as that run's.
            where = picked.absolute()  # a command-line path is relative to the working directory
            inside = where.is_relative_to(loc.runs_dir)
            label = str(where.relative_to(loc.runs_dir)) if inside else picked.name
            weights = Path(tmp) / f"{picked.stem}.safetensors"
            write_candidate(state, source, label, size, cfg.category_limits, loc, weights)
        rows, gaps = held_out_report(cfg, loc, size, weights, baselines, worst, against)
    print(markdown(rows))
    if worst > 0 and against is not None:
        print(f"\nThe {worst} photos whose IoU moved most from {against} to these weights:\n")
        print(gaps_markdown(gaps, reference="reference"))
    elif worst > 0:
        print(f"\nThe {worst} photos where the weights trail the teacher most (IoU):\n")
        print(gaps_markdown(gaps))
    return 0


def export(
    cfg: TrainConfig,
    loc: Locations,
    size: int,
    version: str | None,
    force: bool,
    out: Path | None,
    picked: Path | None = None,
) -> int:
    from model.training.export import export_weights

    return export_weights(cfg, loc, size, version, force, out, picked)


def run_all(cfg: TrainConfig, loc: Locations, size: int, force: bool) -> int:
    """The whole pipeline. Each step resumes or skips what is already done, so after an
    interruption the same command continues."""
    from model.training.split import read_val_split

    if not loc.val_split.is_file() or not read_val_split(loc.val_split):
        split(loc, 40)
    labels(loc, cfg)
    from model.training.train_supervised import train_supervised

    outcome = train_supervised(cfg, loc)
    if not outcome.finished:
        print(f"train: paused at step {outcome.step}/{outcome.total_steps}; run the same command again")
        return 0
    soc(cfg, loc)
    return export(cfg, loc, size, None, force, None)
