"""Rules of the codebase that a refactor could silently break."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from pydantic import ValidationError

from service.config import Settings
from tests.locations import REPO


def test_service_never_imports_torch() -> None:
    code = (
        "import sys, service.app, service.__main__, service.engines.loader, service.engines.grabcut;"
        "from service.app import create_app; from service.config import Settings;"
        "create_app(Settings());"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'model')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_in_service_or_model_imports_torch_from_service() -> None:
    for path in (REPO / "service").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "torch" or n.startswith(("torch.", "model")) for n in names), path


def test_modules_stay_small() -> None:
    for package in ("service", "model", "bgremove_client", "bench"):
        for path in (REPO / package).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            assert lines < 300, f"{path.relative_to(REPO)} has {lines} lines"


def test_readme_documents_every_setting() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [
        f"BGREMOVE_{name.upper()}"
        for name in Settings.model_fields
        if f"BGREMOVE_{name.upper()}" not in readme
    ]
    assert not missing, missing


def test_readme_documents_every_error_code() -> None:
    from service.errors import ErrorKind

    readme = (REPO / "README.md").read_text()
    assert not [k.value for k in ErrorKind if f"`{k.value}`" not in readme]


def test_settings_are_not_read_at_import() -> None:
    # A bad env value must not break importing the app module, only building Settings.
    env = {"BGREMOVE_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import service.app, service.__main__"],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("320", True), ("32", False), ("-1", False)])
def test_inference_size_is_zero_or_a_real_size(monkeypatch: pytest.MonkeyPatch, value: str, ok: bool) -> None:
    # 0 defers to the weights' own size; a tiny size would be a typo, not a choice.
    monkeypatch.setenv("BGREMOVE_INFERENCE_SIZE", value)
    if ok:
        assert Settings().inference_size == int(value)
    else:
        with pytest.raises(ValidationError, match="inference_size"):
            Settings()
