"""Miniatures of CIFAR-10 and CIFAR-100's binary archives, in the published layout, with known content.

A gzip'd tarball holding, under the published folder (``cifar-10-batches-bin/`` or
``cifar-100-binary/``), a folder entry, each split's record files, the names files and a
``readme.html``, in an order that is not the split's (a tarball made from a folder listing
has none; the reader must place each batch itself). A record is the label byte(s) (CIFAR-100:
coarse then fine) followed by the red, green and blue planes, each 32 x 32 row by row. Batches
hold a few records each (the published ones 10,000).

Class names: CIFAR-10's are the published ones (``dataset-facts-2.md`` section 22, from the
authors' page). CIFAR-100's 100 fine and 20 coarse names are not in the facts file, so the
miniature writes ``fine_00`` ... and ``coarse_00`` ... unless given the real ones (the registry's).

Expected arrays are computed here from the generated images and labels, not by the reader.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from typing import Sequence

import numpy as np

__all__ = ["CIFAR10_CLASSES", "cifar_bin_bytes", "cifar_bin_contents", "cifar_contents"]

#: dataset-facts-2.md, section 22 (the authors' page)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_FOLDERS = {"cifar10": "cifar-10-batches-bin", "cifar100": "cifar-100-binary"}
_MTIME = 1_244_000_000  # fixed member times: the same bytes every run
#: records per member of the miniature: CIFAR-10's five training batches, then its test batch
_CIFAR10_BATCHES = {"data_batch_1.bin": 7, "data_batch_2.bin": 6, "data_batch_3.bin": 7, "data_batch_4.bin": 5,
                    "data_batch_5.bin": 7, "test_batch.bin": 9}
_CIFAR100_BATCHES = {"train.bin": 23, "test.bin": 9}
#: the order members are stored in: not the split's
_CIFAR10_ORDER = ("data_batch_1.bin", "batches.meta.txt", "data_batch_3.bin", "data_batch_4.bin", "test_batch.bin",
                  "readme.html", "data_batch_5.bin", "data_batch_2.bin")
_CIFAR100_ORDER = ("fine_label_names.txt", "test.bin", "coarse_label_names.txt", "train.bin")


def cifar_bin_contents(layout: str, seed: int = 0, *, fine: Sequence[str] | None = None,
                       coarse: Sequence[str] | None = None, classes: Sequence[str] | None = None):
    """A miniature archive of ``layout`` (``"cifar10"`` or ``"cifar100"``) and what each split must read as.

    Returns ``(bytes, {"train": expected, "test": expected})``, each expected holding
    ``images`` ``(N, 32, 32, 3)`` uint8, ``labels``, ``index``, ``classes`` and, for CIFAR-100,
    ``metadata["coarse_label"]`` and ``coarse_classes``. ``classes`` (CIFAR-10) or ``fine`` and
    ``coarse`` (CIFAR-100) replace the names written.
    """
    rng = np.random.default_rng(seed)
    order: tuple[str, ...]
    if layout == "cifar10":
        names = {"batches.meta.txt": tuple(classes or CIFAR10_CLASSES)}
        counts, order, splits = _CIFAR10_BATCHES, _CIFAR10_ORDER, {
            "train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
        columns = [("labels", 10)]
    elif layout == "cifar100":
        names = {"coarse_label_names.txt": tuple(coarse or (f"coarse_{i:02d}" for i in range(20))),
                 "fine_label_names.txt": tuple(fine or (f"fine_{i:02d}" for i in range(100)))}
        counts, order, splits = _CIFAR100_BATCHES, _CIFAR100_ORDER, {"train": ["train.bin"], "test": ["test.bin"]}
        columns = [("coarse_label", 20), ("labels", 100)]
    else:
        raise ValueError(f"layout must be 'cifar10' or 'cifar100', not {layout!r}")
    members: dict[str, bytes] = {}
    content: dict[str, dict[str, np.ndarray]] = {}
    for member, n in counts.items():
        images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labels = {column: rng.integers(0, k, size=n) for column, k in columns}
        members[member] = record_bytes(images, [labels[c] for c, _ in columns])
        content[member] = {"images": images, **labels}
    for file, listed in names.items():
        members[file] = ("\n".join(listed) + "\n\n").encode("ascii")  # a trailing empty line, as TFDS expects
    members["readme.html"] = b"<html><body>miniature of the CIFAR binary version</body></html>\n"
    data = cifar_bin_bytes(_FOLDERS[layout], [(m, members[m]) for m in order])
    expected = {}
    for split, batches in splits.items():
        parts = [content[b] for b in batches]
        n = sum(len(p["images"]) for p in parts)
        split_expected: dict = {
            "images": np.concatenate([p["images"] for p in parts]),
            "labels": np.concatenate([p["labels"] for p in parts]).astype(np.int64),
            "index": np.arange(n, dtype=np.int64), "metadata": {},
            "classes": names.get("batches.meta.txt") or names["fine_label_names.txt"]}
        if layout == "cifar100":
            split_expected["metadata"] = {"coarse_label": np.concatenate([p["coarse_label"] for p in parts])
                                          .astype(np.int64)}
            split_expected["coarse_classes"] = names["coarse_label_names.txt"]
        expected[split] = split_expected
    return data, expected


def record_bytes(images: np.ndarray, labels: Sequence[np.ndarray]) -> bytes:
    """Records of ``images`` ``(N, 32, 32, 3)``: the label bytes in order, then the R, G and B planes."""
    n = len(images)
    planes = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(n, -1)  # each plane row by row
    head = np.stack([np.asarray(column, np.uint8) for column in labels], axis=1).reshape(n, -1)
    return np.concatenate([head, planes], axis=1).tobytes()


def cifar_bin_bytes(folder: str, members: list[tuple[str, bytes]], *, level: int = 9) -> bytes:
    """A gzip'd tarball (gzip ``level``) of ``folder/`` and its ``members`` (name in the folder, bytes), in order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(folder)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _MTIME
        tar.addfile(info)
        for name, data in members:
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, _MTIME
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), compresslevel=level, mtime=0)


