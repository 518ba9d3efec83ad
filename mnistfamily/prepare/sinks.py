"""A sink in front of a cache entry that names a reader's arrays as the entry stores them.

A format reader (:mod:`mnistfamily.formats`) writes arrays under its own names: HASYv2's
``symbol_id`` and ``writer_id``, AudioMNIST's ``speaker`` or ``age``, index lists of folds.
A cache entry stores examples as ``images`` (or ``samples`` + ``offsets``), ``labels``,
``index`` and metadata columns as ``meta.<column>``. :class:`EntrySink` sits between the two:
it renames the reader's metadata to ``meta.<column>`` (and lists them in the report, which is
how ``load`` finds them), drops arrays the entry has no use for, and can convert streamed
signal samples to float32 on the way, so nothing is held twice.

Examples
--------
>>> import numpy as np
>>> from mnistfamily.formats.sink import MemorySink
>>> entry = MemorySink()
>>> sink = EntrySink(entry, metadata=("speaker",), drop=("fold0-train",))
>>> sink.save("speaker", np.array([1, 2])); sink.save("fold0-train", np.array([0])); sink.save("labels", np.array([3, 4]))
>>> sorted(entry.arrays), entry.report["metadata_columns"]
(['labels', 'meta.speaker'], ['speaker'])
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from ..formats.sink import ArrayWriter, Sink

__all__ = ["EntrySink", "pcm_to_float32"]


def pcm_to_float32(dtype: np.dtype) -> Callable[[np.ndarray], np.ndarray]:
    """The map from PCM samples of ``dtype`` to float32 on [-1, 1) (full scale = 1, as torchaudio normalises).

    16-bit samples map exactly (``x / 32768``); 8-bit WAV samples are unsigned around 128;
    float samples are kept as they are.

    >>> pcm_to_float32(np.dtype(np.int16))(np.array([-32768, 0, 16384], np.int16)).tolist()
    [-1.0, 0.0, 0.5]
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return lambda x: np.asarray(x, dtype=np.float32)
    if dtype.kind == "u":
        half = float(1 << (8 * dtype.itemsize - 1))
        return lambda x: ((np.asarray(x, dtype=np.float64) - half) / half).astype(np.float32)
    scale = float(1 << (8 * dtype.itemsize - 1))
    return lambda x: (np.asarray(x, dtype=np.float64) / scale).astype(np.float32)


class EntrySink:
    """A :class:`~mnistfamily.formats.sink.Sink` writing into ``entry`` under the entry's names.

    ``metadata``: the reader's arrays that are metadata columns (stored as ``meta.<name>``,
    listed in ``report["metadata_columns"]`` in the order given); ``drop``: arrays not kept;
    ``hold``: arrays saved into :attr:`held` instead of the entry (the decoder writes them itself,
    changed); ``capture``: arrays written and also kept in :attr:`held` (small ones: labels, columns);
    ``float_samples``: streamed ``samples`` are converted with :func:`pcm_to_float32` and
    stored as float32 (their stored dtype is kept in ``report["stored_dtype"]``).
    """

    def __init__(self, entry: Sink, *, metadata: Iterable[str] = (), drop: Iterable[str] = (),
                 hold: Iterable[str] = (), capture: Iterable[str] = (), float_samples: bool = False) -> None:
        self.entry = entry
        self.metadata = tuple(metadata)
        self.drop = frozenset(drop)
        self.hold, self.capture = frozenset(hold), frozenset(capture)
        self.held: dict[str, np.ndarray] = {}
        self.float_samples = float_samples
        self.report = entry.report
        self.report["metadata_columns"] = list(self.metadata)

    def _name(self, name: str) -> str:
        return f"meta.{name}" if name in self.metadata else name

    def stream(self, name: str, dtype: Any, shape: tuple[int, ...]) -> ArrayWriter:
        if name == "samples" and self.float_samples:
            self.report["stored_dtype"] = np.dtype(dtype).str
            return _Converting(self.entry.stream(name, np.float32, shape), np.dtype(dtype))
        return self.entry.stream(self._name(name), dtype, shape)

    def create(self, name: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        return self.entry.create(self._name(name), dtype, shape)

    def save(self, name: str, array: np.ndarray) -> None:
        if name in self.hold or name in self.capture:
            self.held[name] = np.array(array, copy=True)
        if name not in self.drop and name not in self.hold:
            self.entry.save(self._name(name), array)


class _Converting:
    """A stream of PCM bytes written on as float32 (one recording at a time: memory stays small)."""

    def __init__(self, out: ArrayWriter, dtype: np.dtype) -> None:
        self.out, self.dtype, self.convert = out, dtype, pcm_to_float32(dtype)

    def write(self, data: Any) -> None:
        self.out.write(self.convert(np.frombuffer(memoryview(data).cast("B"), dtype=self.dtype)))

    def close(self) -> None:
        self.out.close()

    def __enter__(self) -> "_Converting":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
