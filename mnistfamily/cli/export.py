"""The ``mnistfamily export NAME DEST`` command, ready for ``mnistfamily.cli`` to register.

``add_export_command(subparsers, parents=[...])`` adds the subcommand and sets
``run=run_export_command``; ``--data-dir`` and ``--source`` are added unless a parent
parser already provides them. The command prints what it wrote; the library only logs.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

FORMATS = ("parquet", "npz", "idx")



def add_export_command(subparsers: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    """Add ``export`` to an ``add_subparsers()`` object; return its parser."""
    from .types import positive_int  # the command line's shared argument type
    from ..outputs.parquet import DEFAULT_ROWS_PER_SHARD

    help = "write a dataset as Parquet shards (any fsspec URL), a keras-style .npz or IDX files"
    sub = subparsers.add_parser(
        "export", help=help, description=help, parents=list(parents),
        epilog="Parquet: DEST/<dataset>/split=<split>/part-*.parquet and _SUCCESS (last), the card in "
               "DEST/_mnistfamily/, Hugging Face configs in DEST/README.md. "
               "Example: mnistfamily export mnist s3://bucket/lake --source ~/mnist")
    given = {option for parser in parents for option in parser._option_string_actions}
    sub.add_argument("name", metavar="NAME", help="a dataset name (`mnistfamily list`)")
    sub.add_argument("dest", metavar="DEST",
                     help="a folder or fsspec URL (parquet, idx) or a file (npz)")
    sub.add_argument("--split", dest="splits", metavar="S", action="append",
                     help="only this split (repeat for several; default: all)")
    sub.add_argument("--format", choices=FORMATS, default="parquet", help="parquet (default), npz or idx")
    sub.add_argument("--image-encoding", choices=("raw", "png", "tensor"), default="raw",
                     help="parquet: raw pixels (default), one PNG per image (Hugging Face Image) or an Arrow "
                          "tensor (Ray Data)")
    sub.add_argument("--rows-per-shard", type=positive_int, default=DEFAULT_ROWS_PER_SHARD, metavar="N",
                     help=f"parquet: rows per file (default {DEFAULT_ROWS_PER_SHARD:,})")
    sub.add_argument("--compression", default=None, metavar="CODEC",
                     help="parquet: zstd (default), snappy, gzip, brotli, lz4, none; idx: gz (default), xz, none")
    sub.add_argument("--workers", type=positive_int, default=None, metavar="N",
                     help="parquet: write shards in N processes (default: one, PNG encoding on every core)")
    sub.add_argument("--overwrite", action="store_true", help="replace what DEST already holds")
    sub.add_argument("--table", choices=("iceberg", "delta"), default=None,
                     help="parquet: register the export as an Iceberg table (needs --catalog) or a Delta table, "
                          "in place")
    sub.add_argument("--catalog", action="append", default=[], metavar="NAME|KEY=VALUE",
                     help="iceberg: a catalog configured in ~/.pyiceberg.yaml, or its properties (repeat "
                          "KEY=VALUE: type=sql, uri=sqlite:///cat.db, warehouse=...)")
    sub.add_argument("--table-name", default=None, metavar="NAMESPACE.TABLE",
                     help="iceberg: the table (default mnistfamily.<dataset folder>)")
    sub.add_argument("--storage-option", dest="storage_options", action="append", default=[],
                     metavar="KEY=VALUE", help="fsspec option of DEST (e.g. endpoint_url=..., anon=true)")
    if "--data-dir" not in given:
        sub.add_argument("--data-dir", metavar="DIR", help="cache root (default: $MNISTFAMILY_HOME)")
    if "--source" not in given:
        sub.add_argument("--source", metavar="DIR_OR_URL", help="folder or fsspec URL holding the raw files")
    sub.set_defaults(run=run_export_command)
    return sub


def _storage_options(pairs: list[str], option: str = "--storage-option",
                     example: str = "endpoint_url=http://127.0.0.1:9000") -> dict[str, Any]:
    from ..errors import ConfigError

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {pair!r}: expected KEY=VALUE, e.g. {example}")
        lowered = value.lower()
        options[key] = True if lowered == "true" else False if lowered == "false" else value
    return options


def _catalog(values: list[str]) -> Any:
    """``--catalog``: None, a configured catalog's name, or its properties (``KEY=VALUE`` each)."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    return _storage_options(values, "--catalog", "type=sql")


def run_export_command(args: argparse.Namespace) -> int:
    """Run ``mnistfamily export``; print what was written."""
    load_kwargs = {k: v for k, v in (("data_dir", getattr(args, "data_dir", None)),
                                     ("source", getattr(args, "source", None))) if v is not None}
    storage_options = _storage_options(args.storage_options)
    if args.format == "npz":
        from ..outputs.npz_idx import export_npz

        print(export_npz(args.name, args.dest, splits=args.splits, overwrite=args.overwrite,
                         storage_options=storage_options, **load_kwargs))
        return 0
    if args.format == "idx":
        from ..outputs.npz_idx import export_idx

        compression = args.compression or "gz"
        for url in export_idx(args.name, args.dest, splits=args.splits, overwrite=args.overwrite,
                              compression=None if compression == "none" else compression,
                              storage_options=storage_options, **load_kwargs):
            print(url)
        return 0
    from ..outputs.parquet import export

    options = dict(splits=args.splits, rows_per_shard=args.rows_per_shard, image_encoding=args.image_encoding,
                   compression=args.compression or "zstd", overwrite=args.overwrite,
                   storage_options=storage_options, **load_kwargs)
    if args.table is not None:
        options.update(table=args.table, table_name=args.table_name, catalog=_catalog(args.catalog))
    if args.workers and args.workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        from ..outputs.images import process_context

        # forkserver: a forked child of a process running Arrow's threads can deadlock
        with ProcessPoolExecutor(args.workers, mp_context=process_context()) as pool:
            result = export(args.name, args.dest, executor=pool, **options)
    else:
        result = export(args.name, args.dest, **options)
    print(result)
    return 0
