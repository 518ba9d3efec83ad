"""``export``: a dataset's splits as Hive-partitioned, zstd-compressed Parquet shards on any fsspec URL.

The flow: resolve the splits (load each by name, or take the Dataset given) and check their
names -> take the dataset folder's lock and check that the export may write there -> plan one
task per shard -> run the tasks (here, or on the caller's executor) into a staging area beside
the dataset folder -> check every shard landed -> commit (move into place, card, ``_SUCCESS``)
-> rewrite the lake's Hugging Face card -> register the table (``table="iceberg"``/``"delta"``).
Anything that fails before the commit deletes the staging area and leaves ``dest`` as it was;
a table that fails to register leaves the export complete and says how to register it. See :mod:`.layout`
for the layout, :mod:`.staging` for the staging area and the lock, :mod:`.folder` for what an
export may replace and what "atomic" means on object stores.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from .errors import ExportError, disk_full_error, is_disk_full
from .folder import DatasetFolder, FolderState
from .lake_card import clear_lake_card_leftovers, update_lake_card
from .tables import register_export, table_registrar
from .layout import Destination, join, redacts_storage_options, shard_name, split_folder
from ..examples import Signals
from .schema import (DEFAULT_LEVELS, EXPORT_FORMAT_VERSION, IMAGE_ENCODINGS, ShardFormat, describe_split,
                     example_row_bytes, row_group_rows)
from .shards import ShardResult, ShardTask, task_source, write_shard
from .staging import Staging

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

log = logging.getLogger("mnistfamily.outputs")

#: rows per Parquet file: ~78 MB of 28x28 pixels before compression (MNIST train is one file)
DEFAULT_ROWS_PER_SHARD = 100_000
COMPRESSIONS = ("zstd", "snappy", "gzip", "brotli", "lz4", "none")


@dataclass(frozen=True)
class ExportResult:
    """What ``export`` wrote: the dataset folder's URL, rows and shard URLs per split."""

    path: str
    num_rows: Mapping[str, int] = field(default_factory=dict)
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the table the export was registered as: ``namespace.table`` (Iceberg), the folder's URL (Delta)
    table: str | None = None

    def __str__(self) -> str:
        lines = [self.path]
        for split, rows in self.num_rows.items():
            count = len(self.files.get(split, ()))
            lines.append(f"  split={split}: {rows:,} rows in {count} shard{'s' if count != 1 else ''}")
        if self.table is not None:
            lines.append(f"  table: {self.table}")
        return "\n".join(lines)


