"""The interface every matting engine implements, and the errors engines raise.

The service never imports torch: MODNet lives in `model/` and is loaded by dotted path in the
lifespan (see `service.engines.loader`), GrabCut lives here, and tests use fakes. All of them satisfy
`MattingEngine`, which is deliberately small (LitServe's setup/predict shape, not its whole API).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]
"""H x W x 3, RGB, uint8, C-contiguous, EXIF orientation already applied."""

Alpha = npt.NDArray[np.float32]
"""H x W, float32 in [0, 1], same H and W as the image it was predicted from."""


class EngineError(RuntimeError):
    """An engine failed on a batch; the batcher fans it out to every item of that batch."""


class EngineOutOfMemory(EngineError):
    """The accelerator ran out of memory for this batch (e.g. CUDA OOM)."""


@runtime_checkable
class MattingEngine(Protocol):
    """Predicts an alpha matte per image.

    name:     short engine name, sent as `X-Engine` ("modnet", "grabcut", "fake", ...).
    model_id: weights name/version, sent as `X-Model`.
    """

    name: str
    model_id: str

    def bucket_key(self, image: RGBImage) -> Hashable:
        """Items batch together only when their keys are equal (e.g. MODNet's input tensor shape,
        since its InstanceNorm makes padding change results)."""
        ...

    def predict_batch(self, images: Sequence[RGBImage]) -> list[Alpha]:
        """One alpha per image, in order. Blocking; called from one worker thread at a time.
        Raises `EngineError` (or any exception) to fail the whole batch."""
        ...

    def warmup(self) -> None:
        """Run once at start-up so the first request pays no compile/allocation cost."""
        ...

    def close(self) -> None:
        """Release resources (GPU memory); called at shutdown."""
        ...
