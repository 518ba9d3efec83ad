"""Batch resampling kernels shared by the geometric transforms and corruptions.

* :func:`bilinear` samples every image of a batch at its own source coordinates: the
  equivalent of ``scipy.ndimage.map_coordinates(images, [n, y, x], order=1,
  mode="grid-constant")`` over the whole ``(N, H, W)`` batch (the tests check that), written
  as four flat gathers and three lerps. It is about twice as fast as ``map_coordinates``
  on 28x28 digits because it knows the first coordinate is an integer (map_coordinates
  interpolates along the batch axis too, eight taps instead of four) and its arithmetic is
  numpy ufuncs, which release the GIL, so blocks run in parallel threads.
* :func:`affine_grid` turns per-example 2x3 matrices into source coordinates.
* :func:`gaussian_matrix` and :func:`resize_matrix` express 1-D filters as matrices, so a
  whole batch is filtered by BLAS matrix products (one per image and axis: see
  :func:`smooth_batch` for why not one for the batch).

Coordinates are pixel indices: pixel ``(i, j)`` has its centre at ``(i, j)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def bilinear(images: np.ndarray, src_y: np.ndarray, src_x: np.ndarray) -> np.ndarray:
    """Sample ``images`` at ``(src_y, src_x)`` with bilinear interpolation, zero outside.

    Parameters
    ----------
    images
        ``(N, H, W)`` or ``(N, H, W, C)``, any real dtype.
    src_y, src_x
        ``(N, h, w)`` source coordinates of each output pixel (left untouched).

    Returns
    -------
    ``(N, h, w)`` or ``(N, h, w, C)`` float32 on the input's scale.
    """
    return bilinear_padded(images, np.asarray(src_y, np.float32) + np.float32(1.0),
                           np.asarray(src_x, np.float32) + np.float32(1.0))


def bilinear_padded(images: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """:func:`bilinear` with coordinates already shifted by +1, which it overwrites.

    The hot paths build their coordinates with the +1 folded in and hand them over, which
    saves two passes and two allocations per block.
    """
    n, height, width = images.shape[:3]
    channels = images.shape[3:]
    pw = width + 2
    # One ring of zeros around every image: a neighbour that falls outside reads 0, and a
    # coordinate clipped to the ring interpolates towards 0 ("grid-constant").
    padded = _zero_ring(images, 1, 1)
    flat = padded.reshape(n * (height + 2) * pw, *channels)

    # float32 throughout (an int operand would promote a pass to float64). Clipping to the
    # float just below the far ring keeps floor() <= H, so the lower/right neighbour exists
    # without a min() pass; a point there reads 1 - 2e-6 of the zero ring and 2e-6 of the
    # last pixel (under 0.001 grey levels).
    y = np.asarray(y, np.float32)
    x = np.asarray(x, np.float32)
    np.clip(y, np.float32(0.0), np.nextafter(np.float32(height + 1), np.float32(0.0)), out=y)
    np.clip(x, np.float32(0.0), np.nextafter(np.float32(width + 1), np.float32(0.0)), out=x)
    y0 = np.floor(y)
    x0 = np.floor(x)
    y -= y0  # now the fractional parts
    x -= x0
    y0 *= np.float32(pw)  # row offsets: exact in float32 (< (H + 2) * (W + 2))
    y0 += x0
    at = y0.astype(np.intp)  # np.take would convert any other index type on every call
    del x0, y0
    at += (np.arange(n, dtype=np.intp) * ((height + 2) * pw)).reshape(n, *([1] * (at.ndim - 1)))
    if channels:
        x = x[..., None]
        y = y[..., None]
    # the three other neighbours: the same indices into views shifted by 1, pw and pw + 1
    top = np.take(flat, at, axis=0)
    right = np.take(flat[1:], at, axis=0)
    right -= top
    right *= x
    right += top  # top row
    bottom = np.take(flat[pw:], at, axis=0)
    top = np.take(flat[pw + 1:], at, axis=0)
    top -= bottom
    top *= x
    top += bottom  # bottom row
    top -= right
    top *= y
    top += right
    return top


def shear_sample(images: np.ndarray, dy: np.ndarray, row_shift: np.ndarray) -> np.ndarray:
    """Bilinear resampling when rows stay rows: output ``(oy, ox)`` reads ``(oy + dy, ox + row_shift[oy])``.

    Covers translations and horizontal shears (deskewing, centring) as two 1-D passes:
    whole rows are interpolated with one weight per image, then each row is shifted with
    one weight per row. That is exactly bilinear interpolation (it is linear in each axis)
    at a fraction of the work. Zero outside, like :func:`bilinear`.

    Parameters
    ----------
    images
        ``(N, H, W)`` or ``(N, H, W, C)``.
    dy
        ``(N,)`` vertical offset of each image.
    row_shift
        ``(N, H)`` horizontal offset of each output row (or ``(N, 1)`` for all rows).

    Returns
    -------
    float32, the shape of ``images``.
    """
    n, height, width = images.shape[:3]
    channels = images.shape[3:]
    # vertical: rows oy + dy, interpolated with one weight per image; rows beyond the ring read 0
    rows = _zero_ring(images, 1, 0).reshape(n * (height + 2), width, *channels)
    dy = np.asarray(dy, np.float64)
    k = np.floor(dy)
    fy = (dy - k).astype(np.float32).reshape(n, *([1] * (1 + len(images.shape[2:]))))
    first = np.clip(np.arange(height)[None, :] + k.astype(np.intp)[:, None] + 1, 0, height + 1)
    second = np.clip(first + 1, 0, height + 1) if height else first
    first += (np.arange(n, dtype=np.intp) * (height + 2))[:, None]
    second += (np.arange(n, dtype=np.intp) * (height + 2))[:, None]
    lower = np.take(rows, first, axis=0)  # (N, H, W[, C])
    if fy.any():  # whole-pixel shifts (centring) need no interpolation
        upper = lower
        lower = np.take(rows, second, axis=0)
        lower -= upper
        lower *= fy
        lower += upper
    # horizontal: each row shifted by its own offset; pad wide enough that no index clips
    shift = np.broadcast_to(np.asarray(row_shift, np.float64), (n, height))
    kx = np.floor(shift)
    fx = (shift - kx).astype(np.float32)
    margin = int(np.abs(kx).max(initial=0.0)) + 2
    wide = _zero_ring(lower, 0, margin)
    # every output row is a contiguous run of its padded row: gather whole runs through a
    # window view (one index per row, not per pixel)
    rows_in = wide.reshape(n * height, width + 2 * margin, *channels)
    windows = np.lib.stride_tricks.sliding_window_view(rows_in, width + 1, axis=1)  # (N*H, starts, ..., W+1)
    which = np.arange(n * height, dtype=np.intp)
    runs = windows[which, (margin + kx).astype(np.intp).ravel()]  # (N*H, [C,] W + 1)
    if channels:
        runs = np.moveaxis(runs, -1, 1)  # the window axis goes last: back to (N*H, W + 1, C)
    runs = runs.reshape(n, height, width + 1, *channels)
    left = runs[:, :, :width]
    if not fx.any():
        return np.ascontiguousarray(left)
    right = runs[:, :, 1:] - left
    right *= fx.reshape(n, height, 1, *([1] * len(channels)))
    right += left
    return right


def _zero_ring(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """float32 copy of ``images`` with ``rows`` zero rows above and below, ``cols`` zero columns
    left and right (only the ring is cleared: one pass over the data, not two)."""
    n, height, width = images.shape[:3]
    out = np.empty((n, height + 2 * rows, width + 2 * cols, *images.shape[3:]), np.float32)
    out[:, rows:rows + height, cols:cols + width] = images
    if rows:
        out[:, :rows] = 0.0
        out[:, rows + height:] = 0.0
    if cols:
        out[:, :, :cols] = 0.0
        out[:, :, cols + width:] = 0.0
    return out


def affine_grid(matrices: np.ndarray, out_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates of every output pixel under per-example affine maps.

    ``matrices`` is ``(N, 2, 3)``: ``[[a, b, c], [d, e, f]]`` maps an output pixel ``(y, x)``
    to the source point ``(a*y + b*x + c, d*y + e*x + f)``. Returns ``(src_y, src_x)``,
    each ``(N, h, w)`` float32.
    """
    h, w = out_shape
    m = np.asarray(matrices, np.float64)
    ys = np.arange(h, dtype=np.float64)
    xs = np.arange(w, dtype=np.float64)
    # Row part (N, h, 1) plus column part (N, 1, w): one full-size addition per coordinate.
    rows_y = (m[:, 0, 0, None] * ys + m[:, 0, 2, None]).astype(np.float32)[:, :, None]
    cols_y = (m[:, 0, 1, None] * xs).astype(np.float32)[:, None, :]
    rows_x = (m[:, 1, 0, None] * ys + m[:, 1, 2, None]).astype(np.float32)[:, :, None]
    cols_x = (m[:, 1, 1, None] * xs).astype(np.float32)[:, None, :]
    return rows_y + cols_y, rows_x + cols_x


