"""A tiny test-only server that answers from a script (e.g. 503, 503, 200), as an ASGI app for the
async client and as an httpx handler for the sync one, recording what it received."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16  # contents are not inspected by these tests


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def busy(retry_after: str | None = "2", code: str = "queue_full", status: int = 503) -> Reply:
    headers = {"content-type": "application/json"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    body = json.dumps({"error": {"code": code, "message": "busy, come back"}}).encode()
    return Reply(status, headers, body)


def ok() -> Reply:
    headers = {
        "content-type": "image/png",
        "x-engine": "modnet",
        "x-model": "scripted-1",
        "x-processing-time-ms": "12.5",
    }
    return Reply(200, headers, PNG_BYTES)


class ScriptedServer:
    def __init__(self, replies: Sequence[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, bytes]] = []  # (query string, body)

    def _next(self, query: str, body: bytes) -> Reply:
        self.requests.append((query, body))
        # The last reply repeats, so "always busy" is a one-element script.
        return self.replies[min(len(self.requests), len(self.replies)) - 1]

    def handle(self, request: httpx.Request) -> httpx.Response:
        """For httpx.MockTransport (sync client)."""
        reply = self._next(request.url.query.decode(), request.read())
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body)

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        """ASGI app (async client through httpx.ASGITransport)."""
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reply = self._next(scope["query_string"].decode(), body)
        headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
