"""Decoding a split published as one PNG per image inside a ``.tar.gz`` (notMNIST).

The tarball (gzip'd, xz'd or plain: recognised by its first bytes) is streamed member by
member (``tarfile`` mode ``r|``, decompressed in bounded reads): no member is extracted and
no member name is ever used as a path. A member becomes an example when it
is a regular file named ``<root>/<class>/<file>`` with ``<class>`` one of the registry's
classes, and its bytes decode (Pillow, PNG only) to a ``H x W`` image, converted to grey
levels when stored otherwise. Everything else is skipped and counted in the entry's report:

========================== =============================================================
``skipped_folders``        folder entries (expected: every tarball has them)
``skipped_links``          symbolic and hard links
``skipped_special``        devices, FIFOs and other special members
``skipped_unsafe_names``   absolute names, names with ``..`` or backslashes
``skipped_outside_classes`` files not at ``<root>/<class>/<file>`` for a registry class
``skipped_unreadable``     files that are not a decodable PNG of the image size (a few
                           notMNIST PNGs are broken); ``unreadable_examples`` names some
========================== =============================================================

Examples keep the order of the tarball; ``index`` is the position among the kept images.
The number of images is not known before the end (notMNIST's counts are unconfirmed), so
decoded images are gathered in fixed-size blocks and written to the cache at the end:
memory grows with the decoded images (784 bytes each at 28x28), not with the number or
size of the members read.
"""

from __future__ import annotations

import io
import logging
import lzma
import tarfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import ChecksumError, FormatError
from ..formats.compression import decompressing_reader, detect, peek
from ..formats.tar_members import MAX_HEADER_BYTES, BoundedTarInfo, HostileTarHeader
from ..registry import DatasetSpec, SplitSpec
from .cache import EntryWriter

log = logging.getLogger("mnistfamily.prepare")

#: a 28x28 grey PNG takes about a kilobyte; a member far larger is not one of them and is
#: skipped without being read into memory
MAX_PNG_BYTES = 1 << 20
BLOCK = 4096  # images per block while the count is unknown
EXAMPLES_KEPT = 5  # unreadable member names kept in the report
_NAME_CHARS = 200  # a hostile name can be long: report its start
SKIP_KEYS = ("skipped_folders", "skipped_links", "skipped_special", "skipped_unsafe_names",
             "skipped_outside_classes", "skipped_unreadable")


def build_png_tar_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], writer: EntryWriter,
                        *, transpose: bool = False) -> None:
    """Decode one split into ``writer``: images, labels and index, plus what was skipped.

    ``transpose`` swaps height and width of every image (for a dataset published
    transposed and loaded upright; notMNIST is not).
    """
    file = spec.file(split.inputs["archive"])
    path = paths[file.name]
    where = f"{spec.name} [{split.name}] {path.name}"
    if len(spec.image_shape) != 2 or spec.image_dtype != "uint8":
        raise FormatError(f"{where}: the png-tar format reads uint8 (H, W) images; the registry says "
                          f"{spec.image_dtype} {tuple(spec.image_shape)}.")
    shape = (int(spec.image_shape[0]), int(spec.image_shape[1]))
    _check_size(file.size, path, where)
    root = str(split.options.get("root", "")).strip("/")
    classes = {name: i for i, name in enumerate(spec.classes)}
    kept = _Blocks(shape, BLOCK)
    counts: Counter[str] = Counter({key: 0 for key in SKIP_KEYS})
    unreadable: list[str] = []
    members = 0
    with open(path, "rb") as raw:
        kind = detect(peek(raw))
        if kind == "zip":
            raise FormatError(f"{where}: a zip archive, not a tarball. Delete {path} and fetch it again.")
        try:
            # decompressed here, not by tarfile ("r|gz"), whose stream inflates a whole read
            # at once: 10 KB of a hostile archive can become 10 MB in one go
            with decompressing_reader(raw, kind) as stream, \
                    tarfile.open(fileobj=stream, mode="r|", tarinfo=BoundedTarInfo) as tar:
                while (member := tar.next()) is not None:
                    # a TarFile keeps every header it has read: forgotten here, memory does not
                    # grow with the number of members (notMNIST_large has about half a million)
                    tar.members.clear()  # type: ignore[attr-defined]  # an attribute typeshed omits
                    members += 1
                    skipped = _kind_skipped(member)
                    if skipped is None:
                        label = _class_of(member.name, root, classes)
                        if isinstance(label, str):
                            skipped = label
                        else:
                            image = _decode(tar, member, shape)
                            if image is None:
                                skipped = "skipped_unreadable"
                                if len(unreadable) < EXAMPLES_KEPT:
                                    unreadable.append(member.name[:_NAME_CHARS])
                            else:
                                kept.add(image, label)
                    if skipped is not None:
                        counts[skipped] += 1
        except HostileTarHeader as exc:
            raise FormatError(f"{where}: member {members + 1:,} {exc}; published tarballs have no such member. "
                              f"Delete {path} and fetch it again.") from None
        except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, UnicodeError) as exc:
            raise FormatError(f"{where}: the archive is damaged or truncated after {members:,} members "
                              f"({exc}). Delete {path} and fetch it again.") from None
    n = kept.count
    if n == 0:
        raise FormatError(f"{where}: no readable {shape[0]}x{shape[1]} PNG at "
                          f"{root + '/' if root else ''}<class>/<file> for the classes "
                          f"{', '.join(spec.classes)} among {members:,} members ({_summary(counts)}).")
    if split.num_examples is not None and n != split.num_examples:
        raise FormatError(f"{where}: {n:,} readable images; the registry expects {split.num_examples:,} "
                          f"({_summary(counts)}).")
    images = writer.create("images", np.uint8, (n, shape[1], shape[0]) if transpose else (n, *shape))
    labels = kept.write_into(images, transpose)
    images.flush()
    del images
    writer.save("labels", labels)
    writer.save("index", np.arange(n, dtype=np.int64))
    writer.report.update(counts)
    writer.report["unreadable_examples"] = unreadable
    writer.report["class_counts"] = [int(c) for c in np.bincount(labels, minlength=len(spec.classes))]
    if counts["skipped_unreadable"]:
        log.warning("%s: skipped %d unreadable image(s), e.g. %s", where, counts["skipped_unreadable"],
                    ", ".join(unreadable))


