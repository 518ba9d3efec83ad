"""``read_parquet``: an export back to Dataset(s), bit for bit, without the source files.

Classes, image shape, license, citation and source checksums come from the shards'
schema metadata, and the list of shards from the dataset card, so a copy of the export
on another machine (or in a bucket) reads back alone. A dataset folder is read only when
its ``_SUCCESS`` marker exists; its shards must be exactly those the card lists.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .errors import ExportError, IncompleteExportError
from .layout import (CARD, SUCCESS, Destination, basename, join, parent, parse_shard_name,
                     redacts_storage_options)
from .schema import METADATA_KEY, column_to_numpy, parse_schema_metadata

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset


@redacts_storage_options
def read_parquet(path_or_url: str | os.PathLike[str], *, splits: str | Iterable[str] | None = None,
                 storage_options: dict | None = None) -> "Dataset | dict[str, Dataset]":
    """Read an export back: a dataset folder gives ``{split: Dataset}``, a split folder or a shard a Dataset.

    Parameters
    ----------
    path_or_url
        ``DEST/<dataset>`` (every split, or ``splits``), ``DEST/<dataset>/split=train``, or
        one ``part-*.parquet`` file; any fsspec URL (``s3://...``, ``memory://...``).
    splits
        With a dataset folder: only these splits.
    storage_options
        fsspec options (credentials, endpoint).

    Returns
    -------
    Dataset or dict[str, Dataset]
        Images, labels (int64), index, classes and metadata columns exactly as exported.

    Examples
    --------
    >>> import tempfile, mnistfamily as mf
    >>> from mnistfamily.outputs import export, read_parquet
    >>> result = export("mnist/sample", tempfile.mkdtemp())
    >>> ds = read_parquet(result.path)["test"]
    >>> (ds.images == mf.load("mnist/sample", "test").images).all()
    np.True_
    """
    dest = Destination(path_or_url, storage_options)
    fs, root = dest.fs, dest.root
    where = dest.full_url(root)
    if not fs.exists(root):
        raise IncompleteExportError(f"{where}: nothing there. Pass the folder `export` wrote "
                                    "(DEST/<dataset>), one of its split=<split> folders, or a shard.")
    if fs.isfile(root):
        return _read_split(dest, [root], where)
    name = basename(root)
    if name.startswith("split="):
        split = name[len("split="):]
        folder = parent(root)
        card = dest.read_json(join(folder, CARD))
        if card is None:  # a split folder copied on its own: its shard names tell whether it is whole
            return _read_split(dest, _listed_shards(dest, root), where)
        _require_success(dest, folder)
        entry = card.get("splits", {}).get(split)
        if entry is None:
            raise IncompleteExportError(f"{where}: the dataset card {join(folder, CARD)} lists no split "
                                        f"{split!r} (it lists {', '.join(card.get('splits', {})) or 'none'}).")
        return _read_split(dest, _card_shards(dest, folder, split, entry), where, entry.get("num_rows"))
    card = dest.read_json(join(root, CARD))
    if card is None:
        names = [basename(p) for p in fs.ls(root, detail=False)]
        if any(n.startswith(".tmp-") for n in names) and not [n for n in names if not n.startswith(".")]:
            # only an export's temporary prefix: one is being written, or one was killed
            raise IncompleteExportError(f"{where}: only the temporary files of an export, no {SUCCESS}: an "
                                        "export is being written right now, or did not finish. Wait for it, "
                                        "or export again (which deletes what a killed export left).")
        if any(n.startswith("split=") for n in names):
            raise IncompleteExportError(f"{where}: split folders but no {CARD} and no {SUCCESS}: the export "
                                        "did not finish (or is still running). Export again.")
        inside = [basename(p) for p in fs.ls(root, detail=False) if fs.exists(join(p, CARD))]
        hint = f" It holds the export(s) {', '.join(sorted(inside))}: pass one of those folders." if inside else ""
        raise ExportError(f"{where}: not an mnistfamily export (no {CARD}).{hint}")
    _require_success(dest, root)
    available = list(card.get("splits", {}))
    wanted = [splits] if isinstance(splits, str) else (list(splits) if splits is not None else available)
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise ExportError(f"{where}: no split {', '.join(map(repr, unknown))}; the export holds "
                          f"{', '.join(available) or 'none'}.")
    out = {}
    for split in wanted:
        entry = card["splits"][split]
        out[split] = _read_split(dest, _card_shards(dest, root, split, entry), join(where, f"split={split}"),
                                 entry.get("num_rows"))
    return out


def _require_success(dest: Destination, folder: str) -> None:
    if not dest.exists(join(folder, SUCCESS)):
        raise IncompleteExportError(f"{dest.full_url(folder)}: no {SUCCESS} marker: the export did not finish "
                                    "or is being written right now. Wait for it, or export again.")


def _card_shards(dest: Destination, folder: str, split: str, entry: dict[str, Any]) -> list[str]:
    paths = [join(folder, shard["path"]) for shard in entry.get("shards", [])]
    missing = [p for p in paths if not dest.exists(p)]
    if missing or not paths:
        raise IncompleteExportError(f"{dest.full_url(folder)}: split {split!r} is missing "
                                    f"{', '.join(map(basename, missing)) or 'every shard'} that the card lists. "
                                    "Export again.")
    return paths


def _listed_shards(dest: Destination, folder: str) -> list[str]:
    names = sorted(basename(p) for p in dest.fs.ls(folder, detail=False))
    shards = {n: parse_shard_name(n) for n in names}
    found = {n: parsed for n, parsed in shards.items() if parsed is not None}
    counts = {count for _, count in found.values()}
    numbers = sorted(number for number, _ in found.values())
    if len(counts) != 1 or numbers != list(range(next(iter(counts)))):
        raise IncompleteExportError(f"{dest.full_url(folder)}: the shards are not a complete set "
                                    f"(found {', '.join(found) or 'none'}). Export again.")
    return [join(folder, n) for n in sorted(found)]


def _read_split(dest: Destination, paths: list[str], where: str, expected_rows: int | None = None) -> "Dataset":
    import pyarrow.parquet as pq

    from ..dataset import Dataset, DatasetInfo
    from .images import CodecPool

    opened = []
    try:
        for path in paths:
            handle = path if dest.local else dest.fs.open(path, "rb")
            opened.append((handle, pq.ParquetFile(handle)))
        files = [pf for _, pf in opened]
        first = files[0].schema_arrow.metadata
        described = parse_schema_metadata(first, where)
        for path, pf in zip(paths, files[1:]):
            if (pf.schema_arrow.metadata or {}).get(METADATA_KEY) != first.get(METADATA_KEY):
                raise ExportError(f"{dest.full_url(path)}: its schema metadata differs from the first shard's: "
                                  "shards of different exports are mixed in one folder.")
        shape = tuple(int(d) for d in described["image_shape"])
        pixels = int(np.prod(shape))
        total = sum(pf.metadata.num_rows for pf in files)
        if expected_rows is not None and total != expected_rows:
            raise IncompleteExportError(f"{where}: the shards hold {total:,} rows, the card says {expected_rows:,}. "
                                        "Export again.")
        meta_columns = {k: np.dtype(v) for k, v in described.get("metadata_columns", [])}
        images = np.empty((total, *shape), dtype=np.uint8)
        flat = images.reshape(total, pixels)
        labels = np.empty(total, dtype=np.int64)
        index = np.empty(total, dtype=np.int64)
        metadata = {k: np.empty(total, dtype=dtype) for k, dtype in meta_columns.items()}
        columns = ["index", "image", "label", *meta_columns]
        png = described.get("image_encoding") == "png"
        position = 0
        with CodecPool() as codec:
            for pf in files:
                for group in range(pf.num_row_groups):
                    table = pf.read_row_group(group, columns=columns)
                    n = table.num_rows
                    rows = slice(position, position + n)
                    column_to_numpy(table.column("index"), index[rows])
                    column_to_numpy(table.column("label"), labels[rows])
                    for k in meta_columns:
                        column_to_numpy(table.column(k), metadata[k][rows])
                    if png:
                        blobs = table.column("image").combine_chunks().field("bytes").to_pylist()
                        images[rows] = codec.decode(blobs, shape)
                    else:
                        offset = position
                        for chunk in table.column("image").chunks:
                            data = np.frombuffer(chunk.buffers()[1], dtype=np.uint8,
                                                 count=len(chunk) * pixels, offset=chunk.offset * pixels)
                            flat[offset:offset + len(chunk)] = data.reshape(len(chunk), pixels)
                            offset += len(chunk)
                    position += n
                    del table
    finally:
        for handle, _ in opened:
            if not isinstance(handle, str):
                handle.close()
    classes = list(described["classes"])
    if total and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ExportError(f"{where}: labels {labels.min()}..{labels.max()} do not index the {len(classes)} classes.")
    info = DatasetInfo(
        name=described["dataset"], title=described.get("title", ""), description="",
        homepage=described.get("homepage", ""), license=described.get("license", ""),
        citation=described.get("citation", ""), classes=tuple(classes), image_shape=shape,
        splits={described["split"]: total}, files=tuple(described.get("sources", [])),
        metadata_columns=tuple(meta_columns), notes=f"read back from {where}",
    )
    return Dataset(images, labels, classes=classes, index=index, metadata=metadata,
                   name=described["dataset"], split=described["split"], info=info)


def schema_metadata(path_or_url: str | os.PathLike[str], *, storage_options: dict | None = None) -> dict[str, Any]:
    """The ``mnistfamily`` JSON of one shard's schema (dataset, classes, sources, ...)."""
    import pyarrow.parquet as pq

    dest = Destination(path_or_url, storage_options)
    with dest.fs.open(dest.root, "rb") as f:
        schema = pq.read_schema(f)
    return parse_schema_metadata(schema.metadata, dest.full_url(dest.root))
