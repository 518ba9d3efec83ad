"""An export registered as an Apache Iceberg table, in place: the shards become the table's data files.

``pyiceberg``'s own ``add_files`` is not enough for an export: it takes partition values from
the files' column statistics, and ``split`` is not a column of the shards (it is their Hive
folder), so it records a null partition and ``split == 'test'`` silently matches nothing. Here
each shard becomes a data file with the identity partition ``split`` taken from the card, its
size and row count from the card too: no data file is opened or written. The table's
metadata lives where the catalog keeps it (its warehouse), never inside the dataset folder,
so the folder still holds nothing but Parquet. A *name mapping* (the Iceberg way of reading
files written without field ids) maps the shards' columns by name.

Each registration is one snapshot that makes the table's files exactly the export's: an
export with ``overwrite=True`` rewrites its shards in place, so their entries are replaced
(older snapshots then point at files whose bytes changed: do not time-travel across an
overwrite). ``pyiceberg`` is imported only here, on use (``pip install "mnistfamily[iceberg]"``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

from .errors import ExportError, TableRegistrationError
from .layout import Destination, redacts_storage_options
from .tables import (PARTITION, ExportFiles, describe_registration, export_files, folder_label, shard_url,
                     table_arrow_schema)

WHAT = "an Iceberg table"
#: table properties that tie a table to the export folder it registers
FOLDER_PROPERTY = "mnistfamily.folder"
COLUMNS_PROPERTY = "mnistfamily.columns"


def _pyiceberg() -> Any:
    try:
        import pyiceberg.catalog
    except ImportError:
        raise ExportError("table='iceberg' needs pyiceberg, which is not installed: pip install "
                          "\"mnistfamily[iceberg]\" (and the extra of your catalog, e.g. \"pyiceberg[sql-sqlite]\").") from None
    return pyiceberg.catalog


def load_catalog(catalog: Any) -> Any:
    """A pyiceberg ``Catalog`` from a catalog, the name of a configured one, or a mapping of its properties."""
    module = _pyiceberg()
    if isinstance(catalog, module.Catalog):
        return catalog
    try:
        if isinstance(catalog, str):
            return module.load_catalog(catalog)
        if isinstance(catalog, Mapping):
            properties = {str(k): v for k, v in catalog.items()}
            return module.load_catalog(str(properties.pop("name", "mnistfamily")), **properties)
    except Exception as exc:  # pyiceberg's errors for an unknown catalog type, a missing driver, ...
        raise ExportError(f"catalog={_shown(catalog)}: pyiceberg cannot load it ({type(exc).__name__}: "
                          f"{str(exc)[:300]}). Pass a pyiceberg Catalog, the name of one configured in "
                          "~/.pyiceberg.yaml, or its properties ({'type': 'sql', 'uri': ..., 'warehouse': ...}).") from None
    raise ExportError(f"table='iceberg' needs catalog=: a pyiceberg Catalog, the name of a configured catalog, or "
                      f"a mapping of its properties; found {_shown(catalog)}.")


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):  # properties may hold credentials: show the keys only
        return "{" + ", ".join(f"{k!r}: ..." for k in value) + "}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def table_identifier(table_name: str | None, folder: str) -> tuple[str, ...]:
    """``namespace.table`` as a tuple; by default ``mnistfamily.<folder>`` (``-`` and ``.`` written ``_``)."""
    if table_name is None:
        return ("mnistfamily", folder.replace("-", "_").replace(".", "_"))
    parts = tuple(table_name.split("."))
    if len(parts) < 2 or not all(parts):
        raise ExportError(f"table_name={table_name!r}: an Iceberg table name is 'namespace.table' "
                          "(e.g. 'lake.mnist').")
    return parts


class IcebergRegistrar:
    """Registers an export folder in one Iceberg table; checks what it can before the export writes."""

    def __init__(self, catalog: Any, table_name: str | None):
        self.catalog = load_catalog(catalog)
        self.table_name = table_name

    def check(self, folder_url: str, folder: str) -> None:
        """Before exporting: a table of that name must be absent, or register this very folder."""
        identifier = table_identifier(self.table_name, folder)
        table = self._existing(identifier)
        if table is not None:
            self._check_folder(table, identifier, folder_url)

    def register(self, dest: Destination, files: ExportFiles) -> str:
        """Make the table's data files exactly the export's, in one snapshot; returns ``namespace.table``."""
        from pyiceberg.table import TableProperties

        where = files.url
        if files.format.image_encoding == "tensor":
            raise TableRegistrationError(
                f"{where}: its images are Arrow tensors (image_encoding='tensor'), which Iceberg has no type for "
                "and pyiceberg cannot read. Export with image_encoding='raw' (or 'png') for an Iceberg table.")
        schema = table_arrow_schema(files.format, WHAT, where)
        columns = json.dumps([[f.name, str(f.type)] for f in schema])
        identifier = table_identifier(self.table_name, folder_label(files))
        table = self._existing(identifier)
        if table is None:
            table = self._create(identifier, schema, files, columns)
        self._check_folder(table, identifier, where)
        if table.properties.get(COLUMNS_PROPERTY) != columns:
            raise TableRegistrationError(
                f"{where}: the Iceberg table {'.'.join(identifier)} has other columns than this export "
                f"({table.properties.get(COLUMNS_PROPERTY)} against {columns}). Register it under another "
                "table_name, or drop that table first.")
        spec = table.spec()
        if [(f.name, str(f.transform)) for f in spec.fields] != [(PARTITION, "identity")]:
            raise TableRegistrationError(f"{where}: the Iceberg table {'.'.join(identifier)} is not partitioned by "
                                         f"identity({PARTITION}). Register it under another table_name.")
        new = [_data_file(table, shard_url(files, dest, shard), split, shard.num_rows, shard.size)
               for split, shard in files.shards]
        old = _live_data_files(table)
        with table.transaction() as tx:
            if table.metadata.name_mapping() is None:  # the shards carry no field ids: read them by name
                tx.set_properties(**{TableProperties.DEFAULT_NAME_MAPPING:
                                     table.schema().name_mapping.model_dump_json()})
            summary = {"mnistfamily.dataset": files.dataset, FOLDER_PROPERTY: where}
            with tx.update_snapshot(snapshot_properties=summary).overwrite() as snapshot:
                for data_file in old:
                    snapshot.delete_data_file(data_file)
                for data_file in new:
                    snapshot.append_data_file(data_file)
        return ".".join(identifier)

    def _existing(self, identifier: tuple[str, ...]) -> Any:
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        try:
            return self.catalog.load_table(identifier)
        except (NoSuchTableError, NoSuchNamespaceError):
            return None

    def _check_folder(self, table: Any, identifier: tuple[str, ...], folder_url: str) -> None:
        registered = table.properties.get(FOLDER_PROPERTY)
        if registered != folder_url:
            whose = f"the export {registered}" if registered else "files mnistfamily did not register"
            raise TableRegistrationError(
                f"{folder_url}: the Iceberg table {'.'.join(identifier)} already exists and holds {whose}. Pass "
                "another table_name, or drop that table first; nothing was written.")

    def _create(self, identifier: tuple[str, ...], schema: Any, files: ExportFiles, columns: str) -> Any:
        """Create the table, partitioned by identity(split), in one catalog commit."""
        self.catalog.create_namespace_if_not_exists(identifier[:-1])
        properties = {FOLDER_PROPERTY: files.url, COLUMNS_PROPERTY: columns, "mnistfamily.dataset": files.dataset}
        create = self.catalog.create_table_transaction(identifier, schema=schema, properties=properties)
        with create.update_spec() as spec:
            spec.add_identity(PARTITION)
        create.commit_transaction()
        return self.catalog.load_table(identifier)


def _data_file(table: Any, url: str, split: str, rows: int, size: int) -> Any:
    """One shard as an Iceberg data file: its partition from its folder, its size and rows from the card."""
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    return DataFile.from_args(content=DataFileContent.DATA, file_path=url, file_format=FileFormat.PARQUET,
                              partition=Record(split), record_count=rows, file_size_in_bytes=size,
                              spec_id=table.spec().spec_id)


def _live_data_files(table: Any) -> list[Any]:
    """The data files of the table's current snapshot."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    return [entry.data_file for manifest in snapshot.manifests(table.io)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)]


