"""An export registered as a Delta Lake table, in place: a ``_delta_log/`` beside the shards.

Delta keeps its log in the table's folder, so the dataset folder becomes the table: its
shards are the table's files (partitioned by ``split``, from their Hive folders), listed in
commits that ``deltalake`` writes with the sizes and row counts of the dataset card; no data
file is opened or rewritten. A Delta table is read as one (``deltalake``, ``pl.scan_delta``,
Spark's ``format("delta")``): engines that read a plain folder of Parquet (Polars'
``scan_parquet``, ``datasets``' ``data_dir``) would also read the log's JSON files.

An export that changes the files of a Delta folder commits the change (``table="delta"``
again; without it the export is refused, since the log would describe files that are gone).
A Delta commit may not remove and add the same path, and an overwrite rewrites its shards
under the same names, so it is two commits: the replaced files are removed, then the new ones
added (a reader of the version in between sees those splits empty). Older versions point at
files whose bytes changed: do not time-travel across an overwrite. ``deltalake`` is imported
only here, on use (``pip install "mnistfamily[delta]"``).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from .errors import ExportError, TableRegistrationError
from .layout import Destination, redacts_storage_options
from .tables import PARTITION, ExportFiles, describe_registration, export_files, table_arrow_schema

WHAT = "a Delta table"


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError:
        raise ExportError("table='delta' needs deltalake, which is not installed: pip install "
                          "\"mnistfamily[delta]\".") from None
    return deltalake


def delta_storage_options(dest: Destination, explicit: dict | None = None) -> dict[str, str] | None:
    """deltalake's options for ``dest``: ``explicit`` when given, else translated from fsspec's (S3).

    fsspec and deltalake (object_store) spell the same settings differently: ``endpoint_url``,
    ``key``, ``secret`` are ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``.
    Credentials not given either way come from the environment, as deltalake reads them.
    """
    if explicit is not None:
        return {str(k): str(v) for k, v in explicit.items()}
    if dest.local:
        return None
    fsspec_options = dest.storage_options
    out: dict[str, str] = {}
    endpoint = fsspec_options.get("endpoint_url") or (fsspec_options.get("client_kwargs") or {}).get("endpoint_url")
    for ours, theirs in (("key", "AWS_ACCESS_KEY_ID"), ("secret", "AWS_SECRET_ACCESS_KEY"),
                         ("token", "AWS_SESSION_TOKEN")):
        if fsspec_options.get(ours):
            out[theirs] = str(fsspec_options[ours])
    region = (fsspec_options.get("client_kwargs") or {}).get("region_name") or os.environ.get("AWS_DEFAULT_REGION")
    if endpoint:
        out["AWS_ENDPOINT_URL"] = str(endpoint)
        if str(endpoint).startswith("http://"):
            out["AWS_ALLOW_HTTP"] = "true"
    if region:
        out["AWS_REGION"] = str(region)
    return out or None


class DeltaRegistrar:
    """Commits an export folder's files to its Delta log."""

    def __init__(self, table_storage_options: dict | None = None):
        _deltalake()
        self.explicit = table_storage_options

    def register(self, dest: Destination, files: ExportFiles, rewritten: set[str] | None = None) -> str:
        """Make the Delta table's files exactly the export's; returns the table's URL.

        ``rewritten``: splits whose shards were just written again (always re-committed); by
        default a shard already in the log with the card's size and row count is kept.
        """
        deltalake = _deltalake()
        from deltalake.transaction import AddAction, CommitProperties, create_table_with_add_actions

        options = delta_storage_options(dest, self.explicit)
        schema = deltalake.Schema.from_arrow(table_arrow_schema(files.format, WHAT, files.url))
        now = int(time.time() * 1000)
        adds = {shard.path: AddAction(path=shard.path, size=shard.size, partition_values={PARTITION: split},
                                      modification_time=now, data_change=True,
                                      stats=json.dumps({"numRecords": shard.num_rows}))
                for split, shard in files.shards}
        commit = CommitProperties(custom_metadata={"mnistfamily.dataset": files.dataset})
        if not deltalake.DeltaTable.is_deltatable(files.url, storage_options=options):
            create_table_with_add_actions(files.url, schema, list(adds.values()), mode="error",
                                          partition_by=[PARTITION], name=files.dataset,
                                          description=files.title or None, storage_options=options,
                                          commit_properties=commit)
            return files.url
        table = deltalake.DeltaTable(files.url, storage_options=options)
        if table.schema().to_arrow() != schema.to_arrow() or table.metadata().partition_columns != [PARTITION]:
            raise TableRegistrationError(
                f"{files.url}: its Delta log describes other columns or partitions than this export "
                f"({table.schema().to_arrow()}; partitioned by {table.metadata().partition_columns}). Move the "
                f"{files.url}/_delta_log folder away (or export elsewhere), then export again.")
        import pyarrow as pa

        current = pa.table(table.get_add_actions(flatten=True)).to_pydict()  # an arro3 table: to pyarrow
        rewritten = rewritten or set()
        kept, removed = set(), []
        for path, size, rows, values in zip(current["path"], current["size_bytes"], current.get("num_records", []),
                                            current.get(f"partition.{PARTITION}", [])):
            new = adds.get(path)
            if (new is not None and new.size == size and json.loads(new.stats)["numRecords"] == rows
                    and values not in rewritten):
                kept.add(path)
            else:
                removed.append(deltalake.transaction.RemoveAction(
                    path=path, data_change=True, deletion_timestamp=now, size=size,
                    partition_values={PARTITION: values}))
        added = [action for path, action in adds.items() if path not in kept]
        again = {action.path for action in removed} & {action.path for action in added}
        if removed and again:  # one commit may not remove and add a path: remove first, then add
            table.create_write_transaction(removed, mode="append", schema=schema, partition_by=[PARTITION],
                                           commit_properties=commit)
            removed = []
            table = deltalake.DeltaTable(files.url, storage_options=options)
        if removed or added:
            table.create_write_transaction([*removed, *added], mode="append", schema=schema,
                                           partition_by=[PARTITION], commit_properties=commit)
        return files.url


