"""Files published as members of a zip archive (EMNIST's ``gzip.zip``).

A member with its own checksum is read straight out of the archive wherever the archive
lives: from a local copy, or over HTTP with range requests (only the zip's central
directory and the member's bytes cross the network, not the whole archive). When the
server does not answer ranges, or the member has no checksum of its own, the whole
archive is fetched and verified once, and members are extracted from the cached copy.

Member names come from the registry and are only ever compared with the names inside
the archive; extracted bytes are written under the registry's file name, never under a
name taken from the archive.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path
from typing import BinaryIO

from .. import safe_write
from ..config import FetchSettings
from ..errors import CacheError, ChecksumError, DownloadError, FormatError, MnistFamilyError, UnverifiedFileError
from ..formats.compression import stream_length
from ..formats.zipmember import ZIP_READ_ERRORS, check_member
from ..registry import DatasetSpec, FileSpec
from .attempts import fetch_from, temp_area
from .locations import Location, cached_path
from .transfer import classify, missing_backend, open_random_access
from .verify import Verification, verify_file

log = logging.getLogger("mnistfamily.fetch")
_CHUNK = 1 << 20


def extract_member(archive: BinaryIO, file: FileSpec, target: Path, where: str) -> None:
    """Copy ``file.member`` out of an open zip into ``target`` (a temporary path), bounded.

    The member's declared sizes are checked against the archive's length and what deflate
    can produce before a byte is written (:func:`~mnistfamily.formats.zipmember.check_member`),
    so ``target`` never grows past what the archive could hold; a member whose data ends
    early, or fails to decompress, is a :class:`~mnistfamily.errors.FormatError`. Only
    ``target`` is written: the member's name is looked up, never used as a path.
    """
    written = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(file.member or "")
            except KeyError:
                raise FormatError(f"{where}: the archive has no member {file.member!r}; it is not the "
                                  "published archive.") from None
            if info.is_dir():
                raise FormatError(f"{where}: {file.member!r} is a folder in the archive, not a file.")
            if file.size is not None and info.file_size != file.size:
                raise ChecksumError(f"{where}: member {file.member} declares {info.file_size:,} bytes, "
                                    f"the registry expects {file.size:,}.")
            check_member(info, stream_length(archive), where)
            # ZipExtFile stops at the declared size and checks the CRC at the end
            with zf.open(info) as src, _open_target(target) as out:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    out.write(chunk)
                    written += len(chunk)
    except (FormatError, ChecksumError, CacheError):
        raise
    except ZIP_READ_ERRORS as exc:
        raise FormatError(f"{where}: not a valid zip archive, or member {file.member!r} is damaged "
                          f"({type(exc).__name__}: {exc}). Delete the archive and fetch it again.") from None
    if written != info.file_size:  # zipfile stops quietly when a deflate stream ends early
        raise FormatError(f"{where}: member {file.member!r} declares {info.file_size:,} bytes but holds "
                          f"{written:,}. The archive is damaged; delete it and fetch it again.")


class _open_target:
    """``open(target, "wb")`` whose errors are :class:`CacheError`: our disk's, told apart from the archive's."""

    def __init__(self, target: Path):
        self._target = target
        try:
            self._file = open(target, "wb")
        except OSError as exc:
            raise CacheError.cannot_write(target.name, target.parent, exc) from None

    def __enter__(self) -> "_open_target":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def write(self, chunk: bytes) -> None:
        try:
            self._file.write(chunk)
        except OSError as exc:
            raise CacheError.cannot_write(self._target.name, self._target.parent, exc) from None


def fetch_member(spec: DatasetSpec, file: FileSpec, *, root: Path, settings: FetchSettings
                 ) -> tuple[Path, Verification]:
    """A verified local copy of an archive member (see the module docstring)."""
    from .files import check_cached, fetch_file, locations_for, make_folder, remove_leftovers

    archive = spec.file(file.archive or "")
    target = cached_path(root, spec, file)
    source = settings.source
    if not file.verifiable:
        if not archive.verifiable and not settings.unverified_allowed():
            raise UnverifiedFileError(
                f"{spec.name}: neither {file.name} nor its archive {archive.name} has a checksum in the "
                "registry. Pass allow_unverified=True to use them anyway.")
        # trusted only as part of the verified archive: extract afresh from it every time
        archive_path, archive_check = fetch_file(spec, archive, root=root, settings=settings)
        _extract_locked(archive_path, file, target, f"{spec.name}: {archive_path}")
        return target, Verification("archive", target.stat().st_size, sha256=archive_check.sha256,
                                    md5=archive_check.md5)

    if target.exists():
        checked = check_cached(target, file, spec)
        if checked is not None:
            return target, checked
    make_folder(target.parent)
    with safe_write.locked(target, f"extracting {file.name} from {archive.name} ({spec.name})"):
        remove_leftovers(target)
        if target.exists():
            checked = check_cached(target, file, spec)
            if checked is not None:
                return target, checked
        rejected_member: DownloadError | None = None
        if source is not None:  # a folder of already-extracted members is common: look there first
            from .locations import source_locations

            member_locations = source_locations(os.fspath(source), spec, file)
            try:
                return target, fetch_from(member_locations, spec, file, target, settings)
            except DownloadError as exc:  # look for the archive; a copy that was there but wrong is reported
                if any(loc.protocol == "" and os.path.isfile(loc.url) for loc in member_locations):
                    rejected_member = exc
        cached_archive = cached_path(root, spec, archive)
        failures: list[str] = []
        if cached_archive.exists():
            result = _try(lambda: open(cached_archive, "rb"), file, target, str(cached_archive), failures)
            if result is not None:
                return target, result
        for location in locations_for(spec, archive, settings, target):
            if location.protocol == "" and not os.path.isfile(location.url):
                continue
            missing = missing_backend(location.protocol)
            if missing is not None:
                failures.append(f"{location.shown}: the {location.protocol}:// protocol {missing}")
                continue
            result = _try(lambda loc=location: open_random_access(loc, settings),
                          file, target, location.shown, failures)
            if result is not None:
                log.info("%s read from %s without downloading the whole archive", file.name, location.shown)
                return target, result
        log.info("reading %s from %s member by member failed (%s); fetching the whole archive",
                 file.name, archive.name, "; ".join(failures) or "no location")
        try:
            archive_path, _ = fetch_file(spec, archive, root=root, settings=settings)
        except DownloadError as exc:
            if rejected_member is not None:
                raise DownloadError(f"{rejected_member}\nNor is the archive there: {exc}") from None
            if failures:
                raise DownloadError(f"{exc}\nReading the member directly also failed:\n"
                                    + "\n".join(f"  - {f}" for f in failures)) from None
            raise
        result = _try(lambda: open(archive_path, "rb"), file, target, str(archive_path), failures)
        if result is None:
            raise DownloadError(f"{spec.name}: {file.name} could not be taken from the verified archive "
                                f"{archive_path}:\n" + "\n".join(f"  - {f}" for f in failures))
        return target, result


def _try(opener, file: FileSpec, target: Path, where: str, failures: list[str]) -> Verification | None:
    area = temp_area(target)
    tmp = area.file()
    try:
        with opener() as handle:
            extract_member(handle, file, tmp, where)
        result = verify_file(tmp, file)
        area.commit(tmp, target)
        return result
    except CacheError:
        raise  # our own disk failed (full?): no other location can help
    except (FormatError, ChecksumError) as exc:
        failures.append(f"{where}: {str(exc).split(': ', 1)[-1]}")
    except MnistFamilyError:
        raise  # a setting the user must fix (ConfigError, ...): the same at every location
    except Exception as exc:  # noqa: BLE001 - every transport failure is classified and reported
        failures.append(f"{where}: {classify(exc).reason}")
    finally:
        area.remove()
    return None


def _extract_locked(archive_path: Path, file: FileSpec, target: Path, where: str) -> None:
    from .files import make_folder, remove_leftovers

    make_folder(target.parent)
    with safe_write.locked(target, f"extracting {file.name} from {archive_path.name}"):
        remove_leftovers(target)
        area = temp_area(target)
        try:
            tmp = area.file()
            with open(archive_path, "rb") as handle:
                extract_member(handle, file, tmp, where)
            area.commit(tmp, target)
        finally:
            area.remove()


__all__ = ["extract_member", "fetch_member", "Location"]
