"""What kind of example a Dataset holds, and where its channels go for each library.

The family has four kinds of example, told apart by the shape of one example:

``signal``  ``(L,)``: a 1-D series (MNIST-1D), any dtype
``gray``    ``(H, W)``: a grey image (MNIST and most of the family)
``color``   ``(H, W, C)`` with C in 1, 3, 4: channels last (MedMNIST RGB, SVHN, CIFAR)
``volume``  ``(D, H, W)``: a 3-D scan (MedMNIST 3D, 3D MNIST)

A ``(H, W, C)`` shape whose last axis is longer than 4 is a volume: no image format of the
family has more than four channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import AdapterError

KINDS = ("signal", "gray", "color", "volume")


def kind_of(images: np.ndarray, where: str = "dataset") -> str:
    """``signal``, ``gray``, ``color`` or ``volume`` for a batch ``(N, *example_shape)``."""
    ndim = images.ndim - 1
    if ndim == 1:
        return "signal"
    if ndim == 2:
        return "gray"
    if ndim == 3:
        return "color" if images.shape[-1] in (1, 3, 4) else "volume"
    raise AdapterError(f"{where}: examples of shape {tuple(images.shape[1:])} are neither signals (L,), images "
                      "(H, W) or (H, W, C), nor volumes (D, H, W); select or reshape them first")


def channels_first(batch: np.ndarray, kind: str) -> np.ndarray:
    """``(N, C, ...)``, as torch wants: gray ``(N, 1, H, W)``, colour ``(N, C, H, W)``,
    volume ``(N, 1, D, H, W)``, signal ``(N, 1, L)``. A view where possible."""
    if kind == "color":
        return np.moveaxis(batch, -1, 1)
    return batch[:, None]


def channels_last(batch: np.ndarray, kind: str) -> np.ndarray:
    """``(N, ..., C)``, as Keras and tfds want: gray ``(N, H, W, 1)``, volume ``(N, D, H, W, 1)``;
    colour is already so and a signal stays ``(N, L)``."""
    if kind in ("gray", "volume"):
        return batch[..., None]
    return batch


def to_unit_float(batch: np.ndarray, dtype: "np.dtype | type" = np.float32) -> np.ndarray:
    """Images as floats: uint8 divided by 255 (bit for bit what torchvision's ``ToTensor`` gives);
    float data (signals, transforms' output) cast only."""
    dtype = np.dtype(dtype)
    if batch.dtype == np.uint8:
        out = batch.astype(dtype)
        out /= dtype.type(255)  # a division, not a multiplication by 1/255: the bits ToTensor gives
        return out
    return batch.astype(dtype, copy=False)


def parse_dtype(dtype: object, where: str) -> np.dtype | None:
    """``None`` (as stored), ``"uint8"`` or a float dtype; anything else is an AdapterError."""
    if dtype is None:
        return None
    candidate: Any = getattr(dtype, "as_numpy_dtype", dtype)  # tf.float32 too
    try:
        parsed = np.dtype(candidate)
    except TypeError:
        parsed = None
    if parsed is None or not (parsed == np.uint8 or parsed.kind == "f"):
        raise AdapterError(f"{where}: dtype must be None (as stored), 'uint8' or a float type such as "
                          f"'float32', found {dtype!r}")
    return parsed
