"""A reader's input: a path, opened here, or a seekable binary stream, with the name errors give it.

Examples
--------
>>> import io
>>> with opened(io.BytesIO(b"abc"), "demo.bin") as (file, name):
...     file.read(), name
(b'abc', 'demo.bin')
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import FormatError

__all__ = ["opened"]


@contextmanager
def opened(source: str | os.PathLike[str] | BinaryIO, where: str | None) -> Iterator[tuple[BinaryIO, str]]:
    """``(file, name)``: ``source`` opened for reading if a path, else the stream itself (left open).

    The readers look at a file's first bytes and size before reading it, so a stream that
    cannot seek (a pipe, an HTTP body) is a :class:`~mnistfamily.errors.FormatError`.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            yield file, where or Path(source).name
        return
    name = where or str(getattr(source, "name", "<stream>"))
    seekable = getattr(source, "seekable", None)
    if seekable is None or not seekable():
        raise FormatError(f"{name}: read from a stream that cannot seek; the reader needs a file or a seekable "
                          "stream (save the bytes to a file first).")
    yield source, name
