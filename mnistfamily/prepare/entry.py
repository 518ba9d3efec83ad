"""A prepared entry: where it lives, what its manifest must say, and reading it back.

An entry is a folder ``<root>/prepared/<dataset>/<split>@<key>/`` holding one ``.npy`` per
array and ``manifest.json``. ``@`` cannot appear in a dataset name (see
:mod:`mnistfamily.registry.names`), so an entry's folder never coincides with the folder of
another dataset (``prepared/mnist/test@<key>/`` is MNIST's test split; a dataset called
``mnist/test-8f8b384ae5db8a26`` lives in ``prepared/mnist/test-8f8b384ae5db8a26/``). The key
hashes everything the arrays depend on (the source files' checksums and the preparation
recipe), so a changed registry entry never reuses an old entry.

This module is the warm path: it only reads. A warm load parses the manifest, checks it is one
we wrote (every field of the right type, file names that stay inside the entry), then opens
each ``.npy`` file and compares its whole header with the manifest (dtype, shape, C order,
header length) and its size with the data the header promises, before memory-mapping it.
Nothing is hashed (``verify_entry`` rehashes on demand) and nothing is removed: an entry that
fails a check is reported as damaged, and the writer (:mod:`.cache`), holding the entry's
lock, removes and rebuilds it.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

try:  # the C module itself: hashlib would also load OpenSSL, which a warm load does not need
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - Python builds without it
    from hashlib import blake2b

import numpy as np
from numpy.lib import format as npy_format

from .. import config

#: bump when the layout or the meaning of prepared arrays changes: old entries are then ignored
#: (2: entries moved from ``<split>-<key>`` to ``<split>@<key>``; manifests record each header's length)
PREPARE_VERSION = 2
MANIFEST = "manifest.json"
#: between the split and the key of an entry's folder name; never part of a dataset or split name
KEY_SEPARATOR = "@"
#: an entry folder's name, as :func:`entry_dir` makes it
ENTRY_NAME = re.compile(r"(?P<split>[a-z0-9][a-z0-9_-]*)@(?P<key>[0-9a-f]{16})")
#: an array's name (``images``, ``meta.writer_id``, ``extra.t``); its file is ``<name>.npy``
ARRAY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
#: what an entry folder may hold (its arrays, the manifest, the marker of the temporary area it was
#: built in): everything else in it was not written by mnistfamily
ENTRY_FILE = re.compile(r"manifest\.json|\.mnistfamily-owner\.json|[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}\.npy")
#: our manifests are a few kilobytes; a larger file is not one of them and is not read whole
MAX_MANIFEST_BYTES = 16 << 20


def entry_key(recipe: dict) -> str:
    """A short stable hash of a JSON-serialisable recipe."""
    blob = json.dumps({"prepare_version": PREPARE_VERSION, **recipe}, sort_keys=True).encode()
    return blake2b(blob, digest_size=8).hexdigest()


def entry_dir(root: Path, dataset: str, split: str, key: str) -> Path:
    """Folder of one prepared entry: ``<root>/prepared/<dataset>/<split>@<key>``."""
    return config.prepared_dir(root) / dataset / f"{split}{KEY_SEPARATOR}{key}"


@dataclass(frozen=True)
class PreparedEntry:
    """A complete cache entry: its memory-mapped arrays and its manifest."""

    path: Path
    arrays: dict[str, np.ndarray]
    manifest: dict


class EntryDamage(Exception):
    """Why an entry cannot be used (internal: turned into a log line, a ``verify`` problem or a rebuild)."""


def read_entry(path: Path, required: Iterable[str] = ()) -> PreparedEntry | None:
    """Memory-map a complete entry; None when it is absent or damaged (nothing is removed here).

    ``required`` names arrays the caller will use: an entry without one of them is damaged.
    """
    entry, _ = inspect_entry(path, required)
    return entry


def inspect_entry(path: Path, required: Iterable[str] = ()) -> tuple[PreparedEntry | None, str | None]:
    """``(entry, None)`` when complete, ``(None, None)`` when absent, ``(None, why)`` when damaged."""
    try:
        with open(path / MANIFEST, "rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        return None, (f"no {MANIFEST}" if os.path.lexists(path) else None)
    except NotADirectoryError:
        return None, "not a folder"
    except OSError as exc:
        return None, f"unreadable {MANIFEST} ({exc.strerror or exc})"
    try:
        manifest = parse_manifest(raw)
        arrays = {name: _open_array(path, name, record) for name, record in manifest["arrays"].items()}
        for name in required:
            if name not in arrays:
                raise EntryDamage(f"{MANIFEST} lists no array {name!r}")
    except EntryDamage as exc:
        return None, str(exc)
    return PreparedEntry(path, arrays, manifest), None


def parse_manifest(raw: bytes) -> dict[str, Any]:
    """The manifest in ``raw`` when it is one we wrote, field by field; else :class:`EntryDamage`.

    Every value a reader uses is checked for its type, and every file name it gives must be
    ``<array name>.npy``, so nothing read from the manifest becomes a path outside the entry.
    """
    if len(raw) > MAX_MANIFEST_BYTES:
        raise EntryDamage(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES:,} bytes")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EntryDamage(f"unreadable {MANIFEST} ({type(exc).__name__}: {exc})") from None
    if not isinstance(manifest, dict):
        raise EntryDamage(f"{MANIFEST} holds a {type(manifest).__name__}, not an object")
    arrays = manifest.get("arrays")
    if not isinstance(arrays, dict) or not arrays:
        raise EntryDamage(f"{MANIFEST} has no arrays (found {_shown(arrays)})")
    for name, record in arrays.items():
        _check_record(name, record)
    report = manifest.get("report", {})
    if not isinstance(report, dict):
        raise EntryDamage(f"{MANIFEST}: 'report' is {_shown(report)}, not an object")
    columns = report.get("metadata_columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) and f"meta.{c}" in arrays for c in columns):
        raise EntryDamage(f"{MANIFEST}: 'metadata_columns' {_shown(columns)} do not all name arrays")
    return manifest


def _check_record(name: object, record: object) -> None:
    if not isinstance(name, str) or ARRAY_NAME.fullmatch(name) is None:
        raise EntryDamage(f"{MANIFEST} names an array {_shown(name)}")
    if not isinstance(record, dict):
        raise EntryDamage(f"{MANIFEST}: array {name!r} is described by {_shown(record)}, not an object")
    if record.get("file") != f"{name}.npy":
        raise EntryDamage(f"{MANIFEST}: array {name!r} is in file {_shown(record.get('file'))}, not {name}.npy")
    shape = record.get("shape")
    if not isinstance(record.get("dtype"), str) or not isinstance(shape, list) or not all(
            type(d) is int and d >= 0 for d in shape):
        raise EntryDamage(f"{MANIFEST}: array {name!r} has dtype {_shown(record.get('dtype'))} and shape "
                          f"{_shown(shape)}")
    for field in ("bytes", "offset"):
        if type(record.get(field)) is not int or record[field] < 0:
            raise EntryDamage(f"{MANIFEST}: array {name!r} has {field} {_shown(record.get(field))}")


def _open_array(path: Path, name: str, record: dict) -> np.ndarray:
    """Memory-map one array after checking its file's header and size against ``record``."""
    file = path / record["file"]
    try:
        expected = np.dtype(record["dtype"])
    except (TypeError, ValueError) as exc:
        raise EntryDamage(f"{MANIFEST}: array {name!r} has dtype {record['dtype']!r} ({exc})") from None
    if expected.hasobject:  # object arrays need pickle: never ours
        raise EntryDamage(f"{MANIFEST}: array {name!r} has dtype {record['dtype']!r}, which holds objects")
    shape = tuple(record["shape"])
    try:
        with open(file, "rb") as f:
            shape_found, fortran_order, dtype = _read_header(f)
            offset = f.tell()
            size = os.fstat(f.fileno()).st_size
            found = f"{dtype.str}{shape_found}, fortran_order={fortran_order}, header {offset} bytes"
            if (dtype.str != record["dtype"] or shape_found != shape or fortran_order
                    or offset != record["offset"]):
                raise EntryDamage(f"{file.name} holds {found}; the manifest says {record['dtype']}{shape}, "
                                  f"C order, header {record['offset']} bytes")
            data = math.prod(shape) * dtype.itemsize
            if size != record["bytes"] or size != offset + data:
                raise EntryDamage(f"{file.name} is {size:,} bytes; its header and the manifest say "
                                  f"{offset + data:,} ({record['bytes']:,} in the manifest)")
            return np.memmap(f, dtype=dtype, mode="r", offset=offset, shape=shape)
    except OSError as exc:
        raise EntryDamage(f"{file.name}: {exc.strerror or exc}") from None
    except ValueError as exc:  # numpy's own words for a header it cannot parse
        raise EntryDamage(f"{file.name}: not a valid .npy header ({exc})") from None


