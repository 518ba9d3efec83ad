"""Channels: grey images to channels-last ones, and back.

The family holds grey digits (MNIST) beside colour ones (SVHN, CIFAR, MNIST-M): models trained on
one are evaluated on the other, as torchvision's ``Grayscale(num_output_channels=3)`` lets them.
:class:`ToChannels` makes ``(N, H, W, C)`` from ``(N, H, W)``, each channel the grey image scaled
by its weight (``[1, 1, 1]``: grey as RGB; ``[1, 0]``: ColoredMNIST's digit in channel 0);
:class:`ToGray` makes ``(N, H, W)`` from ``(N, H, W, C)``, by default as Pillow's ``convert("L")``
(ITU-R 601-2 luma) computes it, byte for byte.

Examples
--------
>>> import numpy as np
>>> from mnistfamily import transforms as T
>>> grey = np.array([[[0, 100], [200, 255]]], np.uint8)
>>> T.ToChannels([1, 0.5])(grey)[0, 1].tolist()
[[200, 100], [255, 128]]
>>> T.ToGray()(T.ToChannels([1, 1, 1])(grey)).tolist() == grey.tolist()
True
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .base import Transform, TransformError, restore_dtype

__all__ = ["ToChannels", "ToGray"]

#: ITU-R 601-2 luma, as Pillow's convert("L") applies it: (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16
_PIL_LUMA = (19595, 38470, 7471)


def _weights(values: Any, owner: str) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)) or not values or not all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
        raise TransformError(f"{owner}: weights must be a non-empty list of numbers, one per channel, "
                             f"found {values!r}")
    out = tuple(float(v) for v in values)
    if any(not np.isfinite(v) or v < 0 for v in out):
        raise TransformError(f"{owner}: weights must be finite and non-negative, found {values!r}")
    return out


class ToChannels(Transform):
    """Grey ``(N, H, W)`` to channels last ``(N, H, W, C)``: channel ``k`` is the image times ``weights[k]``.

    ``weights=[1, 1, 1]`` repeats the grey image as RGB (torchvision's
    ``Grayscale(num_output_channels=3)`` the other way round); ``[1, 0]`` puts the digit in
    channel 0 of two (ColoredMNIST). uint8 stays uint8 (rounded, clipped); floats give float32.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> T.ToChannels([1, 1, 1])(mf.load("mnist/sample", "test").images).shape
    (2000, 28, 28, 3)
    """

    accepts = ("HW",)

    def __init__(self, weights: Sequence[float] = (1.0, 1.0, 1.0)):
        self.weights = _weights(list(weights) if isinstance(weights, tuple) else weights, "ToChannels")

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        if all(w == 1.0 for w in self.weights):  # exact copies: no arithmetic
            out = np.repeat(images[..., None], len(self.weights), axis=3)
            return out if images.dtype == np.uint8 else out.astype(np.float32, copy=False)
        values = images[..., None].astype(np.float32) * np.asarray(self.weights, np.float32)
        return restore_dtype(values, images.dtype)


class ToGray(Transform):
    """Channels last ``(N, H, W, C)`` to grey ``(N, H, W)``.

    By default the ITU-R 601-2 luma of the first three channels (a fourth, alpha, is ignored),
    for uint8 exactly Pillow's ``Image.convert("L")``, and so torchvision's ``Grayscale()``;
    for floats ``0.299 R + 0.587 G + 0.114 B``. ``weights`` (one per channel) gives another
    weighted sum (``[1, 1]`` for ColoredMNIST's two channels).

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> T.ToGray()(np.array([[[[255, 0, 0]]]], np.uint8)).tolist()
    [[[76]]]
    """

    accepts = ("HWC",)

    def __init__(self, weights: Sequence[float] | None = None):
        self.weights = None if weights is None else _weights(
            list(weights) if isinstance(weights, tuple) else weights, "ToGray")

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        channels = images.shape[3]
        if self.weights is not None:
            if len(self.weights) != channels:
                raise TransformError(f"ToGray: {len(self.weights)} weights for images with {channels} channels "
                                     f"(shape {images.shape}); give one per channel")
            values = images.astype(np.float32) @ np.asarray(self.weights, np.float32)
            return restore_dtype(values, images.dtype)
        if channels not in (3, 4):
            raise TransformError(f"ToGray: luma needs RGB (3 channels, or 4 with alpha); these images have "
                                 f"{channels}. Give weights=[...] with one number per channel.")
        rgb = images[..., :3]
        if images.dtype == np.uint8:  # Pillow's integer arithmetic, so the bytes match convert("L")
            luma = rgb.astype(np.uint32) @ np.asarray(_PIL_LUMA, np.uint32)
            return ((luma + 0x8000) >> 16).astype(np.uint8)
        return (rgb.astype(np.float32) @ np.asarray((0.299, 0.587, 0.114), np.float32)).astype(np.float32)
