"""An export as a table: what Iceberg and Delta registration share (the export's files, the table's schema).

A table format only needs a list of data files, their partition value (the ``split`` of the
Hive folder each shard sits in), sizes and row counts: the dataset card has all of it. So
registering an export writes table metadata only, never a data file: the shards stay where
the export put them, and the table points at them (:mod:`.iceberg`, :mod:`.delta`).

Registration starts from a complete export (``_SUCCESS``, the card), checks that every shard
the card lists is there with the card's size (and, with ``verify=True``, its sha256), and that
every split has one schema; the card and the shards are untrusted input like anywhere else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import ExportError, IncompleteExportError, TableRegistrationError
from .layout import SUCCESS, Destination, basename, inside, join
from .schema import ShardFormat
from .trust import Card, ShardEntry, describe

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

TABLE_FORMATS = ("iceberg", "delta")
#: the partition column: the Hive folder ``split=<split>`` of each shard
PARTITION = "split"
#: Delta and Iceberg have no unsigned integers: each goes to the next larger signed type
_SIGNED = {"uint8": "int16", "uint16": "int32", "uint32": "int64"}


@dataclass(frozen=True)
class ExportFiles:
    """A complete export, as a table needs it: the folder's URL, the format of its shards, every shard."""

    dataset: str
    title: str
    folder: str  # fsspec path of the dataset folder
    url: str  # its full URL (file:///..., s3://...)
    format: ShardFormat
    shards: tuple[tuple[str, ShardEntry], ...]  # (split, entry); entry.path is relative to the folder


def export_files(dest: Destination, folder: str, what: str, verify: bool = True) -> ExportFiles:
    """The files of the complete export in ``folder``, checked against its card."""
    from .read import _read_card

    url = dest.full_url(folder)
    found = _read_card(dest, folder)
    if found is None:
        raise IncompleteExportError(f"{url}: no dataset card: not an export, or it did not finish. Export the "
                                    f"dataset there first, then register it as {what}.")
    card, card_url = found
    if not dest.exists(join(folder, SUCCESS)):
        raise IncompleteExportError(f"{url}: no {SUCCESS}: the export did not finish. Export again, then register "
                                    f"it as {what}.")
    fmt, title = _one_format(card, card_url, what)
    shards: list[tuple[str, ShardEntry]] = []
    for split, entry in card.splits.items():
        for shard in entry.shards:
            path = inside(folder, shard.path)
            try:
                size = int(dest.fs.size(path))
            except FileNotFoundError:
                raise IncompleteExportError(f"{dest.full_url(path)}: missing; the card lists it. Export again.") from None
            if size != shard.size:
                raise TableRegistrationError(f"{dest.full_url(path)} is {size:,} bytes; the card {card_url} lists "
                                             f"{shard.size:,}: it changed after the export. Export again.")
            if verify:
                digest = hashlib.sha256(dest.fs.cat_file(path)).hexdigest()
                if digest != shard.sha256:
                    raise TableRegistrationError(f"{dest.full_url(path)}: its sha256 is {digest}; the card {card_url} "
                                                 f"lists {shard.sha256}: it changed after the export. Export again.")
            shards.append((split, shard))
    return ExportFiles(card.dataset, title, folder, url, fmt, tuple(shards))


def _one_format(card: Card, card_url: str, what: str) -> tuple[ShardFormat, str]:
    """The shard format every split of the card shares (a table has one schema)."""
    formats = {}
    title = ""
    for split, entry in card.splits.items():
        if entry.schema_metadata is None:
            raise TableRegistrationError(f"{card_url}: split {split!r} has no schema_metadata: not a card an export "
                                         "writes. Export again.")
        described = describe(dict(entry.schema_metadata), card_url)
        title = described.title
        formats[split] = replace(described.shard_format(), recorded_label_dtype=None)
    distinct = set(formats.values())
    if len(distinct) != 1:
        shown = "; ".join(f"{s}: {f.image_encoding} {f.example} {f.image_shape}, {len(f.classes)} classes"
                          for s, f in formats.items())
        raise TableRegistrationError(f"{card_url}: the splits have different columns ({shown}); {what} holds one "
                                     "schema. Export every split the same way (overwrite=True).")
    return distinct.pop(), title


