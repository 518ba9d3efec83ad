"""Nearest class mean (L2): the simplest baseline that still uses every training pixel."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._inputs import accuracy, as_features, as_labels, check_features, not_fitted

_BLOCK = 8192  # rows converted to float64 at a time: memory stays flat for any N


class NearestCentroid:
    """Classify each example by the nearest class mean (Euclidean distance).

    Means and distances are computed in float64. A tie between two class means goes to the
    class listed first in ``classes_`` (the smaller label).

    Attributes
    ----------
    classes_ : ndarray
        The distinct training labels, sorted.
    centroids_ : ndarray, float64 (n_classes, D)
        The mean training example of each class, in the units of the input (0-255 for uint8).

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily.baselines import NearestCentroid
    >>> X = np.array([[0, 0], [2, 0], [10, 10], [12, 10]], dtype=np.uint8)
    >>> model = NearestCentroid().fit(X, [0, 0, 1, 1])
    >>> model.centroids_.tolist()
    [[1.0, 0.0], [11.0, 10.0]]
    >>> model.predict(np.array([[3, 3], [8, 8]])).tolist()
    [0, 1]
    """

    def __repr__(self) -> str:
        return "NearestCentroid()"

    def fit(self, X: Any, y: Any) -> "NearestCentroid":
        """Compute the mean of each class.

        Examples
        --------
        >>> import mnistfamily as mf
        >>> from mnistfamily.baselines import NearestCentroid
        >>> ds = mf.load("mnist/sample", "test")
        >>> NearestCentroid().fit(ds.images, ds.labels).centroids_.shape
        (10, 784)
        """
        X = as_features(X)
        self.classes_, codes = as_labels(y, len(X))
        n_classes = len(self.classes_)
        sums = np.zeros((n_classes, X.shape[1]), dtype=np.float64)
        for start in range(0, len(X), _BLOCK):
            block = X[start:start + _BLOCK].astype(np.float64)
            # a one-hot product sums each class's rows in one BLAS call (exact for uint8 pixels)
            one_hot = np.zeros((len(block), n_classes))
            one_hot[np.arange(len(block)), codes[start:start + _BLOCK]] = 1.0
            sums += one_hot.T @ block
        self.centroids_ = sums / np.bincount(codes, minlength=n_classes)[:, None]
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The class whose mean is nearest to each row of X.

        Examples
        --------
        >>> import mnistfamily as mf
        >>> from mnistfamily.baselines import NearestCentroid
        >>> ds = mf.load("mnist/sample", "test")
        >>> model = NearestCentroid().fit(ds.images[:1000], ds.labels[:1000])
        >>> model.predict(ds.images[1000:]).shape
        (1000,)
        """
        if not hasattr(self, "centroids_"):
            raise not_fitted("NearestCentroid")
        X = as_features(X, allow_empty=True)
        check_features(X, self.n_features_in_, "NearestCentroid")
        half_norms = 0.5 * np.einsum("ij,ij->i", self.centroids_, self.centroids_)
        codes = np.empty(len(X), dtype=np.int64)
        for start in range(0, len(X), _BLOCK):
            block = X[start:start + _BLOCK].astype(np.float64)
            # |x - c|^2 = |x|^2 - 2 (x.c - |c|^2/2); |x|^2 is the same for every class
            codes[start:start + _BLOCK] = np.argmax(block @ self.centroids_.T - half_norms, axis=1)
        return self.classes_[codes]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy: the fraction of rows of X whose prediction equals y.

        Examples
        --------
        >>> import mnistfamily as mf
        >>> from mnistfamily.baselines import NearestCentroid
        >>> ds = mf.load("mnist/sample", "test")
        >>> NearestCentroid().fit(ds.images, ds.labels).score(ds.images, ds.labels) > 0.7
        True
        """
        return accuracy(self.predict(X), y)

