"""Decoding a split of SVHN's cropped digits (``<split>_32x32.mat``) into a cache entry.

The reader (:mod:`mnistfamily.formats.svhn_mat`) streams ``X`` into the entry a chunk of
images at a time, as channels-last ``(N, 32, 32, 3)`` uint8, and maps the published label 10
to the digit 0. Here the split is checked against its registry entry: ten classes, the count
the registry gives, images of the declared shape.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FormatError
from ..formats.sink import Sink
from ..formats.svhn_mat import IMAGE_SHAPE, read_svhn_mat
from ..registry import DatasetSpec, SplitSpec


def build_svhn_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], sink: Sink,
                     *, transpose: bool = False) -> None:
    """Decode one SVHN split into ``sink``: ``images``, ``labels`` (0..9, digit 0 published as 10), ``index``.

    ``transpose`` is refused: SVHN is published upright (the registry never says otherwise).
    """
    name = split.inputs["data"]
    where = f"{spec.name} [{split.name}] {name}"
    if transpose or tuple(spec.image_shape) != IMAGE_SHAPE or spec.image_dtype != "uint8" or spec.num_classes != 10:
        raise FormatError(f"{where}: SVHN's files hold uint8 images {IMAGE_SHAPE} of ten digits, upright; the "
                          f"registry entry says {spec.image_dtype} {tuple(spec.image_shape)}, {spec.num_classes} "
                          "classes. Fix the entry.")
    read_svhn_mat(paths[name], sink, num_examples=split.num_examples, where=where)
