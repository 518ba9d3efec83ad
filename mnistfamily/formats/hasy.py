"""HASYv2 (Thoma 2017): 168,233 handwritten symbols, 32x32, 369 classes, from ``HASYv2.tar.bz2``.

The archive (Zenodo record 259444) has no top-level folder. It holds one PNG per image,
``hasy-data/v2-NNNNN.png``; ``hasy-data-labels.csv`` (``path,symbol_id,latex,user_id``, one
row per image, paths relative to the archive root); ``symbols.csv``
(``symbol_id,latex,training_samples,test_samples``, 369 rows, CRLF); the ten classification
folds ``classification-task/fold-K/{train,test}.csv`` (the labels file's columns, paths
written ``../../hasy-data/v2-NNNNN.png``, relative to the CSV); and files not read here
(``README.txt``, ``hasy_tools.py``, ``verification-task/*.csv``).

What :func:`read_hasy` writes into its sink:

============== ============================== ===============================================
``images``     uint8 ``(N, 32, 32)``          grey, as the author's ``hasy_tools`` reads them
                                              (Pillow's ``convert("L")`` of whatever mode the
                                              PNG is stored in)
``labels``     int64 ``(N,)``                 0..368: the row of the symbol in ``symbols.csv``
``symbol_id``  int64 ``(N,)``                 HASY's own symbol id (31..1400, not contiguous)
``writer_id``  int64 ``(N,)``                 the ``user_id`` column (unreliable, per the paper)
``index``      int64 ``(N,)``                 the row in ``hasy-data-labels.csv``
``foldK-train``, ``foldK-test`` int64         positions of the fold's rows, in the fold CSV's
                                              order (K = 1..10)
============== ============================== ===============================================

Examples are in ``hasy-data-labels.csv`` row order. Nothing read from a CSV becomes a path:
a row's path must match ``hasy-data/v2-NNNNN.png`` exactly (``../../`` first in a fold) and is
looked up among the archive's own members. Every join is checked: each labelled image is in
the archive exactly once and decodes to 32x32, each label's ``symbol_id`` and ``latex`` agree
with ``symbols.csv``, each fold row agrees with the labels file, and each fold's train and
test partition the images. The tarball is streamed (:mod:`.tar_stream`) in bounded memory;
when a PNG comes before ``hasy-data-labels.csv`` in the archive (its order is not published)
the archive is read a second time, since a PNG's place is only known from the labels.

Examples
--------
>>> from mnistfamily.formats.hasy import read_hasy
>>> from mnistfamily.formats.sink import MemorySink
>>> from mnistfamily.testing.mini_hasy import hasy_archive
>>> data, expected = hasy_archive(seed=0, count=30)
>>> sink = MemorySink()
>>> result = read_hasy(io.BytesIO(data), sink)
>>> result.num_examples, sink.arrays["images"].shape, len(result.classes)
(30, (30, 32, 32), 7)
>>> bool((sink.arrays["labels"] == expected["labels"]).all())
True
"""

from __future__ import annotations

import array
import csv
import io
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from ..errors import FormatError
from .sink import Sink
from .tar_stream import member_name, walk_tar

__all__ = ["ARCHIVE", "FOLD_SPLITS", "HasyResult", "HasySymbols", "IMAGE_SHAPE", "fold_member", "parse_symbols",
           "read_hasy"]

ARCHIVE = "HASYv2.tar.bz2"
LABELS = "hasy-data-labels.csv"
SYMBOLS = "symbols.csv"
NUM_FOLDS = 10
#: the split names of the ten classification folds, as the sink's index lists are named
FOLD_SPLITS = tuple(f"fold{k}-{part}" for k in range(1, NUM_FOLDS + 1) for part in ("train", "test"))
IMAGE_SHAPE = (32, 32)
#: a 32x32 PNG takes a few hundred bytes; a third-party audit of the archive bounds them at 64 KiB
MAX_PNG_BYTES = 64 << 10
#: the labels file is about 7 MB; each CSV is held whole while it is parsed
MAX_TEXT_BYTES = 16 << 20
#: the archive holds 168,274 members and expands to 149,489,023 bytes of files (third-party audit)
MAX_MEMBERS = 400_000
MAX_EXPANDED_BYTES = 512 << 20  # about 1.9x the published tar (files, headers, padding)

