"""Decoding a split of HASYv2 (``HASYv2.tar.bz2``) into a cache entry.

The reader (:mod:`mnistfamily.formats.hasy`) decodes the whole archive: every image in the
order of ``hasy-data-labels.csv``, the classes from ``symbols.csv`` and the ten folds as
index lists. The split ``all`` (no ``fold`` in the registry) is written straight into the
entry; a fold split (``fold: fold3-test``) is decoded in memory first (168,233 images of 1 KiB:
about 170 MB) and its rows, in the fold file's order, are copied into the entry a block at a
time. Here the split is checked against its registry entry: the class names ``symbols.csv``
gives must be the registry's, in order, and the count must be the registry's when it gives one.
HASY's symbol id and the writer id are the metadata columns ``symbol_id`` and ``writer_id``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..formats.hasy import FOLD_SPLITS, IMAGE_SHAPE, read_hasy
from ..formats.sink import MemorySink, Sink
from ..registry import DatasetSpec, SplitSpec
from .sinks import EntrySink

#: HASY's columns kept per example, as metadata
METADATA = ("symbol_id", "writer_id")
_BLOCK = 8192  # images copied at a time from a decoded archive into a fold's entry


def build_hasy_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], sink: Sink,
                     *, transpose: bool = False) -> None:
    """Decode one HASYv2 split into ``sink``: ``images``, ``labels``, ``index``, ``meta.symbol_id``, ``meta.writer_id``."""
    name = split.inputs["archive"]
    where = f"{spec.name} [{split.name}] {name}"
    fold = split.options.get("fold")
    if fold is not None and fold not in FOLD_SPLITS:
        raise FormatError(f"{where}: the registry names the fold {fold!r}; HASYv2's folds are fold1-train .. "
                          "fold10-test. Fix the entry.")
    if transpose or tuple(spec.image_shape) != IMAGE_SHAPE or spec.image_dtype != "uint8":
        raise FormatError(f"{where}: HASYv2 holds uint8 images {IMAGE_SHAPE}, upright; the registry entry says "
                          f"{spec.image_dtype} {tuple(spec.image_shape)}. Fix the entry.")
    entry = EntrySink(sink, metadata=METADATA, drop=FOLD_SPLITS)
    if fold is None:
        result = read_hasy(paths[name], entry, where=where)
        count = result.num_examples
    else:
        whole = MemorySink()
        result = read_hasy(paths[name], whole, where=where)
        rows = whole.arrays[str(fold)]
        count = len(rows)
        _check_count(where, split, count)
        images = sink.create("images", np.uint8, (count, *IMAGE_SHAPE))
        for start in range(0, count, _BLOCK):
            images[start:start + _BLOCK] = whole.arrays["images"][rows[start:start + _BLOCK]]
        if isinstance(images, np.memmap):
            images.flush()
        for column in ("labels", "index", *METADATA):
            entry.save(column, whole.arrays[column][rows])
        sink.report.update(whole.report)
    _check_count(where, split, count)
    if list(result.classes) != list(spec.classes):
        first = next((i for i, (a, b) in enumerate(zip(result.classes, spec.classes)) if a != b),
                     min(len(result.classes), len(spec.classes)))
        found = result.classes[first] if first < len(result.classes) else "nothing"
        wanted = spec.classes[first] if first < len(spec.classes) else "nothing"
        raise FormatError(f"{where}: symbols.csv names {len(result.classes)} classes, class {first} {found!r}; the "
                          f"registry lists {len(spec.classes)}, class {first} {wanted!r}. The archive is not the "
                          "published HASYv2: delete it and fetch it again.")
    sink.report["class_symbol_ids"] = list(result.class_symbol_ids)


def _check_count(where: str, split: SplitSpec, count: int) -> None:
    if split.num_examples is not None and count != split.num_examples:
        raise FormatError(f"{where}: {count:,} images; the registry says {split.num_examples:,}. The archive is not "
                          "the published HASYv2: delete it and fetch it again.")
