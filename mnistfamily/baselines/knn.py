"""Exact k-nearest-neighbour classification (L2) from chunked float32 matrix products.

Squared distances are expanded as ``|a|^2 - 2 a.b + |b|^2`` so that nearly all the work is
one matrix product per chunk of test rows (BLAS, all cores). Only the ranking is taken from
those products: float32 expansions of 784-pixel images lose a few units in the last place of
numbers around 10^7, which can swap two neighbours whose distances differ by less than that.
So every training point that *could* be among the k nearest under a proven bound on the
float32 rounding error is re-ranked with its distance computed directly (``sum((a - b)^2)``
in float64, exact for integer pixels). The result is the exact k nearest neighbours, at the
cost of the products plus a few linear passes over each chunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._inputs import accuracy, as_features, as_labels, check_features, not_fitted

#: bytes of the (chunk rows x training rows) score block when ``chunk_size`` is None
BLOCK_BYTES = 128 * 2**20
#: float64 elements of one batch of directly computed (re-ranked) differences
PAIR_BATCH_ELEMENTS = 2**22
#: the proven error bound is multiplied by this before use: a few extra candidates cost
#: microseconds, a missed one would cost exactness if a BLAS rounds worse than the bound assumes
SAFETY = 4.0


class KNN:
    """k-nearest-neighbour classifier with exact L2 distances.

    Parameters
    ----------
    k
        Number of neighbours that vote.
    metric
        ``"l2"`` (Euclidean), the only metric.
    chunk_size
        Test rows per matrix product. ``None`` picks as many as keep one score block of
        (rows x training examples) within 128 MiB; memory then stays bounded whatever the
        number of test rows.
    dtype
        Floating type of the matrix products: ``np.float32`` (fast) or ``np.float64``.
        Either way the neighbours returned are the exact ones (see Notes).

    Attributes
    ----------
    classes_ : ndarray
        The distinct training labels, sorted; ``predict`` returns values from it.
    n_features_in_ : int
        Pixels (features) per training example.

    Notes
    -----
    *Exactness.* Candidates are ranked by ``|b|^2/2 - a.b`` computed in ``dtype``. Every
    training point whose computed score lies within a proven bound of the k-th smallest
    (the classic ``gamma_n * sum|a_i b_i|`` bound for a dot product summed in any order, times
    a safety factor) is re-ranked by ``sum((a - b)^2)`` in float64: exact for integer pixels,
    float64-accurate for float inputs. On MNIST about one test row in nine has a second
    candidate.

    *Ties in distance*: the training example with the lower index wins (the order is
    ``(distance, training index)``), so results do not depend on ``chunk_size`` or on BLAS.

    *Votes* (k > 1): the class with the most votes wins; a tie between classes goes to the
    tied class whose nearest member comes first in that order.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily.baselines import KNN
    >>> X = np.array([[0], [10], [20]], dtype=np.uint8)
    >>> knn = KNN(k=1).fit(X, ["a", "b", "c"])
    >>> knn.predict(np.array([[4], [16]])).tolist()
    ['a', 'c']
    >>> distances, indices = knn.kneighbors(np.array([[4]]), k=2)
    >>> distances.tolist(), indices.tolist()
    ([[4.0, 6.0]], [[0, 1]])
    """

    def __init__(self, k: int = 1, metric: str = "l2", chunk_size: int | None = None,
                 dtype: Any = np.float32):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer; found {k!r}")
        if metric not in ("l2", "euclidean"):
            raise ValueError(f"metric {metric!r} is not supported: KNN computes L2 distances (metric='l2')")
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer))
                                       or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive integer or None; found {chunk_size!r}")
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be np.float32 or np.float64; found {np.dtype(dtype)}")
        self.k = int(k)
        self.metric = metric
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.dtype = np.dtype(dtype)

    def __repr__(self) -> str:
        return f"KNN(k={self.k}, metric={self.metric!r}, chunk_size={self.chunk_size}, dtype={self.dtype.name})"

    def fit(self, X: Any, y: Any) -> "KNN":
        """Remember the training examples (a copy) and prepare them for the products.

        Examples
        --------
        >>> import mnistfamily as mf
        >>> from mnistfamily.baselines import KNN
        >>> ds = mf.load("mnist/sample", "test")
        >>> KNN(k=3).fit(ds.images[:1000], ds.labels[:1000]).n_features_in_
        784
        """
        X = as_features(X)
        self.classes_, self._codes = as_labels(y, len(X))
        if self.k > len(X):
            raise ValueError(f"k={self.k} neighbours were asked for but only {len(X)} training examples were given")
        # A private copy: the re-ranking reads these exact values, which must match the products.
        self._fit_X = np.array(X, order="C")
        n, d = X.shape
        sq_norms = _row_sq_norms(self._fit_X)
        self._max_norm = float(np.sqrt(sq_norms.max()))
        _check_range(self._max_norm, self.dtype, "training")
        # Augmented so that one product gives the ranking score |b|^2/2 - a.b directly:
        # [a, 1] . [-b, |b|^2/2]. No separate pass adds the norms to every score.
        self._aug = np.empty((n, d + 1), dtype=self.dtype)
        for start in range(0, n, 8192):
            block = self._aug[start:start + 8192, :d]
            block[...] = self._fit_X[start:start + 8192]
            np.negative(block, out=block)
        self._aug[:, d] = 0.5 * sq_norms
        self.n_features_in_ = d
        return self

    def kneighbors(self, X: Any, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest training examples of each row of X: ``(distances, indices)``.

        Both are ``(N, k)``, nearest first; distances are Euclidean (float64), indices are
        training rows (int64). Ties in distance are ordered by training index.

        Examples
        --------
        >>> import numpy as np
        >>> from mnistfamily.baselines import KNN
        >>> knn = KNN().fit(np.array([[0, 0], [3, 4], [0, 5]]), [0, 1, 1])
        >>> d, i = knn.kneighbors(np.array([[0, 0]]), k=3)
        >>> d.tolist(), i.tolist()
        ([[0.0, 5.0, 5.0]], [[0, 1, 2]])
        """
        sq, indices = self._kneighbors_sq(X, self.k if k is None else k)
        return np.sqrt(sq), indices

    def predict(self, X: Any) -> np.ndarray:
        """The label voted by the k nearest training examples of each row of X.

        Examples
        --------
        >>> import mnistfamily as mf
        >>> from mnistfamily.baselines import KNN
        >>> ds = mf.load("mnist/sample", "test")
        >>> knn = KNN().fit(ds.images[::2], ds.labels[::2])
        >>> knn.predict(ds.images[1:12:2]).tolist(), ds.labels[1:12:2].tolist()
        ([4, 6, 1, 9, 9, 9], [4, 6, 1, 4, 9, 4])
        """
        _, indices = self._kneighbors_sq(X, self.k)
        return self.classes_[vote(self._codes[indices], len(self.classes_))]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy: the fraction of rows of X whose prediction equals y.

        Examples
        --------
        >>> import mnistfamily as mf
        >>> from mnistfamily.baselines import KNN
        >>> ds = mf.load("mnist/sample", "test")
        >>> KNN().fit(ds.images[:1000], ds.labels[:1000]).score(ds.images[1000:], ds.labels[1000:]) > 0.85
        True
        """
        return accuracy(self.predict(X), y)

    # ------------------------------------------------------------------------------------------

    def chunk_rows(self, n_test: int) -> int:
        """Test rows per product: ``chunk_size``, or what keeps the score block within 128 MiB."""
        if not hasattr(self, "_aug"):
            raise not_fitted("KNN")
        if self.chunk_size is not None:
            return max(1, min(self.chunk_size, n_test))
        return max(1, min(n_test, BLOCK_BYTES // (len(self._aug) * self.dtype.itemsize)))

    def _kneighbors_sq(self, X: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "_aug"):
            raise not_fitted("KNN")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(self._aug):
            raise ValueError(f"k must be between 1 and the {len(self._aug)} training examples; found {k!r}")
        X = as_features(X, allow_empty=True)
        check_features(X, self.n_features_in_, "KNN")
        n, d = X.shape
        train = self._fit_X
        n_train = len(train)
        out_sq = np.empty((n, k), dtype=np.float64)
        out_idx = np.empty((n, k), dtype=np.int64)
        if n == 0:
            return out_sq, out_idx

        rows_per_chunk = self.chunk_rows(n)
        # gamma_m = m u / (1 - m u) bounds the relative error of an m-term dot product summed
        # in any order; m covers the d + 1 products plus the rounding of inputs and |b|^2/2.
        u = float(np.finfo(self.dtype).eps) / 2
        m = d + 8
        gamma = m * u / (1 - m * u)
        big = self._max_norm
        # Buffers reused by every chunk: fresh 100 MB arrays per chunk would cost page faults.
        a_aug = np.empty((rows_per_chunk, d + 1), dtype=self.dtype)
        a_aug[:, d] = 1
        scores_buf = np.empty((rows_per_chunk, n_train), dtype=self.dtype)
        mask_buf = np.empty((rows_per_chunk, n_train), dtype=bool)
        upward = np.array(np.inf, dtype=self.dtype)

        for start in range(0, n, rows_per_chunk):
            stop = min(n, start + rows_per_chunk)
            rows = stop - start
            queries = X[start:stop]
            a_norm = np.sqrt(_row_sq_norms(queries))
            _check_range(float(a_norm.max()), self.dtype, "query")
            a = a_aug[:rows]
            a[:, :d] = queries
            scores = scores_buf[:rows]
            np.matmul(a, self._aug.T, out=scores)

            if k == 1:
                kth = scores.min(axis=1)
            else:
                kth = np.partition(scores, k - 1, axis=1)[:, k - 1]
            # |computed - true score| <= gamma * (|a| |b| + |b|^2 / 2) for every training b:
            # a true k-nearest point scores at most kth + 2 * that bound.
            margin = SAFETY * 2 * gamma * (a_norm * big + 0.5 * big * big)
            threshold = np.nextafter((kth + margin).astype(self.dtype), upward)
            mask = mask_buf[:rows]
            np.less_equal(scores, threshold[:, None], out=mask)
            # 1-D flatnonzero is ~10x faster than 2-D nonzero on a mostly-False block
            cand_rows, cand_cols = np.divmod(np.flatnonzero(mask), n_train)

            exact = _pair_sq_distances(queries, train, cand_rows, cand_cols)
            order = np.lexsort((cand_cols, exact, cand_rows))  # by row, then distance, then index
            first = np.searchsorted(cand_rows[order], np.arange(rows))
            take = order[first[:, None] + np.arange(k)]
            out_sq[start:stop] = exact[take]
            out_idx[start:stop] = cand_cols[take]
        return out_sq, out_idx


def vote(neighbour_codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority class per row of ``(N, k)`` class codes, nearest first.

    A tie between classes goes to the tied class that appears first in the row, i.e. the
    one with the nearest member.
    """
    n, k = neighbour_codes.shape
    if k == 1:
        return neighbour_codes[:, 0].copy()
    rows = np.arange(n)[:, None]
    counts = np.bincount((rows * n_classes + neighbour_codes).ravel(), minlength=n * n_classes)
    counts = counts.reshape(n, n_classes)
    best = counts.max(axis=1)
    is_best = counts[rows, neighbour_codes] == best[:, None]
    return neighbour_codes[np.arange(n), is_best.argmax(axis=1)]


