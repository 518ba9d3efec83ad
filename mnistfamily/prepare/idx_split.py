"""Decoding a split published as IDX files (MNIST, Fashion-MNIST, KMNIST, QMNIST, ...).

Images are streamed from the (de)compressor straight into a memory-mapped ``.npy``; labels
may be a 1-D label file or a 2-D table whose columns become metadata (QMNIST's extended
labels). ``rows`` selects a contiguous part of the published files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..formats.idx import expect_end, open_idx, read_idx, read_payload_into, skip_payload
from ..registry import DatasetSpec, SplitSpec
from .cache import EntryWriter


def build_idx_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], writer: EntryWriter,
                    *, transpose: bool = False) -> None:
    """Decode one split into ``writer``: images, labels, index and metadata columns.

    ``transpose`` swaps height and width of every image (EMNIST is published transposed).
    """
    start, stop = _write_images(spec, split, paths[split.images], writer, transpose)
    labels = read_idx(paths[split.labels], rows=split.rows)
    where = f"{spec.name} [{split.name}] {paths[split.labels].name}"
    if labels.shape[0] != stop - start:
        raise FormatError(f"{where}: {labels.shape[0]} labels for {stop - start} images; "
                          "the label and image files do not belong together.")
    metadata: dict[str, np.ndarray] = {}
    if spec.label_columns:
        if labels.ndim != 2 or labels.shape[1] != len(spec.label_columns):
            raise FormatError(f"{where}: expected a label table of shape (N, {len(spec.label_columns)}) "
                              f"for columns {', '.join(spec.label_columns)}; found shape {labels.shape}.")
        metadata = {name: np.ascontiguousarray(labels[:, i]) for i, name in enumerate(spec.label_columns)}
        labels = labels[:, spec.label_columns.index(spec.label_column)]  # type: ignore[arg-type]
    elif labels.ndim != 1:
        raise FormatError(f"{where}: expected one label per image (1-D), found shape {labels.shape}.")
    labels = labels.astype(np.int64) - spec.label_offset
    bad = (labels < 0) | (labels >= len(spec.classes))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        published = labels[first] + spec.label_offset
        raise FormatError(f"{where}: label {published} at row {first + start} is outside "
                          f"{spec.label_offset}..{len(spec.classes) - 1 + spec.label_offset} "
                          f"({len(spec.classes)} classes in the registry).")
    writer.save("labels", labels)
    if split.index_file:
        index = read_idx(paths[split.index_file]).astype(np.int64)
        if index.shape != (stop - start,):
            raise FormatError(f"{spec.name} [{split.name}] {paths[split.index_file].name}: expected {stop - start} "
                              f"positions, found shape {index.shape}.")
    else:
        index = np.arange(start, stop, dtype=np.int64)
    writer.save("index", index)
    for name, column in metadata.items():
        writer.save(f"meta.{name}", column)


def _write_images(spec: DatasetSpec, split: SplitSpec, path: Path, writer: EntryWriter,
                  transpose: bool) -> tuple[int, int]:
    where = f"{spec.name} [{split.name}] {path.name}"
    with open_idx(path) as (header, stream, _):
        published_shape = tuple(spec.image_shape[::-1]) if spec.orientation == "transposed" else spec.image_shape
        if header.dtype != np.dtype("u1") or header.shape[1:] != tuple(published_shape):
            raise FormatError(f"{where}: expected uint8 images of shape (N, {', '.join(map(str, published_shape))}); "
                              f"the header says {header.dtype.name} {header.shape}.")
        start, stop = split.rows or (0, header.shape[0])
        if stop > header.shape[0]:
            raise FormatError(f"{where}: rows {start}:{stop} asked for, but the file holds {header.shape[0]} images.")
        if split.num_examples is not None and stop - start != split.num_examples:
            raise FormatError(f"{where}: the registry says {split.num_examples:,} examples, the file header gives "
                              f"{stop - start:,}. The file is not the published one; delete it and fetch again.")
        skip_payload(stream, start * header.row_bytes, where)
        shape = header.shape[1:][::-1] if transpose else header.shape[1:]
        with writer.stream("images", np.uint8, (stop - start, *shape)) as images:
            _copy_rows(stream, images, stop - start, header.shape[1:], where, transpose)
        if split.rows is None:
            expect_end(stream, where, header.payload_bytes)
    return start, stop


#: bytes decoded per chunk: large enough that per-call overhead vanishes, small enough that
#: a split of any size is decoded in flat memory
_CHUNK_BYTES = 1 << 22


def _copy_rows(stream, out, rows: int, published: tuple[int, ...], where: str, transpose: bool) -> None:
    """Decode ``rows`` images chunk by chunk into ``out``, swapping the last two axes when asked.

    Memory stays at one chunk whatever the split's size.
    """
    row_bytes = int(np.prod(published))
    per_chunk = max(1, _CHUNK_BYTES // row_bytes)
    buffer = np.empty((min(per_chunk, rows), *published), dtype=np.uint8)
    for first in range(0, rows, per_chunk):
        chunk = buffer[:min(per_chunk, rows - first)]
        read_payload_into(stream, chunk.reshape(-1).data, where)
        out.write(np.ascontiguousarray(chunk.transpose(0, 2, 1)) if transpose else chunk)
