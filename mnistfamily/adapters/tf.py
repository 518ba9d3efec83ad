"""TensorFlow / Keras: a ``tf.data.Dataset`` made of ``ds.batches``.

The pipeline is built from whole numpy batches (``from_generator`` over ``ds.batches``), so no
Python code runs per example. Images are channels last, as Keras layers and tfds want them
(grey ``(B, H, W, 1)``, colour ``(B, H, W, C)``, volume ``(B, D, H, W, 1)``, signal ``(B, L)``),
float32 in ``[0, 1]`` by default or uint8 as stored; labels are int64.

Each pass over the returned dataset (each Keras epoch) is the next epoch: the first uses
``epoch``, the next ``epoch + 1`` and so on, so shuffling and random transforms change every
epoch exactly as ``ds.batches(..., epoch=k)`` would, like tf.data's ``reshuffle_each_iteration``.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import require
from ._layout import channels_last, kind_of
from .batches import Batches, check_epoch

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset


def to_tf(dataset: "Dataset", batch_size: int = 32, *, shuffle: bool = False, seed: int | None = None,
          epoch: int = 0, drop_last: bool = False, transform: Callable | None = None, dtype: Any = "float32",
          prefetch: bool = True) -> Any:
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches; see :meth:`mnistfamily.Dataset.to_tf`."""
    where = f"{dataset.name or 'Dataset'}.to_tf"
    kind = kind_of(dataset, where)
    first = check_epoch(epoch, where)
    # validates every argument now, before TensorFlow is imported, not at its first iteration
    template = Batches(dataset, batch_size, shuffle=shuffle, seed=seed, epoch=first, drop_last=drop_last,
                       transform=transform, dtype=dtype)
    tf = require("tensorflow", where)
    probe_images, probe_labels = template.make(np.arange(min(1, len(dataset)), dtype=np.int64))
    image_shape = channels_last(probe_images, kind).shape[1:]
    epochs = itertools.count(first)

    def generate() -> Any:
        batches = Batches(dataset, batch_size, shuffle=shuffle, seed=seed, epoch=next(epochs), drop_last=drop_last,
                          transform=transform, dtype=dtype)
        for images, labels in batches:
            yield channels_last(images, kind), labels

    signature = (tf.TensorSpec(shape=(None, *image_shape), dtype=tf.as_dtype(probe_images.dtype)),
                 tf.TensorSpec(shape=(None, *probe_labels.shape[1:]), dtype=tf.as_dtype(probe_labels.dtype)))
    pipeline = tf.data.Dataset.from_generator(generate, output_signature=signature)
    pipeline = pipeline.apply(tf.data.experimental.assert_cardinality(len(template)))
    return pipeline.prefetch(tf.data.AUTOTUNE) if prefetch else pipeline
