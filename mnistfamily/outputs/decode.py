"""Shards back into arrays: every byte checked against the card, every declaration against the bytes present.

``read_split`` reads the shards of one split (a list of :class:`ShardRef`, in order) into
one :class:`~mnistfamily.Dataset`. A shard is untrusted input, so before anything is
allocated:

- with a card, the shard's size and sha256 are the card's (``verify=True``, the default);
  the bytes that were hashed are the bytes that are parsed, so a file swapped in between
  cannot slip through;
- the schema metadata passes :func:`.trust.describe`, and equals the card's copy of it;
- the Arrow schema is exactly the one an export of that description writes (column names,
  order and types), so no column is read as something it is not;
- the arrays to allocate (rows times the bytes of a row) are at most ``MAX_EXPANSION`` times
  the bytes of the files, plus ``ALLOWANCE``: no export expands further (the most
  compressible one we could make, all-black 4000x4000 images with brotli, expands 21,371:1),
  and a shard that declares more is refused before a byte is allocated;
- PNG images must be PNGs of exactly the declared size (checked before decoding).

Any failure of pyarrow or Pillow on such a file becomes a :class:`CorruptExportError` naming it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MnistFamilyError
from .errors import IncompleteExportError
from .layout import Destination
from .schema import METADATA_KEY, ShardFormat, column_to_numpy
from .trust import ShardEntry, SplitDescription, SplitEntry, corrupt, describe, parse_json

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

#: how many times the bytes of its files a split may expand into the arrays read_parquet allocates
MAX_EXPANSION = 1 << 16
#: allocation allowed whatever the files' size (small exports, empty splits)
ALLOWANCE = 64 << 20
#: bytes of the smallest valid PNG (signature, IHDR, one IDAT, IEND)
_SMALLEST_PNG = 67


@dataclass(frozen=True)
class ShardRef:
    """A shard to read: its path, and the card's record of it (None when no card lists it)."""

    path: str
    entry: ShardEntry | None = None


@dataclass
class _Opened:
    ref: ShardRef
    url: str
    size: int
    file: Any  # pq.ParquetFile
    source: Any  # what it was opened from: the verified bytes, a local path, or an open remote file
    handle: Any = None  # a file object to close, if any

    def reopen(self, **options: Any) -> Any:
        """The same shard as another ``pq.ParquetFile`` (with other read options)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        return pq.ParquetFile(pa.BufferReader(self.source) if isinstance(self.source, bytes) else self.source,
                              **options)


def read_split(dest: Destination, refs: list[ShardRef], where: str, entry: SplitEntry | None = None,
               verify: bool = True) -> "Dataset":
    """Read the shards ``refs`` of one split; ``entry`` is the card's record of the split, if any."""
    opened: list[_Opened] = []
    try:
        for ref in refs:
            opened.append(_open(dest, ref, verify))
        try:
            described = _check_description(opened, entry, where)
            return _decode(opened, described, where, entry)
        except MnistFamilyError:
            raise
        except Exception as exc:  # pyarrow failing on a damaged footer (names that are not UTF-8, ...)
            raise corrupt(where, f"its Parquet metadata cannot be read ({type(exc).__name__}: "
                                 f"{str(exc)[:200]})") from None
    finally:
        for shard in opened:
            if shard.handle is not None:
                shard.handle.close()


