"""Names the hardware a figure was measured on; every absolute number in a report carries this."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Hardware:
    cpu_model: str
    cpu_cores: int  # cores this process may use (affinity), which is what the server gets too
    python: str
    torch: str | None
    torch_threads: int | None
    gpu: str | None

    def label(self) -> str:
        gpu = self.gpu or "no GPU"
        torch = f"torch {self.torch} ({self.torch_threads} threads)" if self.torch else "torch absent"
        return f"{self.cpu_model}, {self.cpu_cores} cores, {gpu}, {torch}, Python {self.python}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def detect(*, with_torch: bool = True) -> Hardware:
    """`with_torch=False` keeps torch unimported (e.g. a fake-engine soak run)."""
    torch_version: str | None = None
    threads: int | None = None
    gpu: str | None = None
    if with_torch:
        try:
            import torch
        except ImportError:
            pass
        else:
            torch_version = torch.__version__
            threads = torch.get_num_threads()
            if torch.cuda.is_available():
                gpu = torch.cuda.get_device_name(0)
    return Hardware(
        cpu_model=cpu_model(),
        cpu_cores=usable_cores(),
        python=platform.python_version(),
        torch=torch_version,
        torch_threads=threads,
        gpu=gpu,
    )
