"""The upload page at `/`: static HTML/JS/CSS shipped inside the package (no build step, no CDN).

The page only calls the public `POST /remove-background`, so it shows exactly what API users get.
Assets are served from a fixed allow-list, never from a path taken from the URL.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

STATIC_DIR = Path(__file__).resolve().parent / "static"

# URL path -> (file under static/, media type)
_ASSETS: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/ui/style.css": ("style.css", "text/css; charset=utf-8"),
}

UI_PATHS: frozenset[str] = frozenset(_ASSETS)
"""Paths this router serves; the page itself needs no API key (it asks for one when the API does)."""

router = APIRouter(tags=["ui"])


@cache
def _read(name: str) -> bytes:
    # Read on first request, not at import: importing the service does no file I/O.
    return (STATIC_DIR / name).read_bytes()


def _asset_route(filename: str, media_type: str) -> Response:
    # no-cache: browsers revalidate, so a redeployed page is never mixed with an old script.
    return Response(_read(filename), media_type=media_type, headers={"Cache-Control": "no-cache"})


def _register(path: str, filename: str, media_type: str) -> None:
    async def serve() -> Response:
        return _asset_route(filename, media_type)

    router.add_api_route(path, serve, methods=["GET"], include_in_schema=False, name=f"ui:{filename}")


for _path, (_filename, _media_type) in _ASSETS.items():
    _register(_path, _filename, _media_type)
