"""Batch functions for variable-length signals kept as one flat array plus offsets (AudioMNIST).

A batch of N recordings is ``samples`` (every recording, one after the other) and ``offsets``
(N + 1 non-decreasing positions: example ``i`` is ``samples[offsets[i]:offsets[i + 1]]``), the
form a cache entry stores them in. These functions take that form and give either a fixed
length ``(N, length)`` array or another flat batch:

- :func:`pad_or_crop`: every example to ``length`` samples, padded with ``fill`` or cropped,
  at the start, centre, end or a random place drawn from ``(seed, index)``;
- :func:`resample`: to another sample rate with scipy's polyphase filter
  (``scipy.signal.resample_poly``, up/down reduced by their gcd), every example exactly as if
  it were resampled alone;
- :func:`audiomnist_8k`: the input of the AudioMNIST paper's AudioNet (48 kHz -> 8 kHz, then
  8,000 samples, placed at a random offset as the authors' preprocessing does).

Random placements follow the transforms' rule (``docs/transforms.md``): an example's draw
depends on ``(seed, index[i])`` only, never on the batch it is in.

Examples
--------
>>> import numpy as np
>>> from mnistfamily.transforms.signals import pad_or_crop, resample
>>> samples = np.arange(1, 8, dtype=np.int16)          # two examples: [1 2 3] and [4 5 6 7]
>>> offsets = np.array([0, 3, 7])
>>> pad_or_crop(samples, offsets, 5).tolist()
[[1, 2, 3, 0, 0], [4, 5, 6, 7, 0]]
>>> pad_or_crop(samples, offsets, 2, align="end").tolist()
[[2, 3], [6, 7]]
>>> new, new_offsets = resample(np.ones(12, np.int16), np.array([0, 6, 12]), 48000, 8000)
>>> new_offsets.tolist(), new.dtype
([0, 1, 2], dtype('float32'))
"""

from __future__ import annotations

import abc

from math import gcd
from typing import Any

import numpy as np

from . import _rng
from .base import Transform, TransformError, as_index

__all__ = ["ALIGNMENTS", "AudioNet8k", "PadOrCrop", "Resample", "audiomnist_8k", "pad_or_crop", "resample",
           "signal_lengths"]

ALIGNMENTS = ("start", "center", "end", "random")
#: padded float64 rows resampled at once: bounded so memory stays flat on 30,000 recordings
CHUNK_BYTES = 64 << 20


def signal_lengths(offsets: Any, samples: Any = None) -> np.ndarray:
    """Each example's length, ``(N,)`` int64, after checking ``offsets`` (and that ``samples`` holds them)."""
    offsets = np.asarray(offsets)
    if offsets.ndim != 1 or len(offsets) < 1 or offsets.dtype.kind not in "iu":
        raise TransformError(f"offsets must be a 1-d integer array of N + 1 positions, found {offsets.dtype} "
                             f"shape {offsets.shape}")
    offsets = offsets.astype(np.int64)
    lengths = np.diff(offsets)
    if offsets[0] < 0 or (lengths < 0).any():
        raise TransformError("offsets must start at 0 or later and never decrease (example i is "
                             "samples[offsets[i]:offsets[i + 1]])")
    if samples is not None:
        total = len(samples)
        if offsets[-1] > total:
            raise TransformError(f"offsets end at {int(offsets[-1]):,} but samples holds {total:,}")
    return lengths


def _flat(samples: Any, owner: str) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise TransformError(f"{owner}: samples must be the flat 1-d array of every example, found shape "
                             f"{samples.shape}")
    return samples


