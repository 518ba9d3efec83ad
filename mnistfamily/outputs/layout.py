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
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

log = logging.getLogger("mnistfamily.outputs")

SUCCESS = "_SUCCESS"
CARD = "_dataset_card.json"
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".old-"
SHARD_SUFFIX = ".parquet"


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
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
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
        dest.remove(join(self.base, SUCCESS))  # readers gating on _SUCCESS now wait
        trash = join(self.base, f"{TRASH_PREFIX}{uuid.uuid4().hex}")
        for split in splits:
            final, staged = self.split_dir(split), join(staging, split_folder(split))
            if dest.local:
                if os.path.exists(final):  # overwrite=True: set the old split aside, atomically
                    os.makedirs(trash, exist_ok=True)
                    os.replace(final, join(trash, split_folder(split)))
                os.replace(staged, final)
                continue
            if dest.exists(final):
                fs.rm(final, recursive=True)
            for source in sorted(fs.find(staged)):
                fs.mv(source, join(final, source[len(staged):].lstrip("/")))
        dest.write_bytes(join(self.base, CARD), card_bytes(card))
        dest.write_bytes(join(self.base, SUCCESS), b"")
        if dest.local and os.path.exists(trash):
            self.discard(trash)
        self.discard(staging)


def card_bytes(card: dict[str, Any]) -> bytes:
    """The card as stable JSON: sorted keys, so equal cards are equal bytes."""
    return (json.dumps(card, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
