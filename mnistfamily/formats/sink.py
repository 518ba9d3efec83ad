"""Where a format's reader puts the arrays it decodes: a *sink*, so large splits never sit in memory twice.

A reader (``formats/<format>.py``) turns published files into arrays and hands each array to a
sink as soon as it knows its dtype and shape:

- ``sink.stream(name, dtype, shape)`` returns a writer for an array that arrives in order:
  ``write`` its C-order bytes (any buffer), then ``close``. The writer refuses more bytes than
  the shape needs, and ``close`` refuses fewer, so a reader that stops early never leaves a
  short array behind.
- ``sink.create(name, dtype, shape)`` returns a writable array to fill out of order (members of
  an archive that arrive in another order than the split's); the reader must fill every row.
- ``sink.save(name, array)`` stores a small array already in memory (labels, index, metadata).

The names are those of a prepared entry: ``images``, ``labels``, ``index``, ``meta.<column>``.
:class:`ArraySink` is exactly what ``mnistfamily.prepare.cache.EntryWriter`` offers (which writes
``.npy`` files in the cache); :class:`MemorySink` keeps the arrays in memory, for tests and for
callers that want them right away. A reader returns a :class:`Decoded` saying what it wrote and
the names of its classes and coded metadata columns.

Examples
--------
>>> import numpy as np
>>> sink = MemorySink()
>>> with sink.stream("images", np.uint8, (2, 2)) as out:
...     out.write(b"\\x01\\x02")
...     out.write(np.array([3, 4], np.uint8))
>>> sink.arrays["images"]
array([[1, 2],
       [3, 4]], dtype=uint8)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import numpy as np

from ..errors import FormatError

__all__ = ["ArraySink", "ArrayWriter", "Decoded", "MemorySink"]


class ArrayWriter(Protocol):
    """An array written front to back (``EntryWriter.stream``'s ``ArrayStream`` is one)."""

    def write(self, data: Any) -> None:
        """Append C-order bytes (any object exposing the buffer protocol)."""

    def close(self) -> None:
        """Finish the array; an error if fewer bytes were written than its shape needs."""

    def __enter__(self) -> "ArrayWriter": ...

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None: ...


class ArraySink(Protocol):
    """Where a reader writes its arrays (``mnistfamily.prepare.cache.EntryWriter`` is one)."""

    def stream(self, name: str, dtype: Any, shape: tuple[int, ...]) -> ArrayWriter:
        """A writer for an array whose bytes arrive in order."""

    def create(self, name: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A writable array to fill in any order."""

    def save(self, name: str, array: np.ndarray) -> None:
        """Store an array already in memory."""


@dataclass(frozen=True)
class Decoded:
    """What a reader wrote into its sink, with the names that go with the codes.

    ``classes`` names the values of ``labels`` (read from the published files; empty when the
    files do not name them and the registry must); ``code_names`` names the values of coded
    metadata columns (``{"coarse_label": ("aquatic_mammals", ...)}``); ``report`` holds facts
    the reader found on the way (members ignored, counts), kept in the entry's manifest.
    """

    num_examples: int
    classes: tuple[str, ...] = ()
    code_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    report: Mapping[str, object] = field(default_factory=dict)


class MemorySink:
    """A sink that keeps every array in memory, in ``arrays`` (name -> ndarray).

    Streams write into an array allocated when the stream is opened (so a reader's declared
    sizes are checked before it asks for one); ``close`` checks that it was filled.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def stream(self, name: str, dtype: Any, shape: tuple[int, ...]) -> "_MemoryStream":
        array = self.create(name, dtype, shape)
        return _MemoryStream(name, array)

    def create(self, name: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        if name in self.arrays:
            raise FormatError(f"the reader wrote the array {name!r} twice; this is a bug in the reader.")
        # zeros (calloc) rather than empty: pages a reader never touches cost nothing
        array = np.zeros(tuple(int(s) for s in shape), dtype=np.dtype(dtype))
        self.arrays[name] = array
        return array

    def save(self, name: str, array: np.ndarray) -> None:
        self.create(name, np.asarray(array).dtype, np.shape(array))[...] = array


class _MemoryStream:
    """The bytes of one array, written in order into a preallocated array."""

    def __init__(self, name: str, array: np.ndarray):
        self.name = name
        self._bytes = array.reshape(-1).view(np.uint8)
        self.expected = math.prod(array.shape) * array.dtype.itemsize
        self.written = 0
        self.closed = False

    def write(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        end = self.written + len(view)
        if end > self.expected:
            raise FormatError(f"array {self.name!r}: {end:,} bytes written for an array of {self.expected:,}; "
                              "this is a bug in the reader.")
        self._bytes[self.written:end] = np.frombuffer(view, np.uint8)
        self.written = end

    def close(self) -> None:
        if self.closed:
            return
        if self.written != self.expected:
            raise FormatError(f"array {self.name!r}: {self.written:,} bytes written for an array of "
                              f"{self.expected:,}; the reader stopped early.")
        self.closed = True

    def __enter__(self) -> "_MemoryStream":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
