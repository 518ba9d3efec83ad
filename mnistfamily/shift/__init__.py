"""Distribution shift: metadata splits, cross-dataset protocols, and the statistics to report them.

- :mod:`~mnistfamily.shift.splits`: ``by_values``, ``writer_folds`` (writer-disjoint, seeded,
  balanced by example count) and ``halves`` (first/last half by published position);
- :mod:`~mnistfamily.shift.protocols`: protocols as data (``protocols.yaml``, or a file of
  your own): a training selection plus named test domains; ``protocols()`` lists them;
- :mod:`~mnistfamily.shift.experiment`: ``run(protocol, model)`` -> ``Result`` (per-domain accuracy,
  error, n, Wilson interval, gap to the in-domain accuracy; table, JSON, bar chart);
- :mod:`~mnistfamily.shift.stats`: ``wilson_interval`` and ``accuracy_summary``;
- :mod:`~mnistfamily.shift.environments`: DomainBed-style evaluation, ``leave_one_environment_out``
  (20 % holdout per environment, training-domain validation) -> ``EnvironmentResult``;
- :mod:`~mnistfamily.shift.coloredmnist`: ColoredMNIST's construction (DomainBed's and the IRM paper's);
- :mod:`~mnistfamily.shift.label_errors`: ``label_error_report`` (accuracy without known label errors);
- :mod:`~mnistfamily.shift.benchmarks`: the named benchmarks of ``mnistfamily shift``.

``import mnistfamily.shift`` imports PyYAML only; numpy and the rest load on first use.

>>> from mnistfamily import shift
>>> "writers" in shift.protocols()
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = [
    "run", "Result", "DomainResult", "MODELS",
    "protocols", "get_protocol", "load_protocols", "Protocol", "Selection", "WriterFold", "ProtocolError",
    "by_values", "writer_folds", "halves",
    "wilson_interval", "accuracy_summary",
    "leave_one_environment_out", "load_environments", "EnvironmentResult", "label_error_report", "ShiftError",
]

from ..lazy import lazy_names  # noqa: E402

# ``protocols`` is both a submodule and a function. Importing a submodule sets the package
# attribute of its name to the module, so the module is imported here, first (it needs PyYAML
# only), and the function bound after it. ``run`` lives in experiment.py for the same reason.
from ..errors import ShiftError  # noqa: E402
from .protocols import (Protocol, ProtocolError, Selection, WriterFold, get_protocol, load_protocols,  # noqa: E402
                        protocols)

_LAZY = {
    "run": "experiment", "Result": "experiment", "DomainResult": "experiment", "MODELS": "experiment",
    "by_values": "splits", "writer_folds": "splits", "halves": "splits",
    "wilson_interval": "stats", "accuracy_summary": "stats",
    "leave_one_environment_out": "environments", "load_environments": "environments",
    "EnvironmentResult": "environments", "label_error_report": "label_errors",
}

if TYPE_CHECKING:  # pragma: no cover
    from .experiment import MODELS, DomainResult, Result, run
    from .splits import by_values, halves, writer_folds
    from .environments import EnvironmentResult, leave_one_environment_out, load_environments
    from .label_errors import label_error_report
    from .stats import accuracy_summary, wilson_interval


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
