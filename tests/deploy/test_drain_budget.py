"""The orchestrators wait long enough for the service's own drain bound before they SIGKILL.

After SIGTERM the service first lets in-flight requests finish (each ends by its deadline,
request_timeout_s), then drains the batch queue (drain_timeout_s). Kubernetes adds the preStop
sleep in front. The grace period must exceed the sum, computed from the values the container really
runs with: its env where set, else service/config.py's defaults."""

from __future__ import annotations

import re

from tests.deploy.manifests import (
    COMPOSE_FILE,
    DEPLOY,
    K8S,
    container_env,
    effective_setting,
    find,
    kustomize,
    load_one,
    pod_containers,
)


def _duration_s(text: str) -> float:
    """Compose durations: '70s', '1m30s', '1m', '500ms'."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"unparsed duration {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _env_file(path: str) -> dict[str, str]:
    env = {}
    for line in (COMPOSE_FILE.parent / path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def test_kubernetes_grace_period_covers_prestop_requests_and_drain() -> None:
    deployment = find(kustomize(K8S), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod_containers(deployment)
    env = container_env(container)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    budget = (
        float(pre_stop[1])
        + effective_setting("request_timeout_s", env)
        + effective_setting("drain_timeout_s", env)
    )
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > budget, f"terminationGracePeriodSeconds {grace} <= preStop + request + drain = {budget}"
    # The comment above the field spells the arithmetic out; keep its numbers true.
    text = (DEPLOY / "k8s" / "base" / "deployment.yaml").read_text()
    assert f"= {budget:g} s; {grace} s leaves" in text


def test_compose_stop_grace_period_covers_requests_and_drain() -> None:
    compose = load_one(COMPOSE_FILE)
    for name in ("bgremove", "bgremove-cpu"):
        service = compose["services"][name]
        env: dict[str, str] = {}
        for path in service["env_file"]:
            env.update(_env_file(path))
        budget = effective_setting("request_timeout_s", env) + effective_setting("drain_timeout_s", env)
        assert service["stop_signal"] == "SIGTERM"
        assert _duration_s(service["stop_grace_period"]) > budget, name


def test_budget_follows_a_longer_timeout() -> None:
    """The check reads the env: a longer request timeout in the manifest would need a longer grace."""
    env = {"BGREMOVE_REQUEST_TIMEOUT_S": "120"}
    assert effective_setting("request_timeout_s", env) == 120
    assert effective_setting("drain_timeout_s", env) == effective_setting("drain_timeout_s", {})


def test_duration_parser() -> None:
    assert _duration_s("70s") == 70
    assert _duration_s("1m30s") == 90
    assert _duration_s("500ms") == 0.5
