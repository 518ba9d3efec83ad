"""``ds.train_test_split(test_size, seed=...)``: a validation split, stratified by class by default.

Each row gets a 64-bit key, a hash of ``(seed, its position)`` (the SplitMix64 hash of the
random transforms); the test part is, within each class, the rows with the smallest keys. So
the split is a pure function of the seed and the rows, the same under any numpy version, and
a larger ``test_size`` only adds rows to the test part. Both parts keep the rows in dataset
order with their ``index``. Stratified, each class gives the same share of its rows (largest
remainders decide the rounding, so the test part has exactly the size asked for).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from . import AdapterError
from .batches import check_seed

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset


class TrainTest(NamedTuple):
    """The two parts of a split: ``train, val = ds.train_test_split(0.1, seed=0)``."""

    train: "Dataset"
    test: "Dataset"


def test_count(n: int, test_size: float | int, where: str) -> int:
    """Rows in the test part: a fraction of ``n`` rounded up (as scikit-learn does), or a count."""
    if isinstance(test_size, (bool, np.bool_)):
        raise AdapterError(f"{where}: test_size must be a fraction in (0, 1) or a number of rows, found {test_size!r}")
    if isinstance(test_size, (int, np.integer)):
        count = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        count = int(np.ceil(float(test_size) * n))
    else:
        raise AdapterError(f"{where}: test_size must be a fraction in (0, 1) or a number of rows, found {test_size!r}")
    if not 0 < count < n:
        raise AdapterError(f"{where}: test_size={test_size!r} leaves {count} of {n} rows for the test part; both "
                           "parts need at least one row")
    return count


def _stratified_counts(counts: np.ndarray, total: int) -> np.ndarray:
    """Per-class test rows summing to ``total``: floors of the shares, then the largest remainders."""
    n = int(counts.sum())
    exact = counts * (total / n)
    taken = np.floor(exact).astype(np.int64)
    missing = total - int(taken.sum())
    order = np.argsort(-(exact - taken), kind="stable")  # equal remainders: the lower class first
    eligible = [c for c in order if taken[c] < counts[c]]
    taken[eligible[:missing]] += 1
    return taken


def train_test_split(dataset: "Dataset", test_size: float | int, *, seed: int,
                     stratify: bool = True) -> TrainTest:
    """Split ``dataset`` into ``(train, test)``; see :meth:`mnistfamily.Dataset.train_test_split`."""
    from ..transforms._rng import bits

    where = f"{dataset.name or 'Dataset'}.train_test_split"
    seed = check_seed(seed, where)
    n = len(dataset)
    count = test_count(n, test_size, where)
    keys = bits(seed, "mnistfamily.holdout", np.arange(n, dtype=np.int64), 1)[:, 0]
    test_mask = np.zeros(n, dtype=bool)
    labels = np.asarray(dataset.labels)
    if stratify:
        if labels.ndim != 1:
            raise AdapterError(f"{where}: {dataset.name} is multi-label; stratifying needs one class per row. "
                               "Pass stratify=False.")
        per_class = _stratified_counts(np.bincount(labels, minlength=len(dataset.classes)), count)
        for label in np.flatnonzero(per_class):
            rows = np.flatnonzero(labels == label)
            test_mask[rows[np.argsort(keys[rows], kind="stable")[:per_class[label]]]] = True
    else:
        test_mask[np.argsort(keys, kind="stable")[:count]] = True
    return TrainTest(dataset.select(~test_mask), dataset.select(test_mask))
