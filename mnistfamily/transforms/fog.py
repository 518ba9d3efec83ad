"""MNIST-C's fog: a plasma fractal on a 256x256 map, of which only what decides the output is computed.

The reference (``plasma_fractal`` in google-research/mnist-c) runs diamond-square on a periodic
256x256 map, normalises the *whole* map to ``[0, 1]`` and crops the top-left 28x28. A crop
therefore spans only part of ``[0, 1]`` (0.29 on average) and sits wherever the whole map's
extremes put it: a thin grey veil whose density varies from image to image.

Three things decide the output: the crop, and the map's minimum and maximum. The map is built
level by level; at the level of step ``s`` each new point is the mean of four points ``s / 2``
away plus uniform noise in ``[-wibble**2, wibble**2)``, ``wibble = 100 / decay**level``. We
compute the coarse levels everywhere (a 64x64 grid of points 4 apart, 1/16 of the map) and the
two finest levels, which hold the other 15/16, only where they matter:

* around the crop, on a window of the coarse grid (:meth:`Fog._refine`);
* in the cells that can hold the map's extremes. A fine point is a weighted mean of the coarse
  points around its cell plus noise, so it lies within ``weights @ coarse +- bound`` (weights
  and bound are fixed numbers per position in the cell, found by running the refinement on
  unit inputs). A quick test (the largest coarse point around a cell, plus
  ``1.5 * sum(wibble**2)``) leaves a few dozen cells per image, the exact bound a handful;
  only those are refined. Every other cell provably holds neither extreme.

Every random number is a function of ``(seed, index, level, kind, position)``
(:func:`._rng.uniform_at`) and the arithmetic is the full map's, operation for operation, so
the result is the same bits as normalising the whole map (:meth:`Fog.plasma_map`, which the
tests compare against).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np

from . import _rng
from .base import TransformError
from .corruption import _Corruption

__all__ = ["Fog"]

#: the finest levels are computed only where needed; the coarser ones everywhere (1/16 of the map)
_LAZY_LEVELS = 2
_CELL = 1 << _LAZY_LEVELS
#: a cell's fine points depend on the coarse points from one cell before to two cells after it
_BEFORE, _AFTER = 1, 2

Noise = Callable[[int, str, np.ndarray, np.ndarray], np.ndarray]


class Fog(_Corruption):
    """Add MNIST-C's plasma-fractal haze. MNIST-C: amount 3.0, decay 1.4, a 256x256 map.

    ``(x + amount * fractal) * max(x) / (max(x) + amount)``, where ``fractal`` is the top-left
    ``H x W`` crop of a ``map_size`` x ``map_size`` diamond-square map normalised over the whole
    map, as MNIST-C does: each image gets a smooth veil whose density varies from image to
    image. The map's random numbers are drawn per example from ``(seed, index)``; only the part
    of the map that decides the output is computed (see :mod:`.fog`), with the same result as
    the whole map.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> x = mf.load("mnist/sample", "test").images[:10]
    >>> int(T.Fog(seed=0)(x)[x == 0].mean()) > 50   # the black background turns to haze
    True
    >>> f = T.Fog(seed=0).fractal(range(100), (28, 28))   # crops of maps normalised as a whole
    >>> span = f.max(axis=(1, 2)) - f.min(axis=(1, 2))
    >>> bool(f.min() >= 0 and f.max() <= 1), bool(0.2 < span.mean() < 0.4)
    (True, True)
    """

    compute_dtype = np.float64
    pixels_per_block = 1 << 16  # ~80 digits a block: their 64x64 grids stay in cache (4x faster than 2**18)

    def __init__(self, amount: float = 3.0, decay: float = 1.4, map_size: int = 256, *, seed: int):
        self.amount = float(amount)
        self.decay = float(decay)
        self.map_size = int(map_size)
        if self.decay <= 0:
            raise TransformError(f"Fog: decay must be positive, found {decay!r}")
        if self.map_size < 2 * _CELL or self.map_size & (self.map_size - 1):
            raise TransformError(f"Fog: map_size must be a power of two of at least {2 * _CELL} "
                                 f"(MNIST-C: 256), found {map_size!r}")
        self.seed = _rng.check_seed(seed, "Fog")

    # ------------------------------------------------------------------------------------------
    # the map

    def _wibble(self, level: int) -> float:
        return 100.0 / self.decay**level

    def _noise_at(self, level: int, kind: str, index: np.ndarray, counters: np.ndarray) -> np.ndarray:
        """Noise of the points ``counters`` (flat positions in the level's field of that kind)."""
        w = self._wibble(level)
        return w * _rng.uniform_at(self.seed, f"Fog.{level}.{kind}", index, counters, -w, w)

    def _noise_field(self, level: int, kind: str, index: np.ndarray) -> np.ndarray:
        """The same numbers for every point of the level: ``(N, 2**level, 2**level)``."""
        w = self._wibble(level)
        count = 1 << level  # the level's points of one kind form a count x count field
        return w * _rng.uniform(self.seed, f"Fog.{level}.{kind}", index, (count, count), -w, w)

    def _coarse(self, index: np.ndarray, levels: int) -> np.ndarray:
        """The first ``levels`` levels everywhere: ``(N, m, m)``, ``m = 2**levels``, points ``map_size / m`` apart."""
        m = 1 << levels
        grid = np.zeros((len(index), m, m))
        for level in range(levels):
            step = m >> level  # in grid units
            half = step // 2
            # the reference's order of additions: refined points must come out as the same bits
            corners = grid[:, 0::step, 0::step]
            square = corners + np.roll(corners, -1, axis=1)
            square += np.roll(square, -1, axis=2)
            grid[:, half::step, half::step] = square / 4.0 + self._noise_field(level, "square", index)
            centres = grid[:, half::step, half::step]
            corners = grid[:, 0::step, 0::step]
            rows = (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=2))
            grid[:, 0::step, half::step] = rows / 4.0 + self._noise_field(level, "rows", index)
            cols = (centres + np.roll(centres, 1, axis=2)) + (corners + np.roll(corners, -1, axis=1))
            grid[:, half::step, 0::step] = cols / 4.0 + self._noise_field(level, "cols", index)
        return grid

    def plasma_map(self, index: np.ndarray | range | list[int]) -> np.ndarray:
        """The whole ``(N, map_size, map_size)`` map before normalisation, every point computed.

        What MNIST-C's ``plasma_fractal`` draws, with this transform's random numbers. Slow
        (65,536 random numbers a 256x256 map): for inspection and tests.
        """
        return self._coarse(np.asarray(index, dtype=np.int64), int(math.log2(self.map_size)))

    def _refine(self, window: np.ndarray, top: np.ndarray, left: np.ndarray, index: np.ndarray,
                noise: Noise | None = None) -> np.ndarray:
        """The finest levels on windows of the coarse grid: ``(C, P, P)``, ``P = 4 (K - 1) + 1``.

        ``window[k]`` holds ``K x K`` coarse points of example ``index[k]``, the first at map
        pixel ``(top[k], left[k])`` (taken modulo the map size). Points whose neighbours lie
        outside the window are NaN. ``noise(level, kind, index, counters)`` replaces the random
        numbers (the bounds are found with it).
        """
        noise = noise or self._noise_at
        size = self.map_size
        c, k = window.shape[:2]
        p = _CELL * (k - 1) + 1
        v = np.full((c, p, p), np.nan)
        v[:, ::_CELL, ::_CELL] = window
        levels = int(math.log2(size))
        idx = np.asarray(index)[:, None, None]
        for level in range(levels - _LAZY_LEVELS, levels):
            s = size >> level
            h = s // 2
            cells = size // s

            def counters(r0: int, c0: int, rows: int, cols: int) -> np.ndarray:
                """Flat positions in the level's field of the points at window rows r0, r0 + s, ..."""
                r = (top[:, None] + r0 + s * np.arange(rows)) % size // s
                q = (left[:, None] + c0 + s * np.arange(cols)) % size // s
                return r[:, :, None] * cells + q[:, None, :]

            n = (p - 1) // s
            square = (v[:, 0:p - 1:s, 0:p - 1:s] + v[:, s::s, 0:p - 1:s]) + (v[:, 0:p - 1:s, s::s] + v[:, s::s, s::s])
            v[:, h::s, h::s] = square / 4.0 + noise(level, "square", idx, counters(h, h, n, n))
            centres = v[:, h::s, h::s]
            rows = ((centres[:, 1:] + centres[:, :-1])
                    + (v[:, s:p - 1:s, 0:p - 1:s] + v[:, s:p - 1:s, s::s]))
            v[:, s:p - 1:s, h::s] = rows / 4.0 + noise(level, "rows", idx, counters(s, h, n - 1, n))
            cols = ((centres[:, :, 1:] + centres[:, :, :-1])
                    + (v[:, 0:p - 1:s, s:p - 1:s] + v[:, s::s, s:p - 1:s]))
            v[:, h::s, s:p - 1:s] = cols / 4.0 + noise(level, "cols", idx, counters(h, s, n, n - 1))
        return v

    def _cell_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return _cell_bounds(self.decay, self.map_size)

    def fractal(self, index: np.ndarray | range | list[int], shape: tuple[int, int]) -> np.ndarray:
        """``(N, H, W)`` float64 on ``[0, 1]``: top-left crops of the maps, each normalised over its whole map.

        The same numbers as ``((m - m.min()) / (m.max() - m.min()))[:, :H, :W]`` with
        ``m = self.plasma_map(index)``.
        """
        index = np.asarray(index, dtype=np.int64)
        n = len(index)
        h, w = shape
        size = self.map_size
        if h > size or w > size:
            raise TransformError(f"Fog: images of {h}x{w} pixels do not fit in the {size}x{size} plasma map; "
                                 f"pass map_size={1 << math.ceil(math.log2(max(h, w)))} or more")
        levels = int(math.log2(size)) - _LAZY_LEVELS
        grid = self._coarse(index, levels)
        m = grid.shape[1]
        top, bottom = grid.max(axis=(1, 2)), grid.min(axis=(1, 2))

        # the crop: a window of coarse points from one cell above/left of it to two past it
        k = (max(h, w) - 1) // _CELL + _BEFORE + _AFTER + 1
        at = (np.arange(k) - _BEFORE) % m
        window = grid[:, at][:, :, at]
        start = np.full(n, -_BEFORE * _CELL)
        fine = self._refine(window, start, start, index)
        crop = fine[:, _BEFORE * _CELL:_BEFORE * _CELL + h, _BEFORE * _CELL:_BEFORE * _CELL + w]
        np.maximum(top, crop.max(axis=(1, 2)), out=top)
        np.minimum(bottom, crop.min(axis=(1, 2)), out=bottom)

        # the cells that may hold a point above the coarse maximum or below the minimum
        reach = 1.5 * sum(self._wibble(lv) ** 2 for lv in range(levels, levels + _LAZY_LEVELS))
        slack = 1e-9 * (top - bottom)[:, None, None]  # rounding in the sums: never drop a cell for a last bit
        threshold_high = top - reach - slack[:, 0, 0]
        threshold_low = bottom + reach + slack[:, 0, 0]
        hot = np.flatnonzero((grid >= threshold_high[:, None, None]) | (grid <= threshold_low[:, None, None]))
        hb, hi, hj = hot // (m * m), hot // m % m, hot % m  # a handful of coarse points per image
        # the cells whose window holds a hot point: from two cells before it to one after
        di, dj = np.divmod(np.arange((_BEFORE + _AFTER + 1) ** 2), _BEFORE + _AFTER + 1)
        cells = ((hb[:, None] * m + (hi[:, None] - di + _BEFORE) % m) * m + (hj[:, None] - dj + _BEFORE) % m).ravel()
        cells.sort()
        cells = cells[np.concatenate([[True], cells[1:] != cells[:-1]])] if cells.size else cells
        cb, ci, cj = cells // (m * m), cells // m % m, cells % m
        around = np.arange(_BEFORE + _AFTER + 1) - _BEFORE
        rows = (ci[:, None] + around) % m
        cols = (cj[:, None] + around) % m
        windows = grid[cb[:, None, None], rows[:, :, None], cols[:, None, :]]  # (C, 4, 4)
        weights, bound = self._cell_bounds()
        # (C, points of a cell); einsum, not a BLAS product: BLAS threads would spin on these tiny sizes
        centre = np.einsum("ck,pk->cp", windows.reshape(len(cb), -1), weights)
        tol = slack[cb, 0, 0][:, None]
        keep = ((centre + bound >= top[cb][:, None] - tol) | (centre - bound <= bottom[cb][:, None] + tol)).any(axis=1)
        if keep.any():
            cb, ci, cj, windows = cb[keep], ci[keep], cj[keep], windows[keep]
            fine = self._refine(windows, (ci - _BEFORE) * _CELL, (cj - _BEFORE) * _CELL, index[cb])
            cell = fine[:, _BEFORE * _CELL:(_BEFORE + 1) * _CELL, _BEFORE * _CELL:(_BEFORE + 1) * _CELL]
            np.maximum.at(top, cb, cell.max(axis=(1, 2)))
            np.minimum.at(bottom, cb, cell.min(axis=(1, 2)))
        crop = crop - bottom[:, None, None]
        crop /= (top - bottom)[:, None, None]
        return crop

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        peak = x.max(axis=(1, 2), keepdims=True)
        x = x + self.amount * self.fractal(index, x.shape[1:3])
        return x * peak / (peak + self.amount)


