"""MNIST-C's glass blur and motion blur, as the reference code makes them.

See :mod:`.corruptions` for the conventions (``[0, 1]`` scale, the input's kind out,
randomness per example) and docs/transforms.md for how they compare with the reference.
"""

from __future__ import annotations

import math

import numpy as np

from . import _rng
from .base import TransformError
from .corruption import _Corruption, _Parametric

__all__ = ["GlassBlur", "MotionBlur"]

_BLURS = ("vertical", "both")


class GlassBlur(_Corruption):
    """Blur, swap neighbouring pixels, blur again. MNIST-C: sigma 0.7, max_delta 1, iterations 2.

    As MNIST-C's ``glass_blur``:

    1. a Gaussian blur (``sigma``, edges repeated), truncated to 8 bits;
    2. ``iterations`` passes over the pixels from the bottom-right, rows ``H - max_delta`` down
       to ``max_delta + 1`` and the same columns, in which each pixel, with probability 1/2,
       swaps its value with the pixel at a random offset in ``[-max_delta, max_delta)`` on each
       axis. A value can move several times in one pass (it is carried up and left);
    3. the same blur again.

    ``blur="vertical"`` (the default) is MNIST-C's blur as it runs: the reference calls
    scikit-image's ``gaussian(..., multichannel=True)`` on a 2-D image, which takes the last
    axis for colour channels, so both of its blurs run down the columns only (sigma
    ``(0.7, 0)``). MNIST-C *is* that; ``blur="both"`` blurs in both directions, as was
    presumably meant (not MNIST-C).

    The swaps are the reference's sequential process, run for the whole batch at once: the
    pass is split into wavefronts of positions whose swaps touch disjoint pixels and keep the
    order of every pair that shares one, so each wavefront is one vectorised swap.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images[:10]
    >>> y = T.GlassBlur(seed=0)(x)
    >>> y.shape, bool((y != x).any(axis=(1, 2)).all())
    ((10, 28, 28), True)
    """

    compute_dtype = np.float64

    def __init__(self, sigma: float = 0.7, max_delta: int = 1, iterations: int = 2, blur: str = "vertical", *,
                 seed: int):
        self.sigma = float(sigma)
        self.max_delta = int(max_delta)
        self.iterations = int(iterations)
        self.blur = str(blur)
        if self.sigma <= 0 or self.max_delta < 1 or self.iterations < 0:
            raise TransformError(f"GlassBlur: need sigma > 0, max_delta >= 1, iterations >= 0; found "
                                 f"sigma={sigma!r}, max_delta={max_delta!r}, iterations={iterations!r}")
        if self.blur not in _BLURS:
            raise TransformError(f"GlassBlur: blur is 'vertical' (MNIST-C's, along the columns only) or 'both'; "
                                 f"found {blur!r}")
        self.seed = _rng.check_seed(seed, "GlassBlur")

    def _blur(self, x: np.ndarray) -> np.ndarray:
        from scipy import ndimage

        if self.blur == "vertical":
            return ndimage.gaussian_filter1d(x, self.sigma, axis=1, mode="nearest", truncate=4.0)
        return ndimage.gaussian_filter(x, (0.0, self.sigma, self.sigma), mode="nearest", truncate=4.0)

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        levels = np.floor(self._blur(x) * 255.0)  # MNIST-C: np.uint8(blurred * 255)
        self._swap(levels, index)
        levels /= 255.0
        return self._blur(levels)

    def _swap(self, x: np.ndarray, index: np.ndarray) -> None:
        """The reference's swap passes, in place on ``x`` ``(N, H, W)``."""
        n, h, w = x.shape
        d = self.max_delta
        rows = np.arange(h - d, d, -1)  # the reference's order: from the bottom row, right to left
        cols = np.arange(w - d, d, -1)
        if not len(rows) or not len(cols):
            return
        # A swap at (r, c) touches pixels within [r - d, r + d - 1] x [c - d, c + d - 1]. With
        # time 2 d i + j (i, j the position's rank in the reference's order), swaps at the same
        # time are at least 2 d columns or rows apart (disjoint), and two that share a pixel
        # happen in the reference's order.
        ri, ci = np.meshgrid(np.arange(len(rows)), np.arange(len(cols)), indexing="ij")
        time = (2 * d * ri + ci).ravel()
        order = np.argsort(time, kind="stable")
        bounds = np.searchsorted(time[order], np.arange(time.max() + 2))
        here = (rows[:, None] * w + cols[None, :]).ravel()
        flat = x.reshape(-1)
        base = (np.arange(n) * (h * w))[:, None]
        for it in range(self.iterations):
            u = _rng.uniform(self.seed, f"GlassBlur.{it}", index, (3, len(rows) * len(cols)), dtype=np.float32)
            move = u[:, 0] < 0.5
            dy = np.floor(u[:, 1] * 2 * d).astype(np.int64) - d  # np.random.randint(-d, d)
            dx = np.floor(u[:, 2] * 2 * d).astype(np.int64) - d
            there = here + (dy * w + dx) * move  # (N, positions): the partner, or itself
            src, dst = base + here[order], base + there[:, order]
            for t in range(len(bounds) - 1):
                a, b = bounds[t], bounds[t + 1]
                s, e = src[:, a:b], dst[:, a:b]
                mine, theirs = flat[s], flat[e]
                flat[s] = theirs
                flat[e] = mine