def _row_sq_norms(X: np.ndarray) -> np.ndarray:
    """Squared L2 norm of each row in float64 (exact for integer pixels), a block at a time."""
    out = np.empty(len(X), dtype=np.float64)
    for start in range(0, len(X), 8192):
        block = X[start:start + 8192].astype(np.float64)
        out[start:start + 8192] = np.einsum("ij,ij->i", block, block)
    return out


def _pair_sq_distances(queries: np.ndarray, train: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``sum((queries[rows] - train[cols])^2)`` per pair, in float64, in batches of bounded size."""
    out = np.empty(len(rows), dtype=np.float64)
    step = max(1, PAIR_BATCH_ELEMENTS // queries.shape[1])
    for start in range(0, len(rows), step):
        diff = queries[rows[start:start + step]].astype(np.float64)
        diff -= train[cols[start:start + step]]
        out[start:start + step] = np.einsum("ij,ij->i", diff, diff)
    return out


def _check_range(norm: float, dtype: np.dtype, what: str) -> None:
    # Scores are about |a| |b|; past ~1e38 (float32) they overflow to inf and rank nothing.
    if 4 * norm * norm > float(np.finfo(dtype).max):
        raise ValueError(f"{what} vectors are too large for {dtype.name} products (norm {norm:.3g}); "
                         "scale the data or pass dtype=np.float64")
