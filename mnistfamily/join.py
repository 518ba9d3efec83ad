"""``load(metadata=...)``: per-example columns another dataset holds for the same rows.

MNIST's examples are QMNIST's first rows, so QMNIST's label table gives MNIST (and the datasets
derived from it) the writer id, the HSF series and the rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .build import one_retry_budget
from .config import FetchSettings
from .registry import DatasetSpec, Registry

__all__ = ["joined_columns"]


@one_retry_budget
def joined_columns(reg: Registry, root: Path, spec: DatasetSpec, split: str, join: str, arrays: dict,
                   fetching: FetchSettings) -> dict[str, np.ndarray]:
    """Columns another dataset's label table holds for this split's rows (``load(metadata=...)``).

    Only the other dataset's label file is fetched (with ``source=``, from that folder or its
    ``<family>/`` subfolder, never from the internet); the join checks that the classes agree
    row by row, so two tables that do not describe the same examples are never joined.
    """
    from .errors import DownloadError, FormatError, UnknownNameError
    from .fetch import fetch_file
    from .formats.idx import read_idx

    if join not in spec.joins or split not in spec.joins[join]:
        offered = ", ".join(spec.joins) or "none"
        raise UnknownNameError(f"{spec.name} [{split}] has no metadata {join!r} to join (offered: {offered})")
    other_name, _, other_split = spec.joins[join][split].partition(":")
    if other_name == "cleanlab":  # a label-error list shipped with the package, not another dataset
        from .registry.label_errors import label_error_columns

        return label_error_columns(other_split, arrays["index"], arrays["labels"], f"{spec.name} [{split}]")
    other = reg.dataset(other_name)
    part = other.splits[other_split]
    file = other.file(part.labels)
    try:  # source= replaces mirrors and the internet for the joined file too: it is never retried without
        path, _ = fetch_file(other, file, root=root, settings=fetching)
    except DownloadError as exc:
        if fetching.source is not None:
            exc.args = (f"{spec.name} [{split}]: metadata={join!r} needs {other_name}'s {file.name}, and "
                        "source= is used instead of mirrors and the internet, so put that file in the "
                        f"source folder too (or in its {other.family}/ subfolder), or load it once without "
                        f"source= to cache it. {exc}", *exc.args[1:])
        raise
    table = read_idx(path, rows=part.rows)
    if table.ndim != 2 or table.shape[1] != len(other.label_columns):
        raise FormatError(f"{path}: expected a table with columns {', '.join(other.label_columns)}; "
                          f"found shape {table.shape}.")
    positions = np.asarray(arrays["index"])
    if positions.size and positions.max() >= len(table):
        raise FormatError(f"{spec.name} [{split}]: positions up to {positions.max()} but {other_name} "
                          f"[{other_split}] has {len(table)} rows; they do not describe the same examples.")
    rows = table[positions]
    labels = np.asarray(arrays["labels"])
    classes = rows[:, other.label_columns.index(other.label_column)].astype(np.int64) - other.label_offset
    mismatched = int(np.count_nonzero(classes != labels))
    if mismatched:
        raise FormatError(f"{spec.name} [{split}] and {other_name} [{other_split}] disagree on the class of "
                          f"{mismatched} of {len(labels)} rows: they are not aligned, so their metadata "
                          "cannot be joined.")
    return {column: np.ascontiguousarray(rows[:, i]) for i, column in enumerate(other.label_columns)}
