"""Pixel-value and layout transforms: type conversion, padding, cropping, flips, noise.

These are exact array operations (no resampling). Layout transforms keep the dtype; value
transforms follow the conventions of :mod:`mnistfamily.transforms.base`.
"""

from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np

from . import _rng
from .base import VALUE_LAYOUTS, Transform, TransformError, full_scale, restore_dtype

__all__ = ["ToFloat", "Normalize", "Pad", "CenterCrop", "Invert", "Binarize", "Transpose", "Rotate90",
           "Flip", "GaussianNoise"]


def _size_pair(size: Any, owner: str, what: str = "size") -> tuple[int, int]:
    """An int or an (h, w) pair, as a pair of positive ints."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        pair = (int(size), int(size))
    elif isinstance(size, (list, tuple)) and len(size) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size):
        pair = (int(size[0]), int(size[1]))
    else:
        raise TransformError(f"{owner}: {what} must be an int or an (height, width) pair of ints, found {size!r}")
    if min(pair) < 1:
        raise TransformError(f"{owner}: {what} must be positive, found {size!r}")
    return pair


def _per_channel(value: Any, owner: str, what: str) -> float | tuple[float, ...]:
    if isinstance(value, (list, tuple)):
        if not value:
            raise TransformError(f"{owner}: {what} is an empty list; give a number or one per channel")
        return tuple(float(v) for v in value)
    return float(value)


class ToFloat(Transform):
    """Convert to float32 on ``[0, 1]``: uint8 is divided by 255, floats are only cast.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.ToFloat()(np.full((1, 2, 2), 255, np.uint8)).max()
    np.float32(1.0)
    """

    accepts = VALUE_LAYOUTS  # value by value: any fixed-shape example

    def __init__(self) -> None:
        pass

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        if images.dtype == np.uint8:
            out = images.astype(np.float32)
            out *= np.float32(1.0 / 255.0)
            return out
        return images.astype(np.float32, copy=True)


class Normalize(Transform):
    """``(x - mean) / std`` on the ``[0, 1]`` scale; float32 output.

    uint8 input is first divided by 255, as ``ToTensor`` + ``Normalize`` do in torchvision,
    so the usual MNIST constants apply. ``mean``/``std`` are numbers, or one per channel
    for ``(N, H, W, C)`` batches.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = T.Normalize(mean=0.1307, std=0.3081)(mf.load("mnist/sample", "test").images)
    >>> x.dtype, round(float(x.mean()), 1), round(float(x.std()), 1)
    (dtype('float32'), 0.0, 1.0)
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]):
        self.mean = _per_channel(mean, "Normalize", "mean")
        self.std = _per_channel(std, "Normalize", "std")
        # one number works value by value (volumes and signals too); one per channel needs channels last
        self.accepts = VALUE_LAYOUTS if np.size(self.mean) == 1 and np.size(self.std) == 1 else ("HWC",)
        if np.any(np.asarray(self.std) <= 0):
            raise TransformError(f"Normalize: std must be positive, found {std!r}")

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        mean: np.ndarray = np.asarray(self.mean, np.float32).ravel()
        std: np.ndarray = np.asarray(self.std, np.float32).ravel()
        values = max(mean.size, std.size)
        channels = images.shape[3] if images.ndim == 4 else 1
        if values > 1 and (values != channels or min(mean.size, std.size) not in (1, values)):
            raise TransformError(f"Normalize: {mean.size} mean(s) and {std.size} std(s) for images with "
                                 f"{channels} channel(s) (shape {images.shape}); give one number or one per channel")
        if values == 1:
            mean, std = mean.reshape(()), std.reshape(())
        out = ToFloat()._apply(images, index)
        out -= mean
        out /= std
        return out


class Pad(Transform):
    """Pad every image with a constant (or by ``edge`` / ``reflect``), as ``torchvision`` ``Pad``.

    ``padding`` is an int (all sides), a pair ``(left/right, top/bottom)`` or four values
    ``(left, top, right, bottom)``, torchvision's order. ``fill`` is on the image's own
    scale (0-255 for uint8, 0-1 for floats). Same dtype out.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.Pad(6)(np.zeros((3, 28, 28), np.uint8)).shape
    (3, 40, 40)
    >>> T.Pad(6).spec()
    {'name': 'Pad', 'padding': [6, 6, 6, 6], 'fill': 0.0, 'mode': 'constant'}
    """

    _MODES = ("constant", "edge", "reflect", "symmetric")

    def __init__(self, padding: int | Sequence[int], fill: float = 0.0, mode: str = "constant"):
        p = [padding] if isinstance(padding, (int, np.integer)) else list(padding)
        if len(p) not in (1, 2, 4) or not all(isinstance(v, (int, np.integer)) and v >= 0 for v in p):
            raise TransformError(f"Pad: padding must be an int, (left/right, top/bottom) or (left, top, right, "
                                 f"bottom) of non-negative ints, found {padding!r}")
        if len(p) == 1:
            p = p * 4
        elif len(p) == 2:
            p = [p[0], p[1], p[0], p[1]]
        self.padding = tuple(int(v) for v in p)
        self.fill = float(fill)
        if mode not in self._MODES:
            raise TransformError(f"Pad: mode must be one of {', '.join(self._MODES)}, found {mode!r}")
        self.mode = mode

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        left, top, right, bottom = self.padding
        widths = [(0, 0), (top, bottom), (left, right)] + [(0, 0)] * (images.ndim - 3)
        if self.mode == "constant":
            fill = np.clip(self.fill, 0, 255) if images.dtype == np.uint8 else self.fill
            return np.pad(images, widths, mode="constant", constant_values=np.array(fill, images.dtype))
        return np.pad(images, widths, mode=cast(Any, self.mode))


