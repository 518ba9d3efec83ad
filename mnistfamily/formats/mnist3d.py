"""3D MNIST (Kaggle ``daavoo/3d-mnist``): 16x16x16 voxel grids from ``full_dataset_vectors.h5``.

The file is HDF5 with four datasets at its root: ``X_train`` (10000, 4096), ``y_train``
(10000,), ``X_test`` (2000, 4096), ``y_test`` (2000,). Each row of ``X`` is a 16x16x16
voxelisation of a (randomly rotated, noisy) point cloud of an MNIST digit, flattened; it is
served as ``(N, 16, 16, 16)`` float32 in C order, as the loaders people use reshape it (the
axis order of the flattening is not published). ``y`` holds the digits 0..9.

It is distributed only through Kaggle, behind a login, so it is never downloaded: it loads
from ``source=`` (:func:`not_downloadable` is the error to raise without it), and it is read
with h5py, an optional dependency imported on use (:func:`import_h5py`).

HDF5 is a rich container, and what a hostile file could ask of it is refused before a byte
of data is read: the four objects must be datasets reached by hard links (no soft or
external link, no virtual dataset, no external raw storage: no other file is ever opened);
of plain numeric types; shaped ``(N, 4096)`` and ``(N,)`` (or ``(N, 1)``) with the same N;
filtered by nothing but deflate, shuffle, fletcher32 or LZF (an HDF5 *plugin* filter would
load code named by the file); and what they decode to must fit what the file can hold (the
bytes stored, times deflate's ratio at most, within the file's size). Then ``X`` is read in
blocks of rows, converted to float32 and streamed to the sink.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from mnistfamily.formats.mnist3d import read_mnist3d
>>> from mnistfamily.formats.sink import MemorySink
>>> from mnistfamily.testing.mini_mnist3d import write_mnist3d   # doctest: +SKIP
>>> path = Path(tempfile.mkdtemp()) / "full_dataset_vectors.h5"  # doctest: +SKIP
>>> expected = write_mnist3d(path, train=12, test=4)              # doctest: +SKIP
>>> sink = MemorySink()                                           # doctest: +SKIP
>>> read_mnist3d(path, sink, split="test").num_examples           # doctest: +SKIP
4
>>> sink.arrays["images"].shape, sink.arrays["images"].dtype      # doctest: +SKIP
((4, 16, 16, 16), dtype('float32'))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import DownloadError, FormatError, MissingDependencyError
from .compression import MAX_DEFLATE_RATIO
from .sink import Sink

__all__ = ["FILE", "KAGGLE_DATASET", "Mnist3dResult", "SPLITS", "import_h5py", "not_downloadable", "read_mnist3d"]

FILE = "full_dataset_vectors.h5"
KAGGLE_DATASET = "daavoo/3d-mnist"
KAGGLE_URL = f"https://www.kaggle.com/datasets/{KAGGLE_DATASET}"
#: split -> (images dataset, labels dataset)
SPLITS = {"train": ("X_train", "y_train"), "test": ("X_test", "y_test")}
VOXELS = (16, 16, 16)
ROW = 16 * 16 * 16
#: the published file holds 12,000 rows; far more is not it (and is refused before reading)
MAX_ROWS = 1_000_000
#: rows of X read at once (2 MiB of float32): memory stays flat whatever N is
BLOCK_ROWS = 128
#: HDF5 decodes a whole chunk to read a part of it: a chunk larger than this is refused
MAX_CHUNK_BYTES = 16 << 20
#: HDF5's built-in filters (deflate, shuffle, fletcher32) and h5py's own LZF; anything else
#: would be a plugin, a shared library HDF5 loads by the id the file names
ALLOWED_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 32000: "lzf"}
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_AGAIN = f"Download it again from Kaggle ({KAGGLE_URL})."


@dataclass(frozen=True)
class Mnist3dResult:
    """What :func:`read_mnist3d` found besides the arrays it wrote."""

    num_examples: int
    #: the dtype ``X`` is stored in (served as float32)
    stored_dtype: str
    #: voxels that are NaN or infinite (kept as they are)
    nonfinite: int


def import_h5py() -> Any:
    """h5py, or :class:`~mnistfamily.errors.MissingDependencyError` naming the extra to install."""
    try:
        import h5py
    except ImportError:
        raise MissingDependencyError(
            f"3d-mnist: reading {FILE} (an HDF5 file) needs h5py, which is not installed. Install it with "
            "pip install 'mnistfamily[hdf5]' (or pip install h5py).") from None
    return h5py


def not_downloadable(dataset: str = "3d-mnist") -> DownloadError:
    """The error for a load of 3D MNIST without ``source=``: where to get the file, and what to do.

    Examples
    --------
    >>> print(str(not_downloadable()).splitlines()[0])
    3d-mnist: full_dataset_vectors.h5 is published only on Kaggle (dataset daavoo/3d-mnist), which needs a login, so mnistfamily cannot download it.
    """
    return DownloadError(
        f"{dataset}: {FILE} is published only on Kaggle (dataset {KAGGLE_DATASET}), which needs a login, so "
        "mnistfamily cannot download it.\n"
        f"  1. Sign in to Kaggle and download the dataset from {KAGGLE_URL}\n"
        f"     (or with Kaggle's API: kaggle datasets download -d {KAGGLE_DATASET}), then unzip 3d-mnist.zip.\n"
        f"  2. Pass source= the folder holding {FILE}: "
        f"mf.load({dataset!r}, split='train', source='~/Downloads/3d-mnist')\n"
        f"     (on the command line: --source ~/Downloads/3d-mnist).")


def read_mnist3d(source: str | os.PathLike[str] | BinaryIO, sink: Sink, *, split: str,
                 where: str | None = None) -> Mnist3dResult:
    """Decode one split (``"train"`` or ``"test"``) of ``full_dataset_vectors.h5`` into ``sink``.

    Writes ``images`` float32 ``(N, 16, 16, 16)`` (streamed in blocks), ``labels`` int64
    ``(N,)`` and ``index`` int64 ``(N,)``. ``source`` is a path or a seekable binary stream.
    Raises :class:`~mnistfamily.errors.FormatError` naming the file and the dataset for
    anything but the published layout (see the module docstring), and
    :class:`~mnistfamily.errors.MissingDependencyError` without h5py.
    """
    if split not in SPLITS:
        raise ValueError(f"3d-mnist has the splits {', '.join(SPLITS)}, not {split!r}")
    where = where or f"3d-mnist {Path(source).name if isinstance(source, (str, os.PathLike)) else FILE}"
    h5py = import_h5py()
    size = _check_signature(source, where)
    try:
        handle = h5py.File(source, "r", locking=False) if isinstance(source, (str, os.PathLike)) \
            else h5py.File(source, "r")
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise FormatError(f"{where}: HDF5 cannot open it ({_short(exc)}). {_AGAIN}") from None
    try:
        with handle:
            images_name, labels_name = SPLITS[split]
            images = _dataset(h5py, handle, images_name, where, size)
            labels = _dataset(h5py, handle, labels_name, where, size)
            n = _check_shapes(images, labels, where)
            label_values = _labels(labels, n, where)
            nonfinite = _stream_images(images, n, sink, where)
            stored = images.dtype.str
    except FormatError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:  # what h5py raises on damaged data
        raise FormatError(f"{where}: the HDF5 data cannot be read ({_short(exc)}). {_AGAIN}") from None
    sink.save("labels", label_values)
    sink.save("index", np.arange(n, dtype=np.int64))
    sink.report["stored_dtype"] = stored
    sink.report["nonfinite_voxels"] = nonfinite
    return Mnist3dResult(num_examples=n, stored_dtype=stored, nonfinite=nonfinite)


def _check_signature(source: str | os.PathLike[str] | BinaryIO, where: str) -> int:
    """The file's size, after finding HDF5's signature where the format puts it (0, 512, 1024, ...)."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                return _find_signature(f, where)
        except OSError as exc:
            raise FormatError(f"{where}: cannot read it ({exc.strerror or exc}). {_AGAIN}") from None
    if not (hasattr(source, "seekable") and source.seekable()):
        raise FormatError(f"{where}: reading HDF5 needs a path or a seekable stream; save the stream to a file first.")
    position = source.tell()
    try:
        return _find_signature(source, where)
    finally:
        source.seek(position)


