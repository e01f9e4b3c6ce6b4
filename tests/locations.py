"""Where the tests find the repository and ../shared, and what a fresh interpreter loads from it
(the fake engine is `bench.fake_engine`)."""

from __future__ import annotations

import subprocess
import sys
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


def modules_loaded_by(code: str) -> set[str]:
    """Every module in `sys.modules` after running `code` in a fresh interpreter from the repo root:
    what an import (or app start-up) pulls in, unaffected by what this test process loaded."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return set(done.stdout.split())
