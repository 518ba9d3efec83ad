"""One picture per example, whatever the example is: the cells of a preview grid.

``pictures(dataset, rows)`` gives ``uint8`` pictures of the examples at ``rows``, all of one
size: grey ``(n, h, w)``, or ``(n, h, w, 3)`` when the examples have colour.

- grey images as they are; colour images (channels last) as RGB (the first three channels;
  two channels, ColoredMNIST's, as red and green; one as grey);
- volumes ``(D, H, W)`` as their three orthogonal middle slices side by side (axial ``H x W``,
  coronal ``D x W``, sagittal ``D x H``), or as their maximum projection along the depth;
- signals as plots: a short fixed-length one (MNIST-1D, at most ``MAX_LINE_POINTS``) as a line,
  one pixel per point; longer or varying-length ones (recordings) as a waveform
  ``WAVE_WIDTH`` pixels wide, each column spanning the smallest and largest sample it covers,
  on one time scale (a shorter recording ends further left) and one amplitude scale.

Floats in ``[0, 1]`` are scaled by 255; other floats (USPS's ``[-1, 1]``) are stretched from the
smallest to the largest value shown. Nothing here imports Pillow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .dataset import Dataset

__all__ = ["MAX_LINE_POINTS", "PLOT_HEIGHT", "VOLUME_VIEWS", "WAVE_WIDTH", "ZERO_LINE", "line_plots", "pictures",
           "to_uint8", "volume_pictures", "waveforms"]

#: height in pixels (before scaling) of a signal's plot
PLOT_HEIGHT = 28
#: grey level of the zero line behind a line plot
ZERO_LINE = 64
#: a fixed-length signal up to this many points is drawn one column per point; longer ones as a waveform
MAX_LINE_POINTS = 128
#: width in pixels of a waveform
WAVE_WIDTH = 96
#: grey level between the slices of a volume
SLICE_GAP = 40
VOLUME_VIEWS = ("slices", "max")


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Pixels as ``uint8``: uint8 as it is, floats in ``[0, 1]`` times 255, other values stretched to ``0..255``."""
    if values.dtype == np.uint8:
        return values
    x = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
    if low >= 0.0 and high <= 1.0:  # a transform's 0-1 floats
        x = x * 255.0
    elif high > low:  # another range (USPS's -1..1, raw voxels): stretched
        x = (x - low) / (high - low) * 255.0
    return np.clip(x, 0, 255).round().astype(np.uint8)