@redacts_storage_options
def export(name_or_dataset: "str | Dataset", dest: str | os.PathLike[str], *,
           splits: str | Iterable[str] | None = None, rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
           image_encoding: str = "raw", compression: str = "zstd", compression_level: int | None = None,
           overwrite: bool = False, storage_options: dict | None = None, executor: Executor | None = None,
           table: str | None = None, catalog: Any = None, table_name: str | None = None,
           table_storage_options: dict | None = None, **load_kwargs: Any) -> ExportResult:
    """Write a dataset's splits as Parquet shards under ``dest/<dataset>/split=<split>/``.

    Parameters
    ----------
    name_or_dataset
        A registry name (every split, or ``splits``, is loaded with ``mf.load(name, split,
        **load_kwargs)``), or a :class:`~mnistfamily.Dataset` (that one split is written).
    dest
        Any fsspec URL or local path: ``out/``, ``file:///data``, ``memory://x``,
        ``s3://bucket/prefix``, ``gs://...``. The dataset folder is ``dest/<dataset>``
        with ``/`` in the name written ``--`` (``emnist/balanced`` -> ``emnist--balanced``).
    splits
        The splits of a named dataset to write (default: all).
    rows_per_shard
        Rows per Parquet file (``part-00000-of-00003.parquet``, ...); the last holds the rest.
    image_encoding
        ``"raw"``: ``fixed_size_binary[H*W]`` pixels; ``"png"``: one PNG per image in the
        ``{bytes, path}`` struct Hugging Face's ``Image`` feature reads, encoded on every core;
        ``"tensor"``: Arrow's ``fixed_shape_tensor(uint8, [H, W])``, which Ray Data and pyarrow
        give as ``(N, H, W)`` arrays (6.7 % larger than raw on MNIST).
    compression, compression_level
        Parquet codec (``"zstd"`` by default) and its level (fixed by default: zstd 1, gzip 6, brotli 5).
    overwrite
        Replace splits that ``dest`` already holds (only once the new shards are complete).
        Without it, an existing split is an :class:`ExportExistsError` and nothing is written.
    storage_options
        fsspec options of ``dest`` (credentials, ``endpoint_url``, ...). fsspec options of a
        ``source=`` URL go in ``source_storage_options``.
    executor
        Any ``concurrent.futures.Executor`` (a ``ProcessPoolExecutor``, ``dask.distributed``'s
        ``client.get_executor()``): each shard is one task, sent as a small description;
        workers memory-map the prepared arrays themselves. Default: shards one after the
        other in this process, PNG encoding spread over the cores.
    table
        ``"iceberg"``: register the export as an Iceberg table in ``catalog`` (the shards are
        its data files, partitioned by ``split``; see :func:`register_iceberg`). ``"delta"``:
        write the Delta log for it in the dataset folder (see :func:`register_delta`). The files
        are never rewritten; an overwrite gets a new snapshot or commit.
    catalog, table_name
        Iceberg: a pyiceberg ``Catalog``, a configured catalog's name or its properties; the
        table ``namespace.table`` (default ``mnistfamily.<dataset folder>``).
    table_storage_options
        Delta: deltalake's own storage options (default: translated from ``storage_options``).
    **load_kwargs
        Passed to ``mf.load`` for a named dataset: ``source``, ``data_dir``, ``registry``, ...

    Returns
    -------
    ExportResult

    Examples
    --------
    >>> import tempfile
    >>> from mnistfamily.outputs import export, read_parquet
    >>> result = export("mnist/sample", tempfile.mkdtemp(), rows_per_shard=1500)
    >>> print(result)  # doctest: +ELLIPSIS
    file:///.../mnist--sample
      split=test: 2,000 rows in 2 shards
    >>> len(read_parquet(result.path)["test"])
    2000
    """
    _check_options(rows_per_shard, image_encoding, compression, compression_level)
    registrar = table_registrar(table, catalog, table_name, table_storage_options, image_encoding)  # before writing
    if "source_storage_options" in load_kwargs:
        load_kwargs["storage_options"] = load_kwargs.pop("source_storage_options")
    name, datasets = _resolve(name_or_dataset, splits, load_kwargs, image_encoding)
    destination = Destination(dest, storage_options)
    folder = DatasetFolder(destination, name)
    split_names = [ds.split for ds in datasets]
    registered = None
    with folder.locked():  # local disks: one export of this dataset folder at a time
        clear_lake_card_leftovers(destination)
        state = folder.inspect()
        folder.check_replaceable(state, split_names, overwrite, delta=table == "delta")
        if table == "iceberg":
            registrar.check(destination.full_url(folder.base), folder.name)
        shards = _stage_and_commit(name, name_or_dataset, datasets, destination, folder, state,
                                   rows_per_shard, image_encoding, compression, compression_level,
                                   executor, load_kwargs)
        update_lake_card(destination)
        if registrar is not None and table is not None:
            registered = register_export(registrar, table, destination, folder.base, set(split_names))
    files = {s: tuple(destination.full_url(join(folder.split_dir(s), n)) for n in shards[s]) for s in split_names}
    return ExportResult(destination.full_url(folder.base), {ds.split: len(ds) for ds in datasets}, files, registered)


