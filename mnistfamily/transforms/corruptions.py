"""Corruptions in the spirit of MNIST-C (Mu & Gilmer 2019, arXiv:1906.02337).

The fifteen corruptions of the MNIST-C benchmark, each a vectorised transform over the
whole batch (the three that draw, ``DottedLine``, ``Zigzag`` and ``CannyEdges``, are in
:mod:`.strokes`). Default parameters are the severities the MNIST-C reference code uses for the
published benchmark (its functions' default ``severity``); docs/transforms.md lists them.
Where the reference relies on a sequential or external algorithm (ImageMagick's motion
blur, a per-pixel swap loop, a 256x256 diamond-square map), the vectorised version is
named and its difference stated in the class docstring.

Every corruption works on the ``[0, 1]`` scale (uint8 is divided by 255) and returns the
input's kind: uint8 (rounded, clipped) or float32 clipped to ``[0, 1]``. Batches with
channels are corrupted channel by channel with the same randomness per example. Random
corruptions take a ``seed`` and draw per example from ``(seed, index)``.
"""

from __future__ import annotations

import abc
import math

import numpy as np

from . import _rng
from ._sampling import affine_grid, bilinear_padded
from .base import Transform, TransformError, restore_dtype

__all__ = ["MNIST_C", "mnist_c", "ShotNoise", "ImpulseNoise", "GlassBlur", "MotionBlur", "Shear", "Scale",
           "Rotate", "Brightness", "Translate", "Stripe", "Fog", "Spatter"]


