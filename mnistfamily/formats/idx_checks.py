"""The checks that make reading an IDX file safe, before and while anything is allocated.

A header is data like any other: it may promise more than the file holds (truncated), less
(oversized or garbage), more than the compression can produce, or more than numpy can address.
Each check compares the promise with what the container can vouch for and raises a
:class:`~mnistfamily.errors.FormatError` naming the file, the promise and what was found.
"""

from __future__ import annotations

import math
import os
import stat
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from ..errors import FormatError
from .compression import DECOMPRESSION_ERRORS, MAX_DEFLATE_RATIO, MAX_XZ_RATIO, inflated_size

if TYPE_CHECKING:
    from .idx import IdxHeader

#: numpy's limit on an array's size in bytes (a shape such as (0, 2**32-1, 2**32-1, 2**32-1)
#: holds nothing, yet numpy refuses it: the product of the other dimensions overflows)
_MAX_ARRAY_BYTES = np.iinfo(np.intp).max


def damaged(name: str, exc: BaseException, kind: str | None = None) -> FormatError:
    """The error for a compressed stream that failed: cut short (``EOFError``), or damaged."""
    what = f" ({kind})" if kind else ""
    if isinstance(exc, EOFError):
        return FormatError(f"{name}: truncated: the compressed stream{what} ends before its end marker ({exc}). "
                           "Delete the file and download it again.")
    return FormatError(f"{name}: cannot decompress{what}: {exc}. The file is damaged; delete it and "
                       "download it again.")


def open_regular(path: str | os.PathLike[str], name: str) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file (symlinks followed).

    A missing file raises ``FileNotFoundError`` as ``open`` does; a FIFO, a device, a socket or a
    folder is a :class:`FormatError` at once (opening a FIFO would wait for a writer).
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "not a regular file")
        raise FormatError(f"{name}: is {kind}, not a regular file; read_idx reads files by path. To read "
                          "from a pipe, open it yourself and pass the file object: a stream is read as its "
                          "bytes arrive, never past what the header promises.")
    return open(path, "rb")


def total(header: IdxHeader) -> int:
    """Bytes of the whole payload the header promises, the header itself included."""
    return header.header_size + header.payload_bytes


def measure_gzip(raw: BinaryIO, start: int, expected: int, name: str) -> tuple[int, str]:
    """What a gzip stream holds (its payload, header included), counted up to one byte past ``expected``."""
    raw.seek(start)
    try:
        count, ended = inflated_size(raw, "gzip", expected + 1)
    except DECOMPRESSION_ERRORS as exc:
        raise damaged(name, exc, "gzip") from None
    if not ended:
        return count, "gzip stream ends (before its end marker) after"
    return count, "gzip stream holds" if count <= expected else "gzip stream holds more than"


def check_unmeasured(header: IdxHeader, name: str) -> None:
    # a pipe or a socket: nothing says how long it is, and a stream that never ends would grow
    # the array as long as the header allows; refuse promises past the configured cap up front
    from .. import config

    cap = config.max_unknown_size()
    if header.payload_bytes > cap:
        raise FormatError(
            f"{name}: the header promises {header.payload_bytes:,} data bytes (shape {header.shape}) from a "
            f"stream whose length cannot be measured; at most {cap:,} bytes are read from such a stream "
            "(MNISTFAMILY_MAX_UNKNOWN_SIZE). Pass a path or a seekable file instead, or raise the cap.")


def check_addressable(header: IdxHeader, name: str) -> None:
    # after the size checks, which say "truncated" for most such headers; what is left is a
    # shape with a zero, e.g. (0, 2**32-1, 2**32-1, 2**32-1): no data, yet numpy refuses it
    # because it multiplies the other dimensions too
    if math.prod(d for d in header.shape if d) * header.dtype.itemsize > _MAX_ARRAY_BYTES:
        raise FormatError(f"{name}: IDX header declares shape {header.shape}, larger than any array numpy "
                          "can address; the header is damaged. Delete the file and download it again.")


def check_declared(header: IdxHeader, declared: int, kind: str | None, name: str, what: str | None = None) -> None:
    expected = total(header)
    found = declared
    if kind == "gzip" and what is None:  # ISIZE is the size modulo 2**32
        expected_cmp, found_cmp = expected % (1 << 32), declared
    else:
        expected_cmp, found_cmp = expected, found
    if expected_cmp != found_cmp:
        what = what or {None: "file is", "gzip": "gzip trailer records", "xz": "xz index records"}.get(
            kind, "container says")
        raise FormatError(
            f"{name}: header promises shape {header.shape} of {header.dtype.name} "
            f"({expected:,} bytes with the header) but the {what} {found:,} bytes: "
            f"{'truncated' if found < expected else 'oversized or garbage'}. "
            "Delete the file and download it again."
        )


def check_ratio(header: IdxHeader, compressed: int | None, kind: str, name: str) -> None:
    # gzip: ISIZE is modulo 2**32, so a header promising 2**32*k + n bytes would pass the
    # trailer check. xz: the index is only checked by lzma at the end of the stream, so an
    # index and a header that agree on a terabyte would otherwise be allocated up front.
    ratio = MAX_DEFLATE_RATIO if kind == "gzip" else MAX_XZ_RATIO
    if compressed and header.header_size + header.payload_bytes > compressed * ratio:
        raise FormatError(
            f"{name}: header promises {header.payload_bytes:,} data bytes, more than a "
            f"{compressed:,}-byte {kind} file can hold (at most {ratio:,} times its size): the header "
            "is wrong. Delete the file and download it again.")
