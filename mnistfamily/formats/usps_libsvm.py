"""USPS as LIBSVM publishes it: one text line per 16 x 16 image, bzip2'd, decoded to uint8 or float32.

``usps.bz2`` (7,291 lines) and ``usps.t.bz2`` (2,007) hold lines ``label 1:v1 2:v2 ... 256:v256``:
the label 1..10 is the digit 0..9 (label 1 is a "0"), ``vi`` is pixel *i* of the image row by
row, a decimal in [-1, 1] (six decimals in the published files). Every published line lists
all 256 indices in order, so this reader accepts exactly that: a line with another label, a
missing, repeated or reordered index, a value that is not a plain decimal (``nan``, ``inf``,
``0x1p-1``, ``1_0``) or lies outside [-1, 1] is a :class:`~mnistfamily.errors.FormatError`
naming the line.

**Two decodings** (``image_dtype``):

- ``"float32"``: the published values, parsed as float64 and rounded to float32. Every
  six-decimal value in [-1, 1] survives this exactly: printing the float32 with six decimals
  (``f"{x:.6f}"``) gives back the published text (checked for all 2,000,001 of them).
- ``"uint8"`` (the default, what ``Dataset.images`` serves): ``floor((x + 1) / 2 * 255)``
  computed in float32 arithmetic on the float32 value ``x``, byte for byte what torchvision's
  ``USPS`` computes, so results compare. -1 gives 0, 1 gives 255, the map never decreases, and
  a byte ``b`` means ``x`` in ``[b / 127.5 - 1, (b + 1) / 127.5 - 1)``, except for 6 of the
  2,000,001 six-decimal values, within 1.3e-5 of a boundary, where float32's rounding moves
  the byte by one (``-0.6`` gives 50 where exact arithmetic gives 51). The floats cannot be
  recovered from the bytes: load with ``image_dtype="float32"`` for them.

Produced: ``images`` ``(N, 16, 16)`` of that dtype, ``labels`` int64 0..9 (label - 1), ``index``.

Hostile files: the text is decompressed in blocks, never beyond :data:`MAX_TEXT_RATIO` times
the compressed size (the published ratio is 3.7) nor past ``num_examples`` lines when given;
a line longer than :data:`MAX_LINE_BYTES` is refused before it is split. Plain (uncompressed)
text is read too, chosen by content: bzip2 by its ``BZh`` signature, text by a leading digit.
"""

from __future__ import annotations

import os
from typing import BinaryIO, Iterator, NoReturn

import numpy as np

from ..errors import FormatError
from .bzip2 import is_bzip2, open_bzip2
from .compression import peek, stream_length
from .decoded import Decoded
from .sink import Sink
from .source import opened

__all__ = ["FLOAT32_DEPARTURES", "IMAGE_DTYPES", "MAX_LINE_BYTES", "MAX_TEXT_RATIO",
           "read_usps_libsvm", "to_uint8"]

IMAGE_SHAPE = (16, 16)
FEATURES = 256
IMAGE_DTYPES = ("uint8", "float32")
#: a published line takes about 3,400 bytes ("256:-0.999930 "); twice the longest legible one
MAX_LINE_BYTES = 8192
#: decompressed text per compressed byte, at most (the published files: 3.7)
MAX_TEXT_RATIO = 64
_BLOCK = 1 << 18  # bytes of text parsed at a time (about 75 lines)
_LABELS = {str(i).encode(): i - 1 for i in range(1, 11)}
_INDICES = [str(i).encode() for i in range(1, FEATURES + 1)]
_COLONS = [b":"] * FEATURES
#: what a line may hold besides whitespace and colons: the characters of plain decimals
_NUMBER_CHARS = b"0123456789.-+eE"
_NEXT = "The file is not the published one; delete it and fetch it again."
#: the six-decimal values whose byte differs from exact arithmetic's ``floor((x + 1) * 127.5)``
#: (float32 rounding, as in torchvision): value -> (exact floor, the byte served)
FLOAT32_DEPARTURES = {"-0.600000": (51, 50), "-0.027451": (123, 124), "0.372549": (174, 175),
                      "0.545098": (196, 197), "0.717647": (218, 219), "0.890196": (240, 241)}


