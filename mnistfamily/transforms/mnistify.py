"""MNISTify: MNIST's own preprocessing (fit to 20x20, centre by mass in 28x28) for digits of any size."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._sampling import apply_separable
from .base import Transform, TransformError, as_batch, as_index, full_scale, restore_dtype
from .geometric import _center, _ink_rows_cols

__all__ = ["MNISTify"]


class MNISTify(Transform):
    """Turn digits of any size into MNIST-style images, with MNIST's own preprocessing.

    1. With ``invert="auto"`` an image whose border is mostly light (dark ink on white
       paper) is inverted; ``True``/``False`` force it.
    2. Pixels at or below ``threshold`` times the image's brightest pixel are background
       and set to 0 (paper texture, scanner noise); ``threshold=0`` keeps every pixel.
    3. The bounding box of what is left is scaled to fit a ``box`` x ``box`` square keeping
       its aspect ratio, each output pixel averaging the input under it (area
       anti-aliasing, which turns strokes into MNIST's grey levels instead of jagged steps),
       and placed in a ``size`` x ``size`` field.
    4. The image is shifted by whole pixels so its centre of mass sits at the field's
       centre (:class:`CenterOfMass`).

    Accepts a batch ``(N, H, W)`` (or ``(N, H, W, 3)``, converted to luminance), of uint8,
    float on ``[0, 1]`` or bool, or a list of single images of different sizes. Returns
    ``(N, size, size)``: uint8 for uint8 or bool input, float32 for float input.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> page = np.full((1, 300, 200), 255, np.uint8)      # white paper
    >>> page[0, 50:250, 90:110] = 0                        # a black stroke: a "1"
    >>> digit = T.MNISTify()(page)
    >>> digit.shape, int(digit[0].max()), int(digit[0, 0, 0])
    ((1, 28, 28), 255, 0)
    """

    def __init__(self, box: int = 20, size: int = 28, threshold: float = 0.2, invert: bool | str = "auto"):
        if not isinstance(box, (int, np.integer)) or not isinstance(size, (int, np.integer)) or not 0 < box <= size:
            raise TransformError(f"MNISTify: need integers 0 < box <= size, found box={box!r}, size={size!r}")
        self.box = int(box)
        self.size = int(size)
        self.threshold = float(threshold)
        if not 0 <= self.threshold < 1:
            raise TransformError(f"MNISTify: threshold is a fraction of the brightest pixel, in [0, 1), "
                                 f"found {threshold!r}")
        if invert not in ("auto", True, False):
            raise TransformError(f"MNISTify: invert must be 'auto', True or False, found {invert!r}")
        self.invert = invert

    def __call__(self, images: Any, *, index: Any = None) -> np.ndarray:
        if isinstance(images, (list, tuple)):  # single images of different sizes: one batch per shape
            singles = [np.asarray(im) for im in images]
            out = np.empty((len(singles), self.size, self.size),
                           np.float32 if singles and all(im.dtype.kind == "f" for im in singles) else np.uint8)
            groups: dict[tuple[Any, ...], list[int]] = {}
            for i, im in enumerate(singles):
                groups.setdefault((im.shape, im.dtype.str), []).append(i)
            for members in groups.values():
                part = self(np.stack([singles[i] for i in members]))
                if out.dtype == np.uint8 and part.dtype != np.uint8:  # float among uint8: to 0..255
                    part = restore_dtype(part * np.float32(255.0), np.dtype(np.uint8))
                out[members] = part
            return out
        images = np.asarray(images)
        if images.dtype == bool:
            images = images.astype(np.uint8) * np.uint8(255)
        if images.ndim == 4 and images.shape[3] in (3, 4):  # colour: ITU-R 601 luminance, alpha ignored
            weights = np.array([0.299, 0.587, 0.114], np.float32)
            gray = images[..., :3].astype(np.float32) @ weights
            images = restore_dtype(gray, images.dtype) if images.dtype == np.uint8 else gray
        elif images.ndim == 4 and images.shape[3] == 1:
            images = images[..., 0]
        images = as_batch(images, "MNISTify")
        if images.ndim != 3:
            raise TransformError(f"MNISTify: expected grey (N, H, W) or colour (N, H, W, 3) images, found "
                                 f"shape {images.shape}")
        as_index(index, len(images), "MNISTify")
        if not len(images):
            return self._apply(np.zeros((1, *images.shape[1:]), images.dtype), np.zeros(1, np.int64))[:0]
        # a block of ~256 large images keeps the per-example filter matrices small
        block = max(1, (1 << 22) // max(1, images.shape[1] * images.shape[2]))
        if len(images) <= block:
            return self._apply(images, np.arange(len(images)))
        out = np.empty((len(images), self.size, self.size), np.uint8 if images.dtype == np.uint8 else np.float32)
        for start in range(0, len(images), block):
            stop = min(start + block, len(images))
            out[start:stop] = self._apply(images[start:stop], np.arange(start, stop))
        return out

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        n, height, width = images.shape
        full = full_scale(images.dtype)
        x = images.astype(np.float32)
        if self.invert is True:
            x = full - x
        elif self.invert == "auto":
            border = np.concatenate([x[:, 0, :], x[:, -1, :], x[:, :, 0], x[:, :, -1]], axis=1)
            light = border.mean(axis=1) > full / 2
            x[light] = full - x[light]
        # background: relative to each image's brightest pixel, for faint pencil and bold
        # marker alike; paper texture and scanner noise must not count as ink
        x[x <= self.threshold * x.max(axis=(1, 2), keepdims=True)] = 0.0
        rows, cols = _ink_rows_cols(np.greater(x, 0))
        has_ink = np.asarray(np.any(rows, axis=1))
        top, bottom = rows.argmax(axis=1), height - rows[:, ::-1].argmax(axis=1)   # ink rows [top, bottom)
        left, right = cols.argmax(axis=1), width - cols[:, ::-1].argmax(axis=1)
        extent = np.maximum(bottom - top, right - left).astype(np.float64)
        scale = np.where(has_ink, self.box / np.maximum(extent, 1.0), 1.0)
        ry = _fit_matrices(top, bottom, scale, height, self.size)
        rx = _fit_matrices(left, right, scale, width, self.size)
        fitted = apply_separable(x, ry, rx)
        fitted[~has_ink] = 0.0
        np.clip(fitted, 0.0, full, out=fitted)
        return _center(fitted, subpixel=False, out_dtype=images.dtype)


def _fit_matrices(start: np.ndarray, stop: np.ndarray, scale: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """Per-example ``(N, n_out, n_in)`` weights mapping ink span ``[start, stop)`` onto the centre of
    ``n_out`` pixels, scaled by ``scale``.

    Area weights: each output pixel averages the input over its own footprint (``1 / scale``
    input pixels wide), weighting each input pixel by the overlap. Shrinking, that is the
    anti-aliasing MNIST's grey levels come from (a 4x-enlarged MNIST digit comes back
    byte-identical); enlarging, a one-pixel footprint makes it linear interpolation.
    Nothing outside the image is read.
    """
    span = (stop - start) * scale                                 # size of the ink on the output grid
    offset = (n_out - span) / 2.0                                 # where it starts there
    centre = start[:, None] + (np.arange(n_out) + 0.5 - offset[:, None]) / scale[:, None]  # (N, n_out)
    half = np.maximum(0.5 / scale, 0.5)[:, None, None]            # half a footprint, in input pixels
    low, high = centre[:, :, None] - half, centre[:, :, None] + half
    j = np.arange(n_in, dtype=np.float64)                         # input pixel j covers [j, j + 1)
    overlap = np.minimum(j + 1.0, high) - np.maximum(j, low)
    np.clip(overlap, 0.0, None, out=overlap)
    overlap /= 2.0 * half
    return overlap.astype(np.float32)
