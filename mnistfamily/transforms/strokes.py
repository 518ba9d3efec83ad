"""MNIST-C corruptions that draw on the digit: a dotted line, a zigzag, Canny edges.

See :mod:`.corruptions` for the conventions (``[0, 1]`` scale, the input's kind out,
randomness per example) and docs/transforms.md for the parameters.
"""

from __future__ import annotations

import numpy as np

from . import _rng
from .base import TransformError
from .corruptions import _Corruption

__all__ = ["DottedLine", "Zigzag", "CannyEdges"]


def _line(shape: tuple[int, int], c0: np.ndarray, r0: np.ndarray, c1: np.ndarray, r1: np.ndarray) -> np.ndarray:
    """MNIST-C's anti-aliased line from column ``c0`` to ``c1``, one per example: ``(N, H, W)``.

    Intensity ``log(1 - d / 2.3) + 1`` (clipped to [0, 1]) at vertical distance ``d`` from the
    line, limited to columns ``[floor(c0), ceil(c1))``; nothing when ``c1 <= c0``.
    """
    h, w = shape
    rows = np.arange(h, dtype=np.float64)[None, :, None]
    cols = np.arange(w, dtype=np.float64)[None, None, :]
    vertical = c1 <= c0
    slope = np.where(vertical, 0.0, (r1 - r0) / np.where(vertical, 1.0, c1 - c0))
    centre = slope[:, None, None] * (cols - c0[:, None, None]) + r0[:, None, None]
    distance = np.minimum(np.abs(rows - centre), 2.3 - 1e-10)
    value = np.clip(np.log(1.0 - distance / 2.3) + 1.0, 0.0, 1.0)
    inside = (cols >= np.floor(c0)[:, None, None]) & (cols < np.ceil(c1)[:, None, None]) & ~vertical[:, None, None]
    return np.where(inside, value, 0.0)


