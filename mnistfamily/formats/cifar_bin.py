"""CIFAR-10 and CIFAR-100, binary versions: fixed-size records in ``.bin`` members of a ``.tar.gz``.

The published archives (``cifar-10-binary.tar.gz``, ``cifar-100-binary.tar.gz``) hold, under one
folder, the record files of each split and the class names as text (one name per line):

- ``cifar10``: ``cifar-10-batches-bin/`` holds ``data_batch_1.bin`` ... ``data_batch_5.bin`` (the
  train split, in that order), ``test_batch.bin`` and the names in ``batches.meta.txt``;
- ``cifar100``: ``cifar-100-binary/`` holds ``train.bin``, ``test.bin`` and the names in
  ``coarse_label_names.txt`` and ``fine_label_names.txt``.

A record is 1 label byte (CIFAR-10) or 2 (CIFAR-100: coarse, then fine), then 3,072 pixel
bytes: the red plane, the green, the blue, each 32 x 32 row by row. Nothing is unpickled (the
binary versions exist so that nothing has to be).

The reader streams the tarball twice. The first pass reads only headers and the names files:
it finds the split's members by exact name (never using a name as a path), checks each is a
regular file of whole records, and learns the number of examples, so nothing is allocated
from a size it has not checked. The second pass converts the records chunk by chunk into a
``(N, 32, 32, 3)`` array created in the sink, each member at its place in the split's order:
members may come in any order in the archive (a tarball made from a folder listing has no
order). Memory: a chunk of :data:`CHUNK_RECORDS` records, whatever the split's size.

Produced (names of a prepared entry): ``images`` ``(N, 32, 32, 3)`` uint8, channels last;
``labels`` int64 (CIFAR-100: the fine label); ``index``; CIFAR-100 also ``meta.coarse_label``
int64, its names in ``Decoded.code_names["coarse_label"]`` (:mod:`.decoded`). Names files are read as TFDS reads
them: lines, stripped, empty ones dropped; there must be exactly as many names as classes,
distinct, printable ASCII.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Sequence

import numpy as np

from ..errors import FormatError
from .decoded import Decoded
from .sink import Sink
from .source import opened
from .tar_members import member_parts, tar_members

__all__ = ["CHUNK_RECORDS", "LAYOUTS", "read_cifar_bin"]

PIXELS = 3 * 32 * 32
#: records converted at a time (3 MiB; tarfile's stream holds about three copies of a read)
CHUNK_RECORDS = 1024
#: a names file holds at most 100 short names; a larger member is not one
MAX_NAMES_BYTES = 64 << 10
#: the published tarballs hold 185 MB (CIFAR-10) and 184 MB (CIFAR-100) once decompressed
MAX_ARCHIVE_BYTES = 1 << 30
_NEXT = "The archive is not the published one; delete it and fetch it again."


@dataclass(frozen=True)
class Layout:
    """Where one CIFAR archive keeps each split's records and the class names."""

    folder: str
    #: label columns in record order: (column, names file, number of classes); ``labels`` is the last
    columns: tuple[tuple[str, str, int], ...]
    splits: dict[str, tuple[str, ...]]

    @property
    def label_bytes(self) -> int:
        return len(self.columns)

    @property
    def record(self) -> int:
        return self.label_bytes + PIXELS


LAYOUTS = {
    "cifar10": Layout("cifar-10-batches-bin", (("labels", "batches.meta.txt", 10),),
                      {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}),
    "cifar100": Layout("cifar-100-binary", (("coarse_label", "coarse_label_names.txt", 20),
                                            ("labels", "fine_label_names.txt", 100)),
                       {"train": ("train.bin",), "test": ("test.bin",)}),
}


