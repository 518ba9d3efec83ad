"""Checks shared by the baseline classifiers: feature arrays, labels, fitted state."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_features(X: Any, *, allow_empty: bool = False) -> np.ndarray:
    """``X`` as a 2-D numeric array ``(N, D)``: images ``(N, H, W)`` are flattened (a view when possible).

    The dtype is kept (uint8 stays uint8: KNN uses it for exact integer distances).
    Floats must be finite.
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"X must be images (N, H, W) or features (N, D); found an array of shape {X.shape}. "
                         "For a single example, pass X[None].")
    if X.ndim > 2:
        X = X.reshape(len(X), int(np.prod(X.shape[1:])))  # -1 cannot be inferred for 0 rows
    if not (X.dtype == bool or np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise ValueError(f"X must hold integers, booleans or real floats; found dtype {X.dtype}")
    if not allow_empty and len(X) == 0:
        raise ValueError("X has no rows: a classifier needs at least one training example")
    if X.shape[1] == 0:
        raise ValueError(f"X has no features (shape {X.shape})")
    if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity; replace them (e.g. np.nan_to_num) before fitting")
    return X


def as_labels(y: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, codes)``: the sorted distinct labels and each row's position among them."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one label per example, shape (N,); found shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)} labels")
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.astype(np.int64).reshape(-1)


def check_features(X: np.ndarray, n_features: int, owner: str) -> None:
    if X.shape[1] != n_features:
        raise ValueError(f"{owner} was fitted on {n_features} features per example but X has {X.shape[1]} "
                         f"(shape {X.shape}); pass images of the training shape")


def not_fitted(owner: str) -> RuntimeError:
    return RuntimeError(f"this {owner} is not fitted yet: call fit(X, y) first")


def accuracy(predicted: np.ndarray, y: Any) -> float:
    """Fraction of predictions equal to y (the ``score`` of every baseline)."""
    y = np.asarray(y)
    if y.shape != predicted.shape:
        raise ValueError(f"X has {len(predicted)} rows but y has shape {y.shape}")
    return float(np.mean(predicted == y))
