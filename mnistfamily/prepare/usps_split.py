"""Decoding a split of USPS as LIBSVM publishes it (``usps.bz2``, ``usps.t.bz2``) into a cache entry.

The entry's ``image_dtype`` chooses the decoding (:mod:`mnistfamily.formats.usps_libsvm`):
``uint8``, torchvision's bytes ``floor((x + 1) / 2 * 255)``, for ``usps``; ``float32``, the
published values in [-1, 1], for ``usps/float32``. Both entries read the same files.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FormatError
from ..formats.sink import Sink
from ..formats.usps_libsvm import IMAGE_DTYPES, IMAGE_SHAPE, read_usps_libsvm
from ..registry import DatasetSpec, SplitSpec


def build_usps_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], sink: Sink,
                     *, transpose: bool = False) -> None:
    """Decode one USPS split into ``sink``: ``images`` ``(N, 16, 16)`` of the entry's dtype, ``labels`` 0..9, ``index``."""
    name = split.inputs["data"]
    where = f"{spec.name} [{split.name}] {name}"
    if transpose or tuple(spec.image_shape) != IMAGE_SHAPE or spec.image_dtype not in IMAGE_DTYPES \
            or spec.num_classes != 10:
        raise FormatError(f"{where}: USPS holds images {IMAGE_SHAPE} of ten digits, decoded as "
                          f"{' or '.join(IMAGE_DTYPES)}; the registry entry says {spec.image_dtype} "
                          f"{tuple(spec.image_shape)}, {spec.num_classes} classes. Fix the entry.")
    read_usps_libsvm(paths[name], sink, image_dtype=spec.image_dtype, num_examples=split.num_examples, where=where)
