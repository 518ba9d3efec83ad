"""Decoding MNIST-1D splits: the official pickle, or our generator run with the registry's seed.

``mnist1d-pickle``: the published ``mnist1d_data.pkl`` is read by the restricted unpickler
(numpy arrays only, nothing the file names is run); a split is the pair of arrays its
``x_key``/``y_key`` name, kept exactly as published (float64 sequences, int64 labels).

``mnist1d-generated``: no files. The splits of a dataset that share a ``seed`` are rows of one
generated set: a split's rows start at ``first`` (default: where the split before it in the
registry ends), and the set is the smallest multiple of ten examples that holds every one
of them. The official layout is thus ``train: {seed: 42, first: 0}`` (4,000 rows) and
``test: {seed: 42, first: 4000}`` (1,000 rows) of a set of 5,000.

Besides ``images``/``labels``/``index``, both write ``extra.t`` (the 40 time points) and
``extra.templates.{x,t,y}`` to the prepared entry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..registry import DatasetSpec, SplitSpec
from .cache import EntryWriter

#: examples per class share: a generated set holds a multiple of this many examples
_CLASSES = 10


def build_mnist1d_pickle_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], writer: EntryWriter,
                               *, transpose: bool = False) -> None:
    """Read one split's arrays out of the official pickle into ``writer``."""
    from ..formats.safe_pickle import read_array_pickle

    path = paths[split.inputs["data"]]
    where = f"{spec.name} [{split.name}] {path.name}"
    _refuse_transpose(where, transpose)
    content = read_array_pickle(path, where=where)
    if not isinstance(content, dict):
        raise FormatError(f"{where}: expected a dict of arrays (x, y, x_test, y_test, t, templates); "
                          f"found a {type(content).__name__}. Delete the file and fetch it again.")
    x = _array(content, split.options["x_key"], where)
    y = _array(content, split.options["y_key"], where)
    _write(spec, split, writer, where, x, y)
    _write_extras(writer, content.get("t"), content.get("templates"))


def build_mnist1d_generated_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path],
                                  writer: EntryWriter, *, transpose: bool = False) -> None:
    """Generate the set a split belongs to and write the split's rows into ``writer``."""
    where = f"{spec.name} [{split.name}]"
    _refuse_transpose(where, transpose)
    seed, first, total = generated_layout(spec, split)
    if tuple(spec.image_shape) != (40,) or len(spec.classes) != _CLASSES:
        raise FormatError(f"{where}: the generator makes {_CLASSES} classes of 40-point sequences; the registry "
                          f"entry says {len(spec.classes)} classes of shape {tuple(spec.image_shape)}.")
    data = _generated(total, seed)
    stop = first + int(split.num_examples or 0)
    _write(spec, split, writer, where, data["x"][first:stop], data["y"][first:stop])
    _write_extras(writer, data["t"], None)
    writer.report["generated"] = (f"rows {first:,}-{stop - 1:,} of mnistfamily.mnist1d.generate("
                                  f"num_samples={total}, seed={seed})")


def generated_layout(spec: DatasetSpec, split: SplitSpec) -> tuple[int, int, int]:
    """``(seed, first row, examples in the generated set)`` of a ``mnist1d-generated`` split."""
    starts: dict[str, int] = {}
    ends: dict[int, int] = {}
    previous_end = 0
    for other in spec.splits.values():
        if other.num_examples is None:
            raise FormatError(f"{spec.name} [{other.name}]: a generated split needs num_examples in the registry.")
        start = int(other.options.get("first", previous_end))
        if start < 0 or int(other.options["seed"]) < 0:
            raise FormatError(f"{spec.name} [{other.name}]: seed and first must not be negative "
                              f"(found seed {other.options['seed']}, first {start}); fix the registry entry.")
        starts[other.name] = start
        previous_end = start + other.num_examples
        seed = int(other.options["seed"])
        ends[seed] = max(ends.get(seed, 0), previous_end)
    seed = int(split.options["seed"])
    total = -(-ends[seed] // _CLASSES) * _CLASSES
    return seed, starts[split.name], total


_last_generated: dict[tuple[int, int], dict[str, np.ndarray]] = {}


def _generated(total: int, seed: int) -> dict[str, np.ndarray]:
    """The generated set, kept for the next split (train then test would generate it twice)."""
    from ..mnist1d import generate

    key = (total, seed)
    if key not in _last_generated:
        _last_generated.clear()
        _last_generated[key] = generate(num_samples=total, seed=seed)
    return _last_generated[key]


def _refuse_transpose(where: str, transpose: bool) -> None:
    if transpose:
        raise FormatError(f"{where}: MNIST-1D sequences have one axis; orientation 'transposed' does not apply. "
                          "Remove orientation from the registry entry.")


def _array(content: dict, key: str, where: str) -> np.ndarray:
    value = content.get(key)
    if not isinstance(value, np.ndarray):
        found = ", ".join(sorted(map(str, content))) or "nothing"
        raise FormatError(f"{where}: the pickle has no array {key!r} (it holds {found}). The registry's "
                          "x_key/y_key must name arrays of the file, or the file is not the published one.")
    return value


def _write(spec: DatasetSpec, split: SplitSpec, writer: EntryWriter, where: str,
           x: np.ndarray, y: np.ndarray) -> None:
    """Check sequences and labels against the registry and write images, labels and index."""
    dtype = np.dtype(spec.image_dtype)
    if x.shape[1:] != tuple(spec.image_shape) or x.dtype.newbyteorder("=") != dtype:
        raise FormatError(f"{where}: expected {dtype.name} sequences of shape (N, "
                          f"{', '.join(map(str, spec.image_shape))}); found {x.dtype.name} {x.shape}. "
                          "The file is not the published one; delete it and fetch it again.")
    if y.shape != x.shape[:1] or y.dtype.kind not in "iu":
        raise FormatError(f"{where}: expected one integer label per sequence ({x.shape[0]:,}); "
                          f"found {y.dtype.name} {y.shape}.")
    if split.num_examples is not None and len(x) != split.num_examples:
        raise FormatError(f"{where}: the registry says {split.num_examples:,} examples, the data holds {len(x):,}. "
                          "The file is not the published one; delete it and fetch it again.")
    labels = y.astype(np.int64) - spec.label_offset
    bad = (labels < 0) | (labels >= len(spec.classes))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise FormatError(f"{where}: label {int(y[first])} at row {first} is outside "
                          f"{spec.label_offset}..{len(spec.classes) - 1 + spec.label_offset} "
                          f"({len(spec.classes)} classes in the registry).")
    writer.save("images", np.ascontiguousarray(x, dtype=dtype))  # native byte order, values unchanged
    writer.save("labels", labels)
    writer.save("index", np.arange(len(x), dtype=np.int64))


def _write_extras(writer: EntryWriter, t: object, templates: object) -> None:
    """The time axis and the templates, beside the arrays a Dataset reads (``extra.*``)."""
    if isinstance(t, np.ndarray) and t.ndim == 1 and t.dtype.kind == "f":
        writer.save("extra.t", t.astype(np.float64))
    if templates is None:
        from ..mnist1d import templates as published

        templates = published()
    if isinstance(templates, dict):
        for key in ("x", "t", "y"):
            value = templates.get(key)
            if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
                writer.save(f"extra.templates.{key}", value)
