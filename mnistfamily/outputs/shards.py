"""One shard = one task: where its rows come from, and the function that writes it.

A :class:`ShardTask` is a small picklable description (a row range, where to load the
rows from, the output URL and the format), never the arrays themselves, so tasks can be
sent to a process pool or a dask cluster; each worker memory-maps the prepared arrays
itself. Rows are written one row group at a time and the pages of a memory-mapped source
are dropped from the process once written, so memory stays bounded whatever the split's
size.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import mmap
import os
import tempfile
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np

from .images import BATCH, CodecPool, encode_png, ordered_map
from .layout import parent
from .schema import ShardFormat

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset


@dataclass(frozen=True)
class Columns:
    """The arrays of one split, as memory maps or in memory."""

    images: Any  # the examples: an array (N, *shape), or a Signals
    labels: np.ndarray
    index: np.ndarray
    metadata: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class InMemory:
    """Rows of a Dataset held by this process (serial exports only: never pickled)."""

    dataset: Any

    def open(self) -> Columns:
        ds = self.dataset
        return Columns(ds.examples, ds.labels, ds.index, ds.metadata)


@dataclass(frozen=True)
class LoadedSplit:
    """Rows of ``mf.load(name, split, **load_kwargs)``: a worker loads (memory-maps) them itself."""

    name: str
    split: str
    load_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def open(self) -> Columns:
        from ..api import load

        ds = load(self.name, self.split, **dict(self.load_kwargs))
        return Columns(ds.examples, ds.labels, ds.index, ds.metadata)


@dataclass(frozen=True)
class NpyFiles:
    """Rows in ``.npy`` files (a prepared cache entry, or arrays staged for the workers)."""

    images: str  # the samples, for signals of varying length
    labels: str
    index: str
    metadata: tuple[tuple[str, str], ...] = ()
    offsets: str | None = None  # signals of varying length: where each starts

    def open(self) -> Columns:
        from ..examples import Signals

        def mapped(path: str) -> np.ndarray:
            return np.load(path, mmap_mode="r", allow_pickle=False)

        examples = mapped(self.images) if self.offsets is None else Signals(mapped(self.images),
                                                                            mapped(self.offsets))
        return Columns(examples, mapped(self.labels), mapped(self.index),
                       {name: mapped(path) for name, path in self.metadata})


@dataclass(frozen=True)
class ShardTask:
    """Write rows ``start:stop`` of ``source`` to ``url`` as one Parquet file."""

    source: Any  # InMemory | LoadedSplit | NpyFiles
    url: str
    start: int
    stop: int
    format: ShardFormat
    storage_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShardResult:
    """What a shard task wrote."""

    url: str
    num_rows: int
    size: int
    sha256: str


def task_source(ds: "Dataset", name_or_dataset: Any, load_kwargs: Mapping[str, Any],
                 executor: Executor | None, scratch: list[str]) -> Any:
    """Where a shard task reads its rows: this process's arrays, or a small picklable description."""
    if executor is None:
        return InMemory(ds)
    if isinstance(name_or_dataset, str) and load_kwargs.get("transform") is None:
        from .. import config

        kwargs = dict(load_kwargs)  # workers must find the cache this process just prepared
        kwargs["data_dir"] = str(config.cache_root(load_kwargs.get("data_dir")).resolve())
        task = LoadedSplit(ds.name, ds.split, kwargs)
        if _picklable(task):  # a Registry object is not: then workers map the prepared .npy files
            return task
    from ..examples import Signals

    examples = ds.examples
    varying = isinstance(examples, Signals)
    # signals of varying length travel as their samples and offsets (a selection is compacted first)
    first, offsets = examples.compact() if isinstance(examples, Signals) else (examples, None)
    arrays: dict[str, np.ndarray] = {"images": first, "labels": ds.labels, "index": ds.index,
              **({"offsets": offsets} if offsets is not None else {}),
              **{f"meta.{k}": v for k, v in ds.metadata.items()}}
    paths: dict[str, str] = {}
    folder = None
    for key, array in arrays.items():
        whole = _whole_npy_file(array)
        if whole is None:  # a selection or in-memory array: staged as .npy for the workers to map
            if folder is None:
                folder = tempfile.mkdtemp(prefix="mnistfamily-export-")
                scratch.append(folder)
            whole = os.path.join(folder, f"{key}.npy")
            np.save(whole, np.asarray(array), allow_pickle=False)
        paths[key] = whole
    return NpyFiles(str(paths["images"]), str(paths["labels"]), str(paths["index"]),
                    tuple((k, str(paths[f"meta.{k}"])) for k in ds.metadata),
                    str(paths["offsets"]) if varying else None)


