"""Decoding a split published as MATLAB ``.mat`` files inside a zip (affNIST).

The split's ``members`` pattern (``fnmatch``, case-sensitive) selects the ``.mat`` members of
the verified zip; they are read one at a time in natural numeric order (``1.mat``, ``2.mat``,
..., ``10.mat``, ..., ``32.mat``), so memory holds about two batches (the member's bytes and
its decoded arrays) whatever the size of the split. Member names are only compared with the
pattern: nothing is ever written under a name taken from the archive.

Each member holds a struct (``variable``, default ``affNISTdata``) with the fields

- ``image``: ``1600 x N``, one image per column. A column is the image's rows one after the
  other (row-major), as TFDS reads it: reshaped so, affNIST's centered digits are MNIST's digits,
  upright, inside a 6-pixel border (checked in ``tests/test_affnist.py``);
- ``label_int``: ``1 x N``, the classes 0-9;
- ``human_readable_transform``: ``K x N`` per-example transform parameters, optional. Row *i*
  becomes the float64 column ``human_readable_transform_<i>`` of the prepared entry, listed
  in ``writer.report["metadata_columns"]``. Neither *K* nor the meaning of the rows is
  confirmed, so they keep the published field's name and their row number.

Other fields (``label_one_of_n``, and any whose presence is unconfirmed) are not read.
Pixels must be whole numbers 0-255 (stored as uint8 or any numeric type).
"""

from __future__ import annotations

import fnmatch
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError
from ..formats.mat import check_mat_v5
from ..formats.zipmember import ZIP_READ_ERRORS, check_member
from ..registry import DatasetSpec, SplitSpec
from .cache import EntryWriter

DEFAULT_VARIABLE = "affNISTdata"
TRANSFORM_FIELD = "human_readable_transform"
#: a transform with more rows than this is not a parameter list: refuse it rather than
#: create thousands of columns
MAX_TRANSFORM_ROWS = 64
#: bound on one member's declared size when the split's count is unknown
MAX_MEMBER_BYTES = 4 << 30
#: generous bytes per example for the bound on a member's size when the count is known: an
#: image in float64 plus room for labels, one-hot labels and transform parameters
_BYTES_PER_EXAMPLE_EXTRA = 2048
_CHUNK = 1 << 16  # ZipExtFile.read(n) itself holds a few times n for a moment


def build_mat_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], writer: EntryWriter,
                    *, transpose: bool = False) -> None:
    """Decode one split into ``writer``: images, labels, index and transform columns.

    ``transpose`` swaps height and width of every image (for a dataset published
    transposed and loaded upright; affNIST is not).
    """
    path = paths[split.inputs["archive"]]
    where = f"{spec.name} [{split.name}] {path.name}"
    pattern = str(split.options["members"])
    variable = str(split.options.get("variable", DEFAULT_VARIABLE))
    height, width = _image_shape(spec, where)
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_READ_ERRORS as exc:
        raise FormatError(f"{where}: not a valid zip archive ({exc}). Delete {path} and fetch it again.") from None
    with archive:
        members = select_members(archive.infolist(), pattern, where)
        limit = _member_limit(spec, split, height * width)
        size = path.stat().st_size
        for info in members:  # every member's claims, before the first is decoded
            check_member(info, size, where)
        total = split.num_examples
        if total is None:  # a first pass: load each member once, keep only its count
            total = sum(_read_batch(archive, info, variable, (height, width), len(spec.classes), limit,
                                    where).count for info in members)
            if total == 0:
                raise FormatError(f"{where}: the members matching {pattern!r} hold no example.")
        shape = (total, width, height) if transpose else (total, height, width)
        images = writer.create("images", np.uint8, shape)
        labels = writer.create("labels", np.int64, (total,))
        columns: list[np.ndarray] | None = None  # transform rows, created at the first member
        position = 0
        for number, info in enumerate(members):
            batch = _read_batch(archive, info, variable, (height, width), len(spec.classes), limit, where)
            n = batch.count
            if position + n > total:
                raise FormatError(f"{where}: the members matching {pattern!r} hold more than the "
                                  f"{total:,} examples the registry expects (at least {position + n:,}). "
                                  "The archive is not the published one; delete it and fetch it again.")
            block = batch.images.transpose(0, 2, 1) if transpose else batch.images
            images[position:position + n] = block
            labels[position:position + n] = batch.labels
            columns = _write_transform(writer, columns, batch.transform, number, info.filename,
                                       position, total, where)
            position += n
            del batch, block
        if position != total:
            raise FormatError(f"{where}: the members matching {pattern!r} hold {position:,} examples; the "
                              f"registry expects {total:,}. The archive is not the published one; delete it "
                              "and fetch it again.")
        images.flush()
        del images
    writer.save("index", np.arange(total, dtype=np.int64))
    writer.report["members"] = len(members)
    writer.report["class_counts"] = [int(c) for c in np.bincount(labels, minlength=len(spec.classes))]
    if columns is not None:
        writer.report["metadata_columns"] = [f"{TRANSFORM_FIELD}_{i}" for i in range(len(columns))]
    del labels


