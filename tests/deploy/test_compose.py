"""docker-compose.yml validates against the Compose Specification schema (the copy vendored by
check-jsonschema, so no download), reserves an NVIDIA GPU, and its env file holds real settings
with their documented values."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from service.config import Settings
from tests.deploy.manifests import COMPOSE_FILE, DASHBOARD, DEPLOY, REPO, Doc, load_one

ENV_FILE = DEPLOY / "compose" / "bgremove.env"
# Settings the image itself sets (Dockerfile ENV) or that only make sense per deployment.
SET_BY_IMAGE = {"host", "port", "weights_path", "modnet_factory"}


def compose_schema() -> Doc:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema: Doc = json.loads(text.read_text())
    return schema


def validate_compose(doc: Doc) -> None:
    schema = compose_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(doc)


def test_compose_file_matches_the_compose_specification() -> None:
    validate_compose(load_one(COMPOSE_FILE))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["services"]["bgremove"].update(stop_grace_periods="70s"),
        lambda d: d["services"]["bgremove"]["deploy"]["resources"]["reservations"].update(gpus=1),
        lambda d: d["services"]["grafana"].update(profiles="monitoring"),
    ],
)
def test_schema_rejects_broken_compose(change: Any) -> None:
    doc = copy.deepcopy(load_one(COMPOSE_FILE))
    change(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate_compose(doc)


def test_gpu_service_reserves_an_nvidia_gpu() -> None:
    service = load_one(COMPOSE_FILE)["services"]["bgremove"]
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] == 1
    assert service["build"]["args"]["VARIANT"] == "gpu"
    assert "profiles" not in service  # the default `docker compose up` starts it


def test_cpu_variant_and_monitoring_are_opt_in() -> None:
    services = load_one(COMPOSE_FILE)["services"]
    cpu = services["bgremove-cpu"]
    assert cpu["profiles"] == ["cpu"] and cpu["build"]["args"]["VARIANT"] == "cpu"
    assert "deploy" not in cpu
    assert "bgremove" in cpu["networks"]["default"]["aliases"]  # Prometheus scrapes either
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]


def test_bind_mounts_exist() -> None:
    for name, service in load_one(COMPOSE_FILE)["services"].items():
        for path in service.get("env_file", []):
            assert (REPO / path).is_file(), f"{name}: env file {path}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source}"


def test_grafana_is_provisioned_with_the_shared_dashboard() -> None:
    grafana = load_one(COMPOSE_FILE)["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    dashboard_target = mounts[f"./{DASHBOARD.relative_to(REPO)}"]
    provisioning = DEPLOY / "compose" / "grafana" / "provisioning"
    (provider,) = load_one(provisioning / "dashboards" / "bgremove.yml")["providers"]
    assert Path(dashboard_target).parent == Path(provider["options"]["path"])
    assert mounts["./deploy/compose/grafana/provisioning"] == "/etc/grafana/provisioning"
    (datasource,) = load_one(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    # Only one copy of the dashboard under deploy/.
    copies = [p for p in DEPLOY.rglob("*.json") if '"uid": "bgremove"' in p.read_text()]
    assert copies == [DASHBOARD]


def _env_entries() -> list[tuple[str, str, str]]:
    """(key, value, the comment lines right above it)."""
    entries, comments = [], []
    for line in ENV_FILE.read_text().splitlines():
        if line.startswith("#"):
            comments.append(line)
        elif line.strip():
            key, _, value = line.partition("=")
            entries.append((key, value, "\n".join(comments)))
            comments = []
        else:
            comments = []
    return entries


def test_env_file_keys_are_settings_and_values_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = _env_entries()
    for key, value, _ in entries:
        assert re.fullmatch(r"BGREMOVE_[A-Z0-9_]+", key), key
        assert key.removeprefix("BGREMOVE_").lower() in Settings.model_fields, f"{key} is no setting"
        monkeypatch.setenv(key, value)
    settings = Settings()  # validates every value as the container would
    for key, _, comments in entries:
        field = key.removeprefix("BGREMOVE_").lower()
        default = Settings.model_fields[field].get_default(call_default_factory=True)
        if "compose:" not in comments:
            assert getattr(settings, field) == default, f"{key}: documented as the default, but is not"


def test_env_file_documents_every_setting() -> None:
    documented = {k.removeprefix("BGREMOVE_").lower() for k, _, _ in _env_entries()}
    missing = set(Settings.model_fields) - documented - SET_BY_IMAGE
    assert not missing, f"add these settings (with their defaults) to {ENV_FILE.relative_to(REPO)}: {missing}"
