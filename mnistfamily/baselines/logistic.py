"""Multinomial logistic regression (softmax) with an L2 penalty, fitted by L-BFGS."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import ConvergenceWarning
from ._inputs import accuracy, as_features, as_labels, check_features, not_fitted


class LogisticRegression:
    """Softmax regression on pixels scaled to [0, 1], with an L2 penalty on the weights.

    Minimises ``mean_i(-log p(y_i | x_i)) + |W|^2 / (2 C N)`` over the weights ``W`` and the
    (unpenalised) intercepts: the objective of scikit-learn's ``LogisticRegression(C=C)``
    with the multinomial loss, so the same C means the same model. L-BFGS
    (``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``) starts from zero weights:
    fitting is deterministic.

    Parameters
    ----------
    C
        Inverse penalty strength: larger C, weaker penalty.
    max_iter
        L-BFGS iterations at most; a :class:`ConvergenceWarning` is issued when they run out.
    tol
        Stop when the largest gradient component falls below ``tol`` (L-BFGS-B's ``gtol``;
        scikit-learn's default).

    Attributes
    ----------
    classes_ : ndarray
        The distinct training labels, sorted.
    coef_ : ndarray, float64 (n_classes, D)
        Weights per class, for inputs in [0, 1].
    intercept_ : ndarray, float64 (n_classes,)
    n_iter_ : int
        L-BFGS iterations used.

    Notes
    -----
    Inputs: integer arrays (uint8 pixels) are divided by 255; booleans become 0/1; float
    arrays are used as they are, so pass floats already scaled to [0, 1].

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily.baselines import LogisticRegression
    >>> ds = mf.load("mnist/sample", "test")
    >>> model = LogisticRegression(C=0.1).fit(ds.images[::4], ds.labels[::4])
    >>> model.score(ds.images[1::4], ds.labels[1::4]) > 0.85
    True
    >>> model.predict_proba(ds.images[:2]).sum(axis=1).round(6).tolist()
    [1.0, 1.0]
    """

    def __init__(self, C: float = 1.0, max_iter: int = 1000, tol: float = 1e-4):
        if not np.isfinite(C) or C <= 0:
            raise ValueError(f"C must be a positive number; found {C!r}")
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer; found {max_iter!r}")
        if not np.isfinite(tol) or tol <= 0:
            raise ValueError(f"tol must be a positive number; found {tol!r}")
        self.C = float(C)
        self.max_iter = int(max_iter)
        self.tol = float(tol)

    def __repr__(self) -> str:
        return f"LogisticRegression(C={self.C}, max_iter={self.max_iter}, tol={self.tol})"

    def fit(self, X: Any, y: Any) -> "LogisticRegression":
        """Fit the weights by L-BFGS.

        Examples
        --------
        >>> import mnistfamily as mf
        >>> from mnistfamily.baselines import LogisticRegression
        >>> ds = mf.load("mnist/sample", "test")
        >>> LogisticRegression(tol=1e-3).fit(ds.images[:200], ds.labels[:200]).coef_.shape
        (10, 784)
        """
        from scipy.optimize import minimize  # scipy only when a model is fitted: import mnistfamily stays light

        X = _unit_floats(as_features(X))
        self.classes_, codes = as_labels(y, len(X))
        n, d = X.shape
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(f"y holds a single class ({self.classes_[0]!r}); a classifier needs at least two")
        one_hot = np.zeros((n, n_classes))
        one_hot[np.arange(n), codes] = 1.0
        alpha = 1.0 / (self.C * n)
        result = minimize(
            softmax_loss_and_grad, np.zeros(n_classes * (d + 1)), args=(X, one_hot, alpha),
            method="L-BFGS-B", jac=True,
            # ftol as scikit-learn sets it: let gtol (our tol) decide, not a tiny relative decrease
            options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": 64 * np.finfo(float).eps, "maxls": 50},
        )
        params = result.x.reshape(n_classes, d + 1)
        self.coef_ = params[:, :d].copy()
        self.intercept_ = params[:, d].copy()
        self.n_iter_ = int(result.nit)
        self.n_features_in_ = d
        if not result.success:
            warnings.warn(f"LogisticRegression did not converge in {self.n_iter_} L-BFGS iterations "
                          f"({result.message}); raise max_iter (now {self.max_iter}) or tol (now {self.tol})",
                          ConvergenceWarning, stacklevel=2)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores ``x . w_c + b_c`` (the logits), ``(N, n_classes)``."""
        if not hasattr(self, "coef_"):
            raise not_fitted("LogisticRegression")
        X = as_features(X, allow_empty=True)
        check_features(X, self.n_features_in_, "LogisticRegression")
        return _unit_floats(X) @ self.coef_.T + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, n_classes)``, columns in the order of ``classes_``.

        Examples
        --------
        >>> import numpy as np
        >>> from mnistfamily.baselines import LogisticRegression
        >>> X = np.array([[0], [0], [255], [255]], dtype=np.uint8)
        >>> model = LogisticRegression(C=100).fit(X, [0, 0, 1, 1])
        >>> model.predict_proba(X[[0, 2]]).argmax(axis=1).tolist()
        [0, 1]
        """
        logits = self.decision_function(X)
        logits -= logits.max(axis=1, keepdims=True)  # exp of large logits would overflow
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return probabilities

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of X (the first one on an exact tie).

        Examples
        --------
        >>> import numpy as np
        >>> from mnistfamily.baselines import LogisticRegression
        >>> X = np.array([[0], [0], [255], [255]], dtype=np.uint8)
        >>> LogisticRegression(C=100).fit(X, ["dark", "dark", "light", "light"]).predict(X[[3]]).tolist()
        ['light']
        """
        logits = self.decision_function(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy: the fraction of rows of X whose prediction equals y.

        Examples
        --------
        >>> import numpy as np
        >>> from mnistfamily.baselines import LogisticRegression
        >>> X = np.array([[0], [0], [255], [255]], dtype=np.uint8)
        >>> LogisticRegression(C=100).fit(X, [0, 0, 1, 1]).score(X, [0, 0, 1, 1])
        1.0
        """
        return accuracy(self.predict(X), y)


def softmax_loss_and_grad(params: np.ndarray, X: np.ndarray, one_hot: np.ndarray,
                          alpha: float) -> tuple[float, np.ndarray]:
    """Penalised mean cross-entropy of a softmax model and its gradient.

    ``params`` is ``(n_classes, D + 1)`` flattened, weights then intercept per class;
    ``alpha`` weighs ``|W|^2 / 2`` (intercepts are not penalised). The log-sum-exp is
    shifted by each row's largest logit, so no logit overflows ``exp``.
    """
    n, d = X.shape
    params = params.reshape(one_hot.shape[1], d + 1)
    weights = np.ascontiguousarray(params[:, :d])
    logits = X @ weights.T + params[:, d]
    top = logits.max(axis=1, keepdims=True)
    exp = np.exp(logits - top)
    total = exp.sum(axis=1, keepdims=True)
    log_sum_exp = top + np.log(total)
    loss = (log_sum_exp.sum() - np.einsum("ij,ij->", logits, one_hot)) / n + 0.5 * alpha * np.einsum(
        "ij,ij->", weights, weights)
    # (n_classes, N), contiguous: OpenBLAS is ~3x slower on the transposed view of (N, n_classes)
    residual = np.ascontiguousarray(((exp / total - one_hot) / n).T)
    grad = np.empty_like(params)
    grad[:, :d] = residual @ X + alpha * weights
    grad[:, d] = residual.sum(axis=1)
    return float(loss), grad.ravel()


def _unit_floats(X: np.ndarray) -> np.ndarray:
    """float64 features: integer pixels divided by 255; booleans and floats as they are."""
    if np.issubdtype(X.dtype, np.integer):
        return X / 255.0
    return X.astype(np.float64)
