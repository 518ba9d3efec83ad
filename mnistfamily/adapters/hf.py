"""Hugging Face ``datasets``: ``ds.to_hf()`` gives a ``datasets.Dataset`` with the features HF users expect.

Features: ``index`` (int64, the position in the published split), ``image`` (an ``Image``
feature: one PNG per example, grey ``L`` or colour ``RGB``/``RGBA``, the bytes HF's own
``Image`` feature writes for the same array), ``label`` (a ``ClassLabel`` carrying the class
names; for multi-label datasets a list of them), then every metadata column as a ``Value``.
Signals (MNIST-1D) are a fixed-length ``List`` of values instead of an image. Volumes have no
``Image`` form and are refused.

The Arrow table is built column by column from buffers, the PNGs in chunks of 1,024 images
spread over worker processes for large datasets, so memory holds the PNG bytes (about a
third of the raw pixels for MNIST) and one chunk at a time. The result lives in memory;
``.save_to_disk()`` or ``.to_parquet()`` write it, and ``load_dataset("parquet", ...)`` reads the
``ClassLabel`` back from the schema.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from . import AdapterError, require
from ..examples import Signals
from ._layout import kind_of

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

#: images per PNG-encoding task
CHUNK = 1024
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def encode_pngs(images: np.ndarray) -> list[bytes]:
    """One PNG per image of a uint8 ``(N, H, W)`` or ``(N, H, W, C)`` batch (HF's ``Image`` bytes)."""
    from PIL import Image

    from ..outputs.schema import PNG_COMPRESS_LEVEL

    out = []
    for image in images:
        if image.ndim == 3:
            mode = _MODES[image.shape[-1]]
            image = image[..., 0] if mode == "L" else image
        else:
            mode = "L"
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image), mode=mode).save(buffer, format="PNG",
                                                                    compress_level=PNG_COMPRESS_LEVEL)
        out.append(buffer.getvalue())
    return out


def _binary(pa: Any, items: list[bytes]) -> Any:
    """A binary array of one chunk's PNGs (a chunk is far below binary's 2 GiB of offsets)."""
    offsets = np.zeros(len(items) + 1, dtype=np.int32)
    np.cumsum([len(item) for item in items], out=offsets[1:])
    return pa.Array.from_buffers(pa.binary(), len(items), [None, pa.py_buffer(offsets),
                                                           pa.py_buffer(b"".join(items))])


