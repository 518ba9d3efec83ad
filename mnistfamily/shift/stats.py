"""Error bars for accuracies: the Wilson score interval and a one-call accuracy summary.

Test sets in shift experiments are often small (one writer series, one EMNIST letter), and
accuracies near 100 %: the normal-approximation interval ``p +- z sqrt(p(1-p)/n)`` then
collapses to a point at 0 or n errors and spills past [0, 1]. The Wilson interval does not
(Wilson 1927; Newcombe 1998 compares it with six others and recommends it).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    The set of proportions p for which the observed ``successes`` is not rejected by the
    two-sided score test at level ``1 - confidence``:

    ``(p_hat + z^2/(2n) +- z sqrt(p_hat (1 - p_hat)/n + z^2/(4n^2))) / (1 + z^2/n)``

    with ``z`` the ``1 - (1 - confidence)/2`` quantile of the standard normal. It stays
    within [0, 1]; the low end is exactly 0 when ``successes == 0`` and the high end
    exactly 1 when ``successes == n``.

    Parameters
    ----------
    successes
        Number of successes (e.g. correct predictions), ``0 <= successes <= n``.
    n
        Number of trials, at least 1.
    confidence
        Coverage, strictly between 0 and 1.

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> from mnistfamily.shift.stats import wilson_interval
    >>> [round(x, 4) for x in wilson_interval(81, 263)]  # Newcombe (1998), Table I
    [0.2553, 0.3662]
    >>> [round(x, 4) for x in wilson_interval(0, 20)]
    [0.0, 0.1611]
    """
    successes, n = _count(successes, "successes"), _count(n, "n")
    if n < 1:
        raise ValueError(f"n must be at least 1 to bound a proportion; found {n}")
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1 (e.g. 0.95); found {confidence!r}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    # At 0 or n successes the bounds are 0 and 1 exactly; the formula leaves rounding dust.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def accuracy_summary(y_true: Any, y_pred: Any, confidence: float = 0.95) -> dict[str, float | int]:
    """Accuracy, error rate, count and the Wilson interval of the accuracy.

    Returns ``{"accuracy", "error", "n", "ci_low", "ci_high"}``; the interval bounds the
    accuracy (the error's interval is ``(1 - ci_high, 1 - ci_low)``).

    Examples
    --------
    >>> from mnistfamily.shift.stats import accuracy_summary
    >>> summary = accuracy_summary([1, 2, 3, 4], [1, 2, 3, 0])
    >>> summary["accuracy"], summary["error"], summary["n"]
    (0.75, 0.25, 4)
    >>> round(summary["ci_low"], 4), round(summary["ci_high"], 4)
    (0.3006, 0.9544)
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must be 1-D and of the same length; found shapes "
                         f"{y_true.shape} and {y_pred.shape}")
    n = len(y_true)
    if n == 0:
        raise ValueError("y_true is empty: there is no accuracy to summarise")
    correct = int(np.count_nonzero(y_true == y_pred))
    low, high = wilson_interval(correct, n, confidence)
    return {"accuracy": correct / n, "error": (n - correct) / n, "n": n, "ci_low": low, "ci_high": high}


def _count(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer count; found {value!r}")
    return int(value)
