"""Where an export's files go, and how they are moved into place.

One export is a *dataset folder* holding Hive-style split folders, a dataset card and a
``_SUCCESS`` marker::

    DEST/<dataset>/split=train/part-00000-of-00002.parquet
    DEST/<dataset>/split=train/part-00001-of-00002.parquet
    DEST/<dataset>/split=test/part-00000-of-00001.parquet
    DEST/<dataset>/_dataset_card.json
    DEST/<dataset>/_SUCCESS

``<dataset>`` is the registry name with ``/`` written ``--`` (``emnist/balanced`` ->
``emnist--balanced``), so every dataset folder is a table root of its own: a recursive
glob of ``DEST/mnist`` never picks up ``mnist/sample``. Names starting with ``_`` or ``.``
are skipped by Spark, Hive and ``pyarrow.dataset`` when they list a folder.

Shards are written under ``DEST/<dataset>/.tmp-<uuid>/`` and moved into place once all of
them are complete; ``_SUCCESS`` is removed before the first move and written after the
card, last. On a local disk each split folder moves with one ``rename``. Object stores
have no rename: each shard is copied to its final key and the temporary one deleted, so
a reader that lists the folder mid-commit can see some new shards; readers must gate on
``_SUCCESS`` (as Spark's committers do), which ``read_parquet`` does.

On a local disk an export also holds a lock, ``DEST/.<dataset>.lock`` (``flock``), from
its check for an existing export to its commit. Concurrent exports of one dataset to one
destination therefore run one after the other, and the lock proves who owns the temporary
names: whoever holds it deletes the ``.tmp-*``/``.old-*`` folders and ``*.tmp`` files that a
killed export left in the dataset folder, and may replace split folders that have no
``_SUCCESS`` beside them (an export that died while committing). If a commit fails on a
folder that held a complete export (a full disk while writing the card), the old split
folders, card and ``_SUCCESS`` are put back.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import shutil
import uuid
from typing import Any, Callable, Iterator, TypeVar, cast

log = logging.getLogger("mnistfamily.outputs")

SUCCESS = "_SUCCESS"
CARD = "_dataset_card.json"
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".old-"
SHARD_SUFFIX = ".parquet"
#: seconds an export waits for another one writing the same dataset folder
LOCK_TIMEOUT = 3600.0
#: what ``Destination.write_bytes`` writes before renaming: ``<name>.<8 hex>.tmp``
_WRITE_TMP = re.compile(r".+\.[0-9a-f]{8}\.tmp$")


def folder_name(dataset: str) -> str:
    """The dataset folder's name: ``emnist/balanced`` -> ``emnist--balanced``."""
    return dataset.replace("/", "--")


def split_folder(split: str) -> str:
    """``split=<split>``: a Hive partition folder."""
    return f"split={split}"


def shard_name(number: int, count: int) -> str:
    """``part-00000-of-00004.parquet``."""
    return f"part-{number:05d}-of-{count:05d}{SHARD_SUFFIX}"


def parse_shard_name(name: str) -> tuple[int, int] | None:
    """``(number, count)`` from a shard file name, or None when it is not one."""
    if not (name.startswith("part-") and name.endswith(SHARD_SUFFIX)):
        return None
    middle = name[len("part-"):-len(SHARD_SUFFIX)]
    number, sep, count = middle.partition("-of-")
    if not (sep and number.isdigit() and count.isdigit()):
        return None
    return int(number), int(count)


def join(*parts: str) -> str:
    """Join path parts with ``/`` (fsspec paths use ``/`` on every platform and protocol)."""
    out = parts[0].rstrip("/")
    for part in parts[1:]:
        out = f"{out}/{part.strip('/')}"
    return out


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def parent(path: str) -> str:
    head = path.rstrip("/").rsplit("/", 1)[0]
    return head or "/"


