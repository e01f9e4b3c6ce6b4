"""Optional API keys (`X-API-Key` header), off unless `api_keys` is set. Keys are compared in
constant time and never logged."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import ApiError, ErrorKind

ErrorResponder = Callable[[ApiError, Scope], Response]
"""Renders an error for the request's path (its shape, the error counter): the app's error_response."""


class ApiKeyMiddleware:
    def __init__(
        self, app: ASGIApp, *, keys: list[str], open_paths: frozenset[str], on_error: ErrorResponder
    ) -> None:
        self.app = app
        self.on_error = on_error
        self.keys = [k.encode() for k in keys if k]
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-api-key", b"")
        # Compare against every key so timing does not reveal which (or whether any) key matched early.
        matched = False
        for key in self.keys:
            matched |= secrets.compare_digest(given, key)
        if matched:
            await self.app(scope, receive, send)
            return
        error = ApiError(ErrorKind.UNAUTHORIZED, "missing or invalid X-API-Key header")
        response = self.on_error(error, scope)
        response.headers["WWW-Authenticate"] = "ApiKey"
        await response(scope, receive, send)