_PNG_NAME = re.compile(r"hasy-data/v2-([0-9]{5,12})\.png")
_FOLD_PREFIX = "../../"
_INT = re.compile(r"0|[1-9][0-9]{0,17}")
_RECORD_HEADER = ["path", "symbol_id", "latex", "user_id"]
_SYMBOL_HEADER = ["symbol_id", "latex", "training_samples", "test_samples"]
_SHOWN = 5  # names quoted in an error


def fold_member(split: str) -> str:
    """The archive member holding a fold split: ``fold3-test`` -> ``classification-task/fold-3/test.csv``."""
    match = re.fullmatch(r"fold([1-9]|10)-(train|test)", split)
    if match is None:
        raise ValueError(f"{split!r} is not a HASYv2 fold split; expected one of {', '.join(FOLD_SPLITS)}")
    return f"classification-task/fold-{match[1]}/{match[2]}.csv"


_FOLD_OF_MEMBER = {fold_member(split): split for split in FOLD_SPLITS}


@dataclass(frozen=True)
class HasySymbols:
    """``symbols.csv``: class ``i`` is HASY symbol ``ids[i]``, written ``latex[i]``."""

    ids: np.ndarray
    latex: list[str]
    #: the ``training_samples + test_samples`` columns (HWRT's split counts, not the folds')
    counts: np.ndarray


@dataclass(frozen=True)
class HasyResult:
    """What :func:`read_hasy` found besides the arrays it wrote."""

    #: the 369 class names (LaTeX), class ``i`` being row ``i`` of ``symbols.csv``
    classes: list[str]
    #: HASY's symbol id of each class
    class_symbol_ids: list[int]
    num_examples: int
    #: examples in each fold split
    splits: dict[str, int]


def parse_symbols(data: bytes, where: str) -> HasySymbols:
    """Parse ``symbols.csv``: header, unique positive ids, unique non-empty LaTeX names.

    Examples
    --------
    >>> table = parse_symbols(b"symbol_id,latex,training_samples,test_samples\\r\\n31,A,137,22\\r\\n", "symbols.csv")
    >>> table.ids.tolist(), table.latex, table.counts.tolist()
    ([31], ['A'], [159])
    """
    ids, names, counts = [], [], []
    for line, row in _csv_rows(data, where, _SYMBOL_HEADER):
        ids.append(_integer(row[0], where, line, "symbol_id"))
        if not row[1]:
            raise FormatError(f"{where}: line {line} has an empty latex name. Delete the file and fetch it again.")
        names.append(row[1])
        counts.append(_integer(row[2], where, line, "training_samples") + _integer(row[3], where, line, "test_samples"))
    if not ids:
        raise FormatError(f"{where}: no symbol rows after the header. Delete the file and fetch it again.")
    for what, values in (("symbol_id", ids), ("latex", names)):
        twice = [value for value, n in Counter(values).items() if n > 1]
        if twice:
            raise FormatError(f"{where}: {what} {twice[0]!r} is on {Counter(values)[twice[0]]} rows; each symbol "
                              "has one. Delete the file and fetch it again.")
    return HasySymbols(np.array(ids, dtype=np.int64), names, np.array(counts, dtype=np.int64))


