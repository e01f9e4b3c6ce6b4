"""Where the pipeline reads data and writes artefacts. Data stays in ../shared (never copied in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
PEOPLE_DIR = SHARED / "data" / "people"
TEACHER_ONNX = SHARED / "models" / "rvm_mobilenetv3_fp32.onnx"
BACKBONE_NPZ = SHARED / "models" / "mobilenet_v2_imagenet_folded.npz"

# Both git-ignored: derived data (labels) and training runs (checkpoints, logs).
CACHE_DIR = REPO_ROOT / "cache"
RUNS_DIR = REPO_ROOT / "runs"

VAL_SPLIT_FILE = Path(__file__).resolve().parent / "val_split.txt"
WEIGHTS_DIR = REPO_ROOT / "model" / "weights"
SHIPPED_WEIGHTS = WEIGHTS_DIR / "modnet_people.safetensors"


@dataclass(frozen=True)
class Locations:
    """Every input and output location of a run; tests point these at temporary directories."""

    people_dir: Path = PEOPLE_DIR
    cache_dir: Path = CACHE_DIR
    teacher_onnx: Path = TEACHER_ONNX
    backbone_npz: Path = BACKBONE_NPZ
    runs_dir: Path = RUNS_DIR
    val_split: Path = VAL_SPLIT_FILE

    def run_dir(self, run: str) -> Path:
        return self.runs_dir / run