def _picklable(value: Any) -> bool:
    import pickle

    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def _whole_npy_file(array: np.ndarray) -> str | None:
    """The .npy file that ``array`` maps whole, or None (a selection, or an in-memory array)."""
    filename = getattr(array, "filename", None)
    if not isinstance(array, np.memmap) or not filename or getattr(array, "_mmap", None) is None:
        return None
    try:
        whole = np.load(filename, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    same = (whole.shape == array.shape and whole.dtype == array.dtype and array.flags.c_contiguous
            and getattr(whole, "offset", None) == getattr(array, "offset", None))
    return str(filename) if same else None


def write_shard(task: ShardTask, codec: CodecPool | None = None) -> ShardResult:
    """Write one shard; module-level so executors can send it to other processes.

    ``codec`` spreads PNG encoding over a process pool; tasks running on a user's executor
    get none (the executor already spreads shards over the cores).
    """
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    columns = task.source.open()
    fmt = task.format
    fs, path = url_to_fs(task.url, **dict(task.storage_options))
    fs.makedirs(parent(path), exist_ok=True)
    schema = fmt.arrow_schema()
    step = fmt.row_group_rows
    ranges = [(a, min(a + step, task.stop)) for a in range(task.start, task.stop, step)]
    with fs.open(path, "wb") as raw:
        sink = _HashingWriter(raw)
        writer = pq.ParquetWriter(sink, schema, **fmt.writer_options())
        try:
            for (a, b), image_column in zip(ranges, _image_columns(columns.images, ranges, fmt, codec)):
                table = fmt.table(schema, columns.index[a:b], image_column, columns.labels[a:b],
                                  {name: columns.metadata[name][a:b] for name, _ in fmt.metadata_columns})
                writer.write_table(table, row_group_size=step)
                del table, image_column
                for array in (columns.images, columns.labels, columns.index, *columns.metadata.values()):
                    release_pages(array, a, b)
        finally:
            writer.close()
        size, digest = sink.size, sink.hexdigest()
    return ShardResult(task.url, task.stop - task.start, size, digest)


def _image_columns(images: np.ndarray, ranges: list[tuple[int, int]], fmt: ShardFormat,
                   codec: CodecPool | None) -> Iterator[Any]:
    """Per row group: the examples (raw, tensor, signals) or their PNG bytes, encoded ahead in parallel."""
    if fmt.image_encoding in ("raw", "tensor") or fmt.varying:
        for a, b in ranges:
            yield images[a:b]
        return
    total = sum(b - a for a, b in ranges)
    executor = codec.executor(total) if codec is not None else None
    window = 4 * (codec.workers if codec is not None else 1)
    plan = [[(x, min(x + BATCH, b)) for x in range(a, b, BATCH)] for a, b in ranges]
    batches = (np.array(images[x:y]) for group in plan for x, y in group)
    encoded = ordered_map(encode_png, batches, executor, window=window)
    for group in plan:
        column: list[bytes] = []
        for _ in group:
            column.extend(next(encoded))
        yield column


class _HashingWriter(io.RawIOBase):
    """A write-only file that passes bytes through and keeps their sha256 and count."""

    def __init__(self, inner: Any):
        super().__init__()
        self._inner = inner
        self._hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self._inner.write(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._inner.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


_libc: Any = None


def release_pages(array: Any, start: int, stop: int) -> None:
    """Drop rows ``start:stop`` of a read-only memory map from this process's resident set.

    The pages stay in the page cache (a later access maps them again for free), but they
    no longer count towards the process's RSS, which otherwise grows by the whole file as
    an export walks through it. Arrays that are not read-only file maps are left alone
    (``MADV_DONTNEED`` would zero anonymous memory).
    """
    global _libc
    from ..examples import Signals

    if isinstance(array, Signals):  # the samples rows start:stop hold, when they are in order
        if stop > start and int(array.starts[start]) <= int(array.stops[stop - 1]):
            release_pages(array.samples, int(array.starts[start]), int(array.stops[stop - 1]))
        return
    if (not isinstance(array, np.memmap) or getattr(array, "_mmap", None) is None
            or getattr(array, "mode", None) != "r" or not hasattr(mmap, "MADV_DONTNEED")):
        return
    view = array[start:stop]
    if view.size == 0 or not view.flags.c_contiguous:
        return
    page = mmap.PAGESIZE
    low = view.ctypes.data // page * page
    high = (view.ctypes.data + view.nbytes) // page * page
    if high <= low:
        return
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    _libc.madvise(low, high - low, mmap.MADV_DONTNEED)
