"""/docs works offline: its HTML references only this app's URLs, and each of those URLs serves the
real asset with the right content type. /redoc is not served (ReDoc always loads a logo from its CDN)."""

from __future__ import annotations

import re

from tests.apprunner import running_app
from tests.service.test_api import fakes

# What each asset must contain to be the real thing, not an error page or an empty file.
SIGNATURES = {
    "swagger-ui-bundle.js": (b"SwaggerUIBundle", "text/javascript"),
    "swagger-ui.css": (b".swagger-ui", "text/css"),
    "favicon.svg": (b"<svg", "image/svg+xml"),
}


async def test_docs_page_loads_only_local_assets() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.get("/docs")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        html = r.text
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
        assert len(urls) == 3, urls  # script, stylesheet, icon
        assert "://" not in html  # no CDN, no font service: not even in a script string
        assert "'/openapi.json'" in html or '"/openapi.json"' in html
        for url in urls:
            assert url.startswith("/docs-assets/"), url
            asset = await client.get(url)
            signature, media_type = SIGNATURES[url.rsplit("/", 1)[1]]
            assert asset.status_code == 200, url
            assert asset.headers["content-type"].split(";")[0] == media_type
            assert signature in asset.content


async def test_unknown_asset_is_a_json_404() -> None:
    async with running_app(engines=fakes()) as client:
        responses = [
            await client.get(path)
            for path in ("/docs-assets/../../etc/passwd", "/docs-assets/redoc.standalone.js", "/redoc")
        ]
    for response in responses:
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_the_document_the_pages_load_is_openapi_3_1() -> None:
    # Swagger UI 5 (what we ship) renders OpenAPI 3.1; Swagger UI 4 could not.
    async with running_app(engines=fakes()) as client:
        r = await client.get("/openapi.json")
    assert r.json()["openapi"].startswith("3.1")