def read_hasy(source: str | os.PathLike[str] | BinaryIO, sink: Sink, *, where: str | None = None) -> HasyResult:
    """Decode ``HASYv2.tar.bz2`` (a path, or a seekable binary stream) into ``sink``.

    See the module docstring for what is written. Raises
    :class:`~mnistfamily.errors.FormatError` naming the archive (``where``), the member and
    row, what was expected and what was found, for anything that is not the published layout.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = where or f"hasyv2 {path.name}"
        with open(path, "rb") as raw:
            return _read(raw, sink, where)
    if not (hasattr(source, "seekable") and source.seekable()):
        raise FormatError(f"{where or 'hasyv2'}: read_hasy needs a path or a seekable stream (the archive may "
                          "be read twice); save the stream to a file first.")
    return _read(source, sink, where or "hasyv2 archive")


# ----------------------------------------------------------------------------------------- reading


@dataclass
class _Records:
    """One CSV of image rows, parsed into compact columns (``png`` is the NNNNN of its path)."""

    member: str
    png: np.ndarray
    symbol: np.ndarray
    user: np.ndarray
    latex: np.ndarray  # codes into _Reader.latex_codes


@dataclass
class _Placement:
    """Where each image goes, known once ``hasy-data-labels.csv`` is parsed."""

    labels: _Records
    sorted_png: np.ndarray  # the labels' PNG numbers, sorted
    row_of_sorted: np.ndarray  # the labels row of each
    images: np.ndarray  # the sink's (N, 32, 32) array
    filled: np.ndarray  # bool (N,): decoded
    visits: np.ndarray  # uint8 (N,): PNG members met in the second pass

    def row(self, png: int) -> int | None:
        """The labels row of image ``png`` (its NNNNN), or None when no row lists it."""
        k = int(np.searchsorted(self.sorted_png, png))
        if k < len(self.sorted_png) and self.sorted_png[k] == png:
            return int(self.row_of_sorted[k])
        return None

    def rows(self, png: np.ndarray) -> np.ndarray:
        """The labels rows of many PNG numbers; -1 where no row lists one."""
        k = np.minimum(np.searchsorted(self.sorted_png, png), len(self.sorted_png) - 1)
        return np.where(self.sorted_png[k] == png, self.row_of_sorted[k], -1).astype(np.int64)


@dataclass
class _Reader:
    where: str
    sink: Sink
    latex_codes: dict[str, int] = field(default_factory=dict)
    symbols: HasySymbols | None = None
    placement: _Placement | None = None  # set by the labels file
    #: each fold split's positions in the labels; a fold met before the labels waits as records
    fold_positions: dict[str, np.ndarray] = field(default_factory=dict)
    fold_records: dict[str, _Records] = field(default_factory=dict)
    deferred: int = 0  # PNGs met before the labels, decoded by a second pass
    counts: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)

    # ---- pass 1: every text member; PNGs too once their places are known
    def want_first(self, member) -> int | None:
        if member.isreg() and member.size > MAX_TEXT_BYTES:
            # no published member is this large; refused before its bytes are decompressed
            raise FormatError(f"{self.where}: member {member.name[:200]!r} is {member.size:,} bytes; the largest "
                              f"published member is a few MB (at most {MAX_TEXT_BYTES:,} are read). Delete the file "
                              "and fetch it again.")
        name = member_name(member)
        if name in (LABELS, SYMBOLS) or name in _FOLD_OF_MEMBER:
            return MAX_TEXT_BYTES
        if name is not None and self.placement is not None and _PNG_NAME.fullmatch(name):
            return MAX_PNG_BYTES
        return None

    def take_first(self, member, data: bytes | None) -> None:
        name = member_name(member)
        if name is None:
            self.counts["skipped_folders" if member.isdir() else "skipped_links_devices_and_unsafe_names"] += 1
            return
        if name == SYMBOLS:
            self._once(name, self.symbols is None)
            self.symbols = parse_symbols(data or b"", f"{self.where}: {name}")
        elif name == LABELS:
            self._once(name, self.placement is None)
            self.placement = self._place_rows(self._records(data or b"", name, ""))
        elif name in _FOLD_OF_MEMBER:
            self._once(name, name not in self.fold_positions and name not in self.fold_records)
            records = self._records(data or b"", name, _FOLD_PREFIX)
            if self.placement is None:
                self.fold_records[name] = records
            else:  # checked now, and only the positions kept
                self.fold_positions[name] = _positions_in_labels(self.placement, records, self.where)
        elif _PNG_NAME.fullmatch(name):
            if data is None or self.placement is None:
                self.deferred += 1
            else:
                self._png(self.placement, name, data, second_pass=False)
        else:
            self.counts["skipped_other_files"] += 1

    # ---- pass 2 (only when PNGs came before the labels): the PNGs not placed yet
    def want_second(self, member) -> int | None:
        name = member_name(member)
        return MAX_PNG_BYTES if name is not None and _PNG_NAME.fullmatch(name) else None

    def take_second(self, member, data: bytes | None) -> None:
        if data is not None and self.placement is not None:
            self._png(self.placement, member_name(member) or "", data, second_pass=True)

    # ---- helpers
    def _once(self, name: str, first: bool) -> None:
        if not first:
            raise FormatError(f"{self.where}: member {name} appears twice; the published archive has it once. "
                              "Delete the file and fetch it again.")

    def _records(self, data: bytes, name: str, prefix: str) -> _Records:
        where = f"{self.where}: {name}"
        png, symbol, user, latex = (array.array("q") for _ in range(4))
        codes = self.latex_codes
        for line, row in _csv_rows(data, where, _RECORD_HEADER):
            path = row[0]
            match = _PNG_NAME.fullmatch(path[len(prefix):]) if path.startswith(prefix) else None
            if match is None or int(match[1]) >= 10 ** 12 or f"{int(match[1]):05d}" != match[1]:
                raise FormatError(f"{where}: line {line} has path {path[:200]!r}; expected "
                                  f"{prefix}hasy-data/v2-NNNNN.png. Delete the file and fetch it again.")
            png.append(int(match[1]))
            symbol.append(_integer(row[1], where, line, "symbol_id"))
            user.append(_integer(row[3], where, line, "user_id"))
            latex.append(codes.setdefault(row[2], len(codes)))
        arrays = [np.frombuffer(a, dtype=np.int64) if len(a) else np.empty(0, np.int64)
                  for a in (png, symbol, user, latex)]
        return _Records(name, *arrays)

    def _place_rows(self, labels: _Records) -> _Placement:
        n = len(labels.png)
        if n == 0:
            raise FormatError(f"{self.where}: {LABELS} lists no image. Delete the file and fetch it again.")
        order = np.argsort(labels.png, kind="stable")
        sorted_png = labels.png[order]
        repeated = np.flatnonzero(sorted_png[1:] == sorted_png[:-1])
        if len(repeated):
            raise FormatError(f"{self.where}: {LABELS} lists hasy-data/v2-{sorted_png[repeated[0]]:05d}.png on "
                              f"more than one row ({len(repeated):,} repeated paths); each image has one. Delete the "
                              "file and fetch it again.")
        return _Placement(labels, sorted_png, order, self.sink.create("images", np.uint8, (n, *IMAGE_SHAPE)),
                          np.zeros(n, dtype=bool), np.zeros(n, dtype=np.uint8))

    def _png(self, placement: _Placement, name: str, data: bytes, *, second_pass: bool) -> None:
        match = _PNG_NAME.fullmatch(name)
        row = placement.row(int(match[1])) if match and f"{int(match[1]):05d}" == match[1] else None
        if row is None:
            if not second_pass:
                self.counts["skipped_unlisted_pngs"] += 1
            return
        if second_pass:
            # the second pass meets every PNG member again: a row met twice is a repeated member
            placement.visits[row] = min(int(placement.visits[row]) + 1, 2)
            if placement.visits[row] > 1:
                self._duplicate(name)
            if placement.filled[row]:
                return  # decoded by the first pass
        elif placement.filled[row]:
            self._duplicate(name)
        placement.images[row] = self._decode(name, data)
        placement.filled[row] = True

    def _duplicate(self, name: str) -> None:
        raise FormatError(f"{self.where}: member {name} appears twice; the published archive has each image "
                          "once. Delete the file and fetch it again.")

    def _decode(self, name: str, data: bytes) -> np.ndarray:
        """The member's grey 32x32 pixels; its size is checked from the PNG header before decoding."""
        from PIL import Image  # imported here: a warm load never decodes images

        try:
            with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
                if image.size != (IMAGE_SHAPE[1], IMAGE_SHAPE[0]):
                    raise FormatError(f"{self.where}: member {name} is a {image.size[0]}x{image.size[1]} image; "
                                      "HASYv2 images are 32x32. Delete the file and fetch it again.")
                self.modes[image.mode] += 1
                grey = image if image.mode == "L" else image.convert("L")
                pixels = np.asarray(grey, dtype=np.uint8)
        except FormatError:
            raise
        except Exception as exc:  # Pillow raises many types on bytes it cannot decode; all mean "damaged"
            raise FormatError(f"{self.where}: member {name} is not a readable PNG ({type(exc).__name__}: "
                              f"{str(exc)[:200]}). Delete the file and fetch it again.") from None
        if pixels.shape != IMAGE_SHAPE:  # pragma: no cover - Pillow gives what the header says
            raise FormatError(f"{self.where}: member {name} decodes to {pixels.shape}; expected {IMAGE_SHAPE}.")
        return pixels


