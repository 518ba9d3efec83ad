"""Per-example random numbers: a pure function of (seed, stream, example index, position).

Random transforms must give the same bytes for an example whether it is transformed alone,
in a batch of 7 or in a chunk of 10,000, and whichever thread handles it. So no generator
state is carried from one example to the next: every random number is a hash of its
coordinates. The hash is SplitMix64 (Steele, Lea & Flood 2014) used in counter mode:

    key[i]      = mix(mix(index[i] + stream_key))          # one 64-bit key per example
    bits[i, c]  = mix(key[i] + (c + 1) * 0x9E3779B97F4A7C15)  # c-th draw of example i

``mix`` is SplitMix64's finaliser (a bijection on 64-bit words), ``stream_key`` is a BLAKE2b
digest of ``f"{seed}/{stream}"``, so two transforms (or two uses inside one transform) draw
independent numbers from the same seed. Everything is numpy uint64 arithmetic over the
whole batch (wrap-around multiplication is what SplitMix64 wants).
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_TWO_PI = 2.0 * np.pi


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place on a uint64 array (and returned)."""
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def check_seed(seed: object, owner: str) -> int:
    """A seed must be a non-negative int: ``None`` would silently make runs irreproducible."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"{owner}: seed must be a non-negative int (found {seed!r}); random transforms "
                        "take an explicit seed so that their output is reproducible")
    return int(seed)


def _stream_key(seed: int, stream: str) -> np.uint64:
    digest = hashlib.blake2b(f"{seed}/{stream}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def example_keys(seed: int, stream: str, index: np.ndarray) -> np.ndarray:
    """One 64-bit key per example: ``(N,)`` uint64."""
    keys = np.asarray(index, dtype=np.int64).astype(np.uint64)  # negative positions wrap, still distinct
    keys += _stream_key(seed, stream)
    return _mix(_mix(keys))


def bits(seed: int, stream: str, index: np.ndarray, count: int) -> np.ndarray:
    """``(N, count)`` uint64 words; column ``c`` is the ``c``-th draw of each example."""
    keys = example_keys(seed, stream, index)
    counters = np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN
    return _mix(keys[:, None] + counters[None, :])


def uniform_at(seed: int, stream: str, index: np.ndarray, counters: np.ndarray,
               low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """float64 uniform numbers in ``[low, high)`` at chosen draws: ``counters[k]`` of example ``index[k]``.

    The same number that :func:`uniform` (float64) puts at flat position ``counters[k]`` of that
    example's field, for a random field that is only needed at a few places. ``index`` and
    ``counters`` broadcast against each other.
    """
    index = np.asarray(index)
    keys = example_keys(seed, stream, index.ravel()).reshape(index.shape)  # broadcasts against counters
    words = np.asarray(counters, dtype=np.int64).astype(np.uint64)
    words += np.uint64(1)
    words *= _GOLDEN
    words = _mix(words + keys)
    words >>= np.uint64(12)
    words |= np.uint64(0x3FF0000000000000)
    u = words.view(np.float64)
    u -= 1.0
    if low != 0.0 or high != 1.0:
        u *= high - low
        u += low
    return u


def uniform(seed: int, stream: str, index: np.ndarray, shape: tuple[int, ...] = (),
            low: float = 0.0, high: float = 1.0, dtype: type = np.float64) -> np.ndarray:
    """Uniform numbers in ``[low, high)``, shape ``(N, *shape)``.

    float64 draws use 52 bits of a word; float32 draws use 23 bits of each 32-bit half of a
    word, so a float32 field costs half the hashing.
    """
    n = len(index)
    size = int(np.prod(shape, dtype=np.int64))
    # Mantissa trick: random bits under the exponent of 1.0 give a float in [1, 2); minus 1.
    # No integer-to-float conversion pass, all in place.
    if np.dtype(dtype) == np.float32:
        words = bits(seed, stream, index, (size + 1) // 2).view(np.uint32)  # two 32-bit halves a word
        if sys.byteorder == "big":  # low half first on every platform
            words = np.ascontiguousarray(words.reshape(n, -1, 2)[:, :, ::-1]).reshape(n, -1)
        words >>= np.uint32(9)
        words |= np.uint32(0x3F800000)
        u = words.view(np.float32)[:, :size]
    else:
        words = bits(seed, stream, index, size)
        words >>= np.uint64(12)
        words |= np.uint64(0x3FF0000000000000)
        u = words.view(np.float64)
    u -= u.dtype.type(1.0)
    u = u.reshape((n, *shape))
    if low != 0.0 or high != 1.0:
        u *= u.dtype.type(high - low)
        u += u.dtype.type(low)
    return u


def normal(seed: int, stream: str, index: np.ndarray, shape: tuple[int, ...] = (),
           dtype: type = np.float64) -> np.ndarray:
    """Standard normal numbers, shape ``(N, *shape)`` (Box-Muller on pairs of uniforms)."""
    n = len(index)
    size = int(np.prod(shape, dtype=np.int64))
    half = (size + 1) // 2
    u = uniform(seed, stream, index, (2, half), dtype=dtype)
    radius = np.sqrt(-2.0 * np.log1p(-u[:, 0]))  # 1 - u is in (0, 1]: log is finite
    angle = u[:, 1] * u.dtype.type(_TWO_PI)
    z = np.empty((n, 2 * half), u.dtype)
    z[:, 0::2] = radius * np.cos(angle)
    z[:, 1::2] = radius * np.sin(angle)
    return z[:, :size].reshape((n, *shape))


def integers(seed: int, stream: str, index: np.ndarray, low: int, high: int,
             shape: tuple[int, ...] = ()) -> np.ndarray:
    """Integers in ``[low, high)``, shape ``(N, *shape)``, int64 (bias below 2**-40 for small ranges)."""
    u = uniform(seed, stream, index, shape)
    return (low + np.floor(u * (high - low))).astype(np.int64)


def signs(seed: int, stream: str, index: np.ndarray, shape: tuple[int, ...] = ()) -> np.ndarray:
    """-1.0 or +1.0 with equal probability, shape ``(N, *shape)``."""
    return np.where(uniform(seed, stream, index, shape) < 0.5, -1.0, 1.0)
