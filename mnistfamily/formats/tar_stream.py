"""Walking a published tarball member by member, as a stream, with every claim bounded.

A tarball is read front to back (``tarfile`` mode ``r|`` over our own bounded decompressor:
gzip, xz, bzip2 or none, recognised by the first bytes), nothing is ever extracted, and no
member name becomes a path: a reader matches :func:`member_name` against the names it
expects. What a hostile tarball can claim, and what happens:

- a long-name or PAX header of megabytes (tarfile reads one whole into memory), a GNU sparse
  member: :class:`~mnistfamily.errors.FormatError` before it is read;
- more members than ``max_members``, or more decompressed bytes than ``max_bytes`` (a bomb
  of tiny or zero-filled members): ``FormatError`` as soon as the bound is passed;
- links, devices, FIFOs, absolute names, ``..``: reported by :func:`member_name` as
  ``None``, for the reader to skip and count;
- truncated or damaged compressed data, a damaged header: ``FormatError``.

Examples
--------
>>> import io, tarfile
>>> from mnistfamily.formats.tar_stream import member_name, walk_tar
>>> buffer = io.BytesIO()
>>> with tarfile.open(fileobj=buffer, mode="w") as tar:
...     info = tarfile.TarInfo("./data/a.txt"); info.size = 2
...     tar.addfile(info, io.BytesIO(b"hi"))
>>> _ = buffer.seek(0)
>>> [(member_name(m), data) for m, data in walk_tar(buffer, "example.tar", lambda m: 100)]
[('data/a.txt', b'hi')]
"""

from __future__ import annotations

import io
import tarfile
from typing import BinaryIO, Callable, Iterator

from ..errors import FormatError
from .bzip2 import Bz2Stream, is_bzip2
from .compression import decompressing_reader, detect, peek
from .tar_members import MAX_HEADER_BYTES, TAR_ERRORS, BoundedTarInfo, HostileTarHeader, member_parts

__all__ = ["MAX_HEADER_BYTES", "member_name", "walk_tar"]

class _Budget:
    """A read-only stream that refuses to give more than ``limit`` bytes in total."""

    def __init__(self, inner: BinaryIO, limit: int, where: str):
        self._inner, self._limit, self._where = inner, limit, where
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self.count += len(data)
        if self.count > self._limit:
            raise FormatError(f"{self._where}: the tarball decompresses to more than {self._limit:,} bytes; "
                              "the published one is far smaller. Delete the file and fetch it again.")
        return data


def walk_tar(raw: BinaryIO, where: str, want: Callable[[tarfile.TarInfo], int | None], *,
             max_members: int = 1_000_000, max_bytes: int = 1 << 32) -> Iterator[tuple[tarfile.TarInfo, bytes | None]]:
    """Each member of the tarball in ``raw`` (a seekable stream), in order, with the bytes of those wanted.

    ``want(member)`` says, for each member, how many bytes at most to read from it (None: not
    read; only regular members are ever read). Yields ``(member, data)``, ``data`` being None
    for a member not read. A member is read whole, and one larger than ``want`` allows is a
    ``FormatError`` before a byte of it is read. Members not read are skipped (decompressed,
    not kept). Raises ``FormatError`` naming ``where`` for a damaged or truncated archive, a
    hostile header, more than ``max_members`` members or more than ``max_bytes`` decompressed
    bytes; a zip is refused.
    """
    head = peek(raw, 8)
    if detect(head) == "zip":
        raise FormatError(f"{where}: a zip archive, not a tarball. Delete it and fetch it again.")
    count = 0
    try:
        # bzip2 is asked for 1 MiB at a time: fed tarfile's 10 KiB reads, it costs three times as much
        payload = (io.BufferedReader(Bz2Stream(raw), buffer_size=1 << 20) if is_bzip2(head)  # type: ignore[arg-type]
                   else decompressing_reader(raw, detect(head)))
        budget = _Budget(payload, max_bytes, where)
        # decompressed here, not by tarfile ("r|gz"), whose stream inflates a whole read at once
        with tarfile.open(fileobj=budget, mode="r|", tarinfo=BoundedTarInfo) as tar:  # type: ignore[call-overload]
            while (member := tar.next()) is not None:
                # a TarFile keeps every header it has read: forgotten here, memory does not grow
                # with the number of members (HASYv2 has 168,274)
                tar.members.clear()  # type: ignore[attr-defined]  # an attribute typeshed omits
                count += 1
                if count > max_members:
                    raise FormatError(f"{where}: more than {max_members:,} members; the published tarball has "
                                      "far fewer. Delete the file and fetch it again.")
                limit = want(member) if member.isreg() else None
                data = None
                if limit is not None:
                    stream = tar.extractfile(member)  # never None for a regular member
                    data = _read_member(stream, member, limit, where) if stream is not None else None
                yield member, data
            # read what follows the end-of-archive blocks too: the decompressor then checks the
            # last block's CRC and the stream's end, and refuses anything after it
            while budget.read(1 << 16):
                pass
    except HostileTarHeader as exc:
        raise FormatError(f"{where}: member {count + 1:,} {exc}; published tarballs have no such member. "
                          "Delete the file and fetch it again.") from None
    except TAR_ERRORS as exc:
        raise FormatError(f"{where}: the archive is damaged or truncated after {count:,} members "
                          f"({exc}). Delete the file and fetch it again.") from None


def member_name(member: tarfile.TarInfo) -> str | None:
    """The member's name normalised (``./`` and repeated slashes dropped), or None when unsafe.

    None for anything but a regular file, and for absolute names, names with ``..``, backslashes
    or NUL: such a member can be none of a published archive's files, and is skipped.
    """
    if not member.isreg():
        return None
    parts = member_parts(member.name)
    if not parts:
        return None
    return "/".join(parts)


def _read_member(stream: BinaryIO, member: tarfile.TarInfo, limit: int, where: str) -> bytes:
    """A regular member's bytes, at most ``limit`` (checked against its header before reading)."""
    if member.size > limit:
        raise FormatError(f"{where}: member {member.name[:200]!r} is {member.size:,} bytes; at most {limit:,} "
                          "are expected. Delete the file and fetch it again.")
    data = stream.read(member.size)
    if len(data) != member.size:  # pragma: no cover - tarfile raises ReadError on a short member first
        raise FormatError(f"{where}: member {member.name[:200]!r} ends after {len(data):,} of its "
                          f"{member.size:,} bytes. Delete the file and fetch it again.")
    return data
