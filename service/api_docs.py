"""/docs (Swagger UI) without a CDN: its JS and CSS are served by this app.

FastAPI's defaults load Swagger UI from cdn.jsdelivr.net and its favicon from fastapi.tiangolo.com: a
service on a closed network, or a browser that blocks third parties, got a blank page. The files come
from the `fastapi-offline` wheel (MIT; it vendors swagger-ui-dist 5, Apache-2.0): a maintained package
whose only job is shipping exactly these files, installed with the service, so nothing is fetched at
run time and nothing is copied into this repo.
(`swagger-ui-bundle` was the other candidate: it is stuck at Swagger UI 4, which cannot render the
OpenAPI 3.1 documents FastAPI writes.) Only the package's own static directory is read, through a
fixed allow-list, never a path taken from the URL.

/redoc is no longer served: ReDoc 2 always loads its "API docs by Redocly" logo from cdn.redoc.ly
(no option turns it off), and Swagger UI already is the reference.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

ASSET_PREFIX = "/docs-assets"

# URL path -> (file, media type)
_ASSETS: dict[str, tuple[str, str]] = {
    f"{ASSET_PREFIX}/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    f"{ASSET_PREFIX}/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    f"{ASSET_PREFIX}/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
# A person's silhouette. Inline rather than in static/, whose files must not contain any URL (the
# SVG namespace is one, though nothing is fetched from it).
_FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="6" r="3.5" '
    b'fill="#333"/><path d="M2 16c0-4 2.7-6 6-6s6 2 6 6z" fill="#333"/></svg>\n'
)
# The files change only with the installed package, i.e. with a new deployment.
_CACHE_CONTROL = "public, max-age=3600"


@cache
def _read(name: str) -> bytes:
    # Read on first request, not at import: importing the service does no file I/O.
    if name == "favicon.svg":
        return _FAVICON
    package_static = Path(str(importlib.resources.files("fastapi_offline") / "static"))
    return (package_static / name).read_bytes()


def install_docs(app: FastAPI, *, title: str) -> None:
    """Adds /docs and its assets to an app created with docs_url=None, redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - API reference",
            swagger_js_url=f"{ASSET_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSET_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{ASSET_PREFIX}/favicon.svg",
            oauth2_redirect_url=None,
        )

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    for path, (filename, media_type) in _ASSETS.items():
        _add_asset(app, path, filename, media_type)


def _add_asset(app: FastAPI, path: str, filename: str, media_type: str) -> None:
    async def serve() -> Response:
        return Response(_read(filename), media_type=media_type, headers={"Cache-Control": _CACHE_CONTROL})

    app.add_api_route(path, serve, methods=["GET"], include_in_schema=False, name=f"docs:{filename}")
