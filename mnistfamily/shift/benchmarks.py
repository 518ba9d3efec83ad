"""Named benchmarks beside the protocols: environment datasets, ColoredMNIST, the label-error report.

``mnistfamily shift NAME`` runs, besides the protocols of ``protocols.yaml``:

- every registry dataset whose splits are environments (``rotatedmnist``,
  ``rotatedmnist/bilinear``, ``coloredmnist`` (DomainBed's), ``coloredmnist/irm`` (the IRM
  paper's)): leave one environment out with training-domain validation, except where the
  paper fixes the test environments (:data:`TEST_ENVIRONMENTS`: IRM trains on its first two);
- ``label-errors`` and ``label-errors/cifar10``: :func:`mnistfamily.shift.label_errors.label_error_report`
  on MNIST and on CIFAR-10.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

__all__ = ["BENCHMARKS", "TEST_ENVIRONMENTS", "GRAYSCALE", "benchmarks", "run_benchmark"]

PathLike = str | os.PathLike[str]

#: the benchmarks that are not registry datasets: name -> description
BENCHMARKS = {
    "label-errors": ("MNIST's 15 crowd-confirmed test label errors (Northcutt et al. 2021): test accuracy "
                     "with and without them, and what the model predicts on them."),
    "label-errors/cifar10": ("CIFAR-10's 54 crowd-confirmed test label errors (of 275 candidates; Northcutt et "
                             "al. 2021): test accuracy with and without them, and what the model predicts on them."),
}


#: environment datasets whose paper fixes the test environments (the others hold out each in turn)
TEST_ENVIRONMENTS = {"coloredmnist/irm": ("test-e90",)}
#: environment datasets a colour-blind model can be run on (--grayscale): the transform that makes its input
GRAYSCALE = {"coloredmnist": [{"name": "ToGray", "weights": [1, 1]}],
             "coloredmnist/irm": [{"name": "ToGray", "weights": [1, 1]}]}


def benchmarks(registry: Any = None) -> dict[str, str]:
    """Every benchmark name with a one-line description: environment datasets first.

    Examples
    --------
    >>> from mnistfamily.shift.benchmarks import benchmarks
    >>> [name for name in benchmarks() if name.startswith(("rotated", "colored", "label"))]
    ['coloredmnist', 'coloredmnist/irm', 'rotatedmnist', 'rotatedmnist/bilinear', 'label-errors', 'label-errors/cifar10']
    """
    from ..registry import get_registry

    found = {spec.name: f"{spec.title}: " + (
        f"train on {', '.join(s for s in spec.splits if s not in TEST_ENVIRONMENTS[spec.name])}, test on "
        f"{', '.join(TEST_ENVIRONMENTS[spec.name])}, training-domain validation." if spec.name in TEST_ENVIRONMENTS
        else f"leave one environment out, training-domain validation (environments {', '.join(spec.splits)}).")
             for spec in get_registry(registry) if spec.environments is not None}
    return {**found, **BENCHMARKS}


def run_benchmark(name: str, model: Any, *, data_dir: PathLike | None = None, source: PathLike | None = None,
                  registry: Any = None, limit: int | None = None, grayscale: bool = False,
                  test_environments: Sequence[str] | None = None, trial_seed: int = 0) -> Any:
    """Run one benchmark; the result prints as a table and has ``to_json`` and ``plot``.

    Examples
    --------
    >>> from mnistfamily.shift.benchmarks import run_benchmark
    >>> run_benchmark("label-errors", "centroid", source="/nowhere")  # doctest: +SKIP
    """
    from ..errors import ShiftError, UnknownNameError
    from .environments import leave_one_environment_out, load_environments

    options = {"data_dir": data_dir, "source": source, "registry": registry}
    known = benchmarks(registry)
    if name not in known:
        raise UnknownNameError(f"no benchmark {name!r} (benchmarks: {', '.join(known)})")
    if name in ("label-errors", "label-errors/cifar10"):
        from .label_errors import label_error_report

        return label_error_report(model, dataset="mnist" if name == "label-errors" else "cifar10", **options)
    if grayscale and name not in GRAYSCALE:
        raise ShiftError(f"grayscale applies to {', '.join(GRAYSCALE)}, not {name!r}")
    envs = load_environments(name, **options)
    label = name
    if grayscale:  # the colour-blind model's input: the digit, the channels summed (IRM's --grayscale_model)
        from ..transforms import from_spec

        gray = from_spec(GRAYSCALE[name])
        envs = {k: ds.map(gray) for k, ds in envs.items()}
        label = f"{name} (grayscale model)"
    if test_environments is None and name in TEST_ENVIRONMENTS:
        test_environments = list(TEST_ENVIRONMENTS[name])
    return leave_one_environment_out(envs, model, test_environments=test_environments, limit=limit,
                                     trial_seed=trial_seed, name=label)
