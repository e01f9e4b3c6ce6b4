"""Loading the deployment files for the tests: YAML documents, kustomize overlays (resolved in
Python so the tests need no kubectl), container env, and the service's setting defaults."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = REPO / "docker-compose.yml"
DASHBOARD = DEPLOY / "grafana" / "bgremove.json"

Doc = dict[str, Any]

# Kinds kustomize's namespace transformer leaves alone (cluster-scoped) among those we ship.
_CLUSTER_SCOPED = {"Namespace"}


def yaml_files() -> list[Path]:
    files = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
    return [COMPOSE_FILE, *files]


def load_docs(path: Path) -> list[Doc]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_one(path: Path) -> Doc:
    docs = load_docs(path)
    assert len(docs) == 1, f"{path}: expected one document, found {len(docs)}"
    return docs[0]


def kustomize(directory: Path) -> list[Doc]:
    """The objects `kubectl kustomize directory` would emit, for the features our overlays use:
    resources (files and nested kustomizations), configMapGenerator (files), namespace, images."""
    kust = load_one(directory / "kustomization.yaml")
    docs: list[Doc] = []
    for entry in kust.get("resources", []):
        target = (directory / entry).resolve()
        docs.extend(kustomize(target) if target.is_dir() else load_docs(target))
    options = kust.get("generatorOptions", {})
    for gen in kust.get("configMapGenerator", []):
        data = {}
        for name in gen.get("files", []):
            path = (directory / name).resolve()
            # kustomize's default load restrictor: generator files must sit under the root.
            assert path.is_relative_to(directory.resolve()), f"{name} is outside {directory}"
            data[path.name] = path.read_text()
        labels = {**options.get("labels", {}), **gen.get("labels", {})}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": gen["name"], **({"labels": labels} if labels else {})},
                "data": data,
            }
        )
    docs = [copy.deepcopy(d) for d in docs]
    if "namespace" in kust:
        for doc in docs:
            if doc["kind"] not in _CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kust["namespace"]
    for image in kust.get("images", []):
        for doc in docs:
            for container in pod_containers(doc):
                repo, _, _ = container["image"].partition(":")
                if repo == image["name"]:
                    container["image"] = f"{image.get('newName', repo)}:{image['newTag']}"
    return docs


def pod_containers(doc: Doc) -> list[Doc]:
    if doc.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
        return []
    containers: list[Doc] = doc["spec"]["template"]["spec"]["containers"]
    return containers


def find(docs: list[Doc], kind: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def container_env(container: Doc) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def setting_default(name: str) -> Any:
    """A field default of service.config.Settings (read from the code, not copied)."""
    from service.config import Settings

    return Settings.model_fields[name].default


def effective_setting(name: str, env: dict[str, str]) -> float:
    """The value a container runs with: its BGREMOVE_ env if set, else the code default."""
    key = f"BGREMOVE_{name.upper()}"
    return float(env[key]) if key in env else float(setting_default(name))


def dashboard() -> Doc:
    result: Doc = json.loads(DASHBOARD.read_text())
    return result
