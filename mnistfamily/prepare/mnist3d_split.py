"""Decoding a split of 3D MNIST (``full_dataset_vectors.h5``, Kaggle only) into a cache entry.

The reader (:mod:`mnistfamily.formats.mnist3d`, h5py imported on use) checks the HDF5 file's
structure before reading, then streams ``X_<part>`` as float32 voxel grids ``(N, 16, 16, 16)``
(the rows reshaped in C order, as every loader found does). Here the split is checked against
its registry entry: volumes of 16x16x16 float32, ten classes, the count the registry gives.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FormatError
from ..formats.mnist3d import SPLITS, VOXELS, read_mnist3d
from ..formats.sink import Sink
from ..registry import DatasetSpec, SplitSpec


def build_mnist3d_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], sink: Sink,
                        *, transpose: bool = False) -> None:
    """Decode one 3D MNIST split (``part: train|test``) into ``sink``: ``images`` float32 volumes, ``labels``, ``index``."""
    name = split.inputs["data"]
    part = str(split.options.get("part"))
    where = f"{spec.name} [{split.name}] {name}"
    if part not in SPLITS:
        raise FormatError(f"{where}: the registry names the part {part!r}; {name} holds "
                          f"{', '.join(SPLITS)}. Fix the entry.")
    if transpose or spec.example != "volume" or tuple(spec.image_shape) != VOXELS or spec.image_dtype != "float32" \
            or spec.num_classes != 10:
        raise FormatError(f"{where}: 3D MNIST holds float32 volumes {VOXELS} of ten digits; the registry entry says "
                          f"{spec.example} {spec.image_dtype} {tuple(spec.image_shape)}, {spec.num_classes} classes. "
                          "Fix the entry.")
    result = read_mnist3d(paths[name], sink, split=part, where=where)
    if split.num_examples is not None and result.num_examples != split.num_examples:
        raise FormatError(f"{where}: {result.num_examples:,} volumes in X_{part}; the registry says "
                          f"{split.num_examples:,}. The file is not the published one: download it again from Kaggle.")
