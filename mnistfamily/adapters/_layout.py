"""What kind of example a Dataset holds, and where its channels go for each library.

The adapters lay out four kinds of example (a Dataset's ``layout`` says which):

``signal``  ``(L,)``: a 1-D series (MNIST-1D, a recording); varying lengths are a ``Signals``
``gray``    ``(H, W)``: a grey image (MNIST and most of the family)
``color``   ``(H, W, C)``: channels last (MedMNIST RGB, SVHN, CIFAR)
``volume``  ``(D, H, W)``: a 3-D scan (MedMNIST 3D, 3D MNIST)

A bare array (no Dataset) is told apart by its shape: a ``(H, W, C)`` whose last axis is longer
than 4 is a volume, since no image format of the family has more than four channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import AdapterError

KINDS = ("signal", "gray", "color", "volume")
_BY_LAYOUT = {"HW": "gray", "HWC": "color", "DHW": "volume", "L": "signal", "signal": "signal"}


def kind_of(data: Any, where: str = "dataset") -> str:
    """``signal``, ``gray``, ``color`` or ``volume``: of a Dataset (what its registry entry says), or of a
    batch ``(N, *example_shape)`` by its shape."""
    layout = getattr(data, "layout", None)
    if isinstance(layout, str):
        return _BY_LAYOUT[layout]
    images = data
    ndim = images.ndim - 1
    if ndim == 1:
        return "signal"
    if ndim == 2:
        return "gray"
    if ndim == 3:
        return "color" if images.shape[-1] in (1, 3, 4) else "volume"
    raise AdapterError(f"{where}: examples of shape {tuple(images.shape[1:])} are neither signals (L,), images "
                      "(H, W) or (H, W, C), nor volumes (D, H, W); select or reshape them first")


def fixed_shape(dataset: Any, where: str, what: str) -> np.ndarray:
    """The dataset's examples as one array; signals of varying length are an AdapterError saying what to do."""
    from ..examples import Signals

    if isinstance(dataset.examples, Signals):
        raise AdapterError(f"{where}: {dataset.name or 'the dataset'} holds signals of varying length, and {what} "
                           "takes one array of examples. Make them one length first: "
                           "ds.map(mnistfamily.transforms.PadOrCrop(length)).")
    return dataset.examples


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


def to_unit_float(batch: np.ndarray, dtype: "np.dtype | type" = np.float32, *,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Images as floats: uint8 divided by 255 (bit for bit what torchvision's ``ToTensor`` gives);
    float data (signals, transforms' output) cast only.

    ``out``: an array of ``batch``'s shape and ``dtype`` to write into (a worker's shared
    segment), instead of a new one.
    """
    dtype = np.dtype(dtype)
    if out is not None:
        np.copyto(out, batch, casting="unsafe")
        if batch.dtype == np.uint8:
            out /= dtype.type(255)
        return out
    if batch.dtype == np.uint8:
        result = batch.astype(dtype)
        result /= dtype.type(255)  # a division, not a multiplication by 1/255: the bits ToTensor gives
        return result
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
