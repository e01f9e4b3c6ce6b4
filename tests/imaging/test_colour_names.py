"""bg_color names keep working however often Pillow has converted the same name elsewhere."""

from __future__ import annotations

from PIL import ImageColor

from service.imaging.options import parse_hex_color


def test_a_colour_name_parses_after_pillow_has_cached_it() -> None:
    # Pillow's getrgb swaps colormap["red"] for a tuple after its first use in the process.
    ImageColor.getrgb("red")
    assert parse_hex_color("red") == (255, 0, 0)
    assert parse_hex_color("Red") == (255, 0, 0)
    assert parse_hex_color("rebeccapurple") == (102, 51, 153)
