"""Recognise compression by magic bytes and learn a payload's size before decompressing.

Readers never trust a file name: ``detect`` looks at the first bytes. ``payload_size``
reads what a container says about its uncompressed size (the gzip ISIZE trailer, the xz
indexes) so a reader can compare it with what a header promises *before* allocating.

Whichever decompressor runs (zlib, lzma, or ISA-L with the ``fast`` extra), a damaged stream
raises one of :data:`DECOMPRESSION_ERRORS`: ISA-L's own ``IsalError`` is turned into
``zlib.error`` where it is raised, so every reader treats it as the damaged file it is.
"""

from __future__ import annotations

import abc
import gzip
import importlib
import io
import lzma
import os
import zlib
from typing import Any, BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZIP_MAGIC = b"PK\x03\x04"


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:  # pragma: no cover - depends on the environment
        return None


#: Intel ISA-L inflates gzip 2-3x faster than zlib; optional (``pip install mnistfamily[fast]``)
_fast_gzip: Any = _optional("isal.igzip")
_isal_lib: Any = _optional("isal.igzip_lib")
#: the reader inside ``isal.igzip.GzipFile`` (typed in isal's stubs), taken directly to choose its
#: input buffer: GzipFile reads 512 KiB at a time, ours 128 KiB, as the zlib path does
_fast_reader: Any = getattr(_optional("isal.isal_zlib"), "_GzipReader", None)
#: ISA-L's own exception for damaged deflate data (it derives from Exception only)
_FAST_ERRORS: tuple[type[BaseException], ...] = (_isal_lib.IsalError,) if _isal_lib is not None else ()

#: what a corrupt compressed stream raises, whichever decompressor reads it
DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError,
                                                         *_FAST_ERRORS)

#: deflate cannot expand data more than about 1032:1; a gzip file whose header promises more
#: than this times its own size is not what it claims (checked where ISIZE cannot tell)
MAX_DEFLATE_RATIO = 1032
#: LZMA2 packs a run of zeros about 6,900:1 (1 GiB of zeros -> 156 KB with preset 9); its
#: range coder cannot spend much less than 0.3 bits on a 273-byte match, so twice that ratio
#: is a safe bound on what an xz file can expand to
MAX_XZ_RATIO = 16384