def _stage_and_commit(name: str, name_or_dataset: Any, datasets: list["Dataset"], destination: Destination,
                      folder: DatasetFolder, state: FolderState, rows_per_shard: int, image_encoding: str,
                      compression: str, compression_level: int | None, executor: Executor | None,
                      load_kwargs: dict[str, Any]) -> dict[str, list[str]]:
    """Write every shard into a staging area, then commit; the area is deleted whatever happens.

    Returns the shard file names of each split.
    """
    split_names = [ds.split for ds in datasets]
    staging = Staging(destination, folder.parent, folder.name)
    scratch: list[str] = []
    try:
        tasks: list[ShardTask] = []
        placed: list[tuple[str, str]] = []  # (split, shard file name) of each task
        entries: dict[str, dict[str, Any]] = {}
        for ds in datasets:
            shape, dtype = _example_shape(ds), np.dtype(ds.examples.dtype).name
            described = describe_split(
                dataset=name, split=ds.split, num_examples=len(ds), classes=ds.classes,
                image_shape=shape, image_encoding=image_encoding,
                metadata_columns={k: v.dtype.name for k, v in ds.metadata.items()}, info=ds.info,
                sources=_sources(ds), transform=_transform_spec(ds, load_kwargs), example=ds.example,
                image_dtype=dtype, sample_rate=ds.sample_rate)
            mean_length = float(ds.examples.lengths.mean()) if isinstance(ds.examples, Signals) and len(ds) else 0.0
            fmt = ShardFormat(
                image_shape=shape, classes=tuple(ds.classes),
                metadata_columns=tuple((k, v.dtype.str) for k, v in ds.metadata.items()),
                image_encoding=image_encoding, compression=compression,
                compression_level=compression_level if compression_level is not None
                else DEFAULT_LEVELS.get(compression),
                row_group_rows=row_group_rows(example_row_bytes(ds.example, shape, dtype, mean_length),
                                              rows_per_shard),
                schema_metadata=json.dumps(described, sort_keys=True, ensure_ascii=False),
                example=ds.example, image_dtype=dtype)
            source = task_source(ds, name_or_dataset, load_kwargs, executor, scratch)
            count = max(1, math.ceil(len(ds) / rows_per_shard))
            for number in range(count):
                start, stop = number * rows_per_shard, min(len(ds), (number + 1) * rows_per_shard)
                path = staging.file(split_folder(ds.split), shard_name(number, count))
                tasks.append(ShardTask(source, destination.full_url(path), start, stop, fmt,
                                       destination.storage_options))
                placed.append((ds.split, shard_name(number, count)))
            entries[ds.split] = {"num_rows": len(ds), "image_encoding": image_encoding,
                                 "compression": compression, "compression_level": fmt.compression_level,
                                 "rows_per_shard": rows_per_shard, "schema_metadata": described}
        log.info("exporting %s (%s) as %d shard(s) to %s", name, ", ".join(split_names), len(tasks),
                 destination.full_url(folder.base))
        results = _run(tasks, executor)
        _check_landed(destination, staging, placed, tasks, results)
        card = _card(name, datasets, entries, placed, results, folder, state)
        folder.commit(staging, split_names, card, state)
    except BaseException as exc:
        if is_disk_full(exc):
            raise disk_full_error(exc, name, destination.full_url(folder.base)) from exc
        raise
    finally:
        staging.remove()
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True)
    shards: dict[str, list[str]] = {s: [] for s in split_names}
    for split, shard in placed:
        shards[split].append(shard)
    return shards


def _check_options(rows_per_shard: int, image_encoding: str, compression: str, level: int | None) -> None:
    if not isinstance(rows_per_shard, (int, np.integer)) or isinstance(rows_per_shard, bool) or rows_per_shard < 1:
        raise ExportError(f"rows_per_shard must be a whole number of at least 1; found {rows_per_shard!r}.")
    if image_encoding not in IMAGE_ENCODINGS:
        raise ExportError(f"image_encoding must be one of {', '.join(IMAGE_ENCODINGS)}; found {image_encoding!r}.")
    if compression not in COMPRESSIONS:
        raise ExportError(f"compression must be one of {', '.join(COMPRESSIONS)}; found {compression!r}.")
    if level is not None and (compression not in DEFAULT_LEVELS):
        raise ExportError(f"compression {compression!r} takes no level; pass compression_level only with "
                          f"{', '.join(DEFAULT_LEVELS)}.")