class MotionBlur(_Parametric):
    """Motion blur along a random direction, as ImageMagick makes it. MNIST-C: radius 10, sigma 3, 45 degrees.

    MNIST-C calls ImageMagick's ``MagickMotionBlurImage(radius, sigma, angle)``, angle uniform in
    ``(-max_degrees, max_degrees)`` (parameter ``degrees`` per example). Like ImageMagick 6:
    ``2 ceil(radius) + 1`` taps with weights ``exp(-i^2 / 2 sigma^2)`` normalised; tap ``i`` reads
    the pixel at ``(ceil(i sin a - 1/2), ceil(i cos a - 1/2))``; beyond the border the edge pixel
    repeats; the sum is taken in 16-bit units (``x * 65535``), rounded to a 16-bit value, then
    truncated to 8 bits when the 8-bit PNG is written. Output values are therefore multiples of
    1/255, the same bits as ImageMagick's for uint8 input.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> dot = np.zeros((1, 28, 28), np.uint8); dot[0, 14, 20] = 255
    >>> streak = T.MotionBlur(max_degrees=0, seed=0)(dot)[0, 14]   # angle 0: a horizontal trail
    >>> int((streak > 0).sum()) > 5
    True
    """

    compute_dtype = np.float64

    def __init__(self, radius: float = 10.0, sigma: float = 3.0, max_degrees: float = 45.0, *, seed: int):
        self.radius = float(radius)
        self.sigma = float(sigma)
        self.max_degrees = float(max_degrees)
        if self.radius <= 0 or self.sigma <= 0:
            raise TransformError(f"MotionBlur: need radius > 0 and sigma > 0, found radius={radius!r}, "
                                 f"sigma={sigma!r}")
        self.seed = _rng.check_seed(seed, "MotionBlur")

    def parameters(self, index: np.ndarray | range | list[int], shape: tuple[int, int] = (28, 28)
                   ) -> dict[str, np.ndarray]:
        return {"degrees": _rng.uniform(self.seed, "MotionBlur", np.asarray(index, np.int64), (),
                                        -self.max_degrees, self.max_degrees)}

    def kernel(self) -> np.ndarray:
        """The tap weights, computed as ImageMagick computes them (the same doubles)."""
        width = int(2.0 * math.ceil(self.radius) + 1.0)
        weights = [math.exp(-(float(i) * i) / (2.0 * self.sigma * self.sigma)) / (_SQ2PI * self.sigma)
                   for i in range(width)]
        total = 0.0
        for weight in weights:  # summed in order, as ImageMagick does
            total += weight
        return np.array([weight / total for weight in weights])

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        n, h, w = x.shape
        kernel = self.kernel()
        width = len(kernel)
        angle = (np.pi * np.asarray(parameters["degrees"], np.float64)) / 180.0  # ImageMagick's DegreesToRadians
        px, py = width * np.sin(angle), width * np.cos(angle)
        length = np.hypot(px, py)
        # ImageMagick's pixels are 16-bit: an 8-bit value v is 257 v
        flat = np.rint(x * 65535.0).ravel()
        base = (np.arange(n) * (h * w))[:, None, None]
        rows, cols = np.arange(h), np.arange(w)
        total = np.zeros((n, h, w))
        tap = np.empty((n, h, w))
        for i, weight in enumerate(kernel):
            dx = np.ceil(i * py / length - 0.5).astype(np.int64)
            dy = np.ceil(i * px / length - 0.5).astype(np.int64)
            # beyond the border the edge pixel repeats (ImageMagick's "edge" virtual pixels)
            at_row = np.clip(rows + dy[:, None], 0, h - 1) * w
            at_col = np.clip(cols + dx[:, None], 0, w - 1)
            np.take(flat, base + at_row[:, :, None] + at_col[:, None, :], out=tap)
            tap *= weight
            total += tap
        quantum = np.floor(np.clip(total, 0.0, 65535.0) + 0.5)  # ClampToQuantum
        return np.floor(quantum / 257.0) / 255.0  # the 8-bit PNG ImageMagick writes: q // 257


#: ImageMagick's MagickSQ2PI, sqrt(2 pi)
_SQ2PI = 2.50662827463100024161235523934010416269302368164062