def _read(raw: BinaryIO, sink: Sink, where: str) -> HasyResult:
    reader = _Reader(where, sink)
    start = raw.tell()
    for member, data in _walk(raw, where, reader.want_first):
        reader.take_first(member, data)
    symbols, placement = reader.symbols, reader.placement
    missing = [SYMBOLS] * (symbols is None) + [LABELS] * (placement is None) + \
        [name for name in _FOLD_OF_MEMBER if name not in reader.fold_positions and name not in reader.fold_records]
    if missing or symbols is None or placement is None:
        raise FormatError(f"{where}: the archive has no member {', '.join(missing[:_SHOWN])}"
                          f"{f' (and {len(missing) - _SHOWN} more)' if len(missing) > _SHOWN else ''}; the published "
                          "HASYv2.tar.bz2 holds them all. Delete the file and fetch it again.")
    passes = 1
    if reader.deferred:
        passes = 2
        raw.seek(start)
        for member, data in _walk(raw, where, reader.want_second):
            reader.take_second(member, data)
    return _finish(reader, symbols, placement, passes)


def _walk(raw: BinaryIO, where: str, want: Callable) -> Iterator:
    return walk_tar(raw, where, want, max_members=MAX_MEMBERS, max_bytes=MAX_EXPANDED_BYTES)


