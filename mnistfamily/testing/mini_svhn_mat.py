"""Miniatures of SVHN's cropped digits: MATLAB v5 ``.mat`` files in the published layout, with known content.

Written element by element here (not by scipy), as MATLAB writes them: a 128-byte header
(text, version 0x0100, ``IM``), then the variables ``X`` (``32 x 32 x 3 x N`` uint8, column-major:
image *n*'s 3,072 bytes contiguous, channel by channel, column by column) and ``y`` (``N x 1``,
labels 1..10 with 10 for the digit 0), each zlib-compressed in an ``miCOMPRESSED`` element by
default. Layout options cover what the published files may hold and the reader must accept:
either variable order, uncompressed variables, ``y`` as a double array stored in any numeric
type (MATLAB stores whole doubles in the smallest type that holds them) and big-endian files.

:func:`write_svhn_mat` streams a file of any size to disk in bounded memory (the benchmark
writes one as large as the extra split); :func:`svhn_mat_contents` returns a small file's bytes
with the arrays a correct reader must produce: ``images`` ``(N, 32, 32, 3)`` as generated,
``labels`` 0..9. Nothing here calls the reader.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["images_for", "svhn_contents", "svhn_mat_bytes", "svhn_mat_contents", "write_svhn_mat"]

HEADER_TEXT = b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Sat Jan  1 00:00:00 2011 (mnistfamily miniature)"
_MX = {"double": 6, "single": 7, "int8": 8, "uint8": 9, "int16": 10, "uint16": 11, "int32": 12, "uint32": 13}
_MI = {"i1": 1, "u1": 2, "i2": 3, "u2": 4, "i4": 5, "u4": 6, "f4": 7, "f8": 9, "i8": 12, "u8": 13}
_MI_INT8, _MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_COMPRESSED = 1, 5, 6, 14, 15
_CHUNK = 4096  # images generated and written at a time by write_svhn_mat


def images_for(seed: int, start: int, count: int) -> np.ndarray:
    """Images ``start .. start + count`` of the miniature made from ``seed``, ``(count, 32, 32, 3)`` uint8.

    Each block of 4,096 images has its own generator, so any range can be regenerated (the
    benchmark checks a large file piece by piece). Values 0..63 compress about as well as
    SVHN's photographs (the published files are 81% of their pixels' size).
    """
    out = np.empty((count, 32, 32, 3), np.uint8)
    done = 0
    while done < count:
        block, offset = divmod(start + done, _CHUNK)
        rng = np.random.default_rng([seed, block])
        images = rng.integers(0, 64, size=(_CHUNK, 32, 32, 3), dtype=np.uint8)
        k = min(_CHUNK - offset, count - done)
        out[done:done + k] = images[offset:offset + k]
        done += k
    return out


def labels_for(seed: int, count: int) -> np.ndarray:
    """The miniature's digits 0..9 (int64) for ``seed``: as a correct reader returns them."""
    digits = np.random.default_rng([seed, 1 << 30]).integers(0, 10, size=count)
    digits[: min(count, 10)] = np.arange(min(count, 10))  # every digit, 0 (stored as 10) included
    return digits.astype(np.int64)


def svhn_mat_contents(count: int = 37, seed: int = 0, **layout) -> tuple[bytes, dict[str, np.ndarray]]:
    """The bytes of a miniature SVHN split of ``count`` images, and what reading it must give.

    ``layout`` is passed to :func:`svhn_mat_bytes`. Returns ``(bytes, {"images", "labels",
    "index"})``.
    """
    images = images_for(seed, 0, count)
    labels = labels_for(seed, count)
    data = svhn_mat_bytes(images, np.where(labels == 0, 10, labels), **layout)
    return data, {"images": images, "labels": labels, "index": np.arange(count, dtype=np.int64)}


def svhn_mat_bytes(images: np.ndarray, stored_labels: np.ndarray, **layout) -> bytes:
    """A ``.mat`` file of ``images`` ``(N, 32, 32, 3)`` and the labels as stored (1..10) in SVHN's layout.

    Options (keywords): ``compress`` (default True), ``order`` (``"<"`` or ``">"``),
    ``labels_first`` (``y`` before ``X``), ``label_class`` (``"double"``, MATLAB's default, or
    ``"uint8"``), ``label_storage`` (the numpy type ``y``'s values are stored in: ``"u1"``,
    ``"f8"``, ...), ``level`` (zlib level).
    """
    buffer = io.BytesIO()
    _write(buffer, len(images), lambda start, k: images[start:start + k], stored_labels, **layout)
    return buffer.getvalue()


