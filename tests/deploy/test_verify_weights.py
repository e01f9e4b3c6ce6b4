"""deploy/scripts/verify_weights.sh, which the image build runs: weights must match the committed
checksums, and "no weights" is accepted only when REQUIRE_WEIGHTS=0 says so."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.manifests import DEPLOY, REPO

SCRIPT = DEPLOY / "scripts" / "verify_weights.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("sh") is None or shutil.which("sha256sum") is None, reason="needs sh and sha256sum"
)


def run(*args: str, require: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REQUIRE_WEIGHTS"}
    if require is not None:
        env["REQUIRE_WEIGHTS"] = require
    return subprocess.run(["sh", str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    directory = tmp_path / "weights"
    directory.mkdir()
    (directory / "modnet_people.safetensors").write_bytes(os.urandom(4096))
    return directory


def test_generated_checksums_verify(weights: Path) -> None:
    assert run("--generate", str(weights)).returncode == 0
    assert (weights / "SHA256SUMS").read_text().endswith("  modnet_people.safetensors\n")
    result = run(str(weights))
    assert result.returncode == 0, result.stderr
    assert "weights verified" in result.stdout


def test_a_changed_file_fails(weights: Path) -> None:
    run("--generate", str(weights))
    (weights / "modnet_people.safetensors").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    result = run(str(weights))
    assert result.returncode != 0 and "mismatch" in result.stderr


def test_unlisted_weights_fail(weights: Path) -> None:
    run("--generate", str(weights))
    (weights / "other.safetensors").write_bytes(b"x")
    result = run(str(weights))
    assert result.returncode != 0 and "not listed" in result.stderr


def test_weights_without_checksums_fail(weights: Path) -> None:
    result = run(str(weights), require="0")
    assert result.returncode != 0 and "--generate" in result.stderr


def test_listed_but_missing_weights_fail(weights: Path) -> None:
    run("--generate", str(weights))
    (weights / "modnet_people.safetensors").unlink()
    assert run(str(weights), require="0").returncode != 0


@pytest.mark.parametrize("layout", ["no directory", "empty directory"])
def test_no_weights_needs_an_explicit_grabcut_only_build(tmp_path: Path, layout: str) -> None:
    directory = tmp_path / "weights"
    if layout == "empty directory":
        directory.mkdir()
    required = run(str(directory))  # REQUIRE_WEIGHTS defaults to 1
    assert required.returncode != 0 and "REQUIRE_WEIGHTS=0" in required.stderr
    allowed = run(str(directory), require="0")
    assert allowed.returncode == 0 and "GrabCut-only" in allowed.stdout


def test_the_repo_weights_state_is_buildable() -> None:
    """What the default image build (REQUIRE_WEIGHTS=1) will say about the repo as it is now: weights
    present must verify; absent weights only build with REQUIRE_WEIGHTS=0."""
    directory = REPO / "model" / "weights"
    has_weights = directory.is_dir() and any(directory.glob("*.safetensors"))
    result = run("model/weights", cwd=REPO)
    if has_weights:
        assert result.returncode == 0, result.stderr
    else:
        assert run("model/weights", require="0", cwd=REPO).returncode == 0
