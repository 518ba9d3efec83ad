"""Outputs: datasets as Parquet shards for data lakes, keras-style ``.npz`` and IDX files.

``mnistfamily.export`` and ``mnistfamily.read_parquet`` are this package's ``export`` and
``read_parquet`` (the package is not named ``export``, so the function keeps that name).

>>> import tempfile, mnistfamily as mf
>>> from mnistfamily.outputs import export, read_parquet
>>> result = export("mnist/sample", tempfile.mkdtemp())
>>> read_parquet(result.path)["test"].images.shape
(2000, 28, 28)

Nothing here imports pyarrow, fsspec or Pillow until a function runs, so ``import
mnistfamily`` and a warm ``load`` stay free of them. See docs/parquet-and-lakes.md.
"""

from __future__ import annotations

from .delta import register_delta
from .errors import (CorruptExportError, ExportDestinationError, ExportDiskFullError, ExportError, ExportExistsError,
                     ExportWarning, IncompleteExportError, TableRegistrationError)
from .npz_idx import export_idx, export_npz
from .iceberg import register_iceberg
from .parquet import DEFAULT_ROWS_PER_SHARD, ExportResult, export
from .read import read_parquet, schema_metadata

__all__ = [
    "export", "read_parquet", "schema_metadata", "export_npz", "export_idx", "ExportResult",
    "ExportError", "ExportExistsError", "IncompleteExportError", "ExportDiskFullError", "CorruptExportError",
    "ExportDestinationError", "ExportWarning", "TableRegistrationError", "DEFAULT_ROWS_PER_SHARD",
    "register_iceberg", "register_delta",
]
