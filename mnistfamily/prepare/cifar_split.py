"""Decoding a split of CIFAR-10 or CIFAR-100's binary archive (one ``.tar.gz`` for both splits) into a cache entry.

The reader (:mod:`mnistfamily.formats.cifar_bin`) walks the tarball twice, streaming the
split's records as channels-last ``(N, 32, 32, 3)`` uint8. The class names are the archive's
(``batches.meta.txt``; CIFAR-100's ``fine_label_names.txt``): when the registry lists them they
must be those, and when it says the archive names them (``classes: {count, named_by}``) they
are recorded in the entry's manifest (``report["classes"]``), which is where ``load`` reads
them. CIFAR-100's coarse label is the metadata column ``coarse_label``, the names of its codes
in ``report["code_names"]``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import FormatError
from ..formats.cifar_bin import LAYOUTS, read_cifar_bin
from ..formats.sink import Sink
from ..registry import DatasetSpec, SplitSpec


def build_cifar_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], sink: Sink,
                      *, transpose: bool = False) -> None:
    """Decode one CIFAR split (``part: train|test`` of the archive ``archive``, ``layout: cifar10|cifar100``)."""
    name = split.inputs["archive"]
    layout, part = str(split.options.get("layout")), str(split.options.get("part"))
    where = f"{spec.name} [{split.name}] {name}"
    if layout not in LAYOUTS or part not in LAYOUTS[layout].splits:
        raise FormatError(f"{where}: the registry says layout {layout!r}, part {part!r}; CIFAR's binary archives "
                          f"have layouts {', '.join(sorted(LAYOUTS))} and parts train, test. Fix the entry.")
    labels = LAYOUTS[layout].columns[-1][2]
    if transpose or tuple(spec.image_shape) != (32, 32, 3) or spec.image_dtype != "uint8" \
            or spec.num_classes != labels:
        raise FormatError(f"{where}: {layout} holds uint8 images (32, 32, 3) of {labels} classes, upright; the "
                          f"registry entry says {spec.image_dtype} {tuple(spec.image_shape)}, {spec.num_classes} "
                          "classes. Fix the entry.")
    decoded = read_cifar_bin(paths[name], sink, layout=layout, split=part, num_examples=split.num_examples,
                             classes=spec.classes or None, where=where)
    if spec.classes_named_by:
        sink.report["classes"] = list(decoded.classes)
    columns = list(decoded.code_names)
    if columns:
        sink.report["metadata_columns"] = columns
        sink.report["code_names"] = {column: list(names) for column, names in decoded.code_names.items()}