class _Corruption(Transform):
    """Shared plumbing: to ``[0, 1]`` float32, ``_corrupt``, back to the input's kind."""

    pixels_per_block = 1 << 18

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        x = images.astype(np.float32)
        if images.dtype == np.uint8:
            x *= np.float32(1.0 / 255.0)
        if x.ndim == 4:  # each channel as an image of its own, same randomness per example
            n, h, w, c = x.shape
            planes = np.moveaxis(x, 3, 1).reshape(n * c, h, w)
            y = self._corrupt(planes, np.repeat(index, c))
            y = np.moveaxis(y.reshape(n, c, h, w), 1, 3)
        else:
            y = self._corrupt(x, index)
        np.clip(y, 0.0, 1.0, out=y)
        if images.dtype == np.uint8:
            y *= np.float32(255.0)
            return restore_dtype(np.ascontiguousarray(y), images.dtype)
        return np.ascontiguousarray(y, dtype=np.float32)

    @abc.abstractmethod
    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The corruption on float32 images in ``[0, 1]``, one plane per example."""


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


# ----------------------------------------------------------------------------------------------
# noise


class ShotNoise(_Corruption):
    """Poisson (shot) noise: each pixel becomes ``Poisson(x * rate) / rate``. MNIST-C: rate 3.

    Poisson draws are exact, by inversion of the CDF with one uniform number per pixel:
    a walk up the CDF over the pixels still searching (dark pixels stop at once), or
    scipy's inverse Poisson CDF for means above 30.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images[:10]
    >>> y = T.ShotNoise(seed=0)(x)
    >>> y.shape, y.dtype, bool((y != x).any())
    ((10, 28, 28), dtype('uint8'), True)
    """

    def __init__(self, rate: float = 3.0, *, seed: int):
        self.rate = float(rate)
        if self.rate <= 0:
            raise TransformError(f"ShotNoise: rate must be positive, found {rate!r}")
        self.seed = _rng.check_seed(seed, "ShotNoise")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        lam = (x.astype(np.float64) * self.rate).ravel()
        u = _rng.uniform(self.seed, "ShotNoise", index, x.shape[1:]).ravel()
        k = np.zeros(lam.size, np.float64)
        large = lam > _SEARCH_LIMIT
        if large.any():  # a long search: invert the CDF with scipy's inverse of the Poisson CDF
            from scipy import special

            k[large] = np.ceil(special.pdtrik(u[large], lam[large]))
        # small means: walk up the CDF, only over the pixels still searching
        p = np.exp(-lam)
        cdf = p.copy()
        active = np.flatnonzero((u > cdf) & ~large)
        for step in range(1, 10 * _SEARCH_LIMIT):  # P(K > 10 * mean) is below 1e-30 here
            if not active.size:
                break
            k[active] = step
            p[active] *= lam[active] / step
            cdf[active] += p[active]
            active = active[u[active] > cdf[active]]
        return (k / self.rate).astype(np.float32).reshape(x.shape)


#: Poisson means above this are inverted with scipy.special.pdtrik instead of a CDF walk
_SEARCH_LIMIT = 30


class ImpulseNoise(_Corruption):
    """Salt-and-pepper noise: a fraction ``amount`` of pixels set to white or black (half each).

    MNIST-C: amount 0.17 (scikit-image ``random_noise(mode="s&p")``).

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> y = T.ImpulseNoise(seed=0)(np.zeros((100, 28, 28), np.uint8))
    >>> bool(abs((y == 255).mean() - 0.17 / 2) < 0.01)   # half of the hit pixels turn white
    True
    """

    def __init__(self, amount: float = 0.17, *, seed: int):
        self.amount = float(amount)
        if not 0 <= self.amount <= 1:
            raise TransformError(f"ImpulseNoise: amount is a fraction in [0, 1], found {amount!r}")
        self.seed = _rng.check_seed(seed, "ImpulseNoise")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        u = _rng.uniform(self.seed, "ImpulseNoise", index, (2, *x.shape[1:]), dtype=np.float32)
        hit = u[:, 0] < self.amount
        x[hit] = (u[:, 1][hit] < 0.5).astype(np.float32)  # salt (1) or pepper (0), even odds
        return x


class GlassBlur(_Corruption):
    """Blur, locally scramble pixels, blur again. MNIST-C: sigma 0.7, max_delta 1, iterations 2.

    Gaussian blur (``sigma``), quantised to 8 bits as in MNIST-C, then ``iterations`` rounds
    in which every pixel at least ``max_delta`` from the border, with probability 1/2, takes
    the value of the pixel at a random offset in ``[-max_delta, max_delta)`` on each axis,
    then a second blur. MNIST-C swaps pixel pairs one at a time in a Python loop; taking a
    neighbour's value is the vectorised equivalent (the same local scrambling, though a
    pixel value can be copied twice instead of exchanged).

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images[:10]
    >>> y = T.GlassBlur(seed=0)(x)
    >>> y.shape, bool((y != x).any(axis=(1, 2)).all())
    ((10, 28, 28), True)
    """

    def __init__(self, sigma: float = 0.7, max_delta: int = 1, iterations: int = 2, *, seed: int):
        self.sigma = float(sigma)
        self.max_delta = int(max_delta)
        self.iterations = int(iterations)
        if self.sigma <= 0 or self.max_delta < 1 or self.iterations < 0:
            raise TransformError(f"GlassBlur: need sigma > 0, max_delta >= 1, iterations >= 0; found "
                                 f"sigma={sigma!r}, max_delta={max_delta!r}, iterations={iterations!r}")
        self.seed = _rng.check_seed(seed, "GlassBlur")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        from scipy import ndimage

        n, h, w = x.shape
        s = (0.0, self.sigma, self.sigma)
        x = np.floor(ndimage.gaussian_filter(x, s, mode="nearest", truncate=4.0) * 255.0) / 255.0
        d = self.max_delta
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        inside = (ys >= d) & (ys < h - d) & (xs >= d) & (xs < w - d)
        base = (np.arange(n) * (h * w))[:, None, None]
        for it in range(self.iterations):
            u = _rng.uniform(self.seed, f"GlassBlur.{it}", index, (3, h, w), dtype=np.float32)
            move = (u[:, 0] < 0.5) & inside
            dy = np.floor(u[:, 1] * 2 * d).astype(np.int64) - d
            dx = np.floor(u[:, 2] * 2 * d).astype(np.int64) - d
            src = base + np.clip(ys + dy * move, 0, h - 1) * w + np.clip(xs + dx * move, 0, w - 1)
            x = x.ravel()[src]
        return ndimage.gaussian_filter(x.astype(np.float32), s, mode="nearest", truncate=4.0)


class MotionBlur(_Corruption):
    """Motion blur along a random direction. MNIST-C: radius 10, sigma 3, angle within 45 degrees.

    ImageMagick's ``-motion-blur radius x sigma + angle``, which MNIST-C calls: the output
    is a one-sided Gaussian-weighted average of ``2 * ceil(radius) + 1`` pixels at whole-pixel
    offsets ``(round(i sin a), round(i cos a))`` along the angle, the angle drawn uniformly in
    ``(-max_degrees, max_degrees)`` per example. Zero beyond the border (ImageMagick repeats
    the edge; MNIST's borders are black either way).

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> dot = np.zeros((1, 28, 28), np.uint8); dot[0, 14, 20] = 255
    >>> streak = T.MotionBlur(max_degrees=0, seed=0)(dot)[0, 14]   # angle 0: a horizontal trail
    >>> int((streak > 0).sum()) > 5
    True
    """

    def __init__(self, radius: float = 10.0, sigma: float = 3.0, max_degrees: float = 45.0, *, seed: int):
        self.radius = float(radius)
        self.sigma = float(sigma)
        self.max_degrees = float(max_degrees)
        if self.radius < 0 or self.sigma <= 0:
            raise TransformError(f"MotionBlur: need radius >= 0 and sigma > 0, found radius={radius!r}, "
                                 f"sigma={sigma!r}")
        self.seed = _rng.check_seed(seed, "MotionBlur")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        n, h, w = x.shape
        taps = 2 * math.ceil(self.radius) + 1
        kernel = np.exp(-np.arange(taps) ** 2 / (2.0 * self.sigma**2))
        kernel /= kernel.sum()
        angle = np.radians(_rng.uniform(self.seed, "MotionBlur", index, (), -self.max_degrees, self.max_degrees))
        # pad once by the longest offset; each tap is then one gather at a per-example offset
        pad = taps
        padded = np.zeros((n, h + 2 * pad, w + 2 * pad), np.float32)
        padded[:, pad:pad + h, pad:pad + w] = x
        flat = padded.ravel()
        pw = w + 2 * pad
        grid = ((np.arange(n) * (h + 2 * pad) * pw)[:, None, None]
                + (np.arange(h)[:, None] + pad) * pw + (np.arange(w) + pad))
        out = np.zeros_like(x)
        for i, weight in enumerate(kernel):
            if weight < 1e-7:  # the Gaussian's tail adds nothing visible
                break
            dy = np.rint(i * np.sin(angle)).astype(np.int64)
            dx = np.rint(i * np.cos(angle)).astype(np.int64)
            out += np.float32(weight) * flat[grid + (dy * pw + dx)[:, None, None]]
        return out


# ----------------------------------------------------------------------------------------------
# affine


class Shear(_Corruption):
    """Shear by ``radians`` with a random sign, about the centre. MNIST-C: 0.4.

    As scikit-image's ``AffineTransform(shear=s)`` used as the inverse map: the output
    pixel ``(x, y)`` reads ``(x - sin(s) y, cos(s) y)`` relative to the centre.

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

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        s = self.radians * _rng.signs(self.seed, "Shear", index)
        linear = np.zeros((len(x), 2, 2))
        linear[:, 0, 0] = np.cos(s)            # source y =  cos(s) y
        linear[:, 1, 0] = -np.sin(s)           # source x = -sin(s) y + x
        linear[:, 1, 1] = 1.0
        return _warp01(x, _about_centre(linear, np.zeros(2), x.shape[1:3]))


class Scale(_Corruption):
    """Scale the image by ``factor`` about the centre (deterministic). MNIST-C: 0.7 (a smaller digit)."""

    def __init__(self, factor: float = 0.7):
        self.factor = float(factor)
        if self.factor <= 0:
            raise TransformError(f"Scale: factor must be positive, found {factor!r}")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        linear = np.broadcast_to(np.eye(2) / self.factor, (len(x), 2, 2))
        return _warp01(x, _about_centre(linear, np.zeros(2), x.shape[1:3]))


class Rotate(_Corruption):
    """Rotate by ``radians`` with a random sign, about the centre. MNIST-C: 0.4 (23 degrees)."""

    def __init__(self, radians: float = 0.4, *, seed: int):
        self.radians = float(radians)
        self.seed = _rng.check_seed(seed, "Rotate")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        a = self.radians * _rng.signs(self.seed, "Rotate", index)
        cos, sin = np.cos(a), np.sin(a)
        linear = np.empty((len(x), 2, 2))      # (y, x) rows of the rotation [[cos, -sin], [sin, cos]] in (x, y)
        linear[:, 0, 0], linear[:, 0, 1] = cos, sin
        linear[:, 1, 0], linear[:, 1, 1] = -sin, cos
        return _warp01(x, _about_centre(linear, np.zeros(2), x.shape[1:3]))


class Translate(_Corruption):
    """Shift by ``pixels`` on both axes, each with a random sign. MNIST-C: 3."""

    def __init__(self, pixels: int = 3, *, seed: int):
        self.pixels = int(pixels)
        self.seed = _rng.check_seed(seed, "Translate")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        shift = self.pixels * _rng.signs(self.seed, "Translate", index, (2,))
        linear = np.broadcast_to(np.eye(2), (len(x), 2, 2))
        m = _about_centre(linear, np.zeros(2), x.shape[1:3])
        m[:, :, 2] += shift
        return _warp01(x, m)


# ----------------------------------------------------------------------------------------------
# intensity


class Brightness(_Corruption):
    """Raise brightness by ``amount`` (HSV value + amount, which for grey images is ``x + amount``). MNIST-C: 0.5."""

    def __init__(self, amount: float = 0.5):
        self.amount = float(amount)

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        x += np.float32(self.amount)
        return x


class Stripe(_Corruption):
    """Invert the left and right quarters of the image (columns ``[:W//4]`` and ``[W - W//4:]``). MNIST-C."""

    def __init__(self) -> None:
        pass

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        q = x.shape[2] // 4
        x[:, :, :q] = 1.0 - x[:, :, :q]
        x[:, :, x.shape[2] - q:] = 1.0 - x[:, :, x.shape[2] - q:]
        return x


class Fog(_Corruption):
    """Add a plasma-fractal haze. MNIST-C: amount 3.0, decay 1.4.

    ``x + amount * fractal``, rescaled by ``max(x) / (max(x) + amount)``. The fractal is
    diamond-square on a periodic map of the next power of two at least the image size (32
    for MNIST), normalised to ``[0, 1]``, its first noise amplitude set to what the 32-pixel
    level has in MNIST-C's 256x256 map (``100 / decay**3``). MNIST-C crops 28x28 from a
    256x256 map; drawing only what is shown keeps this vectorised and cheap.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images
    >>> spread = lambda m: (m["mu20"] + m["mu02"]) ** 0.5
    >>> round(float((spread(T.moments(T.Scale()(x))) / spread(T.moments(x))).mean()), 1)
    0.7

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> T.Rotate(seed=0)(mf.load("mnist/sample", "test").images[:10]).shape
    (10, 28, 28)

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> dot = np.zeros((1, 28, 28), np.uint8); dot[0, 14, 14] = 255
    >>> moved = T.Translate(seed=0)(dot)[0]
    >>> [abs(int(v) - 14) for v in np.argwhere(moved)[0]]
    [3, 3]

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.Brightness()(np.array([[[0.0, 0.3, 0.8]]], np.float32))
    array([[[0.5, 0.8, 1. ]]], dtype=float32)

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.Stripe()(np.zeros((1, 1, 28), np.uint8))[0, 0, ::4]   # columns 0-6 and 21-27 inverted
    array([255, 255,   0,   0,   0,   0, 255], dtype=uint8)

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images[:10]
    >>> int(T.Fog(seed=0)(x)[x == 0].mean()) > 50   # the black background turns to haze
    True
    """

    def __init__(self, amount: float = 3.0, decay: float = 1.4, *, seed: int):
        self.amount = float(amount)
        self.decay = float(decay)
        if self.decay <= 0:
            raise TransformError(f"Fog: decay must be positive, found {decay!r}")
        self.seed = _rng.check_seed(seed, "Fog")

    def fractal(self, index: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``(N, H, W)`` plasma maps on ``[0, 1]`` for these examples."""
        size = 1 << max(1, math.ceil(math.log2(max(shape))))
        n = len(index)
        maps = np.zeros((n, size, size))
        wibble = 100.0 / self.decay ** math.log2(256 / size) if size < 256 else 100.0
        step, level = size, 0
        while step >= 2:
            half = step // 2

            def noisy_mean(total: np.ndarray, what: str) -> np.ndarray:
                noise = _rng.uniform(self.seed, f"Fog.{level}.{what}", index, total.shape[1:], -wibble, wibble)
                return total / 4.0 + wibble * noise

            corners = maps[:, 0::step, 0::step]
            square = corners + np.roll(corners, -1, axis=1)
            square += np.roll(square, -1, axis=2)
            maps[:, half::step, half::step] = noisy_mean(square, "square")
            centres = maps[:, half::step, half::step]
            corners = maps[:, 0::step, 0::step]
            left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
            maps[:, 0::step, half::step] = noisy_mean(left, "top")
            top = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
            maps[:, half::step, 0::step] = noisy_mean(top, "left")
            step, level, wibble = half, level + 1, wibble / self.decay
        maps -= maps.min(axis=(1, 2), keepdims=True)
        peak = maps.max(axis=(1, 2), keepdims=True)
        maps /= np.where(peak > 0, peak, 1.0)
        return maps[:, :shape[0], :shape[1]]

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        peak = x.max(axis=(1, 2), keepdims=True)
        x += np.float32(self.amount) * self.fractal(index, x.shape[1:3]).astype(np.float32)
        x *= peak / (peak + np.float32(self.amount))
        return x


class Spatter(_Corruption):
    """Mud spatter: blobs of grey (63/255) over the digit. MNIST-C: the severity-4 mud setting.

    A Gaussian noise layer (``mean``, ``std``) blurred by ``sigma`` and thresholded at
    ``threshold`` gives blobs; their mask, blurred by ``mask_sigma`` and cut below 0.8,
    blends the mud colour in: ``x (1 - m) + 63/255 m``.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> mud = T.Spatter(seed=0)(np.zeros((100, 28, 28), np.uint8))
    >>> sorted(set(np.unique(mud).tolist()) - {0})[-1] <= 63   # grey blobs on black
    True
    """

    def __init__(self, mean: float = 0.65, std: float = 0.3, sigma: float = 1.0, threshold: float = 0.65,
                 mask_sigma: float = 1.5, *, seed: int):
        self.mean, self.std, self.sigma = float(mean), float(std), float(sigma)
        self.threshold, self.mask_sigma = float(threshold), float(mask_sigma)
        self.seed = _rng.check_seed(seed, "Spatter")

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        from scipy import ndimage

        liquid = _rng.normal(self.seed, "Spatter", index, x.shape[1:], dtype=np.float32)
        liquid *= np.float32(self.std)
        liquid += np.float32(self.mean)
        liquid = ndimage.gaussian_filter(liquid, (0, self.sigma, self.sigma), mode="nearest", truncate=4.0)
        mask = ndimage.gaussian_filter((liquid > self.threshold).astype(np.float32),
                                       (0, self.mask_sigma, self.mask_sigma), mode="nearest", truncate=4.0)
        mask[mask < 0.8] = 0.0
        x *= 1.0 - mask
        x += np.float32(63.0 / 255.0) * mask
        return x


#: the MNIST-C benchmark's corruptions, in its order
MNIST_C = ("shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate", "brightness",
           "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges")


def mnist_c(seed: int = 0) -> dict[str, Transform]:
    """The fifteen MNIST-C corruptions at the benchmark's settings, by MNIST-C name.

    Examples
    --------
    >>> from mnistfamily import transforms as T
    >>> c = T.mnist_c(seed=0)
    >>> list(c)[:3], c["fog"]
    (['shot_noise', 'impulse_noise', 'glass_blur'], Fog(amount=3.0, decay=1.4, seed=0))
    """
    from .strokes import CannyEdges, DottedLine, Zigzag  # they build on this module

    return {
        "shot_noise": ShotNoise(seed=seed), "impulse_noise": ImpulseNoise(seed=seed),
        "glass_blur": GlassBlur(seed=seed), "motion_blur": MotionBlur(seed=seed), "shear": Shear(seed=seed),
        "scale": Scale(), "rotate": Rotate(seed=seed), "brightness": Brightness(),
        "translate": Translate(seed=seed), "stripe": Stripe(), "fog": Fog(seed=seed),
        "spatter": Spatter(seed=seed), "dotted_line": DottedLine(seed=seed), "zigzag": Zigzag(seed=seed),
        "canny_edges": CannyEdges(),
    }
