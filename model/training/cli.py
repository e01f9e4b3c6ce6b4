"""`python -m model.training <stage> ...`: one sub-command per pipeline stage, plus `all`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from model.training import stages
from model.training.config import PRESETS, TrainConfig
from model.training.paths import Locations


def _config(args: argparse.Namespace) -> TrainConfig:
    overrides = {}
    for item in args.set or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects name=value, got {item!r}")
        overrides[name] = value
    if args.run:
        overrides["run"] = args.run
    return PRESETS[args.preset].with_overrides(overrides)


def _locations(args: argparse.Namespace) -> Locations:
    defaults = Locations()
    return Locations(
        people_dir=args.people_dir or defaults.people_dir,
        cache_dir=args.cache_dir or defaults.cache_dir,
        runs_dir=args.runs_dir or defaults.runs_dir,
        val_split=args.val_split or defaults.val_split,
    )


def _add_common(parser: argparse.ArgumentParser, with_config: bool = True) -> None:
    parser.add_argument("--people-dir", type=Path, help="photos (default ../shared/data/people)")
    parser.add_argument("--cache-dir", type=Path, help="label cache (default ./cache)")
    parser.add_argument("--runs-dir", type=Path, help="checkpoints and logs (default ./runs)")
    parser.add_argument(
        "--val-split", type=Path, help="validation keys (default model/training/val_split.txt)"
    )
    if with_config:
        parser.add_argument("--preset", choices=sorted(PRESETS), default="gpu", help="settings preset")
        parser.add_argument("--run", help="run name: runs/<run>/ (default: the preset's)")
        parser.add_argument(
            "--set", action="append", metavar="NAME=VALUE", help="override one setting (repeatable)"
        )


SIZE_HELP = (
    "MODNet inference short side to score (and ship) the weights at; "
    "default: the run's train_size, the shape its whole-portrait batches had"
)


CHECKPOINT_HELP = (
    "a training checkpoint's EMA weights (e.g. runs/<run>/validated/step_150.pt) instead of the run's "
    "best, levels fitted as the export does"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model.training", description=__doc__)
    sub = parser.add_subparsers(dest="stage", required=True)

    p = sub.add_parser("labels", help="teacher (+ mask) labels for a run's training photos (./cache)")
    _add_common(p)

    p = sub.add_parser("split", help="(re)write the fixed validation split file")
    _add_common(p, with_config=False)
    p.add_argument("--size", type=int, default=40, help="number of masked validation photos")

    p = sub.add_parser("train", help="supervised training from the ImageNet backbone (resumable)")
    _add_common(p)

    p = sub.add_parser("soc", help="self-supervised SOC adaptation on the unlabelled photos")
    _add_common(p)
    p.add_argument(
        "--checkpoint",
        type=Path,
        help="start from this checkpoint's EMA weights (or a .safetensors file) instead of the run's best.pt",
    )

    p = sub.add_parser("soup", help="the mean of several checkpoints' EMA weights, as one checkpoint")
    _add_common(p, with_config=False)
    p.add_argument(
        "checkpoints",
        type=Path,
        nargs="+",
        help="checkpoints with EMA weights, or .safetensors weights files (two or more)",
    )
    p.add_argument("--out", type=Path, required=True, help="the soup's checkpoint path")

    p = sub.add_parser("eval", help="IoU / MAE table on the validation split: MODNet, teacher, GrabCut")
    _add_common(p)
    p.add_argument("--weights", type=Path, help="a .safetensors file instead of the run's best checkpoint")
    p.add_argument("--size", type=int, default=0, help=SIZE_HELP)

    p = sub.add_parser(
        "report", help="per-category failure table (lost limbs, stray blobs, hair) on every held-out photo"
    )
    _add_common(p)
    p.add_argument("--weights", type=Path, help="a .safetensors file instead of the run's best checkpoint")
    p.add_argument("--size", type=int, default=0, help=SIZE_HELP)
    p.add_argument("--no-baselines", action="store_true", help="skip the teacher and GrabCut rows")
    p.add_argument("--checkpoint", type=Path, help=CHECKPOINT_HELP)
    p.add_argument(
        "--worst", type=int, default=0, help="also list the N photos where the weights trail the teacher most"
    )
    p.add_argument(
        "--against",
        type=Path,
        help="reference weights (.safetensors, e.g. the shipped file): its rows beside these, and --worst "
        "lists the photos whose IoU moved most between the two",
    )

    p = sub.add_parser("export", help="fp16 safetensors + model card into model/weights/")
    _add_common(p)
    p.add_argument("--size", type=int, default=0, help=SIZE_HELP)
    p.add_argument("--version", help="metadata version (default: date and run name)")
    p.add_argument("--force", action="store_true", help="export even if MODNet does not beat GrabCut")
    p.add_argument("--out", type=Path, help="weights path (default model/weights/modnet_people.safetensors)")
    p.add_argument("--checkpoint", type=Path, help=CHECKPOINT_HELP)

    p = sub.add_parser("all", help="labels, train, soc, eval, export in one go (resumable)")
    _add_common(p)
    p.add_argument("--size", type=int, default=0, help=SIZE_HELP)
    p.add_argument("--force", action="store_true", help="export even if MODNet does not beat GrabCut")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    loc = _locations(args)
    if args.stage == "split":
        return stages.split(loc, args.size)
    if args.stage == "soup":
        return stages.soup(args.checkpoints, args.out)
    cfg = _config(args)
    if args.stage == "labels":
        return stages.labels(loc, cfg)
    if args.stage == "train":
        return stages.train(cfg, loc)
    if args.stage == "soc":
        return stages.soc(cfg, loc, args.checkpoint)
    if args.stage == "eval":
        return stages.evaluate(cfg, loc, args.size, args.weights)
    if args.stage == "report":
        return stages.report(
            cfg,
            loc,
            args.size,
            args.weights,
            not args.no_baselines,
            args.worst,
            picked=args.checkpoint,
            against=args.against,
        )
    if args.stage == "export":
        return stages.export(cfg, loc, args.size, args.version, args.force, args.out, args.checkpoint)
    return stages.run_all(cfg, loc, args.size, args.force)


if __name__ == "__main__":
    sys.exit(main())