def _finish(reader: _Reader, symbols: HasySymbols, placement: _Placement, passes: int) -> HasyResult:
    where, sink, labels = reader.where, reader.sink, placement.labels
    unplaced = np.flatnonzero(~placement.filled)
    if len(unplaced):
        names = ", ".join(f"hasy-data/v2-{labels.png[i]:05d}.png" for i in unplaced[:_SHOWN])
        raise FormatError(f"{where}: {len(unplaced):,} image(s) listed in {LABELS} are not in the archive "
                          f"(e.g. {names}). Delete the file and fetch it again.")
    latex_names = list(reader.latex_codes)
    classes, latex_of_class = _classes(symbols, reader.latex_codes)
    labels_of_rows = _class_index(symbols, labels, where)
    wrong = np.flatnonzero(latex_of_class[labels_of_rows] != labels.latex)
    if len(wrong):
        i = int(wrong[0])
        raise FormatError(f"{where}: {LABELS} row {i + 1} gives symbol {labels.symbol[i]} the latex "
                          f"{latex_names[labels.latex[i]]!r}; {SYMBOLS} names it {classes[labels_of_rows[i]]!r} "
                          f"({len(wrong):,} such rows). Delete the file and fetch it again.")
    n = len(labels.png)
    splits: dict[str, int] = {}
    for k in range(1, NUM_FOLDS + 1):
        in_test = np.zeros(n, dtype=np.int64)
        for part in ("train", "test"):
            split = f"fold{k}-{part}"
            member = fold_member(split)
            positions = reader.fold_positions.get(member)
            if positions is None:
                positions = _positions_in_labels(placement, reader.fold_records.pop(member), where)
            in_test += np.bincount(positions, minlength=n)
            sink.save(split, positions)
            splits[split] = len(positions)
        if not (in_test == 1).all():
            bad = int(np.flatnonzero(in_test != 1)[0])
            raise FormatError(f"{where}: fold {k}'s train.csv and test.csv list hasy-data/v2-{labels.png[bad]:05d}.png "
                              f"{int(in_test[bad])} times together; each fold's train and test hold every image "
                              "exactly once. Delete the file and fetch it again.")
    sink.save("labels", labels_of_rows)
    sink.save("symbol_id", labels.symbol)
    sink.save("writer_id", labels.user)
    sink.save("index", np.arange(n, dtype=np.int64))
    if isinstance(placement.images, np.memmap):
        placement.images.flush()  # the cache's array: written out before the entry is committed
    sink.report.update({key: int(value) for key, value in reader.counts.items()})
    sink.report["png_modes"] = dict(sorted(reader.modes.items()))
    sink.report["archive_passes"] = passes
    return HasyResult(classes=classes, class_symbol_ids=[int(i) for i in symbols.ids], num_examples=n, splits=splits)


