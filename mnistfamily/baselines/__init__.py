"""Baseline classifiers for the distribution-shift experiments: numpy (and scipy to fit).

Four models with scikit-learn's ``fit(X, y)`` / ``predict(X)`` convention, taking images
``(N, H, W)`` (any shape: channels too) or flat features ``(N, D)``, uint8 included:

- :class:`KNN` -- exact k-nearest neighbours under L2, from chunked float32 products;
- :class:`NearestCentroid` -- the nearest class mean;
- :class:`LogisticRegression` -- softmax regression with an L2 penalty, fitted by L-BFGS;
- :class:`MLP` -- ReLU layers and a softmax, trained by Adam in numpy (no torch).

Any object that satisfies :class:`Classifier` (a scikit-learn estimator, a torch wrapper)
plugs into the same places as these.

Examples
--------
>>> import mnistfamily as mf
>>> from mnistfamily.baselines import KNN, NearestCentroid
>>> ds = mf.load("mnist/sample", "test")
>>> train, test = ds.select(slice(0, None, 2)), ds.select(slice(1, None, 2))
>>> [round(m.fit(train.images, train.labels).score(test.images, test.labels), 3)
...  for m in (KNN(k=1), NearestCentroid())]
[0.894, 0.808]
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .centroid import NearestCentroid
from .knn import KNN
from .logistic import ConvergenceWarning, LogisticRegression
from .mlp import MLP

__all__ = ["Classifier", "KNN", "NearestCentroid", "LogisticRegression", "MLP", "ConvergenceWarning"]


@runtime_checkable
class Classifier(Protocol):
    """What the shift experiments need of a classifier: ``fit`` then ``predict``.

    ``fit(X, y)`` learns from ``X`` (N rows) and labels ``y`` (N,) and returns the fitted
    object (usually ``self``); ``predict(X)`` returns one label per row of ``X`` as an array,
    with values from the labels seen in ``fit``. That is scikit-learn's estimator convention,
    so any scikit-learn classifier qualifies as it is.

    ``X`` is handed over as flat features ``(N, D)``: callers flatten images with
    ``images.reshape(len(images), -1)`` before giving them to a classifier they did not
    write, because scikit-learn rejects 3-D input. The baselines here also take
    ``(N, H, W)`` images directly. ``isinstance(obj, Classifier)`` checks that both methods
    exist (not their signatures).

    Examples
    --------
    >>> from mnistfamily.baselines import KNN, Classifier
    >>> isinstance(KNN(), Classifier)
    True
    >>> class Majority:
    ...     def fit(self, X, y):
    ...         import numpy as np
    ...         values, counts = np.unique(y, return_counts=True)
    ...         self.label = values[counts.argmax()]
    ...         return self
    ...     def predict(self, X):
    ...         import numpy as np
    ...         return np.full(len(X), self.label)
    >>> isinstance(Majority(), Classifier)
    True
    """

    def fit(self, X: Any, y: Any) -> Any:
        ...

    def predict(self, X: Any) -> Any:
        ...
