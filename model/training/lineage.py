"""Where a checkpoint came from, as the model card tells it: one sentence and the commands that
rebuild it, followed back through soups (their ingredients), SOC (its start) and supervised runs
(their stored settings and starting file).

Why: the campaign ships means of SOC steps from different run folders, started from soups of other
runs. The card used to describe the checkpoint by the run named on `export --run`, which was wrong
for every such file and was written by hand instead (three times); every checkpoint already carries
what it came from, so the card is read off the files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.training import checkpoint
from model.training.config import PRESETS, RUNTIME_SETTINGS, SOC_SETTINGS, TrainConfig
from model.training.paths import REPO_ROOT, Locations
from model.weights import SAFETENSORS_SUFFIX, WeightsError, read_state_dict


@dataclass(frozen=True)
class Lineage:
    description: str  # what the weights are, for the card's "Weights:" line
    commands: tuple[str, ...]  # the training commands that rebuild them, in order (no `labels`)
    soc_notes: tuple[str, ...] = ()  # per SOC step in the lineage: its training-time before/after
    # Set for one supervised run's step, so a soup of one run's steps is told as one phrase.
    run: str = ""
    step: int = 0
    start: str = ""  # ", trained from <file>" or ""


def shown(path: Path | str) -> str:
    """A path as the commands take it: relative to the repository when inside it."""
    path = Path(path)
    inside = path.is_absolute() and path.is_relative_to(REPO_ROOT)
    return str(path.relative_to(REPO_ROOT) if inside else path)


def lineage(path: Path, loc: Locations) -> Lineage:
    if path.suffix.lower() == SAFETENSORS_SUFFIX:
        return Lineage(f"the weights file {shown(path)} ({_version(path)})", ())
    if not path.is_file():
        return Lineage(f"{shown(path)} (no longer on disk)", ())
    state = checkpoint.load(path)
    if state.get("inputs"):
        return _soup(path, state, loc)
    if checkpoint.reads_as_soc(path, state):
        return _soc(path, state, loc)
    return _supervised(path, state, loc)


def _version(path: Path) -> str:
    try:
        return f"version {read_state_dict(path)[1].version}"
    except WeightsError:
        return "no longer on disk"


_TIMES = {2: "twice", 3: "three times"}


def _soup(path: Path, state: dict[str, Any], loc: Locations) -> Lineage:
    # A weights-file ingredient is named as it was when souped (`labels`): the shipped file at that
    # path has usually been replaced since, by this very soup.
    labels = state.get("labels") or [""] * len(state["inputs"])
    parts = [
        Lineage(f"the weights file {label}", ()) if label else lineage(Path(item), loc)
        for item, label in zip(state["inputs"], labels, strict=True)
    ]
    if len({(part.run, part.start) for part in parts}) == 1 and parts[0].run:
        steps = " and ".join(str(part.step) for part in parts)
        description = f"the mean of steps {steps} of {parts[0].run} (EMA){parts[0].start}"
    else:
        # A repeated ingredient weighs more (`soup W W X`: two thirds W): said once, with its count.
        counts = Counter(part.description for part in parts)
        listed = "; ".join(
            f"({i}) {text}" + (f", {_TIMES.get(n, f'{n} times')}" if n > 1 else "")
            for i, (text, n) in enumerate(counts.items(), 1)
        )
        description = f"the mean of {len(parts)} checkpoints: {listed}"
    soup = f"python -m model.training soup {' '.join(map(shown, state['inputs']))} --out {shown(path)}"
    return Lineage(
        description,
        _unique(*(part.commands for part in parts), (soup,)),
        _unique(*(part.soc_notes for part in parts)),
    )


def _soc(path: Path, state: dict[str, Any], loc: Locations) -> Lineage:
    soc_dir = _run_folder(path)
    last = _stored_state(soc_dir / "soc_last.pt") or {}
    origin_name = state.get("origin") or last.get("origin")
    what = f"SOC step {state['step']} of {soc_dir.name}"
    if origin_name is None:
        return Lineage(what, ())
    # An origin of "best.pt" is SOC in the supervised run's own folder, from that run's best.
    origin = soc_dir / "best.pt" if origin_name == "best.pt" else Path(origin_name)
    label = state.get("origin_label")
    start = Lineage(f"the weights file {label}", ()) if label else lineage(origin, loc)
    commands: tuple[str, ...] = ()
    settings = state.get("config") or last.get("config")
    if settings is not None:
        # The stored settings are the start's run's (SOC scores with that run's sizes), under its
        # name: the command runs SOC in its own folder.
        cfg = TrainConfig(**{**settings, "run": soc_dir.name})
        commands = (command_line("soc", cfg, [f"--checkpoint {shown(origin)}"], SOC_READS),)
    notes: tuple[str, ...] = ()
    if "before" in state:
        before, after = state["before"], state["scores"]
        notes = (
            f"{what}: training-time validation IoU {before['iou']:.4f} → {after['iou']:.4f} "
            f"(MAE {before['mae']:.4f} → {after['mae']:.4f})",
        )
    return Lineage(
        f"{what}, started from {start.description}",
        _unique(start.commands, commands),
        _unique(start.soc_notes, notes),
    )


def _supervised(path: Path, state: dict[str, Any], loc: Locations) -> Lineage:
    run_dir = _run_folder(path)
    last = _stored_state(run_dir / "last.pt")
    what = f"step {state['step']} of {run_dir.name} (EMA, {path.name})"
    if last is None or not last.get("config"):
        return Lineage(what, ())
    cfg = TrainConfig(**last["config"])
    start = ""
    if cfg.init_weights and not cfg.continue_from:
        version = last.get("init_version")
        start = f", trained from {cfg.init_weights}" + (f" (version {version})" if version else "")
    commands = tuple(reproduce_commands(cfg, loc, stage="train"))
    return Lineage(what + start, commands, run=run_dir.name, step=int(state["step"]), start=start)


RUNTIME = (*RUNTIME_SETTINGS, "run")  # not part of a recipe: never written as --set


def closest_preset(cfg: TrainConfig, train_only: bool = False) -> tuple[str, list[str]]:
    """The preset the run's settings come from, and the `--set` overrides on top of it (without
    the SOC settings for a `train` command: that stage never reads them)."""
    ignored = RUNTIME + (SOC_SETTINGS if train_only else ())
    ours = {k: v for k, v in cfg.as_dict().items() if k not in ignored}

    def overrides(name: str) -> list[str]:
        preset = PRESETS[name].as_dict()
        return [f"{k}={v}" for k, v in ours.items() if preset[k] != v]

    name = min(PRESETS, key=lambda n: len(overrides(n)))
    return name, overrides(name)


def reproduce_commands(cfg: TrainConfig, loc: Locations, stage: str = "all") -> list[str]:
    """The commands that rebuild this run: the runs it continued first, as `train` commands (their
    SOC and export are not needed), then this run's `stage`."""
    earlier: list[str] = []
    if cfg.continue_from:
        source = checkpoint.load(loc.run_dir(cfg.continue_from) / "last.pt")
        earlier = reproduce_commands(TrainConfig(**source["config"]), loc, stage="train")
    return [*earlier, command_line(stage, cfg, [])]


