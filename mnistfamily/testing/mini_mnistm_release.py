"""Miniatures of Ganin's released MNIST-M: ``mnist_m.tar.gz`` with both splits' PNGs and labels files.

Like the release: a top folder ``mnist_m/``, a folder per split of 32x32 RGB PNGs named by number,
and ``mnist_m_<part>_labels.txt`` with lines ``NNNNNNNN.png L``. The members come in a shuffled
order (the reader places images by number) with the labels files in the middle.
"""

from __future__ import annotations

import io

import numpy as np

from ..registry import DatasetSpec, SplitSpec
from .mini_png_tar import Member, folder, regular, tar_gz_bytes


def rgb_png(image: np.ndarray) -> bytes:
    """``image`` (H, W, 3) uint8 as an RGB PNG, by Pillow."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def release_members(splits: dict[str, tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> list[Member]:
    """The members of a release holding ``{part: (images, labels)}``, PNGs in a shuffled order."""
    members: list[Member] = [folder("mnist_m")] + [folder(f"mnist_m/mnist_m_{part}") for part in splits]
    pngs: list[Member] = []
    for part, (images, labels) in splits.items():
        pngs += [regular(f"mnist_m/mnist_m_{part}/{i:08d}.png", rgb_png(image)) for i, image in enumerate(images)]
    pngs = [pngs[i] for i in rng.permutation(len(pngs))]
    middle = len(pngs) // 2
    texts = [regular(f"mnist_m/mnist_m_{part}_labels.txt",
                     "".join(f"{i:08d}.png {int(label)}\n" for i, label in enumerate(labels)).encode("ascii"))
             for part, (_, labels) in splits.items()]
    return members + pngs[:middle] + texts + pngs[middle:]


def release_contents(spec: DatasetSpec, splits: dict[str, SplitSpec], rng: np.random.Generator):
    """Published bytes of ``mnist_m.tar.gz`` and what loading each split must return."""
    data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    archive = ""
    for split in splits.values():
        n = int(split.num_examples or 0)
        archive = split.inputs["archive"]
        data[str(split.options["part"])] = (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                                            rng.integers(0, 10, n))
    published = {archive: (tar_gz_bytes(release_members(data, rng)), None)}
    expected = {split.name: {"images": data[str(split.options["part"])][0],
                             "labels": data[str(split.options["part"])][1].astype(np.int64),
                             "index": np.arange(int(split.num_examples or 0), dtype=np.int64), "metadata": {}}
                for split in splits.values()}
    return published, expected
