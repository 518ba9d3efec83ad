"""Checks on a zip member before any of it is read (EMNIST's gzip.zip, .npz, affNIST's .mat zips).

A zip's central directory is data like any other: it can claim a member is a terabyte,
point a member's compressed bytes past the end of the archive, mark it encrypted or
compressed with a method we do not read. :func:`check_member` compares those claims with
the archive's real length and with what deflate can produce, so a reader can trust
``info.file_size`` as a bound on memory and disk (``ZipExtFile`` never returns more than
it). :data:`ZIP_READ_ERRORS` is what reading a damaged member raises, whichever layer
(zipfile, zlib, the file system) notices.
"""

from __future__ import annotations

import lzma
import zipfile
import zlib

from ..errors import FormatError
from .compression import MAX_DEFLATE_RATIO

#: what opening or reading a damaged member raises: zipfile's own error, the decompressor's
#: (zlib.error is not an OSError), NotImplementedError for an unknown version or method and
#: RuntimeError for an encrypted member
ZIP_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError, NotImplementedError,
    RuntimeError)

#: the compression methods of published archives (stored and deflated)
READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_LOCAL_HEADER = 30  # bytes of a local file header before its name and extra field


def check_member(info: zipfile.ZipInfo, archive_size: int | None, where: str) -> None:
    """Refuse a member whose declared sizes, method or flags the archive cannot back up.

    ``archive_size`` is the archive's length in bytes (None when unknown: only the ratio
    and method are checked). Raises :class:`~mnistfamily.errors.FormatError` naming
    ``where`` and the member.

    Examples
    --------
    >>> import zipfile
    >>> info = zipfile.ZipInfo("x.npy"); info.compress_type = zipfile.ZIP_DEFLATED
    >>> info.compress_size, info.file_size = 10, 10**9
    >>> check_member(info, 1000, "demo.zip")
    Traceback (most recent call last):
    ...
    mnistfamily.errors.FormatError: demo.zip: member 'x.npy' claims 1,000,000,000 bytes from 10 compressed bytes, more than the compression can produce (deflate expands at most 1,032 times). The archive is malformed or hostile; delete it and fetch it again.
    """
    here = f"{where}: member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise FormatError(f"{here} is encrypted; published archives are not. Delete the archive and "
                          "fetch it again.")
    if info.compress_type not in READABLE_METHODS:
        raise FormatError(f"{here} is compressed with zip method {info.compress_type}; published archives "
                          "use stored or deflated members only. Delete the archive and fetch it again.")
    offset = getattr(info, "header_offset", 0)  # absent on a ZipInfo not read from an archive
    if archive_size is not None and offset + _LOCAL_HEADER + info.compress_size > archive_size:
        raise FormatError(f"{here} claims {info.compress_size:,} compressed bytes at offset "
                          f"{offset:,}, past the end of the {archive_size:,}-byte archive: it is "
                          "truncated or hostile. Delete it and fetch it again.")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise FormatError(f"{here} is stored uncompressed but claims {info.file_size:,} bytes in "
                          f"{info.compress_size:,}. The archive is malformed; delete it and fetch it again.")
    # a deflate stream ends with at most a few bytes of slack: 1032 times plus a little
    if info.file_size > info.compress_size * MAX_DEFLATE_RATIO + 1024:
        raise FormatError(f"{here} claims {info.file_size:,} bytes from {info.compress_size:,} compressed "
                          f"bytes, more than the compression can produce (deflate expands at most {MAX_DEFLATE_RATIO:,} "
                          "times). The archive is malformed or hostile; delete it and fetch it again.")

