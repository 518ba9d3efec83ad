"""Bar charts of accuracies with their intervals (Pillow), and atomic writes of results.

Every shift result draws the same picture: one bar per domain or environment with its Wilson
interval, a reference line (the in-domain accuracy, or the average), a title and a subtitle.
Pillow is imported when a chart is drawn, never before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..drawing import default_font, draw_text, text_width  # one place for the default font's quirks

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["Bar", "draw_bars", "axis_range", "json_text", "save_picture", "write_atomically"]

PathLike = str | os.PathLike[str]

#: colours of the chart (RGB)
IN_DOMAIN_BAR = (31, 119, 180)
OTHER_BAR = (158, 202, 225)
INTERVAL = (0, 0, 0)
REFERENCE_LINE = (214, 39, 40)
GRID = (225, 225, 225)
TEXT = (30, 30, 30)
_ROW = 30  # pixels per bar
_BAR = 18  # bar thickness
_PAD = 14


@dataclass(frozen=True)
class Bar:
    """One bar: its label, the accuracy and its interval; ``highlight`` draws it dark."""

    label: str
    accuracy: float
    ci_low: float
    ci_high: float
    highlight: bool = False


def write_atomically(target: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write through a marked temporary area beside ``target`` and rename it into place."""
    from ..safe_write import atomic_write

    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, write)


def save_picture(picture: "Image.Image", path: PathLike) -> Path:
    """Save a Pillow image to ``path`` (PNG, or the format its suffix names), atomically."""
    from PIL import Image

    target = Path(path)
    image_format = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    write_atomically(target, lambda f: picture.save(f, format=image_format))
    return target


def json_text(data: Any, path: PathLike | None = None, *, indent: int = 2) -> str:
    """``data`` as JSON text (a result's ``to_json``); with ``path``, also written there atomically."""
    import json

    text = json.dumps(data, indent=indent, ensure_ascii=False) + "\n"
    if path is not None:
        write_atomically(Path(path), lambda f: f.write(text.encode("utf-8")))
    return text


def axis_range(lowest: float) -> tuple[float, float]:
    """``(start, tick step)`` of the accuracy axis, which always ends at 1.

    The axis starts at 0 when some interval reaches below 50 %; otherwise just below the
    lowest interval, on a round tick, so that differences of a fraction of a percent show.

    Examples
    --------
    >>> from mnistfamily.shift.chart import axis_range
    >>> axis_range(0.3)
    (0.0, 0.1)
    >>> [round(x, 6) for x in axis_range(0.95)]
    [0.94, 0.01]
    """
    if lowest < 0.5:
        return 0.0, 0.1
    raw = max(0.0, lowest - max(0.005, 0.1 * (1.0 - lowest)))
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1):
        start = np.floor(raw / step + 1e-9) * step
        if (1.0 - start) / step <= 10:
            return float(start), step
    return 0.0, 0.1


def draw_bars(bars: Sequence[Bar], *, title: str, subtitle: str, reference: float | None = None,
              width: int = 900) -> "Image.Image":
    """The chart as a Pillow RGB image: a bar per row with its interval, a dashed reference line.

    Examples
    --------
    >>> from mnistfamily.shift.chart import Bar, draw_bars
    >>> picture = draw_bars([Bar("a", 0.9, 0.85, 0.94, True), Bar("b", 0.7, 0.6, 0.8)], title="t", subtitle="s")
    >>> picture.mode, picture.size[0] >= 900
    ('RGB', True)
    """
    from PIL import Image, ImageDraw

    font = default_font(13)
    values = [f"{100 * b.accuracy:.2f}%  [{100 * b.ci_low:.2f}, {100 * b.ci_high:.2f}]" for b in bars]
    label_width = max(text_width(font, b.label) for b in bars) + _PAD
    value_width = max(text_width(font, t) for t in values) + _PAD
    width = max(width, 2 * _PAD + max(text_width(font, title), text_width(font, subtitle)))
    x0 = _PAD + label_width
    x1 = width - _PAD - value_width
    if x1 - x0 < 120:
        width += 120 - (x1 - x0)
        x1 = x0 + 120
    top = _PAD + 2 * 20 + 8
    height = top + len(bars) * _ROW + 46
    start, step = axis_range(min(b.ci_low for b in bars))

    def x(v: float) -> float:
        return x0 + (min(max(v, start), 1.0) - start) / (1.0 - start) * (x1 - x0)

    picture = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    _text(draw, (_PAD, _PAD + 7), title, font)
    _text(draw, (_PAD, _PAD + 27), subtitle, font)

    bottom = top + len(bars) * _ROW
    ticks = np.arange(start, 1.0 + step / 2, step)
    for t in ticks:
        draw.line([(x(t), top), (x(t), bottom)], fill=GRID, width=1)
    for i, b in enumerate(bars):
        middle = top + i * _ROW + _ROW / 2
        colour = IN_DOMAIN_BAR if b.highlight else OTHER_BAR
        draw.rectangle([x(start), middle - _BAR / 2, x(b.accuracy), middle + _BAR / 2], fill=colour)
        low, high = x(b.ci_low), x(b.ci_high)
        draw.line([(low, middle), (high, middle)], fill=INTERVAL, width=2)
        for end in (low, high):
            draw.line([(end, middle - 6), (end, middle + 6)], fill=INTERVAL, width=2)
        _text(draw, (_PAD, middle), b.label, font)
        _text(draw, (x1 + _PAD, middle), values[i], font)
    if reference is not None:
        for y in range(top, bottom, 8):  # dashed
            draw.line([(x(reference), y), (x(reference), min(y + 4, bottom))], fill=REFERENCE_LINE, width=2)
    draw.line([(x0, bottom), (x1, bottom)], fill=TEXT, width=1)
    decimals = max(0, int(-np.floor(np.log10(step * 100) + 1e-9)))
    for t in ticks:
        draw.line([(x(t), bottom), (x(t), bottom + 4)], fill=TEXT, width=1)
        tick = f"{100 * t:.{decimals}f}"
        _text(draw, (x(t) - text_width(font, tick) / 2, bottom + 13), tick, font)
    axis = "accuracy (%)" + (f", axis from {100 * start:.{decimals}f}%" if start > 0 else "")
    _text(draw, ((x0 + x1) / 2 - text_width(font, axis) / 2, bottom + 33), axis, font)
    return picture


def _text(draw: Any, xy: tuple[float, float], text: str, font: Any) -> None:
    """Text whose left end is at ``xy[0]``, centred vertically on ``xy[1]``."""
    draw_text(draw, xy, text, font, fill=TEXT)
