"""MNIST-1D: the published generation procedure, with numpy on whole batches.

MNIST-1D (Greydanus & Kobak, ICML 2024) turns ten hand-designed 12-point templates, one per
digit, into sequences of 40 points. Each example is its class template, zero-padded at the
end by a random 36-60 points, stretched to 72 points, scaled by a random factor, rotated
by a random 0-47 points, with Gaussian-smoothed noise filling the zero padding, i.i.d. noise
added everywhere, a random linear shear, and resampled to 40 points. The examples are then
shuffled and the whole set is standardised (mean 0, standard deviation 1). The official
``mnist1d_data.pkl`` is 5,000 such examples made with seed 42; the first 4,000 are the
training split.

:func:`generate` implements that procedure and its published defaults (:data:`DEFAULTS`).
Random numbers come from numpy's legacy ``RandomState(seed)`` in the published order (per
example: padding and scale, translation, correlated then i.i.d. noise, shear; then the
shuffle). NumPy keeps that stream fixed across versions, so a seed gives the same labels
and order everywhere and the same values up to the last bit (the platform's ``log`` feeds the
Gaussian draws). With the defaults the result agrees with the official file: the same labels
in the same order, and values within 2.2e-16 of it (docs/datasets/mnist1d.md).

Drawing the random numbers is the only step that walks the examples one at a time (the
legacy stream cannot be drawn in bulk without changing it); the arithmetic runs on chunks of
thousands of examples at once, with no scipy needed.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ConfigError

__all__ = ["DEFAULTS", "generate", "templates"]

#: The published defaults of the procedure. ``num_samples * train_split`` examples form
#: the training split of the official file; :func:`generate` returns the whole set.
DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "num_samples": 5000, "train_split": 0.8, "template_len": 12, "padding": (36, 60),
    "scale_coeff": 0.4, "max_translation": 48, "corr_noise_scale": 0.25, "iid_noise_scale": 0.02,
    "shear_scale": 0.75, "shuffle_seq": False, "final_seq_length": 40, "seed": 42,
})

# The ten digit shapes as published, before normalisation (one row per digit, 0-9).
_DIGITS = (
    (5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5),
    (5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5),
    (5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5),
    (5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5),
    (5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5),
    (5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5),
    (5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5),
    (5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5),
    (5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5),
    (5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5),
)
_EPS = 1e-8  # added to the template so the signal is never exactly zero (zero marks padding)
_CORR_NOISE_SIGMA = 2.0  # width of the Gaussian that smooths the padding noise
_CHUNK = 4096  # examples per batch of arithmetic: bounds memory for large sets


def templates() -> dict[str, np.ndarray]:
    """The ten digit templates: ``x`` (10, 12), their time axis ``t`` (12,), labels ``y`` (10,).

    Each row is standardised, shifted to start at 0 and divided by 6, as published; these are
    the ``templates`` stored in the official ``mnist1d_data.pkl``.

    Examples
    --------
    >>> from mnistfamily.mnist1d import templates
    >>> tpl = templates()
    >>> tpl["x"].shape, tpl["t"].shape, tpl["y"].tolist()
    ((10, 12), (12,), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    x = np.array(_DIGITS, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    x = x / x.std(axis=1, keepdims=True)
    x = x - x[:, :1]
    return {"x": x / 6.0, "t": np.linspace(-5, 5, x.shape[1]) / 6.0, "y": np.arange(len(x), dtype=np.int64)}


def generate(num_samples: int = 5000, seed: int = 42, *, template_len: int = 12,
             padding: Sequence[int] = (36, 60), scale_coeff: float = 0.4, max_translation: int = 48,
             corr_noise_scale: float = 0.25, iid_noise_scale: float = 0.02, shear_scale: float = 0.75,
             shuffle_seq: bool = False, final_seq_length: int = 40,
             templates: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Generate an MNIST-1D set: ``{"x": (N, final_seq_length) float64, "y": (N,) int64, "t": (final_seq_length,)}``.

    The defaults are the published ones, so ``generate()`` is the official set of 5,000
    (train = the first 4,000 rows, test = the last 1,000). Larger, smaller or harder sets
    change the arguments; the same arguments always give the same arrays.

    Parameters
    ----------
    num_samples
        Examples in the set, a multiple of the number of templates (equal counts per class).
    seed
        Seed of numpy's legacy ``RandomState``, 0 to 2**32 - 1.
    template_len, padding
        Each template is padded with ``padding[0]``..``padding[1]`` zeros, then stretched
        to ``template_len + padding[1]`` points.
    scale_coeff
        The signal is scaled by a factor uniform in ``1 ± scale_coeff / 2``.
    max_translation
        The sequence is rotated by 0 to ``max_translation - 1`` points.
    corr_noise_scale, iid_noise_scale
        Standard deviations of the smoothed noise filling the padding and of the noise added
        everywhere.
    shear_scale
        A line of slope uniform in ``± shear_scale / 2`` is subtracted.
    shuffle_seq
        Apply one random permutation to the time axis of every sequence (the published
        "shuffled" variant, which destroys spatial structure).
    final_seq_length
        Points per output sequence.
    templates
        Other templates, as ``{"x": (C, L), "t": (L,), "y": (C,)}`` (default: :func:`templates`).

    Returns
    -------
    dict
        ``x`` standardised over the whole set, ``y`` the class of each row, ``t`` the time
        axis divided by the same standard deviation (as published).

    Examples
    --------
    >>> from mnistfamily.mnist1d import generate
    >>> data = generate(num_samples=100, seed=0)
    >>> data["x"].shape, data["y"].dtype, data["t"].shape
    ((100, 40), dtype('int64'), (40,))
    >>> round(float(data["x"].std()), 6), sorted(set(data["y"].tolist())) == list(range(10))
    (1.0, True)
    """
    tpl = _published_templates() if templates is None else _checked_templates(templates)
    classes = len(tpl["y"])
    low, high = _check_arguments(num_samples, seed, classes, template_len, padding, scale_coeff,
                                 max_translation, corr_noise_scale, iid_noise_scale, shear_scale,
                                 final_seq_length)
    stretched_len = template_len + high
    rng = np.random.RandomState(seed)
    order = np.repeat(np.arange(classes), num_samples // classes)  # template of each example, by class
    # every (template, padding) pair stretched once: the padded signal depends on nothing else
    stretched = _stretched_templates(tpl["x"] + _EPS, low, high, stretched_len)
    shear_line = np.linspace(-0.5, 0.5, stretched_len)
    x = np.empty((num_samples, final_seq_length))
    for start in range(0, num_samples, _CHUNK):
        rows = order[start:start + _CHUNK]
        draws = _draw(rng, len(rows), stretched_len, max_translation)
        pad = low + (draws["pad"] * (high - low + 1)).astype(np.int64)
        signal = stretched[rows, pad - low] * (1 + scale_coeff * (draws["scale"] - 0.5))[:, None]
        signal = np.take_along_axis(signal, _rotation(draws["shift"], stretched_len), axis=1)
        noise = _smooth(corr_noise_scale * draws["noise"][:, :stretched_len], _CORR_NOISE_SIGMA)
        signal = np.where(signal != 0, signal, noise)
        signal = signal + iid_noise_scale * draws["noise"][:, stretched_len:]
        signal = signal - (shear_scale * (draws["shear"] - 0.5))[:, None] * shear_line
        x[start:start + len(rows)] = _resample(signal, final_seq_length)
    shuffle = rng.permutation(num_samples)
    x, y = x[shuffle], tpl["y"][order][shuffle].astype(np.int64)
    if shuffle_seq:
        x = x[:, rng.permutation(final_seq_length)]
    t = _resample(_resample(tpl["t"], stretched_len), final_seq_length)
    std = x.std()
    return {"x": (x - x.mean()) / std, "y": y, "t": t / std}


def _published_templates() -> dict[str, np.ndarray]:
    return templates()


def _checked_templates(given: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    try:
        x, t, y = (np.asarray(given[k]) for k in ("x", "t", "y"))
    except KeyError as exc:
        raise ConfigError(f"templates need the keys x, t and y; {exc.args[0]!r} is missing") from None
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 2 or t.shape != x.shape[1:] or y.shape != x.shape[:1]:
        raise ConfigError(f"templates must be x (C, L), t (L,), y (C,) with L >= 2; found x {x.shape}, "
                          f"t {t.shape}, y {y.shape}")
    return {"x": x.astype(np.float64), "t": t.astype(np.float64), "y": y}


def _check_arguments(num_samples: int, seed: int, classes: int, template_len: int, padding: Sequence[int],
                     scale_coeff: float, max_translation: int, corr_noise_scale: float,
                     iid_noise_scale: float, shear_scale: float, final_seq_length: int) -> tuple[int, int]:
    def count(value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    problems = []
    if not count(num_samples) or num_samples < classes or num_samples % classes:
        problems.append(f"num_samples must be a positive multiple of {classes} (one share per class), "
                        f"not {num_samples!r}")
    if not count(seed) or not 0 <= seed < 2**32:
        problems.append(f"seed must be an integer from 0 to 2**32 - 1, not {seed!r}")
    if (not isinstance(padding, Sequence) or len(padding) != 2 or not all(count(p) for p in padding)
            or not 0 <= padding[0] <= padding[1]):
        problems.append(f"padding must be [low, high] with 0 <= low <= high, not {padding!r}")
        padding = (0, 0)
    if not count(template_len) or template_len + padding[1] < 2:
        problems.append(f"template_len + padding[1] must be at least 2; template_len is {template_len!r}")
    if not count(max_translation) or max_translation < 1:
        problems.append(f"max_translation must be a positive integer, not {max_translation!r}")
    if not count(final_seq_length) or final_seq_length < 2:
        problems.append(f"final_seq_length must be an integer of at least 2, not {final_seq_length!r}")
    for name, value in [("scale_coeff", scale_coeff), ("corr_noise_scale", corr_noise_scale),
                        ("iid_noise_scale", iid_noise_scale), ("shear_scale", shear_scale)]:
        if not isinstance(value, (int, float, np.number)) or not math.isfinite(value) or value < 0:
            problems.append(f"{name} must be a finite number >= 0, not {value!r}")
    if problems:
        raise ConfigError("mnistfamily.mnist1d.generate: " + "; ".join(problems))
    return int(padding[0]), int(padding[1])


def _draw(rng: np.random.RandomState, n: int, stretched_len: int, max_translation: int) -> dict[str, np.ndarray]:
    """The random numbers of ``n`` examples, in the published per-example order."""
    uniform, integer, normal = rng.random_sample, rng.randint, rng.standard_normal
    pad_scale = np.empty((n, 2))
    shift = np.empty(n, dtype=np.int64)
    noise = np.empty((n, 2 * stretched_len))
    shear = np.empty(n)
    for i in range(n):  # the legacy stream interleaves draws of variable cost: one example at a time
        pad_scale[i] = uniform(2)
        shift[i] = integer(max_translation)
        noise[i] = normal(2 * stretched_len)  # smoothed noise, then i.i.d. noise
        shear[i] = uniform()
    return {"pad": pad_scale[:, 0], "scale": pad_scale[:, 1], "shift": shift, "noise": noise, "shear": shear}


def _stretched_templates(x: np.ndarray, low: int, high: int, size: int) -> np.ndarray:
    """``(C, high - low + 1, size)``: each template zero-padded by low..high points, resampled to ``size``."""
    classes, length = x.shape
    out = np.empty((classes, high - low + 1, size))
    for i, pad in enumerate(range(low, high + 1)):  # one batch per padding length, all templates
        padded = np.zeros((classes, length + pad))
        padded[:, :length] = x
        out[:, i] = _resample(padded, size)
    return out


def _rotation(shift: np.ndarray, size: int) -> np.ndarray:
    """Column indices that rotate each row right by ``shift`` points (``np.roll`` per row)."""
    return (np.arange(size)[None, :] - shift[:, None]) % size


def _resample(values: np.ndarray, size: int) -> np.ndarray:
    """Linear interpolation of rows sampled at ``linspace(0, 1, n)`` onto ``linspace(0, 1, size)``.

    The same arithmetic as ``np.interp`` (slope of the interval, times the distance from its
    left end, plus the left value; the last point exactly), for many rows at once.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    src = np.linspace(0.0, 1.0, n)
    dst = np.linspace(0.0, 1.0, size)
    left = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, n - 2)
    slope = (values[..., left + 1] - values[..., left]) / (src[left + 1] - src[left])
    out = slope * (dst - src[left]) + values[..., left]
    out[..., dst >= src[-1]] = values[..., -1:]
    return out


def _smooth(noise: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Gaussian smoothing of each row, mirrored at the ends (``scipy.ndimage.gaussian_filter1d``'s
    default ``reflect`` mode, with its kernel radius and order of summation)."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 / (sigma * sigma) * offsets ** 2)
    weights = weights / weights.sum()
    n = noise.shape[-1]
    padded = np.pad(noise, [(0, 0)] * (noise.ndim - 1) + [(radius, radius)], mode="symmetric")
    out = padded[..., radius:radius + n] * weights[radius]
    for j in range(radius, 0, -1):  # outermost pair first
        out = out + (padded[..., radius - j:radius - j + n] + padded[..., radius + j:radius + j + n]) * weights[radius + j]
    return out