def detect(head: bytes) -> str | None:
    """``"gzip"``, ``"xz"``, ``"zip"`` or ``None`` (uncompressed) from a file's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    return None


def peek(stream: BinaryIO, n: int = 8) -> bytes:
    """The first ``n`` bytes of a seekable stream, leaving its position unchanged."""
    pos = stream.tell()
    head = stream.read(n)
    stream.seek(pos)
    return head


def decompressing_reader(stream: BinaryIO, kind: str | None) -> BinaryIO:
    """A readable stream of the payload: ``stream`` itself, or a decompressor around it."""
    if kind is None:
        return stream
    if kind == "gzip":
        if _fast_gzip is not None:
            return io.BufferedReader(_FastGzipStream(stream))  # type: ignore[return-value]
        return io.BufferedReader(GzipStream(stream))  # type: ignore[return-value]
    if kind == "xz":
        return io.BufferedReader(XzStream(stream))  # type: ignore[return-value]
    raise ValueError(f"cannot stream-decompress {kind!r}")


#: compressed bytes handed to zlib per call: large enough that per-call overhead vanishes,
#: small enough to keep streaming readers (notMNIST's tarballs) in flat, small memory
_BLOCK = 1 << 17


class GzipStream(io.RawIOBase):
    """gzip decompression by zlib, fed in 128 KiB blocks: the reader used when ISA-L is absent.

    ``gzip.GzipFile`` feeds zlib 8 KiB at a time and computes the CRC-32 in Python's loop;
    here zlib parses the gzip header and checks the CRC and length trailer itself
    (``wbits=31``), from 128 KiB blocks: less work per byte. Concatenated members are read
    one after the other and zero padding after the last one is ignored, as ``gzip`` does. A
    truncated stream raises ``EOFError``, damaged data ``zlib.error``.
    """

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._inflate = zlib.decompressobj(31)
        self._input = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while not self._done and len(view):
            if not self._input:
                self._input = self._raw.read(_BLOCK)
                if not self._input:
                    raise EOFError("the gzip stream ends before its end-of-stream marker")
            out = self._inflate.decompress(self._input, len(view))
            self._input = self._inflate.unconsumed_tail
            if self._inflate.eof:
                self._next_member(self._inflate.unused_data)
            if out:
                view[:len(out)] = out
                return len(out)
        return 0

    def _next_member(self, rest: bytes) -> None:
        rest = rest.lstrip(b"\0")
        if not rest:
            rest = self._raw.read(_BLOCK).lstrip(b"\0")
        if not rest:
            self._done = True
            return
        self._inflate = zlib.decompressobj(31)
        self._input = rest


class ConcatenatedStreams(io.RawIOBase):
    """Every stream of a file of concatenated compressed streams, fed to the decompressor in 128 KiB blocks.

    The decompressor is asked for at most what the caller's buffer holds, so memory stays flat
    whatever the ratio. When one stream ends, what follows must start another (a new
    decompressor says so, or raises its own error), after zero padding where the format allows
    it (``zero_padding``). A stream cut short raises ``EOFError``. Subclasses name the format
    (``kind``) and make its decompressor; :class:`XzStream` here, ``bzip2.Bz2Stream`` for bzip2.
    """

    kind = "compressed"
    #: zero bytes may pad between and after streams (xz), or may not (bzip2)
    zero_padding = False

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._decompressor = self._new_decompressor()
        self._input = b""
        self._done = False

    @abc.abstractmethod
    def _new_decompressor(self) -> Any:
        """A fresh decompressor of the format (``decompress(data, max_length)``, ``needs_input``, ``eof``)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while not self._done and len(view):
            data = b""
            if self._decompressor.needs_input:
                if not self._input:
                    self._input = self._raw.read(_BLOCK)
                    if not self._input:
                        raise EOFError(f"the {self.kind} stream ends before its end-of-stream marker")
                data, self._input = self._input, b""
            out = self._decompressor.decompress(data, len(view))
            if self._decompressor.eof:
                self._next_stream(self._decompressor.unused_data)
            if out:
                view[:len(out)] = out
                return len(out)
        return 0

    def _skip_padding(self, data: bytes) -> bytes:
        return data.lstrip(b"\0") if self.zero_padding else data

    def _next_stream(self, rest: bytes) -> None:
        rest = self._skip_padding(rest)
        while not rest:
            more = self._raw.read(_BLOCK)
            if not more:
                self._done = True
                return
            rest = self._skip_padding(more)
        # anything else must be another stream: a new decompressor says so, or raises its error
        self._decompressor = self._new_decompressor()
        self._input = rest


class XzStream(ConcatenatedStreams):
    """xz decompression of every stream of a file, as ``xz`` reads it.

    An xz file may hold several streams, with zero padding between and after them; Python's
    ``lzma.LZMAFile`` stops at the first padding and silently drops what follows, so a valid
    file would read short. Data after a stream that is neither padding nor another stream is
    an ``lzma.LZMAError``, as ``xz`` reports it; a truncated stream raises ``EOFError``.
    """

    kind = "xz"
    zero_padding = True

    def _new_decompressor(self) -> Any:
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)


class _FastGzipStream(io.RawIOBase):
    """ISA-L's gzip reader, raising ``zlib.error`` where ISA-L raises its own ``IsalError``.

    Readers catch the standard library's exceptions for damaged data (``zlib.error``, ``EOFError``,
    ``OSError``); ISA-L's derives from ``Exception`` alone and would escape them all. Several
    members and zero padding are read as ``gzip`` reads them.
    """

    def __init__(self, raw: BinaryIO):
        self._gzip = (_fast_reader(raw, _BLOCK) if _fast_reader is not None
                      else _fast_gzip.GzipFile(fileobj=raw, mode="rb"))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            return int(self._gzip.readinto(buffer))
        except _FAST_ERRORS as exc:
            raise zlib.error(f"{exc} (ISA-L)") from None

    def close(self) -> None:
        self._gzip.close()
        super().close()


def inflated_size(stream: BinaryIO, kind: str, limit: int) -> tuple[int, bool]:
    """Decompress ``stream`` from its position, counting bytes, up to ``limit``: ``(count, ended)``.

    ``ended`` is False when the compressed data stops before its end-of-stream marker (a
    truncated file). Damaged data raises one of :data:`DECOMPRESSION_ERRORS`. Nothing is kept:
    memory stays at one block whatever the payload measures. For a gzip file of several
    members, whose trailer gives only the last member's size, this is the way to measure it.
    """
    reader = decompressing_reader(stream, kind)
    count = 0
    try:
        while count < limit:
            chunk = reader.read(min(_BLOCK * 8, limit - count))
            if not chunk:
                break
            count += len(chunk)
    except EOFError:
        return count, False
    finally:
        if reader is not stream:
            reader.close()
    return count, True


