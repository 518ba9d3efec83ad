"""The IDX format (LeCun's "SN3"): reader and writer for every type and any rank.

Layout: two zero bytes, a type byte, a rank byte, one big-endian uint32 per dimension,
then the data, row-major and big-endian. The container (raw, gzip, xz) is recognised by
magic bytes, never by the file name. Before anything is allocated the header is checked
against the size the container reports; decompression never produces more than the
header promises, and a payload that is short or long is an error naming the file.

Valid files are read whole: a gzip file of several members (whose trailer records only the
last member's size) is measured by decompressing it once more, and an xz file's streams are
added up. A stream that cannot be measured (a pipe, a socket) is read as its bytes arrive, never
past the header's promise, and a promise larger than ``MNISTFAMILY_MAX_UNKNOWN_SIZE`` is refused
before reading. A path is read only if it is a regular file: a FIFO would block the reader until
some other process writes to it.
"""

from __future__ import annotations

import io
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Iterator

import numpy as np

from ..errors import FormatError
from .compression import (
    DECOMPRESSION_ERRORS,
    compressor_for,
    decompressing_reader,
    detect,
    payload_size,
    peek,
    stream_length,
)
from .idx_checks import (
    check_addressable,
    check_declared,
    check_ratio,
    check_unmeasured,
    damaged,
    measure_gzip,
    open_regular,
    total,
)

#: IDX type byte -> big-endian numpy dtype
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_OF = {dt.newbyteorder("=").str[1:]: code for code, dt in IDX_TYPES.items()}
_CHUNK = 1 << 22  # 4 MiB per read: large enough for speed, small enough to bound memory
#: numpy's limit on the rank of an array (NPY_MAXDIMS: 64 since NumPy 2, 32 before); the IDX
#: rank byte allows 255, and a file numpy cannot hold must be a FormatError, not a ValueError
MAX_RANK = 64 if int(np.__version__.split(".")[0]) >= 2 else 32