@redacts_storage_options
def register_delta(path_or_url: str | os.PathLike[str], *, storage_options: dict | None = None,
                   table_storage_options: dict | None = None, verify: bool = True) -> str:
    """Register a complete export folder as a Delta table in place (or commit its changes to its log).

    The shards become the table's files where they are, partitioned by ``split``; the Delta log
    (``_delta_log/``) is written in the dataset folder. ``export(..., table="delta")`` calls this
    after exporting.

    Parameters
    ----------
    path_or_url
        The dataset folder an export wrote (``DEST/<dataset>``), any fsspec URL.
    storage_options
        fsspec options of ``path_or_url``; for ``s3://`` they are translated for deltalake
        (``endpoint_url`` -> ``AWS_ENDPOINT_URL``, ...).
    table_storage_options
        deltalake's own storage options, used instead of the translation.
    verify
        Check each shard's sha256 against the dataset card first.

    Returns
    -------
    str
        The table's URL (the dataset folder).

    Examples
    --------
    >>> import tempfile, deltalake
    >>> from mnistfamily.outputs import export, register_delta
    >>> result = export("mnist/sample", tempfile.mkdtemp())
    >>> url = register_delta(result.path)
    >>> deltalake.DeltaTable(url).to_pyarrow_table(filters=[("split", "=", "test")]).num_rows
    2000
    """
    dest = Destination(path_or_url, storage_options)
    registrar = DeltaRegistrar(table_storage_options)
    files = export_files(dest, dest.root, WHAT, verify)
    try:
        return registrar.register(dest, files)
    except ExportError:
        raise
    except Exception as exc:  # deltalake's own errors (object store, commit conflicts, ...)
        raise describe_registration(WHAT, files, exc, "register_delta(path)") from exc