def natural_key(name: str) -> list[Any]:
    """Sort key putting ``2.mat`` before ``10.mat``: digit runs compare as numbers.

    >>> sorted(["10.mat", "2.mat", "1.mat"], key=natural_key)
    ['1.mat', '2.mat', '10.mat']
    """
    # re.split with a capturing group alternates text, number, text, ...: positions always
    # hold the same type, so two keys always compare
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def select_members(infos: list[zipfile.ZipInfo], pattern: str, where: str) -> list[zipfile.ZipInfo]:
    """The file members whose names match ``pattern``, in natural order.

    Folders and macOS resource forks (``__MACOSX/``, ``._name``), which zip tools add beside
    real members, are left out. Two members of the same name are an error: which one a
    reader sees would depend on the reader.
    """
    # endswith, not ZipInfo.is_dir(): that one fails on an empty name, which a hostile zip can hold
    chosen = [info for info in infos if not info.filename.endswith("/")
              and fnmatch.fnmatchcase(info.filename, pattern)
              and not _is_resource_fork(info.filename)]
    if not chosen:
        some = ", ".join(repr(i.filename) for i in infos[:5]) or "nothing"
        raise FormatError(f"{where}: no member matches {pattern!r} (the archive holds {some}"
                          f"{', ...' if len(infos) > 5 else ''}). The archive is not the published one; "
                          "delete it and fetch it again.")
    names = [info.filename for info in chosen]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise FormatError(f"{where}: the archive holds two members named {twice!r}; a published "
                          "archive does not. Delete it and fetch it again.")
    return sorted(chosen, key=lambda info: natural_key(info.filename))


def _is_resource_fork(name: str) -> bool:
    return name.startswith("__MACOSX/") or name.rsplit("/", 1)[-1].startswith("._")


def _image_shape(spec: DatasetSpec, where: str) -> tuple[int, int]:
    if len(spec.image_shape) != 2 or spec.image_dtype != "uint8":
        raise FormatError(f"{where}: the mat format reads uint8 (H, W) images; the registry says "
                          f"{spec.image_dtype} {tuple(spec.image_shape)}.")
    return int(spec.image_shape[0]), int(spec.image_shape[1])


def _member_limit(spec: DatasetSpec, split: SplitSpec, pixels: int) -> int:
    """The most bytes one member may declare: no batch is larger than the whole split."""
    if split.num_examples is None:
        return MAX_MEMBER_BYTES
    return split.num_examples * (pixels * 8 + _BYTES_PER_EXAMPLE_EXTRA) + (1 << 20)


class _Batch:
    """One member's examples: upright images (n, H, W), int64 labels, transform rows or None."""

    __slots__ = ("images", "labels", "transform")

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: np.ndarray | None):
        self.images, self.labels, self.transform = images, labels, transform

    @property
    def count(self) -> int:
        return len(self.labels)


def _read_batch(archive: zipfile.ZipFile, info: zipfile.ZipInfo, variable: str, shape: tuple[int, int],
                num_classes: int, limit: int, where: str) -> _Batch:
    loadmat = _loadmat(where)
    here = f"{where}, member {info.filename!r}"
    if info.file_size > limit:
        raise FormatError(f"{here}: declares {info.file_size:,} bytes, more than the whole split could "
                          f"take ({limit:,}). The archive is not the published one; delete it and fetch it again.")
    try:
        with archive.open(info) as stream:  # stops at the declared size and checks the CRC
            # in bounded chunks: a single read() of a deflated member peaks at several times
            # its size; joined, the chunks cost twice its size for a moment
            chunks = list(iter(lambda: stream.read(_CHUNK), b""))
    except ZIP_READ_ERRORS as exc:
        raise FormatError(f"{here}: cannot be read ({type(exc).__name__}: {exc}). Delete the archive and "
                          "fetch it again.") from None
    data = b"".join(chunks)
    del chunks
    # loadmat sizes struct and cell arrays from their headers, and inflates compressed
    # variables without a cap: both are checked against the bytes first
    check_mat_v5(data, limit, here)
    try:
        contents = loadmat(io.BytesIO(data), variable_names=[variable], squeeze_me=False,
                           struct_as_record=True)
    except NotImplementedError:
        raise FormatError(f"{here}: a MATLAB v7.3 (HDF5) file; affNIST is published as v5 .mat files, "
                          "so this is not the published archive.") from None
    except Exception as exc:  # any failure of the parser on untrusted bytes: not a valid .mat
        raise FormatError(f"{here}: not a readable MATLAB file ({type(exc).__name__}: {exc}).") from None
    del data
    if variable not in contents:
        raise FormatError(f"{here}: holds no variable {variable!r} (the registry's `variable`).")
    record = _single_record(contents.pop(variable), variable, here)
    height, width = shape
    image = _field(record, "image", here)
    if image.ndim != 2 or image.shape[0] != height * width:
        raise FormatError(f"{here}: {variable}.image should be {height * width} x N (one {height}x{width} "
                          f"image per column); found shape {image.shape}.")
    n = image.shape[1]
    pixels = _as_uint8(image, f"{variable}.image", here)
    # column j holds image j's rows one after the other: transposing gives (n, H*W) rows,
    # C-contiguous for MATLAB's column-major storage, so the reshape is a view
    images = pixels.T.reshape(n, height, width)
    labels = _labels(_field(record, "label_int", here), n, num_classes, f"{variable}.label_int", here)
    transform = None
    if TRANSFORM_FIELD in (record.dtype.names or ()):
        transform = _transform(np.asarray(record[TRANSFORM_FIELD]), n, f"{variable}.{TRANSFORM_FIELD}", here)
    return _Batch(images, labels, transform)