def _find_signature(f: BinaryIO, where: str) -> int:
    size = f.seek(0, os.SEEK_END)
    offset = 0
    while offset + 8 <= size:
        f.seek(offset)
        if f.read(8) == _HDF5_SIGNATURE:
            return size
        offset = 512 if offset == 0 else offset * 2
    raise FormatError(f"{where}: not an HDF5 file (no HDF5 signature at byte 0, 512, 1024, ...). {_AGAIN}")


def _dataset(h5py: Any, handle: Any, name: str, where: str, size: int) -> Any:
    """The dataset ``name`` at the file's root, after every check on what reading it would do."""
    link = handle.get(name, getlink=True)
    if link is None:
        # h5py gives names that are not UTF-8 as bytes: shown, never compared with str
        names = sorted(k if isinstance(k, str) else repr(k) for k in handle.keys())
        found = ", ".join(n[:60] for n in names[:10]) or "nothing"
        raise FormatError(f"{where}: no dataset {name!r} at the root (found {found}); the published file holds "
                          f"{', '.join(n for pair in SPLITS.values() for n in pair)}. {_AGAIN}")
    if not isinstance(link, h5py.HardLink):
        raise FormatError(f"{where}: {name!r} is a {type(link).__name__}, not a dataset stored in the file; links "
                          f"to other objects or files are not followed. {_AGAIN}")
    obj = handle[name]
    if not isinstance(obj, h5py.Dataset):
        raise FormatError(f"{where}: {name!r} is a {type(obj).__name__}, not a dataset. {_AGAIN}")
    dtype = obj.dtype
    if dtype.kind not in "fiu" or dtype.fields is not None or dtype.itemsize > 8 or obj.ndim not in (1, 2):
        raise FormatError(f"{where}: {name!r} is {dtype} with {obj.ndim} dimension(s); expected a 1- or 2-d array "
                          f"of plain numbers. {_AGAIN}")
    if obj.is_virtual:
        raise FormatError(f"{where}: {name!r} is a virtual dataset (its data is in other files); the published "
                          f"one is stored in the file. {_AGAIN}")
    plist = obj.id.get_create_plist()
    if plist.get_external_count():
        raise FormatError(f"{where}: {name!r} keeps its data in external files, which are never opened. {_AGAIN}")
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    unknown = [f for f in filters if f not in ALLOWED_FILTERS]
    if unknown:
        raise FormatError(f"{where}: {name!r} is compressed with HDF5 filter {unknown[0]}; only "
                          f"{', '.join(ALLOWED_FILTERS.values())} are read (another filter is a plugin library "
                          f"HDF5 would load). {_AGAIN}")
    stored = int(obj.id.get_storage_size())
    declared = int(np.prod(obj.shape, dtype=np.int64)) * dtype.itemsize
    if obj.shape and obj.shape[0] > MAX_ROWS:
        raise FormatError(f"{where}: {name!r} declares {obj.shape[0]:,} rows; the published file holds 12,000. "
                          f"{_AGAIN}")
    chunks = obj.chunks
    if chunks is not None and int(np.prod(chunks, dtype=np.int64)) * dtype.itemsize > MAX_CHUNK_BYTES:
        # HDF5 inflates a whole chunk to read any row of it: the chunk is what sits in memory
        raise FormatError(f"{where}: {name!r} is stored in chunks of {chunks} ({dtype}), more than "
                          f"{MAX_CHUNK_BYTES:,} bytes each once decoded. {_AGAIN}")
    limit = stored * (MAX_DEFLATE_RATIO if filters else 1)
    if stored > size or declared > limit or (not filters and stored < declared):
        raise FormatError(f"{where}: {name!r} declares {declared:,} bytes of {dtype} {obj.shape} but stores "
                          f"{stored:,} in a file of {size:,}; the data is not all there. {_AGAIN}")
    return obj


