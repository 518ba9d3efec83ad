"""DomainBed-style evaluation: environments as splits, leave one out, training-domain validation.

Gulrajani and Lopez-Paz (2020) score domain generalisation like this, and
:func:`leave_one_environment_out` does the same on any set of environments (the splits of
``rotatedmnist``, ColoredMNIST's environments in memory, your own):

1. every environment is cut, as DomainBed's ``train.py`` cuts it, into an "out" part of
   ``int(n * holdout_fraction)`` examples and an "in" part, by
   ``numpy.random.RandomState(seed_hash(trial_seed, env_i)).shuffle`` (:func:`holdout`);
2. for each test environment in turn, the model is fitted on the "in" parts of the others;
3. training-domain validation picks the model: among the candidates (and, for a model whose
   ``fit`` takes ``validation=``, among its epochs) the one with the best mean accuracy on the
   "out" parts of the training environments;
4. the chosen model is scored on the test environment's "in" part (DomainBed's
   ``env{i}_in_acc``), with a Wilson interval; the average over test environments is DomainBed's
   "Avg" column.

:func:`load_environments` loads the splits of a registry dataset with ``environments``;
:func:`environments_by_column` cuts one Dataset by a column. Nothing here assumes gray images:
the model gets each example flattened, whatever its shape.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .chart import Bar, draw_bars, json_text, save_picture
from ..errors import ShiftError
from .stats import accuracy_summary

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..dataset import Dataset

__all__ = ["seed_hash", "holdout", "load_environments", "environments_by_column", "leave_one_environment_out",
           "EnvironmentResult", "EnvironmentRow", "HOLDOUT_FRACTION"]

log = logging.getLogger("mnistfamily")

PathLike = str | os.PathLike[str]

#: DomainBed's default ``--holdout_fraction``
HOLDOUT_FRACTION = 0.2
#: the seed of the examples kept by ``limit=``
LIMIT_SEED = 0


def seed_hash(*args: Any) -> int:
    """DomainBed's ``misc.seed_hash``: the md5 of ``str(args)``, modulo 2**31.

    Examples
    --------
    >>> from mnistfamily.shift.environments import seed_hash
    >>> seed_hash(0, 0) == int(__import__("hashlib").md5(b"(0, 0)").hexdigest(), 16) % 2**31
    True
    """
    return int(hashlib.md5(str(args).encode("utf-8")).hexdigest(), 16) % (2 ** 31)


def holdout(n: int, fraction: float = HOLDOUT_FRACTION, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(in_positions, out_positions)`` of an environment of ``n`` examples, as DomainBed cuts it.

    DomainBed's ``misc.split_dataset(env, int(n * fraction), seed)`` shuffles ``range(n)`` with
    ``numpy.random.RandomState(seed)`` and gives the first ``int(n * fraction)`` to "out" and the
    rest to "in" (``train.py`` passes ``seed_hash(trial_seed, env_i)``). Positions come back in
    that shuffled order, as DomainBed's subsets index them.

    Examples
    --------
    >>> from mnistfamily.shift.environments import holdout, seed_hash
    >>> inside, out = holdout(11_667, 0.2, seed_hash(0, 0))
    >>> len(inside), len(out)
    (9334, 2333)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ShiftError(f"an environment needs at least 2 examples to hold some out; found n={n!r}")
    if not 0 < fraction < 1:
        raise ShiftError(f"holdout fraction must be strictly between 0 and 1 (DomainBed: 0.2); found {fraction!r}")
    keys = np.arange(n)
    np.random.RandomState(seed).shuffle(keys)  # the legacy generator: DomainBed's draws, exactly
    cut = int(n * fraction)
    return keys[cut:].astype(np.int64), keys[:cut].astype(np.int64)


def load_environments(name: str, splits: Sequence[str] | None = None, **load_options: Any) -> dict[str, "Dataset"]:
    """Every split (or the named ones) of a dataset whose splits are environments, in registry order.

    ``load_options`` go to :func:`mnistfamily.load` (``data_dir=``, ``source=``, ``registry=``).

    Examples
    --------
    >>> from mnistfamily.registry import get_registry
    >>> list(get_registry().dataset("rotatedmnist").splits)
    ['0', '15', '30', '45', '60', '75']
    """
    from ..api import load
    from ..registry import get_registry

    spec = get_registry(load_options.get("registry")).dataset(name)
    names = list(spec.splits) if splits is None else list(splits)
    return {s: load(spec.name, s, **load_options) for s in names}


def environments_by_column(ds: "Dataset", column: str = "environment",
                           names: Mapping[Any, str] | None = None) -> dict[str, "Dataset"]:
    """One Dataset per distinct value of ``column`` (sorted), named by ``names`` or the value.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily.shift.environments import environments_by_column
    >>> ds = mf.load("mnist/sample", "test")
    >>> sorted(environments_by_column(ds, "hsf_series", {0: "employees", 4: "students"}))
    ['employees', 'students']
    """
    values = np.asarray(ds.column(column))
    if values.ndim != 1:
        raise ShiftError(f"{ds.name or 'dataset'}: column {column!r} has shape {values.shape}, not one value "
                         "per example")
    return {(names or {}).get(v.item(), str(v.item())): ds.select(np.flatnonzero(values == v))
            for v in np.unique(values)}


@dataclass(frozen=True)
class EnvironmentRow:
    """One held-out environment: the chosen model's accuracy on its "in" part, and how it was chosen."""

    environment: str
    n: int
    accuracy: float
    error: float
    ci_low: float
    ci_high: float
    #: mean accuracy on the "out" parts of the training environments (what chose the model)
    validation: float
    #: training examples (the "in" parts of the other environments)
    n_train: int
    #: the candidate chosen (its repr), and its epoch when checkpoints were compared
    model: str
    epoch: int | None = None


