"""The engine contract: the array types every layer shares, the engine and engine-factory
protocols, the engine names, and the errors engines raise.

It imports only numpy, so `imaging/`, `engines/`, the batcher and `model/serving.py` all take their
types from here without importing each other. The service never imports torch: MODNet lives in
`model/` and is built by an `EngineFactory` named by dotted path (see `service.engines.loader`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]
"""H x W x 3, RGB, uint8, C-contiguous, EXIF orientation already applied."""

Alpha = npt.NDArray[np.float32]
"""H x W, float32 in [0, 1]: an engine's at the size of the image it was given (its `input_size`),
the pipeline's at the photo's size."""


class EngineName(StrEnum):
    """The engines the service serves (each behind its own batcher); sent as `X-Engine`."""

    MODNET = "modnet"
    GRABCUT = "grabcut"


class EngineError(RuntimeError):
    """An engine failed on a batch; the batcher retries its items one by one, and an item that
    fails alone too gets the error."""


class EngineOutOfMemory(MemoryError):
    """The device (CUDA, or the host for CPU inference) could not allocate memory for a batch.

    A `MemoryError`, so the service recognises it by type without importing the engine's module;
    engines raise it (or a subclass) instead of their framework's own out-of-memory error."""


@runtime_checkable
class MattingEngine(Protocol):
    """Predicts an alpha matte per image (LitServe's setup/predict shape, not its whole API).

    name:     short engine name for logs and thread names ("modnet", "grabcut", ...).
    model_id: weights name/version, sent as `X-Model`.
    """

    name: str
    model_id: str

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The (h, w) the engine reads a photo of that size at. The service shrinks the photo to it
        in its CPU pool before queueing (so batches hold equal shapes and the engine thread runs
        the network only), and `predict_batch` returns alphas at that size, which the service
        brings back to the photo's size (edge-aware). (height, width) itself: full resolution."""
        ...

    def bucket_key(self, image: RGBImage) -> Hashable:
        """Items batch together only when their keys are equal (e.g. MODNet's input tensor shape,
        since its InstanceNorm makes padding change results)."""
        ...

    def predict_batch(self, images: Sequence[RGBImage]) -> list[Alpha]:
        """One alpha per image, in order, each at `input_size` of its image. Blocking; called from
        one worker thread at a time. Raises `EngineOutOfMemory` when the device cannot hold the
        batch, `EngineError` (or any exception) otherwise, to fail the whole batch."""
        ...

    def warmup(self) -> None:
        """Run once at start-up so the first request pays no compile/allocation cost."""
        ...

    def close(self) -> None:
        """Release resources (GPU memory); called at shutdown."""
        ...


class EngineFactory(Protocol):
    """What `BGREMOVE_MODNET_FACTORY` names: the loader calls it with exactly these keywords.
    Returns None when there are no weights at `weights_path`."""

    def __call__(
        self,
        *,
        weights_path: Path,
        device: str,
        inference_size: int,
        max_batch_size: int,
        cpu_precision: str,
        cpu_runtime: str,
        flip_average: bool,
    ) -> MattingEngine | None: ...