def _resolve(name_or_dataset: Any, splits: str | Iterable[str] | None,
             load_kwargs: dict[str, Any], image_encoding: str = "raw") -> tuple[str, list["Dataset"]]:
    """The dataset name and the Dataset of every split to write."""
    from ..dataset import Dataset

    wanted = [splits] if isinstance(splits, str) else (list(splits) if splits is not None else None)
    if isinstance(name_or_dataset, Dataset):
        ds = name_or_dataset
        if load_kwargs:
            raise ExportError(f"{', '.join(sorted(load_kwargs))}: load options apply to a dataset *name*; "
                              "this is a Dataset already loaded.")
        if not ds.name or not ds.split:
            raise ExportError("this Dataset has no name or split (export writes DEST/<name>/split=<split>/); "
                              "build it with Dataset(..., name='my-dataset', split='train').")
        if wanted is not None and wanted != [ds.split]:
            raise ExportError(f"{ds.name}: a Dataset holds one split ({ds.split!r}); splits={wanted!r} "
                              "applies to a dataset name (export('name', dest, splits=[...])).")
        _check_dataset(ds, image_encoding)
        return ds.name, [ds]
    if not isinstance(name_or_dataset, str):
        raise ExportError(f"export takes a dataset name or a Dataset; found {type(name_or_dataset).__name__}.")
    from ..api import info, load

    about = info(name_or_dataset, registry=load_kwargs.get("registry"))
    name = about.name  # the registry's spelling: "MNIST" is exported as mnist/
    split_names = wanted if wanted is not None else list(about.splits)
    datasets = []
    for split in split_names:
        ds = load(name, split, **load_kwargs)
        _check_dataset(ds, image_encoding)
        datasets.append(ds)
    return name, datasets


def _example_shape(ds: "Dataset") -> tuple[int, ...]:
    """The shape of one example; () for signals of varying length."""
    examples = ds.examples
    return () if isinstance(examples, Signals) else tuple(int(d) for d in examples.shape[1:])


def _check_dataset(ds: "Dataset", image_encoding: str) -> None:
    """What an export writes is what ``read_parquet`` accepts: names, classes, columns and shapes."""
    from ..registry.names import dataset_name_problem, split_name_problem
    from .trust import (classes_problem, encoding_problem, example_dtype_problem, image_shape_problem,
                        metadata_columns_problem)

    # the names become parts of paths (DEST/<name>/split=<split>/), so they pass the registry's checks
    for problem in (dataset_name_problem(ds.name), split_name_problem(ds.split)):
        if problem:
            raise ExportError(f"{ds.name!r} [{ds.split!r}]: {problem}. Give the Dataset another name "
                              "(Dataset(..., name='my-dataset', split='train')).")
    shape, dtype = _example_shape(ds), np.dtype(ds.examples.dtype).name
    problem = (image_shape_problem(list(shape), ds.example) or example_dtype_problem(ds.example, dtype)
               or encoding_problem(image_encoding, ds.example, list(shape), dtype)
               or classes_problem(ds.classes)
               or metadata_columns_problem([[k, v.dtype.name] for k, v in ds.metadata.items()]))
    if problem:
        raise ExportError(f"{ds.name} [{ds.split}]: {problem}. Convert first (ds.map(...), or a transform such as "
                          "mnistfamily.transforms.ToFloat) or export with another image_encoding.")
    if np.ndim(ds.labels) != 1:
        raise ExportError(f"{ds.name} [{ds.split}]: export writes one label per example; found labels of shape "
                          f"{tuple(np.shape(ds.labels))} (a multi-label dataset). Export the label columns as "
                          "metadata instead.")
    if len(ds.labels) and (int(ds.labels.min()) < 0 or int(ds.labels.max()) >= len(ds.classes)):
        raise ExportError(f"{ds.name} [{ds.split}]: labels must index the {len(ds.classes)} classes; found "
                          f"{int(ds.labels.min())}..{int(ds.labels.max())}.")