def read_cifar_bin(source: str | os.PathLike[str] | BinaryIO, sink: Sink, *, layout: str, split: str,
                   num_examples: int | None = None, classes: Sequence[str] | None = None,
                   where: str | None = None) -> Decoded:
    """Decode one split (``"train"`` or ``"test"``) of a CIFAR binary archive into ``sink``.

    ``layout`` is ``"cifar10"`` or ``"cifar100"``. ``num_examples``, when given, is the number of
    records the split must hold (checked before anything is allocated); ``classes``, when
    given, the names the archive's names file must list (CIFAR-100: the fine names). ``where``
    names the archive in errors (default: its file name). Returns a :class:`~.decoded.Decoded` with
    the class names read from the archive; the sink's report counts the members not read.

    Examples
    --------
    >>> import io
    >>> from mnistfamily.formats.sink import MemorySink
    >>> from mnistfamily.testing.mini_cifar_bin import cifar_bin_contents
    >>> data, expected = cifar_bin_contents("cifar10", seed=0)
    >>> sink = MemorySink()
    >>> decoded = read_cifar_bin(io.BytesIO(data), sink, layout="cifar10", split="test")
    >>> decoded.classes[:3], sink.arrays["images"].shape == expected["test"]["images"].shape
    (('airplane', 'automobile', 'bird'), True)
    """
    spec = LAYOUTS.get(layout)
    if spec is None or split not in spec.splits:
        raise FormatError(f"CIFAR binary archives have layouts {sorted(LAYOUTS)} with splits 'train' and 'test'; "
                          f"got layout={layout!r}, split={split!r}.")
    with opened(source, where) as (file, name):
        start = file.tell()
        members, names, report = _index(file, name, spec, split)
        count = sum(members.values()) // spec.record
        if num_examples is not None and count != num_examples:
            raise FormatError(f"{name}: the {split} split's members hold {count:,} records; the split has "
                              f"{num_examples:,}. {_NEXT}")
        names_of = {column: _names(names[file_name], n, f"{name}: {spec.folder}/{file_name}")
                    for column, file_name, n in spec.columns}
        if classes is not None and tuple(classes) != names_of["labels"]:
            raise FormatError(f"{name}: the archive names its classes {list(names_of['labels'])}; expected "
                              f"{list(classes)}. {_NEXT}")
        file.seek(start)
        columns = _decode(file, name, spec, split, members, count, sink)
    for column, values in columns.items():
        sink.save(column if column == "labels" else f"meta.{column}", values)
    sink.save("index", np.arange(count, dtype=np.int64))
    sink.report.update(report)
    return Decoded(count, classes=names_of["labels"],
                   code_names={c: names_of[c] for c, _, _ in spec.columns if c != "labels"})


def _index(file: BinaryIO, where: str, spec: Layout, split: str) -> tuple[dict[str, int], dict[str, bytes], dict]:
    """First pass: the split's members and their sizes, in split order, and the names files' bytes."""
    wanted = {f"{spec.folder}/{m}": m for m in spec.splits[split]}
    texts = {f"{spec.folder}/{f}": f for _, f, _ in spec.columns}
    sizes: dict[str, int] = {}
    names: dict[str, bytes] = {}
    others = 0
    with tar_members(file, where, _NEXT, max_bytes=MAX_ARCHIVE_BYTES) as members:
        for tar, member in members:
            label = _name(member.name)
            short = wanted.get(label) or texts.get(label)
            if short is None:
                others += 1  # folders, readme.html, unsafe names, anything else: never read
                continue
            if not member.isreg():
                raise FormatError(f"{where}: member {label} is a {_kind(member)}, not a file. {_NEXT}")
            if short in sizes or short in names:
                raise FormatError(f"{where}: member {label} appears twice; which one is meant cannot be told. "
                                  f"{_NEXT}")
            if label in wanted:
                if member.size == 0 or member.size % spec.record:
                    raise FormatError(f"{where}: member {label} is {member.size:,} bytes; expected whole records "
                                      f"of {spec.record:,} bytes ({spec.label_bytes} label byte(s) and "
                                      f"{PIXELS:,} pixels). {_NEXT}")
                sizes[short] = member.size
            else:
                if member.size > MAX_NAMES_BYTES:
                    raise FormatError(f"{where}: member {label} is {member.size:,} bytes; a names file takes a "
                                      f"few hundred. {_NEXT}")
                stream = tar.extractfile(member)
                names[short] = stream.read() if stream is not None else b""
    missing = [f"{spec.folder}/{m}" for m in (*spec.splits[split], *(f for _, f, _ in spec.columns))
               if m not in sizes and m not in names]
    if missing:
        raise FormatError(f"{where}: no member {', '.join(missing)}; the {split} split of a "
                          f"{spec.folder} archive needs it. {_NEXT}")
    ordered = {m: sizes[m] for m in spec.splits[split]}
    return ordered, names, {"members_ignored": others}