@lru_cache(maxsize=8)
def _cell_bounds(decay: float, map_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each fine point of a cell as ``weights @ coarse window + noise``, ``|noise| <= bound``.

    The refinement is linear in the coarse points and the noise: running it on unit coarse
    windows without noise gives the weights; running it on a zero window with every noise at
    its largest value, ``wibble**2`` (all coefficients are positive), gives the bound.
    """
    fog = Fog(decay=decay, map_size=map_size, seed=0)
    k = _BEFORE + _AFTER + 1
    units = np.eye(k * k).reshape(k * k, k, k)
    zero = np.zeros(k * k, np.int64)

    def silent(level: int, kind: str, index: np.ndarray, counters: np.ndarray) -> np.ndarray:
        return np.zeros(counters.shape)

    def loudest(level: int, kind: str, index: np.ndarray, counters: np.ndarray) -> np.ndarray:
        return np.full(counters.shape, fog._wibble(level) ** 2)

    inner = slice(_BEFORE * _CELL, (_BEFORE + 1) * _CELL)
    weights = fog._refine(units, zero, zero, zero, silent)[:, inner, inner].reshape(k * k, -1).T
    bound = fog._refine(np.zeros((1, k, k)), zero[:1], zero[:1], zero[:1], loudest)[0, inner, inner].ravel()
    return np.ascontiguousarray(weights), bound
