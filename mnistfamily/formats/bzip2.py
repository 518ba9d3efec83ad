"""bzip2 read as a stream, in bounded steps (HASYv2's ``.tar.bz2``; LIBSVM's ``.bz2`` files).

:mod:`.compression` recognises gzip, xz and zip; bzip2 lives here so that module keeps its one
job. ``bz2.BZ2File`` would do, but it is not told how much to produce per read, and the
bzip2 command writes (and reads) files of several concatenated streams, which a reader must
follow as ``bzip2 -d`` does. :class:`Bz2Stream` feeds the decompressor 128 KiB at a time and
asks it for at most what the caller's buffer holds, so memory stays flat whatever the ratio
(bzip2 packs a run of zeros far beyond deflate's 1,032:1: a reader must bound what it
*reads*, e.g. by the sizes a tar header or a header count promises).

A truncated stream raises ``EOFError``, damaged data ``OSError`` (bz2's own "Invalid data
stream"): both are in :data:`mnistfamily.formats.compression.DECOMPRESSION_ERRORS`.

Examples
--------
>>> import bz2, io
>>> from mnistfamily.formats.bzip2 import Bz2Stream, is_bzip2
>>> data = bz2.compress(b"hello ") + bz2.compress(b"world")   # two streams, as `cat a.bz2 b.bz2`
>>> is_bzip2(data[:4])
True
>>> io.BufferedReader(Bz2Stream(io.BytesIO(data))).read()
b'hello world'
"""

from __future__ import annotations

import bz2
import io
from typing import BinaryIO

__all__ = ["BZIP2_MAGIC", "Bz2Stream", "is_bzip2", "open_bzip2"]

#: "BZh" then the block size digit 1-9
BZIP2_MAGIC = b"BZh"
_BLOCK = 1 << 17


def is_bzip2(head: bytes) -> bool:
    """True when ``head`` (a file's first 4 bytes) starts a bzip2 stream."""
    return len(head) >= 4 and head.startswith(BZIP2_MAGIC) and 0x31 <= head[3] <= 0x39


def open_bzip2(raw: BinaryIO) -> BinaryIO:
    """A buffered, readable stream of the payload of the bzip2 data in ``raw``."""
    return io.BufferedReader(Bz2Stream(raw))  # type: ignore[return-value]


class Bz2Stream(io.RawIOBase):
    """bzip2 decompression of every stream of a file, fed in 128 KiB blocks.

    Streams are read one after the other, as ``bzip2 -d`` reads them. Data after a stream
    that does not start another one is an ``OSError`` (the decompressor's "Invalid data
    stream"); a stream cut short raises ``EOFError``.
    """

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._decompressor = bz2.BZ2Decompressor()
        self._input = b""
        self._done = False

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
                        raise EOFError("the bzip2 stream ends before its end-of-stream marker")
                data, self._input = self._input, b""
            out = self._decompressor.decompress(data, len(view))
            if self._decompressor.eof:
                self._next_stream(self._decompressor.unused_data)
            if out:
                view[:len(out)] = out
                return len(out)
        return 0

    def _next_stream(self, rest: bytes) -> None:
        if not rest:
            rest = self._raw.read(_BLOCK)
        if not rest:
            self._done = True
            return
        # anything else must be another stream: a new decompressor says so, or raises OSError
        self._decompressor = bz2.BZ2Decompressor()
        self._input = rest
