"""Fetch one file: a verified copy from the cache, or one fetched under the file's lock.

Order of business for one file: a verified copy already in the cache is used as is;
otherwise, under a per-file lock (:func:`mnistfamily.safe_write.locked`, which names its
holder to whoever waits), each location is tried in turn (:mod:`.attempts`: ``source=``
exclusively when given; else mirrors, then the canonical URL). Files published inside a zip
are taken from it (:mod:`.archive`). Every download of one load shares a retry budget
(:func:`.transfer.retry_budget`).

Two rules hold for every location. Credentials (``user:password@`` in a URL, secrets in
``storage_options``) never appear in a log record or an error message: they are replaced
by ``***`` (:mod:`mnistfamily.redaction`). A file the registry has no checksum for is never
fetched over plain ``http://`` (except from a loopback host): see :func:`.locations.plain_http_refusal`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import config, safe_write
from ..config import FetchSettings
from ..errors import ChecksumError, DownloadError, MnistFamilyError, OfflineError, UnverifiedFileError
from ..redaction import redact, redacting
from ..registry import DatasetSpec, FileSpec
from .attempts import accept, fetch_from
from .locations import Location, cached_path, remote_locations, source_locations
from .transfer import missing_backend, retry_budget
from .verify import Verification

__all__ = ["fetch_file", "cached_path", "check_cached", "locations_for", "missing_files_error", "remove_leftovers",
           "make_folder"]

log = logging.getLogger("mnistfamily.fetch")


def fetch_file(
    spec: DatasetSpec,
    file: FileSpec,
    *,
    root: Path,
    settings: FetchSettings | None = None,
) -> tuple[Path, Verification]:
    """Return a verified local path for ``file``, fetching it if needed.

    ``settings`` say where from (``source=``, or mirrors and the canonical URL), whether the
    network may be used and the transfer limits (default: ``FetchSettings()``, the environment's).
    Errors raised from here never show credentials: URL user info, signed query values
    and the secret values of ``storage_options`` are replaced by ``***``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from mnistfamily.fetch import FetchSettings, fetch_file
    >>> from mnistfamily.registry import get_registry
    >>> spec = get_registry().dataset("mnist/sample")
    >>> file = next(iter(spec.files.values()))
    >>> path, how = fetch_file(spec, file, root=Path(tempfile.mkdtemp()), settings=FetchSettings(download=False))
    >>> how.method
    'published'
    """
    settings = settings or FetchSettings()
    with redacting(settings.storage_options) as secrets, retry_budget():
        try:
            return _fetch_file(spec, file, root=root, settings=settings)
        except MnistFamilyError as exc:
            # one choke point for every message, archive members' included
            exc.args = tuple(redact(a, secrets.values) if isinstance(a, str) else a for a in exc.args)
            raise


def _fetch_file(spec: DatasetSpec, file: FileSpec, *, root: Path, settings: FetchSettings
                ) -> tuple[Path, Verification]:
    if file.archive is not None:
        from .archive import fetch_member

        return fetch_member(spec, file, root=root, settings=settings)
    source = settings.source
    if spec.kaggle and source is None and not cached_path(root, spec, file).exists() \
            and not remote_locations(spec, file):
        raise kaggle_only_error(spec, file)  # before anything else: where to get the file is what helps
    if not file.verifiable and not settings.unverified_allowed():
        raise UnverifiedFileError(
            f"{spec.name}: the registry has no checksum for {file.name}, so a copy cannot be verified. "
            "Pass allow_unverified=True (or set MNISTFAMILY_ALLOW_UNVERIFIED=1) to use it anyway, "
            "or add its sha256 to the registry."
        )
    if spec.packaged and source is None:
        path = cached_path(root, spec, file)
        return path, accept(path, file, spec)

    target = cached_path(root, spec, file)
    # a cached copy nobody can verify is replaced by what source= holds: the caller says that is the file
    reuse = source is None or file.verifiable
    if reuse and target.exists():
        checked = check_cached(target, file, spec)
        if checked is not None:
            return target, checked

    locations = locations_for(spec, file, settings, target)
    make_folder(target.parent)
    with safe_write.locked(target, f"downloading {file.name} ({spec.name})"):
        if reuse and target.exists():  # another process finished while we waited
            checked = check_cached(target, file, spec)
            if checked is not None:
                return target, checked
        remove_leftovers(target)
        return target, fetch_from(locations, spec, file, target, settings)


def remove_leftovers(target: Path) -> None:
    """Delete the temporary areas a killed download of ``target`` left beside it.

    Only called with ``target``'s lock held: every writer of ``target`` holds that lock while
    its area exists, so an area found now belongs to nobody. Areas are recognised by their
    marker (:func:`mnistfamily.safe_write.leftovers`), never by a name alone: a user's file
    beside the target is never deleted.
    """
    safe_write.remove_leftovers(target.parent, target.name, "an interrupted download")


make_folder = safe_write.make_folder


def check_cached(target: Path, file: FileSpec, spec: DatasetSpec) -> Verification | None:
    """The verification of the cached copy ``target``, or None after removing a copy that fails it."""
    try:
        return accept(target, file, spec)
    except ChecksumError as exc:
        log.warning("%s; removing the cached copy and fetching again", exc)
        target.unlink(missing_ok=True)
        return None


def locations_for(spec: DatasetSpec, file: FileSpec, settings: FetchSettings, target: Path) -> list[Location]:
    """Where ``file`` may come from under ``settings``, in order; an error when nothing may be tried."""
    source = settings.source
    if source is not None:
        candidates = source_locations(os.fspath(source), spec, file)
    else:
        candidates = remote_locations(spec, file)
    offline = config.offline()
    if offline or not settings.download:
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
        if spec.kaggle:
            raise kaggle_only_error(spec, file)
        if spec.source_only:  # no stable public URL: the user holds the file
            raise DownloadError(f"{spec.name}: {file.name} has no stable public URL, so it is never downloaded. "
                                f"Get a copy yourself (`mnistfamily info {spec.name}` says where copies have "
                                f"been found) and pass source= the folder holding it.")
        raise DownloadError(f"{spec.name}: the registry gives no location for {file.name}.")
    if source is not None:  # every candidate shares source='s protocol: say it once, before trying any
        missing = missing_backend(candidates[0].protocol)
        if missing is not None:
            raise DownloadError(
                f"{spec.name}: source={redact(os.fspath(source))!r} cannot be read: the "
                f"{candidates[0].protocol}:// protocol {missing}. Or copy the files into a local folder "
                "and pass source= that folder.")
    return candidates


def kaggle_only_error(spec: DatasetSpec, file: FileSpec) -> DownloadError:
    """The error for a file only Kaggle publishes (behind a login) when ``source=`` does not give it."""
    folder = (spec.kaggle or "").rsplit("/", 1)[-1]
    return DownloadError(
        f"{spec.name}: {file.name} is published only on Kaggle (dataset {spec.kaggle}), which needs a login, so "
        "mnistfamily cannot download it.\n"
        f"  1. Sign in to Kaggle and download it from https://www.kaggle.com/datasets/{spec.kaggle}\n"
        f"     (or with Kaggle's API, logged in: kaggle datasets download {spec.kaggle}), then unzip the zip.\n"
        f"  2. Pass source= the folder holding {file.name}: "
        f"mf.load({spec.name!r}, source='~/Downloads/{folder}')\n"
        f"     (on the command line: mnistfamily load {spec.name} --source ~/Downloads/{folder}).")


def missing_files_error(spec: DatasetSpec, names: list[str], folder: Path, reason: str) -> OfflineError:
    """The error for files that are not cached while the network is off limits."""
    listed = ", ".join(names)
    what = f"{listed} is" if len(names) == 1 else f"{len(names)} files are"
    return OfflineError(
        f"{spec.name}: {what} not in the cache ({folder}) and {reason}, so nothing was downloaded"
        + ("" if len(names) == 1 else f": {listed}") + ". Put the files (as published, or uncompressed) "
        "in a folder and pass source=that folder, or run once with network access.",
        missing=names, reason=reason)