class CenterCrop(Transform):
    """Crop the centre ``size`` (int or ``(h, w)``); pads with zeros where ``size`` is larger.

    The offset is ``round((H - h) / 2)``, as in torchvision. Same dtype out.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.CenterCrop(20)(np.zeros((3, 28, 28), np.uint8)).shape
    (3, 20, 20)
    """

    def __init__(self, size: int | Sequence[int]):
        self.size = _size_pair(size, "CenterCrop")

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        h, w = self.size
        height, width = images.shape[1:3]
        if h > height or w > width:  # pad first, symmetric like torchvision
            ph, pw = max(h - height, 0), max(w - width, 0)
            images = Pad((pw // 2, ph // 2, (pw + 1) // 2, (ph + 1) // 2))._apply(images, index)
            height, width = images.shape[1:3]
        top = int(round((height - h) / 2.0))
        left = int(round((width - w) / 2.0))
        return np.ascontiguousarray(images[:, top:top + h, left:left + w])


class Invert(Transform):
    """Swap ink and background: ``255 - x`` for uint8, ``1 - x`` for floats. Same dtype out.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.Invert()(np.array([[[0, 200]]], np.uint8))
    array([[[255,  55]]], dtype=uint8)
    """

    accepts = VALUE_LAYOUTS  # value by value: any fixed-shape example

    def __init__(self) -> None:
        pass

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        if images.dtype == np.uint8:
            return np.subtract(np.uint8(255), images)
        return (1.0 - images).astype(images.dtype, copy=False)


class Binarize(Transform):
    """Pixels above ``threshold`` (a fraction of full scale) become white, the rest black.

    uint8 gives 0/255, floats give 0.0/1.0 (same dtype).

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.Binarize(0.5)(np.array([[[100, 128, 250]]], np.uint8))
    array([[[  0, 255, 255]]], dtype=uint8)
    """

    accepts = VALUE_LAYOUTS  # value by value: any fixed-shape example

    def __init__(self, threshold: float = 0.5):
        self.threshold = float(threshold)

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        high = full_scale(images.dtype)
        mask = images > self.threshold * high
        out = np.zeros_like(images)
        out[mask] = high
        return out


class Transpose(Transform):
    """Swap the height and width axes (the fix EMNIST's published images need). Its own inverse.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> x = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    >>> T.Transpose()(x).shape, bool((T.Transpose()(T.Transpose()(x)) == x).all())
    ((1, 3, 2), True)
    """

    def __init__(self) -> None:
        pass

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.swapaxes(images, 1, 2))


class Rotate90(Transform):
    """Rotate by ``k`` quarter turns counter-clockwise (``np.rot90``); ``Rotate90(-k)`` undoes it.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> x = np.arange(4, dtype=np.uint8).reshape(1, 2, 2)
    >>> T.Rotate90(1)(x)[0]
    array([[1, 3],
           [0, 2]], dtype=uint8)
    """

    def __init__(self, k: int = 1):
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise TransformError(f"Rotate90: k must be an int (quarter turns), found {k!r}")
        self.k = int(k) % 4

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.rot90(images, self.k, axes=(1, 2)))


class Flip(Transform):
    """Mirror every image: ``direction="horizontal"`` (left-right) or ``"vertical"`` (up-down).

    Deterministic and its own inverse. Same dtype out.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.Flip("horizontal")(np.array([[[1, 2, 3]]], np.uint8))
    array([[[3, 2, 1]]], dtype=uint8)
    """

    def __init__(self, direction: str = "horizontal"):
        if direction not in ("horizontal", "vertical"):
            raise TransformError(f"Flip: direction must be 'horizontal' or 'vertical', found {direction!r}")
        self.direction = direction

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        axis = 2 if self.direction == "horizontal" else 1
        return np.ascontiguousarray(np.flip(images, axis=axis))


class GaussianNoise(Transform):
    """Add ``N(0, std)`` noise per pixel; ``std`` is a fraction of full scale (0.1 = 25.5 grey levels).

    Per-example noise depends on ``(seed, index)`` only. uint8 in -> uint8 out (rounded,
    clipped); float in -> float32, clipped to ``[0, 1]`` when ``clip`` (turn it off after
    :class:`Normalize`).

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> ds = mf.load("mnist/sample", "test")
    >>> noisy = T.GaussianNoise(std=0.1, seed=0)(ds.images, index=ds.index)
    >>> noisy.dtype, bool((noisy != ds.images).any())
    (dtype('uint8'), True)
    """

    pixels_per_block = 1 << 18

    accepts = VALUE_LAYOUTS  # value by value: any fixed-shape example

    def __init__(self, std: float, seed: int, clip: bool = True):
        self.std = float(std)
        if self.std < 0:
            raise TransformError(f"GaussianNoise: std must be >= 0, found {std!r}")
        self.seed = _rng.check_seed(seed, "GaussianNoise")
        self.clip = bool(clip)

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        noise = _rng.normal(self.seed, "GaussianNoise", index, images.shape[1:], dtype=np.float32)
        noise *= np.float32(self.std * full_scale(images.dtype))
        noise += images
        return restore_dtype(noise, images.dtype, clip_float=self.clip)
