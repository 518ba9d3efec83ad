"""Run a shift protocol: fit a model on the training selection, score it on every domain.

:func:`run` returns a :class:`Result`: one row per domain with n, accuracy, error, the Wilson
interval of the accuracy and the gap to the in-domain accuracy; it prints as a table, writes
JSON and draws a bar chart with Pillow.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .protocols import Protocol, ProtocolError, Selection, get_protocol
from .splits import by_values, halves, published_size, writer_folds
from .chart import (GRID, IN_DOMAIN_BAR, INTERVAL, OTHER_BAR, REFERENCE_LINE, TEXT, Bar,  # noqa: F401 (re-exported)
                    axis_range, draw_bars, json_text, save_picture, write_atomically)
from .label_errors import known_errors
from .stats import accuracy_summary

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..dataset import Dataset

__all__ = ["run", "Result", "DomainResult", "MODELS", "make_model", "load_selection"]

log = logging.getLogger("mnistfamily")

PathLike = str | os.PathLike[str]


def _knn(k: int) -> Callable[[], Any]:
    def make() -> Any:
        from ..baselines import KNN

        return KNN(k=k)
    return make


def _centroid() -> Any:
    from ..baselines import NearestCentroid

    return NearestCentroid()


def _logreg() -> Any:
    from ..baselines import LogisticRegression

    return LogisticRegression()


def _mlp() -> Any:
    from ..baselines import MLP

    return MLP(hidden=(256,), epochs=10)


#: baseline names accepted by :func:`run` (and ``mnistfamily shift --model``)
MODELS: dict[str, Callable[[], Any]] = {
    "knn": _knn(1), "knn3": _knn(3), "centroid": _centroid, "logreg": _logreg, "mlp": _mlp,
}

#: the seed of the examples kept by ``limit=``
LIMIT_SEED = 0


def make_model(model: Any) -> Any:
    """A fresh baseline for a name in :data:`MODELS`; any object with ``fit``/``predict`` as is.

    Examples
    --------
    >>> from mnistfamily.shift.experiment import make_model
    >>> make_model("centroid")
    NearestCentroid()
    """
    if isinstance(model, str):
        try:
            return MODELS[model]()
        except KeyError:
            raise ValueError(f"unknown model {model!r}; the baselines are {', '.join(MODELS)}, or pass any "
                             "object with fit(X, y) and predict(X)") from None
    if not (callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))):
        raise TypeError(f"a model needs fit(X, y) and predict(X) methods (scikit-learn's convention); "
                        f"found {model!r}")
    return model


@dataclass(frozen=True)
class DomainResult:
    """One domain's score: accuracy with its Wilson interval, and the gap to the in-domain accuracy."""

    domain: str
    dataset: str
    split: str
    n: int
    accuracy: float
    error: float
    ci_low: float
    ci_high: float
    #: ``accuracy - in-domain accuracy`` (0 for the in-domain row; negative: worse than in-domain)
    gap: float
    #: confirmed label errors among the domain's examples (None: no known list covers the split)
    label_errors: int | None = None
    #: the accuracy on the domain's other examples (None: no known list covers the split)
    accuracy_without_label_errors: float | None = None


