"""What one example of a dataset is, and :class:`Signals`, the container of varying-length ones.

Every dataset says what its examples are (the registry's ``example:``, ``Dataset.example``):

``image``   ``(H, W)`` grey or ``(H, W, C)`` with its channels last (SVHN, CIFAR, MedMNIST RGB)
``volume``  ``(D, H, W)``: a 3-D grid (3D MNIST, MedMNIST 3D)
``signal``  ``(L,)``: a 1-D series of fixed length (MNIST-1D), or of varying length (AudioMNIST's
            recordings), kept as one flat array of samples plus offsets: :class:`Signals`

A split of fixed-shape examples is one array ``(N, *shape)``; a split of varying-length signals is
a :class:`Signals`. Each stage downstream (transforms, exports, previews, adapters) handles each
kind or refuses it with an error that says what it holds and what to do.

Examples
--------
>>> import numpy as np
>>> from mnistfamily.examples import Signals, layout
>>> sig = Signals(np.arange(7, dtype=np.int16), offsets=[0, 3, 7])
>>> len(sig), sig[1].tolist(), sig.lengths.tolist()
(2, [3, 4, 5, 6], [3, 4])
>>> sig[[1, 0]].to_list()[0].tolist()
[3, 4, 5, 6]
>>> layout("image", (32, 32, 3)), layout("volume", (28, 28, 28)), layout("signal", ())
('HWC', 'DHW', 'signal')
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

__all__ = ["KINDS", "Signals", "describe", "layout"]

#: the kinds of example (the registry's ``example:``), as registry/formats.py lists them
KINDS = ("image", "volume", "signal")


def layout(kind: str, shape: Sequence[int]) -> str:
    """The axes of one example: ``HW``, ``HWC``, ``DHW``, ``L`` (fixed-length signal) or ``signal`` (varying).

    Transforms declare the layouts they accept (``Transform.accepts``), so a volume is never
    taken for an image with 28 channels.
    """
    shape = tuple(shape)
    if kind == "image":
        return "HW" if len(shape) == 2 else "HWC"
    if kind == "volume":
        return "DHW"
    if kind == "signal":
        return "L" if shape else "signal"
    raise ValueError(f"unknown kind of example {kind!r}; the kinds are {', '.join(KINDS)}")


def describe(kind: str, shape: Sequence[int], dtype: str, sample_rate: int | None = None) -> str:
    """One line saying what an example is, as ``info`` and ``print(ds)`` show it.

    >>> describe("image", (32, 32, 3), "uint8")
    'image (32, 32, 3) uint8, channels last'
    >>> describe("signal", (), "int16", 48000)
    'signal of varying length, int16, 48,000 Hz'
    """
    shape = tuple(int(d) for d in shape)
    if kind == "signal":
        text = f"signal of {shape[0]:,} samples, {dtype}" if shape else f"signal of varying length, {dtype}"
        return text + (f", {sample_rate:,} Hz" if sample_rate else "")
    text = f"{kind} {shape} {dtype}"
    if kind == "image" and len(shape) == 3:
        text += ", channels last"
    elif kind == "volume":
        text += " (depth, height, width)"
    return text


def infer_kind(examples: Any) -> str:
    """The kind of an in-memory batch whose kind nobody declared: a Signals, or by its shape.

    ``(N, L)`` is a signal, ``(N, H, W)`` an image, ``(N, H, W, C)`` an image when ``C`` is at most
    4 (no image of the family has more channels) and a volume otherwise. A loaded dataset never
    guesses: its registry entry says.
    """
    if isinstance(examples, Signals):
        return "signal"
    ndim = np.ndim(examples) if not hasattr(examples, "ndim") else examples.ndim
    if ndim == 2:
        return "signal"
    if ndim == 4:
        return "image" if examples.shape[-1] <= 4 else "volume"
    return "image"


class Signals:
    """Varying-length 1-D examples: one flat array of samples, and where each example starts and stops.

    ``signals[i]`` is example ``i`` (a view, no copy); ``signals[rows]`` (a slice, positions or a
    boolean mask) is a :class:`Signals` of those examples sharing the same samples, so selecting
    rows of a 2 GB memory-mapped split copies nothing. A cache entry stores ``samples`` and
    ``offsets`` (``N + 1`` positions: example ``i`` is ``samples[offsets[i]:offsets[i + 1]]``);
    :meth:`compact` gives that form back for any selection.

    Parameters
    ----------
    samples
        Every example's samples, one after the other (1-D).
    offsets
        ``N + 1`` non-decreasing positions into ``samples``; or give ``starts`` and ``stops``.
    starts, stops
        Where each example starts and stops in ``samples`` (``N`` each).

    Examples
    --------
    >>> import numpy as np
    >>> s = Signals(np.array([1, 2, 3, 4, 5], np.int16), offsets=[0, 2, 5])
    >>> [x.tolist() for x in s]
    [[1, 2], [3, 4, 5]]
    >>> s[np.array([False, True])].compact()[1].tolist()
    [0, 3]
    """

    def __init__(self, samples: Any, offsets: Any = None, *, starts: Any = None, stops: Any = None):
        samples = samples if isinstance(samples, np.ndarray) else np.asarray(samples)
        if samples.ndim != 1:
            raise ValueError(f"Signals: samples must be the 1-D array of every example's samples, found shape "
                             f"{samples.shape}")
        if offsets is not None:
            if starts is not None or stops is not None:
                raise ValueError("Signals: give offsets, or starts and stops, not both")
            offsets = np.asarray(offsets)
            if offsets.ndim != 1 or len(offsets) < 1 or (offsets.size and offsets.dtype.kind not in "iu"):
                raise ValueError(f"Signals: offsets must be N + 1 integer positions, found {offsets.dtype} "
                                 f"{offsets.shape}")
            offsets = offsets.astype(np.int64, copy=False)
            starts, stops = offsets[:-1], offsets[1:]
        elif starts is None or stops is None:
            raise ValueError("Signals: give offsets (N + 1 positions), or starts and stops")
        starts = np.asarray(starts).astype(np.int64, copy=False)
        stops = np.asarray(stops).astype(np.int64, copy=False)
        if starts.shape != stops.shape or starts.ndim != 1:
            raise ValueError(f"Signals: starts and stops must be 1-D of one length, found {starts.shape} and "
                             f"{stops.shape}")
        if len(starts) and (int(starts.min()) < 0 or int(stops.max()) > len(samples) or (stops < starts).any()):
            raise ValueError(f"Signals: every example must lie within the {len(samples):,} samples, start before "
                             "it stops")
        self.samples = samples
        self.starts = starts
        self.stops = stops

    # -- sizes -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def lengths(self) -> np.ndarray:
        """Samples in each example, ``(N,)`` int64."""
        return self.stops - self.starts

    @property
    def dtype(self) -> np.dtype:
        return self.samples.dtype

    @property
    def shape(self) -> tuple[int]:
        """``(N,)``: the examples have no common shape."""
        return (len(self),)

    @property
    def ndim(self) -> int:
        return 1

    @property
    def nbytes(self) -> int:
        """Bytes of the samples these examples hold."""
        return int(self.lengths.sum()) * self.samples.dtype.itemsize

    # -- access ------------------------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"example {i} of {len(self)}")
            return self.samples[self.starts[i]:self.stops[i]]
        if not isinstance(key, slice):
            key = np.asarray(key)
            if key.dtype == bool and key.shape != (len(self),):
                raise IndexError(f"a boolean mask must have shape ({len(self)},), found {key.shape}")
        return Signals(self.samples, starts=self.starts[key], stops=self.stops[key])

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.samples[self.starts[i]:self.stops[i]]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(f"{len(self):,} signals of different lengths are not one array: take one (signals[i]), "
                        "pad or crop them to one length (mnistfamily.transforms.PadOrCrop), or use .compact() "
                        "for the flat samples and offsets")

    def to_list(self) -> list[np.ndarray]:
        """The examples as a list of arrays (views into the samples)."""
        return list(self)

    def compact(self) -> tuple[np.ndarray, np.ndarray]:
        """``(samples, offsets)`` holding exactly these examples, in order (a copy unless already so)."""
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=offsets[1:])
        contiguous = len(self) == 0 or (int(self.starts[0]) == 0 and (self.starts[1:] == self.stops[:-1]).all()
                                        and int(self.stops[-1]) == len(self.samples))
        if contiguous:
            return self.samples, offsets
        out = np.empty(int(offsets[-1]), dtype=self.samples.dtype)
        for i, (start, stop) in enumerate(zip(self.starts.tolist(), self.stops.tolist())):
            out[offsets[i]:offsets[i + 1]] = self.samples[start:stop]
        return out, offsets

    @classmethod
    def from_arrays(cls, arrays: Sequence[Any], dtype: Any = None) -> "Signals":
        """Signals holding ``arrays`` (each 1-D) one after the other.

        >>> Signals.from_arrays([[1, 2], [3]]).lengths.tolist()
        [2, 1]
        """
        parts = [np.asarray(a, dtype=dtype).reshape(-1) for a in arrays]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        samples = np.concatenate(parts) if parts else np.empty(0, dtype=dtype or np.float32)
        return cls(samples, offsets)

    @classmethod
    def concatenate(cls, parts: Sequence["Signals"]) -> "Signals":
        """The examples of several Signals, in order, in one (a copy)."""
        return cls.from_arrays([x for p in parts for x in p], dtype=parts[0].dtype if parts else None)

    def __repr__(self) -> str:
        if not len(self):
            return f"Signals(0 examples, {self.dtype})"
        lengths = self.lengths
        return (f"Signals({len(self):,} examples of {int(lengths.min()):,} to {int(lengths.max()):,} samples, "
                f"{self.dtype})")
