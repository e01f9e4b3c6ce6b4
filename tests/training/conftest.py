"""A miniature copy of the people data (symlinks to a few small photos in ../shared, never copies)
shared by the pipeline tests, with its own validation split, label cache and runs directory."""

from __future__ import annotations

import pytest

from model.training.paths import PEOPLE_DIR, Locations
from model.training.split import write_val_split
from tests.locations import require_shared

MASKED_TRAIN = ["10", "11", "20", "47"]  # among the smallest masked photos (~180 x 280)
MASKED_VAL = ["21", "31"]  # in the committed split too, so never trained on there either
UNLABELLED = ["ai-face.jpg"]  # 256 x 256


@pytest.fixture(scope="package")
def mini_people(tmp_path_factory: pytest.TempPathFactory) -> Locations:
    require_shared(PEOPLE_DIR)
    root = tmp_path_factory.mktemp("pipeline")
    source = PEOPLE_DIR / "segmentation-remove-bg"
    target = root / "people" / "segmentation-remove-bg"
    (target / "images").mkdir(parents=True)
    (target / "masks").mkdir()
    for stem in MASKED_TRAIN + MASKED_VAL:
        (target / "images" / f"{stem}.jpg").symlink_to(source / "images" / f"{stem}.jpg")
        (target / "masks" / f"{stem}.png").symlink_to(source / "masks" / f"{stem}.png")
    unlabelled = root / "people" / "unlabeled"
    unlabelled.mkdir()
    for name in UNLABELLED:
        (unlabelled / name).symlink_to(PEOPLE_DIR / "unlabeled" / name)
    val_split = root / "val_split.txt"
    write_val_split(val_split, [f"segmentation-remove-bg/{stem}" for stem in MASKED_VAL])
    return Locations(
        people_dir=root / "people", cache_dir=root / "cache", runs_dir=root / "runs", val_split=val_split
    )
