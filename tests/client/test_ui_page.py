"""The upload page as the real app serves it: HTML and assets from the package, nothing external,
kept out of the API reference, and reachable without an API key (the page asks for one itself)."""

from __future__ import annotations

import re

import pytest

from service.ui import STATIC_DIR, UI_PATHS
from tests.apprunner import fakes, make_settings, running_app


async def test_page_and_assets_are_served() -> None:
    async with running_app(engines=fakes()) as http:
        page = await http.get("/")
        js = await http.get("/ui/app.js")
        css = await http.get("/ui/style.css")
        schema = (await http.get("/openapi.json")).json()
        missing = await http.get("/ui/../config.py")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="file"' in page.text and 'src="ui/app.js"' in page.text and 'href="ui/style.css"' in page.text
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "remove-background" in js.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert not any(path in schema["paths"] for path in UI_PATHS)  # the API reference stays the API's
    assert missing.status_code == 404


def test_no_cdn_or_external_urls() -> None:
    # Served offline from the package: no http(s):// or protocol-relative //host references at all.
    external = re.compile(r"""(https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)
    for path in sorted(STATIC_DIR.iterdir()):
        assert not external.search(path.read_text()), f"{path.name} references an external URL"


@pytest.mark.parametrize("path", sorted(UI_PATHS))
async def test_page_needs_no_api_key(path: str) -> None:
    async with running_app(make_settings(api_keys=["k"]), engines=fakes()) as http:
        page = await http.get(path)
        api = await http.post("/remove-background", content=b"x", headers={"content-type": "image/png"})
    assert page.status_code == 200, page.text
    assert api.status_code == 401  # the API itself stays protected