def _image_column(pa: Any, images: np.ndarray, workers: int | None) -> Any:
    """A chunked ``struct<bytes, path>`` column of PNGs, encoded in worker processes when large."""
    from ..outputs.images import CodecPool, ordered_map

    chunks = (np.asarray(images[start:start + CHUNK]) for start in range(0, len(images), CHUNK))
    arrays = []
    with CodecPool(workers) as pool:
        for blobs in ordered_map(encode_pngs, chunks, pool.executor(len(images)), window=4 * max(1, pool.workers)):
            arrays.append(pa.StructArray.from_arrays([_binary(pa, blobs), pa.nulls(len(blobs), pa.string())],
                                                     names=["bytes", "path"]))
    if not arrays:
        return pa.chunked_array([], type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    return pa.chunked_array(arrays)


def _numeric(pa: Any, values: np.ndarray) -> Any:
    data = np.ascontiguousarray(values)
    data = data.astype(data.dtype.newbyteorder("="), copy=False)
    if data.dtype == np.bool_:
        return pa.array(data)
    return pa.Array.from_buffers(pa.from_numpy_dtype(data.dtype), len(data), [None, pa.py_buffer(data)])


def _nested_lists(pa: Any, array: np.ndarray) -> Any:
    """``(N, *shape)`` as the nested lists datasets stores an ArrayND in (its values not copied)."""
    values = _numeric(pa, np.ascontiguousarray(array).reshape(-1))
    for size in reversed(array.shape[1:]):
        count = len(values) // size
        values = pa.ListArray.from_arrays(_numeric(pa, (np.arange(count + 1) * size).astype(np.int32)), values)
    return values


def to_hf(dataset: "Dataset", *, workers: int | None = None) -> Any:
    """A ``datasets.Dataset``; see :meth:`mnistfamily.Dataset.to_hf`."""
    where = f"{dataset.name or 'Dataset'}.to_hf"
    hf = require("datasets", where)
    pa = require("pyarrow", where)
    kind = kind_of(dataset, where)
    examples = dataset.examples
    features: dict[str, Any] = {"index": hf.Value("int64")}
    columns: dict[str, Any] = {"index": _numeric(pa, np.asarray(dataset.index, dtype=np.int64))}
    listing = getattr(hf, "List", None) or hf.Sequence  # `List` since datasets 4
    column = dataset.example  # image, volume or signal: the column is named after the kind, as in exports
    if isinstance(examples, Signals):  # varying lengths: a list of samples per example
        samples, offsets = examples.compact()
        features[column] = listing(hf.Value(np.dtype(samples.dtype).name))
        columns[column] = pa.ListArray.from_arrays(_numeric(pa, offsets.astype(np.int32)), _numeric(pa, samples))
    elif kind in ("gray", "color") and examples.dtype == np.uint8 and (kind == "gray" or examples.shape[-1] in (1, 3, 4)):
        features[column] = hf.Image()
        columns[column] = _image_column(pa, examples, workers)
    elif kind == "signal":
        features[column] = listing(hf.Value(np.dtype(examples.dtype).name), length=int(examples.shape[1]))
        flat = _numeric(pa, np.asarray(examples).reshape(-1))
        columns[column] = pa.FixedSizeListArray.from_arrays(flat, int(examples.shape[1]))
    elif examples.ndim - 1 in (2, 3) and examples.dtype.name in ("uint8", "float32"):
        # volumes, float images, images of other channel counts: datasets' Array2D/Array3D of their shape
        array_type = hf.Array2D if examples.ndim == 3 else hf.Array3D
        feature = array_type(shape=tuple(int(d) for d in examples.shape[1:]), dtype=examples.dtype.name)
        features[column] = feature
        storage_type = hf.Features({column: feature}).arrow_schema.field(column).type
        columns[column] = pa.ExtensionArray.from_storage(storage_type, _nested_lists(pa, np.asarray(examples)))
    else:
        raise AdapterError(f"{where}: {dataset.example}s of {examples.dtype} {tuple(examples.shape[1:])} have no "
                           "Hugging Face feature (Image holds uint8 grey, RGB or RGBA; Array2D/Array3D uint8 or "
                           "float32); convert them first (ds.map(...)).")
    labels = np.asarray(dataset.labels)
    class_label = hf.ClassLabel(names=list(dataset.classes))
    if labels.ndim == 1:
        features["label"] = class_label
        columns["label"] = _numeric(pa, labels.astype(np.int64))
    else:  # multi-label: the list of each row's classes
        listing = getattr(hf, "List", None) or hf.Sequence
        features["label"] = listing(class_label)
        rows, positives = np.nonzero(labels)
        offsets = np.zeros(len(labels) + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=len(labels)), out=offsets[1:])
        columns["label"] = pa.ListArray.from_arrays(_numeric(pa, offsets), _numeric(pa, positives.astype(np.int64)))
    for name, values in dataset.metadata.items():
        array = np.asarray(values)
        if array.ndim != 1:
            continue  # one value per class: not a per-example scalar column
        features[name] = hf.Value(array.dtype.name)
        columns[name] = _numeric(pa, array)
    schema = hf.Features(features)
    table = pa.Table.from_arrays(list(columns.values()), schema=schema.arrow_schema)
    info = dataset.info
    hf_info = hf.DatasetInfo(features=schema, description=getattr(info, "description", "") or "",
                             citation=getattr(info, "citation", "") or "", homepage=getattr(info, "homepage", "") or "",
                             license=getattr(info, "license", "") or "", dataset_name=dataset.name or None)
    split = hf.NamedSplit(dataset.split) if str(dataset.split).isidentifier() else None
    return hf.Dataset(hf.table.InMemoryTable(table), info=hf_info, split=split, fingerprint=_fingerprint(dataset))


def _fingerprint(dataset: "Dataset") -> str:
    """What ``datasets`` keys its caches by. Given, because without one it pickles the whole table
    to hash it (measured: a peak of 5x the PNG column, 1.9x the raw arrays at EMNIST byclass scale);
    here a BLAKE2b of the arrays themselves, read in place."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((dataset.name, dataset.split, list(dataset.classes), sorted(dataset.metadata))).encode())
    examples = dataset.examples
    held = [examples.samples, examples.starts, examples.stops] if isinstance(examples, Signals) else [examples]
    for array in (*held, dataset.labels, dataset.index, *dataset.metadata.values()):
        flat = np.ascontiguousarray(array).reshape(-1)
        step = max(1, (16 << 20) // max(1, flat.itemsize))
        for start in range(0, flat.size, step):
            digest.update(flat[start:start + step].data)
    return digest.hexdigest()
