"""Where a format reader puts the arrays it decodes: the *sink* protocol, and a sink in memory.

A reader never returns a large array: it asks its sink for one and fills it, so a split is
written once, straight to where it will live. In the library the sink is a cache entry being
built (:class:`mnistfamily.prepare.cache.EntryWriter`, which writes ``.npy`` files in a
temporary area); in tests it is :class:`MemorySink`. Both have the same three ways in:

``stream(name, dtype, shape)``
    for an array that arrives in order: ``write`` its C-order bytes (any buffer, an array
    included), then ``close``; writing more or fewer bytes than ``shape`` needs is an error.
``create(name, dtype, shape)``
    a writable array to fill in any order (a memory map in the cache), for readers whose
    examples arrive out of order (HASYv2's PNGs in tar order, placed by the labels file).
``save(name, array)``
    a small array already in memory (labels, index lists, metadata columns).

and a ``report`` dict for facts found while decoding (members skipped, quirks resolved),
which the cache keeps in the entry's manifest.

Examples
--------
>>> import numpy as np
>>> from mnistfamily.formats.sink import MemorySink
>>> sink = MemorySink()
>>> out = sink.stream("samples", np.int16, (4,))
>>> out.write(np.array([1, 2], np.int16)); out.write(np.array([3, 4], np.int16).tobytes()); out.close()
>>> sink.save("labels", np.array([7]))
>>> sink.arrays["samples"].tolist(), sink.arrays["labels"].tolist()
([1, 2, 3, 4], [7])
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import CacheError

__all__ = ["ArrayWriter", "MemorySink", "Sink"]


@runtime_checkable
class ArrayWriter(Protocol):
    """An array written front to back (what ``Sink.stream`` returns)."""

    def write(self, data: Any) -> None:
        """Append C-order bytes (any buffer: bytes, memoryview, a contiguous array)."""

    def close(self) -> None:
        """Finish the array; an error when fewer bytes were written than its shape needs."""


@runtime_checkable
class Sink(Protocol):
    """Where a reader writes its arrays (see the module docstring)."""

    report: dict[str, object]

    def stream(self, name: str, dtype: Any, shape: tuple[int, ...]) -> ArrayWriter:
        """An array of ``dtype`` and ``shape`` written in order."""

    def create(self, name: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A writable array of ``dtype`` and ``shape``, filled in any order."""

    def save(self, name: str, array: np.ndarray) -> None:
        """An array already in memory."""


class MemorySink:
    """A :class:`Sink` keeping every array in memory, in ``arrays`` (for tests and small inputs).

    Streams check their length as the cache's do: a reader that writes too much or stops
    early fails here exactly as it would when preparing a cache entry.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.report: dict[str, object] = {}

    def stream(self, name: str, dtype: Any, shape: tuple[int, ...]) -> "_MemoryStream":
        array = np.empty(tuple(int(n) for n in shape), dtype=np.dtype(dtype))
        self.arrays[name] = array
        return _MemoryStream(name, array)

    def create(self, name: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        array = np.zeros(tuple(int(n) for n in shape), dtype=np.dtype(dtype))
        self.arrays[name] = array
        return array

    def save(self, name: str, array: np.ndarray) -> None:
        self.arrays[name] = np.array(array, copy=True, order="C")


class _MemoryStream:
    """One array of a :class:`MemorySink`, filled front to back."""

    def __init__(self, name: str, array: np.ndarray):
        self.name = name
        self._bytes = array.reshape(-1).view(np.uint8)
        self.written = 0
        self.closed = False

    def write(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        end = self.written + len(view)
        if end > len(self._bytes):
            raise CacheError(f"{self.name}: {end:,} bytes written for an array of {len(self._bytes):,}; "
                             "the reader is wrong.")
        self._bytes[self.written:end] = np.frombuffer(view, dtype=np.uint8)
        self.written = end

    def close(self) -> None:
        if self.written != len(self._bytes):
            raise CacheError(f"{self.name}: {self.written:,} bytes written for an array of "
                             f"{len(self._bytes):,}; the reader stopped early.")
        self.closed = True

    def __enter__(self) -> "_MemoryStream":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
