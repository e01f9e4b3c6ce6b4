"""Builds the engines at start-up: GrabCut always, MODNet when its weights are there.

MODNet is loaded through a dotted-path `service.contract.EngineFactory` (`settings.modnet_factory`,
default `model.serving:create_engine`) so that importing the service never imports torch.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any, cast

from service.config import Settings
from service.contract import EngineFactory, MattingEngine

log = logging.getLogger(__name__)


@dataclass
class EngineSet:
    grabcut: MattingEngine
    modnet: MattingEngine | None = None
    modnet_error: str | None = None  # why MODNet is absent, for /readyz and the logs


def import_string(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not attr:
        raise ValueError(f"expected 'package.module:attribute', got {path!r}")
    return getattr(importlib.import_module(module_name), attr)


def load_engines(settings: Settings) -> EngineSet:
    """Blocking (reads weights, may initialise CUDA): call it from a worker thread."""
    from service.engines.grabcut import GrabCutEngine

    engines = EngineSet(grabcut=GrabCutEngine())
    if not settings.weights_path.is_file():
        engines.modnet_error = f"no weights at {settings.weights_path}"
        log.warning("MODNet disabled: %s; serving GrabCut only", engines.modnet_error)
        return engines
    try:
        factory = cast(EngineFactory, import_string(settings.modnet_factory))
        engines.modnet = factory(
            weights_path=settings.weights_path,
            device=settings.device,
            inference_size=settings.inference_size,
            max_batch_size=settings.max_batch_size,
            cpu_precision=settings.cpu_precision,
            cpu_runtime=settings.cpu_runtime,
            flip_average=settings.flip_average,
        )
    except Exception as exc:  # a broken model must not take the GrabCut service down with it
        log.exception("MODNet failed to load from %s", settings.weights_path)
        engines.modnet_error = f"failed to load: {exc!r}"
    return engines
