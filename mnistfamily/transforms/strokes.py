"""MNIST-C corruptions that draw on the digit: a dotted line and a zigzag.

See :mod:`.corruptions` for the conventions (``[0, 1]`` scale, the input's kind out,
randomness per example) and docs/transforms.md for the parameters.
"""

from __future__ import annotations

import numpy as np

from . import _rng
from .corruption import _Parametric

__all__ = ["DottedLine", "Zigzag"]


def _line(shape: tuple[int, int], c0: np.ndarray, r0: np.ndarray, c1: np.ndarray, r1: np.ndarray) -> np.ndarray:
    """MNIST-C's anti-aliased line from ``(r0, c0)`` to ``(r1, c1)``, one per example: ``(N, H, W)``.

    As the reference's ``line_from_points``: intensity ``log(1 - d / 2.3) + 1`` (clipped to
    [0, 1]) at vertical distance ``d`` from the line, in columns ``[floor(c0), ceil(c1))`` (with
    Python's meaning of a negative bound), nothing when ``c1 == c0``.
    """
    h, w = shape
    rows = np.arange(h, dtype=np.float64)[None, :, None]
    cols = np.arange(w, dtype=np.float64)[None, None, :]
    vertical = c1 == c0
    slope = (r1 - r0) / np.where(vertical, 1.0, c1 - c0)
    centre = slope[:, None, None] * (cols - c0[:, None, None]) + r0[:, None, None]
    distance = np.minimum(np.abs(rows - centre), 2.3 - 1e-10)
    value = np.clip(np.log(1.0 - distance / 2.3) + 1.0, 0.0, 1.0)
    # corruption[:, :l] = 0 and corruption[:, r:] = 0, l = floor(c0), r = ceil(c1), as Python slices
    left, right = np.floor(c0).astype(np.int64), np.ceil(c1).astype(np.int64)
    left = np.where(left < 0, np.maximum(left + w, 0), left)
    right = np.where(right < 0, np.maximum(right + w, 0), right)
    inside = ((cols >= left[:, None, None]) & (cols < right[:, None, None])) & ~vertical[:, None, None]
    return np.where(inside, value, 0.0)


class DottedLine(_Parametric):
    """A dotted line across the image between random rows at the left and right edges. MNIST-C.

    The line runs from ``(row r0, column 0)`` to ``(row r1, column W-1)`` (parameters ``r0``,
    ``r1``, uniform integers in ``[0, H-1)``); the reference's line stops before its last
    column; every other pair of columns is blanked (0-1, 4-5, ...); the line adds to the image.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> line = T.DottedLine(seed=0)(np.zeros((1, 28, 28), np.uint8))[0]
    >>> (line.max(axis=0) > 0)[:8].astype(int).tolist()   # dashes two columns wide
    [0, 0, 1, 1, 0, 0, 1, 1]
    """

    compute_dtype = np.float64

    def __init__(self, *, seed: int):
        self.seed = _rng.check_seed(seed, "DottedLine")

    def parameters(self, index: np.ndarray | range | list[int], shape: tuple[int, int] = (28, 28)
                   ) -> dict[str, np.ndarray]:
        r = _rng.integers(self.seed, "DottedLine", np.asarray(index, np.int64), 0, shape[0] - 1, (2,))
        return {"r0": r[:, 0], "r1": r[:, 1]}

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        n, h, w = x.shape
        r0, r1 = (np.asarray(parameters[k], np.float64) for k in ("r0", "r1"))
        line = _line((h, w), np.zeros(n), r0, np.full(n, w - 1.0), r1)
        line[:, :, (np.arange(w) // 2) % 2 == 0] = 0.0   # dashes: columns 2-3, 6-7, ... stay
        return x + line


class Zigzag(_Parametric):
    """A zigzag line (half-period 2, amplitude 2 pixels) across the image. MNIST-C.

    As the reference's ``zigzag``: its axis runs from ``(r0, column 2)`` to ``(r0 + slope,
    column W - 3)`` (parameters ``r0`` uniform in ``[0, H-1)``, ``slope`` in ``[-5, 5)``);
    vertices at ``0, a, 3a, 5a, ...`` along the axis of length ``d``, alternately ``+-b`` across
    it (``a = b = 2``); then, unless ``d`` is a multiple of ``2a``, a last vertex at ``d`` whose
    offset is the reference's ``r_i / (2 (d - 2a floor(d / 2a)))``, ``r_i`` the offset of the
    vertex before: off the triangle wave, as in MNIST-C. The segments are MNIST-C's lines,
    added to the image one after another, clipped to 1 each time.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> zig = T.Zigzag(seed=0)(np.zeros((1, 28, 28), np.uint8))[0]
    >>> columns = np.flatnonzero(zig.max(axis=0))   # from column 2 to about 25
    >>> int(columns[0]), 24 <= int(columns[-1]) <= 25
    (2, True)
    """

    compute_dtype = np.float64

    def __init__(self, *, seed: int):
        self.seed = _rng.check_seed(seed, "Zigzag")

    def parameters(self, index: np.ndarray | range | list[int], shape: tuple[int, int] = (28, 28)
                   ) -> dict[str, np.ndarray]:
        index = np.asarray(index, np.int64)
        return {"r0": _rng.integers(self.seed, "Zigzag.row", index, 0, shape[0] - 1),
                "slope": _rng.integers(self.seed, "Zigzag.slope", index, -5, 5)}

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        n, h, w = x.shape
        a = b = 2.0
        c0, c1 = 2, w - 3
        r0 = np.asarray(parameters["r0"], np.float64)
        r1 = r0 + np.asarray(parameters["slope"], np.float64)
        theta = np.arctan((r1 - r0) / (c1 - c0))
        d = (c1 - c0) / np.cos(theta)
        # vertices (along, across): (0, 0), then ((2i + 1) a, (-1)^i b) for i < count, per example;
        # shorter lists repeat their last vertex (a zero-length segment draws nothing)
        count = ((d - a) // (2 * a)).astype(np.int64) + 1
        most = int(count.max())
        i = np.minimum(np.arange(most)[None, :], count[:, None] - 1)
        along = np.concatenate([np.zeros((n, 1)), (2 * i + 1) * a], axis=1)
        across = np.concatenate([np.zeros((n, 1)), np.where(i % 2 == 0, b, -b)], axis=1)
        full = (2 * a) * (d // (2 * a))
        last = across[:, -1]
        ends = d != full
        along = np.concatenate([along, np.where(ends, d, along[:, -1])[:, None]], axis=1)
        tail = np.where(ends, last / (2 * np.where(ends, d - full, 1.0)), last)
        across = np.concatenate([across, tail[:, None]], axis=1)
        cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
        cs = (cos * along + (-sin) * across) + c0
        rs = (sin * along + cos * across) + r0[:, None]
        for k in range(cs.shape[1] - 1):  # a few segments; each drawn for the whole batch
            x = np.minimum(x + _line((h, w), cs[:, k], rs[:, k], cs[:, k + 1], rs[:, k + 1]), 1.0)
        return x
