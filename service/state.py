"""Everything the request handlers share, built by the app's lifespan."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from service.admission import Admission
from service.batcher import DynamicBatcher
from service.config import Settings
from service.contract import EngineName
from service.engines.loader import EngineSet
from service.metrics import Metrics
from service.pipeline import RemovalPipeline
from service.place_limit import PlaceLimit


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    cpu_pool: ThreadPoolExecutor
    admission: Admission
    video_admission: PlaceLimit  # videos in progress (streaming included)
    engines: EngineSet | None = None
    batchers: dict[EngineName, DynamicBatcher] = field(default_factory=dict)
    pipeline: RemovalPipeline | None = None  # built once the engines are started
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    draining: bool = False
    load_error: str | None = None

    @property
    def is_ready(self) -> bool:
        return self.ready.is_set() and not self.draining
