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
from typing import Any, BinaryIO

from .compression import ConcatenatedStreams

__all__ = ["BZIP2_MAGIC", "Bz2Stream", "is_bzip2", "open_bzip2"]

#: "BZh" then the block size digit 1-9
BZIP2_MAGIC = b"BZh"


def is_bzip2(head: bytes) -> bool:
    """True when ``head`` (a file's first 4 bytes) starts a bzip2 stream."""
    return len(head) >= 4 and head.startswith(BZIP2_MAGIC) and 0x31 <= head[3] <= 0x39


def open_bzip2(raw: BinaryIO) -> BinaryIO:
    """A buffered, readable stream of the payload of the bzip2 data in ``raw``."""
    return io.BufferedReader(Bz2Stream(raw))  # type: ignore[return-value]


class Bz2Stream(ConcatenatedStreams):
    """bzip2 decompression of every stream of a file, fed in 128 KiB blocks.

    Streams are read one after the other, as ``bzip2 -d`` reads them. Data after a stream
    that does not start another one is an ``OSError`` (the decompressor's "Invalid data
    stream"); a stream cut short raises ``EOFError``.
    """

    kind = "bzip2"

    def _new_decompressor(self) -> Any:
        return bz2.BZ2Decompressor()