def _loadmat(where: str):
    try:  # imported here: only preparing a .mat split needs scipy, a warm load never does
        from scipy.io import loadmat
    except ImportError:
        raise ImportError(f"{where}: reading MATLAB files needs scipy, which is not installed. "
                          "Install it (pip install scipy) and load again.") from None
    return loadmat


def _single_record(value: Any, variable: str, here: str) -> np.void:
    if not isinstance(value, np.ndarray) or value.dtype.names is None:
        raise FormatError(f"{here}: {variable} should be a MATLAB struct with fields image, label_int, ...; "
                          f"found {getattr(value, 'dtype', type(value))}.")
    if value.size != 1:
        raise FormatError(f"{here}: {variable} should be a single struct; found a struct array of shape {value.shape}.")
    return value.reshape(-1)[0]


def _field(record: np.void, name: str, here: str) -> np.ndarray:
    names = record.dtype.names or ()
    if name not in names:
        raise FormatError(f"{here}: the struct has no field {name!r} (fields: {', '.join(names) or 'none'}).")
    return np.asarray(record[name])


def _as_uint8(array: np.ndarray, what: str, here: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "uifb":
        raise FormatError(f"{here}: {what} holds {array.dtype}, not numbers.")
    if array.size:
        low, high = array.min(), array.max()
        if low < 0 or high > 255 or (array.dtype.kind == "f" and not np.array_equal(array, np.round(array))):
            raise FormatError(f"{here}: {what} holds values from {low} to {high}; expected whole grey "
                              "levels 0-255.")
    return array.astype(np.uint8, order="K")


def _labels(array: np.ndarray, n: int, num_classes: int, what: str, here: str) -> np.ndarray:
    if array.size != n or (array.ndim == 2 and 1 not in array.shape) or array.ndim > 2:
        raise FormatError(f"{here}: {what} should hold one label per image (1 x {n}); found shape {array.shape}.")
    if array.dtype.kind not in "uif":
        raise FormatError(f"{here}: {what} holds {array.dtype}, not numbers.")
    flat = array.reshape(-1)
    # checked in the published type, before any cast: NaN, 2.5 or 1e30 must not become a class
    bad = ~((flat >= 0) & (flat < num_classes))
    if flat.dtype.kind == "f":
        bad |= flat != np.floor(np.where(bad, 0, flat))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise FormatError(f"{here}: {what} holds {flat[first]} at column {first}; expected a class "
                          f"0..{num_classes - 1} ({num_classes} classes in the registry).")
    return flat.astype(np.int64)


def _transform(array: np.ndarray, n: int, what: str, here: str) -> np.ndarray:
    if array.ndim != 2 or array.shape[1] != n or array.dtype.kind not in "uifb":
        raise FormatError(f"{here}: {what} should be a numeric K x {n} matrix (one column of transform "
                          f"parameters per image); found {array.dtype} {array.shape}.")
    if array.shape[0] > MAX_TRANSFORM_ROWS:
        raise FormatError(f"{here}: {what} has {array.shape[0]} rows per image; more than "
                          f"{MAX_TRANSFORM_ROWS} is not a list of transform parameters.")
    return array


def _write_transform(writer: EntryWriter, columns: list[np.ndarray] | None, transform: np.ndarray | None,
                     number: int, member: str, position: int, total: int, where: str) -> list[np.ndarray] | None:
    """Copy a batch's transform rows into their columns; every member must agree on having them."""
    if number == 0:
        if transform is None:
            return None
        columns = [writer.create(f"meta.{TRANSFORM_FIELD}_{i}", np.float64, (total,))
                   for i in range(transform.shape[0])]
    rows = None if columns is None else len(columns)
    found = None if transform is None else transform.shape[0]
    if rows != found:
        raise FormatError(f"{where}: the first member has {rows or 'no'} rows of {TRANSFORM_FIELD}, member "
                          f"{member!r} has {found or 'none'}. The members do not belong together; delete the "
                          "archive and fetch it again.")
    if columns is not None and transform is not None:
        n = transform.shape[1]
        for i, column in enumerate(columns):
            column[position:position + n] = transform[i]
    return columns
