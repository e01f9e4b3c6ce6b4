"""MODNet's forward pass on ONNX Runtime: the CPU serving runtime (torch stays for training and GPU).

The graph is exported by this module from the loaded network itself (`torch.onnx.export`, the
TorchScript-based exporter: it needs only the `onnx` package, where torch 2.13's default
torch.export-based exporter also needs `onnxscript`), with dynamic batch, height and width, so one
file serves every bucket shape. Nothing is downloaded: the export runs once at engine load and is
cached on disk, keyed by a hash of the network's tensors (plus the exporter's and torch's versions),
so a restart with the same weights loads the cached file in well under a second.

Why ONNX Runtime: on the 2-core AVX512 dev box its forward at the serving shapes is several times
faster than torch eager fp32 with the same matte to ~1e-5 (`python -m bench.runtime_compare`,
docs/benchmarks.md); torch's bf16 autocast is slower than it and changes the matte, and
`torch.compile` took minutes to compile per shape there. ONNX Runtime releases the GIL while it runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from model.onnx_arrangement import arranged_for_export, split_small_concat_inputs

log = logging.getLogger(__name__)

# Bump when the exported graph changes for the same weights (wrapper, opset, exporter options):
# it is part of the cache key, so stale files are never loaded.
EXPORT_FORMAT = "modnet-onnx/2"  # 2: arranged for ONNX Runtime (model.onnx_arrangement)
OPSET = 17
INPUT_NAME = "image"  # [B, 3, H, W] float32 in [-1, 1], H and W multiples of 32
OUTPUT_NAME = "matte"  # [B, 1, H, W] float32 in [0, 1], before the alpha-level stretch


def onnx_available() -> bool:
    """Both the exporter's `onnx` and `onnxruntime` are installed (the `cpu` extra)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


class _MatteOnly(nn.Module):
    """MODNet in inference mode returns (None, None, matte); ONNX wants tensors only."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        matte: torch.Tensor = self.net(image, inference=True)[2]
        return matte


def network_key(net: nn.Module) -> str:
    """What the exported graph depends on: every tensor (name, dtype, shape, bytes), the export
    format and torch's version. Safetensors metadata (alpha levels, inference size) is left out on
    purpose: it does not change the graph, so it must not force a new export."""
    digest = hashlib.sha256(f"{EXPORT_FORMAT};opset={OPSET};torch={torch.__version__}".encode())
    for name, tensor in net.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name};{t.dtype};{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/bgremove/onnx (the image points XDG_CACHE_HOME at its writable /tmp)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bgremove" / "onnx"


def export_onnx(net: nn.Module, path: Path) -> None:
    """Writes `net` (fp32, on CPU) as ONNX to `path` atomically (a concurrent reader, e.g. another
    worker process starting, sees the whole file or none), arranged for ONNX Runtime's kernels
    (`model.onnx_arrangement`: the same matte, computed faster)."""
    import onnx  # optional dependency (the `cpu` extra), like onnxruntime

    net = arranged_for_export(net.eval())
    example = torch.zeros(1, 3, 64, 96)  # any multiple of 32: the axes are dynamic
    dynamic = {0: "batch", 2: "height", 3: "width"}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            # The TorchScript exporter is deprecated in favour of the torch.export one (which needs
            # onnxscript); and InstanceNorm without running stats always normalises with the input's
            # own statistics, which is what its "exporting with train=True" warning is about.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _MatteOnly(net),
                (example,),
                tmp_name,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: dynamic},
                opset_version=OPSET,
            )
        graph = onnx.load(tmp_name)
        split_small_concat_inputs(graph)
        onnx.save(graph, tmp_name)
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def cached_onnx(net: nn.Module, cache_dir: Path | None = None) -> Path:
    """The ONNX file for `net`, exported on a cache miss. An unwritable cache directory falls back
    to the system temp directory (a read-only root filesystem must not stop the service)."""
    name = f"modnet-{network_key(net)}.onnx"
    for directory in (cache_dir or default_cache_dir(), Path(tempfile.gettempdir()) / "bgremove-onnx"):
        path = directory / name
        if path.is_file():
            return path
        try:
            export_onnx(net, path)
        except OSError as exc:
            log.warning("cannot write the ONNX export to %s (%s)", directory, exc)
            continue
        log.info("exported MODNet to ONNX: %s", path)
        return path
    raise OSError(f"no writable directory for the ONNX export of MODNet ({name})")


class OnnxModnet:
    """A callable with MODNet's inference contract: [B, 3, H, W] float32 -> matte [B, 1, H, W]."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort  # optional dependency: imported only when this runtime is chosen

        options = ort.SessionOptions()
        # One thread per core like torch's default: the batcher calls the engine from one thread.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Intra-op threads spin between the parallel sections of a forward (without it a forward at
        # 320 x 544 took 156 ms instead of 140 on the 2-core EPYC: every section pays a wake-up), and
        # stop spinning the moment the forward returns: spinning on between forwards burned the cores
        # the service's decode and encode threads need (concurrency 8 gave 0.92-1.0x the throughput
        # of concurrency 1 on 2 cores with it; see bench.cpu_targets).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self.path = Path(path)
        self._session: Any = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run_array(batch.detach().cpu().float().numpy()))

    def run_array(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The same on numpy arrays (`model.preprocess.ArrayForward`): what the serving engine calls."""
        (matte,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(batch, np.float32)})
        return np.asarray(matte, np.float32)


def load_onnx_modnet(net: nn.Module, *, cache_dir: Path | None = None) -> OnnxModnet:
    """Exports (or finds in the cache) `net`'s graph and opens an ONNX Runtime session on it."""
    return OnnxModnet(cached_onnx(net.float(), cache_dir))
