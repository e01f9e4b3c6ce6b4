"""The one way tools and tests start a server and wait for it (`wait_ready` also serves the
in-thread server of `tests/client/live_server.py`).

Runs `python -m service` as a real uvicorn process on 127.0.0.1 (a free port) for load tools and
tests, with the engine chosen per run: the fake (tunable latency), MODNet (the shipped weights, or
random weights where the repo has none), or GrabCut.

The process is always stopped: SIGTERM (uvicorn's graceful shutdown and the service's drain), then
SIGKILL if it has not exited in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import psutil

from bench.fake_engine import FACTORY as FAKE_FACTORY
from bench.metric_reader import metric_value
from service.config import DEFAULT_WEIGHTS

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
EngineKind = Literal["fake", "modnet", "grabcut"]
SHIPPED_WEIGHTS = DEFAULT_WEIGHTS  # what `make run` serves


def modnet_weights_label() -> str:
    """Which weights `--engine modnet` serves: they set the inference size, hence the speed."""
    if SHIPPED_WEIGHTS.is_file():
        return "shipped weights, inference size from their metadata"
    return "random weights, inference size 512"


class ServerError(RuntimeError):
    """The server process exited or never became ready; the message carries its log tail."""


@dataclass(frozen=True)
class ServerSpec:
    """`settings` are Settings fields without the BGREMOVE_ prefix (e.g. {"max_batch_size": "1"});
    `env` is anything else the server process needs (e.g. BENCH_FAKE_BATCH_MS)."""

    engine: EngineKind = "fake"
    settings: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def random_modnet_weights(directory: Path) -> Path:
    """MODNet's topology with random weights, saved as the service loads its own: throughput does
    not depend on the weight values. Imports torch, so only the MODNet runs pay for it."""
    from model.modnet import MODNet
    from model.weights import save_safetensors

    path = directory / "modnet_random.safetensors"
    if not path.is_file():
        save_safetensors(MODNet().eval(), path, {"name": "modnet-random", "version": "bench"})
    return path


def engine_settings(engine: EngineKind, workdir: Path) -> dict[str, str]:
    if engine == "fake":
        placeholder = workdir / "fake.weights"  # the loader only checks that the file exists
        placeholder.write_bytes(b"fake engine: no weights")
        # The fake's costs are the sleeps a test configures: batch up to max_batch_size, unmeasured.
        return {
            "weights_path": str(placeholder),
            "modnet_factory": FAKE_FACTORY,
            "require_modnet": "true",
            "measure_batch_cap": "false",
        }
    if engine == "modnet":
        # What `make run` serves; random weights (same speed at the same size) where there are none.
        weights = SHIPPED_WEIGHTS if SHIPPED_WEIGHTS.is_file() else random_modnet_weights(workdir)
        return {"weights_path": str(weights), "require_modnet": "true"}
    return {"weights_path": str(workdir / "absent.safetensors")}  # no weights: GrabCut only


class ServerProcess:
    def __init__(self, spec: ServerSpec, workdir: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ServerError("not started")
        return self._process.pid

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        settings = {
            "host": LOOPBACK,
            "port": str(self.port),
            "log_level": "warning",  # no access log: it would cost more than a fast request
            **engine_settings(self.spec.engine, self.workdir),
            **self.spec.settings,
        }
        env.update({f"BGREMOVE_{k.upper()}": v for k, v in settings.items()})
        env.update(self.spec.env)
        return env

    def start(self, ready_timeout_s: float = 120.0) -> None:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "service"],
                cwd=REPO,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_ready(self.base_url, self.alive, ready_timeout_s, self._exit_and_log)
        except ServerError:
            self.stop()
            raise

    def terminate(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown, then the service's drain) without waiting."""
        if self._process is None:
            raise ServerError("not started")
        self._process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> int:
        """The exit code; raises `subprocess.TimeoutExpired` if it is still running after `timeout_s`."""
        if self._process is None:
            raise ServerError("not started")
        return self._process.wait(timeout_s)

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """Graceful stop; returns the exit code (None if it had to be killed)."""
        process = self._process
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        self.terminate()
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            return None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def rss_bytes(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def metrics_text(self) -> str:
        return httpx.get(f"{self.base_url}/metrics", timeout=5.0).text

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """One sample from /metrics (0.0 when absent, like a counter that never moved)."""
        return metric_value(self.metrics_text(), name, labels)

    def _exit_and_log(self) -> str:
        code = None if self._process is None else self._process.poll()
        return f"exit code {code}\n{self.log_tail()}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


def wait_ready(
    base_url: str, alive: Callable[[], bool], timeout_s: float, describe: Callable[[], str] | None = None
) -> None:
    """Polls /readyz until it answers 200. Raises `ServerError` carrying `describe()` (e.g. the log
    tail) when the server stops being `alive` or is not ready within `timeout_s`."""
    details = describe or (lambda: "")
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise ServerError(f"server exited during start-up:\n{details()}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/readyz").status_code == 200:
                    return
            time.sleep(0.1)
    raise ServerError(f"server not ready after {timeout_s:.0f} s:\n{details()}")


@contextlib.contextmanager
def running_server(
    spec: ServerSpec, workdir: Path, ready_timeout_s: float = 120.0
) -> Iterator[ServerProcess]:
    server = ServerProcess(spec, workdir)
    server.start(ready_timeout_s)
    try:
        yield server
    finally:
        server.stop()
