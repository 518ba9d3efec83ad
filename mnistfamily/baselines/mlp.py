"""A multi-layer perceptron in numpy: ReLU layers, softmax output, Adam on minibatches.

Big enough to reproduce the shape of the published distribution-shift results on a CPU in
minutes (DomainBed's ColoredMNIST and RotatedMNIST, the IRM paper's MLP), small enough to
read: forward and backward passes are a few float32 matrix products per layer.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ._inputs import accuracy, as_features, as_labels, check_features, not_fitted


class MLP:
    """Fully connected network: ``hidden`` ReLU layers, then a softmax over the classes.

    Weights start from Glorot-uniform draws (biases zero) of ``numpy.random.default_rng(seed)``,
    and minibatches are drawn from the same generator, so a fit is reproducible for a seed (to
    the last bits of float32 BLAS sums). The loss is the mean cross-entropy plus
    ``weight_decay / 2 * |W|^2`` on the weights (not the biases), minimised by Adam.

    Parameters
    ----------
    hidden
        Units per hidden layer, e.g. ``(256, 256)`` (the IRM paper's MLP); ``()`` is softmax
        regression.
    epochs
        Passes over the training set.
    batch_size
        Examples per step.
    learning_rate
        Adam's step size (``beta1=0.9, beta2=0.999, eps=1e-8``).
    weight_decay
        L2 penalty on the weights.
    seed
        Seed of the initial weights and of the minibatch order.

    Attributes
    ----------
    classes_ : ndarray
        The distinct training labels, sorted; predictions are values from it.
    weights_, biases_ : list of ndarray (float32)
        One matrix ``(inputs, outputs)`` and one vector per layer.
    history_ : list of dict
        One entry per epoch: ``{"epoch", "loss"}`` and, when ``fit`` got ``validation``,
        ``"validation"`` (the mean accuracy over the validation sets).
    best_epoch_ : int
        The epoch whose weights were kept: the last one, or with ``validation`` the one of
        the highest validation accuracy (the first of equals), as DomainBed's training-domain
        validation picks a checkpoint.

    Notes
    -----
    Inputs: integer arrays (uint8 pixels) are divided by 255; booleans become 0/1; float
    arrays are used as they are. Images of any shape are flattened, so 2-channel ColoredMNIST
    images ``(N, H, W, 2)`` work as they are.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily.baselines import MLP
    >>> ds = mf.load("mnist/sample", "test")
    >>> model = MLP(hidden=(128,), epochs=20, seed=0).fit(ds.images[::2], ds.labels[::2])
    >>> model.score(ds.images[1::2], ds.labels[1::2]) > 0.85
    True
    """

    def __init__(self, hidden: Sequence[int] = (256,), *, epochs: int = 10, batch_size: int = 128,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, seed: int = 0):
        hidden = tuple(hidden) if isinstance(hidden, (list, tuple)) else hidden
        if not isinstance(hidden, tuple) or not all(_positive_int(h) for h in hidden):
            raise ValueError(f"hidden must be a list of positive layer widths, e.g. (256,); found {hidden!r}")
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if not _positive_int(value):
                raise ValueError(f"{name} must be a positive integer; found {value!r}")
        if not _finite(learning_rate) or learning_rate <= 0:
            raise ValueError(f"learning_rate must be a positive number; found {learning_rate!r}")
        if not _finite(weight_decay) or weight_decay < 0:
            raise ValueError(f"weight_decay must be a non-negative number; found {weight_decay!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer; found {seed!r}")
        self.hidden = tuple(int(h) for h in hidden)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.seed = int(seed)

    def __repr__(self) -> str:
        return (f"MLP(hidden={self.hidden}, epochs={self.epochs}, batch_size={self.batch_size}, "
                f"learning_rate={self.learning_rate}, weight_decay={self.weight_decay}, seed={self.seed})")

    def fit(self, X: Any, y: Any, *, validation: Sequence[tuple[Any, Any]] | None = None) -> "MLP":
        """Train for ``epochs`` passes; with ``validation``, keep the epoch that scores best on it.

        Parameters
        ----------
        X, y
            Training examples and labels.
        validation
            Pairs ``(X_val, y_val)``; after each epoch the model is scored on each and the
            mean accuracy decides which epoch's weights are kept (labels not seen in training
            count as errors).

        Examples
        --------
        >>> import mnistfamily as mf
        >>> from mnistfamily.baselines import MLP
        >>> ds = mf.load("mnist/sample", "test")
        >>> model = MLP(hidden=(64,), epochs=5).fit(ds.images[:1000], ds.labels[:1000],
        ...                                         validation=[(ds.images[1000:], ds.labels[1000:])])
        >>> len(model.history_), 1 <= model.best_epoch_ <= 5
        (5, True)
        """
        X = as_features(X)
        self.classes_, codes = as_labels(y, len(X))
        if len(self.classes_) < 2:
            raise ValueError(f"y holds a single class ({self.classes_[0]!r}); a classifier needs at least two")
        checks = [(as_features(Xv, allow_empty=False), np.asarray(yv)) for Xv, yv in (validation or [])]
        for i, (Xv, yv) in enumerate(checks):
            check_features(Xv, X.shape[1], f"MLP (validation set {i})")
            if yv.shape != (len(Xv),):
                raise ValueError(f"validation set {i}: X has {len(Xv)} rows but y has shape {yv.shape}")
        rng = np.random.default_rng(self.seed)
        sizes = [X.shape[1], *self.hidden, len(self.classes_)]
        self.weights_ = [_glorot(rng, a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases_ = [np.zeros(b, np.float32) for b in sizes[1:]]
        self.n_features_in_ = X.shape[1]
        params = [*self.weights_, *self.biases_]
        moments = [np.zeros_like(p) for p in params]
        squares = [np.zeros_like(p) for p in params]
        step = 0
        self.history_: list[dict[str, float]] = []
        best: tuple[float, list[np.ndarray]] | None = None
        for epoch in range(1, self.epochs + 1):
            order = rng.permutation(len(X))
            total = 0.0
            for start in range(0, len(X), self.batch_size):
                rows = np.sort(order[start:start + self.batch_size])  # sorted: contiguous-ish reads
                loss, grads = self._loss_and_grads(_unit(X[rows]), codes[rows])
                total += loss * len(rows)
                step += 1
                _adam(params, grads, moments, squares, step, self.learning_rate)
            record = {"epoch": epoch, "loss": total / len(X)}
            if checks:
                record["validation"] = float(np.mean([np.mean(self.predict(Xv) == yv) for Xv, yv in checks]))
                if best is None or record["validation"] > best[0]:
                    best = (record["validation"], [p.copy() for p in params])
                    self.best_epoch_ = epoch
            self.history_.append(record)
        if best is not None:
            for p, kept in zip(params, best[1]):
                p[...] = kept
        else:
            self.best_epoch_ = self.epochs
        return self

    def _loss_and_grads(self, X: np.ndarray, codes: np.ndarray) -> tuple[float, list[np.ndarray]]:
        activations = [X]
        for W, b in zip(self.weights_[:-1], self.biases_[:-1]):
            activations.append(np.maximum(activations[-1] @ W + b, 0))
        logits = activations[-1] @ self.weights_[-1] + self.biases_[-1]
        logits -= logits.max(axis=1, keepdims=True)  # exp of large logits would overflow
        exp = np.exp(logits)
        total = exp.sum(axis=1, keepdims=True)
        n = len(X)
        loss = float(np.mean(np.log(total[:, 0]) - logits[np.arange(n), codes]))
        delta = exp / total
        delta[np.arange(n), codes] -= 1
        delta /= n
        weight_grads: list[np.ndarray] = []
        bias_grads: list[np.ndarray] = []
        for layer in range(len(self.weights_) - 1, -1, -1):
            weight_grads.append(activations[layer].T @ delta + self.weight_decay * self.weights_[layer])
            bias_grads.append(delta.sum(axis=0))
            if layer:
                delta = (delta @ self.weights_[layer].T) * (activations[layer] > 0)
        if self.weight_decay:
            loss += 0.5 * self.weight_decay * sum(float(np.sum(W * W)) for W in self.weights_)
        return loss, [*weight_grads[::-1], *bias_grads[::-1]]

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores (the logits), ``(N, n_classes)``, computed in chunks of 8,192 rows."""
        if not hasattr(self, "weights_"):
            raise not_fitted("MLP")
        X = as_features(X, allow_empty=True)
        check_features(X, self.n_features_in_, "MLP")
        out = np.empty((len(X), len(self.classes_)), np.float32)
        for start in range(0, len(X), 8192):
            h = _unit(X[start:start + 8192])
            for W, b in zip(self.weights_[:-1], self.biases_[:-1]):
                h = np.maximum(h @ W + b, 0)
            out[start:start + 8192] = h @ self.weights_[-1] + self.biases_[-1]
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, n_classes)``, columns in the order of ``classes_``."""
        logits = self.decision_function(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of X (the first one on an exact tie)."""
        logits = self.decision_function(X)  # first: it says when the model is not fitted
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy: the fraction of rows of X whose prediction equals y."""
        return accuracy(self.predict(X), y)


def _glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)


def _adam(params: list[np.ndarray], grads: list[np.ndarray], moments: list[np.ndarray],
          squares: list[np.ndarray], step: int, learning_rate: float,
          beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
    """One Adam update (Kingma and Ba 2015), in place."""
    scale = learning_rate * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
    for p, g, m, v in zip(params, grads, moments, squares):
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        p -= scale * m / (np.sqrt(v) + eps)


def _unit(X: np.ndarray) -> np.ndarray:
    """float32 features: integer pixels divided by 255; booleans and floats as they are."""
    if np.issubdtype(X.dtype, np.integer):
        return X.astype(np.float32) / np.float32(255)
    return X.astype(np.float32)


def _positive_int(value: Any) -> bool:
    return bool(not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value > 0)


def _finite(value: Any) -> bool:
    return bool(not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
                and math.isfinite(value))
