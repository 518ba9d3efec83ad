"""Decoding a split published as NumPy ``.npz`` archives (KMNIST/K-49, MedMNIST).

An ``.npz`` is a zip archive holding one ``.npy`` member per array. The archive is opened
with ``np.load(..., allow_pickle=False)``, but arrays are not read through it: each
member's ``.npy`` header is parsed first, and its declared dtype and shape are checked
against the registry (uint8 images of ``image_shape``, the split's ``num_examples``) and
against the member's size in the zip, so a hostile archive cannot make us allocate more
than it holds. Images are then streamed from the zip member straight into the
memory-mapped cache array; nothing is unpickled.

Labels are 0-based int64: ``(N,)`` or ``(N, 1)`` published (MedMNIST's are ``(N, 1)``),
or, for ``multi_label`` datasets, ``(N, len(classes))`` columns of 0/1 kept as they are
(MedMNIST ChestMNIST). Several splits may read one archive under different keys
(MedMNIST: ``train_images``, ``val_labels``, ... in one file).
"""

from __future__ import annotations

import math
import tokenize
import zipfile
import zlib
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from ..errors import FormatError
from ..formats.zipmember import ZIP_READ_ERRORS, check_member
from ..registry import DatasetSpec, SplitSpec
from .cache import EntryWriter