class Destination:
    """An fsspec filesystem and a root path in it (``dest`` of an export)."""

    def __init__(self, url: str | os.PathLike[str], storage_options: dict | None = None):
        from fsspec.core import url_to_fs

        self.url = os.fspath(url)
        self.storage_options = dict(storage_options or {})
        self.fs, root = url_to_fs(self.url, **self.storage_options)
        self.root = root.rstrip("/") or "/"
        protocol = self.fs.protocol
        self.local = "file" in (protocol if isinstance(protocol, (tuple, list)) else (protocol,))

    def path(self, *parts: str) -> str:
        return join(self.root, *parts)

    def full_url(self, path: str) -> str:
        """A URL another process can open (``file:///...``, ``s3://bucket/...``)."""
        return str(self.fs.unstrip_protocol(path))

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def refresh(self) -> None:
        """Forget cached listings: workers in other processes may have written files."""
        invalidate = getattr(self.fs, "invalidate_cache", None)
        if invalidate is not None:
            invalidate()

    def write_bytes(self, path: str, data: bytes) -> None:
        if self.local:  # a whole file or none, even on a local disk
            os.makedirs(parent(path), exist_ok=True)
            tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:  # a full disk must not leave a half-written file behind
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        else:
            self.fs.pipe_file(path, data)

    def remove(self, path: str, *, recursive: bool = False) -> None:
        try:
            if self.fs.exists(path):
                self.fs.rm(path, recursive=recursive)
        except FileNotFoundError:
            pass

    def makedirs(self, path: str) -> None:
        self.fs.makedirs(path, exist_ok=True)

    def read_json(self, path: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.fs.cat_file(path))
        except FileNotFoundError:
            return None


@contextlib.contextmanager
def local_lock(path: str) -> Iterator[None]:
    """Hold an inter-process lock for a local export target: the hidden file ``.<name>.lock`` beside it.

    The lock file is deleted on release, so a finished export leaves nothing but its own
    files (a killed one leaves the lock file, which the next export takes and deletes).
    Deleting a lock file is safe only because a waiter checks, once it holds the lock,
    that the file it locked is still the one at ``path``, and starts over if it is not.
    """
    lock = join(parent(path), f".{basename(path)}.lock")
    os.makedirs(parent(path), exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: filelock's msvcrt lock, file left in place
        from filelock import FileLock

        with FileLock(lock, timeout=LOCK_TIMEOUT):
            yield
        return
    import time

    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{lock}: another export of the same target has held this lock "
                                           f"for {LOCK_TIMEOUT:.0f} s; wait for it to finish, or delete the "
                                           "file if no export is running.") from None
                    time.sleep(0.05)
            held = os.fstat(fd)
            try:
                current = os.stat(lock)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the previous holder deleted the file we waited on: lock the new one
    try:
        yield
    finally:
        try:
            os.unlink(lock)  # before releasing: see the docstring
        except OSError:
            pass
        os.close(fd)  # releases the flock


