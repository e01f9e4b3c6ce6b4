"""/docs renders in a real headless chromium that cannot resolve any host name: Swagger UI comes from
this app, not from a CDN."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.cdp import CHROMIUM, chromium_page
from tests.client.live_server import serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    from prometheus_client import CollectorRegistry

    from service.app import create_app
    from tests.apprunner import make_settings
    from tests.service.test_api import fakes

    with serve(create_app(make_settings(), engines=fakes(), registry=CollectorRegistry())) as url:
        yield url


def test_swagger_ui_renders_offline(app_url: str) -> None:
    with chromium_page(offline=True) as page:
        page.send("Page.navigate", {"url": f"{app_url}/docs"})
        title = page.wait_for(
            "(document.querySelector('.swagger-ui .info .title') || {}).textContent", timeout=60
        )
        assert "bgremove" in title
        # The operations were rendered from /openapi.json, not just the header.
        page.wait_for("document.querySelectorAll('.swagger-ui .opblock').length > 0", timeout=60)
        assert page.evaluate("document.body.innerText").count("/remove-background") >= 1
        requested = page.requested_urls()
        # blob: URLs are made by the page itself (Swagger UI's download links).
        elsewhere = [u for u in requested if not u.startswith((app_url, f"blob:{app_url}"))]
        assert requested and elsewhere == [], elsewhere
        assert page.exceptions() == []