def pad_or_crop(samples: Any, offsets: Any, length: int, *, align: str = "start", seed: int | None = None,
                index: Any = None, fill: float = 0) -> np.ndarray:
    """Every example to exactly ``length`` samples: ``(N, length)``, the dtype of ``samples``.

    A shorter example is placed in a row of ``fill`` and a longer one cropped, both at
    ``align``: ``"start"``, ``"center"`` (extra sample at the end), ``"end"``, or ``"random"``
    (needs ``seed``; the place is uniform over every possible one, drawn from
    ``(seed, index[i])``; ``index`` defaults to ``arange(N)``).

    Examples
    --------
    >>> import numpy as np
    >>> pad_or_crop(np.array([1, 2, 3], np.int16), np.array([0, 3]), 5, align="center").tolist()
    [[0, 1, 2, 3, 0]]
    >>> a = pad_or_crop(np.ones(3), np.array([0, 3]), 8, align="random", seed=0, index=[41])
    >>> b = pad_or_crop(np.ones(6), np.array([0, 3, 6]), 8, align="random", seed=0, index=[7, 41])
    >>> bool((a[0] == b[1]).all())
    True
    """
    samples = _flat(samples, "pad_or_crop")
    lengths = signal_lengths(offsets, samples)
    starts = np.asarray(offsets, dtype=np.int64)[:-1]
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise TransformError(f"pad_or_crop: length must be a positive int, found {length!r}")
    if align not in ALIGNMENTS:
        raise TransformError(f"pad_or_crop: align must be one of {', '.join(ALIGNMENTS)}, found {align!r}")
    n = len(lengths)
    spare = np.abs(length - lengths)  # room to move: padding of a short example, excess of a long one
    if align == "start":
        shift = np.zeros(n, dtype=np.int64)
    elif align == "center":
        shift = spare // 2
    elif align == "end":
        shift = spare
    else:
        if seed is None:
            raise TransformError("pad_or_crop: align='random' needs seed= (an int), so that the result is "
                                 "reproducible")
        seed = _rng.check_seed(seed, "pad_or_crop")
        index = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
        if index.shape != (n,):
            raise TransformError(f"pad_or_crop: index must hold one position per example ({n}), found shape "
                                 f"{index.shape}")
        u = _rng.uniform(seed, "pad_or_crop", index)
        shift = np.minimum(np.floor(u * (spare + 1)).astype(np.int64), spare)
    out = np.full((n, length), fill, dtype=samples.dtype)
    # one slice copy per example: a vectorised gather would need index arrays three times the output
    for i in range(n):
        size, start = int(lengths[i]), int(starts[i])
        if size <= length:
            out[i, shift[i]:shift[i] + size] = samples[start:start + size]
        else:
            out[i] = samples[start + shift[i]:start + shift[i] + length]
    return out


