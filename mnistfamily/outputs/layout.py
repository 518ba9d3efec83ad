"""Where an export's files go: names, paths that stay inside their root, and the destination.

One export is a *dataset folder* holding Hive-style split folders of Parquet shards and a
``_SUCCESS`` marker, nothing else, with its dataset card *beside* it, in ``DEST/_mnistfamily/``::

    DEST/<dataset>/split=train/part-00000-of-00002.parquet
    DEST/<dataset>/split=train/part-00001-of-00002.parquet
    DEST/<dataset>/split=test/part-00000-of-00001.parquet
    DEST/<dataset>/_SUCCESS
    DEST/_mnistfamily/<dataset>.card.json
    DEST/README.md                      the lake's Hugging Face dataset card (configs per dataset)

``<dataset>`` is the registry name with ``/`` written ``--`` (``emnist/balanced`` ->
``emnist--balanced``), so every dataset folder is a table root of its own: a recursive
glob of ``DEST/mnist`` never picks up ``mnist/sample``. The card is beside the folder, not in
it, because Polars and Hugging Face ``datasets`` read every file of a folder they are given
(a ``.json`` among ``.parquet`` files stops Polars); ``_SUCCESS`` has no extension, which Polars
skips, and a name starting with ``_``, which Spark, Hive and ``pyarrow.dataset`` skip.
Exports written before format version 2 hold their card inside the folder
(``DEST/<dataset>/_dataset_card.json``); they are read as they are, and the next export of
the folder moves the card beside it.

Dataset and split names become parts of these paths, and may come from files other people
wrote (a shard read back with ``read_parquet``), so they are checked like registry names
before any path is built, and :func:`inside` checks every path built from them.

How the files get there (a marked staging area beside the dataset folder, one lock per
dataset folder, renames) is :mod:`.staging` and :mod:`.folder`.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
import re
from typing import Any, Callable, TypeVar, cast

from .errors import ExportDestinationError

SUCCESS = "_SUCCESS"
#: the folder of dataset cards, beside the dataset folders (a dataset name never starts with "_")
CARD_FOLDER = "_mnistfamily"
CARD_SUFFIX = ".card.json"
#: where exports of format version 1 kept their card: inside the dataset folder
LEGACY_CARD = "_dataset_card.json"
SHARD_SUFFIX = ".parquet"
_SHARD_NAME = re.compile(r"part-(\d{5,9})-of-(\d{5,9})\.parquet", re.ASCII)
#: fsspec back-ends an export is likely to meet, and what to install for each
_DRIVERS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "abfs": "adlfs", "az": "adlfs",
            "abfss": "adlfs", "hf": "huggingface_hub", "ssh": "paramiko", "sftp": "paramiko"}


def folder_name(dataset: str) -> str:
    """The dataset folder's name: ``emnist/balanced`` -> ``emnist--balanced``."""
    return dataset.replace("/", "--")


def card_path(root: str, folder: str) -> str:
    """The card of the dataset folder ``root/folder``: ``root/_mnistfamily/<folder>.card.json``."""
    return join(root, CARD_FOLDER, f"{folder}{CARD_SUFFIX}")


def split_folder(split: str) -> str:
    """``split=<split>``: a Hive partition folder."""
    return f"split={split}"


def shard_name(number: int, count: int) -> str:
    """``part-00000-of-00004.parquet``."""
    return f"part-{number:05d}-of-{count:05d}{SHARD_SUFFIX}"


def parse_shard_name(name: str) -> tuple[int, int] | None:
    """``(number, count)`` from a shard file name, or None when it is not one (ASCII digits only)."""
    match = _SHARD_NAME.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


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


def inside(root: str, *parts: str) -> str:
    """``root/part/...``, checked to stay inside ``root`` (no ``..``, no absolute part, no empty name).

    Callers pass names that were already checked; this is the last line of defence, so a
    name that slipped through can never make an export write, or a reader open, elsewhere.
    """
    for part in parts:
        pieces = part.split("/")
        if part.startswith("/") or any(p in ("", ".", "..") for p in pieces) or "\\" in part or "\0" in part:
            raise ExportDestinationError(f"{part!r} would lead outside {root}: refusing to build that path. "
                                         "This is a bug or a hostile name; please report it.")
    path = join(root, *parts)
    if posixpath.normpath(path) != path.rstrip("/") or not path.startswith(root.rstrip("/") + "/"):
        raise ExportDestinationError(f"{path} is not inside {root}: refusing to build that path.")
    return path


class Destination:
    """An fsspec filesystem and a root path in it (``dest`` of an export)."""

    def __init__(self, url: str | os.PathLike[str], storage_options: dict | None = None):
        from fsspec.core import url_to_fs

        self.url = os.fspath(url)
        self.storage_options = dict(storage_options or {})
        try:
            self.fs, root = url_to_fs(self.url, **self.storage_options)
        except ImportError as exc:
            protocol = self.url.split("://", 1)[0] if "://" in self.url else "file"
            package = _DRIVERS.get(protocol, getattr(exc, "name", None) or "the fsspec driver for it")
            raise ExportDestinationError(f"{self.url}: reading or writing {protocol}:// needs {package}, which is "
                                         f"not installed. Install it (pip install {package}), or use a local "
                                         "folder.") from None
        except ValueError as exc:  # an unknown protocol, or options the driver does not take
            raise ExportDestinationError(f"{self.url}: fsspec cannot open this destination ({exc}). Pass a "
                                         "local folder or a URL such as s3://bucket/prefix.") from None
        self.root = root.rstrip("/") or "/"
        protocol = self.fs.protocol
        self.local = "file" in (protocol if isinstance(protocol, (tuple, list)) else (protocol,))

    def path(self, *parts: str) -> str:
        """``root/part/...``, checked to stay inside the root."""
        return inside(self.root, *parts)

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
        """Write a small file. Locally it is only ever called inside an export's staging area, whose
        files reach their final names by rename; an object store writes each object whole."""
        if self.local:
            with open(path, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
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

    def read_small(self, path: str, limit: int) -> bytes | None:
        """The bytes of a small file (a card), None when it is absent; larger than ``limit`` is an error."""
        from .trust import corrupt

        try:
            size = self.fs.size(path)
            if size is not None and size > limit:
                raise corrupt(self.full_url(path), f"{size:,} bytes; this file is at most {limit:,} bytes")
            with self.fs.open(path, "rb") as f:
                data = f.read(limit + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise corrupt(self.full_url(path), "a folder where a file was expected") from None
        if len(data) > limit:
            raise corrupt(self.full_url(path), f"more than {limit:,} bytes; this file is at most {limit:,} bytes")
        return bytes(data)


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
        from ..redaction import redacting

        with redacting(kwargs.get("storage_options")):
            return function(*args, **kwargs)

    return cast(_F, wrapper)
