"""The video endpoint with the shipped MODNet weights on a clip made from a real people photo: each
frame's mask matches what the photo endpoint returns for the same frame. Needs ../shared (the
photo) and fails without it: nothing here is skipped."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from service.config import DEFAULT_WEIGHTS
from tests.apprunner import make_settings, running_app
from tests.video.clips import decode_clip, encode_clip, moving_crop


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


async def test_video_masks_match_the_photo_endpoint_frame_by_frame() -> None:
    clip = encode_clip(moving_crop("10.jpg", frames=6, width=160, height=120))
    # The frames as the service decodes them (VP9 is lossy: compare on what it actually sees).
    source = [frame[..., :3] for frame in decode_clip(clip).frames]
    settings = make_settings(weights_path=DEFAULT_WEIGHTS, device="cpu", max_batch_wait_ms=50)
    async with running_app(settings) as client:
        r = await client.post(
            "/remove-background/video?output=mask&ofd=false", files={"video": ("c.webm", clip)}
        )
        photos = []
        for rgb in source:
            png = io.BytesIO()
            Image.fromarray(rgb).save(png, "PNG")
            photo = await client.post(
                "/remove-background?output=mask&format=png", files={"image": ("f.png", png.getvalue())}
            )
            assert photo.status_code == 200 and photo.headers["x-engine"] == "modnet"
            photos.append(np.asarray(Image.open(io.BytesIO(photo.content))))
    assert r.status_code == 200, r.text
    assert r.headers["x-engine"] == "modnet"
    video_masks = [frame[..., 0] for frame in decode_clip(r.content).frames]
    assert len(video_masks) == len(photos) == 6
    scores = [iou(v > 127, p > 127) for v, p in zip(video_masks, photos, strict=True)]
    # The person is there (not an empty or full matte), and each frame agrees with the photo path.
    assert all(0.05 < (p > 127).mean() < 0.95 for p in photos)
    assert min(scores) >= 0.98, scores
