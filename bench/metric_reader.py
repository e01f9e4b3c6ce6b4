"""The one way tools and tests read a Prometheus sample: from a live registry (the app in process)
or from `/metrics` text (a server process)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families


def metric_value(
    source: CollectorRegistry | str, name: str, labels: Mapping[str, str] | None = None
) -> float:
    """The sum of the samples called `name` whose labels include `labels` (all of them when it is
    empty); 0.0 when there are none, like a counter that never moved."""
    families: Iterable[Metric] = (
        text_string_to_metric_families(source) if isinstance(source, str) else source.collect()
    )
    wanted = (labels or {}).items()
    return float(
        sum(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in wanted)
        )
    )