def line_plots(sequences: np.ndarray, height: int = PLOT_HEIGHT) -> np.ndarray:
    """Each row of ``sequences`` ``(N, L)`` drawn as a line plot: ``(N, height, L)`` ``uint8``.

    Column ``i`` shows point ``i``; the line is white (255) on black, consecutive points
    joined by a vertical run so the line has no gaps, and a dim line (``ZERO_LINE``) marks 0
    when 0 is in range. Every plot shares one vertical scale (the smallest and largest value of
    ``sequences``), so amplitudes compare across cells. NaN and infinite values are drawn as 0.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily.cells import line_plots
    >>> plot = line_plots(np.array([[0.0, 1.0, 2.0]]), height=3)
    >>> (plot[0] == 255).astype(int).tolist()   # rising from the bottom row to the top row
    [[0, 1, 1], [1, 1, 0], [1, 0, 0]]
    """
    values = np.nan_to_num(np.asarray(sequences, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    n, length = values.shape
    plots = np.zeros((n, height, length), dtype=np.uint8)
    if n == 0 or length == 0:
        return plots
    low, high = float(values.min()), float(values.max())
    span = high - low if high > low else 1.0
    rows = np.rint((high - values) / span * (height - 1)).astype(np.int64)  # row 0 at the top
    if low <= 0.0 <= high:
        plots[:, int(round((high - 0.0) / span * (height - 1))), :] = ZERO_LINE
    # each column spans from its point to the next one's, so steep slopes stay connected
    following = np.concatenate([rows[:, 1:], rows[:, -1:]], axis=1)
    top, bottom = np.minimum(rows, following), np.maximum(rows, following)
    grid = np.arange(height)[None, :, None]
    plots[(grid >= top[:, None, :]) & (grid <= bottom[:, None, :])] = 255
    return plots


def waveforms(signals: Any, height: int = PLOT_HEIGHT, width: int = WAVE_WIDTH) -> np.ndarray:
    """Each signal (a :class:`~mnistfamily.examples.Signals`, or rows of an array) as a waveform ``(N, height, width)``.

    All share one time scale (the longest signal fills the width) and one amplitude scale (the
    largest absolute sample), centred on a dim zero line; each column is lit from the smallest
    to the largest sample it covers, so a loud recording is a tall band and silence a flat line.

    >>> import numpy as np
    >>> from mnistfamily.examples import Signals
    >>> w = waveforms(Signals.from_arrays([np.ones(10), np.zeros(5)]), height=5, width=10)
    >>> (w[0] == 255).any(axis=0).all(), (w[1][:, 5:] == 255).any()   # the short one ends half way
    (np.True_, np.False_)
    """
    rows = [np.nan_to_num(np.asarray(x, dtype=np.float64)) for x in signals]
    out = np.zeros((len(rows), height, width), dtype=np.uint8)
    if not rows:
        return out
    out[:, height // 2, :] = ZERO_LINE
    longest = max(len(x) for x in rows) or 1
    peak = max((float(np.abs(x).max()) for x in rows if len(x)), default=0.0) or 1.0
    edges = np.linspace(0, longest, width + 1)
    grid = np.arange(height)[:, None]
    for i, x in enumerate(rows):
        if not len(x):
            continue
        starts = edges[:-1].astype(np.int64)
        present = starts < len(x)  # columns past the end of a shorter signal stay dark
        # reduceat spans each column's samples up to the next column's first; a column narrower
        # than one sample gets the sample it falls on
        starts = np.minimum(starts, len(x) - 1)
        low, high = np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)
        top = np.rint((1 - high / peak) / 2 * (height - 1)).astype(np.int64)
        bottom = np.rint((1 - low / peak) / 2 * (height - 1)).astype(np.int64)
        lit = (grid >= top[None, :]) & (grid <= bottom[None, :]) & present[None, :]
        out[i][lit] = 255
    return out


def volume_pictures(volumes: np.ndarray, view: str = "slices") -> np.ndarray:
    """Volumes ``(N, D, H, W)`` as pictures: three orthogonal middle slices side by side, or the maximum projection.

    ``slices``: ``(N, max(H, D), W + 1 + W + 1 + H)``: the axial slice ``[D // 2]`` (``H x W``), the
    coronal ``[:, H // 2, :]`` (``D x W``) and the sagittal ``[:, :, W // 2]`` (``D x H``), each at
    the top of its place, separated by a dim column. ``max``: ``(N, H, W)``, the largest voxel
    along the depth.
    """
    if view not in VOLUME_VIEWS:
        raise ValueError(f"a volume is shown as {' or '.join(VOLUME_VIEWS)}, not {view!r}")
    v = to_uint8(np.asarray(volumes))
    n, depth, height, width = v.shape
    if view == "max":
        return v.max(axis=1)
    views = [v[:, depth // 2], v[:, :, height // 2, :], v[:, :, :, width // 2]]
    out = np.full((n, max(height, depth), width + 1 + width + 1 + height), SLICE_GAP, dtype=np.uint8)
    left = 0
    for picture in views:
        out[:, :picture.shape[1], left:left + picture.shape[2]] = picture
        out[:, picture.shape[1]:, left:left + picture.shape[2]] = 0
        left += picture.shape[2] + 1
    return out


def _colour(images: np.ndarray) -> np.ndarray:
    """Channels-last images as RGB: the first three channels, two as red and green, one as grey."""
    channels = images.shape[-1]
    if channels >= 3:
        return images[..., :3]
    if channels == 2:
        return np.concatenate([images, np.zeros_like(images[..., :1])], axis=-1)
    return np.repeat(images, 3, axis=-1)


def pictures(dataset: "Dataset", rows: np.ndarray, *, volume: str = "slices") -> np.ndarray:
    """``uint8`` pictures of the examples at ``rows``: ``(n, h, w)``, or ``(n, h, w, 3)`` with colour.

    Only those examples are read, so picturing a few rows of a 1.3 GB memory map reads a few rows.
    """
    from .examples import Signals

    rows = np.asarray(rows, dtype=np.int64)
    examples = dataset.examples
    if isinstance(examples, Signals):
        return waveforms(examples[rows])
    chosen = np.asarray(examples[np.sort(rows)])[np.argsort(np.argsort(rows))] if len(rows) else \
        np.asarray(examples[:0])
    layout = dataset.layout
    if layout == "L":
        if chosen.shape[1] <= MAX_LINE_POINTS:
            return line_plots(chosen)
        return waveforms(chosen)
    if layout == "DHW":
        return volume_pictures(chosen, volume)
    if layout == "HWC":
        return to_uint8(_colour(chosen)) if chosen.shape[-1] != 1 else to_uint8(chosen[..., 0])
    return to_uint8(chosen)
