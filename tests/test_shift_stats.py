"""Wilson score interval and accuracy summary: the formula, textbook values, edge counts, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnistfamily.shift.stats import accuracy_summary, wilson_interval

Z95 = 1.959963984540054  # the 0.975 quantile of N(0, 1), from tables


def wilson_reference(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The interval as Wilson (1927) writes it: the roots in p of (p_hat - p)^2 = z^2 p (1 - p) / n."""
    p_hat = successes / n
    # (1 + z^2/n) p^2 - (2 p_hat + z^2/n) p + p_hat^2 = 0
    a, b, c = 1 + z * z / n, -(2 * p_hat + z * z / n), p_hat * p_hat
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize("successes, n", [(0, 10), (10, 10), (50, 100), (3, 7), (9691, 10000), (1, 1)])
def test_wilson_matches_the_quadratic_roots(successes, n):
    low, high = wilson_interval(successes, n)
    want_low, want_high = wilson_reference(successes, n)
    assert low == pytest.approx(want_low, abs=1e-12)
    assert high == pytest.approx(want_high, abs=1e-12)


def test_wilson_edges_are_exact():
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(0, 10)[1] == pytest.approx(Z95**2 / (10 + Z95**2), abs=1e-12)  # 0.2775
    assert wilson_interval(10, 10) == (pytest.approx(10 / (10 + Z95**2), abs=1e-12), 1.0)  # (0.7225, 1)
    low, high = wilson_interval(50, 100)
    assert low + high == pytest.approx(1.0, abs=1e-12)   # symmetric about one half
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)


@pytest.mark.parametrize("successes, n, want", [
    # Newcombe RG (1998), Two-sided confidence intervals for the single proportion: comparison of
    # seven methods. Statistics in Medicine 17:857-872, Table I, method 3 (score, no correction)
    (81, 263, (0.2553, 0.3662)),
    (15, 148, (0.0624, 0.1605)),
    (0, 20, (0.0000, 0.1611)),
    (1, 29, (0.0061, 0.1718)),
])
def test_wilson_textbook_values(successes, n, want):
    low, high = wilson_interval(successes, n)
    assert (round(low, 4), round(high, 4)) == want


def test_wilson_confidence_widens_the_interval_and_accepts_numpy_counts():
    narrow = wilson_interval(np.int64(30), np.int64(40), confidence=0.8)
    usual = wilson_interval(30, 40)
    wide = wilson_interval(30, 40, confidence=0.99)
    assert wide[0] < usual[0] < narrow[0] < 0.75 < narrow[1] < usual[1] < wide[1]
    z99 = 2.5758293035489004
    assert wide[0] == pytest.approx(wilson_reference(30, 40, z99)[0], abs=1e-12)


@pytest.mark.parametrize("args, match", [
    ((1, 0), "n must be at least 1"),
    ((11, 10), r"successes \(11\) cannot exceed n \(10\)"),
    ((-1, 10), "successes must be a non-negative integer"),
    ((2.5, 10), "successes must be a non-negative integer"),
    ((1, 10, 1.0), "confidence must be strictly between 0 and 1"),
    ((1, 10, 95), "confidence must be strictly between 0 and 1"),
])
def test_wilson_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(*args)


def test_accuracy_summary():
    y_true = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    y_pred = np.array([0, 1, 2, 3, 4, 5, 6, 7, 0, 0])
    summary = accuracy_summary(y_true, y_pred)
    assert set(summary) == {"accuracy", "error", "n", "ci_low", "ci_high"}
    assert summary["accuracy"] == 0.8 and summary["error"] == pytest.approx(0.2) and summary["n"] == 10
    assert (summary["ci_low"], summary["ci_high"]) == wilson_interval(8, 10)
    assert summary["ci_low"] < 0.8 < summary["ci_high"]
    assert accuracy_summary(["a", "b"], ["a", "b"])["ci_high"] == 1.0
    assert accuracy_summary([1], [1], confidence=0.5)["ci_low"] == pytest.approx(wilson_interval(1, 1, 0.5)[0])


def test_accuracy_summary_rejects_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="same length"):
        accuracy_summary([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="is empty"):
        accuracy_summary([], [])
