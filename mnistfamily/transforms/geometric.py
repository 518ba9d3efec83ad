"""Resampling transforms: Resize, RandomAffine, ElasticDistortion, Deskew, CenterOfMass.

All of them build per-example source coordinates (or per-example filter matrices) for the
whole batch at once and resample with :mod:`._sampling` (bilinear, zero outside the image).
uint8 in -> uint8 out (rounded half to even, clipped); float in -> float32.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from . import _rng
from ._sampling import (affine_grid, apply_separable, bilinear_padded, gaussian_matrix, resize_matrix, shear_sample,
                        smooth_batch)
from .base import Transform, TransformError, restore_dtype
from .basic import _size_pair

__all__ = ["Resize", "RandomAffine", "ElasticDistortion", "Deskew", "CenterOfMass", "moments"]

#: output pixels per block of the resampling transforms (334 MNIST digits): each float32
#: temporary is ~1 MB and stays in cache; whole-batch temporaries ran slower
_BLOCK = 1 << 18


def _gray(images: np.ndarray) -> np.ndarray:
    """Intensity for moments: the image itself, or the mean over channels."""
    return images if images.ndim == 3 else images.mean(axis=3, dtype=np.float32)


def moments(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image intensity moments of a ``(N, H, W)`` batch (float64, pixel-index coordinates).

    Returns ``mass``, the centre of mass ``cy``, ``cx`` and the central second moments
    ``mu20`` (variance along y), ``mu02`` (along x) and ``mu11`` (covariance), each divided
    by the mass. The skew that :class:`Deskew` removes is ``mu11 / mu20``: how far x moves
    per row. Empty images get the canvas centre and zero moments.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> x = np.zeros((1, 28, 28), np.uint8); x[0, 10, 20] = 255
    >>> m = T.moments(x); float(m["cy"][0]), float(m["cx"][0])
    (10.0, 20.0)
    """
    gray = _gray(images)
    n, h, w = gray.shape
    ys = np.arange(h) - h / 2.0  # about the canvas centre, so E[y^2] - E[y]^2 keeps its precision
    xs = np.arange(w) - w / 2.0
    # Products with a basis, one BLAS call per image (stacked matmul), so the bytes do not
    # depend on the batch (see _sampling.smooth_batch).
    if gray.dtype == np.uint8 and w * 255 * (w / 2.0) ** 2 < 2**22:
        # uint8 digits: per row, mass and x-moments are multiples of 1/4 below 2**22, exact in
        # float32 in any order; the rows are then combined exactly in float64. Half the
        # memory traffic of converting every pixel to float64.
        row_basis = np.stack([np.ones(w), xs, xs * xs], axis=1).astype(np.float32)
        per_row = np.matmul(gray.astype(np.float32), row_basis).astype(np.float64)  # (N, H, 3)
        mass_rows, x_rows, xx_rows = per_row[:, :, 0], per_row[:, :, 1], per_row[:, :, 2]
        sums = np.stack([mass_rows.sum(axis=1), mass_rows @ ys, x_rows.sum(axis=1), mass_rows @ (ys * ys),
                         xx_rows.sum(axis=1), x_rows @ ys], axis=1)
    else:  # float64 throughout; for uint8, every partial sum is a multiple of 1/4 below 2**53: exact
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        basis = np.stack([np.ones_like(yy), yy, xx, yy * yy, xx * xx, yy * xx], axis=-1).reshape(h * w, 6)
        sums = np.matmul(gray.reshape(n, 1, h * w).astype(np.float64), basis)[:, 0]
    mass = sums[:, 0]
    empty = mass <= 0
    safe = np.where(empty, 1.0, mass)
    ey, ex = sums[:, 1] / safe, sums[:, 2] / safe
    mu20 = sums[:, 3] / safe - ey * ey
    mu02 = sums[:, 4] / safe - ex * ex
    mu11 = sums[:, 5] / safe - ey * ex
    cy, cx = ey + h / 2.0, ex + w / 2.0
    for m in (mu20, mu02, mu11):
        m[empty] = 0.0
    return {"mass": mass, "cy": cy, "cx": cx, "mu20": mu20, "mu02": mu02, "mu11": mu11}


