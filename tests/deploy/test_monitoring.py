"""Every PromQL expression shipped (alerts, autoscaling, dashboard) names metrics and labels the
service really exports, and the scrape configs point at the port that serves /metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from prometheus_client.metrics import MetricWrapperBase

from service.metrics import Metrics
from tests.deploy.manifests import (
    COMPOSE_FILE,
    DEPLOY,
    K8S,
    dashboard,
    find,
    kustomize,
    load_one,
)

# Labels Prometheus attaches at scrape time (ServiceMonitor / static config), plus `le` of buckets.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
# bgremove_* series, and Prometheus' own `up{...}` (scrape health).
_METRIC_REF = re.compile(r"\b(bgremove_[a-z_]+\b|up(?=\{))(\{[^}]*\})?")
_LABEL_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def exported_series() -> dict[str, set[str]]:
    """Series name as scraped (counter `_total`, histogram `_bucket/_sum/_count`) -> label names."""
    series: dict[str, set[str]] = {"up": set()}
    for metric in vars(Metrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)
        name, kind = metric._name, metric._type
        if kind == "counter":
            series[f"{name}_total"] = labels
        elif kind == "histogram":
            series.update({f"{name}_bucket": labels | {"le"}, f"{name}_sum": labels, f"{name}_count": labels})
        else:
            series[name] = labels
    return series


def shipped_expressions() -> Iterator[tuple[str, str]]:
    for rule in find(kustomize(K8S), "PrometheusRule")["spec"]["groups"][0]["rules"]:
        yield f"alert {rule['alert']}", rule["expr"]
    for i, trigger in enumerate(find(kustomize(K8S), "ScaledObject")["spec"]["triggers"]):
        yield f"keda trigger {i}", trigger["metadata"]["query"]
    adapter = load_one(K8S / "hpa-alternative" / "prometheus-adapter-values.yaml")
    for i, rule in enumerate(adapter["rules"]["custom"]):
        yield f"adapter rule {i}", rule["seriesQuery"]
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']}", target["expr"]


EXPRESSIONS = list(shipped_expressions())


def check_expression(where: str, expr: str) -> None:
    series = exported_series()
    refs = _METRIC_REF.findall(expr)
    assert refs, f"{where}: no metric in {expr!r}"
    assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
    allowed = set(TARGET_LABELS)
    for name, selector in refs:
        assert name in series, f"{where}: {name} is not exported (have {sorted(series)})"
        labels = set(_LABEL_MATCHER.findall(selector))
        assert labels <= series[name] | TARGET_LABELS, f"{where}: {name} has no label {labels - series[name]}"
        allowed |= series[name]
    for group in _GROUPING.findall(expr):
        # `<<.GroupBy>>` is prometheus-adapter's template, filled in at query time.
        grouped = {g.strip() for g in group.split(",") if g.strip() and not g.strip().startswith("<<")}
        assert grouped <= allowed, f"{where}: groups by unknown labels {grouped - allowed}"


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_expression_uses_exported_metrics_and_labels(where: str, expr: str) -> None:
    check_expression(where, expr)


@pytest.mark.parametrize(
    "expr",
    [
        "sum(bgremove_queue_depht)",  # misspelt metric
        "sum(bgremove_queue_depth_total)",  # gauge has no _total
        'sum(rate(bgremove_requests_total{code="500"}[5m]))',  # label of another metric
        "sum by (reason) (bgremove_queue_depth)",  # grouping by a label nobody has here
        "sum(rate(bgremove_errors_total[5m])",  # unbalanced
    ],
)
def test_the_checker_rejects_broken_expressions(expr: str) -> None:
    with pytest.raises(AssertionError):
        check_expression("test", expr)


def test_the_checker_rejects_unknown_names() -> None:
    series = exported_series()
    assert "bgremove_queue_depth" in series and "bgremove_requests_total" in series
    assert "bgremove_queue_wait_seconds_bucket" in series
    assert "bgremove_queue_depth_total" not in series
    assert series["bgremove_requests_total"] == {"output", "engine", "status"}


def test_required_alerts_exist() -> None:
    rules = find(kustomize(K8S), "PrometheusRule")["spec"]["groups"][0]["rules"]
    exprs = {r["alert"]: r["expr"] for r in rules}
    assert "bgremove_queue_wait_seconds_bucket" in exprs["BgremoveQueueWaitP95High"]
    assert "histogram_quantile(0.95" in exprs["BgremoveQueueWaitP95High"]
    assert 'status=~"5.."' in exprs["BgremoveErrorRateHigh"]
    assert "bgremove_fallbacks_total" in exprs["BgremoveFallbackRateHigh"]
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_compose_alerts_equal_the_prometheus_rule() -> None:
    k8s_groups = find(kustomize(K8S), "PrometheusRule")["spec"]["groups"]
    assert load_one(DEPLOY / "compose" / "prometheus" / "alerts.yml") == {"groups": k8s_groups}


def test_service_monitor_scrapes_the_metrics_port() -> None:
    docs = kustomize(K8S)
    monitor, service, deployment = (find(docs, k) for k in ("ServiceMonitor", "Service", "Deployment"))
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert endpoint["port"] == port["name"]
    template = deployment["spec"]["template"]
    container_ports = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
    assert port["targetPort"] in container_ports
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()


def test_compose_prometheus_scrapes_the_service() -> None:
    config = load_one(DEPLOY / "compose" / "prometheus" / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "bgremove"  # the alerts and the dashboard select job="bgremove"
    assert job["metrics_path"] == "/metrics"
    compose = load_one(COMPOSE_FILE)
    assert job["static_configs"][0]["targets"] == ["bgremove:8000"]
    assert "bgremove" in compose["services"]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/compose/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


def test_dashboard_structure() -> None:
    dash = dashboard()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in dash["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        # Every query goes through the datasource variable, so the same JSON works in compose and
        # in any cluster's Grafana.
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"]
        for target in panel["targets"]:
            assert 'job="bgremove"' in target["expr"], panel["title"]
    titles = " ".join(p["title"] for p in dash["panels"])
    assert "Queue depth" in titles and "Queue wait" in titles