def _check_shapes(images: Any, labels: Any, where: str) -> int:
    n = images.shape[0]
    if images.ndim != 2 or images.shape[1] != ROW:
        raise FormatError(f"{where}: {images.name.lstrip('/')!r} has shape {images.shape}; expected (N, {ROW}), "
                          f"one flattened 16x16x16 grid per row. {_AGAIN}")
    if labels.shape not in ((n,), (n, 1)):
        raise FormatError(f"{where}: {labels.name.lstrip('/')!r} has shape {labels.shape}; expected ({n},), one "
                          f"label per row of {images.name.lstrip('/')!r}. {_AGAIN}")
    return int(n)


def _labels(labels: Any, n: int, where: str) -> np.ndarray:
    values = np.asarray(labels[()]).reshape(n)
    name = labels.name.lstrip("/")
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (values == np.round(values))
        if not whole.all():
            i = int(np.flatnonzero(~whole)[0])
            raise FormatError(f"{where}: {name!r}[{i}] is {values[i]}; labels are the digits 0 to 9. {_AGAIN}")
    out = values.astype(np.int64)
    bad = np.flatnonzero((out < 0) | (out > 9))
    if len(bad):
        raise FormatError(f"{where}: {name!r}[{int(bad[0])}] is {values[bad[0]]}; labels are the digits 0 to 9 "
                          f"({len(bad):,} outside). {_AGAIN}")
    return out


def _stream_images(images: Any, n: int, sink: Sink, where: str) -> int:
    out = sink.stream("images", np.float32, (n, *VOXELS))
    nonfinite = 0
    # HDF5 converts to float32 as it reads (in its own small buffer): numpy only holds float32 blocks
    as_float32 = images.astype(np.float32)
    for start in range(0, n, BLOCK_ROWS):
        block = np.asarray(as_float32[start:start + BLOCK_ROWS], dtype=np.float32)
        if images.dtype.kind == "f":
            nonfinite += int(block.size - np.isfinite(block).sum())
        out.write(np.ascontiguousarray(block))
    out.close()
    return nonfinite


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"
