"""Rules of the codebase that a refactor could silently break."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Settings
from tests.locations import REPO, modules_loaded_by


def test_service_never_imports_torch() -> None:
    loaded = modules_loaded_by(
        "import service.app, service.__main__, service.engines.loader, service.engines.grabcut\n"
        "from service.app import create_app\nfrom service.config import Settings\n"
        "create_app(Settings())"
    )
    assert not sorted(m for m in loaded if m == "torch" or m.startswith(("torch.", "model")))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _module(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def _python_files(*packages: str) -> list[Path]:
    return [path for package in packages for path in sorted((REPO / package).rglob("*.py"))]


def test_no_module_in_service_or_model_imports_torch_from_service() -> None:
    for path in _python_files("service"):
        names = _imports(path)
        assert not any(n == "torch" or n.startswith(("torch.", "model")) for n in names), path


def test_routes_import_no_other_route() -> None:
    routes = {_module(p) for p in (REPO / "service" / "routes").glob("*.py") if "APIRouter(" in p.read_text()}
    assert {
        "service.routes.removal",
        "service.routes.removebg",
        "service.routes.health",
        "service.routes.video",
    } <= routes
    for route in routes:
        path = REPO / (route.replace(".", "/") + ".py")
        assert not (_imports(path) & (routes - {route})), f"{route} imports another route"


# One request's way, top to bottom: a module never imports one above it, so the way never returns
# to a file it has left (routes -> handler -> pipeline -> router -> batcher -> engines -> imaging).
# A video's way: routes -> service.video (session, clip) -> router -> batcher -> ...
LAYERS = [
    "service.routes",
    "service.removal_handler",
    "service.video",
    "service.pipeline",
    "service.engine_router",
    "service.batcher",
    "service.engines",
    "service.imaging",
    "service.contract",
]


def _layer(module: str) -> int | None:
    for index, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return index
    return None


def test_a_request_way_only_goes_down() -> None:
    for path in _python_files("service"):
        own = _layer(_module(path))
        if own is None:
            continue
        for name in _imports(path):
            other = _layer(name)
            assert other is None or other >= own, f"{_module(path)} imports {name}, which is above it"


def test_array_types_are_defined_once() -> None:
    definitions = []
    for path in _python_files("service", "model", "bench", "tests"):
        for node in ast.parse(path.read_text()).body:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            definitions += [(_module(path), n) for n in names & {"RGBImage", "Alpha"}]
    assert sorted(definitions) == [("service.contract", "Alpha"), ("service.contract", "RGBImage")]


def test_exceptions_are_recognised_by_type_not_by_name() -> None:
    # An except block that compares a class name is matching on it (the old "OutOfMemory" substring);
    # naming the class in a message is fine.
    for path in _python_files("service", "model", "bench"):
        for handler in ast.walk(ast.parse(path.read_text())):
            if not isinstance(handler, ast.ExceptHandler):
                continue
            for compare in (n for n in ast.walk(handler) if isinstance(n, ast.Compare)):
                names = [
                    n for n in ast.walk(compare) if isinstance(n, ast.Attribute) and n.attr == "__name__"
                ]
                assert not names, f"{path}:{compare.lineno}"


def test_there_is_one_fake_engine() -> None:
    engines = [
        f"{_module(path)}.{node.name}"
        for path in _python_files("bench", "tests")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(f, ast.FunctionDef) and f.name == "predict_batch" for f in node.body)
    ]
    assert engines == ["bench.fake_engine.FakeEngine"]


def test_training_and_serving_share_the_preprocessing() -> None:
    for module in ("model/serving.py", "model/training/inference.py"):
        text = (REPO / module).read_text()
        assert "model.preprocess" in _imports(REPO / module), module
        assert "interpolate" not in text, f"{module} resizes by itself"


def test_modules_stay_small() -> None:
    for package in ("service", "model", "bgremove_client", "bench", "tests"):
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