class DatasetFolder:
    """The folder of one dataset's export: staging, committing and reading its card."""

    def __init__(self, dest: Destination, dataset: str):
        self.dest = dest
        self.dataset = dataset
        self.base = dest.path(folder_name(dataset))
        self._created_base = False

    def split_dir(self, split: str) -> str:
        return join(self.base, split_folder(split))

    def existing_splits(self, splits: list[str]) -> list[str]:
        self.dest.refresh()
        return [s for s in splits if self.dest.exists(self.split_dir(s))]

    def complete(self) -> bool:
        """Whether the folder holds ``_SUCCESS``: a finished export, not one that died committing."""
        return self.dest.exists(join(self.base, SUCCESS))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's export lock (local disks only) and clear what killed exports left.

        Object stores have no lock: there, concurrent exports of one dataset are the
        caller's to avoid, and leftovers stay until an export with ``overwrite`` or a
        lifecycle rule removes them.
        """
        if not self.dest.local:
            yield
            return
        with local_lock(self.base):
            self.remove_leftovers()
            yield

    def remove_leftovers(self) -> list[str]:
        """Delete temporary names that killed exports left in the folder; return them.

        Only called with the lock held: no live export owns any of these names then.
        """
        if not os.path.isdir(self.base):
            return []
        removed = []
        for name in sorted(os.listdir(self.base)):
            path = join(self.base, name)
            if name.startswith((TEMP_PREFIX, TRASH_PREFIX)) and os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif _WRITE_TMP.match(name) and os.path.isfile(path):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            else:
                continue
            removed.append(path)
        if removed:
            log.info("removed %d leftover(s) of interrupted exports in %s: %s", len(removed),
                     self.dest.full_url(self.base), ", ".join(basename(p) for p in removed))
        return removed

    def new_staging(self) -> str:
        """A fresh temporary prefix beside the split folders."""
        staging = join(self.base, f"{TEMP_PREFIX}{uuid.uuid4().hex}")
        self._created_base = not self.dest.exists(self.base)
        self.dest.makedirs(staging)
        return staging

    def abandon(self, staging: str) -> None:
        """Undo a failed export: the staged shards go, and the dataset folder if this export made it."""
        self.discard(staging)
        if self._created_base and self.dest.local:
            try:
                os.rmdir(self.base)  # only if empty: another export may have started meanwhile
            except OSError:
                pass

    def discard(self, staging: str) -> None:
        """Delete a temporary prefix (after a failure, or once committed)."""
        try:
            self.dest.remove(staging, recursive=True)
        except Exception as exc:  # cleanup must not hide the error that brought us here
            log.warning("could not delete the temporary folder %s: %s", self.dest.full_url(staging), exc)

    def read_card(self) -> dict[str, Any] | None:
        return self.dest.read_json(join(self.base, CARD))

    def commit(self, staging: str, splits: list[str], card: dict[str, Any]) -> None:
        """Move each staged split folder into place, then write the card and ``_SUCCESS``."""
        dest, fs = self.dest, self.dest.fs
        dest.refresh()
        if dest.local:
            self._commit_local(staging, splits, card)
            return
        dest.remove(join(self.base, SUCCESS))  # readers gating on _SUCCESS now wait
        for split in splits:
            final, staged = self.split_dir(split), join(staging, split_folder(split))
            if dest.exists(final):
                fs.rm(final, recursive=True)
            for source in sorted(fs.find(staged)):
                fs.mv(source, join(final, source[len(staged):].lstrip("/")))
        dest.write_bytes(join(self.base, CARD), card_bytes(card))
        dest.write_bytes(join(self.base, SUCCESS), b"")
        self.discard(staging)

    def _commit_local(self, staging: str, splits: list[str], card: dict[str, Any]) -> None:
        """Renames only, so a failure (a full disk while writing the card) can be undone.

        What the folder held is set aside in ``.old-<uuid>/`` (``_SUCCESS``, a hard link to
        the card, the replaced split folders) and deleted only once ``_SUCCESS`` is back.
        """
        success, card_path = join(self.base, SUCCESS), join(self.base, CARD)
        trash = join(self.base, f"{TRASH_PREFIX}{uuid.uuid4().hex}")
        os.makedirs(trash)
        was_complete = os.path.exists(success)
        if was_complete:
            os.replace(success, join(trash, SUCCESS))  # readers gating on _SUCCESS now wait
        old_card = join(trash, CARD)
        try:
            os.link(card_path, old_card)
        except OSError:  # no card yet (or no hard links here): nothing to restore
            old_card = ""
        placed: list[tuple[str, bool]] = []
        try:
            for split in splits:
                final, staged = self.split_dir(split), join(staging, split_folder(split))
                replaced = os.path.exists(final)
                if replaced:  # overwrite=True: set the old split aside, atomically
                    os.replace(final, join(trash, split_folder(split)))
                placed.append((split, replaced))
                os.replace(staged, final)
            self.dest.write_bytes(card_path, card_bytes(card))
            self.dest.write_bytes(success, b"")
        except BaseException:
            if was_complete:  # the old export was whole: put it back as it was
                self._roll_back(staging, trash, placed, old_card)
            raise
        finally:
            if os.path.exists(trash):
                self.discard(trash)
        self.discard(staging)

    def _roll_back(self, staging: str, trash: str, placed: list[tuple[str, bool]], old_card: str) -> None:
        try:
            for split, replaced in reversed(placed):
                final = self.split_dir(split)
                if os.path.exists(final):
                    os.replace(final, join(staging, split_folder(split)))  # deleted with the staging
                if replaced:
                    os.replace(join(trash, split_folder(split)), final)
            if old_card:
                os.replace(old_card, join(self.base, CARD))
            os.replace(join(trash, SUCCESS), join(self.base, SUCCESS))
            log.warning("the export into %s failed while committing; the previous export was put back",
                        self.dest.full_url(self.base))
        except OSError as exc:  # only renames: this fails only if someone else moved our files
            log.warning("could not put the previous export back in %s (%s); export again",
                        self.dest.full_url(self.base), exc)


def card_bytes(card: dict[str, Any]) -> bytes:
    """The card as stable JSON: sorted keys, so equal cards are equal bytes."""
    return (json.dumps(card, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


_F = TypeVar("_F", bound=Callable[..., Any])


def redacts_storage_options(function: _F) -> _F:
    """Run ``function`` with the secrets of its ``storage_options=`` kept out of every log.

    The filesystem libraries (botocore, s3fs, fsspec, aiohttp) dump requests, auth headers
    included, at DEBUG level; the fetch layer's :func:`~mnistfamily.fetch.redacting` replaces
    the secrets in those records while the export or read runs.
    """
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..fetch import redacting

        with redacting(kwargs.get("storage_options")):
            return function(*args, **kwargs)

    return cast(_F, wrapper)
