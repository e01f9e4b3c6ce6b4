"""The teacher: Robust Video Matting (GPL-3.0) run through onnxruntime. It only makes labels; its
weights are never shipped and the service never imports it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt


class RvmTeacher:
    """Soft alpha (and foreground colour) for one still photo."""

    def __init__(self, onnx_path: Path, threads: int = 0) -> None:
        import onnxruntime as ort  # optional `train` extra: imported only when labels are made

        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def predict(self, rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
        """Returns (alpha H x W in 0..1, foreground H x W x 3 RGB uint8)."""
        height, width = rgb.shape[:2]
        src = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        # A still image is a one-frame video: zero recurrent state. RVM's documented ratio keeps its
        # coarse pass near 512 px on the long side.
        state = np.zeros((1, 1, 1, 1), np.float32)
        ratio = np.array([min(512.0 / max(height, width), 1.0)], np.float32)
        fgr, pha = self._session.run(
            ["fgr", "pha"],
            {"src": src, "r1i": state, "r2i": state, "r3i": state, "r4i": state, "downsample_ratio": ratio},
        )[:2]
        alpha = np.clip(pha[0, 0], 0.0, 1.0).astype(np.float32)
        foreground = (np.clip(fgr[0].transpose(1, 2, 0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return alpha, foreground