# What `soc` reads of a run's settings besides its own: the validation sizes (from its start's run).
SOC_READS = (*SOC_SETTINGS, "val_size", "val_short_side")


def command_line(stage: str, cfg: TrainConfig, extra: list[str], only: tuple[str, ...] | None = None) -> str:
    """`python -m model.training <stage>` for these settings: the closest preset, --run where it is
    not the preset's, `extra`, then the settings that differ (those in `only`, when given)."""
    preset, overrides = closest_preset(cfg, train_only=stage == "train")
    if only is not None:
        overrides = [item for item in overrides if item.split("=", 1)[0] in only]
    return " ".join(
        [f"python -m model.training {stage}", f"--preset {preset}"]
        + ([f"--run {cfg.run}"] if cfg.run != PRESETS[preset].run else [])
        + extra
        + [f"--set {item}" for item in overrides]
    )


def _stored_state(path: Path) -> dict[str, Any] | None:
    return checkpoint.load(path) if path.is_file() else None


def _run_folder(path: Path) -> Path:
    """runs/<run>/ of a checkpoint in it (best.pt, soc_best.pt) or in its validated/ folder."""
    return path.parent.parent if path.parent.name == "validated" else path.parent


def _unique(*groups: tuple[str, ...]) -> tuple[str, ...]:
    """Concatenated in order, each line once (two ingredients of one run share its commands)."""
    return tuple(dict.fromkeys(line for group in groups for line in group))
