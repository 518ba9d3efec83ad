"""MNIST-M by its published recipe: BSDS500 backgrounds read from their tarball, patches drawn, digits blended.

The recipe (Ganin and Lempitsky 2015; Ganin et al., JMLR 17(59), 2016), as pumpikano/tf-dann's
``create_mnistm.py`` implements it and most MNIST-M copies are made:

1. the backgrounds are every readable image under ``BSR/BSDS500/data/images/train/`` of
   ``BSR_bsds500.tgz`` (200 colour photos of 481x321 or 321x481), in the order of the tarball;
2. for each MNIST digit a background is chosen at random, and a random 28x28 patch of it
   (top-left corner in ``[0, H - 28) x [0, W - 28)``, the upper bound excluded as
   ``np.random.randint`` excludes it);
3. the digit is binarised (``x > 0`` -> 255), repeated into 3 channels, and the output is the
   "difference blend" ``|patch - digit|``: ``255 - patch`` under the stroke, the patch elsewhere.

The originals draw the background from ``RandomState(42)`` and the corners from numpy's
unseeded global generator, so no two runs agree. Here one ``numpy.random.default_rng(seed)``
draws, for the whole split, the backgrounds, then the row corners, then the column corners
(:func:`draw_patches`): a seed gives the same MNIST-M on every machine. The images are decoded
with Pillow (skimage, which the recipe uses, decodes JPEG through Pillow too).

What a hostile tarball can do is bounded by :func:`~mnistfamily.formats.tar_stream.walk_tar`
(no extraction, names never paths, bounded headers, members and bytes); a member is at most
:data:`MAX_BACKGROUND_BYTES`, its declared size is checked before it is decoded (at most
:data:`MAX_SIDE` pixels a side), and what cannot be a background is skipped and counted.

Examples
--------
>>> import numpy as np
>>> from mnistfamily.formats.mnistm import blend, draw_patches
>>> backgrounds = [np.full((40, 50, 3), 100, np.uint8)]
>>> drawn = draw_patches(0, 2, [(40, 50)])
>>> digits = np.zeros((2, 28, 28), np.uint8); digits[0, 5, 5] = 1
>>> out = blend(digits, backgrounds, *drawn)
>>> out.shape, out[0, 5, 5].tolist(), out[0, 0, 0].tolist()
((2, 28, 28, 3), [155, 155, 155], [100, 100, 100])
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import FormatError

__all__ = ["BACKGROUND_ROOT", "MAX_BACKGROUND_BYTES", "MAX_SIDE", "PATCH", "Backgrounds", "blend", "draw_patches",
           "read_backgrounds"]

#: where the recipe takes its backgrounds in BSR_bsds500.tgz
BACKGROUND_ROOT = "BSR/BSDS500/data/images/train"
#: BSDS500's JPEGs are 20-150 KB; a member far larger is not one of them
MAX_BACKGROUND_BYTES = 16 << 20
#: a side longer than this is not a BSDS500 photo (481 x 321): refused before decoding
MAX_SIDE = 4096
#: at most this many backgrounds (BSDS500 has 200 training photos)
MAX_BACKGROUNDS = 10_000
#: the patch side: MNIST's digits
PATCH = 28
SKIP_KEYS = ("skipped_outside_root", "skipped_unreadable", "skipped_not_rgb", "skipped_too_small")


class Backgrounds:
    """The backgrounds of a tarball: decoded RGB images, their member names, what was skipped."""

    def __init__(self, images: list[np.ndarray], names: list[str], skipped: Counter[str]):
        self.images, self.names, self.skipped = images, names, skipped

    def shapes(self) -> list[tuple[int, int]]:
        return [(int(i.shape[0]), int(i.shape[1])) for i in self.images]

    def digest(self) -> str:
        """sha256 of the decoded backgrounds (shapes and pixels, in order): what the images depend on."""
        import hashlib

        h = hashlib.sha256()
        for image in self.images:
            h.update(np.asarray(image.shape, np.int64).tobytes())
            h.update(np.ascontiguousarray(image).tobytes())
        return h.hexdigest()


def read_backgrounds(path: Path, where: str, *, root: str = BACKGROUND_ROOT) -> Backgrounds:
    """Every readable RGB image under ``root/`` of the tarball at ``path``, in tarball order.

    Raises ``FormatError`` naming ``where`` when none is found, the archive is damaged or hostile.
    """
    from .tar_stream import member_name, walk_tar

    prefix = root.strip("/") + "/"
    images: list[np.ndarray] = []
    names: list[str] = []
    skipped: Counter[str] = Counter({key: 0 for key in SKIP_KEYS})

    def want(member) -> int | None:
        name = member_name(member)
        return MAX_BACKGROUND_BYTES if name is not None and name.startswith(prefix) else None

    with open(path, "rb") as raw:
        for member, data in walk_tar(raw, where, want, max_bytes=1 << 31):
            if data is None:
                if member.isreg():
                    skipped["skipped_outside_root"] += 1
                continue
            image, problem = _decode(data)
            if image is None:
                skipped[problem] += 1
                continue
            if len(images) >= MAX_BACKGROUNDS:
                raise FormatError(f"{where}: more than {MAX_BACKGROUNDS:,} images under {prefix}; BSDS500 has 200. "
                                  "Delete the file and fetch it again.")
            images.append(image)
            names.append(member_name(member) or "")
    if not images:
        raise FormatError(f"{where}: no readable RGB image of at least {PATCH + 1}x{PATCH + 1} pixels under "
                          f"{prefix} ({', '.join(f'{k} {v}' for k, v in skipped.items() if v) or 'no member there'}). "
                          "Is this BSR_bsds500.tgz? Delete the file and fetch it again.")
    return Backgrounds(images, names, skipped)


def _decode(data: bytes) -> tuple[np.ndarray | None, str]:
    """A member's bytes as an RGB image, or None and why not (the recipe skips what it cannot read)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size  # from the header: checked before any pixel is decoded
            if width > MAX_SIDE or height > MAX_SIDE:
                return None, "skipped_unreadable"
            if image.mode != "RGB":
                return None, "skipped_not_rgb"
            if width <= PATCH or height <= PATCH:
                return None, "skipped_too_small"
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None, "skipped_unreadable"
    if array.shape != (height, width, 3):  # pragma: no cover - Pillow gives what its header says
        return None, "skipped_unreadable"
    return array, ""