@redacts_storage_options
def register_iceberg(path_or_url: str | os.PathLike[str], *, catalog: Any, table_name: str | None = None,
                     storage_options: dict | None = None, verify: bool = True) -> str:
    """Register a complete export folder as an Iceberg table (or update the table it is registered as).

    The shards become the table's data files where they are (no data file is written), with an
    identity partition on ``split``; the table's metadata goes where the catalog keeps it.
    ``export(..., table="iceberg", catalog=...)`` calls this after exporting.

    Parameters
    ----------
    path_or_url
        The dataset folder an export wrote (``DEST/<dataset>``), any fsspec URL.
    catalog
        A pyiceberg ``Catalog``, the name of a catalog configured in ``~/.pyiceberg.yaml``, or a
        mapping of its properties (``{"type": "sql", "uri": "sqlite:///cat.db", "warehouse": ...}``).
    table_name
        ``"namespace.table"``; default ``mnistfamily.<dataset folder>`` (``mnist--sample`` is
        ``mnistfamily.mnist__sample``).
    storage_options
        fsspec options of ``path_or_url`` (the catalog reads files with its own FileIO properties).
    verify
        Check each shard's sha256 against the dataset card first.

    Returns
    -------
    str
        The table's identifier, ``namespace.table``.

    Examples
    --------
    >>> import tempfile, pyiceberg.catalog.sql as sql
    >>> from mnistfamily.outputs import export, register_iceberg
    >>> where = tempfile.mkdtemp()
    >>> result = export("mnist/sample", where)
    >>> catalog = sql.SqlCatalog("demo", uri=f"sqlite:///{where}/catalog.db", warehouse=f"file://{where}/warehouse")
    >>> register_iceberg(result.path, catalog=catalog)
    'mnistfamily.mnist__sample'
    >>> catalog.load_table("mnistfamily.mnist__sample").scan(row_filter="split == 'test'").to_arrow().num_rows
    2000
    """
    dest = Destination(path_or_url, storage_options)
    registrar = IcebergRegistrar(catalog, table_name)
    files = export_files(dest, dest.root, WHAT, verify)
    try:
        return registrar.register(dest, files)
    except (TableRegistrationError, ExportError):
        raise
    except Exception as exc:  # the catalog's and FileIO's own errors
        raise describe_registration(WHAT, files, exc, "register_iceberg(path, catalog=...)") from exc