def write_svhn_mat(path: str | Path, count: int, seed: int = 0, **layout) -> Path:
    """Stream a miniature of ``count`` images (``images_for(seed, ...)``) to ``path``, in bounded memory.

    The file is written in place (it is a test fixture, not a user's file). Returns ``path``.
    """
    labels = labels_for(seed, count)
    with open(path, "wb") as file:
        _write(file, count, lambda start, k: images_for(seed, start, k), np.where(labels == 0, 10, labels),
               **layout)
    return Path(path)


def _write(file: BinaryIO, count: int, images, stored_labels: np.ndarray, *, compress: bool = True,
           order: str = "<", labels_first: bool = False, label_class: str = "double", label_storage: str = "u1",
           level: int = 6) -> None:
    file.write(HEADER_TEXT.ljust(116)[:116] + bytes(8) + struct.pack(order + "H", 0x0100)
               + (b"IM" if order == "<" else b"MI"))
    pieces = {"X": lambda: _image_matrix(count, images, order),
              "y": lambda: _label_matrix(stored_labels, order, label_class, label_storage)}
    for name in ("y", "X") if labels_first else ("X", "y"):
        _variable(file, pieces[name](), order, compress, level)


def _tag(kind: int, length: int, order: str) -> bytes:
    return struct.pack(order + "II", kind, length)


def _element(kind: int, data: bytes, order: str, *, small: bool = False) -> bytes:
    if small and len(data) <= 4:  # the small data element form: count and type in one word
        return struct.pack(order + "I", (len(data) << 16) | kind) + data.ljust(4, b"\0")
    return _tag(kind, len(data), order) + data + bytes(-len(data) % 8)


def _matrix_head(mx_class: int, dims: tuple[int, ...], name: bytes, order: str) -> bytes:
    return (_element(_MI_UINT32, struct.pack(order + "II", mx_class, 0), order)
            + _element(_MI_INT32, struct.pack(f"{order}{len(dims)}i", *dims), order)
            + _element(_MI_INT8, name, order, small=True))


def _image_matrix(count: int, images, order: str):
    """The pieces of ``X``'s matrix element: its header, then the pixels chunk by chunk."""
    head = _matrix_head(_MX["uint8"], (32, 32, 3, count), b"X", order)
    data = count * 3072
    yield _tag(_MI_MATRIX, len(head) + 8 + data + (-data % 8), order)
    yield head + _tag(2, data, order)
    for start in range(0, count, _CHUNK):
        chunk = np.asarray(images(start, min(_CHUNK, count - start)))
        # MATLAB's column-major X(r, c, ch, n): per image, channel by channel, column by column
        yield np.ascontiguousarray(chunk.transpose(0, 3, 2, 1)).tobytes()
    yield bytes(-data % 8)


def _label_matrix(stored: np.ndarray, order: str, label_class: str, storage: str):
    values = np.asarray(stored).astype(np.dtype(order + storage)).tobytes()
    body = _matrix_head(_MX[label_class], (len(stored), 1), b"y", order) + _element(
        _MI[storage], values, order, small=True)
    yield _tag(_MI_MATRIX, len(body), order) + body


def _variable(file: BinaryIO, pieces, order: str, compress: bool, level: int) -> None:
    if not compress:
        for piece in pieces:
            file.write(piece)
        return
    start = file.tell()
    file.write(_tag(_MI_COMPRESSED, 0, order))  # the length is known once compressed: patched below
    deflate = zlib.compressobj(level)
    length = 0
    for piece in pieces:
        out = deflate.compress(piece)
        file.write(out)
        length += len(out)
    out = deflate.flush()
    file.write(out)
    length += len(out)
    end = file.tell()
    file.seek(start)
    file.write(_tag(_MI_COMPRESSED, length, order))
    file.seek(end)


def svhn_contents(spec, splits: dict, rng: np.random.Generator):
    """The miniature writer of the ``svhn-mat`` format (its row of ``registry/formats.py``).

    One ``.mat`` per split, of the split's (scaled) ``num_examples`` images, in the published
    layout; returns ``({file: (bytes, None)}, {split: {"images", "labels", "index", "metadata"}})``.
    """
    published, expected = {}, {}
    for split in splits.values():
        count = int(split.num_examples or 5)
        data, arrays = svhn_mat_contents(count, seed=int(rng.integers(1 << 31)))
        published[split.inputs["data"]] = (data, None)
        expected[split.name] = {**arrays, "metadata": {}}
    return published, expected