def stream_length(stream: BinaryIO) -> int | None:
    """Total length of a seekable stream, or None."""
    try:
        pos = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(pos)
        return end
    except (OSError, ValueError, AttributeError):
        return None


def payload_size(stream: BinaryIO, kind: str | None) -> int | None:
    """What the container says its uncompressed payload measures, without decompressing.

    Raw: the stream length. gzip: the ISIZE trailer (size modulo 2**32 of the *last member*:
    exact for a one-member file under 4 GiB; callers compare modulo 2**32, and measure a file
    that disagrees with :func:`inflated_size`, since it may hold several members). xz: the sum
    of the block sizes recorded in the indexes of all its streams. None when the stream cannot
    tell (not seekable, or an xz layout that does not add up).
    """
    total = stream_length(stream)
    if total is None:
        return None
    pos = stream.tell()
    try:
        if kind is None:
            return total - pos
        if kind == "gzip":
            if total - pos < 18:
                return None
            stream.seek(total - 4)
            return int.from_bytes(stream.read(4), "little")
        if kind == "xz":
            return _xz_uncompressed_size(stream, pos, total)
        return None
    finally:
        stream.seek(pos)


def _xz_uncompressed_size(stream: BinaryIO, start: int, total: int) -> int | None:
    """The sum of the uncompressed sizes every stream's index records, walking back from the end.

    An xz file may hold several streams, each ``header, blocks, index, footer``, with zero
    padding (a multiple of 4 bytes) between and after them (``xz`` itself writes such files when
    concatenated, and reads them whole). None when the layout does not add up: the bounded
    reader decides then.
    """
    size = 0
    end = total
    while end > start:
        stream.seek(max(start, end - 4096))
        tail = stream.read(end - stream.tell())
        padding = len(tail) - len(tail.rstrip(b"\x00"))
        if padding % 4:
            return None
        end -= padding
        streamed = _xz_stream(stream, start, end)
        if streamed is None:
            return None
        stream_start, uncompressed = streamed
        size += uncompressed
        end = stream_start
    return size if end == start else None


def _xz_stream(stream: BinaryIO, start: int, end: int) -> tuple[int, int] | None:
    """(where the stream ending at ``end`` starts, its uncompressed size), from its footer and index."""
    # Stream footer (12 bytes): CRC32, Backward Size, Stream Flags, "YZ".
    if end - start < 12 + 12:
        return None
    stream.seek(end - 12)
    footer = stream.read(12)
    if footer[10:12] != b"YZ":
        return None
    index_size = (int.from_bytes(footer[4:8], "little") + 1) * 4
    if index_size > end - start - 24:
        return None
    index_start = end - 12 - index_size
    stream.seek(index_start)
    index = io.BytesIO(stream.read(index_size))
    if index.read(1) != b"\x00":
        return None
    records = _varint(index)
    if records is None or records > index_size:
        return None
    size = blocks = 0
    for _ in range(records):
        unpadded, uncompressed = _varint(index), _varint(index)
        if unpadded is None or uncompressed is None:
            return None
        blocks += (unpadded + 3) // 4 * 4  # each block is padded to a multiple of 4 bytes
        size += uncompressed
    stream_start = index_start - blocks - 12  # the stream header is 12 bytes
    if stream_start < start:
        return None
    stream.seek(stream_start)
    if stream.read(6) != XZ_MAGIC:
        return None
    return stream_start, size


def _varint(stream: io.BytesIO) -> int | None:
    value = shift = 0
    for _ in range(9):
        byte = stream.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
    return None


def compressor_for(path: str | os.PathLike[str]):
    """``(open_function, kind)`` for writing, chosen by suffix: ``.gz``, ``.xz`` or raw."""
    name = os.fspath(path)
    if name.endswith(".gz"):
        # mtime=0 and no embedded name: the same array always gives the same bytes
        return (lambda f: gzip.GzipFile(filename="", fileobj=f, mode="wb", mtime=0)), "gzip"
    if name.endswith(".xz"):
        return (lambda f: lzma.LZMAFile(f, mode="wb", check=lzma.CHECK_CRC64)), "xz"
    return None, None
