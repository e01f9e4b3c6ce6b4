"""Phone-style test files: HEIC, AVIF, a Display P3 ICC profile, and the P3 -> sRGB reference maths.

AVIF comes from Pillow's own encoder (what ships). HEIC needs an HEVC encoder, which nothing we ship
has (pi-heif decodes only); `pillow-heif` (its x265 is GPL) is a dev-only dependency for this.
The P3 profile is written here, byte by byte, from the published primaries, so the colour test does
not depend on a profile file from the system; the reference conversion is plain matrix maths,
independent of LittleCMS.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import numpy.typing as npt
from PIL import Image

# Display P3: DCI-P3 primaries, D65 white, the sRGB transfer curve. sRGB: BT.709 primaries, D65.
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
SRGB_PRIMARIES = ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060))
D65 = (0.3127, 0.3290)
D50_XYZ = np.array([0.9642, 1.0, 0.8249])
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def encode_avif(im: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, "AVIF", **params)
    return buffer.getvalue()


def encode_heic(im: Image.Image, *, exif_orientation: int = 1, icc_profile: bytes | None = None) -> bytes:
    """A HEIC (HEVC in HEIF) as a phone writes it; EXIF orientation becomes an `irot`/`imir` box."""
    import pillow_heif  # dev-only (GPL x265 encoder): imported where it is needed, never by the service

    params: dict[str, object] = {"quality": 90}
    if exif_orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        params["exif"] = exif.tobytes()
    if icc_profile is not None:
        params["icc_profile"] = icc_profile
    buffer = io.BytesIO()
    pillow_heif.from_pillow(im).save(buffer, **params)
    return buffer.getvalue()


def with_ispe(data: bytes, width: int, height: int) -> bytes:
    """The file with every `ispe` (declared image size) box claiming width x height."""
    out = bytearray(data)
    start = 0
    while (at := out.find(b"ispe", start)) != -1:
        struct.pack_into(">II", out, at + 8, width, height)  # after type, version+flags
        start = at + 4
    assert start, "no ispe box found"
    return bytes(out)


def _rgb_to_xyz(primaries: tuple[tuple[float, float], ...], white: tuple[float, float]) -> np.ndarray:
    """The RGB -> XYZ matrix of a colour space, from its primaries' and white's xy chromaticities."""
    xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    wx, wy = white
    scale = np.linalg.solve(xyz, np.array([wx / wy, 1.0, (1 - wx - wy) / wy]))
    return xyz * scale


def _d65_to_d50() -> np.ndarray:
    wx, wy = D65
    src = BRADFORD @ np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    dst = BRADFORD @ D50_XYZ
    return np.linalg.inv(BRADFORD) @ np.diag(dst / src) @ BRADFORD


def _srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _srgb_encode(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def p3_to_srgb(rgb: npt.NDArray[np.uint8]) -> np.ndarray:
    """Reference Display P3 -> sRGB (relative colorimetric: clipped), as floats 0..255."""
    p3_to_srgb_linear = np.linalg.inv(_rgb_to_xyz(SRGB_PRIMARIES, D65)) @ _rgb_to_xyz(P3_PRIMARIES, D65)
    linear = _srgb_decode(rgb.astype(np.float64) / 255.0) @ p3_to_srgb_linear.T
    return _srgb_encode(linear) * 255.0


def _s15f16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15f16(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\x00"
    return (
        b"desc"
        + bytes(4)
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + bytes(8)  # Unicode language code + count (none)
        + bytes(3)  # ScriptCode code + count (none)
        + bytes(67)
    )


def _srgb_curve_tag() -> bytes:
    # ICC v2 has no parametric curves: a 1024-entry table of the sRGB EOTF.
    table = np.round(_srgb_decode(np.linspace(0.0, 1.0, 1024)) * 65535).astype(">u2")
    return b"curv" + bytes(4) + struct.pack(">I", len(table)) + table.tobytes()


def display_p3_icc() -> bytes:
    """An ICC v2 matrix/TRC display profile for Display P3 (colorants Bradford-adapted to D50)."""
    colorants = _d65_to_d50() @ _rgb_to_xyz(P3_PRIMARIES, D65)
    curve = _srgb_curve_tag()
    tags = [
        (b"desc", _desc_tag("Display P3 (test)")),
        (b"wtpt", _xyz_tag(D50_XYZ)),
        (b"rXYZ", _xyz_tag(colorants[:, 0])),
        (b"gXYZ", _xyz_tag(colorants[:, 1])),
        (b"bXYZ", _xyz_tag(colorants[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + bytes(4) + b"none\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table = struct.pack(">I", len(tags))
    body = b""
    for signature, data in tags:
        padded = data + bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded
    size = 128 + len(table) + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes([2, 0x10, 0, 0])  # version 2.1
        + b"mntr"
        + b"RGB "
        + b"XYZ "
        + bytes(12)  # date
        + b"acsp"
        + b"APPL"
        + bytes(4)  # flags
        + bytes(8)  # manufacturer, model
        + bytes(8)  # attributes
        + struct.pack(">I", 0)  # perceptual intent
        + b"".join(_s15f16(v) for v in D50_XYZ)
        + b"lcms"
    )
    header += bytes(128 - len(header))
    return header + table + body