def _read_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The (shape, fortran_order, dtype) of an open ``.npy`` file; leaves ``f`` at the data."""
    version = npy_format.read_magic(f)
    if version == (1, 0):
        return npy_format.read_array_header_1_0(f)
    if version == (2, 0):
        return npy_format.read_array_header_2_0(f)
    raise ValueError(f"format version {version[0]}.{version[1]}, which mnistfamily does not write")


def verify_entry(path: Path, required: Iterable[str] = ()) -> list[str]:
    """Check an entry's manifest and headers, and rehash every array; return the problems found.

    Never raises for a damaged entry: whatever is wrong becomes a line of the result.
    """
    entry, damage = inspect_entry(path, required)
    if entry is None:
        return [f"{path}: {damage or 'missing'}"]
    problems = []
    for name, record in entry.manifest["arrays"].items():
        file = path / record["file"]
        if _crc32(file) != record.get("crc32"):
            problems.append(f"{file}: content differs from the manifest (CRC-32)")
    return problems


def foreign_contents(path: Path) -> list[str]:
    """What in an entry folder mnistfamily did not write (empty when every file is ours).

    Only ``manifest.json``, ``<array>.npy`` and the owner marker, as regular files, are ours; a
    folder, a link or any other name is not, and so is ``path`` itself when it is not a real folder.
    """
    if path.is_symlink() or not path.is_dir():
        return [path.name]
    return sorted(child.name for child in path.iterdir()
                  if child.is_symlink() or not child.is_file() or ENTRY_FILE.fullmatch(child.name) is None)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@functools.cache
def _crc_function() -> Callable[[Any, int], int]:
    """ISA-L's CRC-32 when installed (same values, ~3x faster than zlib's), else zlib's;
    looked up on first use because the warm path never hashes."""
    try:
        from isal.isal_zlib import crc32
        return crc32
    except ImportError:  # pragma: no cover - depends on the environment
        return zlib.crc32


def _crc_update(data: Any, crc: int) -> int:
    """CRC-32 of ``data``, continuing from ``crc``."""
    return _crc_function()(data, crc)


def _crc32(path: Path) -> str:
    # CRC-32 catches disk and copy damage at a fraction of sha256's cost on the cold path;
    # the cache is the user's own, so a cryptographic hash buys nothing here.
    crc = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            crc = _crc_update(chunk, crc)
    return f"{crc:08x}"