def _ink_rows_cols(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which rows ``(N, H)`` and columns ``(N, W)`` of each mask hold any ink."""
    return np.asarray(np.any(ink, axis=2)), np.asarray(np.any(ink, axis=1))


def _warp(images: np.ndarray, matrices: np.ndarray, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Resample with per-example output->source affine matrices; restore the dtype."""
    shape = out_shape or images.shape[1:3]
    padded = np.array(matrices, np.float64)
    padded[:, :, 2] += 1.0  # the sampler's coordinates count its one-pixel zero ring
    src_y, src_x = affine_grid(padded, shape)
    return restore_dtype(bilinear_padded(images, src_y, src_x), images.dtype)


class Resize(Transform):
    """Resize every image to ``size`` (an int for square output, or ``(h, w)``) with bilinear weights.

    Matches PIL's ``BILINEAR`` resize (and torchvision's with ``antialias=True``): when
    shrinking, the triangle filter widens with the reduction factor so detail is averaged,
    not aliased. Applied as two matrix products over the whole batch. Unlike torchvision,
    an int means both sides (the family's images are square).

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> T.Resize(32)(mf.load("mnist/sample", "test").images[:5]).shape
    (5, 32, 32)
    """

    def __init__(self, size: int | Sequence[int], antialias: bool = True):
        self.size = _size_pair(size, "Resize")
        self.antialias = bool(antialias)

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        h, w = self.size
        ry = resize_matrix(images.shape[1], h, self.antialias)
        rx = resize_matrix(images.shape[2], w, self.antialias)
        return restore_dtype(apply_separable(images, ry, rx), images.dtype)


def _range(value: Any, owner: str, what: str, *, symmetric: bool, default: tuple[float, float]) -> tuple[float, float]:
    """A number ``d`` -> ``(-d, d)`` (when ``symmetric``), a pair -> itself, None -> ``default``."""
    if value is None:
        return default
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not symmetric:
            raise TransformError(f"{owner}: {what} must be a (low, high) pair, found {value!r}")
        d = abs(float(value))
        return (0.0 - d, d)  # 0.0 - 0.0 is 0.0, where -0.0 would print (and hash in a spec) differently
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = float(value[0]) + 0.0, float(value[1]) + 0.0  # -0.0 -> 0.0
        if lo > hi:
            raise TransformError(f"{owner}: {what} range ({lo}, {hi}) has low > high")
        return (lo, hi)
    raise TransformError(f"{owner}: {what} must be a number or a (low, high) pair, found {value!r}")


class RandomAffine(Transform):
    """Random rotation, shear, scale and translation per example, bilinear, zero fill.

    The forward map about the image centre is ``rotate(angle) . shear_x(shear) .
    scale(sx, sy)`` followed by a translation; positive angles turn counter-clockwise, as
    in torchvision (``degrees=(90, 90)`` equals ``Rotate90(1)``). Each example draws its
    own parameters from ``(seed, index)``.

    Parameters
    ----------
    degrees
        Rotation angle range in degrees: ``d`` means ``(-d, d)``.
    translate
        ``None``; ``(fx, fy)``: shift up to ``fx * width`` and ``fy * height`` pixels
        either way; or ``"fit"``: a uniform shift that keeps the transformed ink bounding
        box inside the canvas (affNIST's rule).
    scale
        ``(low, high)`` scale factor range; ``None`` for no scaling.
    shear
        x-shear angle range in degrees (``s`` means ``(-s, s)``): ``x' = x + tan(angle) * y``.
    anisotropic
        Draw the horizontal and vertical scale factors independently.
    size
        Output canvas (int or ``(h, w)``); the input is centred on it. ``None``: the input size.
    seed
        Required: the randomness of example ``i`` is a function of ``(seed, index[i])``.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> ds = mf.load("mnist/sample", "test")
    >>> t = T.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10, seed=0)
    >>> t(ds.images, index=ds.index).shape
    (2000, 28, 28)
    >>> T.RandomAffine.affnist(seed=0)(ds.images[:4]).shape   # affNIST-like, on a 40x40 canvas
    (4, 40, 40)
    """

    pixels_per_block = _BLOCK

    def __init__(self, degrees: float | Sequence[float] = 0.0, translate: Sequence[float] | str | None = None,
                 scale: Sequence[float] | None = None, shear: float | Sequence[float] = 0.0,
                 anisotropic: bool = False, size: int | Sequence[int] | None = None, *, seed: int):
        self.degrees = _range(degrees, "RandomAffine", "degrees", symmetric=True, default=(0.0, 0.0))
        if translate is None or translate == "fit":
            self.translate: tuple[float, float] | str | None = translate
        elif isinstance(translate, (list, tuple)) and len(translate) == 2 and all(
                0 <= float(v) <= 1 for v in translate):
            self.translate = (float(translate[0]), float(translate[1]))
        else:
            raise TransformError(f"RandomAffine: translate must be None, 'fit' or a pair of fractions in "
                                 f"[0, 1] (of the width and height), found {translate!r}")
        self.scale = _range(scale, "RandomAffine", "scale", symmetric=False, default=(1.0, 1.0))
        if self.scale[0] <= 0:
            raise TransformError(f"RandomAffine: scale factors must be positive, found {scale!r}")
        self.shear = _range(shear, "RandomAffine", "shear", symmetric=True, default=(0.0, 0.0))
        if max(abs(v) for v in self.shear) >= 90:
            raise TransformError(f"RandomAffine: shear angles must be within (-90, 90) degrees, found {shear!r}")
        self.anisotropic = bool(anisotropic)
        self.size = None if size is None else _size_pair(size, "RandomAffine")
        self.seed = _rng.check_seed(seed, "RandomAffine")

    @classmethod
    def affnist(cls, *, seed: int) -> "RandomAffine":
        """The affNIST-like preset (Tieleman 2013) on a 40x40 canvas.

        Rotation within 20 degrees either way, shear factor within 0.2 either way (an
        angle of atan 0.2 = 11.3 degrees), horizontal and vertical scale drawn
        independently in [0.8, 1.2], and a translation that keeps the digit's bounding
        box inside the 40x40 canvas.
        """
        return cls(degrees=20.0, shear=math.degrees(math.atan(0.2)), scale=(0.8, 1.2), anisotropic=True,
                   translate="fit", size=40, seed=seed)

    def parameters(self, n_or_index: int | np.ndarray) -> dict[str, np.ndarray]:
        """The per-example draws (degrees, shear degrees, scale x/y) for these examples."""
        index = np.arange(n_or_index) if isinstance(n_or_index, (int, np.integer)) else np.asarray(n_or_index)
        s = self.seed
        angle = _rng.uniform(s, "RandomAffine.degrees", index, (), *self.degrees)
        shear = _rng.uniform(s, "RandomAffine.shear", index, (), *self.shear)
        sx = _rng.uniform(s, "RandomAffine.scale", index, (), *self.scale)
        sy = _rng.uniform(s, "RandomAffine.scale_y", index, (), *self.scale) if self.anisotropic else sx
        return {"degrees": angle, "shear": shear, "scale_x": sx, "scale_y": sy}

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        n, height, width = images.shape[:3]
        h, w = self.size or (height, width)
        p = self.parameters(index)
        theta = np.radians(p["degrees"])
        cos, sin, tan = np.cos(theta), np.sin(theta), np.tan(np.radians(p["shear"]))
        # forward linear part A = R . Sh . S, in (x, y) with y pointing down
        a = np.empty((n, 2, 2))
        a[:, 0, 0] = cos * p["scale_x"]
        a[:, 0, 1] = (cos * tan + sin) * p["scale_y"]
        a[:, 1, 0] = -sin * p["scale_x"]
        a[:, 1, 1] = (-sin * tan + cos) * p["scale_y"]
        c_in = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
        c_out = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
        t = self._translation(images, index, a, c_in, c_out, (h, w))
        inv = np.linalg.inv(a)
        # source = c_in + inv @ (out - c_out - t), written as (y, x) rows for affine_grid
        shift = -np.einsum("nij,nj->ni", inv, c_out + t) + c_in
        m = np.empty((n, 2, 3))
        m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = inv[:, 1, 1], inv[:, 1, 0], shift[:, 1]
        m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = inv[:, 0, 1], inv[:, 0, 0], shift[:, 0]
        return _warp(images, m, (h, w))

    def _translation(self, images: np.ndarray, index: np.ndarray, a: np.ndarray, c_in: np.ndarray,
                     c_out: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
        n = len(images)
        if self.translate is None:
            return np.zeros((n, 2))
        u = _rng.uniform(self.seed, "RandomAffine.translate", index, (2,))
        h, w = out_shape
        if self.translate != "fit":
            limit = np.array([self.translate[0] * w, self.translate[1] * h])
            return (2.0 * u - 1.0) * limit
        # "fit": the ink box's corners after the linear map bound the shift that keeps them inside
        rows, cols = _ink_rows_cols(np.greater(_gray(images), 0))
        has_ink = np.asarray(np.any(rows, axis=1))
        r0, r1 = rows.argmax(axis=1), rows.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
        k0, k1 = cols.argmax(axis=1), cols.shape[1] - 1 - cols[:, ::-1].argmax(axis=1)
        corners = np.stack([np.stack([k0, r0], -1), np.stack([k1, r0], -1),
                            np.stack([k0, r1], -1), np.stack([k1, r1], -1)], axis=1).astype(np.float64)
        moved = np.einsum("nij,nkj->nki", a, corners - c_in) + c_out   # (N, 4, (x, y))
        # keep the corner pixel centres one pixel clear of the edge: bilinear spreads ink by
        # up to a pixel, and that pixel must land on the canvas too
        low = 1.0 - moved.min(axis=1)
        high = np.array([w - 2.0, h - 2.0]) - moved.max(axis=1)
        too_big = low > high
        shift = np.where(too_big, (low + high) / 2.0, low + u * (high - low))
        return np.where(has_ink[:, None], shift, 0.0)


class ElasticDistortion(Transform):
    """Elastic distortion (Simard, Steinkraus & Platt 2003), bilinear.

    Each example gets two fields of uniform(-1, 1) numbers, smoothed by a Gaussian of
    standard deviation ``sigma`` pixels (scipy's ``gaussian_filter``, zero outside the
    image, as the common reference implementation) and scaled by ``alpha`` pixels; output
    pixel ``(y, x)`` reads the input at ``(y + dy, x + dx)``. Simard et al. used
    ``alpha=34, sigma=4`` on MNIST. The smoothing is one matrix product per axis for the
    whole batch; the fields depend on ``(seed, index)`` only.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> ds = mf.load("mnist/sample", "test")
    >>> t = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    >>> out = t(ds.images, index=ds.index)
    >>> out.shape, out.dtype
    ((2000, 28, 28), dtype('uint8'))
    >>> bool((t(ds.images[:7], index=ds.index[:7]) == out[:7]).all())   # batch size does not matter
    True
    """

    pixels_per_block = _BLOCK

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0, *, seed: int):
        self.alpha = float(alpha)
        self.sigma = float(sigma)
        if self.sigma <= 0 or self.alpha < 0:
            raise TransformError(f"ElasticDistortion: sigma must be > 0 and alpha >= 0, found alpha={alpha!r}, "
                                 f"sigma={sigma!r}")
        self.seed = _rng.check_seed(seed, "ElasticDistortion")

    def displacements(self, index: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``(N, 2, H, W)`` float32 displacement fields ``(dy, dx)`` of these examples."""
        h, w = shape
        fields = _rng.uniform(self.seed, "ElasticDistortion", np.asarray(index), (2, h, w), -1.0, 1.0,
                              dtype=np.float32)
        fields = smooth_batch(fields, gaussian_matrix(h, self.sigma), gaussian_matrix(w, self.sigma))
        fields *= np.float32(self.alpha)
        return fields

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        h, w = images.shape[1:3]
        d = self.displacements(index, (h, w))
        src_y = d[:, 0]
        src_y += np.arange(1, h + 1, dtype=np.float32)[:, None]  # +1: the sampler's zero ring
        src_x = d[:, 1]
        src_x += np.arange(1, w + 1, dtype=np.float32)
        return restore_dtype(bilinear_padded(images, src_y, src_x), images.dtype)


class Deskew(Transform):
    """Second-moment deskewing, as in the classic MNIST results (LeCun et al. 1998).

    Per image: the centre of mass ``(cy, cx)`` and the skew ``alpha = mu11 / mu20`` (how far
    the ink's x moves per row, from the intensity moments). The shear ``x -> x + alpha *
    (y - H/2)`` makes the principal axis vertical and the centre of mass moves to
    ``(H/2, W/2)``, MNIST's own centring convention. Bilinear; empty images pass through.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images
    >>> skew = lambda m: abs(m["mu11"] / m["mu20"]).mean()
    >>> bool(skew(T.moments(T.Deskew()(x))) < 0.2 * skew(T.moments(x)))
    True
    """

    pixels_per_block = _BLOCK

    def __init__(self) -> None:
        pass

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        n, h, w = images.shape[:3]
        m = moments(images)
        skew = np.divide(m["mu11"], m["mu20"], out=np.zeros(n), where=m["mu20"] > 1e-9)
        ch, cw = h / 2.0, w / 2.0
        # output (y, x) reads (y + cy - H/2, x + skew (y - H/2) + cx - W/2): rows stay rows,
        # so two 1-D passes do it (shear_sample), at about half the cost of a 2-D warp
        row_shift = skew[:, None] * (np.arange(h) - ch) + (m["cx"] - cw)[:, None]
        return restore_dtype(shear_sample(images, m["cy"] - ch, row_shift), images.dtype)


class CenterOfMass(Transform):
    """Move each image's centre of mass to ``(H/2, W/2)``, as MNIST's digits were centred.

    With ``subpixel=False`` (default) the shift is rounded to whole pixels, so pixel values
    are moved, not resampled: real MNIST digits come back byte-identical. ``subpixel=True``
    shifts exactly, bilinear.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images
    >>> bool((T.CenterOfMass()(x) == x).all())
    True
    """

    pixels_per_block = _BLOCK

    def __init__(self, subpixel: bool = False):
        self.subpixel = bool(subpixel)

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        return _center(images, self.subpixel)


def _center(images: np.ndarray, subpixel: bool, out_dtype: np.dtype | None = None) -> np.ndarray:
    n, h, w = images.shape[:3]
    m = moments(images)
    dy, dx = m["cy"] - h / 2.0, m["cx"] - w / 2.0
    if not subpixel:  # half-way cases stay put, so an image already centred is a fixed point
        dy, dx = np.rint(dy), np.rint(dx)
    return restore_dtype(shear_sample(images, dy, dx[:, None]), out_dtype or images.dtype)
