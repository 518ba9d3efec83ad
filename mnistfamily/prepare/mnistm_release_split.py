"""Decoding a split of Ganin's released MNIST-M (``mnist_m.tar.gz``): PNGs placed by number, checked against the labels file.

The tarball is walked once per split (:mod:`mnistfamily.formats.mnistm_release`); the images go
straight into the entry's ``(N, 32, 32, 3)`` array by their number, so memory does not grow with
the archive. Row *i* is ``NNNNNNNN.png`` number *i*; for the test split that is MNIST's test digit
*i* (the labels are MNIST's t10k labels 0..9,000; docs/datasets/mnist-m.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..formats.mnistm_release import SIDE, read_release
from ..formats.sink import Sink
from ..registry import DatasetSpec, SplitSpec


def build_mnistm_release_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], writer: Sink,
                               *, transpose: bool = False) -> None:
    """Decode one split into ``writer``: images, labels and index."""
    archive = paths[split.inputs["archive"]]
    where = f"{spec.name} [{split.name}] {archive.name}"
    if tuple(spec.image_shape) != (SIDE, SIDE, 3) or spec.image_dtype != "uint8":
        raise FormatError(f"{where}: the mnist-m-release format reads uint8 (32, 32, 3) images; the registry says "
                          f"{spec.image_dtype} {tuple(spec.image_shape)}.")
    if split.num_examples is None:
        raise FormatError(f"{where}: the registry must give the split's size (the labels file is checked against it)")
    n = int(split.num_examples)
    images = writer.create("images", np.uint8, (n, SIDE, SIDE, 3))
    labels, skipped = read_release(archive, str(split.options["part"]), n, images, where)
    writer.save("labels", labels)
    writer.save("index", np.arange(n, dtype=np.int64))
    writer.report.update(dict(skipped))
