"""The label-error report: a model's test accuracy with and without the known label errors.

Northcutt et al. (2021) found 15 crowd-confirmed label errors in MNIST's test set (out of 100
candidates; :mod:`mnistfamily.registry.label_errors`). :func:`label_error_report` fits a baseline on the
training split, predicts the test split joined with ``metadata="label-errors"``, and reports:

- accuracy on every test example, without the confirmed errors, and without every candidate;
- on the confirmed errors, how often the model's prediction is the given (published) label,
  the label the crowd was asked about instead (cleanlab's suggestion), the label at least 3 of
  5 workers chose (where they agreed on one), or something else.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .chart import Bar, draw_bars, json_text, save_picture
from .stats import accuracy_summary

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["label_error_report", "LabelErrorReport", "accuracy_without_label_errors"]

log = logging.getLogger("mnistfamily")

PathLike = str | os.PathLike[str]


@dataclass
class LabelErrorReport:
    """What :func:`label_error_report` found; ``str(report)`` is a text table."""

    dataset: str
    model: str
    #: one dict per subset: ``{"subset", "n", "accuracy", "error", "ci_low", "ci_high"}``
    accuracies: list[dict[str, Any]]
    #: on the confirmed errors: how many predictions equal the given, the suggested, the crowd's label
    counts: dict[str, int]
    #: one dict per confirmed error: index, given, suggested and crowd labels, votes, prediction
    errors: list[dict[str, int]]
    n_train: int = 0
    confidence: float = 0.95
    notes: list[str] = field(default_factory=list)

    def accuracy(self, subset: str) -> float:
        """The accuracy on ``"all"``, ``"without confirmed errors"`` or ``"without candidates"``."""
        for row in self.accuracies:
            if row["subset"] == subset:
                return float(row["accuracy"])
        raise KeyError(f"no subset {subset!r}; subsets: {', '.join(r['subset'] for r in self.accuracies)}")

    def to_dict(self) -> dict[str, Any]:
        from .._version import __version__

        return {**asdict(self), "mnistfamily": __version__}

    def to_json(self, path: PathLike | None = None, *, indent: int = 2) -> str:
        """The report as JSON text; with ``path``, also written there (atomically)."""
        return json_text(self.to_dict(), path, indent=indent)

    def table(self) -> str:
        level = f"{self.confidence:.0%}"
        c = self.counts
        lines = [f"label errors of {self.dataset}: {self.model}, trained on {self.n_train:,} examples", ""]
        cells = [("test examples", "n", "accuracy", f"{level} interval")] + [
            (r["subset"], f"{r['n']:,}", f"{r['accuracy']:.2%}", f"[{100 * r['ci_low']:.2f}, {100 * r['ci_high']:.2f}]")
            for r in self.accuracies]
        widths = [max(len(row[i]) for row in cells) for i in range(4)]
        lines += ["  ".join([row[0].ljust(widths[0]), *(x.rjust(w) for x, w in zip(row[1:], widths[1:]))])
                  for row in cells]
        lines += ["", f"on the {c['confirmed']} confirmed label errors the model predicts:",
                  f"  the given label           {c['given']:>3}",
                  f"  the suggested label       {c['suggested']:>3}   (the alternative the crowd was shown)",
                  f"  another label             {c['other']:>3}",
                  f"of the {c['with_crowd_label']} whose crowd agreed on a label (3 of 5 workers), it predicts "
                  f"the crowd's label {c['crowd']} times and the given label {c['given_where_crowd']} times", "",
                  "  index  given  suggested  crowd  votes g/s/n  predicted"]
        for e in self.errors:
            crowd = "-" if e["crowd"] < 0 else str(e["crowd"])
            lines.append(f"  {e['index']:>5}  {e['given']:>5}  {e['suggested']:>9}  {crowd:>5}  "
                         f"{e['votes_given']}/{e['votes_suggested']}/{e['votes_neither']:<7}  {e['predicted']:>9}")
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines).rstrip()

    def __str__(self) -> str:
        return self.table()

    def image(self, *, width: int = 900) -> "Image.Image":
        """A bar chart of the accuracies with their intervals."""
        c = self.counts
        return draw_bars(
            [Bar(f"{r['subset']} (n={r['n']:,})", r["accuracy"], r["ci_low"], r["ci_high"], i == 0)
             for i, r in enumerate(self.accuracies)],
            title=f"label errors of {self.dataset}: {self.model}",
            subtitle=(f"{self.confidence:.0%} Wilson intervals; on the {c['confirmed']} confirmed errors: "
                      f"{c['given']} given, {c['suggested']} suggested, {c['other']} other label predicted"),
            reference=self.accuracies[0]["accuracy"], width=width)

    def plot(self, path: PathLike, *, width: int = 900) -> Path:
        """Write the bar chart to ``path`` (PNG, or the format its suffix names), atomically."""
        return save_picture(self.image(width=width), path)


def label_error_report(model: Any = "knn", *, dataset: str = "mnist", train_split: str = "train",
                       test_split: str = "test", data_dir: PathLike | None = None, source: PathLike | None = None,
                       registry: Any = None, confidence: float = 0.95) -> LabelErrorReport:
    """Fit ``model`` on the training split and score it with and without the test set's known label errors.

    Parameters
    ----------
    model
        A baseline name (``"knn"`` = 1-NN, ``"centroid"``, ``"logreg"``, ``"mlp"``, ...) or an object
        with ``fit``/``predict`` (fitted in place).
    dataset, train_split, test_split
        A dataset whose test split offers ``metadata="label-errors"`` (``mnist``, its derived
        datasets, ``mnist/sample``, ``cifar10``).
    data_dir, source, registry
        As for :func:`mnistfamily.load`.

    Examples
    --------
    >>> from mnistfamily.shift.label_errors import label_error_report
    >>> report = label_error_report("centroid", dataset="mnist/sample", train_split="test")
    >>> report.counts["confirmed"], report.accuracies[0]["n"]
    (3, 2000)
    """
    from ..api import load

    from .experiment import make_model

    estimator = make_model(model)
    options = {"data_dir": data_dir, "source": source, "registry": registry}
    train = load(dataset, train_split, **options)
    test = load(dataset, test_split, metadata="label-errors", **options)
    notes = []
    if (train_split, dataset) == (test_split, dataset):
        notes.append(f"the model was trained on the test split itself ({dataset} [{test_split}]): "
                     "a demonstration, not a measurement")
    started = time.perf_counter()
    estimator.fit(_flat(train.images), np.asarray(train.labels))
    predicted = np.asarray(estimator.predict(_flat(test.images)))
    log.info("label errors of %s: %r fitted and predicted in %.1f s", dataset, estimator,
             time.perf_counter() - started)
    labels = np.asarray(test.labels)
    meta = test.metadata
    confirmed = np.asarray(meta["label_error"]) == 1
    candidate = np.asarray(meta["label_error_candidate"]) == 1
    accuracies = []
    for subset, keep in (("all", np.ones(len(labels), bool)), ("without confirmed errors", ~confirmed),
                         ("without candidates", ~candidate)):
        accuracies.append({"subset": subset, **accuracy_summary(labels[keep], predicted[keep], confidence)})
    suggested = np.asarray(meta["suggested_label"])
    crowd = np.asarray(meta["crowd_label"])
    p, g, s, c = predicted[confirmed], labels[confirmed], suggested[confirmed], crowd[confirmed]
    has_crowd = c >= 0
    counts = {"confirmed": int(confirmed.sum()), "given": int(np.sum(p == g)), "suggested": int(np.sum(p == s)),
              "other": int(np.sum((p != g) & (p != s))), "with_crowd_label": int(has_crowd.sum()),
              "crowd": int(np.sum(has_crowd & (p == c))), "given_where_crowd": int(np.sum(has_crowd & (p == g)))}
    errors = [{"index": int(test.index[i]), "given": int(labels[i]), "suggested": int(suggested[i]),
               "crowd": int(crowd[i]), "votes_given": int(meta["votes_given"][i]),
               "votes_suggested": int(meta["votes_suggested"][i]), "votes_neither": int(meta["votes_neither"][i]),
               "predicted": int(predicted[i])} for i in np.flatnonzero(confirmed)]
    return LabelErrorReport(dataset=f"{dataset} [{test_split}]", model=repr(estimator), accuracies=accuracies,
                            counts=counts, errors=errors, n_train=len(train), confidence=confidence, notes=notes)


def accuracy_without_label_errors(dataset: str, split: str, index: Any, labels: Any, predicted: Any,
                                  registry: Any = None, confidence: float = 0.95) -> dict[str, Any] | None:
    """Accuracy on the rows that are not confirmed label errors, or None when no list covers the split.

    ``index`` are the rows' positions in the published split (``Dataset.index``).

    Examples
    --------
    >>> import numpy as np
    >>> import mnistfamily as mf
    >>> from mnistfamily.shift.label_errors import accuracy_without_label_errors
    >>> ds = mf.load("mnist/sample", "test")
    >>> summary = accuracy_without_label_errors("mnist/sample", "test", ds.index, ds.labels, ds.labels)
    >>> summary["n"], summary["label_errors"]
    (1997, 3)
    """
    errors = known_errors(dataset, split, index, labels, registry)
    if errors is None:
        return None
    keep = ~errors
    summary = accuracy_summary(np.asarray(labels)[keep], np.asarray(predicted)[keep], confidence)
    return {**summary, "label_errors": int(errors.sum())}


def known_errors(dataset: str, split: str, index: Any, labels: Any, registry: Any = None) -> np.ndarray | None:
    """A mask of the rows that are confirmed label errors, or None when no list covers the split."""
    from ..registry.label_errors import label_error_columns
    from ..registry import get_registry

    spec = get_registry(registry).dataset(dataset)
    target = spec.joins.get("label-errors", {}).get(split)
    if target is None or not target.startswith("cleanlab:"):
        return None
    columns = label_error_columns(target.partition(":")[2], index, labels, f"{dataset} [{split}]")
    return np.asarray(columns["label_error"]) == 1


def _flat(images: Any) -> np.ndarray:
    images = np.asarray(images)
    return images.reshape(len(images), -1) if images.ndim > 2 else images
