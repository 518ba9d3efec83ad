"""MNIST-C's shear, scale, rotate and translate: scikit-image's ``warp`` about the image centre.

Each maps output pixels to source points with an affine map that keeps the centre
``((H-1)/2, (W-1)/2)`` fixed (MNIST-C's (13.5, 13.5)) and samples bilinearly with zero outside,
as ``skimage.transform.warp(x, inverse_map=...)`` does. See :mod:`.corruptions` for the
conventions.
"""

from __future__ import annotations

import numpy as np

from . import _rng
from ._sampling import affine_grid, bilinear_padded
from .base import TransformError
from .corruption import _Parametric

__all__ = ["Shear", "Scale", "Rotate", "Translate"]


def _about_centre(linear: np.ndarray, shift: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, 2, 3) output->source matrices: ``source = linear @ (out - c) + c + shift``, c the centre.

    ``linear`` is (N, 2, 2) in (y, x) order; the centre is ((H-1)/2, (W-1)/2), the point
    MNIST-C keeps fixed (13.5, 13.5).
    """
    h, w = shape
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    m = np.empty((len(linear), 2, 3))
    m[:, :, :2] = linear
    m[:, :, 2] = centre - np.einsum("nij,j->ni", linear, centre) + shift
    return m


def _warp01(x: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    padded = np.array(matrices, np.float64)
    padded[:, :, 2] += 1.0  # the sampler's coordinates count its one-pixel zero ring
    src_y, src_x = affine_grid(padded, x.shape[1:3])
    return bilinear_padded(x, src_y, src_x)


class Shear(_Parametric):
    """Shear by ``radians`` with a random sign, about the centre. MNIST-C: 0.4.

    As scikit-image's ``AffineTransform(shear=s)`` used as the inverse map: the output
    pixel ``(x, y)`` reads ``(x - sin(s) y, cos(s) y)`` relative to the centre. Parameter:
    ``sign`` (+1 or -1) per example.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images[:10]
    >>> T.Shear(seed=0)(x).shape
    (10, 28, 28)
    """

    def __init__(self, radians: float = 0.4, *, seed: int):
        self.radians = float(radians)
        self.seed = _rng.check_seed(seed, "Shear")

    def parameters(self, index: np.ndarray | range | list[int], shape: tuple[int, int] = (28, 28)
                   ) -> dict[str, np.ndarray]:
        return {"sign": _rng.signs(self.seed, "Shear", np.asarray(index, np.int64))}

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        s = self.radians * parameters["sign"]
        linear = np.zeros((len(x), 2, 2))
        linear[:, 0, 0] = np.cos(s)            # source y =  cos(s) y
        linear[:, 1, 0] = -np.sin(s)           # source x = -sin(s) y + x
        linear[:, 1, 1] = 1.0
        return _warp01(x, _about_centre(linear, np.zeros(2), x.shape[1:3]))


class Scale(_Parametric):
    """Scale the image by ``factor`` about the centre (deterministic). MNIST-C: 0.7 (a smaller digit).

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images
    >>> spread = lambda m: (m["mu20"] + m["mu02"]) ** 0.5
    >>> round(float((spread(T.moments(T.Scale()(x))) / spread(T.moments(x))).mean()), 1)
    0.7
    """

    def __init__(self, factor: float = 0.7):
        self.factor = float(factor)
        if self.factor <= 0:
            raise TransformError(f"Scale: factor must be positive, found {factor!r}")

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        linear = np.broadcast_to(np.eye(2) / self.factor, (len(x), 2, 2))
        return _warp01(x, _about_centre(linear, np.zeros(2), x.shape[1:3]))


class Rotate(_Parametric):
    """Rotate by ``radians`` with a random sign, about the centre. MNIST-C: 0.4 (23 degrees).

    Parameter: ``sign`` (+1 or -1) per example.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> T.Rotate(seed=0)(mf.load("mnist/sample", "test").images[:10]).shape
    (10, 28, 28)
    """

    def __init__(self, radians: float = 0.4, *, seed: int):
        self.radians = float(radians)
        self.seed = _rng.check_seed(seed, "Rotate")

    def parameters(self, index: np.ndarray | range | list[int], shape: tuple[int, int] = (28, 28)
                   ) -> dict[str, np.ndarray]:
        return {"sign": _rng.signs(self.seed, "Rotate", np.asarray(index, np.int64))}

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        a = self.radians * parameters["sign"]
        cos, sin = np.cos(a), np.sin(a)
        linear = np.empty((len(x), 2, 2))      # (y, x) rows of the rotation [[cos, -sin], [sin, cos]] in (x, y)
        linear[:, 0, 0], linear[:, 0, 1] = cos, sin
        linear[:, 1, 0], linear[:, 1, 1] = -sin, cos
        return _warp01(x, _about_centre(linear, np.zeros(2), x.shape[1:3]))


class Translate(_Parametric):
    """Shift by ``pixels`` on both axes, each with a random sign. MNIST-C: 3.

    Parameters ``dy`` and ``dx`` (+1 or -1) per example: the image moves by
    ``-pixels * (dy, dx)`` (the reference's ``AffineTransform(translation=(dx, dy))`` used as
    the inverse map).

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> dot = np.zeros((1, 28, 28), np.uint8); dot[0, 14, 14] = 255
    >>> moved = T.Translate(seed=0)(dot)[0]
    >>> [abs(int(v) - 14) for v in np.argwhere(moved)[0]]
    [3, 3]
    """

    def __init__(self, pixels: int = 3, *, seed: int):
        self.pixels = int(pixels)
        self.seed = _rng.check_seed(seed, "Translate")

    def parameters(self, index: np.ndarray | range | list[int], shape: tuple[int, int] = (28, 28)
                   ) -> dict[str, np.ndarray]:
        signs = _rng.signs(self.seed, "Translate", np.asarray(index, np.int64), (2,))
        return {"dy": signs[:, 0], "dx": signs[:, 1]}

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        linear = np.broadcast_to(np.eye(2), (len(x), 2, 2))
        m = _about_centre(linear, np.zeros(2), x.shape[1:3])
        m[:, 0, 2] += self.pixels * parameters["dy"]
        m[:, 1, 2] += self.pixels * parameters["dx"]
        return _warp01(x, m)
