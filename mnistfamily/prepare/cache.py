"""The prepared cache: decoded arrays as .npy files plus a manifest, memory-mapped on reuse.

An entry is a folder ``<root>/prepared/<dataset>/<split>-<key>/`` holding one ``.npy`` per
array and ``manifest.json``. The key hashes everything the arrays depend on (the source
files' checksums and the preparation recipe), so a changed registry entry never reuses an
old entry. Entries are built in a temporary folder beside the final one and renamed into
place: readers see a complete entry or none. A later load reads only the manifest and
memory-maps the arrays, with no hashing (``mnistfamily verify`` rehashes on demand).
"""

from __future__ import annotations

import functools
import io
import json
import os
import zlib
from typing import Any, Callable

try:  # the C module itself: hashlib would also load OpenSSL, which a warm load does not need
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - Python builds without it
    from hashlib import blake2b
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import config
from ..errors import CacheError



def _log():
    """The module's logger; ``logging`` is imported only when something is logged."""
    import logging

    return logging.getLogger("mnistfamily.prepare")

#: bump when the layout or the meaning of prepared arrays changes: old entries are then ignored
PREPARE_VERSION = 1
MANIFEST = "manifest.json"


def entry_key(recipe: dict) -> str:
    """A short stable hash of a JSON-serialisable recipe."""
    blob = json.dumps({"prepare_version": PREPARE_VERSION, **recipe}, sort_keys=True).encode()
    return blake2b(blob, digest_size=8).hexdigest()


def entry_dir(root: Path, dataset: str, split: str, key: str) -> Path:
    """Folder of one prepared entry."""
    return config.prepared_dir(root) / dataset / f"{split}-{key}"


@dataclass(frozen=True)
class PreparedEntry:
    """A complete cache entry: its memory-mapped arrays and its manifest."""

    path: Path
    arrays: dict[str, np.ndarray]
    manifest: dict


def read_entry(path: Path) -> PreparedEntry | None:
    """Memory-map a complete entry; None when absent. A damaged entry is removed and None returned."""
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _discard(path, f"unreadable manifest ({exc})")
        return None
    arrays: dict[str, np.ndarray] = {}
    try:
        for name, meta in manifest["arrays"].items():
            file = path / meta["file"]
            if file.stat().st_size != meta["bytes"]:
                raise ValueError(f"{file.name} is {file.stat().st_size} bytes, manifest says {meta['bytes']}")
            array = np.load(file, mmap_mode="r", allow_pickle=False)
            if list(array.shape) != meta["shape"] or array.dtype.str != meta["dtype"]:
                raise ValueError(f"{file.name} holds {array.dtype.str}{array.shape}, manifest says "
                                 f"{meta['dtype']}{tuple(meta['shape'])}")
            arrays[name] = array
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _discard(path, str(exc))
        return None
    return PreparedEntry(path, arrays, manifest)


def build_entry(final: Path, what: str, build: Callable[["EntryWriter"], dict]) -> PreparedEntry:
    """The entry at ``final``: read if complete, else built once by ``build`` and returned.

    Under the entry's lock (so N processes build it once): what killed builders left is
    removed, a complete entry is simply read, and otherwise ``build(writer)`` fills an
    :class:`EntryWriter` and returns the manifest, which is committed. Any write error (a
    full disk) is a :class:`CacheError` naming ``what`` and the folder; nothing half-written
    stays behind.
    """
    from filelock import FileLock  # the writers' imports stay off the warm (read-only) path

    from ..errors import MnistFamilyError
    from ..fetch import make_folder

    make_folder(final.parent)
    with FileLock(str(final) + ".lock", timeout=3600):
        remove_leftovers(final)
        entry = read_entry(final)
        if entry is not None:
            return entry
        try:
            with EntryWriter(final) as writer:  # on any error the temporary folder is removed
                writer.commit(build(writer))
        except OSError as exc:
            if isinstance(exc, MnistFamilyError):
                raise
            raise CacheError.cannot_write(what, final.parent, exc) from exc
    entry = read_entry(final)
    if entry is None:  # pragma: no cover - only if the folder vanished under us
        raise CacheError(f"prepared entry {final} disappeared right after it was written")
    return entry


def remove_leftovers(final: Path) -> None:
    """Delete what killed processes left beside ``final``: temporary and half-deleted entries.

    Call only with ``final``'s lock held: every :class:`EntryWriter` of ``final`` holds that
    lock while it works, so a ``.tmp-<name>-*`` folder found now belongs to a dead process.
    """
    import shutil

    for prefix in (f".tmp-{final.name}-", f".trash-{final.name}-"):
        for stale in final.parent.glob(f"{prefix}*"):
            _log().info("removing %s, left by an interrupted preparation", stale)
            shutil.rmtree(stale, ignore_errors=True)


def _discard(path: Path, why: str) -> None:
    _log().warning("prepared cache entry %s is damaged (%s); rebuilding it", path, why)
    import shutil
    import uuid

    trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(path, trash)  # atomic: nobody sees the half-deleted entry
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


