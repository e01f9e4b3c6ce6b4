"""The batch cap measured at warm-up: the setting is a ceiling, and a batch size is kept only while
the per-item cost still falls (service.batch_cap). Real timing of a fake engine whose sleeps make
the costs differ several-fold, so the decision is not close; no timing thresholds are asserted."""

from __future__ import annotations

from bench.fake_engine import FakeEngine
from service.batch_cap import measure_batch_cap
from service.engines.loader import EngineSet
from tests.apprunner import make_settings, metric, running_app

SHAPE = (64, 96)  # the fake's mattes are copied per item: small, so the sleeps are the cost


def test_per_item_cost_rising_with_batch_size_caps_batches_at_one() -> None:
    # Each item costs more the larger its batch (a CPU whose cores one image already fills, plus
    # the extra memory traffic): 10 ms per item at 1, 20 at 2, ...
    engine = FakeEngine(item_delay_s=0.010, batch_growth_s=0.010)
    cap = measure_batch_cap(engine, 16, shape=SHAPE)
    assert cap.cap == 1
    assert sorted(cap.per_item_s) == [1, 2]  # stopped at the first size that did not pay
    assert engine.batches[:3] == [1, 1, 1]


def test_per_item_cost_falling_with_batch_size_keeps_the_ceiling() -> None:
    # A fixed cost per call (a GPU's launch and idle lanes) shared by the batch: 40 ms / n per item.
    engine = FakeEngine(delay_s=0.040)
    cap = measure_batch_cap(engine, 8, shape=SHAPE)
    assert cap.cap == 8
    assert sorted(cap.per_item_s) == [1, 2, 4, 8]
    assert max(engine.batches) == 8  # the ceiling is never exceeded


def test_a_ceiling_that_is_not_a_power_of_two_is_measured_too() -> None:
    engine = FakeEngine(delay_s=0.040)
    assert measure_batch_cap(engine, 6, shape=SHAPE).cap == 6
    assert max(engine.batches) == 6


async def test_the_measured_cap_is_in_readyz_and_a_metric() -> None:
    modnet = FakeEngine(item_delay_s=0.010, batch_growth_s=0.010)
    engines = EngineSet(grabcut=FakeEngine("grabcut"), modnet=modnet)
    settings = make_settings(max_batch_size=16, measure_batch_cap=True)
    async with running_app(settings, engines) as client:
        ready = (await client.get("/readyz")).json()
        cap = metric(client, "bgremove_batch_cap", {"engine": "modnet"})
    assert ready["batch_caps"] == {"modnet": 1, "grabcut": 1}
    assert cap == 1
