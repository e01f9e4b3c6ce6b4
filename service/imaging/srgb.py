"""Embedded ICC profile -> sRGB, for every format, before the pixels become the engines' RGB array.

Why: phones shoot wide gamut. An iPhone HEIC or JPEG is tagged Display P3; its numbers mean more
saturated colours than the same numbers in sRGB. Dropping the profile (what Pillow's `convert`
does) makes such a photo come out dull in the cut-out, which every viewer then shows as sRGB. The
output has no profile, so sRGB is the only honest meaning its numbers can have.

Policies:
- Relative colorimetric intent (what browsers use for matrix profiles): in-gamut colours keep their
  exact appearance, out-of-gamut ones clip to the sRGB boundary.
- An alpha channel is split off, the colour converted, the alpha re-attached unchanged.
- A profile that does not parse, or whose colour space does not fit the pixels (e.g. an RGB profile
  on a greyscale image), is ignored: the pixels are kept as stored rather than failing a photo that
  decodes fine (the same policy as for unreadable EXIF).
- sRGB-tagged images are left alone (converting would be a no-op that costs a full pass).
- 16-bit and float modes are not converted (LittleCMS via Pillow takes 8-bit modes here); their
  profile is ignored.

LittleCMS (in Pillow's wheels, MIT) does the work; built transforms are cached by profile bytes, so a
burst of photos from the same phone builds one.
"""

from __future__ import annotations

import functools
import io
import logging

from PIL import Image, ImageCms

logger = logging.getLogger(__name__)

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# ICC colour space signature -> the Pillow mode LittleCMS takes for it.
_INPUT_MODES = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}
# The image modes each profile colour space can describe; any other pairing is a mismatch.
_MODES_FOR_INPUT = {
    "RGB": frozenset({"RGB", "RGBA", "RGBa", "RGBX", "P", "PA"}),
    "L": frozenset({"L", "LA", "La", "1"}),
    "CMYK": frozenset({"CMYK"}),
}


def to_srgb(im: Image.Image) -> Image.Image:
    """`im` converted to sRGB as an RGB or RGBA image without a profile; `im` itself when it has
    no (usable) profile or is sRGB already. Loads the pixels."""
    transform = _transform_for(im)
    if transform is None:
        return im
    input_mode = transform.input_mode
    has_alpha = im.mode in _ALPHA_MODES or "transparency" in im.info
    alpha = im.convert("RGBA").getchannel("A") if has_alpha else None
    colour = im if im.mode == input_mode else im.convert(input_mode)
    try:
        converted = ImageCms.applyTransform(colour, transform)
    except (ImageCms.PyCMSError, ValueError, OSError):
        logger.debug("ICC conversion failed; pixels kept as stored", exc_info=True)
        return im
    assert converted is not None  # applyTransform returns the new image when not in place
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def is_kept_as_stored(im: Image.Image) -> bool:
    """`to_srgb` would return `im` itself (no profile, sRGB, or one that does not fit): read from
    the header, without decoding pixels."""
    return _transform_for(im) is None


def _transform_for(im: Image.Image) -> ImageCms.ImageCmsTransform | None:
    icc = im.info.get("icc_profile")
    if not icc:
        return None
    transform = _transform_from(bytes(icc))
    if transform is None or im.mode not in _MODES_FOR_INPUT[transform.input_mode]:
        return None  # e.g. an RGB profile on greyscale pixels: it does not describe them
    return transform


@functools.lru_cache(maxsize=16)
def _transform_from(icc: bytes) -> ImageCms.ImageCmsTransform | None:
    """A transform from this profile to sRGB (output RGB), or None: sRGB already, unusable profile."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space.strip()
        input_mode = _INPUT_MODES.get(space)
        if input_mode is None or _is_srgb(profile):
            return None
        return ImageCms.buildTransform(
            profile,
            _SRGB,
            input_mode,
            "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        logger.debug("unusable ICC profile ignored", exc_info=True)
        return None


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    # The description is what cameras, phones and editors write ("sRGB IEC61966-2.1", "sRGB built-in",
    # "sRGB"); a profile merely *named* sRGB but different is not worth a transform on every photo.
    description = (profile.profile.profile_description or "").strip().lower()
    return description.startswith("srgb")