@dataclass
class Result:
    """What :func:`run` found: one :class:`DomainResult` per domain, in protocol order.

    ``str(result)`` and :meth:`table` give a text table; :meth:`to_json` and :meth:`plot`
    write the JSON record and a bar chart.
    """

    protocol: str
    description: str
    model: str
    in_domain: str
    #: ``{"dataset", "split", "n", "selection"}`` of the training set
    train: dict[str, Any]
    rows: list[DomainResult]
    confidence: float = 0.95
    limit: int | None = None
    #: the protocol as data (:meth:`Protocol.to_dict`), so the JSON says exactly what was run
    spec: dict[str, Any] = field(default_factory=dict)

    def row(self, domain: str) -> DomainResult:
        """The row of one domain."""
        for r in self.rows:
            if r.domain == domain:
                return r
        raise KeyError(f"{self.protocol} has no domain {domain!r}; domains: {', '.join(r.domain for r in self.rows)}")

    def to_dict(self) -> dict[str, Any]:
        from .._version import __version__

        return {"protocol": self.protocol, "description": self.description, "model": self.model,
                "in_domain": self.in_domain, "confidence": self.confidence, "limit": self.limit,
                "train": self.train, "rows": [asdict(r) for r in self.rows], "spec": self.spec,
                "mnistfamily": __version__}

    def to_json(self, path: PathLike | None = None, *, indent: int = 2) -> str:
        """The result as JSON text; with ``path``, also written there (atomically)."""
        return json_text(self.to_dict(), path, indent=indent)

    def table(self) -> str:
        """A text table: domain, n, accuracy, interval, error and gap (percentage points)."""
        level = f"{self.confidence:.0%}"
        cleaned = any(r.label_errors is not None for r in self.rows)
        header = ("domain", "n", "accuracy", f"{level} interval", "error", "gap (pp)",
                  *(("w/o known label errors",) if cleaned else ()))
        lines = [f"{self.protocol}: {self.model}",
                 f"  trained on {self.train['n']:,} examples: {self.train.get('selection', '')}".rstrip(),
                 ]
        if self.limit is not None:
            lines.append(f"  limit: at most {self.limit:,} examples per selection (a seeded random subset)")
        cells = [header] + [
            (r.domain, f"{r.n:,}", f"{r.accuracy:.2%}", f"[{100 * r.ci_low:.2f}, {100 * r.ci_high:.2f}]",
             f"{r.error:.2%}", "in-domain" if r.domain == self.in_domain else f"{100 * r.gap:+.2f}",
             *((_without(r),) if cleaned else ()))
            for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        lines.append("")
        for row in cells:
            first = row[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
            lines.append("  ".join([first, *rest]).rstrip())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def image(self, *, width: int = 900) -> "Image.Image":
        """The bar chart as a Pillow image (RGB): accuracy per domain with its interval."""
        level = f"{self.confidence:.0%}"
        reference = next((r.accuracy for r in self.rows if r.domain == self.in_domain), None)
        return draw_bars(
            [Bar(f"{r.domain} (n={r.n:,})", r.accuracy, r.ci_low, r.ci_high, r.domain == self.in_domain)
             for r in self.rows],
            title=f"{self.protocol}: {self.model}",
            subtitle=(f"accuracy per domain with {level} Wilson intervals; red line: in-domain ({self.in_domain}); "
                      f"trained on {self.train['n']:,} examples"),
            reference=reference, width=width)

    def plot(self, path: PathLike, *, width: int = 900) -> Path:
        """Write the bar chart to ``path`` (PNG, or the format its suffix names), atomically."""
        return save_picture(self.image(width=width), path)


def _without(row: DomainResult) -> str:
    if row.label_errors is None or row.accuracy_without_label_errors is None:
        return ""
    return f"{row.accuracy_without_label_errors:.2%} ({row.label_errors} removed)"


# ----------------------------------------------------------------------------- run


def run(protocol: "str | Protocol", model: Any, *, data_dir: PathLike | None = None,
        source: PathLike | None = None, limit: int | None = None,
        protocols_file: PathLike | None = None, registry: Any = None,
        confidence: float = 0.95) -> Result:
    """Fit ``model`` on the protocol's training selection and score it on every domain.

    Parameters
    ----------
    protocol
        A protocol name (:func:`mnistfamily.shift.protocols` lists them) or a :class:`Protocol`.
    model
        A baseline name (``"knn"`` = 1-NN, ``"knn3"``, ``"centroid"``, ``"logreg"``, ``"mlp"``) or any
        object with ``fit(X, y)`` and ``predict(X)``; it receives flat features ``(N, D)``
        (uint8 pixels, or whatever the protocol's transforms make) and labels that index
        the training dataset's classes. An object is fitted in place.
    data_dir, source
        As for :func:`mnistfamily.load`, used for every dataset of the protocol.
    limit
        At most this many examples per selection (training set and each domain): a random
        subset drawn with a fixed seed (:data:`LIMIT_SEED`), kept in published order, so
        quick runs are reproducible. Writer folds are drawn before the limit applies, so they
        stay writer-disjoint.
    protocols_file
        Your own protocols file; its names win over the built-in ones.
    registry
        An extra registry file (or Registry) for private datasets, as for ``load``.
    confidence
        Coverage of the Wilson intervals.

    Returns
    -------
    Result

    Examples
    --------
    >>> from mnistfamily.shift import load_protocols, run
    >>> protocol = load_protocols('''
    ... version: 1
    ... protocols:
    ...   sample-writers:
    ...     description: Train on the sample's students; test on held-out students and on employees.
    ...     train: {dataset: mnist/sample, split: test, where: {hsf_series: 4},
    ...             writer_fold: {folds: 4, fold: 0, side: train}}
    ...     in_domain: students, held out
    ...     domains:
    ...       students, held out: {dataset: mnist/sample, split: test, where: {hsf_series: 4},
    ...                            writer_fold: {folds: 4, fold: 0, side: test}}
    ...       employees: {dataset: mnist/sample, split: test, where: {hsf_series: 0}}
    ... ''')["sample-writers"]
    >>> result = run(protocol, "centroid")
    >>> [(r.domain, r.n) for r in result.rows]
    [('students, held out', 240), ('employees', 1039)]
    """
    protocol = get_protocol(protocol, protocols_file)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit must be a positive number of examples or None; found {limit!r}")
    check_datasets(protocol, registry)
    estimator = make_model(model)
    options = {"data_dir": data_dir, "source": source, "registry": registry}
    loaded: dict[tuple, "Dataset"] = {}
    started = time.perf_counter()

    train = load_selection(protocol.train, limit=limit, loaded=loaded, where=f"{protocol.name}.train", **options)
    domains = {name: load_selection(s, limit=limit, loaded=loaded, where=f"{protocol.name}.domains[{name!r}]",
                                    **options)
               for name, s in protocol.domains.items()}
    problems = [problem for name, ds in domains.items() for problem in _mismatches(protocol, name, ds, train)]
    if problems:
        raise ProtocolError(f"protocol {protocol.name!r}", problems)
    log.info("shift %s: loaded %s training and %s test examples in %.1f s", protocol.name, f"{len(train):,}",
             f"{sum(map(len, domains.values())):,}", time.perf_counter() - started)

    tic = time.perf_counter()
    estimator.fit(_features(train), np.asarray(train.labels))
    log.info("shift %s: fitted %r on %s examples in %.1f s", protocol.name, estimator, f"{len(train):,}",
             time.perf_counter() - tic)

    summaries: dict[str, dict[str, Any]] = {}
    for (name, ds), s in zip(domains.items(), protocol.domains.values()):
        tic = time.perf_counter()
        predicted = np.asarray(estimator.predict(_features(ds)))
        if predicted.shape != (len(ds),):
            raise ValueError(f"{estimator!r}.predict returned shape {predicted.shape} for {len(ds)} examples "
                             f"of domain {name!r}; expected one label per example")
        truth = _labels_as_train(ds, train)
        summaries[name] = accuracy_summary(truth, predicted, confidence)
        errors = known_errors(s.dataset, s.split, ds.index, ds.labels, registry) if s.dataset else None
        if errors is not None and (~errors).any():
            summaries[name]["label_errors"] = int(errors.sum())
            summaries[name]["without"] = float(np.mean(truth[~errors] == predicted[~errors]))
        log.info("shift %s: %s: %.2f%% of %s in %.1f s", protocol.name, name, 100 * summaries[name]["accuracy"],
                 f"{len(ds):,}", time.perf_counter() - tic)

    reference = summaries[protocol.in_domain]["accuracy"]
    rows = [DomainResult(domain=name, dataset=s.dataset, split=s.split, n=int(summaries[name]["n"]),
                         accuracy=float(summaries[name]["accuracy"]), error=float(summaries[name]["error"]),
                         ci_low=float(summaries[name]["ci_low"]), ci_high=float(summaries[name]["ci_high"]),
                         gap=float(summaries[name]["accuracy"] - reference),
                         label_errors=summaries[name].get("label_errors"),
                         accuracy_without_label_errors=summaries[name].get("without"))
            for name, s in protocol.domains.items()]
    return Result(protocol=protocol.name, description=protocol.description, model=repr(estimator),
                  in_domain=protocol.in_domain, confidence=confidence, limit=None if limit is None else int(limit),
                  train={"dataset": protocol.train.dataset, "split": protocol.train.split, "n": len(train),
                         "selection": protocol.train.describe()},
                  rows=rows, spec=protocol.to_dict())


def check_datasets(protocol: Protocol, registry: Any = None) -> None:
    """Every dataset, split and metadata join the protocol names exists (before anything loads)."""
    from ..errors import UnknownNameError
    from ..registry import get_registry

    reg = get_registry(registry)
    problems = []
    parts = [(f"{protocol.name}.train", protocol.train),
             *((f"{protocol.name}.domains[{n!r}]", s) for n, s in protocol.domains.items())]
    for where, selection in parts:
        try:
            spec = reg.dataset(selection.dataset)
            reg.split(selection.dataset, selection.split)
        except UnknownNameError as exc:
            problems.append(f"{where}: {exc}")
            continue
        join = selection.metadata
        if join is not None and selection.split not in spec.joins.get(join, {}):
            offered = ", ".join(spec.joins) or "none"
            problems.append(f"{where}.metadata: {selection.dataset} [{selection.split}] has no metadata {join!r} "
                            f"to join (offered: {offered})")
    if problems:
        raise ProtocolError(f"protocol {protocol.name!r}", problems)


def load_selection(selection: Selection, *, limit: int | None = None, data_dir: PathLike | None = None,
                   source: PathLike | None = None, registry: Any = None, loaded: dict | None = None,
                   where: str = "selection") -> "Dataset":
    """The examples a :class:`Selection` names: loaded, filtered, limited, then transformed.

    Examples
    --------
    >>> from mnistfamily.shift import Selection
    >>> from mnistfamily.shift.experiment import load_selection
    >>> len(load_selection(Selection("mnist/sample", "test", where={"hsf_series": (4,)}, half="first")))
    961
    """
    from ..api import load

    key = (selection.dataset, selection.split, selection.metadata)
    if loaded is not None and key in loaded:
        ds = loaded[key]
    else:
        ds = load(selection.dataset, selection.split, data_dir=data_dir, source=source, registry=registry,
                     metadata=selection.metadata)
        if loaded is not None:
            loaded[key] = ds
    try:
        # the published size is read before filtering: a subset's largest position says little
        total = published_size(ds) if selection.half is not None else None
        for column, values in selection.where.items():
            ds = ds.select(by_values(ds, column, list(values)))
        if selection.half is not None:
            ds = ds.select(halves(ds, total)[0 if selection.half == "first" else 1])
        fold = selection.writer_fold
        if fold is not None:
            train_side, test_side = writer_folds(ds, fold.folds, fold.seed, fold.column)[fold.fold]
            ds = ds.select(train_side if fold.side == "train" else test_side)
    except (KeyError, ValueError) as exc:
        raise ProtocolError(where, [f"{selection.describe()}: {exc.args[0] if exc.args else exc}"]) from exc
    if len(ds) == 0:
        raise ProtocolError(where, [f"{selection.describe()}: no example is left to use"])
    if limit is not None and len(ds) > limit:
        keep = np.sort(np.random.default_rng(LIMIT_SEED).choice(len(ds), size=int(limit), replace=False))
        ds = ds.select(keep)
    if selection.transform:
        from ..transforms import from_spec

        ds = ds.map(from_spec(list(selection.transform)))
    return ds


def _features(ds: "Dataset") -> np.ndarray:
    images = np.asarray(ds.images)
    return images.reshape(len(images), -1) if images.ndim > 2 else images


def _mismatches(protocol: Protocol, name: str, ds: "Dataset", train: "Dataset") -> list[str]:
    where = f"{protocol.name}.domains[{name!r}]"
    problems = []
    if ds.images.shape[1:] != train.images.shape[1:]:
        problems.append(f"{where}: images of shape {tuple(ds.images.shape[1:])}, but the model trains on "
                        f"{tuple(train.images.shape[1:])}; add a transform to one side (e.g. "
                        "[{name: Pad, padding: 6}] to put 28x28 digits on a 40x40 canvas, or Resize)")
    if np.ndim(ds.labels) != 1:
        problems.append(f"{where}: {ds.name} has one label column per class (multi-label); a shift "
                        "protocol scores single-label classification")
    missing = sorted(set(ds.classes) - set(train.classes))
    if missing:
        problems.append(f"{where}: classes {missing[:5]} of {ds.name} do not occur in the training "
                        f"dataset {train.name} (its classes: {', '.join(train.classes[:12])})")
    if (ds.name, ds.split) == (train.name, train.split):
        shared = np.intersect1d(ds.index, train.index).size
        if shared:
            log.warning("shift %s: domain %r shares %s examples with the training set", protocol.name, name,
                        f"{shared:,}")
    return problems


def _labels_as_train(ds: "Dataset", train: "Dataset") -> np.ndarray:
    """The domain's labels as positions in the training dataset's classes (matched by class name)."""
    labels = np.asarray(ds.labels)
    if list(ds.classes) == list(train.classes):
        return labels
    position = {c: i for i, c in enumerate(train.classes)}
    table = np.array([position.get(c, -1) for c in ds.classes], dtype=np.int64)
    return table[labels]
