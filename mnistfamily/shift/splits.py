"""Splits of one Dataset from its metadata: by column values, writer-disjoint folds, published halves.

Every function returns *positions* into the dataset (sorted ``int64`` arrays, for
``ds.select``), never copies of the data, and works on whole columns with numpy.

>>> import mnistfamily as mf
>>> from mnistfamily.shift.splits import by_values, halves, writer_folds
>>> ds = mf.load("mnist/sample", "test")                # carries QMNIST's writer metadata
>>> students = ds.select(by_values(ds, "hsf_series", 4))
>>> train, test = writer_folds(ds, k=5, seed=0)[0]
>>> set(ds.metadata["writer_id"][train]) & set(ds.metadata["writer_id"][test])
set()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

__all__ = ["by_values", "writer_folds", "halves"]


def by_values(ds: "Dataset", column: str, values: Any) -> np.ndarray:
    """Positions of the rows whose ``column`` equals ``values`` (or one of them, for a list).

    ``column`` is a metadata column, ``"label"`` or ``"index"`` (see ``Dataset.column``).

    Parameters
    ----------
    ds
        The dataset.
    column
        Column to compare, e.g. ``"hsf_series"``.
    values
        One value, or a list/tuple/set/array of accepted values.

    Returns
    -------
    numpy.ndarray
        Sorted positions (``int64``) into ``ds``.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily.shift.splits import by_values
    >>> ds = mf.load("mnist/sample", "test")
    >>> employees = by_values(ds, "hsf_series", [0, 1, 2, 3])   # Census Bureau employees (NIST SD-3)
    >>> students = by_values(ds, "hsf_series", 4)               # high-school students (NIST SD-1)
    >>> len(employees), len(students)
    (1039, 961)
    """
    data = np.asarray(ds.column(column))
    if data.ndim != 1:
        raise ValueError(f"{ds.name or 'dataset'}: column {column!r} has shape {data.shape}, not one value "
                         "per example; select rows with a mask instead")
    if isinstance(values, (list, tuple, set, frozenset, np.ndarray)):
        wanted = np.asarray(sorted(values) if isinstance(values, (set, frozenset)) else values)
        if wanted.size == 0:
            raise ValueError(f"no values given for column {column!r}: nothing would be selected")
        mask = np.isin(data, wanted)
    else:
        mask = data == values
    return np.flatnonzero(mask).astype(np.int64)


def writer_folds(ds: "Dataset", k: int, seed: int = 0,
                 column: str = "writer_id") -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` writer-disjoint folds of ``ds``: ``[(train_positions, test_positions), ...]``.

    Every writer (every distinct value of ``column``) lands in exactly one fold's test side,
    so no writer is on both sides of any pair. Folds are balanced by example count, not by
    writer count: the writers are shuffled with ``seed`` and laid end to end by their
    number of examples, and fold ``f`` takes the writers whose middle example falls in the
    ``f``-th ``1/k`` of that line. Each fold's test side then holds ``len(ds) / k`` examples
    give or take about one writer's share.

    The assignment depends only on ``seed`` and on which writers (with their counts) are
    in ``ds``, not on the order of its rows: the same seed gives the same folds.

    Parameters
    ----------
    ds
        The dataset; it needs the ``column`` (QMNIST's ``writer_id``: ``load(...,
        metadata="qmnist")`` or ``mnist/sample``).
    k
        Number of folds, at least 2 and at most the number of writers.
    seed
        Seed of the shuffle of the writers.
    column
        The column naming each example's writer.

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        ``k`` pairs of sorted positions into ``ds``: the training side (every other fold)
        and the test side (this fold).

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily.shift.splits import writer_folds
    >>> ds = mf.load("mnist/sample", "test").filter(hsf_series=4)
    >>> folds = writer_folds(ds, k=5, seed=0)
    >>> [len(test) for _, test in folds]
    [192, 193, 190, 193, 193]
    >>> train, test = folds[0]
    >>> len(train) + len(test) == len(ds)
    True
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be a whole number of folds, at least 2; found {k!r}")
    writers = np.asarray(ds.column(column))
    if writers.ndim != 1:
        raise ValueError(f"{ds.name or 'dataset'}: column {column!r} has shape {writers.shape}, "
                         "not one writer per example")
    ids, inverse, counts = np.unique(writers, return_inverse=True, return_counts=True)
    if len(ids) < k:
        raise ValueError(f"{ds.name or 'dataset'}: {len(ids)} distinct {column} values cannot make {k} "
                         f"writer-disjoint folds; use k <= {len(ids)}")
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled_counts = counts[order]
    ends = np.cumsum(shuffled_counts)
    middles = ends - shuffled_counts / 2
    fold_of_shuffled = np.minimum((middles * k / ends[-1]).astype(np.int64), k - 1)
    fold_of_writer = np.empty(len(ids), dtype=np.int64)
    fold_of_writer[order] = fold_of_shuffled
    fold = fold_of_writer[inverse.reshape(-1)]
    sizes = np.bincount(fold, minlength=k)
    if not sizes.all():  # one writer holds more than a fold's share: no balanced split exists
        raise ValueError(f"{ds.name or 'dataset'}: cannot balance {k} writer-disjoint folds by example count "
                         f"(the largest writer has {counts.max()} of {len(writers)} examples); use a smaller k")
    return [(np.flatnonzero(fold != f).astype(np.int64), np.flatnonzero(fold == f).astype(np.int64))
            for f in range(k)]


def halves(ds: "Dataset", total: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the examples in the first and in the last half of the published split.

    The halves are taken by ``ds.index`` (each example's position in the published split),
    so they survive ``select``/``filter``: on MNIST's test set, the first half is positions
    0-4,999 and the last half 5,000-9,999, whatever subset ``ds`` holds.

    Parameters
    ----------
    ds
        The dataset.
    total
        Size of the published split. Default: the split size the registry gives, or, when
        ``ds.index`` reaches beyond it (``mnist/sample``, whose index is the position in
        MNIST's test set), the largest index plus one.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Sorted positions into ``ds``: ``index < total // 2`` and ``index >= total // 2``.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily.shift.splits import halves
    >>> ds = mf.load("mnist/sample", "test")
    >>> first, last = halves(ds)
    >>> int(ds.index[first].max()) < 5000 <= int(ds.index[last].min())
    True
    """
    index = np.asarray(ds.index)
    if total is None:
        total = published_size(ds)
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 2:
        raise ValueError(f"total must be the size of the published split (at least 2); found {total!r}")
    if index.size and int(index.max()) >= total:
        raise ValueError(f"{ds.name or 'dataset'}: positions go up to {int(index.max())} but total is {total}")
    middle = int(total) // 2
    return np.flatnonzero(index < middle).astype(np.int64), np.flatnonzero(index >= middle).astype(np.int64)


def published_size(ds: "Dataset") -> int:
    """The size of the split ``ds`` was drawn from (the default ``total`` of :func:`halves`)."""
    index = np.asarray(ds.index)
    published = ds.info.splits.get(ds.split) if ds.info is not None else None
    largest = int(index.max()) + 1 if index.size else 0
    if published is not None and largest <= published:
        return int(published)
    if largest == 0:
        raise ValueError(f"{ds.name or 'dataset'} is empty and its published size is unknown: pass total=")
    return largest