def _name(name: str) -> str:
    """A member's name as ``folder/file`` (``./`` and repeated slashes dropped); "" when unsafe."""
    parts = member_parts(name)
    return "/".join(parts) if parts is not None else ""


def _kind(member) -> str:
    if member.isdir():
        return "folder"
    if member.issym() or member.islnk():
        return "link"
    return "special file"


def _names(data: bytes, count: int, where: str) -> tuple[str, ...]:
    """The names in a names file (TFDS: lines, stripped, empty ones dropped), checked."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise FormatError(f"{where}: not ASCII text; the class names are plain ASCII, one per line. {_NEXT}") from None
    names = tuple(line.strip() for line in text.split("\n") if line.strip())
    bad = [n for n in names if not n.isprintable() or len(n) > 64]
    if len(names) != count or bad or len(set(names)) != count:
        shown = ", ".join(repr(n[:40]) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        raise FormatError(f"{where}: {len(names)} names ({shown}); expected {count} distinct printable names of "
                          f"at most 64 characters, one per line. {_NEXT}")
    return names


def _decode(file: BinaryIO, where: str, spec: Layout, split: str, members: dict[str, int], count: int,
            sink: Sink) -> dict[str, np.ndarray]:
    """Second pass: every record of the split's members, converted into the sink's ``images``."""
    offsets, position = {}, 0
    for short, size in members.items():
        offsets[short] = position
        position += size // spec.record
    images = sink.create("images", np.uint8, (count, 32, 32, 3))
    columns = {column: np.zeros(count, np.int64) for column, _, _ in spec.columns}
    done: set[str] = set()
    wanted = {f"{spec.folder}/{m}": m for m in members}
    with tar_members(file, where, _NEXT, max_bytes=MAX_ARCHIVE_BYTES) as entries:
        for tar, member in entries:
            found = wanted.get(_name(member.name))
            if found is None or found in done:
                continue
            short = found
            if not member.isreg() or member.size != members[short]:  # the first pass saw other bytes
                raise FormatError(f"{where}: member {short} changed while it was read. {_NEXT}")
            stream = tar.extractfile(member)
            if stream is None:  # pragma: no cover - a regular member always has one
                raise FormatError(f"{where}: member {short} cannot be read. {_NEXT}")
            first, records = offsets[short], member.size // spec.record
            for start in range(0, records, CHUNK_RECORDS):
                k = min(CHUNK_RECORDS, records - start)
                data = stream.read(k * spec.record)
                if len(data) != k * spec.record:
                    raise FormatError(f"{where}: member {short} ends after {start + len(data) // spec.record:,} of "
                                      f"{records:,} records: the archive is truncated. {_NEXT}")
                rows = np.frombuffer(data, np.uint8).reshape(k, spec.record)
                at = slice(first + start, first + start + k)
                for i, (column, _, n) in enumerate(spec.columns):
                    values = rows[:, i]
                    if values.max() >= n:
                        bad = int(np.argmax(values >= n))
                        raise FormatError(f"{where}: member {short}, record {start + bad:,}: {column} "
                                          f"{values[bad]}; expected 0..{n - 1}. {_NEXT}")
                    columns[column][at] = values
                # (k, channel, row, column) as stored -> (k, row, column, channel)
                images[at] = rows[:, spec.label_bytes:].reshape(k, 3, 32, 32).transpose(0, 2, 3, 1)
            done.add(short)
    if hasattr(images, "flush"):
        images.flush()  # a memory-mapped array (the cache's) is written to its file now
    if done != set(members):  # pragma: no cover - only if the file changed between the passes
        raise FormatError(f"{where}: members {sorted(set(members) - done)} vanished between two reads. {_NEXT}")
    return columns
