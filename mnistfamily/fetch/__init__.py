"""Fetch: a verified local copy of every file a split needs.

Order of business for one file: a verified copy already in the cache is used as is;
otherwise, under a per-file lock (:func:`mnistfamily.safe_write.locked`, which names its
holder to whoever waits), each location is tried in turn (``source=`` exclusively when given;
else mirrors, then the canonical URL). Each copy lands in a marked temporary area beside its
target (:func:`mnistfamily.safe_write.temp_area`), is checked against the registry's size and
hashes, and only then is renamed into place. The error after the last location lists every
location and why it failed. Every download of one load shares a retry budget
(:func:`.transfer.retry_budget`).

Two rules hold for every location. Credentials (``user:password@`` in a URL, secrets in
``storage_options``) never appear in a log record or an error message: they are replaced
by ``***``. A file the registry has no checksum for is never fetched over plain
``http://`` (except from a loopback host): see :func:`.locations.plain_http_refusal`.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import warnings
from pathlib import Path

from .. import config, safe_write
from ..errors import (CacheError, ChecksumError, DownloadError, InsecureTransportError, MnistFamilyError,
                      OfflineError, UnverifiedFileError)
from ..registry import DatasetSpec, FileSpec, packaged_data_dir
from ..redaction import redact, redact_records, redacting
from .locations import Location, failure_advice, plain_http_refusal, remote_locations, source_locations
from .transfer import TransferFailed, copy_to, missing_backend, retry_budget
from .verify import Verification, verify_file

__all__ = ["fetch_file", "cached_path", "missing_files_error", "Verification", "verify_file", "UnverifiedFileWarning",
           "retry_budget"]

log = logging.getLogger("mnistfamily.fetch")
redact_records(log)  # archive.py logs through this logger too

class UnverifiedFileWarning(UserWarning):
    """A file was used although the registry has no checksum to verify it against."""


def cached_path(root: Path, spec: DatasetSpec, file: FileSpec) -> Path:
    """Where the verified copy of ``file`` lives in the cache (or inside the package)."""
    if spec.packaged:
        return packaged_data_dir() / spec.family / file.name
    return config.downloads_dir(root) / spec.family / file.name


def fetch_file(
    spec: DatasetSpec,
    file: FileSpec,
    *,
    root: Path,
    source: str | os.PathLike[str] | None = None,
    download: bool = True,
    allow_unverified: bool | None = None,
    storage_options: dict | None = None,
) -> tuple[Path, Verification]:
    """Return a verified local path for ``file``, fetching it if needed.

    Errors raised from here never show credentials: URL user info, signed query values
    and the secret values of ``storage_options`` are replaced by ``***``.
    """
    with redacting(storage_options) as secrets, retry_budget():
        try:
            return _fetch_file(spec, file, root=root, source=source, download=download,
                               allow_unverified=allow_unverified, storage_options=storage_options)
        except MnistFamilyError as exc:
            # one choke point for every message, archive members' included
            exc.args = tuple(redact(a, secrets.values) if isinstance(a, str) else a for a in exc.args)
            raise


def _fetch_file(spec: DatasetSpec, file: FileSpec, *, root: Path, source, download: bool,
                allow_unverified: bool | None, storage_options: dict | None) -> tuple[Path, Verification]:
    if file.archive is not None:
        from .archive import fetch_member

        return fetch_member(spec, file, root=root, source=source, download=download,
                            allow_unverified=allow_unverified, storage_options=storage_options)
    allowed = config.allow_unverified(allow_unverified)
    if not file.verifiable and not allowed:
        raise UnverifiedFileError(
            f"{spec.name}: the registry has no checksum for {file.name}, so a copy cannot be verified. "
            "Pass allow_unverified=True (or set MNISTFAMILY_ALLOW_UNVERIFIED=1) to use it anyway, "
            "or add its sha256 to the registry."
        )
    if spec.packaged and source is None:
        path = cached_path(root, spec, file)
        return path, _accept(path, file, spec)

    target = cached_path(root, spec, file)
    # a cached copy nobody can verify is replaced by what source= holds: the caller says that is the file
    reuse = source is None or file.verifiable
    if reuse and target.exists():
        checked = _check_cached(target, file, spec)
        if checked is not None:
            return target, checked

    locations = _locations(spec, file, source, download, target)
    make_folder(target.parent)
    with safe_write.locked(target, f"downloading {file.name} ({spec.name})"):
        if reuse and target.exists():  # another process finished while we waited
            checked = _check_cached(target, file, spec)
            if checked is not None:
                return target, checked
        remove_leftovers(target)
        return target, _fetch_from(locations, spec, file, target, storage_options)


def remove_leftovers(target: Path) -> None:
    """Delete the temporary areas a killed download of ``target`` left beside it.

    Only called with ``target``'s lock held: every writer of ``target`` holds that lock while
    its area exists, so an area found now belongs to nobody. Areas are recognised by their
    marker (:func:`mnistfamily.safe_write.leftovers`), never by a name alone: a user's file
    beside the target is never deleted.
    """
    safe_write.remove_leftovers(target.parent, target.name, "an interrupted download")


def temp_area(target: Path) -> safe_write.TempArea:
    """A marked temporary area beside ``target``; failing to create it is a :class:`CacheError`."""
    try:
        return safe_write.TempArea(target.parent, target.name)
    except OSError as exc:
        raise CacheError.cannot_write(target.name, target.parent, exc) from None


def _accept(path: Path, file: FileSpec, spec: DatasetSpec, shown: Path | None = None,
            keep_payload: Path | None = None) -> Verification:
    result = verify_file(path, file, keep_payload=keep_payload)
    if result.method == "unverified":
        warnings.warn(
            f"{spec.name}: using {shown or path} without verification: the registry has no checksum "
            f"for {file.name}. Its content may differ from the published file.",
            UnverifiedFileWarning, stacklevel=4)
    return result


make_folder = safe_write.make_folder


def _check_cached(target: Path, file: FileSpec, spec: DatasetSpec) -> Verification | None:
    try:
        return _accept(target, file, spec)
    except ChecksumError as exc:
        log.warning("%s; removing the cached copy and fetching again", exc)
        target.unlink(missing_ok=True)
        return None


def _locations(spec: DatasetSpec, file: FileSpec, source, download: bool, target: Path) -> list[Location]:
    if source is not None:
        candidates = source_locations(os.fspath(source), spec, file)
    else:
        candidates = remote_locations(spec, file)
    offline = config.offline()
    if offline or not download:
        local = [c for c in candidates if not c.is_network]
        if len(local) < len(candidates) and not local:
            reason = "MNISTFAMILY_OFFLINE=1 is set" if offline else "download=False was given"
            if source is not None:
                raise OfflineError(
                    f"{spec.name}: {file.name} would come from {redact(os.fspath(source))}, a network location, "
                    f"but {reason}. "
                    "Unset it, or pass source= a local folder holding the file.")
            raise missing_files_error(spec, [file.name], target.parent, reason)
        candidates = local
    if not candidates:
        raise DownloadError(f"{spec.name}: the registry gives no location for {file.name}.")
    if source is not None:  # every candidate shares source='s protocol: say it once, before trying any
        missing = missing_backend(candidates[0].protocol)
        if missing is not None:
            raise DownloadError(
                f"{spec.name}: source={redact(os.fspath(source))!r} cannot be read: the "
                f"{candidates[0].protocol}:// protocol {missing}. Or copy the files into a local folder "
                "and pass source= that folder.")
    return candidates


def missing_files_error(spec: DatasetSpec, names: list[str], folder: Path, reason: str) -> OfflineError:
    """The error for files that are not cached while the network is off limits."""
    listed = ", ".join(names)
    what = f"{listed} is" if len(names) == 1 else f"{len(names)} files are"
    return OfflineError(
        f"{spec.name}: {what} not in the cache ({folder}) and {reason}, so nothing was downloaded"
        + ("" if len(names) == 1 else f": {listed}") + ". Put the files (as published, or uncompressed) "
        "in a folder and pass source=that folder, or run once with network access.",
        missing=names, reason=reason)


def size_limit(file: FileSpec) -> tuple[int, str]:
    """The most bytes a copy of ``file`` may have, and where that bound comes from.

    The registry's size (or its payload's: a mirror may hold the file uncompressed); for a file
    whose size the registry does not know, ``MNISTFAMILY_MAX_UNKNOWN_SIZE``.
    """
    cap = config.max_unknown_size()  # read every time: a bad setting is an error before any request
    sizes = [s for s in (file.size, file.payload_size) if s is not None]
    if sizes:
        return max(sizes), "the registry's size"
    return cap, "MNISTFAMILY_MAX_UNKNOWN_SIZE, the cap for a file whose size the registry does not know"


def _fetch_from(locations: list[Location], spec: DatasetSpec, file: FileSpec, target: Path,
                storage_options: dict | None) -> Verification:
    limit, limit_reason = size_limit(file)
    failures: list[str] = []
    refused = 0
    # hosts that could not be reached at all (no such name, connection refused), with the index of
    # their line in ``failures`` and how many more of their locations were skipped: source='s name
    # variants all live on one host, and asking a host that is not there again tells nothing new
    unreachable: dict[str, list[int]] = {}
    for location in locations:
        if location.kind == "source" and location.protocol == "" and not os.path.isfile(location.url):
            continue  # a name variant that is not there: not worth listing
        host = _host_of(location)
        if host in unreachable:
            unreachable[host][1] += 1
            continue
        refusal = plain_http_refusal(location.url, file)
        if refusal is not None:  # decided from the URL alone: before any connection or lookup
            failures.append(f"{location.shown}: {refusal}")
            refused += 1
            continue
        missing = missing_backend(location.protocol)
        if missing is not None:  # a mirror on s3:// or gs:// without its package: say so once
            failures.append(f"{location.shown}: the {location.protocol}:// protocol {missing}")
            continue
        area = temp_area(target)
        tmp = area.file()
        # a copy that matches only by its decompressed content (recompressed by a mirror) is
        # stored decompressed: the verifying pass writes the payload anyway, so the split is
        # then prepared without decompressing a second time, and later checks need no decompression
        payload = area.file(f"{target.name}.payload")
        try:
            log.info("fetching %s from %s", file.name, location.shown)
            copy_to(location, tmp, limit=limit, desc=file.name, storage_options=storage_options, file=file,
                    limit_reason=limit_reason)
            result = _accept(tmp, file, spec, shown=target, keep_payload=payload)
            area.commit(result.payload_path or tmp, target)
            log.info("%s verified (%s) from %s", file.name, result.method, location.shown)
            return result
        except TransferFailed as exc:
            if exc.unreachable and host is not None:
                unreachable[host] = [len(failures), 0]
            if not (location.kind == "source" and "no such file" in exc.reason):
                failures.append(f"{location.shown}: {exc.reason}")
        except ChecksumError as exc:
            detail = str(exc).split(": ", 1)[-1]
            if _looks_like_html(tmp):
                detail = ("the server sent an HTML page (an error or login page?) instead of the file; "
                          + detail)
            failures.append(f"{location.shown}: {detail}")
        finally:
            area.remove()
    for line, skipped in unreachable.values():
        if skipped:
            failures[line] += f"; {skipped} other location(s) on that host not tried"
    if not failures:
        tried = ", ".join(sorted({os.path.dirname(loc.shown) for loc in locations}))
        raise DownloadError(
            f"{spec.name}: {file.name} was not found in {tried} (looked for "
            f"{', '.join(sorted({os.path.basename(loc.url) for loc in locations}))}). "
            "Put the file there, or pass source= the folder that holds it.")
    listing = "\n".join(f"  - {f}" for f in failures)
    if refused == len(failures):
        raise InsecureTransportError(
            f"{spec.name}: {file.name} was not fetched: the registry has no checksum for it, and plain http "
            f"is only used for files that have one. Refused:\n{listing}\n"
            "Use an https:// URL (MNISTFAMILY_MIRROR or the registry), pass source= a local folder holding "
            "the file, or add the file's sha256 to the registry.")
    raise DownloadError(
        f"{spec.name}: no location gave a verified copy of {file.name}. Tried:\n{listing}\n"
        + advice_for(failures, locations))


def _host_of(location: Location) -> str | None:
    """``scheme://host:port`` of a network location (None for a local one)."""
    if not location.is_network:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(location.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port}"
    except ValueError:
        return None


def advice_for(failures: list[str], locations: list[Location]) -> str:
    """What to do after every location failed, following what actually went wrong."""
    if failures and all(": cannot resolve the host name" in f or ": cannot connect" in f for f in failures):
        return ("No location could be reached: this machine seems to have no network (or a proxy or firewall "
                "stops it). Connect and try again, or download the file elsewhere and pass source= the folder "
                "that holds it.")
    return failure_advice(locations)


def _looks_like_html(path: Path) -> bool:
    """Whether a rejected download is a web page: captive portals and broken mirrors answer 200 with one."""
    try:
        with open(path, "rb") as f:
            head = f.read(512).lstrip().lower()
    except OSError:
        return False
    return head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))