def _classes(symbols: HasySymbols, codes: dict[str, int]) -> tuple[list[str], np.ndarray]:
    """Class names, and each class's latex code (-1 when no image row uses that name)."""
    return list(symbols.latex), np.array([codes.get(name, -1) for name in symbols.latex], dtype=np.int64)


def _class_index(symbols: HasySymbols, labels: _Records, where: str) -> np.ndarray:
    order = np.argsort(symbols.ids, kind="stable")
    k = np.searchsorted(symbols.ids[order], labels.symbol)
    k = np.minimum(k, len(order) - 1)
    unknown = np.flatnonzero(symbols.ids[order][k] != labels.symbol)
    if len(unknown):
        i = int(unknown[0])
        raise FormatError(f"{where}: {LABELS} row {i + 1} has symbol_id {labels.symbol[i]}, which {SYMBOLS} does "
                          f"not list ({len(unknown):,} such rows). Delete the file and fetch it again.")
    return order[k].astype(np.int64)


def _positions_in_labels(placement: _Placement, records: _Records, where: str) -> np.ndarray:
    """Rows of the labels file for a fold's rows, each checked to agree with it."""
    labels = placement.labels
    what = f"{where}: {records.member}"
    positions = placement.rows(records.png)
    unknown = np.flatnonzero(positions < 0)
    if len(unknown):
        i = int(unknown[0])
        raise FormatError(f"{what}: row {i + 1} names ../../hasy-data/v2-{records.png[i]:05d}.png, which {LABELS} "
                          f"does not list ({len(unknown):,} such rows). Delete the file and fetch it again.")
    if len(np.unique(positions)) != len(positions):
        raise FormatError(f"{what}: an image is listed on more than one row; each is listed once. Delete the file "
                          "and fetch it again.")
    for column in ("symbol", "user", "latex"):
        differs = np.flatnonzero(getattr(records, column)[:] != getattr(labels, column)[positions])
        if len(differs):
            i = int(differs[0])
            name = {"symbol": "symbol_id", "user": "user_id", "latex": "latex"}[column]
            raise FormatError(f"{what}: row {i + 1} gives ../../hasy-data/v2-{records.png[i]:05d}.png another "
                              f"{name} than {LABELS} does ({len(differs):,} such rows). Delete the file and fetch it "
                              "again.")
    return positions


def _csv_rows(data: bytes, where: str, header: list[str]) -> Iterator[tuple[int, list[str]]]:
    """``(line number, row)`` of a CSV with exactly ``header``; every row as wide as the header."""
    try:
        data.decode("utf-8-sig")  # checked whole first, so the error can say where; then read line by line
    except UnicodeDecodeError as exc:
        raise FormatError(f"{where}: not UTF-8 text (byte {exc.start:,}). Delete the file and fetch it "
                          "again.") from None
    # a text stream over the bytes decodes a block at a time (a StringIO of the whole text would
    # take four bytes a character)
    rows = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""), strict=True)
    try:
        found = next(rows, None)
        if found != header:
            raise FormatError(f"{where}: the header is {found!r}; expected {','.join(header)}. Delete the file "
                              "and fetch it again.")
        for row in rows:
            if len(row) != len(header):
                if not row:  # a blank line (a trailing newline too many)
                    continue
                raise FormatError(f"{where}: line {rows.line_num} has {len(row)} fields; expected {len(header)} "
                                  f"({','.join(header)}). Delete the file and fetch it again.")
            yield rows.line_num, row
    except csv.Error as exc:
        raise FormatError(f"{where}: line {rows.line_num} is not valid CSV ({exc}). Delete the file and fetch it "
                          "again.") from None


def _integer(text: str, where: str, line: int, column: str) -> int:
    if _INT.fullmatch(text) is None:
        raise FormatError(f"{where}: line {line} has {column} {text[:40]!r}; expected a non-negative integer. "
                          "Delete the file and fetch it again.")
    return int(text)
