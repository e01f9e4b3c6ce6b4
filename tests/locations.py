"""Where the tests find the repository and ../shared (the fake engine is `bench.fake_engine`)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PEOPLE = SHARED / "data" / "people"


def require_shared(path: Path) -> Path:
    """`path` (under ../shared) when it exists; otherwise the test fails instead of skipping:
    CI always has ../shared, so a missing file there is a broken setup, not a reason to pass."""
    if not path.exists():
        pytest.fail(f"{path} is missing: these tests need ../shared (CI always has it)", pytrace=False)
    return path
