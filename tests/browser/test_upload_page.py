"""The upload page in a real headless chromium against the real app (real GrabCut engine) on a real
uvicorn: pick a photo through the file input, see the result, switch the output, download link."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.cdp import CHROMIUM, Page, chromium_page
from tests.client.live_server import serve
from tests.locations import PEOPLE, require_shared

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
]

PHOTO = PEOPLE / "unlabeled" / "ai-face.jpg"

STATE = """JSON.stringify({
  state: document.body.dataset.state,
  status: document.getElementById("status").textContent,
  src: document.getElementById("result-img").getAttribute("src") || "",
  hidden: document.getElementById("result-img").hidden,
  w: document.getElementById("result-img").naturalWidth,
  h: document.getElementById("result-img").naturalHeight,
  ow: document.getElementById("original-img").naturalWidth,
  oh: document.getElementById("original-img").naturalHeight,
  meta: document.getElementById("result-meta").textContent,
  download: document.getElementById("download").hidden ? null : document.getElementById("download").download,
  href: document.getElementById("download").getAttribute("href") || "",
})"""

# Fraction of result pixels that are not fully opaque, read back through a canvas.
TRANSPARENT_FRACTION = """(() => {
  const img = document.getElementById("result-img");
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let clear = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] < 255) clear++;
  return clear / (data.length / 4);
})()"""


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    from prometheus_client import CollectorRegistry

    from service.app import create_app
    from tests.apprunner import make_settings

    # The real engines: no weights at that path, so the real GrabCut serves.
    with serve(create_app(make_settings(), registry=CollectorRegistry())) as url:
        yield url


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return Path(shutil.copyfile(require_shared(PHOTO), tmp_path / PHOTO.name))


def wait_for_result(page: Page, previous_src: str = "") -> dict[str, object]:
    expr = f"""(() => {{
      const s = {STATE};
      const v = JSON.parse(s);
      return (v.state === "error" || (v.state === "done" && v.src !== {json.dumps(previous_src)})) ? s : "";
    }})()"""
    state: dict[str, object] = json.loads(page.wait_for(expr, timeout=60))
    assert state["state"] == "done", state["status"]
    return state


def test_pick_a_photo_and_see_the_cutout(app_url: str, photo: Path) -> None:
    with chromium_page() as page:
        page.send("Page.navigate", {"url": f"{app_url}/"})
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('file')")
        assert page.evaluate("document.body.dataset.state") == "idle"
        # Hidden parts stay hidden (CSS display rules must not override the hidden attribute).
        hidden = (
            "['key-label', 'result-img', 'download']"
            ".map(i => getComputedStyle(document.getElementById(i)).display)"
        )
        assert page.evaluate(hidden) == ["none", "none", "none"]

        page.set_file_input("#file", photo)
        first = wait_for_result(page)
        assert str(first["src"]).startswith("blob:") and first["hidden"] is False
        # Same size as the original (the server keeps width and height), and really displayed.
        assert first["w"] == first["ow"] and first["h"] == first["oh"] and int(str(first["w"])) > 0
        assert first["download"] == "ai-face-rgba.png" and str(first["href"]).startswith("blob:")
        assert "grabcut" in str(first["meta"])
        assert 0 < page.evaluate(TRANSPARENT_FRACTION) < 1  # a cut-out: some pixels transparent, not all

        # Choosing another output re-runs the same photo through the API.
        page.evaluate(
            "(() => { const s = document.getElementById('output'); s.value = 'composite';"
            " s.dispatchEvent(new Event('change')); })()"
        )
        second = wait_for_result(page, previous_src=str(first["src"]))
        assert second["download"] == "ai-face-composite.png"
        assert (second["w"], second["h"]) == (first["w"], first["h"])
        assert page.evaluate(TRANSPARENT_FRACTION) == 0  # composited on a colour: opaque

        assert page.exceptions() == []
