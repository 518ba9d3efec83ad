"""Named benchmarks beside the protocols: environment datasets, ColoredMNIST, the label-error report.

``mnistfamily shift NAME`` runs, besides the protocols of ``protocols.yaml``:

- every registry dataset whose splits are environments (``rotatedmnist``,
  ``rotatedmnist/bilinear``): leave one environment out with training-domain validation;
- ``coloredmnist`` (DomainBed's) and ``coloredmnist-irm`` (the IRM paper's), built in memory
  from MNIST by :mod:`mnistfamily.shift.coloredmnist` (2-channel images, which the prepared
  cache does not store yet);
- ``label-errors``: :func:`mnistfamily.shift.label_errors.label_error_report` on MNIST.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

__all__ = ["BENCHMARKS", "benchmarks", "run_benchmark"]

PathLike = str | os.PathLike[str]

#: the benchmarks that are not registry datasets: name -> description
BENCHMARKS = {
    "coloredmnist": ("DomainBed's ColoredMNIST: MNIST train and test dealt into +90%, +80% and -90% "
                     "(colour agrees with the noisy binary label with probability 0.9, 0.8, 0.1); 2-channel "
                     "images built in memory; leave one environment out, training-domain validation."),
    "coloredmnist-irm": ("The IRM paper's ColoredMNIST: MNIST train[:50000] shuffled into two training "
                         "environments (e = 0.2, 0.1), train[50000:] the test environment (e = 0.9); 14x14 "
                         "2-channel images built in memory; test on the third environment."),
    "label-errors": ("MNIST's 15 crowd-confirmed test label errors (Northcutt et al. 2021): test accuracy "
                     "with and without them, and what the model predicts on them."),
}


def benchmarks(registry: Any = None) -> dict[str, str]:
    """Every benchmark name with a one-line description: environment datasets first.

    Examples
    --------
    >>> from mnistfamily.shift.benchmarks import benchmarks
    >>> [name for name in benchmarks() if name.startswith(("rotated", "colored", "label"))]
    ['rotatedmnist', 'rotatedmnist/bilinear', 'coloredmnist', 'coloredmnist-irm', 'label-errors']
    """
    from ..registry import get_registry

    found = {spec.name: f"{spec.title}: leave one environment out, training-domain validation "
                        f"(environments {', '.join(spec.splits)})."
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
    from ..api import load

    from ..errors import UnknownNameError
    from .environments import leave_one_environment_out, load_environments

    options = {"data_dir": data_dir, "source": source, "registry": registry}
    known = benchmarks(registry)
    if name not in known:
        raise UnknownNameError(f"no benchmark {name!r} (benchmarks: {', '.join(known)})")
    if name == "label-errors":
        from .label_errors import label_error_report

        return label_error_report(model, **options)
    if name in ("coloredmnist", "coloredmnist-irm"):
        from .coloredmnist import coloredmnist_environments

        train = load("mnist", "train", **options)
        test = load("mnist", "test", **options) if name == "coloredmnist" else None
        protocol = "domainbed" if name == "coloredmnist" else "irm"
        envs = coloredmnist_environments(train, test, protocol=protocol, grayscale=grayscale)
        if protocol == "irm" and test_environments is None:
            test_environments = [list(envs)[-1]]  # IRM trains on the first two and tests on the third
        label = f"{name}{' (grayscale model)' if grayscale else ''}"
    else:
        envs = load_environments(name, **options)
        label = name
    return leave_one_environment_out(envs, model, test_environments=test_environments, limit=limit,
                                     trial_seed=trial_seed, name=label)
