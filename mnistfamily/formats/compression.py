"""Recognise compression by magic bytes and learn a payload's size before decompressing.

Readers never trust a file name: ``detect`` looks at the first bytes. ``payload_size``
reads what a container says about its uncompressed size (the gzip ISIZE trailer, the xz
index) so a reader can compare it with what a header promises *before* allocating.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import zlib
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZIP_MAGIC = b"PK\x03\x04"

try:  # Intel ISA-L inflates gzip 2-3x faster than zlib; optional (``pip install mnistfamily[fast]``)
    from isal import igzip as _fast_gzip
except ImportError:  # pragma: no cover - depends on the environment
    _fast_gzip = None


#: what a corrupt compressed stream raises, whichever decompressor reads it
DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError)

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
            return _fast_gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
        return io.BufferedReader(GzipStream(stream))  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(stream, mode="rb")  # type: ignore[return-value]
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

    Raw: the stream length. gzip: the ISIZE trailer (size modulo 2**32, exact for one
    member under 4 GiB; callers compare modulo 2**32). xz: the sum of the block sizes
    recorded in the stream index. None when the stream cannot tell (not seekable, or an
    xz file with several streams or padding).
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
    # Stream footer (12 bytes): CRC32, Backward Size, Stream Flags, "YZ".
    if total - start < 12 + 12:
        return None
    stream.seek(total - 12)
    footer = stream.read(12)
    if footer[10:12] != b"YZ":
        return None  # padding or concatenated streams: let the bounded reader decide
    index_size = (int.from_bytes(footer[4:8], "little") + 1) * 4
    if index_size > total - start - 24:
        return None
    stream.seek(total - 12 - index_size)
    index = io.BytesIO(stream.read(index_size))
    if index.read(1) != b"\x00":
        return None
    records = _varint(index)
    if records is None or records > index_size:
        return None
    size = 0
    for _ in range(records):
        unpadded, uncompressed = _varint(index), _varint(index)
        if unpadded is None or uncompressed is None:
            return None
        size += uncompressed
    return size


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