def resample(samples: Any, offsets: Any, rate: int, new_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Every example from ``rate`` to ``new_rate`` Hz: ``(samples, offsets)``, float32 samples.

    scipy's polyphase filter (``resample_poly`` with up/down = new_rate/rate reduced, its
    default Kaiser window, zero padding at the ends) is applied to each example as if alone:
    an example of ``n`` samples gives ``ceil(n * up / down)``. Examples are resampled in
    chunks, each padded to its longest example (the padding only follows the signal, so the
    output is bit-identical to resampling one at a time), with at most ``CHUNK_BYTES`` of
    float64 in flight. Values keep the input's units (int16 stays on its scale).

    Examples
    --------
    >>> import numpy as np
    >>> new, offsets = resample(np.zeros(48_000, np.int16), np.array([0, 48_000]), 48_000, 8_000)
    >>> new.shape, offsets.tolist()
    ((8000,), [0, 8000])
    """
    from scipy.signal import resample_poly  # imported here: a warm load never imports scipy

    samples = _flat(samples, "resample")
    lengths = signal_lengths(offsets, samples)
    starts = np.asarray(offsets, dtype=np.int64)[:-1]
    for name, value in (("rate", rate), ("new_rate", new_rate)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise TransformError(f"resample: {name} must be a positive int (Hz), found {value!r}")
    common = gcd(int(rate), int(new_rate))
    up, down = int(new_rate) // common, int(rate) // common
    new_lengths = -(-lengths * up // down)  # ceil
    new_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(new_lengths, out=new_offsets[1:])
    out = np.empty(int(new_offsets[-1]), dtype=np.float32)
    i, n = 0, len(lengths)
    while i < n:
        # grow the chunk while its padded float64 rows fit the budget
        j, longest = i + 1, max(int(lengths[i]), 1)
        while j < n and (j + 1 - i) * max(longest, int(lengths[j])) * 8 <= CHUNK_BYTES:
            longest = max(longest, int(lengths[j]))
            j += 1
        rows = np.zeros((j - i, longest), dtype=np.float64)
        for k in range(i, j):
            rows[k - i, :lengths[k]] = samples[starts[k]:starts[k] + lengths[k]]
        result = resample_poly(rows, up, down, axis=1)
        for k in range(i, j):
            out[new_offsets[k]:new_offsets[k + 1]] = result[k - i, :new_lengths[k]]
        i = j
    return out, new_offsets


def audiomnist_8k(samples: Any, offsets: Any, *, rate: int = 48_000, align: str = "random", seed: int | None = 0,
                  index: Any = None) -> np.ndarray:
    """AudioNet's input (Becker et al.): each recording at 8 kHz in 8,000 samples, ``(N, 8000)`` float32.

    Resampled from ``rate`` with :func:`resample`, then :func:`pad_or_crop` to 8,000 samples.
    The authors' preprocessing places each recording at a random offset in 8,000 zeros; here
    that offset comes from ``(seed, index[i])`` (``align="random"``, ``seed=0`` by default) so
    the variant is reproducible; ``align="start"`` or ``"center"`` place it deterministically.
    A recording longer than a second (the authors' code refuses those) is cropped at ``align``.

    Examples
    --------
    >>> import numpy as np
    >>> half_a_second = np.ones(24_000, np.int16)
    >>> out = audiomnist_8k(half_a_second, np.array([0, 24_000]), align="start")
    >>> out.shape, out.dtype, int((out[0] != 0).sum())
    ((1, 8000), dtype('float32'), 4000)
    """
    new, new_offsets = resample(samples, offsets, rate, 8_000)
    return pad_or_crop(new, new_offsets, 8_000, align=align, seed=seed, index=index)


# ----------------------------------------------------------------------------------------------
# the same as registered transforms: Dataset.map, derived registry entries (audiomnist/8k)


def _as_flat(signals: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """``(samples, offsets)`` of a batch of signals: a ``Signals`` (varying lengths) or an ``(N, L)`` array."""
    from ..examples import Signals

    if isinstance(signals, Signals):
        return signals.compact()
    array = np.asarray(signals)
    if array.ndim != 2:
        raise TransformError(f"{owner}: takes signals (a Signals, or an array (N, L)), found shape {array.shape}")
    n, length = array.shape
    return np.ascontiguousarray(array).reshape(-1), np.arange(n + 1, dtype=np.int64) * length


class _SignalTransform(Transform):
    """A transform of signals: varying-length ones (a ``Signals``) or fixed-length ``(N, L)`` arrays."""

    accepts = ("L", "signal")

    def __call__(self, images: Any, *, index: Any = None) -> Any:  # type: ignore[override]
        # not Transform.__call__: its batch check takes arrays of images, and a Signals is neither
        return self._apply(images, index)

    def _apply(self, images: Any, index: Any) -> Any:
        samples, offsets = _as_flat(images, type(self).__name__)
        return self._signals(samples, offsets, as_index(index, len(offsets) - 1, type(self).__name__))

    @abc.abstractmethod
    def _signals(self, samples: np.ndarray, offsets: np.ndarray, index: np.ndarray) -> Any:
        """The transform on signals given as flat samples + offsets, ``index`` one position per signal."""


class PadOrCrop(_SignalTransform):
    """Every signal to ``length`` samples (:func:`pad_or_crop`): ``(N, length)``, the samples' dtype.

    >>> import numpy as np
    >>> from mnistfamily.examples import Signals
    >>> PadOrCrop(4)(Signals.from_arrays([[1, 2], [3, 4, 5, 6, 7]])).tolist()
    [[1, 2, 0, 0], [3, 4, 5, 6]]
    """

    def __init__(self, length: int, align: str = "start", seed: int | None = None, fill: float = 0):
        self.length, self.align, self.seed, self.fill = length, align, seed, fill
        pad_or_crop(np.zeros(1), np.array([0, 1]), length, align=align, seed=seed, fill=fill)  # checks the arguments

    def _signals(self, samples: np.ndarray, offsets: np.ndarray, index: np.ndarray) -> np.ndarray:
        return pad_or_crop(samples, offsets, self.length, align=self.align, seed=self.seed, index=index,
                           fill=self.fill)


class Resample(_SignalTransform):
    """Every signal from ``rate`` to ``new_rate`` Hz (:func:`resample`): signals of varying length, float32.

    >>> import numpy as np
    >>> from mnistfamily.examples import Signals
    >>> Resample(48_000, 8_000)(Signals.from_arrays([np.ones(12), np.ones(6)])).lengths.tolist()
    [2, 1]
    """

    def __init__(self, rate: int, new_rate: int):
        self.rate, self.new_rate = rate, new_rate
        resample(np.zeros(0), np.array([0]), rate, new_rate)  # checks the rates

    def _signals(self, samples: np.ndarray, offsets: np.ndarray, index: np.ndarray) -> Any:
        from ..examples import Signals

        new, new_offsets = resample(samples, offsets, self.rate, self.new_rate)
        return Signals(new, new_offsets)

    def sample_rate_after(self, rate: int | None) -> int | None:
        return self.new_rate


class AudioNet8k(_SignalTransform):
    """AudioNet's input (:func:`audiomnist_8k`): 48 kHz recordings to ``(N, 8000)`` float32 at 8 kHz.

    The recording's place in its 8,000 samples is drawn from ``(seed, index)`` (``align="random"``),
    as the authors' preprocessing places it at random, or fixed (``"start"``, ``"center"``).
    """

    def __init__(self, rate: int = 48_000, align: str = "random", seed: int | None = 0):
        self.rate, self.align, self.seed = rate, align, seed
        pad_or_crop(np.zeros(1), np.array([0, 1]), 8_000, align=align, seed=seed)  # checks the arguments

    def _signals(self, samples: np.ndarray, offsets: np.ndarray, index: np.ndarray) -> np.ndarray:
        return audiomnist_8k(samples, offsets, rate=self.rate, align=self.align, seed=self.seed, index=index)

    def sample_rate_after(self, rate: int | None) -> int | None:
        return 8_000
