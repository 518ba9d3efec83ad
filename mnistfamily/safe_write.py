"""Writing without half-written states, and knowing which leftovers are ours.

Every writer in mnistfamily follows one recipe:

1. take the target's lock (:func:`locked`) when another process may write the same target;
2. write into a *temporary area*: a hidden folder beside the target,
   ``.mnistfamily-tmp-<32 hex>/``, holding a marker file ``.mnistfamily-owner.json``;
3. check what was written, move it onto the target with one ``os.replace``, and remove the area.

Readers therefore see the old target or the new one, never a part. A process killed at any
step leaves at most a temporary area, which the next writer of that target removes while it
holds the target's lock (so nobody is still writing it).

**A leftover is proved ours, never guessed from a name.** An area counts as ours only when its
marker parses and carries the same random token as the area's name. A file or folder that a
user (or another program) put beside the target, whatever it is called (``.tmp-backup/``,
``draft.deadbeef.tmp``), is never taken for a leftover, so it is never deleted.

Two leftovers need no marker to be recognised, because removing them loses nothing: an *empty*
folder named like an area (a process killed between creating the area and writing its marker),
which is only ever removed with ``os.rmdir`` (it fails on a folder that holds anything); and,
for writers that take no lock (:func:`atomic_write`), an area whose marker names a process of
this host that no longer exists.

The lock file (``<target>.lock``) names its holder while it is held, and is emptied before it is
released: a process that waits too long gets a :class:`~mnistfamily.errors.LockTimeoutError`
saying which process holds it and since when.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from . import config
from .errors import CacheError, LockTimeoutError
from .log import logger

TEMP_PREFIX = ".mnistfamily-tmp-"
MARKER = ".mnistfamily-owner.json"
_AREA_NAME = re.compile(r"^\.mnistfamily-tmp-(?P<token>[0-9a-f]{32})$")
#: a marker is a few hundred bytes; anything much larger is not ours and is not read whole
_MARKER_MAX_BYTES = 4096


def new_token() -> str:
    """A random 128-bit token, as 32 lowercase hex digits."""
    return secrets.token_hex(16)


def area_name(token: str) -> str:
    """The name of the temporary area with ``token``: ``.mnistfamily-tmp-<token>``."""
    return f"{TEMP_PREFIX}{token}"


def owner_record(target_name: str, token: str) -> bytes:
    """The marker written into a temporary area: who made it, for which target, and when."""
    record = {"writer": "mnistfamily", "token": token, "target": target_name, "pid": os.getpid(),
              "host": socket.gethostname(), "created": time.time()}
    return json.dumps(record, sort_keys=True).encode()


def parse_owner(name: str, marker: bytes) -> dict[str, Any] | None:
    """The marker's record when the area called ``name`` is provably ours, else None.

    Ours means: the name is ``.mnistfamily-tmp-<token>``, the marker is our JSON record, and the
    record's token is the name's. Anything else (a user's folder, a damaged marker) is not ours.
    """
    match = _AREA_NAME.match(name)
    if match is None or len(marker) > _MARKER_MAX_BYTES:
        return None
    try:
        record = json.loads(marker.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if (not isinstance(record, dict) or record.get("writer") != "mnistfamily"
            or record.get("token") != match.group("token") or not isinstance(record.get("target"), str)):
        return None
    return record


class TempArea:
    """A marked temporary folder beside a target: write inside it, then :meth:`commit`.

    Use it as a context manager (:func:`temp_area`): the area is removed on exit, whether the
    block finished, failed or committed.
    """

    def __init__(self, parent: Path, target_name: str):
        self.parent = Path(parent)
        self.target_name = target_name
        self.token = new_token()
        self.path = self.parent / area_name(self.token)
        self.path.mkdir()  # a fresh random name: an existing folder there is an error, not ours
        try:
            (self.path / MARKER).write_bytes(owner_record(target_name, self.token))
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise

    def file(self, name: str | None = None) -> Path:
        """A path inside the area (by default named like the target)."""
        return self.path / (name or self.target_name)

    def commit(self, written: Path, target: Path | None = None) -> Path:
        """Move ``written`` (inside the area) onto ``target`` (default: the area's target) atomically."""
        final = target if target is not None else self.parent / self.target_name
        os.replace(written, final)
        return final

    def remove(self) -> None:
        """Delete the area and whatever is still in it."""
        shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def temp_area(parent: Path, target_name: str) -> Iterator[TempArea]:
    """A :class:`TempArea` in ``parent`` for ``target_name``, removed when the block ends."""
    area = TempArea(parent, target_name)
    try:
        yield area
    finally:
        area.remove()


def atomic_write(target: Path, data: bytes | Callable[[IO[bytes]], None]) -> Path:
    """Write ``target`` whole or not at all: ``data`` (bytes, or a function that writes to a file).

    The bytes are flushed to disk before the rename, so a power cut leaves the old file or the new.
    """
    target = Path(target)
    remove_dead_leftovers(target.parent, target.name)  # no lock here: only areas of dead processes
    with temp_area(target.parent, target.name) as area:
        tmp = area.file()
        with open(tmp, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return area.commit(tmp)


def leftovers(folder: Path, target_name: str | None = None) -> list[Path]:
    """The temporary areas in ``folder`` that are provably ours (for ``target_name``, if given)."""
    found = []
    try:
        candidates = sorted(p for p in Path(folder).iterdir() if p.name.startswith(TEMP_PREFIX))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for path in candidates:
        record = read_marker(path)
        if record is not None and (target_name is None or record["target"] == target_name):
            found.append(path)
    return found


def read_marker(area: Path) -> dict[str, Any] | None:
    """The owner record of the area at ``area`` when it is provably ours, else None."""
    marker = Path(area) / MARKER
    try:
        if marker.is_symlink() or not marker.is_file() or Path(area).is_symlink():
            return None
        with open(marker, "rb") as f:
            data = f.read(_MARKER_MAX_BYTES + 1)
    except OSError:
        return None
    return parse_owner(Path(area).name, data)


def remove_leftovers(folder: Path, target_name: str, why: str = "an interrupted run") -> list[Path]:
    """Delete our temporary areas for ``target_name`` in ``folder``; return what was removed.

    Call only with the target's lock held: every writer of the target holds it while its area
    exists, so an area found now belongs to a process that died.
    """
    removed = leftovers(folder, target_name)
    for area in removed:
        logger("mnistfamily.safe_write").info("removing %s, left by %s", area, why)
        shutil.rmtree(area, ignore_errors=True)
    return removed + _remove_empty_areas(folder)


def remove_dead_leftovers(folder: Path, target_name: str) -> list[Path]:
    """Delete our areas for ``target_name`` whose writer, a process of this host, has ended.

    For writers that take no lock: an area is removed only when its marker proves it ours and
    names a process of this host that no longer runs (a live one, or one of another host sharing
    the folder, is left alone; a recycled process id only means the area waits for the next run).
    """
    host = socket.gethostname()
    removed = []
    for area in leftovers(folder, target_name):
        record = read_marker(area)
        if record is None or record.get("host") != host or not isinstance(record.get("pid"), int):
            continue
        if _process_exists(record["pid"]):
            continue
        logger("mnistfamily.safe_write").info("removing %s, left by process %s, which has ended", area, record["pid"])
        shutil.rmtree(area, ignore_errors=True)
        removed.append(area)
    return removed + _remove_empty_areas(folder)


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def _remove_empty_areas(folder: Path) -> list[Path]:
    """``rmdir`` the empty folders named like areas: a writer killed before its marker leaves one.

    ``os.rmdir`` refuses a folder holding anything, so nothing anyone wrote can be lost. A writer
    that has just created its area and not yet written its marker would find it gone and fail
    with a clear OSError; callers hold the target's lock or look only for dead processes, and an
    area is created and marked within microseconds, so this does not happen in practice.
    """
    removed = []
    try:
        candidates = [p for p in Path(folder).iterdir() if _AREA_NAME.match(p.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    for path in candidates:
        try:
            if path.is_symlink() or not path.is_dir() or any(path.iterdir()):
                continue
            os.rmdir(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def make_folder(folder: Path) -> None:
    """Create a cache folder, or say clearly why it cannot be."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot create the cache folder {folder}: {exc.strerror or exc}. Make it writable, "
                         "or choose another cache root with data_dir= or MNISTFAMILY_HOME.") from None


def lock_path(target: Path) -> Path:
    """The lock file that guards ``target``: ``<target>.lock``."""
    return Path(str(target) + ".lock")


@contextlib.contextmanager
def locked(target: Path, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold ``target``'s lock for the block; the lock file names the holder while it is held.

    Waiting longer than ``timeout`` (default :func:`mnistfamily.config.lock_timeout`) raises a
    :class:`~mnistfamily.errors.LockTimeoutError` that says who holds the lock and since when.
    """
    from filelock import FileLock, Timeout  # the warm (read-only) path never takes a lock

    path = lock_path(target)
    limit = config.lock_timeout() if timeout is None else timeout
    lock = FileLock(str(path), timeout=limit)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger("mnistfamily.safe_write").info("waiting for %s (%s) to finish %s", path, describe_holder(path), what)
        try:
            lock.acquire()
        except Timeout:
            raise LockTimeoutError.waited(what, path, limit, describe_holder(path)) from None
    try:
        _announce(path, what)
        yield
    finally:
        with contextlib.suppress(OSError):  # name no holder once released; the file itself stays
            os.truncate(path, 0)  # (deleting a lock file others may be waiting on is unsafe)
        lock.release()


def _announce(path: Path, what: str) -> None:
    """Write who holds the lock into the lock file (flock locks the inode, not its content)."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "what": what}
    with contextlib.suppress(OSError):  # the holder's name is a courtesy to waiters, never a reason to fail
        with open(path, "r+b") as f:
            f.truncate(0)
            f.write(json.dumps(record).encode())


def describe_holder(path: Path) -> str:
    """``process 123 on host h, since 2026-12-05 21:09:15 UTC (4 min ago), preparing ...``, as far as known."""
    try:
        with open(path, "rb") as f:
            record = json.loads(f.read(_MARKER_MAX_BYTES).decode("utf-8"))
        since = float(record["since"])
        held = max(0.0, time.time() - since)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))
        return (f"process {int(record['pid'])} on host {record['host']}, since {stamp} "
                f"({_duration(held)} ago), {record['what']}")
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "a process that did not say who it is"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
