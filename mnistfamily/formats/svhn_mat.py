"""SVHN's cropped digits (format 2): MATLAB v5 files holding ``X`` and ``y``, streamed into a sink.

Each split is one ``<split>_32x32.mat`` (train 182 MB, test 64 MB, extra 1.3 GB) holding two
variables, in either order:

- ``X``: a ``32 x 32 x 3 x N`` uint8 array, in MATLAB's column-major order: the bytes of image
  *n* are contiguous (3,072 of them), channel by channel, each channel column by column, each
  column row by row (``X(r, c, ch, n)`` at offset ``r + 32 c + 1024 ch + 3072 n``);
- ``y``: an ``N x 1`` (or ``1 x N``) numeric array of labels 1..10, where **10 stands for the
  digit 0** (the authors' convention; torchvision, TFDS and Hugging Face all map it to 0).

Each variable may be stored as is (``miMATRIX``) or zlib-compressed (``miCOMPRESSED``; the
published files are smaller than their pixels, so at least ``X`` is). ``scipy.io.loadmat``
would inflate the whole of ``X`` (1.6 GB for extra) and then copy it to reorder it; this
reader inflates it in chunks of :data:`CHUNK_IMAGES` images, turns each chunk into
channels-last ``(k, 32, 32, 3)`` rows and writes them to the sink as it goes, so its memory
is a few chunks whatever the split's size. ``y`` is small (8 bytes per label at most) and
read whole, after a bound on its size.

Produced (names of a prepared entry): ``images`` ``(N, 32, 32, 3)`` uint8 (``images[n, r, c, ch]
= X(r, c, ch, n)``, as TFDS's ``np.rollaxis(X, -1)``), ``labels`` int64 in 0..9 (10 -> 0) and
``index`` (0..N-1).

Everything the file declares is checked before it is used: the header (MATLAB v5, either
byte order), each element's size against the bytes present (a compressed element's inflated
size against what deflate can produce from it), ``X``'s dimensions against its data element and
against ``num_examples``, ``y``'s size before it is read, every label in 1..10, ``X`` and ``y``
of the same length, no other variable. Any departure is a :class:`~mnistfamily.errors.FormatError`
naming the file and the variable.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import BinaryIO

import numpy as np

from ..errors import FormatError
from .compression import MAX_DEFLATE_RATIO, stream_length
from .decoded import Decoded
from .mat import MI_COMPRESSED, MI_MATRIX, NUMERIC_TYPES, Elements, MatrixHeader, read_matrix_header
from .sink import Sink
from .source import opened

__all__ = ["CHUNK_IMAGES", "IMAGE_SHAPE", "read_svhn_mat"]

#: one image as published: 32 x 32 pixels, 3 channels
IMAGE_SHAPE = (32, 32, 3)
IMAGE_BYTES = 32 * 32 * 3
#: images inflated, reordered and written at a time (6 MiB of pixels)
CHUNK_IMAGES = 2048
#: compressed bytes read from the file at a time
_READ_BLOCK = 1 << 20
#: a matrix's flags, dimensions (up to 32) and name (up to 63 characters) take at most this many
#: bytes; only so much of a variable is inflated before its dimensions are checked
_HEADER_BYTES = 512
#: the most bytes ``y`` may take: 8 (a double) per label for 2**23 labels (extra has 531,131)
MAX_LABEL_BYTES = 8 << 23
#: where the labels' values are stored: element data type -> numpy type (byte order added)
_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_MI_UINT8 = 2
_MX_DOUBLE, _MX_SINGLE, _MX_UINT8 = 6, 7, 9
_NEXT = "The file is not the published one; delete it and fetch it again."


def read_svhn_mat(source: str | os.PathLike[str] | BinaryIO, sink: Sink, *,
                  num_examples: int | None = None, where: str | None = None) -> Decoded:
    """Decode one SVHN split (``train_32x32.mat``, ``test_32x32.mat``, ``extra_32x32.mat``) into ``sink``.

    ``source`` is a path or a seekable binary stream. ``num_examples``, when given, is the
    number of images the split must hold; a file declaring another is refused before anything
    is allocated. ``where`` names the file in errors (default: the file's name). Writes
    ``images``, ``labels`` and ``index``, counts the labels stored as 10 in the sink's report
    (``digit_0_stored_as_10``) and returns a :class:`~.decoded.Decoded`.

    Examples
    --------
    >>> import io
    >>> from mnistfamily.formats.sink import MemorySink
    >>> from mnistfamily.testing.mini_svhn_mat import svhn_mat_contents
    >>> data, expected = svhn_mat_contents(5, seed=0)
    >>> sink = MemorySink()
    >>> read_svhn_mat(io.BytesIO(data), sink).num_examples
    5
    >>> bool((sink.arrays["images"] == expected["images"]).all()), sink.arrays["labels"].dtype
    (True, dtype('int64'))
    >>> read_svhn_mat(io.BytesIO(data[:-9]), MemorySink(), where="test_32x32.mat")
    Traceback (most recent call last):
    ...
    mnistfamily.errors.FormatError: test_32x32.mat: variable 2: the element declares ... bytes, but only ... remain...
    """
    with opened(source, where) as (file, name):
        return _read(file, name, sink, num_examples)


def _read(file: BinaryIO, where: str, sink: Sink, num_examples: int | None) -> Decoded:
    size = stream_length(file)
    if size is None:
        raise FormatError(f"{where}: the stream cannot tell its size; the reader needs a file or a seekable "
                          "stream (save the bytes to a file first).")
    start = file.tell()
    order = _header(file.read(128), where)
    pos, number = start + 128, 0
    count: int | None = None  # images in X, once X is read
    labels: np.ndarray | None = None
    while pos < size:
        number += 1
        here = f"{where}: variable {number}"
        if size - pos < 8:
            raise FormatError(f"{here}: {size - pos} stray bytes after the last variable, not an 8-byte "
                              f"element tag. {_NEXT}")
        file.seek(pos)
        kind, length = struct.unpack(order + "II", file.read(8))
        if kind not in (MI_MATRIX, MI_COMPRESSED) or length == 0:
            raise FormatError(f"{here}: expected a matrix (type 14) or compressed (type 15) element; found "
                              f"type {kind} of {length:,} bytes. {_NEXT}")
        if length > size - pos - 8:
            raise FormatError(f"{here}: the element declares {length:,} bytes, but only {size - pos - 8:,} "
                              f"remain: the file is truncated. {_NEXT}")
        body = _Body(file, length, kind == MI_COMPRESSED, here)
        matrix = body.matrix_length(order)
        prefix = body.read(min(matrix, _HEADER_BYTES))
        header = read_matrix_header(memoryview(prefix), order, here, _NEXT)
        here = f"{where}: variable {header.name!r}"
        body.here = here
        if header.name == "X" and count is None:
            count = _images(body, header, prefix, matrix, order, here, sink, num_examples)
        elif header.name == "y" and labels is None:
            labels = _labels(body, header, prefix, matrix, order, here, num_examples)
        else:
            seen = "a second" if header.name in ("X", "y") else "an unexpected"
            raise FormatError(f"{here}: {seen} variable; an SVHN file holds exactly two, 'X' (the images) "
                              f"and 'y' (the labels). {_NEXT}")
        body.finish()
        if count is not None and labels is not None and count != len(labels):
            raise FormatError(f"{where}: 'X' holds {count:,} images but 'y' {len(labels):,} labels. {_NEXT}")
        pos += 8 + length
    if count is None or labels is None:
        missing = "'X' or 'y'" if count is None and labels is None else "'X'" if count is None else "'y'"
        raise FormatError(f"{where}: no variable {missing}; an SVHN file holds 'X' (the images) and 'y' (the "
                          f"labels). {_NEXT}")
    tens = int(np.count_nonzero(labels == 10))
    labels[labels == 10] = 0  # the authors store the digit 0 as 10
    sink.save("labels", labels)
    sink.save("index", np.arange(count, dtype=np.int64))
    sink.report["digit_0_stored_as_10"] = tens
    return Decoded(count)


def _header(head: bytes, where: str) -> str:
    """The byte order (``<`` or ``>``) of a MATLAB v5 header; anything else is refused."""
    if len(head) < 128 or 0 in head[:4] or head[126:128] not in (b"IM", b"MI"):
        raise FormatError(f"{where}: not a MATLAB v5 file: expected a 128-byte header ending in 'IM' or 'MI'; "
                          f"found {bytes(head[:20])!r}... ({len(head)} bytes). {_NEXT}")
    order = "<" if head[126:128] == b"IM" else ">"
    version = struct.unpack_from(order + "H", head, 124)[0]
    if version != 0x0100:
        what = "a MATLAB v7.3 (HDF5) file" if version == 0x0200 else f"version {version:#06x}"
        raise FormatError(f"{where}: {what}; SVHN is published as MATLAB v5 files (version 0x0100). {_NEXT}")
    return order


class _Body:
    """The bytes of one top-level element, as stored or inflated, read front to back."""

    def __init__(self, file: BinaryIO, length: int, compressed: bool, here: str):
        self.file, self.left, self.here = file, length, here
        self.length = length
        self.inflater = zlib.decompressobj() if compressed else None
        self.pending = b""  # compressed bytes read from the file, not yet inflated

    def matrix_length(self, order: str) -> int:
        """The byte count of the matrix element this body is (or inflates to), checked against the file."""
        if self.inflater is None:
            return self.length
        tag = self.read(8)
        if len(tag) < 8:
            raise FormatError(f"{self.here}: the compressed variable inflates to {len(tag)} bytes, not even a "
                              f"matrix element's tag. {_NEXT}")
        kind, length = struct.unpack(order + "II", tag)
        if kind != MI_MATRIX:
            raise FormatError(f"{self.here}: the compressed variable holds an element of type {kind}; expected "
                              f"a matrix (type 14). {_NEXT}")
        # deflate expands at most 1,032 times: a larger claim cannot be backed by these bytes
        if length > self.length * MAX_DEFLATE_RATIO + 1024:
            raise FormatError(f"{self.here}: the compressed variable claims a {length:,}-byte matrix from "
                              f"{self.length:,} compressed bytes, more than deflate can produce. {_NEXT}")
        return length

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only where the element's bytes end."""
        if self.inflater is None:
            data = self.file.read(min(n, self.left))
            self.left -= len(data)
            return data
        parts, got = [], 0
        while got < n and not self.inflater.eof:
            if not self.pending and self.left:
                self.pending = self.file.read(min(_READ_BLOCK, self.left))
                self.left -= len(self.pending)
            try:
                # an empty input still flushes what zlib holds back; max_length bounds every call
                out = self.inflater.decompress(self.pending, n - got)
            except zlib.error as exc:
                raise FormatError(f"{self.here}: the compressed variable is damaged ({exc}). {_NEXT}") from None
            self.pending = self.inflater.unconsumed_tail
            if not out and not self.pending and not self.left:
                break  # a stream without its end marker (MATLAB writes some): it ends here, as in scipy
            parts.append(out)
            got += len(out)
        return b"".join(parts)

    def exactly(self, n: int, what: str) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise FormatError(f"{self.here}: {what} ends {n - len(data):,} bytes early: the file is truncated "
                              f"or damaged. {_NEXT}")
        return data

    def finish(self) -> None:
        """Refuse inflated bytes after the matrix (what follows a zlib stream's end is ignored, as in scipy)."""
        if self.inflater is not None and self.read(1):
            raise FormatError(f"{self.here}: the compressed variable holds more than its matrix element. {_NEXT}")


def _images(body: _Body, header: MatrixHeader, prefix: bytes, matrix: int, order: str, here: str,
            sink: Sink, num_examples: int | None) -> int:
    """Stream ``X`` into ``sink`` as ``images``; returns the number of images."""
    dims = header.dims if len(header.dims) == 4 else (*header.dims, 1)  # MATLAB drops a trailing 1
    if (header.mx_class not in (_MX_UINT8, _MX_DOUBLE, _MX_SINGLE) or header.complex
            or tuple(dims[:3]) != IMAGE_SHAPE or len(dims) != 4):
        raise FormatError(f"{here}: a {header.class_name} array of dimensions {list(header.dims)}"
                          f"{' (complex)' if header.complex else ''}; expected uint8 images 32 x 32 x 3 x N. {_NEXT}")
    count = dims[3]
    if count == 0:
        raise FormatError(f"{here}: holds no images (dimensions {list(header.dims)}). {_NEXT}")
    if num_examples is not None and count != num_examples:
        raise FormatError(f"{here}: holds {count:,} images; the split has {num_examples:,}. {_NEXT}")
    tag = prefix[header.end:header.end + 8]
    head = bytes(tag) + body.exactly(8 - len(tag), "the image data's tag") if len(tag) < 8 else bytes(tag)
    kind, length = struct.unpack(order + "II", head)
    expected = count * IMAGE_BYTES
    if kind != _MI_UINT8 or length != expected:
        raise FormatError(f"{here}: the image data is {length:,} bytes of type {kind}; expected {expected:,} bytes "
                          f"of uint8 (type 2) for {count:,} images. {_NEXT}")
    # the data must fill the matrix exactly (padded to 8 bytes): checked before allocating
    if header.end + 8 + length + (-length % 8) != matrix:
        raise FormatError(f"{here}: the matrix element is {matrix:,} bytes, but its header and "
                          f"{count:,} images take {header.end + 8 + length + (-length % 8):,}. {_NEXT}")
    carry = bytes(prefix[header.end + 8:])
    out = sink.stream("images", np.uint8, (count, *IMAGE_SHAPE))
    done = 0
    while done < count:
        k = min(CHUNK_IMAGES, count - done)
        want = k * IMAGE_BYTES
        data = carry + body.read(want - len(carry)) if len(carry) < want else carry[:want]
        carry = carry[want:] if len(carry) > want else b""
        if len(data) != want:
            raise FormatError(f"{here}: the image data ends after {done + len(data) // IMAGE_BYTES:,} of "
                              f"{count:,} images: the file is truncated or damaged. {_NEXT}")
        # (k, channel, column, row) as stored -> (k, row, column, channel)
        chunk = np.frombuffer(data, np.uint8).reshape(k, 3, 32, 32).transpose(0, 3, 2, 1)
        out.write(np.ascontiguousarray(chunk))
        done += k
    out.close()
    body.exactly(-length % 8 - len(carry), "the padding after the images")
    return count


def _labels(body: _Body, header: MatrixHeader, prefix: bytes, matrix: int, order: str, here: str,
            num_examples: int | None) -> np.ndarray:
    """``y`` as int64 values 1..10 (10 not yet mapped)."""
    if header.mx_class not in range(6, 16) or header.complex:
        raise FormatError(f"{here}: a {header.class_name} array{' (complex)' if header.complex else ''}; "
                          f"expected the labels as a real numeric array. {_NEXT}")
    dims = header.dims
    if len(dims) != 2 or 1 not in dims:
        raise FormatError(f"{here}: dimensions {list(dims)}; expected the labels as N x 1. {_NEXT}")
    count = dims[0] * dims[1]
    if num_examples is not None and count != num_examples:
        raise FormatError(f"{here}: holds {count:,} labels; the split has {num_examples:,}. {_NEXT}")
    if matrix > MAX_LABEL_BYTES or matrix > header.end + 8 + 8 * count + 8:
        raise FormatError(f"{here}: a {matrix:,}-byte matrix for {count:,} labels; at most 8 bytes per label "
                          f"(and {MAX_LABEL_BYTES:,} in all) are read. {_NEXT}")
    contents = prefix + body.exactly(matrix - len(prefix), "the labels")
    elements = Elements(memoryview(contents), order, here, _NEXT)
    elements.pos = header.end
    kind, data = elements.next("label data", tuple(NUMERIC_TYPES))
    elements.finish("the labels' matrix")
    dtype = np.dtype(order + _DTYPES[kind])
    if len(data) != count * dtype.itemsize:
        raise FormatError(f"{here}: {len(data):,} bytes of {dtype.itemsize}-byte values for {count:,} labels. "
                          f"{_NEXT}")
    values = np.frombuffer(data, dtype)
    bad = ~np.isin(values, np.arange(1, 11))  # NaN and 2.5 are not in it either
    if bad.any():
        first = int(np.argmax(bad))
        raise FormatError(f"{here}: label {first:,} is {values[first]!r}; SVHN's labels are 1..10 (10 for the "
                          f"digit 0), and {int(bad.sum()):,} are not. {_NEXT}")
    return values.astype(np.int64)
