"""Every deployment YAML parses; the Kubernetes objects of both overlays validate offline, built-in
kinds against the official schemas (kubernetes-validate, strict: unknown fields fail) and the
custom resources against tests/deploy/schemas."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.manifests import K8S, REPO, Doc, find, kustomize, load_docs, yaml_files

OVERLAYS = {"keda": K8S, "hpa": K8S / "hpa-alternative"}
# Oldest Kubernetes we claim (PDB unhealthyPodEvictionPolicy is GA in 1.31) and the newest bundled.
K8S_VERSIONS = ["1.31", kubernetes_validate.utils.latest_version()]
SCHEMAS = Path(__file__).parent / "schemas"
CRD_SCHEMAS = {
    "ScaledObject": "scaledobject.schema.json",
    "ServiceMonitor": "servicemonitor.schema.json",
    "PrometheusRule": "prometheusrule.schema.json",
}


def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[kind]).read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    return validator_cls(schema)


def validate(doc: Doc, version: str) -> None:
    if doc["kind"] in CRD_SCHEMAS:
        crd_validator(doc["kind"]).validate(doc)
    else:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path} is empty"
    assert all(isinstance(d, dict) for d in docs)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_overlay_objects_validate(overlay: str, version: str) -> None:
    docs = kustomize(OVERLAYS[overlay])
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor"}
    for doc in docs:
        try:
            validate(doc, version)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_every_k8s_file_is_in_an_overlay() -> None:
    """A manifest no kustomization lists would never be applied (nor validated above)."""
    used = {(d["kind"], d["metadata"]["name"]) for o in OVERLAYS.values() for d in kustomize(o)}
    for path in K8S.rglob("*.yaml"):
        # Helm values for prometheus-adapter are not Kubernetes objects.
        if path.name == "kustomization.yaml" or path.name.endswith("-values.yaml"):
            continue
        for doc in load_docs(path):
            assert (doc["kind"], doc["metadata"]["name"]) in used, f"{path} is in no kustomization"


def _mutated(kind: str, change: Any) -> Doc:
    doc = copy.deepcopy(find(kustomize(K8S), kind))
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        # a misspelt field: strict validation must reject what the API server would drop silently
        ("Deployment", lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriod=75)),
        ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name")),
        ("ScaledObject", lambda d: d["spec"].update(minReplicas=2)),
        ("ScaledObject", lambda d: d["spec"]["triggers"][0]["metadata"].update(threshold=16)),
        ("ScaledObject", lambda d: d["spec"]["triggers"][0]["metadata"].pop("query")),
        ("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].update(interval="15 seconds")),
        ("PrometheusRule", lambda d: d["spec"]["groups"][0]["rules"][0].pop("expr")),
    ],
)
def test_validation_rejects_broken_objects(kind: str, change: Any) -> None:
    """The validators above are not vacuous: each of these broken variants fails."""
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        validate(_mutated(kind, change), K8S_VERSIONS[-1])


def test_autoscalers_are_exclusive() -> None:
    """Two autoscalers on one Deployment undo each other's decisions: one per overlay."""
    keda_kinds = [d["kind"] for d in kustomize(OVERLAYS["keda"])]
    hpa_kinds = [d["kind"] for d in kustomize(OVERLAYS["hpa"])]
    assert keda_kinds.count("ScaledObject") == 1 and "HorizontalPodAutoscaler" not in keda_kinds
    assert hpa_kinds.count("HorizontalPodAutoscaler") == 1 and "ScaledObject" not in hpa_kinds
    assert "replicas" not in find(kustomize(K8S), "Deployment")["spec"], "the autoscaler owns replicas"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) not installed")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_python_resolver_matches_kubectl_kustomize(overlay: str) -> None:
    """The tests read overlays with a small resolver; where kubectl exists, it must agree with it."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAYS[overlay])], capture_output=True, text=True, check=True
    ).stdout
    built = [d for d in yaml.safe_load_all(out) if d]

    def key(d: Doc) -> str:
        return f"{d['kind']}/{d['metadata'].get('namespace', '')}/{d['metadata']['name']}"

    assert sorted(map(key, built)) == sorted(map(key, kustomize(OVERLAYS[overlay])))
    ours = {key(d): d for d in kustomize(OVERLAYS[overlay])}
    for doc in built:
        assert doc == ours[key(doc)], key(doc)
