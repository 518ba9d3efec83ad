"""Ganin's released MNIST-M (``mnist_m.tar.gz``): one PNG per image and a labels file per split.

The tarball holds ``mnist_m/mnist_m_<part>/NNNNNNNN.png`` (32x32 RGB, numbered from 0) and
``mnist_m/mnist_m_<part>_labels.txt``, one line ``NNNNNNNN.png L`` per image in order (``part``
is ``train`` or ``test``). :func:`read_release` walks it once as a stream
(:func:`~mnistfamily.formats.tar_stream.walk_tar`: nothing extracted, names never paths, headers,
members and bytes bounded), places each PNG by its number (so the order of the members does not
matter), and checks the whole against the labels file:

- a PNG that is not 32x32 RGB, numbered past the split's size, or present twice;
- a labels file with another count, a line out of order or malformed, a label outside 0-9;
- an image the labels file names but the tarball lacks, or no labels file;

are each a ``FormatError`` naming the member and saying to fetch the file again. Members of the
other split and anything else are skipped and counted.

Examples
--------
>>> from mnistfamily.formats.mnistm_release import parse_labels
>>> parse_labels(b"00000000.png 7\\n00000001.png 2\\n", 2, "labels.txt").tolist()
[7, 2]
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import FormatError

__all__ = ["SIDE", "parse_labels", "read_release"]

#: the released images' side
SIDE = 32
#: a 32x32 RGB PNG takes about 2-3 KB
MAX_PNG_BYTES = 1 << 16
#: 59,001 lines of 15 bytes: about 0.9 MB
MAX_LABELS_BYTES = 4 << 20
_PNG_NAME = re.compile(r"(\d{8})\.png")
_LINE = re.compile(rb"(\d{8})\.png ([0-9])")


def parse_labels(data: bytes, n: int, where: str) -> np.ndarray:
    """The labels of a ``mnist_m_<part>_labels.txt``: ``n`` lines ``NNNNNNNN.png L`` numbered 0 to ``n - 1``."""
    lines = data.splitlines()
    if len(lines) != n:
        raise FormatError(f"{where}: {len(lines):,} lines; the registry expects one per image, {n:,}. "
                          "Delete the file and fetch it again.")
    labels = np.empty(n, np.int64)
    for i, line in enumerate(lines):
        match = _LINE.fullmatch(line.rstrip(b"\r"))
        if match is None or int(match.group(1)) != i:
            raise FormatError(f"{where}: line {i + 1} is {line[:40]!r}; expected '{i:08d}.png <digit>'. "
                              "Delete the file and fetch it again.")
        labels[i] = int(match.group(2))
    return labels


def read_release(path: Path, part: str, n: int, images: np.ndarray, where: str) -> tuple[np.ndarray, Counter[str]]:
    """Fill ``images`` (``(n, 32, 32, 3)`` uint8) with the ``part`` split; return its labels and what was skipped."""
    from .tar_stream import member_name, walk_tar

    folder = f"mnist_m/mnist_m_{part}/"
    labels_name = f"mnist_m/mnist_m_{part}_labels.txt"
    seen = np.zeros(n, bool)
    labels: np.ndarray | None = None
    skipped: Counter[str] = Counter({"skipped_other_members": 0})

    def want(member) -> int | None:
        name = member_name(member)
        if name == labels_name:
            return MAX_LABELS_BYTES
        return MAX_PNG_BYTES if name is not None and name.startswith(folder) else None

    with open(path, "rb") as raw:
        for member, data in walk_tar(raw, where, want, max_members=200_000, max_bytes=1 << 31):
            if data is None:
                skipped["skipped_other_members"] += 1
                continue
            name = member_name(member) or ""
            if name == labels_name:
                labels = parse_labels(data, n, f"{where} {labels_name}")
                continue
            match = _PNG_NAME.fullmatch(name[len(folder):])
            if match is None:
                skipped["skipped_other_members"] += 1
                continue
            number = int(match.group(1))
            if number >= n or seen[number]:
                raise FormatError(f"{where}: {name} is {'past the split' if number >= n else 'there twice'}; the "
                                  f"registry expects {n:,} images numbered 0 to {n - 1:,}. Delete the file and "
                                  "fetch it again.")
            images[number] = _decode(data, f"{where} {name}")
            seen[number] = True
    if labels is None:
        raise FormatError(f"{where}: no {labels_name}; is this Ganin's mnist_m.tar.gz? Delete the file and fetch "
                          "it again.")
    if not seen.all():
        missing = np.flatnonzero(~seen)
        raise FormatError(f"{where}: {len(missing):,} of the {n:,} images the labels file names are not in the "
                          f"archive (the first: {folder}{missing[0]:08d}.png). Delete the file and fetch it again.")
    return labels, skipped


def _decode(data: bytes, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            size, mode, kind = image.size, image.mode, image.format
            pixels = np.asarray(image, dtype=np.uint8) if (size, mode, kind) == ((SIDE, SIDE), "RGB", "PNG") else None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FormatError(f"{where}: not a readable PNG ({exc}). Delete the file and fetch it again.") from None
    if pixels is None:  # the header is checked before any pixel is decoded
        raise FormatError(f"{where}: a {kind} image {size[0]}x{size[1]} {mode}; the release's are {SIDE}x{SIDE} RGB "
                          "PNGs. Delete the file and fetch it again.")
    return pixels
