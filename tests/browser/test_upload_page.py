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
# A person with room around them (the face photo above is filled to its edges: nothing to crop).
PERSON = PEOPLE / "segmentation-remove-bg" / "images" / "10.jpg"

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


def _set(page: Page, element_id: str, prop: str, value: object) -> None:
    page.evaluate(
        f"(() => {{ const e = document.getElementById({json.dumps(element_id)});"
        f" e.{prop} = {json.dumps(value)}; e.dispatchEvent(new Event('change')); }})()"
    )


def test_edge_and_crop_controls_compare_and_errors(app_url: str, tmp_path: Path) -> None:
    photo = Path(shutil.copyfile(require_shared(PERSON), tmp_path / "person.jpg"))
    with chromium_page() as page:
        page.send("Page.navigate", {"url": f"{app_url}/"})
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('file')")
        page.set_file_input("#file", photo)
        first = wait_for_result(page)

        # Edge controls re-run the request (refine=trimap, decontaminate=false) and still give a cut-out.
        _set(page, "refine", "value", "trimap")
        refined = wait_for_result(page, previous_src=str(first["src"]))
        _set(page, "decontaminate", "checked", False)
        plain = wait_for_result(page, previous_src=str(refined["src"]))
        assert (plain["w"], plain["h"]) == (first["w"], first["h"])

        # Crop to the subject: smaller than the photo, and the page says so; a margin adds exactly 2 x 10 px.
        _set(page, "crop", "checked", True)
        cropped = wait_for_result(page, previous_src=str(plain["src"]))
        cw, ch = int(str(cropped["w"])), int(str(cropped["h"]))
        assert (cw, ch) != (first["w"], first["h"]) and cw <= int(str(first["w"]))
        assert f"{cw} × {ch}, cropped from {first['ow']} × {first['oh']}" in str(cropped["meta"])
        _set(page, "crop-margin", "value", "10px")
        margin = wait_for_result(page, previous_src=str(cropped["src"]))
        assert (margin["w"], margin["h"]) == (cw + 20, ch + 20)

        # Compare: the same crop as mask, cut-out and on colour, side by side.
        page.evaluate("document.getElementById('compare-button').click()")
        page.wait_for("document.getElementById('status').textContent.startsWith('Done: compare')", timeout=90)
        sizes = page.evaluate(
            "JSON.stringify([...document.querySelectorAll('#compare img')]"
            ".map(i => [i.dataset.output, i.naturalWidth, i.naturalHeight]))"
        )
        assert json.loads(sizes) == [[o, cw + 20, ch + 20] for o in ("mask", "rgba", "composite")]

        # A refused file clears everything of the previous image: no stale size, no stale picture.
        text = tmp_path / "notes.txt"
        text.write_text("not an image")
        page.set_file_input("#file", text)
        page.wait_for("document.body.dataset.state === 'error'")
        left = page.evaluate(
            "JSON.stringify({size: document.getElementById('original-size').textContent,"
            " orig: document.getElementById('original-img').hidden,"
            " result: document.getElementById('result-img').hidden,"
            " compare: document.getElementById('compare').hidden})"
        )
        assert json.loads(left) == {"size": "", "orig": True, "result": True, "compare": True}
        assert page.exceptions() == []


def test_a_clip_plays_back_cut_out(app_url: str, tmp_path: Path) -> None:
    from tests.video.clips import encode_clip, moving_crop

    clip = tmp_path / "pan.webm"
    clip.write_bytes(encode_clip(moving_crop(frames=8)))  # 160 x 120, VP9 in WebM
    with chromium_page(offline=True) as page:
        page.send("Page.navigate", {"url": f"{app_url}/"})
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('file')")
        page.set_file_input("#file", clip)
        page.wait_for("['done', 'error'].includes(document.body.dataset.state)", timeout=90)
        shown = json.loads(
            page.evaluate(
                "JSON.stringify({state: document.body.dataset.state,"
                " status: document.getElementById('status').textContent,"
                " hidden: document.getElementById('result-video').hidden,"
                " w: document.getElementById('result-video').videoWidth,"
                " h: document.getElementById('result-video').videoHeight,"
                " ready: document.getElementById('result-video').readyState,"
                " meta: document.getElementById('result-meta').textContent,"
                " download: document.getElementById('download').download})"
            )
        )
        assert shown["state"] == "done", shown["status"]
        assert (shown["hidden"], shown["w"], shown["h"]) == (False, 160, 120)
        assert shown["ready"] >= 2 and shown["meta"].startswith("8 frames")
        assert shown["download"] == "pan-rgba.webm"
        assert any("remove-background/video" in url for url in page.requested_urls())
        assert page.exceptions() == []