def read_usps_libsvm(source: str | os.PathLike[str] | BinaryIO, sink: Sink, *, image_dtype: str = "uint8",
                     num_examples: int | None = None, where: str | None = None) -> Decoded:
    """Decode a USPS file (``usps.bz2``, ``usps.t.bz2``, or the same text uncompressed) into ``sink``.

    ``image_dtype`` is ``"uint8"`` (torchvision's bytes) or ``"float32"`` (the published values);
    see the module's documentation for the exact mapping. ``num_examples``, when given, is the
    number of lines the file must hold (checked as they are read). ``where`` names the file in
    errors (default: its file name).

    Examples
    --------
    >>> import io
    >>> from mnistfamily.formats.sink import MemorySink
    >>> text = b"1 " + b" ".join(b"%d:-1.000000" % i for i in range(1, 257)) + b" \\n"
    >>> sink = MemorySink()
    >>> read_usps_libsvm(io.BytesIO(text), sink, image_dtype="float32").num_examples
    1
    >>> sink.arrays["images"].shape, sink.arrays["images"].max(), sink.arrays["labels"]
    ((1, 16, 16), np.float32(-1.0), array([0]))
    >>> read_usps_libsvm(io.BytesIO(text.replace(b"2:", b"3:", 1)), MemorySink(), where="usps.t")
    Traceback (most recent call last):
    ...
    mnistfamily.errors.FormatError: usps.t: line 1: feature 2 is numbered 3; expected the indices 1..256 in order...
    """
    if image_dtype not in IMAGE_DTYPES:
        raise FormatError(f"image_dtype={image_dtype!r}: USPS is decoded as one of {list(IMAGE_DTYPES)}.")
    with opened(source, where) as (file, name):
        rows = _Rows(name, image_dtype, num_examples)
        for block in _text(file, name, num_examples):
            rows.add(block)
        images, labels = rows.finish()
    count = len(labels)
    out = sink.stream("images", np.dtype(image_dtype), (count, *IMAGE_SHAPE))
    while images:
        out.write(images.pop(0))  # each block is freed once written
    out.close()
    sink.save("labels", labels)
    sink.save("index", np.arange(count, dtype=np.int64))
    sink.report["image_dtype"] = image_dtype
    return Decoded(count)


def to_uint8(values: np.ndarray) -> np.ndarray:
    """The published float values (float32) as torchvision's bytes: ``floor((x + 1) / 2 * 255)`` in float32.

    Examples
    --------
    >>> to_uint8(np.array([-1, -0.6, 0, 1], np.float32))
    array([  0,  50, 127, 255], dtype=uint8)
    """
    one, two, scale = np.float32(1), np.float32(2), np.float32(255)
    return ((values.astype(np.float32) + one) / two * scale).astype(np.uint8)


def _text(file: BinaryIO, where: str, num_examples: int | None) -> Iterator[bytes]:
    """The file's text in blocks: bzip2 streams decompressed (bounded), or plain text as it is."""
    head = peek(file, 4)
    size = stream_length(file)
    compressed = is_bzip2(head)
    if not compressed and not head[:1].isdigit():
        raise FormatError(f"{where}: neither bzip2 (which starts 'BZh') nor LIBSVM text (which starts with a "
                          f"label); found {head!r}. {_NEXT}")
    limit = None if size is None else (size - file.tell()) * (MAX_TEXT_RATIO if compressed else 1)
    if num_examples is not None:
        limit = min(limit or 1 << 62, num_examples * MAX_LINE_BYTES)
    reader = open_bzip2(file) if compressed else file
    total = 0
    while True:
        try:
            block = reader.read(_BLOCK)
        except EOFError:
            raise FormatError(f"{where}: the bzip2 data ends before its end-of-stream marker: the file is "
                              f"truncated. {_NEXT}") from None
        except OSError as exc:
            if not compressed:
                raise
            raise FormatError(f"{where}: the bzip2 data is damaged, or followed by bytes that are not another "
                              f"bzip2 stream ({exc}). {_NEXT}") from None
        if not block:
            return
        total += len(block)
        if limit is not None and total > limit:
            raise FormatError(f"{where}: the text decompresses to more than {limit:,} bytes, more than a USPS file "
                              f"(or the expected number of lines) can take. {_NEXT}")
        yield block


