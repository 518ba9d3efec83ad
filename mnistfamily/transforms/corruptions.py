"""MNIST-C's corruptions (Mu & Gilmer 2019, arXiv:1906.02337), as its authors' code makes them.

The fifteen corruptions of the MNIST-C benchmark, each a vectorised transform over the whole
batch: here the noises, brightness, stripe and spatter; shear, scale, rotate and translate in
:mod:`.warps`, the blurs in :mod:`.blurs`, fog in :mod:`.fog`, the dotted line and zigzag in
:mod:`.strokes`, Canny edges in :mod:`.canny`. Default parameters are the severities MNIST-C's
reference code (google-research/mnist-c ``corruptions.py``) uses for the published benchmark
(its functions' default ``severity``); docs/transforms.md lists them and how each compares with
the reference, measured by ``benchmarks/mnist_c_compare.py``.

Every corruption works on the ``[0, 1]`` scale (uint8 is divided by 255) and returns the
input's kind: uint8 (rounded, clipped) or float32 clipped to ``[0, 1]``. Batches with
channels are corrupted channel by channel with the same randomness per example. Random
corruptions take a ``seed`` and draw per example from ``(seed, index)``; those that draw a few
parameters per example (an angle, a sign, a row) show them with :meth:`~_Corruption.parameters`
and can be run with given ones (:meth:`~_Corruption.with_parameters`), which is how they are
compared with the reference image by image.
"""

from __future__ import annotations

import numpy as np

from . import _rng
from .base import Transform, TransformError, restore_dtype
from .blurs import GlassBlur, MotionBlur
from .canny import CannyEdges
from .corruption import _Corruption, _Parametric
from .fog import Fog
from .strokes import DottedLine, Zigzag
from .warps import Rotate, Scale, Shear, Translate

__all__ = ["MNIST_C", "mnist_c", "ShotNoise", "ImpulseNoise", "Brightness", "Stripe", "Spatter"]


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


# ----------------------------------------------------------------------------------------------
# intensity


class Brightness(_Parametric):
    """Raise brightness by ``amount`` (HSV value + amount, which for grey images is ``x + amount``). MNIST-C: 0.5.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.Brightness()(np.array([[[0.0, 0.3, 0.8]]], np.float32))
    array([[[0.5, 0.8, 1. ]]], dtype=float32)
    """

    def __init__(self, amount: float = 0.5):
        self.amount = float(amount)

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        x += np.float32(self.amount)
        return x


class Stripe(_Parametric):
    """Invert the left and right quarters of the image (columns ``[:W//4]`` and ``[W - W//4:]``). MNIST-C.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.Stripe()(np.zeros((1, 1, 28), np.uint8))[0, 0, ::4]   # columns 0-6 and 21-27 inverted
    array([255, 255,   0,   0,   0,   0, 255], dtype=uint8)
    """

    def __init__(self) -> None:
        pass

    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        q = x.shape[2] // 4
        x[:, :, :q] = 1.0 - x[:, :, :q]
        x[:, :, x.shape[2] - q:] = 1.0 - x[:, :, x.shape[2] - q:]
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
    (['shot_noise', 'impulse_noise', 'glass_blur'], Fog(amount=3.0, decay=1.4, map_size=256, seed=0))
    """
    return {
        "shot_noise": ShotNoise(seed=seed), "impulse_noise": ImpulseNoise(seed=seed),
        "glass_blur": GlassBlur(seed=seed), "motion_blur": MotionBlur(seed=seed), "shear": Shear(seed=seed),
        "scale": Scale(), "rotate": Rotate(seed=seed), "brightness": Brightness(),
        "translate": Translate(seed=seed), "stripe": Stripe(), "fog": Fog(seed=seed),
        "spatter": Spatter(seed=seed), "dotted_line": DottedLine(seed=seed), "zigzag": Zigzag(seed=seed),
        "canny_edges": CannyEdges(),
    }
