"""``mf.load_data(name)``: the arrays ``keras.datasets.mnist.load_data()`` returns, for the whole family.

``((x_train, y_train), (x_test, y_test))``: the images uint8 ``(N, H, W)`` (channels last for
colour), the labels uint8 ``(N,)``, every array an ordinary in-memory, writable numpy array, as
Keras gives them, so a script written for ``keras.datasets.mnist`` changes one line. No Keras
or TensorFlow is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import AdapterError
from ._layout import fixed_shape


def _keras_labels(labels: np.ndarray) -> np.ndarray:
    """uint8 as Keras gives MNIST's labels (int64 if some label does not fit)."""
    if labels.size == 0 or (labels.min() >= 0 and labels.max() <= 255):
        return np.array(labels, dtype=np.uint8)
    return np.array(labels, dtype=np.int64)


def load_data(name: str, **load_options: Any) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))`` of a dataset, as ``keras.datasets.<name>.load_data()``.

    Parameters
    ----------
    name
        Any dataset with ``train`` and ``test`` splits (``"mnist"``, ``"fashion-mnist"``,
        ``"kmnist"``, ``"emnist/balanced"``, ...).
    **load_options
        Passed to :func:`mnistfamily.load` (``source=``, ``data_dir=``, ``download=``, ...).

    Returns
    -------
    tuple
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(N, H, W)`` and uint8 labels
        ``(N,)``, in memory and writable.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> (x_train, y_train), (x_test, y_test) = mf.load_data("mnist")   # doctest: +SKIP
    >>> x_train.shape, x_train.dtype, y_train.shape, y_train.dtype     # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), (60000,), dtype('uint8'))
    """
    from ..api import info, load

    splits = info(name, registry=load_options.get("registry")).splits
    missing = [s for s in ("train", "test") if s not in splits]
    if missing:
        raise AdapterError(f"load_data({name!r}): Keras' load_data returns a train and a test split, but {name} "
                           f"has no {' or '.join(missing)} split (its splits: {', '.join(splits)}). Use "
                           f"mf.load({name!r}, split=...) for the splits it has.")
    out = []
    for split in ("train", "test"):
        ds = load(name, split, **load_options)
        out.append((np.array(fixed_shape(ds, f"load_data({name!r})", "Keras' load_data")),
                    _keras_labels(np.asarray(ds.labels))))
    return out[0], out[1]