class EntryWriter:
    """Builds an entry in a temporary folder; ``commit`` renames it into place.

    Arrays are created as writable memory-mapped ``.npy`` files (``open_memmap``), so large
    splits are decoded straight to disk without a second copy in memory.
    """

    def __init__(self, final: Path):
        import uuid  # the writers' imports stay off the warm (read-only) path

        self.final = final
        self.tmp = final.with_name(f".tmp-{final.name}-{uuid.uuid4().hex[:8]}")
        self.arrays: dict[str, dict] = {}
        #: facts a builder found while decoding (e.g. unreadable images skipped); kept in the
        #: manifest and shown by ``Dataset.info.report``
        self.report: dict[str, object] = {}

    def __enter__(self) -> "EntryWriter":
        try:
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            raise CacheError(f"cannot create {self.tmp}: {exc.strerror}. Check that the cache root "
                             "is writable, or pass data_dir= another folder.") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        import shutil

        if self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def create(self, name: str, dtype, shape: tuple[int, ...]) -> np.memmap:
        """A writable memory-mapped array to fill in place (for builders that fill out of order)."""
        file = f"{name}.npy"
        array = np.lib.format.open_memmap(self.tmp / file, mode="w+", dtype=np.dtype(dtype), shape=shape)
        self.arrays[name] = {"file": file}
        return array

    def stream(self, name: str, dtype, shape: tuple[int, ...]) -> "ArrayStream":
        """An ``.npy`` file written front to back: ``write`` the C-order bytes, then ``close``.

        The fastest way to write a large array that arrives in order: plain buffered writes
        (no page faults through a memory map) and the CRC-32 computed on the way, so
        ``commit`` does not read the file back.
        """
        file = f"{name}.npy"
        out = ArrayStream(self.tmp / file, np.dtype(dtype), tuple(shape))
        self.arrays[name] = {"file": file, "stream": out}
        return out

    def save(self, name: str, array: np.ndarray) -> None:
        """Write an in-memory array."""
        array = np.ascontiguousarray(array)
        with self.stream(name, array.dtype, array.shape) as out:
            out.write(array.reshape(-1).view(np.uint8).data)

    def commit(self, manifest: dict) -> Path:
        """Describe the arrays, write the manifest last, and rename the folder into place."""
        described = {}
        for name, meta in self.arrays.items():
            file = self.tmp / meta["file"]
            written: ArrayStream | None = meta.get("stream")
            if written is not None:
                if not written.closed:
                    raise CacheError(f"{file}: the builder did not finish writing {name}.")
                dtype, shape, crc = written.dtype, written.shape, written.crc32
            else:
                array = np.load(file, mmap_mode="r", allow_pickle=False)
                dtype, shape, crc = array.dtype, array.shape, _crc32(file)
                del array
            described[name] = {
                "file": meta["file"], "dtype": dtype.str, "shape": list(shape),
                "bytes": file.stat().st_size, "crc32": crc,
            }
        images = described.get("images")
        manifest = {**manifest, "arrays": described, "report": self.report,
                    "num_examples": images["shape"][0] if images else None}
        (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        try:
            os.rename(self.tmp, self.final)
        except OSError:
            if (self.final / MANIFEST).exists():  # another process committed the same entry first
                import shutil

                shutil.rmtree(self.tmp, ignore_errors=True)
            else:
                raise
        return self.final


class ArrayStream:
    """One ``.npy`` file written in order, with its CRC-32 computed as the bytes go by.

    ``close`` fails if fewer or more bytes were written than ``shape`` and ``dtype`` need,
    so a builder that stops early can never leave a short array behind.
    """

    def __init__(self, path: Path, dtype: np.dtype, shape: tuple[int, ...]):
        self.path, self.dtype, self.shape = path, dtype, shape
        self.expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        self.written = 0
        self.closed = False
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {
            "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
        self._file = open(path, "wb")
        self._crc = _crc_update(header.getvalue(), 0)
        self._file.write(header.getvalue())

    def write(self, data) -> None:
        """Append C-order bytes (any buffer)."""
        view = memoryview(data).cast("B")
        if self.written + len(view) > self.expected:
            raise CacheError(f"{self.path}: {self.written + len(view):,} bytes written for an array of "
                             f"{self.expected:,}; the builder is wrong.")
        self._crc = _crc_update(view, self._crc)
        self._file.write(view)
        self.written += len(view)

    def close(self) -> None:
        """Flush and check the length."""
        if self.closed:
            return
        self._file.close()
        if self.written != self.expected:
            raise CacheError(f"{self.path}: {self.written:,} bytes written for an array of {self.expected:,}; "
                             "the builder stopped early.")
        self.closed = True

    @property
    def crc32(self) -> str:
        return f"{self._crc:08x}"

    def __enter__(self) -> "ArrayStream":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # the entry is abandoned anyway: just release the file
            self._file.close()


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


def verify_entry(path: Path) -> list[str]:
    """Rehash every array of an entry against its manifest; return the problems found."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{path}: unreadable manifest ({exc})"]
    problems = []
    for name, meta in manifest.get("arrays", {}).items():
        file = path / meta["file"]
        if not file.exists():
            problems.append(f"{file}: missing")
        elif _crc32(file) != meta.get("crc32"):
            problems.append(f"{file}: content differs from the manifest (CRC-32)")
    return problems
