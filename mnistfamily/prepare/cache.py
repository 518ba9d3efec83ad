"""Writing prepared entries: built in a marked temporary area, renamed into place under a lock.

An entry (see :mod:`.entry` for its layout and for reading it) is built by an
:class:`EntryWriter` in a temporary area of :mod:`mnistfamily.safe_write`
(``prepared/<dataset>/.mnistfamily-tmp-<32 hex>/``, holding the area's owner marker), the
manifest is written last, and the area itself is renamed onto ``<split>@<key>``: readers see a
complete entry or none, and no empty area is left behind by a process killed right after the
rename (the entry keeps the marker: who built it, where and when). :func:`build_entry` does this under
the entry's lock, so N processes build an entry once, and first removes what killed builders
left (areas proved ours by their marker) and any damaged entry in the way.

This module is the cold path; a warm load reads entries through :mod:`.entry` alone.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from ..errors import CacheError
from ..log import logger
from .entry import (MANIFEST, PREPARE_VERSION, PreparedEntry, _crc32, _crc_update, entry_dir, entry_key,
                    foreign_contents, inspect_entry, read_entry, verify_entry)

if TYPE_CHECKING:
    from ..safe_write import TempArea

__all__ = ["MANIFEST", "PREPARE_VERSION", "ArrayStream", "EntryWriter", "PreparedEntry", "build_entry",
           "discard_entry", "entry_dir", "entry_key", "read_entry", "verify_entry"]


def build_entry(final: Path, what: str, build: Callable[["EntryWriter"], dict],
                required: Iterable[str] = (), *, outdated: Callable[[dict], bool] | None = None) -> PreparedEntry:
    """The entry at ``final``: read if complete, else built once by ``build`` and returned.

    Under the entry's lock (so N processes build it once): what killed builders left is
    removed, a complete entry is simply read, a damaged one (no manifest, a manifest we did
    not write, an array that does not match it, a ``required`` array missing) is removed, and
    otherwise ``build(writer)`` fills an :class:`EntryWriter` and returns the manifest, which
    is committed. ``outdated(manifest)``, when given, says whether a complete entry was made
    from other inputs than the current ones (files without a checksum), so that it is replaced.
    Any write error (a full disk) is a :class:`CacheError` naming ``what`` and the folder;
    nothing half-written stays behind.
    """
    from .. import safe_write  # the writers' imports stay off the warm (read-only) path
    from ..errors import MnistFamilyError

    required = tuple(required)
    safe_write.make_folder(final.parent)
    with safe_write.locked(final, f"preparing {what}"):
        safe_write.remove_leftovers(final.parent, final.name, "an interrupted preparation")
        entry, damage = inspect_entry(final, required)
        if entry is not None and (outdated is None or not outdated(entry.manifest)):
            return entry
        if entry is not None:
            logger("mnistfamily.prepare").info(
                "prepared cache entry %s was made from other copies of unverified files; rebuilding it", final)
            del entry
            discard_entry(final)
        elif damage is not None:
            logger("mnistfamily.prepare").warning("prepared cache entry %s is damaged (%s); rebuilding it", final, damage)
            discard_entry(final)
        try:
            with EntryWriter(final) as writer:  # on any error the temporary area is removed
                writer.commit(build(writer))
        except OSError as exc:
            if isinstance(exc, MnistFamilyError):
                raise
            raise CacheError.cannot_write(what, final.parent, exc) from exc
        entry, damage = inspect_entry(final, required)
    if entry is None:  # pragma: no cover - only if the disk changed what was just written
        raise CacheError(f"prepared entry {final} does not read back right after it was written ({damage}); "
                         "check the disk, or pass data_dir= a folder on another one.")
    return entry


def discard_entry(path: Path) -> bool:
    """Remove the entry folder at ``path`` atomically; False when it was already gone.

    Call with the entry's lock held. The folder is first moved into a marked temporary area
    (one rename: readers see the whole entry or nothing), then the area is deleted; a process
    killed in between leaves an area that the next writer of this entry removes. A folder
    holding anything mnistfamily does not write there is never deleted: that is a
    :class:`CacheError` naming what was found.
    """
    from .. import safe_write

    if not os.path.lexists(path):
        return False
    if path.is_symlink() or not path.is_dir():
        raise CacheError(f"{path}: a prepared entry (a folder) belongs here, but this is a "
                         f"{'link' if path.is_symlink() else 'file'}, which mnistfamily never writes, so it was "
                         "not deleted. Move it elsewhere (or delete it yourself) and load again.")
    foreign = foreign_contents(path)
    if foreign:
        listing = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise CacheError(f"{path}: the prepared entry must be rebuilt, but its folder holds what mnistfamily "
                         f"never writes there ({listing}), so it was not deleted. Move those files elsewhere "
                         "(or delete the folder yourself) and load again.")
    try:
        with safe_write.temp_area(path.parent, path.name) as area:
            os.replace(path, area.path / path.name)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise CacheError(f"{path}: the prepared entry must be rebuilt, but it cannot be removed "
                         f"({exc.strerror or exc}). Make the cache writable, or pass data_dir= another "
                         "folder.") from None
    return True


class EntryWriter:
    """Builds an entry in a marked temporary area; ``commit`` renames it into place.

    Arrays are created as writable memory-mapped ``.npy`` files (``open_memmap``), or streamed
    front to back (:meth:`stream`), so large splits are decoded straight to disk without a
    second copy in memory.
    """

    def __init__(self, final: Path):
        self.final = Path(final)
        self.area: TempArea | None = None
        #: the folder the arrays are written into: the temporary area itself
        self.tmp = self.final
        self.arrays: dict[str, dict] = {}
        #: facts a builder found while decoding (e.g. unreadable images skipped); kept in the
        #: manifest and shown by ``Dataset.info.report``
        self.report: dict[str, object] = {}

    def __enter__(self) -> "EntryWriter":
        from ..safe_write import TempArea

        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.area = TempArea(self.final.parent, self.final.name)
            self.tmp = self.area.path
        except OSError as exc:
            raise CacheError(f"cannot create a temporary folder in {self.final.parent}: "
                             f"{exc.strerror or exc}. Check that the cache root is writable, or pass "
                             "data_dir= another folder.") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.area is not None:
            self.area.remove()  # nothing left to remove once committed: the area became the entry

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
                dtype, shape, offset, crc = written.dtype, written.shape, written.offset, written.crc32
            else:
                array = np.load(file, mmap_mode="r", allow_pickle=False)
                dtype, shape, offset, crc = array.dtype, array.shape, array.offset, _crc32(file)
                del array
            described[name] = {
                "file": meta["file"], "dtype": dtype.str, "shape": list(shape), "offset": offset,
                "bytes": file.stat().st_size, "crc32": crc,
            }
        images, offsets = described.get("images"), described.get("offsets")
        count = images["shape"][0] if images else offsets["shape"][0] - 1 if offsets and offsets["shape"] else None
        manifest = {**manifest, "arrays": described, "report": self.report, "num_examples": count}
        (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        try:
            os.rename(self.tmp, self.final)  # the whole area becomes the entry, its owner marker included
        except OSError:
            if not (self.final / MANIFEST).exists():
                raise
            # another process committed the same entry first; ours goes with the area
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
        #: where the data starts: the header's length, recorded in the manifest
        self.offset = len(header.getvalue())
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
