"""Miniatures of datasets published as one PNG per image in a ``.tar.gz`` (notMNIST).

Each split's tarball is built here (it is the published top-level file) in notMNIST's
layout: folder entries, then ``<root>/<class>/<name>.png`` grey PNGs written by Pillow, in
an order that is not grouped by class. Like the real tarballs it also holds things a
reader must skip and count: one corrupt PNG (a PNG signature and header followed by
garbage) and one symbolic link named like an image. ``expected`` holds only the readable
images, in tarball order.
"""

from __future__ import annotations

import gzip
import io
import tarfile

import numpy as np

from ..registry import DatasetSpec, SplitSpec

DEFAULT_COUNT = 30  # images per split when the registry does not know the count
_MTIME = 1_300_000_000  # fixed times: the same bytes every run
#: a tar member: its header and, for a regular file, its bytes
Member = tuple[tarfile.TarInfo, bytes | None]


def png_tar_contents(spec: DatasetSpec, splits: dict[str, SplitSpec], rng: np.random.Generator, *,
                     extra: list[Member] | None = None):
    """Published bytes of every tarball of ``spec``, and what loading each split must return.

    Returns ``({tarball name: (bytes, None)}, {split: {"images", "labels", "index",
    "metadata", "skipped"}})`` where ``skipped`` counts, by report key, what the reader must
    skip in a tarball of one root folder. ``extra`` members (hostile names, devices, ...) are
    appended to every tarball and are not counted in ``skipped``.
    """
    height, width = (int(s) for s in spec.image_shape)
    by_archive: dict[str, list[SplitSpec]] = {}
    for split in splits.values():
        by_archive.setdefault(split.inputs["archive"], []).append(split)
    published: dict[str, tuple[bytes, None]] = {}
    expected: dict[str, dict] = {}
    for archive, readers in by_archive.items():
        members: list[Member] = []
        done: dict[str, dict] = {}  # root -> expected, for splits reading the same folder
        for split in readers:
            root = str(split.options.get("root", "")).strip("/")
            if root not in done:
                n = int(split.num_examples or DEFAULT_COUNT)
                images = rng.integers(0, 256, size=(n, height, width), dtype=np.uint8)
                labels = rng.integers(0, len(spec.classes), size=n)
                members += _layout(spec, root, images, labels)
                done[root] = {"images": images, "labels": labels.astype(np.int64),
                              "index": np.arange(n, dtype=np.int64), "metadata": {}}
            expected[split.name] = done[root]
        members += list(extra or [])
        published[archive] = (tar_gz_bytes(members), None)
    for split in splits.values():
        expected[split.name] = {**expected[split.name], "skipped": {
            "skipped_folders": 1 + len(spec.classes) if str(split.options.get("root", "")).strip("/")
            else len(spec.classes),
            "skipped_links": 1, "skipped_unreadable": 1}}
    return published, expected


def _layout(spec: DatasetSpec, root: str, images: np.ndarray, labels: np.ndarray) -> list[Member]:
    prefix = f"{root}/" if root else ""
    members = [folder(root)] if root else []
    members += [folder(f"{prefix}{name}") for name in spec.classes]
    for i, (image, label) in enumerate(zip(images, labels)):
        members.append(regular(f"{prefix}{spec.classes[label]}/glyph-{i:05d}.png", png_bytes(image)))
        if i == len(images) // 2:  # the broken files sit among the good ones
            members.append(regular(f"{prefix}{spec.classes[0]}/broken.png", corrupt_png(image.shape)))
            members.append(symlink(f"{prefix}{spec.classes[0]}/link.png", "../../../../etc/passwd"))
    return members


def png_bytes(image: np.ndarray) -> bytes:
    """A grey PNG of ``image`` (H, W) uint8."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def corrupt_png(shape: tuple[int, ...]) -> bytes:
    """A PNG whose header is valid (right size) but whose pixel data is garbage."""
    good = png_bytes(np.zeros(shape[:2], dtype=np.uint8))
    return good[:33] + b"\x00\x00\x00\x10IDAT" + b"not zlib data!!!" + b"\x00\x00\x00\x00"


def folder(name: str) -> Member:
    """A folder entry."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _MTIME
    return info, None


def regular(name: str, data: bytes) -> Member:
    """A regular file holding ``data``."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, _MTIME
    return info, data


def symlink(name: str, target: str, *, hard: bool = False) -> Member:
    """A symbolic (or hard) link to ``target``."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname, info.mode, info.mtime = target, 0o777, _MTIME
    return info, None


def special(name: str, kind: bytes = tarfile.CHRTYPE) -> Member:
    """A device or FIFO member (``tarfile.CHRTYPE``, ``BLKTYPE``, ``FIFOTYPE``)."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, 0o644, _MTIME
    return info, None


def tar_gz_bytes(members: list[Member]) -> bytes:
    """A gzip'd tarball of ``members`` in order (regular members carry their bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(buffer.getvalue(), mtime=0)