def table_arrow_schema(fmt: ShardFormat, what: str, where: str) -> "pa.Schema":
    """The table's columns: the shards' own, as a table format can hold them, plus ``split``.

    Dictionaries become their values (``label_name``: string); unsigned integers become the next
    larger signed type (a table format has none, and reading ``uint8`` 200 as ``int8`` fails);
    a tensor image becomes a list of ``int16``. ``uint64`` and ``float16`` columns have no
    lossless type in either format and are refused.
    """
    import numpy as np
    import pyarrow as pa

    def signed(value_type: "pa.DataType") -> "pa.DataType":
        name = np.dtype(value_type.to_pandas_dtype()).name
        return pa.from_numpy_dtype(np.dtype(_SIGNED[name])) if name in _SIGNED else value_type

    fields = []
    for field in fmt.arrow_schema().remove_metadata():
        type_ = field.type
        if isinstance(type_, pa.BaseExtensionType):  # fixed_shape_tensor(uint8): its values as a list of int16
            type_ = pa.list_(signed(type_.storage_type.value_type))
        elif pa.types.is_list(type_):  # signals of varying length: their samples, signed
            type_ = pa.list_(signed(type_.value_type))
        elif pa.types.is_dictionary(type_):
            type_ = type_.value_type
        elif pa.types.is_integer(type_) or pa.types.is_floating(type_):
            name = np.dtype(type_.to_pandas_dtype()).name
            if name in ("uint64", "float16"):
                raise TableRegistrationError(
                    f"{where}: column {field.name!r} is {name}, which {what} cannot hold without loss. Export the "
                    "dataset as Parquet only (table=None), or convert that metadata column first.")
            if name in _SIGNED:
                type_ = pa.from_numpy_dtype(np.dtype(_SIGNED[name]))
        fields.append(pa.field(field.name, type_))
    fields.append(pa.field(PARTITION, pa.string()))
    return pa.schema(fields)


def shard_url(files: ExportFiles, dest: Destination, shard: ShardEntry) -> str:
    """The full URL of a shard (what an Iceberg manifest records)."""
    return dest.full_url(join(files.folder, shard.path))


def folder_label(files: ExportFiles) -> str:
    """The dataset folder's name, for messages and default table names."""
    return basename(files.folder)


def describe_registration(what: str, files: ExportFiles, exc: BaseException, again: str) -> TableRegistrationError:
    """The error for a registration that failed after the export itself completed."""
    detail = f"{type(exc).__name__}: {str(exc)[:500]}"
    return TableRegistrationError(
        f"{files.url}: the export is complete (read_parquet reads it), but registering it as {what} failed "
        f"({detail}). Fix the cause, then register it with {again}.")


def table_registrar(table: str | None, catalog: Any, table_name: str | None, table_storage_options: dict | None,
                    image_encoding: str) -> Any:
    """The table registrar for ``table`` (its library imported and its catalog loaded), or None."""
    if table is None:
        if catalog is not None or table_name is not None or table_storage_options is not None:
            raise ExportError("catalog=, table_name= and table_storage_options= go with table='iceberg' or "
                              "table='delta'; pass table= too (or leave them out).")
        return None
    if table == "iceberg":
        from .iceberg import IcebergRegistrar

        if catalog is None:
            raise ExportError("table='iceberg' needs catalog=: a pyiceberg Catalog, the name of a configured "
                              "catalog, or its properties ({'type': 'sql', 'uri': ..., 'warehouse': ...}).")
        if image_encoding == "tensor":
            raise ExportError("table='iceberg' with image_encoding='tensor': Iceberg has no tensor type and "
                              "pyiceberg cannot read Arrow tensors. Use image_encoding='raw' or 'png'.")
        if table_storage_options is not None:
            raise ExportError("table_storage_options= is for table='delta'; an Iceberg catalog takes its FileIO "
                              "properties (s3.endpoint, ...) with its own.")
        return IcebergRegistrar(catalog, table_name)
    if table == "delta":
        from .delta import DeltaRegistrar

        if catalog is not None or table_name is not None:
            raise ExportError("catalog= and table_name= are for table='iceberg'; a Delta table is its folder.")
        return DeltaRegistrar(table_storage_options)
    raise ExportError(f"table must be 'iceberg', 'delta' or None; found {table!r}.")


def register_export(registrar: Any, table: str, destination: Destination, folder: str,
                    rewritten: set[str]) -> str:
    """Register the export just committed; a failure says the export is complete and how to register it."""
    what = "an Iceberg table" if table == "iceberg" else "a Delta table"
    again = "register_iceberg(path, catalog=...)" if table == "iceberg" else "register_delta(path)"
    files = export_files(destination, folder, what, verify=False)  # just written, sizes checked
    try:
        if table == "delta":
            return str(registrar.register(destination, files, rewritten))
        return str(registrar.register(destination, files))
    except ExportError:
        raise
    except Exception as exc:  # the catalog's, FileIO's or object store's own errors
        raise describe_registration(what, files, exc, again) from exc
