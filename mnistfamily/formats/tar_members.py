"""Reading a tarball member by member, as a stream, without trusting its headers.

A tarball (plain, gzip'd or xz'd: recognised by its first bytes) is read front to back in
``tarfile``'s stream mode (``r|``) over our bounded decompressors; no member is extracted and
no member name becomes a path: :func:`member_parts` turns a name into the parts a reader
compares with the names it expects, or None for a name that is absolute or climbs out
(``../``). :func:`tar_members` yields each member header, forgetting the ones read (memory does
not grow with the number of members), and refuses what would make ``tarfile`` read without a
bound: a long-name or PAX header larger than :data:`MAX_HEADER_BYTES`, a GNU sparse member, or
a member declared past what the compressed file can expand to (deflate 1,032:1, xz 16,384:1),
which would otherwise be skipped by decompressing all of it. Every failure is a
:class:`~mnistfamily.errors.FormatError` naming the file.

This walker streams a member's bytes to its caller, chunk by chunk (CIFAR's ``train.bin`` is
154 MB); ``tar_stream.walk_tar`` hands over each wanted member whole (HASYv2's small files) and shares
this module's header checks, as ``prepare/png_tar_split.py`` does.
"""

from __future__ import annotations

import lzma
import tarfile
import zlib
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from ..errors import FormatError, MnistFamilyError
from .compression import MAX_DEFLATE_RATIO, MAX_XZ_RATIO, decompressing_reader, detect, peek, stream_length

__all__ = ["MAX_HEADER_BYTES", "TAR_ERRORS", "BoundedTarInfo", "HostileTarHeader", "member_parts", "tar_members"]

#: a long-name or PAX header of a published tarball takes a few hundred bytes; tarfile reads one
#: whole into memory before the member it describes
MAX_HEADER_BYTES = 64 << 10
#: what reading a damaged or truncated tarball raises, whichever layer notices
TAR_ERRORS: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError,
                                               UnicodeError)
#: tarfile's buffer in stream mode: large members are read in pieces of this size
_BUFSIZE = 1 << 20
_RATIOS = {None: 1, "gzip": MAX_DEFLATE_RATIO, "xz": MAX_XZ_RATIO}


class HostileTarHeader(tarfile.TarError):
    """A header tarfile would read whole (or loop over) without a bound."""


class BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses oversized long-name and PAX headers, and GNU sparse members.

    tarfile reads a GNU long name or a PAX header whole (``fileobj.read(size)``), and follows
    GNU sparse extension blocks for as long as they say more follow: both grow with the
    decompressed stream, not with the file. ``_proc_member`` is where tarfile picks the handler
    (CPython 3.8-3.13).
    """

    def _proc_member(self, tarfile_: tarfile.TarFile):  # type: ignore[override]
        if self.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                         tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE) and self.size > MAX_HEADER_BYTES:
            raise HostileTarHeader(f"is a {self.size:,}-byte extended header (long name or PAX); at most "
                                f"{MAX_HEADER_BYTES:,} bytes are read")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise HostileTarHeader("is a GNU sparse file")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


def member_parts(name: str) -> tuple[str, ...] | None:
    """The parts of a member name (``./a//b`` -> ``("a", "b")``), or None when it is not safe to compare.

    Absolute names, names with ``..``, backslashes or NUL are never the name of a published
    member: None, so a caller skips (or refuses) them.

    Examples
    --------
    >>> member_parts("./cifar-10-batches-bin//test_batch.bin")
    ('cifar-10-batches-bin', 'test_batch.bin')
    >>> member_parts("../cifar-10-batches-bin/test_batch.bin") is None
    True
    """
    if name.startswith("/") or "\\" in name or "\0" in name:
        return None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    return None if ".." in parts else parts


@contextmanager
def tar_members(file: BinaryIO, where: str, next_step: str, *,
                max_bytes: int | None = None) -> Iterator[Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]]:
    """The members of the tarball ``file`` (from its current position), as ``(tar, member)`` pairs.

    ``max_bytes`` bounds the whole decompressed tarball: a member declared past it is refused
    before it is read or skipped (a genuine deflate bomb would otherwise be skipped by
    decompressing all of it).

    Read a member's bytes with ``tar.extractfile(member)`` before asking for the next one
    (stream mode cannot go back). Errors, on opening as while iterating, are
    :class:`~mnistfamily.errors.FormatError` naming ``where`` and ending with ``next_step``.
    """
    size = stream_length(file)
    kind = detect(peek(file))
    if kind == "zip":
        raise FormatError(f"{where}: a zip archive, not a tarball. {next_step}")
    # the most bytes the compressed file can expand to: a member declared past it is not there
    limit = None if size is None else (size - file.tell()) * _RATIOS[kind] + (1 << 20)
    if max_bytes is not None:
        limit = max_bytes if limit is None else min(limit, max_bytes)
    # decompressed here, not by tarfile ("r|gz"), whose stream inflates a whole read at once
    stream = decompressing_reader(file, kind)
    try:
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=BoundedTarInfo, bufsize=_BUFSIZE) as tar:
            yield _members(tar, limit, where, next_step)
    except MnistFamilyError:
        raise  # the caller's own errors (a full disk while writing is a CacheError, an OSError) pass as they are
    except HostileTarHeader as exc:
        raise FormatError(f"{where}: a member {exc}; published tarballs have no such member. {next_step}") from None
    except TAR_ERRORS as exc:
        raise FormatError(f"{where}: the archive is damaged or truncated ({type(exc).__name__}: {exc}). "
                          f"{next_step}") from None
    finally:
        if stream is not file:  # the caller's file stays open (a plain tarball is read directly)
            stream.close()


def _members(tar: tarfile.TarFile, limit: int | None, where: str,
             next_step: str) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    while (member := tar.next()) is not None:
        # a TarFile keeps every header it has read: forgotten here, memory stays flat
        tar.members.clear()  # type: ignore[attr-defined]  # an attribute typeshed omits
        if limit is not None and member.offset_data + member.size > limit:
            raise FormatError(f"{where}: member {member.name[:200]!r} declares {member.size:,} bytes at offset "
                              f"{member.offset_data:,}, more than the file's compressed bytes can expand to (or a tarball of "
                              f"this kind holds). "
                              f"{next_step}")
        yield tar, member
