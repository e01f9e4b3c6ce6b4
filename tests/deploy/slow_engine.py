"""A MODNet stand-in for the drain test, loaded by the real service through its engine factory
setting (BGREMOVE_MODNET_FACTORY=tests.deploy.slow_engine:create_engine). Each batch takes
DRAIN_TEST_BATCH_S seconds, so requests are reliably still queued or running when SIGTERM comes."""

from __future__ import annotations

import os
from typing import Any

from tests.fakes import FakeEngine


def create_engine(**_: Any) -> FakeEngine:
    return FakeEngine("modnet", delay_s=float(os.environ.get("DRAIN_TEST_BATCH_S", "1.0")))
