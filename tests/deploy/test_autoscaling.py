"""KEDA and the HPA alternative scale on the same signals with the same bounds, and the signals are
ones the service exports. Queue depth is the primary signal; in-flight requests catch pods whose
CPU stage (decode / foreground / encode) saturates while the engine queue stays short."""

from __future__ import annotations

import re

from tests.deploy.manifests import K8S, Doc, container_env, find, kustomize, load_one, pod_containers

HPA_DIR = K8S / "hpa-alternative"
SIGNALS = ["bgremove_queue_depth", "bgremove_in_flight_requests"]


def _scaled_object() -> Doc:
    return find(kustomize(K8S), "ScaledObject")


def _hpa() -> Doc:
    return find(kustomize(HPA_DIR), "HorizontalPodAutoscaler")


def _deployment_env() -> dict[str, str]:
    (container,) = pod_containers(find(kustomize(K8S), "Deployment"))
    return container_env(container)


def _keda_thresholds() -> dict[str, str]:
    out = {}
    for trigger in _scaled_object()["spec"]["triggers"]:
        (metric,) = re.findall(r"bgremove_[a-z_]+", trigger["metadata"]["query"])
        out[metric] = trigger["metadata"]["threshold"]
    return out


def test_both_target_the_deployment() -> None:
    deployment = find(kustomize(K8S), "Deployment")["metadata"]["name"]
    so, hpa = _scaled_object()["spec"], _hpa()["spec"]
    assert so["scaleTargetRef"]["name"] == hpa["scaleTargetRef"]["name"] == deployment
    assert hpa["scaleTargetRef"]["kind"] == so["scaleTargetRef"].get("kind", "Deployment") == "Deployment"


def test_keda_queries_sum_the_signals_over_the_deployments_pods() -> None:
    triggers = _scaled_object()["spec"]["triggers"]
    namespace = load_one(K8S / "kustomization.yaml")["namespace"]
    service = find(kustomize(K8S), "Service")["metadata"]["name"]
    assert list(_keda_thresholds()) == SIGNALS  # queue depth first: the primary signal
    for trigger in triggers:
        assert trigger["type"] == "prometheus"
        # AverageValue: the HPA divides the summed query by the replica count (per-pod average).
        assert trigger["metricType"] == "AverageValue"
        query = trigger["metadata"]["query"]
        assert query.startswith("sum(avg_over_time(") and query.endswith("[1m]))")
        # kustomize does not rewrite queries: their namespace must be the one the overlay deploys to.
        assert f'namespace="{namespace}"' in query and f'job="{service}"' in query


def test_thresholds_relate_to_the_batch_size() -> None:
    env = _deployment_env()
    batch, queue = int(env["BGREMOVE_MAX_BATCH_SIZE"]), int(env["BGREMOVE_MAX_QUEUE"])
    thresholds = {k: float(v) for k, v in _keda_thresholds().items()}
    assert thresholds["bgremove_queue_depth"] == batch  # one full batch waiting per pod
    assert thresholds["bgremove_in_flight_requests"] == 2 * batch
    assert thresholds["bgremove_queue_depth"] < queue / 4, "scale out long before 429 queue_full"


def test_hpa_matches_keda() -> None:
    so, hpa = _scaled_object()["spec"], _hpa()["spec"]
    assert hpa["minReplicas"] == so["minReplicaCount"] >= 2  # >= 2: the PDB lets one pod go
    assert hpa["maxReplicas"] == so["maxReplicaCount"] > hpa["minReplicas"]
    assert hpa["behavior"] == so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    hpa_targets = {}
    for metric in hpa["metrics"]:
        assert metric["type"] == "Pods"
        assert metric["pods"]["target"]["type"] == "AverageValue"
        hpa_targets[metric["pods"]["metric"]["name"]] = metric["pods"]["target"]["averageValue"]
    assert hpa_targets == _keda_thresholds()


def test_prometheus_adapter_rules_serve_the_hpa_metrics() -> None:
    rules = load_one(HPA_DIR / "prometheus-adapter-values.yaml")["rules"]["custom"]
    served = {}
    for rule in rules:
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
        # Same smoothing as the KEDA queries, so both setups react alike.
        assert "sum(avg_over_time(<<.Series>>{<<.LabelMatchers>>}[1m]))" in rule["metricsQuery"]
        (series,) = re.findall(r"bgremove_[a-z_]+", rule["seriesQuery"])
        assert re.fullmatch(rule["name"]["matches"], series)
        served[rule["name"]["as"]] = series
    hpa_metrics = [m["pods"]["metric"]["name"] for m in _hpa()["spec"]["metrics"]]
    assert sorted(served) == sorted(hpa_metrics) == sorted(SIGNALS)