@dataclass(frozen=True)
class IdxHeader:
    """The parsed header of an IDX file."""

    dtype: np.dtype  # big-endian, as stored
    shape: tuple[int, ...]
    header_size: int

    @property
    def payload_bytes(self) -> int:
        """Bytes of data after the header that the dimensions promise."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def row_bytes(self) -> int:
        """Bytes of one entry along the first axis."""
        return math.prod(self.shape[1:]) * self.dtype.itemsize


def _name(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


def parse_header(stream: BinaryIO, name: str) -> IdxHeader:
    """Read and validate an IDX header from a payload stream."""
    magic = _read_exact(stream, 4, name, "the 4-byte IDX magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise FormatError(
            f"{name}: not an IDX file: expected the magic number to start with two zero bytes, "
            f"found {magic.hex(' ')}. Check that the file is the one you meant (an HTML error "
            "page or a different format gives this)."
        )
    if magic[2] not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise FormatError(f"{name}: unknown IDX type byte 0x{magic[2]:02X}; expected one of {known}.")
    rank = magic[3]
    if rank == 0:
        raise FormatError(f"{name}: IDX header declares 0 dimensions; expected at least 1.")
    if rank > MAX_RANK:
        raise FormatError(f"{name}: IDX header declares {rank} dimensions; numpy arrays hold at most "
                          f"{MAX_RANK}, so this file cannot be read as an array (no published IDX file "
                          "has more than 3). Check that the file is the one you meant.")
    dims = _read_exact(stream, 4 * rank, name, f"{rank} dimension sizes")
    shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(rank))
    return IdxHeader(IDX_TYPES[magic[2]], shape, 4 + 4 * rank)


def _read_exact(stream: BinaryIO, n: int, name: str, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise FormatError(f"{name}: truncated: expected {what} ({n} bytes), found {len(data)} bytes.")
    return data


@contextmanager
def open_idx(source: str | os.PathLike[str] | BinaryIO) -> Iterator[tuple[IdxHeader, BinaryIO, bool]]:
    """Open an IDX file (raw, .gz or .xz) and yield its header, payload stream and a flag.

    The stream is positioned at the first data byte. The flag says whether the header was
    compared with the size the container reports (always, for seekable files); only then is
    allocating ``header.payload_bytes`` up front safe.
    """
    name = _name(source)
    owned = isinstance(source, (str, os.PathLike))
    raw: BinaryIO = open_regular(source, name) if owned else source  # type: ignore[arg-type, assignment]
    try:
        seekable = _seekable(raw)
        if not seekable:
            raw = io.BufferedReader(raw)  # type: ignore[arg-type, type-var]
        head = peek(raw) if seekable else raw.peek(8)[:8]  # type: ignore[attr-defined]
        kind = detect(head)
        if kind == "zip":
            raise FormatError(
                f"{name}: this is a zip archive, not an IDX file; read its members instead "
                "(mnistfamily reads registry zips member by member)."
            )
        start = raw.tell() if seekable else 0
        declared = payload_size(raw, kind) if seekable else None
        stream = decompressing_reader(raw, kind)
        header = _header(stream, kind, name)
        what = None
        if declared is not None and kind == "gzip" and declared != total(header) % (1 << 32):
            # the trailer records the last member's size only: a file of several members (valid
            # gzip) disagrees with it, so measure what the whole stream holds, in a second pass
            check_ratio(header, stream_length(raw), kind, name)
            stream.close()
            declared, what = measure_gzip(raw, start, total(header), name)
            raw.seek(start)
            stream = decompressing_reader(raw, kind)
            header = _header(stream, kind, name)
        if declared is not None:
            check_declared(header, declared, kind, name, what)
            if kind in ("gzip", "xz"):
                check_ratio(header, stream_length(raw), kind, name)
        else:
            check_unmeasured(header, name)
        check_addressable(header, name)
        try:
            yield header, stream, declared is not None
        finally:
            if stream is not raw:
                stream.close()
    finally:
        if owned:
            raw.close()


def _header(stream: BinaryIO, kind: str | None, name: str) -> IdxHeader:
    try:
        return parse_header(stream, name)
    except DECOMPRESSION_ERRORS as exc:  # corrupt compressed stream
        raise damaged(name, exc, kind) from None


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, ValueError):
        return False


def read_payload_into(stream: BinaryIO, out: memoryview, name: str) -> None:
    """Fill ``out`` from ``stream`` exactly; a short stream is a FormatError naming the file."""
    filled = 0
    total = len(out)
    while filled < total:
        try:
            n = stream.readinto(out[filled: filled + _CHUNK])  # type: ignore[attr-defined]
        except DECOMPRESSION_ERRORS as exc:
            raise damaged(name, exc) from None
        if not n:
            raise FormatError(
                f"{name}: truncated: expected {total:,} data bytes, found {filled:,}. "
                "Delete the file and download it again."
            )
        filled += n


def skip_payload(stream: BinaryIO, nbytes: int, name: str) -> None:
    """Advance a payload stream by ``nbytes`` (by seeking where possible)."""
    if nbytes <= 0:
        return
    scratch = bytearray(min(nbytes, _CHUNK))
    left = nbytes
    while left:
        view = memoryview(scratch)[: min(left, len(scratch))]
        read_payload_into(stream, view, name)
        left -= len(view)


def expect_end(stream: BinaryIO, name: str, expected: int) -> None:
    """Fail if the payload continues past what the header promised."""
    try:
        extra = stream.read(1)
    except DECOMPRESSION_ERRORS as exc:
        raise damaged(name, exc) from None
    if extra:
        raise FormatError(
            f"{name}: oversized: the header promises {expected:,} data bytes but more follow. "
            "The file is not the one the header describes; download it again."
        )


def read_idx(source: str | os.PathLike[str] | BinaryIO, *, rows: tuple[int, int] | None = None) -> np.ndarray:
    """Read any IDX file (raw, .gz or .xz, recognised by magic bytes) into a numpy array.

    Parameters
    ----------
    source
        A path or a binary file object.
    rows
        Optional ``(start, stop)`` along the first axis; only those rows are decoded.

    Returns
    -------
    numpy.ndarray
        Native byte order, shape from the header.

    Examples
    --------
    >>> import numpy as np, tempfile, os, mnistfamily as mf
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
    >>> mf.write_idx(path, np.arange(5, dtype=np.uint8))
    >>> mf.read_idx(path)
    array([0, 1, 2, 3, 4], dtype=uint8)
    """
    name = _name(source)
    with open_idx(source) as (header, stream, checked):
        start, stop = _row_range(header, rows, name)
        skip_payload(stream, start * header.row_bytes, name)
        shape = (stop - start, *header.shape[1:])
        if checked:
            out = np.empty(shape, dtype=header.dtype)
            read_payload_into(stream, out.reshape(-1).view(np.uint8).data, name)
        else:  # nothing vouched for the header's size: grow with the data actually read
            data = _read_growing(stream, math.prod(shape) * header.dtype.itemsize, name)
            out = np.frombuffer(data, dtype=header.dtype).reshape(shape)
        if rows is None:
            expect_end(stream, name, header.payload_bytes)
    return out.astype(out.dtype.newbyteorder("="), copy=False)


def _read_growing(stream: BinaryIO, nbytes: int, name: str) -> bytearray:
    data = bytearray()
    while len(data) < nbytes:
        try:
            chunk = stream.read(min(_CHUNK, nbytes - len(data)))
        except DECOMPRESSION_ERRORS as exc:
            raise damaged(name, exc) from None
        if not chunk:
            raise FormatError(f"{name}: truncated: expected {nbytes:,} data bytes, found {len(data):,}.")
        data += chunk
    return data


def _row_range(header: IdxHeader, rows: tuple[int, int] | None, name: str) -> tuple[int, int]:
    if rows is None:
        return 0, header.shape[0]
    start, stop = rows
    if not 0 <= start < stop <= header.shape[0]:
        raise FormatError(f"{name}: rows {start}:{stop} are outside the {header.shape[0]} rows the header declares.")
    return start, stop


def idx_type_code(dtype: np.dtype) -> int:
    """The IDX type byte for a numpy dtype (uint8, int8, int16, int32, float32, float64)."""
    key = np.dtype(dtype).newbyteorder("=").str[1:]
    try:
        return _TYPE_OF[key]
    except KeyError:
        raise FormatError(
            f"IDX cannot store dtype {np.dtype(dtype).name}; it holds uint8, int8, int16, int32, "
            "float32 and float64. Cast the array first (e.g. array.astype(np.int32))."
        ) from None


def encode_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """The header bytes for an array of ``dtype`` and ``shape``."""
    if not 1 <= len(shape) <= 255:
        raise FormatError(f"IDX holds 1 to 255 dimensions; found {len(shape)}.")
    if any(d >= 1 << 32 for d in shape):
        raise FormatError(f"IDX dimensions must be below 2**32; found {shape}.")
    code = idx_type_code(dtype)
    return bytes([0, 0, code, len(shape)]) + b"".join(int(d).to_bytes(4, "big") for d in shape)


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as an IDX file; ``.gz``/``.xz`` suffixes compress it.

    The file is written under a temporary name and renamed into place, so a reader never
    sees half a file. Compressed output is reproducible (no timestamp in the gzip header).

    Examples
    --------
    >>> import numpy as np, tempfile, os, mnistfamily as mf
    >>> path = os.path.join(tempfile.mkdtemp(), "x-idx3-ubyte")
    >>> mf.write_idx(path, np.zeros((2, 28, 28), np.uint8))
    >>> mf.read_idx(path).shape
    (2, 28, 28)
    """
    array = np.asarray(array)
    header = encode_header(array.dtype, array.shape)
    big = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))
    from ..safe_write import atomic_write  # a marked temporary area beside the target, then one rename

    target = Path(path)
    opener, _ = compressor_for(target)

    def write(raw: IO[bytes]) -> None:
        sink = opener(raw) if opener else raw
        try:
            sink.write(header)
            sink.write(big.reshape(-1).view(np.uint8).data)
        finally:
            if sink is not raw:
                sink.close()

    atomic_write(target, write)
