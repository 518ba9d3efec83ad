"""A fixed rotation that gives PIL's ``Image.rotate`` byte for byte: DomainBed's RotatedMNIST.

DomainBed rotates each MNIST digit with torchvision's ``rotate`` on a PIL image, which is
``Image.rotate(angle, resample, expand=False, center=None, fillcolor=0)``. PIL samples each
output pixel at the source point of the inverse rotation about the image centre ``(W/2, H/2)``,
with its own bicubic kernel (``a = -1``, not Catmull-Rom's ``-1/2``) or bilinear weights, edge
pixels repeated within the image, zero outside it, and the value truncated (not rounded) to
uint8. :class:`RotateDegrees` does the same arithmetic in float64 on whole batches, in the
same order, so its uint8 output equals PIL's (the tests compare all 10,000 MNIST test digits
at DomainBed's six angles and others).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .base import Transform, TransformError

__all__ = ["RotateDegrees"]

INTERPOLATIONS = ("bicubic", "bilinear")


class RotateDegrees(Transform):
    """Rotate every image by ``degrees`` counter-clockwise about its centre, exactly as PIL does.

    The output equals ``Image.rotate(degrees, resample=BICUBIC or BILINEAR, fillcolor=0)``
    on each uint8 image (and torchvision's ``rotate`` on a PIL image, which calls it): corners
    that come from outside the image are 0, the size is kept. Multiples of 90 degrees are
    exact quarter turns, as in PIL. Float images ``[0, 1]`` get the same sampling without the
    uint8 truncation (PIL's ``F`` mode), as float32. Channels ``(N, H, W, C)`` are rotated
    one by one, as PIL rotates the bands of an RGB image.

    Parameters
    ----------
    degrees
        Angle, counter-clockwise (PIL's and torchvision's sign).
    interpolation
        ``"bicubic"`` (what DomainBed's published RotatedMNIST results used) or
        ``"bilinear"`` (DomainBed's code since).

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> bar = np.zeros((1, 5, 5), np.uint8)
    >>> bar[0, 2, :] = 255                          # a horizontal bar ...
    >>> T.RotateDegrees(90)(bar)[0, :, 2].tolist()  # ... turned a quarter is a vertical one
    [255, 255, 255, 255, 255]
    >>> T.RotateDegrees(15, interpolation="bilinear").spec()
    {'name': 'RotateDegrees', 'degrees': 15.0, 'interpolation': 'bilinear'}
    """

    pixels_per_block = 1 << 18  # cache-sized gathers, spread over threads

    def __init__(self, degrees: float, interpolation: str = "bicubic"):
        if isinstance(degrees, bool) or not isinstance(degrees, (int, float, np.integer, np.floating)) \
                or not math.isfinite(degrees):
            raise TransformError(f"RotateDegrees: degrees must be a finite number, found {degrees!r}")
        if interpolation not in INTERPOLATIONS:
            raise TransformError(f"RotateDegrees: interpolation must be one of {', '.join(INTERPOLATIONS)}, "
                                 f"found {interpolation!r}")
        self.degrees = float(degrees)
        self.interpolation = interpolation

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        angle = self.degrees % 360.0
        if angle in (0.0, 90.0, 180.0, 270.0):  # PIL's fast paths: copies and exact quarter turns
            turned = np.rot90(images, int(angle) // 90, axes=(1, 2)) if images.shape[1] == images.shape[2] \
                or angle in (0.0, 180.0) else None
            if turned is not None:
                return np.ascontiguousarray(turned if images.dtype == np.uint8 else turned.astype(np.float32))
        if images.ndim == 4:  # one channel at a time, as PIL treats the bands of an image
            return np.stack([self._apply(np.ascontiguousarray(images[..., c]), index)
                             for c in range(images.shape[3])], axis=-1)
        return _rotate(images, angle, self.interpolation)


def pil_matrix(degrees: float, width: int, height: int) -> tuple[float, ...]:
    """The output-to-source affine matrix ``Image.rotate`` builds (same operations, same rounding)."""
    angle = -math.radians(degrees % 360.0)
    matrix = [round(math.cos(angle), 15), round(math.sin(angle), 15), 0.0,
              round(-math.sin(angle), 15), round(math.cos(angle), 15), 0.0]
    cx, cy = width / 2, height / 2
    a, b, c, d, e, f = matrix
    matrix[2], matrix[5] = a * -cx + b * -cy + c, d * -cx + e * -cy + f
    matrix[2] += cx
    matrix[5] += cy
    return tuple(matrix)


def _rotate(images: np.ndarray, degrees: float, interpolation: str) -> np.ndarray:
    n, h, w = images.shape
    a0, a1, a2, a3, a4, a5 = pil_matrix(degrees, w, h)
    ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    # PIL's affine_transform and *_filter8, operation for operation (float64 throughout)
    x_in = a0 * xs + a1 * ys + a2
    y_in = a3 * xs + a4 * ys + a5
    inside = ((x_in >= 0) & (x_in < w) & (y_in >= 0) & (y_in < h)).ravel()
    x_src, y_src = x_in - 0.5, y_in - 0.5
    x0, y0 = np.floor(x_src), np.floor(y_src)
    dx, dy = (x_src - x0).ravel(), (y_src - y0).ravel()
    x0, y0 = x0.astype(np.int64).ravel(), y0.astype(np.int64).ravel()
    flat = images.reshape(n, h * w)
    taps = 4 if interpolation == "bicubic" else 2
    first = -1 if interpolation == "bicubic" else 0
    # edge pixels repeat: PIL clamps columns (XCLIP) and rows (YCLIP, then "v = previous row")
    cols = [np.clip(x0 + first + k, 0, w - 1) for k in range(taps)]
    rows = [np.clip(y0 + first + k, 0, h - 1) * w for k in range(taps)]
    kernel: Callable[..., np.ndarray] = _cubic if interpolation == "bicubic" else _linear
    out = np.zeros((n, h * w), np.float64)
    where = np.flatnonzero(inside)
    dx, dy = dx[where], dy[where]
    rows_values = []
    for r in rows:
        samples = [flat[:, r[where] + c[where]].astype(np.float64) for c in cols]
        rows_values.append(kernel(*samples, dx))
    out[:, where] = kernel(*rows_values, dy)
    if images.dtype != np.uint8:
        return out.reshape(n, h, w).astype(np.float32)
    # bicubic overshoots: PIL clips to [0, 255]; both kernels then truncate like a C cast
    return np.trunc(np.clip(out, 0.0, 255.0)).astype(np.uint8).reshape(n, h, w)


def _cubic(v1: np.ndarray, v2: np.ndarray, v3: np.ndarray, v4: np.ndarray, d: np.ndarray) -> np.ndarray:
    """PIL's BICUBIC macro: Horner form of the ``a = -1`` cubic convolution, in its order."""
    p1 = v2
    p2 = -v1 + v3
    p3 = 2 * (v1 - v2) + v3 - v4
    p4 = -v1 + v2 - v3 + v4
    return p1 + d * (p2 + d * (p3 + d * p4))


def _linear(v1: np.ndarray, v2: np.ndarray, d: np.ndarray) -> np.ndarray:
    """PIL's BILINEAR macro."""
    return v1 + (v2 - v1) * d