def _open(dest: Destination, ref: ShardRef, verify: bool) -> _Opened:
    """Open one shard; with ``verify`` and a card record, check its size and sha256 first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    url = dest.full_url(ref.path)
    try:
        size = int(dest.fs.size(ref.path))
    except FileNotFoundError:
        raise IncompleteExportError(f"{url}: the shard is missing. Export again.") from None
    expected = ref.entry
    source: Any
    handle = None
    if expected is not None and size != expected.size:
        raise corrupt(url, f"the shard is {size:,} bytes; the dataset card lists {expected.size:,}: it was "
                           "changed, cut short or replaced after the export")
    if verify and expected is not None:
        data = dest.fs.cat_file(ref.path)
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != expected.size or digest != expected.sha256:
            raise corrupt(url, f"its sha256 is {digest}; the dataset card lists {expected.sha256}: the file was "
                               "changed or damaged after the export (read_parquet(..., verify=False) skips this "
                               "check, at your own risk)")
        source = bytes(data)  # the bytes that were hashed are the bytes that are parsed
    elif dest.local:
        source = ref.path
    else:
        source = handle = dest.fs.open(ref.path, "rb")
    try:
        return _Opened(ref, url, size, pq.ParquetFile(pa.BufferReader(source) if isinstance(source, bytes)
                                                      else source), source, handle)
    except Exception as exc:  # pyarrow's own errors (ArrowInvalid, OSError...) on a file that is not Parquet
        if handle is not None:
            handle.close()
        raise corrupt(url, f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})") from None


def _check_description(opened: list[_Opened], entry: SplitEntry | None, where: str) -> SplitDescription:
    """The split's checked description: every shard carries the same one, equal to the card's."""
    first = opened[0]
    raw = (first.file.schema_arrow.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise corrupt(first.url, "not an mnistfamily export (its Parquet schema has no 'mnistfamily' metadata)",
                      "Read it with pyarrow, Polars or DuckDB instead.")
    described = describe(parse_json(raw, first.url, "its 'mnistfamily' schema metadata"), first.url)
    if entry is not None and entry.schema_metadata is not None and dict(entry.schema_metadata) != dict(described.raw):
        raise corrupt(first.url, "its schema metadata differs from the dataset card's record of the split (classes, "
                                 "image shape, columns...): the shard or the card was changed after the export")
    expected: ShardFormat = described.shard_format()
    expected_schema = expected.arrow_schema().remove_metadata()
    for shard in opened:
        schema = shard.file.schema_arrow
        if (schema.metadata or {}).get(METADATA_KEY) != raw:
            raise corrupt(shard.url, "its schema metadata differs from the first shard's: shards of different "
                                     "exports are mixed in one folder")
        if not schema.remove_metadata().equals(expected_schema):
            found = ", ".join(f"{f.name}: {f.type}" for f in list(schema)[:12])
            raise corrupt(shard.url, f"its columns are not those of an export of {described.dataset} "
                                     f"[{described.split}] (expected {_columns(expected_schema)}; found {found})")
    return described


def _columns(schema: Any) -> str:
    return ", ".join(f"{f.name}: {f.type}" for f in list(schema)[:12]) + (", ..." if len(schema) > 12 else "")


def _decode(opened: list[_Opened], described: SplitDescription, where: str, entry: SplitEntry | None) -> "Dataset":
    from ..dataset import Dataset, DatasetInfo
    from ..examples import Signals
    from .images import CodecPool, PngError

    fmt: ShardFormat = described.shard_format()
    shape = described.image_shape
    dtype = np.dtype(described.image_dtype).newbyteorder("<")  # as the export wrote the values
    row_bytes = 0 if fmt.varying else fmt.image_bytes
    meta_columns = {name: np.dtype(dtype_) for name, dtype_ in described.metadata_columns}
    counts = [shard.file.metadata.num_rows for shard in opened]
    total = sum(counts)
    if entry is not None:
        for shard, count in zip(opened, counts):
            if shard.ref.entry is not None and count != shard.ref.entry.num_rows:
                raise corrupt(shard.url, f"the shard holds {count:,} rows; the dataset card lists "
                                         f"{shard.ref.entry.num_rows:,}")
        if total != entry.num_rows:
            raise IncompleteExportError(f"{where}: the shards hold {total:,} rows, the card says "
                                        f"{entry.num_rows:,}. Export again.")
    _check_allocation(opened, total, row_bytes + 16 + sum(d.itemsize for d in meta_columns.values()), where,
                      described, row_bytes)
    images = np.empty((0 if fmt.varying else total, *shape), dtype=dtype.newbyteorder("="))
    flat = images.view(np.uint8).reshape(len(images), row_bytes) if not fmt.varying else images
    pieces: list[np.ndarray] = []  # varying-length signals: each row group's samples, joined at the end
    lengths = np.zeros(total if fmt.varying else 0, dtype=np.int64)
    labels = np.empty(total, dtype=np.int64)
    index = np.empty(total, dtype=np.int64)
    metadata = {k: np.empty(total, dtype=dtype_) for k, dtype_ in meta_columns.items()}
    column = fmt.column
    columns = ["index", column, "label", *meta_columns]
    position = 0
    png = described.image_encoding == "png"
    with CodecPool() as codec:
        for shard in opened:
            # PNG cells are read as a dictionary: a file that stores one PNG for millions of rows is
            # decoded once per distinct PNG, never expanded into millions of copies
            pf = shard.reopen(read_dictionary=[f"{column}.bytes"]) if png else shard.file
            for group in range(pf.num_row_groups):
                declared = pf.metadata.row_group(group).num_rows
                try:
                    table = pf.read_row_group(group, columns=columns)
                    n = table.num_rows
                    if n != declared or position + n > total:
                        raise corrupt(shard.url, f"row group {group} holds {n:,} rows; its footer declares "
                                                 f"{declared:,}")
                    rows = slice(position, position + n)
                    column_to_numpy(table.column("index"), index[rows])
                    column_to_numpy(table.column("label"), labels[rows])
                    for k in meta_columns:
                        column_to_numpy(table.column(k), metadata[k][rows])
                    if fmt.varying:
                        pieces.append(_copy_lists(table.column(column), lengths[rows], dtype))
                    elif png:
                        _decode_png(table.column(column), images[rows], codec, position)
                    elif described.image_encoding == "tensor":
                        _copy_tensor(table.column(column), flat[rows], row_bytes)
                    else:
                        _copy_raw(table.column(column), flat[rows], row_bytes)
                    del table
                except PngError as exc:
                    raise corrupt(shard.url, f"image {exc.index:,} (row group {group}): {exc.reason}; "
                                             f"an export holds 8-bit PNGs of {'x'.join(map(str, shape))}") from None
                except MnistFamilyError:
                    raise
                except Exception as exc:  # pyarrow's errors on damaged pages, nulls, short buffers...
                    raise corrupt(shard.url, f"row group {group} cannot be read ({type(exc).__name__}: "
                                             f"{str(exc)[:200]})") from None
                position += n
    if position != total:
        raise corrupt(where, f"the shards hold {position:,} rows; their footers declare {total:,}")
    classes = list(described.classes)
    if total and (labels.min() < 0 or labels.max() >= len(classes)):
        raise corrupt(where, f"labels {labels.min()}..{labels.max()} do not index the {len(classes)} classes")
    examples: "np.ndarray | Signals" = images
    if fmt.varying:
        offsets = np.zeros(total + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        samples = np.concatenate(pieces) if pieces else np.empty(0, dtype=dtype)
        examples = Signals(samples.astype(samples.dtype.newbyteorder("="), copy=False), offsets)
    info = DatasetInfo(
        name=described.dataset, title=described.title, description="", homepage=described.homepage,
        license=described.license, citation=described.citation, classes=tuple(classes), image_shape=shape,
        splits={described.split: total}, files=described.sources, metadata_columns=tuple(meta_columns),
        notes=f"read back from {where}", example=described.example, image_dtype=described.image_dtype,
        sample_rate=described.sample_rate,
    )
    return Dataset(examples, labels, classes=classes, index=index, metadata=metadata,
                   name=described.dataset, split=described.split, info=info, example=described.example,
                   sample_rate=described.sample_rate)


def _check_allocation(opened: list[_Opened], total: int, row_bytes: int, where: str, described: SplitDescription,
                      example_bytes: int) -> None:
    """Refuse, before allocating, row counts and arrays that the bytes of the files cannot hold.

    Per row group, the bytes it declares once decompressed must be enough for its rows (raw: the
    bytes of one example per row; PNG: the smallest PNG per row; tensor and signal lists: no bound,
    their values are run-length or dictionary encoded and a list may be empty); what a file
    declares, and what the split's arrays need, may be at most ``MAX_EXPANSION`` times the bytes
    of the files, plus ``ALLOWANCE``. The samples of varying-length signals are read row group by
    row group, each bounded by what its footer declares. Only row-group metadata is read: pyarrow
    aborts the interpreter (instead of raising) when Python reads column-chunk metadata whose
    statistics are malformed.
    """
    encoding = described.image_encoding
    shown = "x".join(map(str, described.image_shape)) or "varying-length"
    per_row = {"raw": example_bytes, "png": 4 + _SMALLEST_PNG}.get(encoding, 0)
    file_bytes = sum(shard.size for shard in opened)
    for shard in opened:
        md = shard.file.metadata
        groups = [md.row_group(g) for g in range(md.num_row_groups)]
        if sum(group.num_rows for group in groups) != md.num_rows:
            raise corrupt(shard.url, f"its row groups hold {sum(g.num_rows for g in groups):,} rows; its footer "
                                     f"declares {md.num_rows:,}")
        for number, group in enumerate(groups):
            if group.total_byte_size < group.num_rows * per_row:
                raise corrupt(shard.url, f"row group {number} declares {group.num_rows:,} rows of {shown} "
                                         f"{described.example}s but holds {group.total_byte_size:,} bytes once "
                                         "decompressed")
        declared = sum(group.total_byte_size for group in groups)
        if declared > ALLOWANCE + MAX_EXPANSION * shard.size:
            raise corrupt(shard.url, f"its row groups declare {declared:,} bytes once decompressed, from a "
                                     f"{shard.size:,}-byte file: more than the {MAX_EXPANSION:,}:1 that any "
                                     "export expands to")
    need = total * row_bytes
    if need > ALLOWANCE + MAX_EXPANSION * file_bytes:
        raise corrupt(where, f"the shards declare {total:,} rows of {shown} {described.example}s: {need:,} bytes "
                             f"to allocate from {file_bytes:,} bytes of files, more than the {MAX_EXPANSION:,}:1 "
                             "that any export expands to")


def _copy_lists(column: Any, lengths: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The samples of a ``list<dtype>`` column without nulls (one row group), and each row's length in ``lengths``.

    The values are copied from the lists' own range only (a sliced or hostile offsets buffer that
    points outside the values is refused), so what is allocated is what the row group holds.
    """
    import pyarrow as pa

    parts = []
    offset = 0
    for chunk in column.chunks:
        if chunk.null_count or chunk.values.null_count:
            raise ValueError(f"{max(chunk.null_count, chunk.values.null_count)} missing signals or samples")
        bounds = np.empty(len(chunk) + 1, dtype=np.int64)
        column_to_numpy(chunk.offsets.cast(pa.int64()), bounds)
        steps = np.diff(bounds)
        if len(chunk) and (bounds[0] < 0 or (steps < 0).any() or bounds[-1] > len(chunk.values)):
            raise ValueError("list offsets out of order or outside their values")
        lengths[offset:offset + len(chunk)] = steps
        values = np.empty(int(bounds[-1] - bounds[0]) if len(chunk) else 0, dtype=dtype)
        if len(values):
            column_to_numpy(chunk.values.slice(int(bounds[0]), len(values)), values)
        parts.append(values)
        offset += len(chunk)
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _decode_png(column: Any, out: np.ndarray, codec: Any, first: int) -> None:
    """Decode a ``struct<bytes: dictionary<binary>, path>`` column into ``out``: each distinct PNG once.

    A :class:`PngError` names the first row (counted from ``first``) holding the PNG refused.
    """
    from .images import PngError

    offset = 0
    for chunk in column.chunks:
        blobs = chunk.field("bytes")
        if chunk.null_count or blobs.null_count:
            raise ValueError(f"{max(chunk.null_count, blobs.null_count)} missing images")
        indices = np.empty(len(blobs), dtype=np.dtype(blobs.indices.type.to_pandas_dtype()))
        column_to_numpy(blobs.indices, indices)
        try:
            distinct = codec.decode(blobs.dictionary.to_pylist(), out.shape[1:])
        except PngError as exc:
            row = first + offset + int(np.argmax(indices == exc.index))
            raise PngError(row, exc.reason) from None
        out[offset:offset + len(blobs)] = distinct[indices]
        offset += len(blobs)


