"""Request bodies for the load tools: real people photos from ../shared, cropped and resized at run
time (never copied into the repo), or synthesised when ../shared is absent (e.g. outside the repo's
dev machines), so the tools always run."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
PEOPLE = REPO.parent / "shared" / "data" / "people"


def photo_paths(limit: int, root: Path = PEOPLE) -> list[Path]:
    """Up to `limit` photos, sorted so every run uses the same ones."""
    if not root.is_dir():
        return []
    paths = sorted(p for p in root.rglob("*.jpg") if "masks" not in p.parts)
    return paths[:limit]


def cover_resize(image: Image.Image, width: int, height: int) -> Image.Image:
    """Centre-crop to the target aspect ratio, then resize: no distortion, exact output size."""
    src_w, src_h = image.size
    target = width / height
    if src_w / src_h > target:
        crop_w = round(src_h * target)
        left = (src_w - crop_w) // 2
        box = (left, 0, left + crop_w, src_h)
    else:
        crop_h = round(src_w / target)
        top = (src_h - crop_h) // 2
        box = (0, top, src_w, top + crop_h)
    return image.crop(box).resize((width, height), Image.Resampling.BICUBIC)


def synthetic_photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth background, a bright ellipse 'subject' and sensor-like noise: compresses and
    segments roughly like a photo, unlike pure noise (which would inflate JPEG/PNG sizes)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 200, 3).astype(np.float32)
    img = base + 40 * np.stack([xx / width, yy / height, (xx + yy) / (width + height)], axis=-1)
    inside = ((xx - width / 2) / (width / 5)) ** 2 + ((yy - height / 2) / (height / 2.5)) ** 2 < 1
    img[inside] = rng.uniform(150, 250, 3)
    img += rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def request_jpegs(count: int, width: int, height: int, root: Path = PEOPLE) -> list[bytes]:
    """`count` JPEGs of exactly width x height: real photos where available, synthesised otherwise."""
    images: list[bytes] = []
    for path in photo_paths(count, root):
        with Image.open(path) as photo:
            images.append(jpeg_bytes(cover_resize(photo.convert("RGB"), width, height)))
    seed = 0
    while len(images) < count:
        images.append(jpeg_bytes(synthetic_photo(width, height, seed)))
        seed += 1
    return images


def source_of_images(root: Path = PEOPLE) -> str:
    return f"photos from {root}" if photo_paths(1, root) else "synthesised (no ../shared photos)"
