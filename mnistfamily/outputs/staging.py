"""An export's staging area, its lock, and what killed exports left: on a local disk and on object stores.

An export writes everything it will place into a *staging area* beside its target, in the
destination folder (``DEST/.mnistfamily-tmp-<32 hex>/``, :mod:`mnistfamily.safe_write`'s marked
temporary area), then renames what it wrote into place. Beside, not inside: engines that glob
the dataset folder never see a staging file, and the area is on the same filesystem as the
target, so each rename is atomic.

**Leftovers are proved ours, never guessed from a name.** The area holds a marker file whose
token matches the area's name. On a local disk an export holds the target's lock
(``DEST/.<target>.lock``, which names its holder) from its first look at the destination to
its commit; with the lock held, an area marked for the same target belongs to an export that
died, and is removed. Anything else in the destination (``.tmp-my-backup/``,
``draft.deadbeef.tmp``, areas of other targets) is left alone.

Object stores have no rename and no lock: there the staging area is a prefix holding the same
marker object, and areas that killed exports left are reported (with who left them and when),
never deleted, because nothing proves that their writer is dead.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
import warnings
from pathlib import Path
from typing import Iterable, Iterator

from .. import safe_write
from ..errors import MnistFamilyError
from .errors import ExportDestinationError, ExportWarning
from .layout import Destination, basename, inside, join

log = logging.getLogger("mnistfamily.outputs")


class Staging:
    """A marked staging area for ``target_name`` in the folder ``parent`` of ``dest``.

    ``path`` is the area's fsspec path; :meth:`file` builds paths inside it. The area is
    created at once (with its marker) and deleted by :meth:`remove`.
    """

    def __init__(self, dest: Destination, parent: str, target_name: str):
        self.dest = dest
        self._local_area: safe_write.TempArea | None = None
        if dest.local:
            try:
                self._local_area = safe_write.TempArea(Path(parent), target_name)
            except OSError as exc:
                raise destination_error(dest.full_url(parent), exc) from None
            self.path = str(self._local_area.path)
        else:
            token = safe_write.new_token()
            self.path = inside(parent, safe_write.area_name(token))
            try:  # the first write to the store: where a wrong endpoint, bucket or credential shows
                dest.fs.pipe_file(join(self.path, safe_write.MARKER), safe_write.owner_record(target_name, token))
            except MnistFamilyError:
                raise
            except OSError as exc:
                from ..redaction import secret_values

                raise destination_error(dest.full_url(parent), exc, remote=True,
                                        secrets=secret_values(dest.storage_options)) from None

    @property
    def url(self) -> str:
        return self.dest.full_url(self.path)

    def file(self, *parts: str) -> str:
        """A path inside the area."""
        return inside(self.path, *parts)

    def remove(self) -> None:
        """Delete the area and whatever is still in it (a failure here is logged, never raised)."""
        if self._local_area is not None:
            self._local_area.remove()
            return
        try:
            self.dest.remove(self.path, recursive=True)
        except Exception as exc:  # cleanup must not hide the error that brought us here
            log.warning("could not delete the staging area %s: %s", self.url, exc)


@contextlib.contextmanager
def export_lock(dest: Destination, parent: str, target_name: str, what: str) -> Iterator[None]:
    """On a local disk, hold the lock of ``parent/target_name`` (``parent/.<target_name>.lock``) for the block.

    The folder is created first; a destination that is a file or cannot be written is an
    :class:`ExportDestinationError`. Object stores have no lock: the block runs at once.
    """
    if not dest.local:
        yield
        return
    make_local_folder(dest, parent)
    target = Path(parent) / f".{target_name}"
    stack = contextlib.ExitStack()
    try:  # only the lock's own failures are the destination's: the block's errors pass unchanged
        stack.enter_context(safe_write.locked(target, what))
    except OSError as exc:
        if isinstance(exc, MnistFamilyError):  # LockTimeoutError names the holder already
            raise
        raise destination_error(dest.full_url(parent), exc) from None
    with stack:  # safe_write empties the lock file before releasing it: it names no holder afterwards
        yield


def make_local_folder(dest: Destination, folder: str) -> None:
    """Create ``folder`` (and its parents), or raise an :class:`ExportDestinationError` saying why not."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ExportDestinationError(
            f"{dest.full_url(folder)} is a file, not a folder: an export writes files into a folder there. "
            "Pass a folder (it is created if it does not exist), or move the file away.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise destination_error(dest.full_url(folder), exc) from None


def destination_error(where: str, exc: OSError, *, remote: bool = False,
                      secrets: Iterable[str] = ()) -> ExportDestinationError:
    """The error for a destination ``where`` that the OS (or an object store) refused to write.

    ``remote``: ``where`` is an object store, whose refusals mostly come from a wrong endpoint,
    bucket or credential; the store's own words are quoted, with the secrets of the export's
    ``storage_options`` redacted.
    """
    reasons = {errno.EROFS: "is on a read-only file system", errno.EACCES: "is not writable (permission denied)",
               errno.EPERM: "is not writable (operation not permitted)",
               errno.ENOTDIR: "is not a folder (a part of its path is a file)",
               errno.EEXIST: "exists and is not a folder"}
    reason = reasons.get(exc.errno or 0, f"cannot be written ({exc.strerror or exc})")
    if remote:
        from ..redaction import redact

        answer = redact(f"{type(exc).__name__}: {exc}", secrets)[:300]
        error = ExportDestinationError(f"{where}: the store refused the export's first write ({answer}): nothing "
                                       "was written. Check the URL, the endpoint and the credentials in "
                                       "storage_options, and that the bucket exists and may be written.")
    else:
        error = ExportDestinationError(f"{where} {reason}: nothing was written. Export to a folder you can write, "
                                       "or make this one writable.")
    error.errno = exc.errno
    return error


def clear_leftovers(dest: Destination, parent: str, target_name: str) -> list[str]:
    """Deal with the staging areas that killed exports of ``target_name`` left in ``parent``.

    Local disks: call with the target's lock held; the areas proved ours are deleted. Object
    stores: they are reported in an :class:`ExportWarning`, with who left them. Returns their URLs.
    """
    if dest.local:
        removed = safe_write.remove_leftovers(Path(parent), target_name, why="an interrupted export")
        return [dest.full_url(str(p)) for p in removed]
    found = []
    try:
        names = [basename(p) for p in dest.fs.ls(parent, detail=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    for name in names:
        if not name.startswith(safe_write.TEMP_PREFIX):
            continue
        try:
            marker = dest.fs.cat_file(join(parent, name, safe_write.MARKER))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            continue
        record = safe_write.parse_owner(name, marker)
        if record is None or record["target"] != target_name:
            continue
        found.append(dest.full_url(join(parent, name)))
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(record.get("created", 0) or 0)))
        warnings.warn(f"{found[-1]}: a staging area of an export of {target_name} that did not finish "
                      f"(process {record.get('pid')} on host {record.get('host')}, started {when}). Object stores "
                      "have no lock to prove that it is dead, so it is kept: delete it once no export is running.",
                      ExportWarning, stacklevel=4)
    return found
