"""Just enough of the Chrome DevTools Protocol to drive Debian's headless chromium from a test:
no downloaded browser, no chromedriver, only `websockets` (a uvicorn[standard] dependency anyway)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path("/usr/bin/chromium")

# Headless, offline, reproducible: no GPU, no sandbox (containers run as root), no network of its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
)


# Every host name fails to resolve; the test server's loopback address is the one exception.
OFFLINE_FLAG = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


class Page:
    """One tab: send commands, collect the events that arrive in between."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        self._next_id += 1
        call_id = self._next_id
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Polls a JS expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"{expression!r} still falsy after {timeout} s")

    def set_file_input(self, selector: str, path: Path) -> None:
        """What a user picking a file does: sets the files and fires input/change."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise LookupError(f"no element matches {selector!r}")
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(path)]})

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for, data: URLs left out (needs the Network domain:
        `chromium_page(offline=True)`)."""
        requests = (
            e["params"]["request"] for e in self.events if e.get("method") == "Network.requestWillBeSent"
        )
        return [r["url"] for r in requests if not r["url"].startswith("data:")]

    def exceptions(self) -> list[str]:
        """Uncaught page errors and console errors seen so far."""
        found = []
        for event in self.events:
            if event.get("method") == "Runtime.exceptionThrown":
                found.append(json.dumps(event["params"]["exceptionDetails"])[:500])
            elif event.get("method") == "Runtime.consoleAPICalled" and event["params"]["type"] == "error":
                found.append(json.dumps(event["params"]["args"])[:500])
        return found


@contextlib.contextmanager
def chromium_page(
    binary: Path = CHROMIUM, start_timeout: float = 30.0, *, offline: bool = False
) -> Iterator[Page]:
    """`offline`: no host resolves except 127.0.0.1 (where tests serve the app), so a page that
    needs a CDN or a font service fails as it would on a closed network; the Network domain is
    enabled too, so `Page.events` lists every request the page made."""
    profile = Path(tempfile.mkdtemp(prefix="bgremove-chromium-"))
    extra = [OFFLINE_FLAG] if offline else []
    proc = subprocess.Popen(
        [str(binary), *FLAGS, *extra, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = _devtools_port(profile, proc, start_timeout)
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page_target = next(t for t in targets if t["type"] == "page")
        with connect(page_target["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            page = Page(ws)
            for domain in ("Page", "Runtime", "DOM", *(("Network",) if offline else ())):
                page.send(f"{domain}.enable")
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(profile: Path, proc: subprocess.Popen[bytes], timeout: float) -> int:
    # With --remote-debugging-port=0 chromium picks a free port and writes it to this file.
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode} during start-up")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(port_file.read_text().splitlines()[0])
        time.sleep(0.05)
    raise TimeoutError(f"chromium wrote no {port_file.name} within {timeout} s")
