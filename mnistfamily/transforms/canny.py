"""MNIST-C's Canny edges: scikit-image's ``feature.canny`` (0.19) for a whole batch at once.

See :mod:`.corruptions` for the conventions and docs/transforms.md for the comparison with
the reference.
"""

from __future__ import annotations

import numpy as np

from .base import TransformError
from .corruption import _Parametric

__all__ = ["CannyEdges"]

#: scikit-image's four sectors of gradient direction, in the order it fills them (a later sector
#: overwrites an earlier one where they meet): which (isobel, jsobel) signs, whether the row
#: gradient dominates (True) or the column gradient (False), and the two neighbours ahead and the
#: two behind, as (row, column) offsets, whose mix ``c2 w + c1 (1 - w)`` the point must reach
_SECTORS = (
    ("same", True, ((1, 0), (1, 1)), ((-1, 0), (-1, -1))),
    ("same", False, ((0, 1), (1, 1)), ((0, -1), (-1, -1))),
    ("opposite", False, ((0, 1), (-1, 1)), ((0, -1), (1, -1))),
    ("opposite", True, ((-1, 0), (-1, 1)), ((1, 0), (1, -1))),
)


class CannyEdges(_Parametric):
    """The image replaced by its Canny edges (white on black). MNIST-C: scikit-image's defaults.

    scikit-image 0.19's ``feature.canny(x, sigma, low, high)``, which MNIST-C calls: Gaussian
    smoothing normalised at the border, Sobel gradients, non-maximum suppression that compares
    each point with the magnitude *interpolated* between the two neighbours on either side along
    the gradient, and hysteresis between ``low`` and ``high`` (magnitudes of the ``[0, 1]``
    image): weak edges are kept when 8-connected to a strong one. The one-pixel border is never
    an edge. Components are labelled for the whole batch at once, never across images.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> square = np.zeros((1, 28, 28), np.uint8); square[0, 8:20, 8:20] = 255
    >>> edges = T.CannyEdges()(square)[0]
    >>> int(edges[14, 14]), int(edges[14, 7:21].max())   # hollow inside, an outline around
    (0, 255)
    """

    compute_dtype = np.float64

    def __init__(self, sigma: float = 1.0, low: float = 0.1, high: float = 0.2):
        self.sigma, self.low, self.high = float(sigma), float(low), float(high)
        if self.low > self.high:
            raise TransformError(f"CannyEdges: low ({low}) must not exceed high ({high})")

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        from scipy import ndimage

        n, h, w = x.shape
        s = (0.0, self.sigma, self.sigma)
        bleed = ndimage.gaussian_filter(np.ones((1, h, w)), s, mode="constant") + np.finfo(float).eps
        smooth = ndimage.gaussian_filter(x, s, mode="constant") / bleed
        # ndimage.sobel per image: the derivative first, then the smoothing across it (its order
        # of operations, so that ties in the suppression below fall the same way)
        derivative, average = np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 1.0])
        isobel = ndimage.correlate1d(ndimage.correlate1d(smooth, derivative, axis=1), average, axis=2)
        jsobel = ndimage.correlate1d(ndimage.correlate1d(smooth, derivative, axis=2), average, axis=1)
        magnitude = np.hypot(isobel, jsobel)
        local = self._local_maxima(isobel, jsobel, magnitude, self.low)
        strong = local & (magnitude >= self.high)
        weak = local & (magnitude >= self.low)
        structure = np.zeros((3, 3, 3), bool)
        structure[1] = True  # 8-connected within an image, never across the batch axis
        labels, _ = ndimage.label(weak, structure=structure)
        kept = np.unique(labels[strong])
        return np.isin(labels, kept[kept > 0]).astype(np.float64)

    @staticmethod
    def _local_maxima(isobel: np.ndarray, jsobel: np.ndarray, magnitude: np.ndarray, low: float) -> np.ndarray:
        """scikit-image's ``_get_local_maxima`` (interpolated non-maximum suppression), batch-wide.

        Only points at or above ``low`` are examined: below it a maximum is dropped by the
        thresholds anyway. The border is never a maximum, so every point examined has its eight
        neighbours at fixed offsets in the flattened batch.
        """
        n, h, w = magnitude.shape
        inner = np.zeros((1, h, w), bool)
        inner[:, 1:-1, 1:-1] = True  # scikit-image's eroded mask
        at = np.flatnonzero(inner & (magnitude > 0) & (magnitude >= low))
        flat_m = magnitude.ravel()
        m, gi, gj = flat_m[at], isobel.ravel()[at], jsobel.ravel()[at]
        abs_i, abs_j = np.abs(gi), np.abs(gj)
        rows_dominate, cols_dominate = abs_i >= abs_j, abs_i <= abs_j
        up, down, right, left = gi >= 0, gi <= 0, gj >= 0, gj <= 0
        signs = {"same": (up & right) | (down & left), "opposite": (down & right) | (up & left)}

        local = np.zeros(at.shape, bool)
        for sign, rows_first, ahead, behind in _SECTORS:
            sel = np.flatnonzero(signs[sign] & (rows_dominate if rows_first else cols_dominate))
            where, here = at[sel], m[sel]
            # the divisor is the larger gradient component of a point whose magnitude is > 0
            weight = abs_j[sel] / abs_i[sel] if rows_first else abs_i[sel] / abs_j[sel]
            (a1, a2), (b1, b2) = [[flat_m[where + dr * w + dc] for dr, dc in pair] for pair in (ahead, behind)]
            plus = a2 * weight + a1 * (1 - weight) <= here
            minus = b2 * weight + b1 * (1 - weight) <= here
            local[sel] = plus & minus  # a later sector overwrites an earlier one, as in scikit-image
        out = np.zeros(magnitude.shape, bool)
        out.ravel()[at] = local
        return out