def cifar_contents(spec, splits: dict, rng: np.random.Generator):
    """The miniature writer of the ``cifar-bin`` format (its row of ``registry/formats.py``).

    One archive holding every split the registry reads from it, each with its (scaled)
    ``num_examples`` records (CIFAR-10's training records dealt over its five batches), the
    members in a shuffled order. Class names are the registry's when it lists them, else the
    miniature's own (``fine_00`` ...), which a load must then report from the archive.
    """
    layouts = {str(s.options["layout"]) for s in splits.values()}
    if len(layouts) != 1:
        raise ValueError(f"{spec.name}: one archive has one layout; the splits say {sorted(layouts)}")
    layout = layouts.pop()
    folder = _FOLDERS[layout]
    if layout == "cifar10":
        columns = [("labels", 10)]
        names = {"batches.meta.txt": tuple(spec.classes or CIFAR10_CLASSES)}
        batches = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
    else:
        columns = [("coarse_label", 20), ("labels", 100)]
        names = {"coarse_label_names.txt": tuple(f"coarse_{i:02d}" for i in range(20)),
                 "fine_label_names.txt": tuple(spec.classes or (f"fine_{i:02d}" for i in range(100)))}
        batches = {"train": ["train.bin"], "test": ["test.bin"]}
    members: dict[str, bytes] = {}
    expected: dict[str, dict] = {}
    archive = ""
    for split in splits.values():
        archive, part = split.inputs["archive"], str(split.options["part"])
        count = int(split.num_examples or 5)
        images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
        labels = {column: rng.integers(0, k, size=count) for column, k in columns}
        files = batches[part]
        bounds = np.linspace(0, count, len(files) + 1).astype(int)  # dealt over the batches, none empty
        for file, a, b in zip(files, bounds[:-1], bounds[1:]):
            members[file] = record_bytes(images[a:b], [labels[c][a:b] for c, _ in columns])
        expected[split.name] = {
            "images": images, "labels": labels["labels"].astype(np.int64), "index": np.arange(count, dtype=np.int64),
            "metadata": {c: labels[c].astype(np.int64) for c, _ in columns if c != "labels"},
            "classes": list(names.get("batches.meta.txt") or names["fine_label_names.txt"])}
    for file, listed in names.items():
        members[file] = ("\n".join(listed) + "\n\n").encode("ascii")
    members["readme.html"] = b"<html><body>miniature of the CIFAR binary version</body></html>\n"
    # a fixed order that is not the splits' (a tarball made from a folder listing has none)
    order = sorted(members, key=lambda member: zlib.crc32(member.encode()))
    return {archive: (cifar_bin_bytes(folder, [(m, members[m]) for m in order]), None)}, expected
