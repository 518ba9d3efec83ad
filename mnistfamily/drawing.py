"""Text in the pictures we draw (preview grids, the shift command's bar charts) with Pillow's default font.

Pillow's default font is scalable on a FreeType build (Pillow >= 10.1) and a fixed bitmap font
elsewhere; the bitmap font knows Latin-1 only and no text anchors. These helpers hide the
difference, so every picture measures and places its text the same way. Pillow is imported
only by :func:`default_font`; the other functions work on the font and drawing objects given.

Examples
--------
>>> from PIL import Image, ImageDraw
>>> font = default_font(12)
>>> picture = Image.new("L", (80, 20))
>>> draw_text(ImageDraw.Draw(picture), (2, 10), "3 \u2192 8", font, fill=255)
>>> 0 < text_width(font, "3 \u2192 8") < 80
True
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["default_font", "text_width", "draw_text", "latin1"]


def default_font(size: int) -> Any:
    """Pillow's default font at ``size`` pixels, or its fixed bitmap font where it cannot scale."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # FreeType build of Pillow >= 10.1: scalable
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()  # the fixed bitmap font


def text_width(font: Any, text: str) -> int:
    """Pixels ``text`` takes in ``font`` (characters the bitmap font lacks count as ``?``)."""
    try:
        left, _, right, _ = font.getbbox(text)
    except UnicodeEncodeError:  # the bitmap font knows Latin-1 only
        left, _, right, _ = font.getbbox(latin1(text))
    return int(math.ceil(right - min(left, 0)))


def draw_text(draw: Any, xy: tuple[float, float], text: str, font: Any, fill: Any) -> None:
    """Text whose left end is at ``xy[0]``, centred vertically on ``xy[1]``."""
    try:
        draw.text(xy, text, fill=fill, font=font, anchor="lm")
    except (UnicodeEncodeError, ValueError):
        # the bitmap font: Latin-1 only and no anchors, so centre by hand
        text = latin1(text)
        _, top, _, bottom = font.getbbox(text)
        draw.text((xy[0], xy[1] - (top + bottom) / 2), text, fill=fill, font=font)


def latin1(text: str) -> str:
    """``text`` with every character outside Latin-1 replaced by ``?``.

    >>> latin1("caf\u00e9 \u2192")
    'caf\u00e9 ?'
    """
    return text.encode("latin-1", "replace").decode("latin-1")