@dataclass
class EnvironmentResult:
    """What :func:`leave_one_environment_out` found: a row per test environment and the average.

    ``str(result)``/:meth:`table` give a text table; :meth:`to_json` and :meth:`plot` write the
    JSON record and a bar chart.
    """

    name: str
    model: str
    rows: list[EnvironmentRow]
    holdout_fraction: float = HOLDOUT_FRACTION
    trial_seed: int = 0
    confidence: float = 0.95
    limit: int | None = None
    #: the sizes of every environment before the holdout
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def average(self) -> float:
        """The mean accuracy over the test environments (DomainBed's "Avg")."""
        return float(np.mean([r.accuracy for r in self.rows]))

    def row(self, environment: str) -> EnvironmentRow:
        for r in self.rows:
            if r.environment == environment:
                return r
        raise KeyError(f"{self.name} has no test environment {environment!r}; "
                       f"environments: {', '.join(r.environment for r in self.rows)}")

    def to_dict(self) -> dict[str, Any]:
        from .._version import __version__

        return {"name": self.name, "model": self.model, "selection": "training-domain validation",
                "holdout_fraction": self.holdout_fraction, "trial_seed": self.trial_seed,
                "confidence": self.confidence, "limit": self.limit, "sizes": self.sizes,
                "rows": [asdict(r) for r in self.rows], "average": self.average, "mnistfamily": __version__}

    def to_json(self, path: PathLike | None = None, *, indent: int = 2) -> str:
        """The result as JSON text; with ``path``, also written there (atomically)."""
        return json_text(self.to_dict(), path, indent=indent)

    def table(self) -> str:
        """A text table: test environment, n, accuracy, interval, validation accuracy, training size."""
        level = f"{self.confidence:.0%}"
        lines = [f"{self.name}: {self.model}",
                 f"  leave one environment out; training-domain validation ({self.holdout_fraction:.0%} of every "
                 f"environment held out, trial seed {self.trial_seed}); accuracy on the test environment's other "
                 f"{1 - self.holdout_fraction:.0%}"]
        if self.limit is not None:
            lines.append(f"  limit: at most {self.limit:,} examples per environment (a seeded random subset)")
        header = ("test environment", "n", "accuracy", f"{level} interval", "validation", "trained on", "chosen")
        cells = [header] + [
            (r.environment, f"{r.n:,}", f"{r.accuracy:.2%}", f"[{100 * r.ci_low:.2f}, {100 * r.ci_high:.2f}]",
             f"{r.validation:.2%}", f"{r.n_train:,}", self._chosen(r)) for r in self.rows]
        cells.append(("average", "", f"{self.average:.2%}", "", "", "", ""))
        widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
        lines.append("")
        for row in cells:
            first = row[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:])]
            lines.append("  ".join([first, *rest, row[-1]]).rstrip())
        return "\n".join(lines)

    def _chosen(self, row: EnvironmentRow) -> str:
        """The chosen candidate (when there were several) and epoch (when checkpoints were compared)."""
        parts = [] if row.model == self.model else [row.model]
        if row.epoch is not None:
            parts.append(f"epoch {row.epoch}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return self.table()

    def image(self, *, width: int = 900) -> "Image.Image":
        """The bar chart: accuracy per held-out environment with its interval; red line: the average."""
        return draw_bars(
            [Bar(f"{r.environment} held out (n={r.n:,})", r.accuracy, r.ci_low, r.ci_high, True) for r in self.rows],
            title=f"{self.name}: {self.model}",
            subtitle=(f"leave one environment out, training-domain validation; {self.confidence:.0%} Wilson "
                      f"intervals; red line: the average ({self.average:.2%})"),
            reference=self.average, width=width)

    def plot(self, path: PathLike, *, width: int = 900) -> Path:
        """Write the bar chart to ``path`` (PNG, or the format its suffix names), atomically."""
        return save_picture(self.image(width=width), path)


def leave_one_environment_out(environments: Mapping[str, "Dataset"], model: Any, *,
                              test_environments: Sequence[str] | None = None,
                              holdout_fraction: float = HOLDOUT_FRACTION, trial_seed: int = 0,
                              limit: int | None = None, confidence: float = 0.95,
                              name: str = "") -> EnvironmentResult:
    """Hold out each environment in turn, train on the others, choose by training-domain validation.

    Parameters
    ----------
    environments
        Environment name -> Dataset, in their order (DomainBed numbers them 0, 1, ...: the
        number goes into the holdout seed). Every environment must share the classes and the
        example shape.
    model
        A baseline name (``"knn"``, ``"centroid"``, ``"logreg"``, ``"mlp"``, ...), an object with
        ``fit``/``predict`` (copied afresh for each test environment), a function returning a
        fresh one, or a list of those: the candidates that training-domain validation chooses
        from. A model whose ``fit`` takes ``validation=`` (:class:`~mnistfamily.baselines.MLP`)
        also gets the training environments' "out" parts, and keeps its best epoch on them.
    test_environments
        The environments to hold out (default: each in turn).
    holdout_fraction, trial_seed
        DomainBed's ``--holdout_fraction`` and ``--trial_seed``.
    limit
        At most this many examples per environment, drawn with a fixed seed before the holdout:
        quick runs.
    confidence
        Coverage of the Wilson intervals.
    name
        What the result calls the set of environments.

    Returns
    -------
    EnvironmentResult

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> from mnistfamily.shift.environments import leave_one_environment_out
    >>> ds = mf.load("mnist/sample", "test")
    >>> envs = {f"{a}": ds.select(slice(i, None, 3)).map(T.RotateDegrees(a)) for i, a in enumerate((0, 30, 60))}
    >>> result = leave_one_environment_out(envs, "centroid", name="rotated sample")
    >>> [r.environment for r in result.rows], result.row("30").n
    (['0', '30', '60'], 534)
    """
    from .experiment import make_model

    envs = dict(environments)
    if len(envs) < 2:
        raise ShiftError(f"leave-one-environment-out needs at least 2 environments; found {len(envs)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 2):
        raise ShiftError(f"limit must be a number of examples of at least 2, or None; found {limit!r}")
    _check_alike(envs)
    tests = list(envs) if test_environments is None else list(test_environments)
    unknown = [t for t in tests if t not in envs]
    if unknown or not tests:
        raise ShiftError(f"test environments {unknown or tests!r} are not among {', '.join(envs)}")
    candidates = list(model) if isinstance(model, (list, tuple)) else [model]
    if not candidates:
        raise ShiftError("model: an empty list of candidates; give a model or at least one candidate")
    for candidate in candidates:  # a bad model fails here, before any fitting
        _fresh(candidate, make_model)
    if limit is not None:
        envs = {k: ds.select(np.sort(np.random.default_rng(LIMIT_SEED).choice(len(ds), size=int(limit),
                                                                              replace=False)))
                if len(ds) > limit else ds for k, ds in envs.items()}
    parts = {}
    for i, (env_name, ds) in enumerate(envs.items()):
        inside, out = holdout(len(ds), holdout_fraction, seed_hash(trial_seed, i))
        parts[env_name] = (ds.select(inside), ds.select(out))
    rows = []
    for test in tests:
        started = time.perf_counter()
        training = [k for k in envs if k != test]
        X = np.concatenate([_features(parts[k][0]) for k in training])
        y = np.concatenate([np.asarray(parts[k][0].labels) for k in training])
        validation = [(_features(parts[k][1]), np.asarray(parts[k][1].labels)) for k in training]
        best = None
        for candidate in candidates:
            estimator = _fresh(candidate, make_model)
            if _takes_validation(estimator):
                estimator.fit(X, y, validation=validation)
            else:
                estimator.fit(X, y)
            score = float(np.mean([np.mean(np.asarray(estimator.predict(Xv)) == yv) for Xv, yv in validation]))
            if best is None or score > best[0]:
                best = (score, estimator)
        assert best is not None
        score, chosen = best
        test_in = parts[test][0]
        predicted = np.asarray(chosen.predict(_features(test_in)))
        if predicted.shape != (len(test_in),):
            raise ShiftError(f"{chosen!r}.predict returned shape {predicted.shape} for {len(test_in)} examples; "
                             "expected one label per example")
        summary = accuracy_summary(np.asarray(test_in.labels), predicted, confidence)
        rows.append(EnvironmentRow(environment=test, n=int(summary["n"]), accuracy=float(summary["accuracy"]),
                                   error=float(summary["error"]), ci_low=float(summary["ci_low"]),
                                   ci_high=float(summary["ci_high"]), validation=score, n_train=len(y),
                                   model=repr(chosen), epoch=getattr(chosen, "best_epoch_", None)))
        log.info("environments %s: %s held out: %.2f%% (validation %.2f%%) in %.1f s", name, test,
                 100 * summary["accuracy"], 100 * score, time.perf_counter() - started)
    shown = repr(_fresh(candidates[0], make_model)) if len(candidates) == 1 else \
        f"{len(candidates)} candidates ({', '.join(repr(_fresh(c, make_model)) for c in candidates)})"
    return EnvironmentResult(name=name or "environments", model=shown, rows=rows, holdout_fraction=holdout_fraction,
                             trial_seed=trial_seed, confidence=confidence,
                             limit=None if limit is None else int(limit),
                             sizes={k: len(ds) for k, ds in envs.items()})


def _fresh(candidate: Any, make_model: Callable[[Any], Any]) -> Any:
    """A new, unfitted model from a name, a factory or a template object."""
    if isinstance(candidate, str):
        return make_model(candidate)
    if isinstance(candidate, type) or (callable(candidate) and not hasattr(candidate, "fit")):
        return make_model(candidate())  # a class or a factory
    return make_model(copy.deepcopy(candidate))  # a template: each run fits its own copy


def _takes_validation(estimator: Any) -> bool:
    try:
        return "validation" in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return False


def _features(ds: "Dataset") -> np.ndarray:
    images = np.asarray(ds.images)
    return images.reshape(len(images), -1) if images.ndim > 2 else images


def _check_alike(envs: Mapping[str, "Dataset"]) -> None:
    first_name, first = next(iter(envs.items()))
    problems = []
    for env_name, ds in envs.items():
        if list(ds.classes) != list(first.classes):
            problems.append(f"{env_name!r} has classes {ds.classes[:10]}, {first_name!r} has {first.classes[:10]}")
        if tuple(ds.images.shape[1:]) != tuple(first.images.shape[1:]):
            problems.append(f"{env_name!r} has examples of shape {tuple(ds.images.shape[1:])}, {first_name!r} of "
                            f"{tuple(first.images.shape[1:])}")
        if np.ndim(ds.labels) != 1:
            problems.append(f"{env_name!r} is multi-label; environments are scored as single-label classification")
    if problems:
        raise ShiftError("environments must share their classes and the shape of their examples: "
                         + "; ".join(problems))