def _sources(ds: "Dataset") -> list[dict]:
    """Checksum records of the files the split came from: the prepared entry's, else the registry's."""
    filename = getattr(ds.examples.samples if isinstance(ds.examples, Signals) else ds.examples, "filename", None)
    if filename:
        manifest_path = Path(filename).parent / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = None
        if manifest and manifest.get("dataset") == ds.name and manifest.get("split") == ds.split:
            # "verified" says how *this* cache checked the file; it varies between machines
            return [{k: v for k, v in record.items() if k != "verified"} for record in manifest.get("sources", [])]
    return [dict(record) for record in (ds.info.files if ds.info is not None else ())]


def _transform_spec(ds: "Dataset", load_kwargs: Mapping[str, Any]) -> Any:
    """The transform of a variant (registry spec), or a description of ``load(transform=...)``."""
    for attribute in ("transform", "variant"):
        spec = getattr(ds.info, attribute, None)
        if spec:
            return json.loads(json.dumps(spec, default=str))
    transform = load_kwargs.get("transform")
    if transform is None:
        return None
    for method in ("spec", "to_dict"):
        describe = getattr(transform, method, None)
        if callable(describe):
            return json.loads(json.dumps(describe(), default=str))
    text = repr(transform)
    if " at 0x" in text:  # default object repr: the address would make every export differ
        kind = transform if callable(transform) and hasattr(transform, "__qualname__") else type(transform)
        text = f"{kind.__module__}.{kind.__qualname__}"
    return {"repr": text}


def _run(tasks: list[ShardTask], executor: Executor | None) -> list[ShardResult]:
    if executor is None:
        from .images import CodecPool

        with CodecPool() as codec:
            return [write_shard(task, codec) for task in tasks]
    futures: list[Future] = [executor.submit(write_shard, task) for task in tasks]
    try:
        return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        wait_futures(futures)  # nothing may still be writing when the staging folder is deleted
        raise


def _check_landed(destination: Destination, staging: Staging, placed: list[tuple[str, str]],
                  tasks: list[ShardTask], results: list[ShardResult]) -> None:
    """Every shard is in the staging area with the size its task reported."""
    destination.refresh()
    for (split, shard), task, result in zip(placed, tasks, results):
        try:
            size = destination.fs.size(staging.file(split_folder(split), shard))
        except FileNotFoundError:
            size = None
        if size != result.size:
            raise ExportError(
                f"shard {task.url} was written by a worker ({result.size:,} bytes) but this process finds "
                f"{'no file' if size is None else f'{size:,} bytes'} there. Workers must write where this "
                "process reads: memory:// and local paths are private to one process or machine; use a "
                "shared filesystem or an object store.")


def _card(name: str, datasets: list["Dataset"], entries: dict[str, dict[str, Any]], placed: list[tuple[str, str]],
          results: list[ShardResult], folder: DatasetFolder, state: FolderState) -> dict[str, Any]:
    for (split, shard), result in zip(placed, results):
        entries[split].setdefault("shards", []).append(
            {"path": f"{split_folder(split)}/{shard}", "num_rows": result.num_rows, "size": result.size,
             "sha256": result.sha256})
    splits: dict[str, Any] = {}
    if state.card is not None:  # keep the entries of splits this export leaves alone
        for split, entry in state.card.splits.items():
            if split not in entries and split in state.splits:
                splits[split] = dict(entry.raw)
    splits.update(entries)
    described = entries[datasets[-1].split]["schema_metadata"]
    return {
        "format": "mnistfamily-parquet", "format_version": EXPORT_FORMAT_VERSION,
        "dataset": name, **{k: described[k] for k in (
            "title", "homepage", "license", "citation", "classes", "example", "image_shape", "image_dtype",
            "sample_rate", "metadata_columns", "library_version")},
        "layout": "split=<split>/part-NNNNN-of-MMMMM.parquet in the dataset folder, this card beside it in "
                  "_mnistfamily/; _SUCCESS is written last: read only when it exists",
        "splits": splits,
    }