def draw_patches(seed: int, n: int, shapes: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``n`` digits: the background (index into ``shapes``), and the patch's top row and left column.

    One ``numpy.random.default_rng(seed)`` draws all backgrounds, then all rows, then all columns;
    a corner lies in ``[0, H - 28) x [0, W - 28)`` of its background.
    """
    if not shapes:
        raise FormatError("MNIST-M: no background to draw patches from")
    rng = np.random.default_rng(seed)
    heights = np.array([h for h, _ in shapes], np.int64)
    widths = np.array([w for _, w in shapes], np.int64)
    background = rng.integers(0, len(shapes), size=n)
    row = rng.integers(0, heights[background] - PATCH)
    col = rng.integers(0, widths[background] - PATCH)
    return background.astype(np.int32), row.astype(np.int32), col.astype(np.int32)


def blend(digits: np.ndarray, backgrounds: Sequence[np.ndarray], background: np.ndarray, row: np.ndarray,
          col: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The difference blend of each binarised digit with its patch: ``(N, 28, 28, 3)`` uint8.

    Vectorised per background (every digit that drew background ``b`` at once).
    """
    n = len(digits)
    if out is None:
        out = np.empty((n, PATCH, PATCH, 3), np.uint8)
    offsets = np.arange(PATCH)
    stroke = np.asarray(digits) > 0
    for b in np.unique(background):
        mine = np.flatnonzero(background == b)
        rows = row[mine, None] + offsets  # (k, 28)
        cols = col[mine, None] + offsets
        patch = backgrounds[int(b)][rows[:, :, None], cols[:, None, :]]  # (k, 28, 28, 3)
        out[mine] = np.where(stroke[mine, :, :, None], 255 - patch, patch)
    return out
