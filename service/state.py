"""Everything the request handlers share, built by the app's lifespan."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from service.batcher import DynamicBatcher
from service.config import Settings
from service.engines.loader import EngineSet
from service.metrics import Metrics


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    cpu_pool: ThreadPoolExecutor
    engines: EngineSet | None = None
    batchers: dict[str, DynamicBatcher] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    draining: bool = False
    in_flight: int = 0  # removal requests admitted and not finished
    videos_in_flight: int = 0  # video requests admitted and not finished (streaming included)
    load_error: str | None = None

    @property
    def is_ready(self) -> bool:
        return self.ready.is_set() and not self.draining