class _Rows:
    """Lines parsed block by block into images (of the chosen dtype) and labels."""

    def __init__(self, where: str, image_dtype: str, num_examples: int | None):
        self.where, self.image_dtype, self.num_examples = where, image_dtype, num_examples
        self.carry = b""
        self.line = 0  # lines parsed so far
        self.blank: int | None = None  # the first empty line, allowed only at the end
        self.images: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []

    def add(self, block: bytes) -> None:
        text = self.carry + block
        cut = text.rfind(b"\n") + 1
        self.carry = text[cut:]
        if len(self.carry) > MAX_LINE_BYTES:
            line = self.line + text.count(b"\n", 0, cut) + 1
            self._fail(line, f"longer than {MAX_LINE_BYTES:,} bytes; a USPS line takes about 3,400")
        if cut:
            self._parse(text[:cut - 1].split(b"\n"))

    def finish(self) -> tuple[list[np.ndarray], np.ndarray]:
        if self.carry:
            self._parse([self.carry])  # the last line may lack its newline
        count = sum(len(b) for b in self.labels)
        if count == 0:
            raise FormatError(f"{self.where}: holds no USPS line ({self.line} empty lines). {_NEXT}")
        if self.num_examples is not None and count != self.num_examples:
            raise FormatError(f"{self.where}: {count:,} lines; the split has {self.num_examples:,}. {_NEXT}")
        return self.images, np.concatenate(self.labels)

    def _parse(self, lines: list[bytes]) -> None:
        labels: list[int] = []
        values: list[bytes] = []
        start = 0  # the line number of the group's first example (its lines are consecutive)
        for line in lines:
            self.line += 1
            tokens = line.split()
            if not tokens:
                self.blank = self.blank or self.line
                continue
            if self.blank is not None:
                self._fail(self.blank, "empty; only the end of the file may hold empty lines")
            if len(labels) + sum(len(b) for b in self.labels) == self.num_examples:
                self._fail(self.line, f"one line more than the split's {self.num_examples:,}")
            label = _LABELS.get(tokens[0])
            if label is None:
                self._fail(self.line, f"the label {tokens[0][:20]!r}; expected 1..10")
            if len(tokens) != FEATURES + 1:
                self._fail(self.line, f"{len(tokens) - 1:,} items; expected {FEATURES} 'index:value' pairs")
            # one C pass proves every item is "digits:decimal": without the decimals' characters, a
            # line must be its separators alone (an item with two colons, or a letter, stays)
            if line.translate(None, _NUMBER_CHARS).split() != _COLONS:
                bad = next((i for i, t in enumerate(tokens[1:], 1)
                            if t.count(b":") != 1 or t.translate(None, _NUMBER_CHARS + b":")), 1)
                self._fail(self.line, f"item {bad} is {tokens[bad][:24]!r}; expected 'index:value' with a plain "
                                      "decimal value")
            pairs = b" ".join(tokens[1:]).replace(b":", b" ").split()
            if pairs[0::2] != _INDICES:
                wrong = next(i for i, (a, b) in enumerate(zip(pairs[0::2], _INDICES)) if a != b)
                self._fail(self.line, f"feature {wrong + 1} is numbered {pairs[2 * wrong][:20].decode('ascii')}; "
                                      f"expected the indices 1..{FEATURES} in order")
            start = start or self.line
            labels.append(label)
            values.extend(pairs[1::2])
        if labels:
            self._convert(labels, values, start)

    def _convert(self, labels: list[int], values: list[bytes], start: int) -> None:
        first = start - 1
        try:
            floats = np.array(values).astype(np.float64)
        except ValueError:
            bad = next(i for i, v in enumerate(values) if not _is_float(v))
            self._fail(first + bad // FEATURES + 1,
                       f"value {bad % FEATURES + 1} is {values[bad][:20].decode('ascii')!r}, not a number")
        outside = ~((floats >= -1) & (floats <= 1))
        if outside.any():
            bad = int(np.argmax(outside))
            self._fail(first + bad // FEATURES + 1,
                       f"value {bad % FEATURES + 1} is {values[bad][:20].decode('ascii')}; expected -1..1")
        pixels = floats.astype(np.float32).reshape(-1, *IMAGE_SHAPE)
        self.images.append(to_uint8(pixels) if self.image_dtype == "uint8" else pixels)
        self.labels.append(np.array(labels, np.int64))

    def _fail(self, line: int, problem: str) -> NoReturn:
        raise FormatError(f"{self.where}: line {line:,}: {problem}. {_NEXT}")


def _is_float(token: bytes) -> bool:
    try:
        np.array([token]).astype(np.float64)
    except ValueError:
        return False
    return True
