"""Miniatures of MNIST-M made by the recipe: MNIST-like IDX files and a tiny BSDS500-like tarball.

The tarball has BSDS500's layout (``BSR/BSDS500/data/images/{train,test}/<id>.jpg``, folder
entries first) with a few small colour JPEGs of both orientations under ``train/``, and what a
reader must skip there: a ``Thumbs.db`` (the real archive has one), a grey JPEG and one too small
for a 28x28 patch; the ``test/`` photos are outside the recipe's folder. The expected images are
blended here from the definition (``|patch - 255 * (digit > 0)|``), on the JPEGs as Pillow decodes
them, at the corners :func:`mnistfamily.formats.mnistm.draw_patches` draws for the split's seed.
"""

from __future__ import annotations

import io

import numpy as np

from ..formats.idx import encode_header
from ..registry import DatasetSpec, SplitSpec
from .mini_idx import _idx_bytes
from .mini_png_tar import Member, folder, regular, tar_gz_bytes

#: (height, width) of the miniature's backgrounds, both orientations as in BSDS500
SHAPES = ((40, 52), (52, 40), (36, 45))


def jpeg_bytes(image: np.ndarray) -> bytes:
    """``image`` (H, W, 3) or (H, W) uint8 as a JPEG, by Pillow."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), mode="RGB" if image.ndim == 3 else "L").save(
        buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def bsds_archive(rng: np.random.Generator, root: str = "BSR/BSDS500/data/images/train",
                 shapes: tuple[tuple[int, int], ...] = SHAPES) -> tuple[bytes, list[np.ndarray], dict[str, int]]:
    """A BSDS500-like ``.tgz``: its bytes, the backgrounds as Pillow decodes them, and what a reader skips."""
    from PIL import Image

    parent = root.rsplit("/", 1)[0] if "/" in root else ""
    members: list[Member] = [folder(p) for p in _parents(root)]
    backgrounds = []
    for i, (h, w) in enumerate(shapes):
        # smooth colour gradients plus noise: photo-like, and JPEG keeps them near
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (h + w)], axis=-1)
        image = np.clip(base + rng.integers(-20, 21, size=(h, w, 3)), 0, 255).astype(np.uint8)
        data = jpeg_bytes(image)
        members.append(regular(f"{root}/{1000 + i}.jpg", data))
        backgrounds.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        if i == 0:  # what the reader must skip sits among the photos
            members.append(regular(f"{root}/Thumbs.db", b"\xd0\xcf\x11\xe0 not an image"))
            members.append(regular(f"{root}/grey.jpg", jpeg_bytes(np.full((40, 40), 128, np.uint8))))
            members.append(regular(f"{root}/tiny.jpg", jpeg_bytes(np.zeros((20, 20, 3), np.uint8))))
    if parent:
        members.append(folder(f"{parent}/test"))
        members.append(regular(f"{parent}/test/2000.jpg", jpeg_bytes(np.zeros((40, 40, 3), np.uint8))))
    skipped = {"skipped_outside_root": 1 if parent else 0, "skipped_unreadable": 1, "skipped_not_rgb": 1,
               "skipped_too_small": 1}
    return tar_gz_bytes(members), backgrounds, skipped


def _parents(root: str) -> list[str]:
    parts = root.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def mnistm_contents(spec: DatasetSpec, splits: dict[str, SplitSpec], rng: np.random.Generator):
    """Published bytes of every file of an mnist-m-recipe dataset, and what loading each split must return."""
    from ..formats.mnistm import draw_patches

    published: dict[str, tuple[bytes, bytes | None]] = {}
    archives: dict[str, list[np.ndarray]] = {}
    skipped: dict[str, dict[str, int]] = {}
    expected = {}
    for split in splits.values():
        n = int(split.num_examples or 0)
        name = split.inputs["backgrounds"]
        if name not in archives:
            data, archives[name], skipped[name] = bsds_archive(rng, str(split.options.get(
                "root", "BSR/BSDS500/data/images/train")))
            published[name] = (data, None)
        # strokes on a blank page, as MNIST: zeros outside the digit, grey levels on it
        digits = np.where(rng.random((n, 28, 28)) < 0.2, rng.integers(1, 256, size=(n, 28, 28)), 0).astype(np.uint8)
        labels = rng.integers(0, len(spec.classes), size=n).astype(np.uint8)
        published[split.images] = (_idx_bytes(digits, split.images), encode_header(digits.dtype, digits.shape)
                                   + digits.tobytes())
        published[split.labels] = (_idx_bytes(labels, split.labels), encode_header(labels.dtype, labels.shape)
                                   + labels.tobytes())
        backgrounds = archives[name]
        which, row, col = draw_patches(int(split.options["seed"]), n, [b.shape[:2] for b in backgrounds])
        images = np.empty((n, 28, 28, 3), np.uint8)
        for i in range(n):  # the definition, one digit at a time
            patch = backgrounds[which[i]][row[i]:row[i] + 28, col[i]:col[i] + 28].astype(np.float64)
            digit = (digits[i] > 0).astype(np.float64)[:, :, None] * 255
            images[i] = np.abs(patch - digit).astype(np.uint8)
        expected[split.name] = {"images": images, "labels": labels.astype(np.int64),
                                "index": np.arange(n, dtype=np.int64),
                                "metadata": {"background": which, "patch_row": row, "patch_col": col},
                                "skipped": skipped[name]}
    return published, expected