def _copy_raw(column: Any, out: np.ndarray, pixels: int) -> None:
    """Copy a ``fixed_size_binary[pixels]`` column without nulls into ``out`` (rows, bytes of a row)."""
    offset = 0
    for chunk in column.chunks:
        if chunk.null_count:
            raise ValueError(f"{chunk.null_count} missing images")
        data = np.frombuffer(chunk.buffers()[1], dtype=np.uint8, count=len(chunk) * pixels,
                             offset=chunk.offset * pixels)
        out[offset:offset + len(chunk)] = data.reshape(len(chunk), pixels)
        offset += len(chunk)


def _copy_tensor(column: Any, out: np.ndarray, row_bytes: int) -> None:
    """Copy a ``fixed_shape_tensor(<dtype>, shape)`` column without nulls into ``out`` (rows, bytes of a row).

    Its storage is a ``fixed_size_list<dtype>[values]``; a null list, or a null value in one,
    is refused (an export writes none).
    """
    offset = 0
    for chunk in column.chunks:
        storage = getattr(chunk, "storage", chunk)
        values = storage.values  # the list array's children, sliced by its offset below
        if storage.null_count or values.null_count:
            raise ValueError(f"{max(storage.null_count, values.null_count)} missing examples or values")
        itemsize = values.type.bit_width // 8
        first = (values.offset * itemsize) + storage.offset * row_bytes
        data = np.frombuffer(values.buffers()[1], dtype=np.uint8, count=len(storage) * row_bytes, offset=first)
        out[offset:offset + len(storage)] = data.reshape(len(storage), row_bytes)
        offset += len(storage)