class DottedLine(_Corruption):
    """A dotted line across the image between random rows at the left and right edges. MNIST-C.

    The line runs from ``(row r0, column 0)`` to ``(row r1, column W-1)``, ``r0, r1`` uniform
    in ``[0, H-1)``; every other pair of columns is blanked; the line adds to the image.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> line = T.DottedLine(seed=0)(np.zeros((1, 28, 28), np.uint8))[0]
    >>> (line.max(axis=0) > 0)[:8].astype(int).tolist()   # dashes two columns wide
    [0, 0, 1, 1, 0, 0, 1, 1]
    """

    def __init__(self, *, seed: int):
        self.seed = _rng.check_seed(seed, "DottedLine")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        n, h, w = x.shape
        r = _rng.integers(self.seed, "DottedLine", index, 0, h - 1, (2,)).astype(np.float64)
        line = _line((h, w), np.zeros(n), r[:, 0], np.full(n, w - 1.0), r[:, 1])
        line[:, :, (np.arange(w) // 2) % 2 == 0] = 0.0   # dashes: columns 2-3, 6-7, ... stay
        x += line.astype(np.float32)
        return x


class Zigzag(_Corruption):
    """A zigzag line (half-period 2, amplitude 2 pixels) across the image. MNIST-C.

    Its axis runs from column 2 to column ``W - 3``, from a random row ``r0`` in ``[0, H-1)``
    to ``r0 + k``, ``k`` uniform in ``[-5, 5)``; the zigzag is drawn as segments of MNIST-C's
    line and added to the image.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> zig = T.Zigzag(seed=0)(np.zeros((1, 28, 28), np.uint8))[0]
    >>> columns = np.flatnonzero(zig.max(axis=0))   # from column 2 to about 25
    >>> int(columns[0]), 24 <= int(columns[-1]) <= 25
    (2, True)
    """

    def __init__(self, *, seed: int):
        self.seed = _rng.check_seed(seed, "Zigzag")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        n, h, w = x.shape
        a = b = 2.0
        c0, c1 = 2.0, w - 3.0
        r0 = _rng.integers(self.seed, "Zigzag.row", index, 0, h - 1).astype(np.float64)
        r1 = r0 + _rng.integers(self.seed, "Zigzag.slope", index, -5, 5)
        theta = np.arctan((r1 - r0) / (c1 - c0))
        length = (c1 - c0) / np.cos(theta)
        # vertices along the axis: 0, a, 3a, 5a, ... then the end, with the triangle wave's offsets
        count = int(np.ceil((length.max() - a) / (2 * a))) + 1
        along = np.minimum(np.concatenate([[0.0], (2 * np.arange(count) + 1) * a])[None, :], length[:, None])
        along = np.concatenate([along, length[:, None]], axis=1)
        phase = np.mod(along + a, 4 * a)
        across = b * (1.0 - np.abs(phase - 2 * a) / a)
        cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
        cs = along * cos - across * sin + c0
        rs = along * sin + across * cos + r0[:, None]
        lines = np.zeros((n, h, w))
        for k in range(cs.shape[1] - 1):  # a few segments; each drawn for the whole batch
            lines += _line((h, w), cs[:, k], rs[:, k], cs[:, k + 1], rs[:, k + 1])
        x += lines.astype(np.float32)
        return x


class CannyEdges(_Corruption):
    """The image replaced by its Canny edges (white on black). MNIST-C: scikit-image defaults.

    Gaussian smoothing (``sigma``, normalised at the border as scikit-image does), Sobel
    gradients, non-maximum suppression along the gradient direction quantised to 4
    directions, and hysteresis between ``low`` and ``high`` gradient magnitudes (of the
    ``[0, 1]`` image): weak edges are kept when 8-connected to a strong one. Connected
    components are labelled for the whole batch at once, with no connectivity across images.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> square = np.zeros((1, 28, 28), np.uint8); square[0, 8:20, 8:20] = 255
    >>> edges = T.CannyEdges()(square)[0]
    >>> int(edges[14, 14]), int(edges[14, 7:21].max())   # hollow inside, an outline around
    (0, 255)
    """

    def __init__(self, sigma: float = 1.0, low: float = 0.1, high: float = 0.2):
        self.sigma, self.low, self.high = float(sigma), float(low), float(high)
        if self.low > self.high:
            raise TransformError(f"CannyEdges: low ({low}) must not exceed high ({high})")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        from scipy import ndimage

        n, h, w = x.shape
        s = (0.0, self.sigma, self.sigma)
        weight = ndimage.gaussian_filter(np.ones((1, h, w), np.float32), s, mode="constant")
        smooth = ndimage.gaussian_filter(x, s, mode="constant") / weight
        # Sobel on the image axes only (scipy's ndimage.sobel would also smooth across the batch)
        derivative, average = np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 1.0])
        gy = ndimage.correlate1d(ndimage.correlate1d(smooth, derivative, axis=1), average, axis=2)
        gx = ndimage.correlate1d(ndimage.correlate1d(smooth, average, axis=1), derivative, axis=2)
        magnitude = np.hypot(gx, gy)
        # direction bins: 0 = horizontal gradient, 1 = 45 deg, 2 = vertical, 3 = 135 deg
        angle = np.mod(np.degrees(np.arctan2(gy, gx)), 180.0)
        bins = (np.floor((angle + 22.5) / 45.0).astype(np.int8)) % 4
        padded = np.pad(magnitude, ((0, 0), (1, 1), (1, 1)))
        keep = np.zeros(magnitude.shape, bool)
        for b, (dy, dx) in enumerate([(0, 1), (1, 1), (1, 0), (1, -1)]):
            ahead = padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
            behind = padded[:, 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]
            keep |= (bins == b) & (magnitude >= ahead) & (magnitude >= behind)
        keep[:, [0, -1], :] = False  # scikit-image drops the one-pixel border
        keep[:, :, [0, -1]] = False
        strong = keep & (magnitude >= self.high)
        weak = keep & (magnitude >= self.low)
        structure = np.zeros((3, 3, 3), bool)
        structure[1] = True  # 8-connected within an image, never across the batch axis
        labels, _ = ndimage.label(weak, structure=structure)
        kept = np.unique(labels[strong])
        return np.isin(labels, kept[kept > 0]).astype(np.float32)