def gaussian_matrix(n: int, sigma: float, mode: str = "constant", truncate: float = 4.0) -> np.ndarray:
    """``G`` (n x n, float32) with ``G @ v == scipy.ndimage.gaussian_filter1d(v, sigma, mode=mode)``.

    Built by filtering the identity, so it is scipy's filter exactly (same kernel, same
    boundary rule); applying it to a batch is then one matrix product per axis.
    """
    from scipy import ndimage

    g = ndimage.gaussian_filter1d(np.eye(n), sigma, axis=0, mode=mode, truncate=truncate)
    g = g.astype(np.float32)
    g.setflags(write=False)
    return g


def smooth_batch(fields: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """``gy @ f @ gx.T`` for every ``(H, W)`` field of a ``(..., H, W)`` float32 batch.

    Stacked matrix products on purpose: numpy calls BLAS once per field with the same
    shapes, so a field's result is the same bytes in any batch. One flat ``(N*H, W)``
    product would be faster, but BLAS rounds the rows of a partial panel differently, so
    the bytes would depend on the example's position in the batch (the tests check this).
    """
    return np.matmul(gy, np.matmul(fields, gx.T))


@lru_cache(maxsize=64)
def resize_matrix(n_in: int, n_out: int, antialias: bool = True) -> np.ndarray:
    """``(n_out, n_in)`` float32 weights of PIL's bilinear resampling along one axis.

    Pixel ``i`` of the output has its centre at ``(i + 0.5) * n_in / n_out`` in input pixel
    units; the weights are a triangle around it, stretched by the reduction factor when
    shrinking with ``antialias`` (PIL, ``torchvision ... antialias=True``), and normalised
    over the input pixels that exist (so edges are not darkened).
    """
    scale = n_in / n_out
    support = max(scale, 1.0) if antialias else 1.0
    centres = (np.arange(n_out, dtype=np.float64) + 0.5) * scale
    distance = (np.arange(n_in, dtype=np.float64)[None, :] + 0.5 - centres[:, None]) / support
    weights = np.clip(1.0 - np.abs(distance), 0.0, None)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


def apply_separable(images: np.ndarray, ry: np.ndarray, rx: np.ndarray) -> np.ndarray:
    """``ry @ image @ rx.T`` for each image (and channel): float32 ``(N, h, w[, C])``.

    ``ry``/``rx`` are ``(h, H)``/``(w, W)`` shared matrices or ``(N, h, H)``/``(N, w, W)``
    per-example ones.
    """
    x = images.astype(np.float32, copy=False)
    channels = x.shape[3:]
    if channels:  # channels last -> treat each channel as its own image
        x = np.moveaxis(x, 3, 1).reshape(-1, *x.shape[1:3])
        if ry.ndim == 3:
            ry = np.repeat(ry, channels[0], axis=0)
            rx = np.repeat(rx, channels[0], axis=0)
    # stacked products, one BLAS call per image: batch-independent bytes (see smooth_batch)
    tmp = np.matmul(x, np.swapaxes(rx, -1, -2))
    out = np.matmul(ry, tmp)
    if channels:
        out = np.moveaxis(out.reshape(-1, channels[0], *out.shape[1:]), 1, 3)
    return np.ascontiguousarray(out)
