"""Decoding a split of MNIST-M made by the published recipe: MNIST's IDX files and BSDS500's tarball.

The split reads MNIST's images and labels (IDX, verified by MNIST's checksums) and
``BSR_bsds500.tgz`` (the backgrounds; :mod:`mnistfamily.formats.mnistm`), draws a background and
a patch per digit from the split's ``seed`` and writes the blended ``(N, 28, 28, 3)`` images in
blocks. Each row keeps where its background came from: the columns ``background`` (its place
among the backgrounds), ``patch_row`` and ``patch_col``. The report names the backgrounds,
counts what was skipped, and records the sha256 of the decoded backgrounds, which identifies
the product whatever archive they came from.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..formats.idx import read_idx
from ..formats.mnistm import BACKGROUND_ROOT, PATCH, blend, draw_patches, read_backgrounds
from ..formats.sink import Sink
from ..registry import DatasetSpec, SplitSpec

log = logging.getLogger("mnistfamily.prepare")

#: digits blended at a time: bounds the temporary arrays whatever the split size
BLOCK = 8192


def build_mnistm_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], writer: Sink,
                       *, transpose: bool = False) -> None:
    """Blend one split into ``writer``: images, labels, index and the patch columns."""
    where = f"{spec.name} [{split.name}]"
    if tuple(spec.image_shape) != (PATCH, PATCH, 3) or spec.image_dtype != "uint8":
        raise FormatError(f"{where}: the mnist-m-recipe format makes uint8 (28, 28, 3) images; the registry says "
                          f"{spec.image_dtype} {tuple(spec.image_shape)}.")
    digits = read_idx(paths[split.images])
    labels = read_idx(paths[split.labels])
    if digits.ndim != 3 or digits.shape[1:] != (PATCH, PATCH) or digits.dtype != np.uint8:
        raise FormatError(f"{where} {paths[split.images].name}: expected MNIST's uint8 digits (N, 28, 28); found "
                          f"{digits.dtype} {digits.shape}.")
    if labels.shape != (len(digits),):
        raise FormatError(f"{where} {paths[split.labels].name}: {labels.shape} labels for {len(digits)} digits; "
                          "the label and image files do not belong together.")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(spec.classes)):
        raise FormatError(f"{where} {paths[split.labels].name}: labels outside 0..{len(spec.classes) - 1}.")
    archive = paths[split.inputs["backgrounds"]]
    root = str(split.options.get("root", BACKGROUND_ROOT))
    backgrounds = read_backgrounds(archive, f"{where} {archive.name}", root=root)
    seed = int(split.options["seed"])
    drawn = draw_patches(seed, len(digits), backgrounds.shapes())
    log.info("blending %s: %d digits on %d backgrounds (seed %d)", where, len(digits), len(backgrounds.images), seed)
    images = writer.create("images", np.uint8, (len(digits), PATCH, PATCH, 3))
    for start in range(0, len(digits), BLOCK):
        part = slice(start, start + BLOCK)
        images[part] = blend(digits[part], backgrounds.images, drawn[0][part], drawn[1][part], drawn[2][part])
    writer.save("labels", labels)
    writer.save("index", np.arange(len(digits), dtype=np.int64))
    for column, values in zip(("background", "patch_row", "patch_col"), drawn):
        writer.save(f"meta.{column}", values)
    writer.report.update({
        "metadata_columns": ["background", "patch_row", "patch_col"],
        "backgrounds": len(backgrounds.images), "background_names": backgrounds.names,
        "backgrounds_sha256": backgrounds.digest(), "seed": seed,
        **{k: v for k, v in backgrounds.skipped.items()}})
