"""Trying the locations of one file in turn: each copy lands in a marked temporary area beside its
target (:func:`mnistfamily.safe_write.temp_area`), is checked against the registry's size and
hashes, and only then is renamed into place.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from .. import config, safe_write
from ..config import FetchSettings
from ..errors import (CacheError, ChecksumError, DownloadError, InsecureTransportError,
                      UnverifiedFileWarning)
from ..registry import DatasetSpec, FileSpec
from .locations import Location, failure_advice, plain_http_refusal
from .transfer import TransferFailed, copy_to, missing_backend
from .verify import Verification, verify_file

__all__ = ["fetch_from", "accept", "temp_area", "size_limit", "advice_for"]

log = logging.getLogger("mnistfamily.fetch")


def temp_area(target: Path) -> safe_write.TempArea:
    """A marked temporary area beside ``target``; failing to create it is a :class:`CacheError`."""
    try:
        return safe_write.TempArea(target.parent, target.name)
    except OSError as exc:
        raise CacheError.cannot_write(target.name, target.parent, exc) from None


def accept(path: Path, file: FileSpec, spec: DatasetSpec, shown: Path | None = None,
           keep_payload: Path | None = None) -> Verification:
    """Verify ``path`` against ``file``; warn when the registry has no checksum to verify it with."""
    result = verify_file(path, file, keep_payload=keep_payload)
    if result.method == "unverified":
        warnings.warn(
            f"{spec.name}: using {shown or path} without verification: the registry has no checksum "
            f"for {file.name}. Its content may differ from the published file.",
            UnverifiedFileWarning, stacklevel=4)
    return result


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


def fetch_from(locations: list[Location], spec: DatasetSpec, file: FileSpec, target: Path,
               settings: FetchSettings) -> Verification:
    """Try ``locations`` in turn until one gives a copy of ``file`` that verifies; commit it to ``target``.

    The caller holds ``target``'s lock. The error after the last location lists every location
    and why it failed, with advice that follows what went wrong.
    """
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
            copy_to(location, tmp, limit=limit, desc=file.name, settings=settings, file=file,
                    limit_reason=limit_reason)
            result = accept(tmp, file, spec, shown=target, keep_payload=payload)
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