DEFAULT_KEY = "arr_0"  # what np.savez names an unnamed array (KMNIST, K-49)
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive
_CHUNK = 1 << 22


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` member declares, checked against the member's size in the zip."""

    key: str
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool

    @property
    def nbytes(self) -> int:
        # Python integers: np.prod in int64 wraps around, and a wrapped product could match
        # the member's size while numpy refuses (or tries to allocate) the real shape
        return math.prod(self.shape) * self.dtype.itemsize


def build_npz_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], writer: EntryWriter,
                    *, transpose: bool = False) -> None:
    """Decode one split into ``writer``: images, labels and index.

    ``transpose`` swaps height and width of every image (for a dataset published
    transposed and loaded upright).
    """
    images_key = str(split.options.get("images_key", DEFAULT_KEY))
    labels_key = str(split.options.get("labels_key", DEFAULT_KEY))
    images_path, labels_path = paths[split.images], paths[split.labels]
    with ExitStack() as stack:
        images_npz = stack.enter_context(open_npz(images_path, f"{spec.name} [{split.name}] {images_path.name}"))
        labels_npz = (images_npz if labels_path == images_path else
                      stack.enter_context(open_npz(labels_path, f"{spec.name} [{split.name}] {labels_path.name}")))
        where = f"{spec.name} [{split.name}] {images_path.name}"
        with open_array(images_npz, images_key, where) as (header, stream):
            _check_images(spec, split, header, where)
            n = header.shape[0]
            labels = _read_labels(spec, split, labels_npz, labels_key, n,
                                  f"{spec.name} [{split.name}] {labels_path.name}")
            _write_images(header, stream, writer, transpose, where)
    writer.save("labels", labels)
    writer.save("index", np.arange(n, dtype=np.int64))
    # per-class counts of this split (positives per label when multi-label): K-49 and most
    # MedMNIST flags are imbalanced, and this is how a user sees by how much
    counts = labels.sum(axis=0) if spec.multi_label else np.bincount(labels, minlength=len(spec.classes))
    writer.report["class_counts"] = [int(c) for c in counts]


@contextmanager
def open_npz(path: Path, where: str) -> Iterator[np.lib.npyio.NpzFile]:
    """Open an ``.npz`` archive without reading any array; refuse anything that is not a zip."""
    with open(path, "rb") as f:
        signature = f.read(4)
    if signature not in _ZIP_SIGNATURES:
        what = "a single .npy array" if signature == b"\x93NUM" else f"starts with {signature!r}"
        raise FormatError(f"{where}: not a NumPy .npz archive (a zip file); the file is {what}. "
                          "It is not the published file: delete it and fetch it again.")
    try:
        npz = np.load(path, allow_pickle=False)
    except ZIP_READ_ERRORS as exc:
        raise FormatError(f"{where}: not a readable .npz archive ({exc}). "
                          "Delete the file and fetch it again.") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):  # pragma: no cover - ruled out by the signature
        raise FormatError(f"{where}: not a NumPy .npz archive.")
    with npz:
        yield npz


def _length(archive: zipfile.ZipFile) -> int | None:
    """The archive's length in bytes (its file object is seekable: np.load opened a path)."""
    from ..formats.compression import stream_length

    return stream_length(archive.fp) if archive.fp is not None else None  # type: ignore[arg-type]


@contextmanager
def open_array(npz: np.lib.npyio.NpzFile, key: str, where: str) -> Iterator[tuple[NpyHeader, IO[bytes]]]:
    """The checked header of array ``key`` and the member stream positioned at its data."""
    if key not in npz.files:
        present = ", ".join(repr(k) for k in npz.files) or "no arrays"
        raise FormatError(f"{where}: no array {key!r} in the archive; it holds {present}. "
                          "Check the split's images_key/labels_key in the registry.")
    archive = npz.zip
    if archive is None:  # pragma: no cover - only after the NpzFile was closed
        raise FormatError(f"{where}: the archive was closed before its arrays were read.")
    members = set(archive.namelist())
    member = f"{key}.npy" if f"{key}.npy" in members else key
    info = archive.getinfo(member)
    where = f"{where} (array {key!r})"
    # sizes, method and flags first: the declared size bounds everything read below
    check_member(info, _length(archive), where)
    try:
        stream = archive.open(info)
    except ZIP_READ_ERRORS as exc:
        raise FormatError(f"{where}: unreadable zip member ({type(exc).__name__}: {exc}). "
                          "Delete the file and fetch it again.") from None
    with stream:
        header, header_bytes = _read_header(stream, key, where)
        if header.dtype.hasobject:
            raise FormatError(
                f"{where}: holds an array of Python objects (dtype {header.dtype}). Reading it would "
                "mean unpickling code from a downloaded file, which mnistfamily never does "
                "(allow_pickle=False). The file is not the published one; delete it and fetch it again.")
        if any(d < 0 for d in header.shape) or len(header.shape) > 32:
            raise FormatError(f"{where}: the .npy header declares the impossible shape {header.shape}. The file "
                              "is damaged or not the published one; delete it and fetch it again.")
        if header.nbytes != info.file_size - header_bytes:
            raise FormatError(
                f"{where}: the .npy header declares {header.dtype} {header.shape} ({header.nbytes:,} bytes), "
                f"but the member holds {info.file_size - header_bytes:,} bytes of data. The file is damaged "
                "or not the published one; delete it and fetch it again.")
        yield header, stream


def _read_header(stream: IO[bytes], key: str, where: str) -> tuple[NpyHeader, int]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
        offset = stream.tell()
    except (zipfile.BadZipFile, zlib.error) as exc:  # small members are read whole with the header
        raise FormatError(f"{where}: the archive's data is damaged ({type(exc).__name__}: {exc}). "
                          "Delete the file and fetch it again.") from None
    except (ValueError, EOFError, OSError, SyntaxError, TypeError, tokenize.TokenError) as exc:
        # numpy parses the header's dict with ast and, for version 1.0 headers, re-tokenizes
        # it (tokenize.TokenError is neither a ValueError nor a SyntaxError)
        raise FormatError(f"{where}: not a valid .npy array ({exc}). "
                          "The file is not the published one; delete it and fetch it again.") from None
    return NpyHeader(key, np.dtype(dtype), tuple(int(d) for d in shape), bool(fortran_order)), offset


def _published_shape(spec: DatasetSpec) -> tuple[int, ...]:
    """Image shape as stored: height and width swapped for a dataset published transposed."""
    shape = tuple(spec.image_shape)
    if spec.orientation == "transposed" and len(shape) >= 2:
        return (shape[1], shape[0], *shape[2:])
    return shape


def _check_images(spec: DatasetSpec, split: SplitSpec, header: NpyHeader, where: str) -> None:
    published = _published_shape(spec)
    expected_dtype = np.dtype(spec.image_dtype)
    if header.dtype != expected_dtype or len(header.shape) != 1 + len(published) \
            or header.shape[1:] != published:
        raise FormatError(f"{where}: expected {expected_dtype} images of shape (N, {', '.join(map(str, published))}); "
                          f"the .npy header says {header.dtype} {header.shape}.")
    if split.num_examples is not None and header.shape[0] != split.num_examples:
        raise FormatError(f"{where}: the registry says {split.num_examples:,} examples, the archive holds "
                          f"{header.shape[0]:,}. The file is not the published one; delete it and fetch it again.")


def _read_labels(spec: DatasetSpec, split: SplitSpec, npz: np.lib.npyio.NpzFile, key: str, n: int,
                 where: str) -> np.ndarray:
    num_classes = len(spec.classes)
    with open_array(npz, key, where) as (header, stream):
        where = f"{where} (array {key!r})"
        wanted = f"(N, {num_classes}) columns of 0/1" if spec.multi_label else "(N,) or (N, 1)"
        shape_ok = (header.shape == (n, num_classes) if spec.multi_label
                    else header.shape in ((n,), (n, 1)))
        if header.dtype.kind not in "iub" or not shape_ok:
            raise FormatError(f"{where}: expected integer labels of shape {wanted} with N = {n:,} (the number "
                              f"of images); the .npy header says {header.dtype} {header.shape}.")
        raw = _read_whole(stream, header, where)
    if spec.multi_label:
        if ((raw != 0) & (raw != 1)).any():
            row = int(np.flatnonzero(((raw != 0) & (raw != 1)).any(axis=1))[0])
            raise FormatError(f"{where}: multi-label row {row} holds {raw[row].tolist()}; expected only 0 and 1.")
        return np.ascontiguousarray(raw, dtype=np.int64)
    labels = raw.reshape(n).astype(np.int64) - spec.label_offset
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise FormatError(f"{where}: label {labels[first] + spec.label_offset} at row {first} is outside "
                          f"{spec.label_offset}..{num_classes - 1 + spec.label_offset} "
                          f"({num_classes} classes in the registry).")
    return labels


def _read_whole(stream: IO[bytes], header: NpyHeader, where: str) -> np.ndarray:
    """A whole (already size-checked) array in memory, in C order."""
    if header.fortran_order:
        array = np.empty(header.shape[::-1], dtype=header.dtype)
        _read_into(stream, array, where)
        return array.T
    array = np.empty(header.shape, dtype=header.dtype)
    _read_into(stream, array, where)
    return array


def _write_images(header: NpyHeader, stream: IO[bytes], writer: EntryWriter, transpose: bool, where: str) -> None:
    published = header.shape[1:]
    shape = (published[1], published[0], *published[2:]) if transpose else published
    images = writer.create("images", header.dtype, (header.shape[0], *shape))
    if header.fortran_order:  # rare (NumPy writes C order unless asked): decoded in memory once
        data = _read_whole(stream, header, where)
        images[...] = data.swapaxes(1, 2) if transpose else data
    elif transpose:
        per_image = max(1, header.nbytes // max(1, header.shape[0]))
        chunk = max(1, _CHUNK // per_image)
        buffer = np.empty((chunk, *published), dtype=header.dtype)
        for first in range(0, header.shape[0], chunk):
            count = min(chunk, header.shape[0] - first)
            _read_into(stream, buffer[:count], where, final=False)
            images[first:first + count] = buffer[:count].swapaxes(1, 2)
        _expect_end(stream, where)
    else:
        _read_into(stream, images, where)
    images.flush()
    del images


def _read_into(stream: IO[bytes], array: np.ndarray, where: str, *, final: bool = True) -> None:
    """Fill a C-contiguous array from the stream, a chunk at a time; check the member ends there."""
    if not array.flags.c_contiguous:  # reshape would copy, and the bytes would land in the copy
        raise ValueError("_read_into needs a C-contiguous array")
    view = array.reshape(-1).view(np.uint8).data
    filled = 0
    try:
        while filled < len(view):
            got = stream.readinto(view[filled:filled + _CHUNK])  # type: ignore[attr-defined]
            if not got:
                raise FormatError(f"{where}: the array data ends after {filled:,} of {len(view):,} bytes. "
                                  "The file is truncated; delete it and fetch it again.")
            filled += got
    except ZIP_READ_ERRORS as exc:
        raise FormatError(f"{where}: the archive's data is damaged ({type(exc).__name__}: {exc}). "
                          "Delete the file and fetch it again.") from None
    if final:
        _expect_end(stream, where)


def _expect_end(stream: IO[bytes], where: str) -> None:
    """Reading past the end makes zipfile check the member's CRC-32."""
    try:
        extra = stream.read(1)
    except ZIP_READ_ERRORS as exc:
        raise FormatError(f"{where}: the archive's data is damaged ({exc}). "
                          "Delete the file and fetch it again.") from None
    if extra:
        raise FormatError(f"{where}: more data follows the array. The file is not the published one; "
                          "delete it and fetch it again.")
