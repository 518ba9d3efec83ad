"""Miniatures of datasets published as IDX files (MNIST, Fashion-MNIST, KMNIST, QMNIST, EMNIST, ...).

Every file a split reads is written in the published layout: gzip or xz chosen by the file's
name, EMNIST-style transposed images and 1-based labels where the registry says the dataset is
published so, QMNIST's label tables, index files, and row ranges shared by several splits
(QMNIST ``test10k``/``test50k`` are rows of one file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..formats.idx import encode_header, write_idx
from ..registry import DatasetSpec, SplitSpec


def _file_rows(splits: dict[str, SplitSpec]) -> dict[str, int]:
    """Rows each published file needs to hold every split that reads it."""
    rows: dict[str, int] = {}
    for split in splits.values():
        stop = split.rows[1] if split.rows else int(split.num_examples or 0)
        for name in split.files():
            rows[name] = max(rows.get(name, 0), stop)
    return rows


def _idx_bytes(array: np.ndarray, name: str) -> bytes:
    """The bytes of ``array`` as an IDX file called ``name`` (compressed by its suffix)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        write_idx(path, array)
        return path.read_bytes()


def idx_contents(spec: DatasetSpec, splits: dict[str, SplitSpec], rng: np.random.Generator):
    """Published bytes of every file of an IDX dataset, and what loading must return."""
    rows = _file_rows(splits)
    arrays: dict[str, np.ndarray] = {}
    for split in splits.values():
        if split.images not in arrays:
            arrays[split.images] = rng.integers(0, 256, size=(rows[split.images], *spec.image_shape), dtype=np.uint8)
        if split.labels not in arrays:
            n = rows[split.labels]
            classes = rng.integers(0, len(spec.classes), size=n)
            if spec.label_columns:
                table = rng.integers(0, 10, size=(n, len(spec.label_columns))).astype(np.int32)
                table[:, spec.label_columns.index(spec.label_column)] = classes + spec.label_offset
                arrays[split.labels] = table
            else:
                arrays[split.labels] = (classes + spec.label_offset).astype(np.uint8)
        if split.index_file and split.index_file not in arrays:
            n = rows[split.index_file]
            arrays[split.index_file] = np.sort(rng.choice(n * 7, size=n, replace=False)).astype(np.int32)
    expected = {}
    for split in splits.values():
        start, stop = split.rows or (0, int(split.num_examples or 0))
        labels = arrays[split.labels][start:stop]
        metadata = {}
        if spec.label_columns:
            metadata = {c: labels[:, i].astype(np.int32) for i, c in enumerate(spec.label_columns)}
            labels = labels[:, spec.label_columns.index(spec.label_column)]
        index = (arrays[split.index_file].astype(np.int64) if split.index_file
                 else np.arange(start, stop, dtype=np.int64))
        expected[split.name] = {
            "images": arrays[split.images][start:stop], "labels": labels.astype(np.int64) - spec.label_offset,
            "index": index, "metadata": metadata,
        }
    published = {}
    for name, array in arrays.items():
        if name in {s.images for s in splits.values()} and spec.orientation == "transposed":
            array = np.ascontiguousarray(array.transpose(0, 2, 1))  # stored as published
        published[name] = (_idx_bytes(array, name), _payload(array))
    return published, expected


def _payload(array: np.ndarray) -> bytes:
    big = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))
    return encode_header(array.dtype, array.shape) + big.tobytes()