def _check_size(size: int | None, path: Path, where: str) -> None:
    # without a hash the fetch layer cannot tell a truncated download; the size still can
    found = path.stat().st_size
    if size is not None and found != size:
        raise ChecksumError(f"{where}: {path} is {found:,} bytes; the registry says {size:,}. "
                            "Delete it and fetch it again.")


def _kind_skipped(member: tarfile.TarInfo) -> str | None:
    if member.isreg():
        return None
    if member.isdir():
        return "skipped_folders"
    if member.issym() or member.islnk():
        return "skipped_links"
    return "skipped_special"


def _class_of(name: str, root: str, classes: dict[str, int]) -> int | str:
    """The label of a member at ``<root>/<class>/<file>``, or the report key saying why not.

    ``.`` components and repeated slashes (``./notMNIST_small//A/x.png``) are tolerated.
    """
    if name.startswith("/") or "\\" in name or "\0" in name:
        return "skipped_unsafe_names"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "skipped_unsafe_names"
    if root:
        prefix = [p for p in root.split("/") if p not in ("", ".")]
        if parts[:len(prefix)] != prefix:
            return "skipped_outside_classes"
        parts = parts[len(prefix):]
    if len(parts) != 2 or parts[0] not in classes:
        return "skipped_outside_classes"
    return classes[parts[0]]


def _decode(tar: tarfile.TarFile, member: tarfile.TarInfo, shape: tuple[int, int]) -> np.ndarray | None:
    """The member's grey image, or None when it is not a PNG of ``shape``."""
    from PIL import Image  # imported here: a warm load never decodes images

    if member.size > MAX_PNG_BYTES:
        return None  # the stream skips its bytes without reading them into memory
    stream = tar.extractfile(member)
    if stream is None:  # pragma: no cover - regular members always have a stream
        return None
    data = stream.read()
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            # the header gives the size: check it before decoding a single pixel
            if image.size != (shape[1], shape[0]):
                return None
            grey = image if image.mode == "L" else image.convert("L")
            array = np.asarray(grey, dtype=np.uint8)
    except Exception:  # any failure to decode untrusted bytes means "unreadable"; counted by the caller
        return None
    return array if array.shape == shape else None


class _Blocks:
    """Images and labels gathered in fixed-size blocks while their number is unknown."""

    def __init__(self, shape: tuple[int, int], block: int):
        self.shape = shape
        self.block = block
        self.images: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.count = 0

    def add(self, image: np.ndarray, label: int) -> None:
        i = self.count % self.block
        if i == 0:
            self.images.append(np.empty((self.block, *self.shape), dtype=np.uint8))
            self.labels.append(np.empty(self.block, dtype=np.int64))
        self.images[-1][i] = image
        self.labels[-1][i] = label
        self.count += 1

    def write_into(self, images: np.ndarray, transpose: bool) -> np.ndarray:
        """Copy the blocks into ``images`` (freeing each once copied); return the labels."""
        labels = np.concatenate(self.labels)[: self.count] if self.labels else np.empty(0, np.int64)
        self.labels.clear()
        start = 0
        while self.images:
            block = self.images.pop(0)
            n = min(self.block, self.count - start)
            images[start:start + n] = block[:n].transpose(0, 2, 1) if transpose else block[:n]
            start += n
            del block
        return labels


def _summary(counts: Counter[str]) -> str:
    shown = [f"{key.replace('skipped_', '').replace('_', ' ')}: {value:,}" for key, value in counts.items() if value]
    return "skipped " + ", ".join(shown) if shown else "nothing skipped"
