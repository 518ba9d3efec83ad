"""``mnistfamily shift``: run a distribution-shift protocol from the command line.

Wired into :mod:`mnistfamily.cli` by :func:`add_shift_command`; the handler prints what
:func:`mnistfamily.shift.run` returns and writes the JSON record and the bar chart.

.. code-block:: console

    $ mnistfamily shift --list
    $ mnistfamily shift writers --model knn --json writers.json --plot writers.png
    $ mnistfamily shift mine --protocols my-protocols.yaml --model centroid --limit 2000
    $ mnistfamily shift rotatedmnist --model mlp --plot rotated.png
    $ mnistfamily shift coloredmnist --model mlp [--grayscale]
    $ mnistfamily shift label-errors --model knn
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any, Sequence

# the baseline names of mnistfamily.shift.experiment.MODELS, repeated so that building the parser imports no numpy
MODEL_CHOICES = ("knn", "knn3", "centroid", "logreg", "mlp")


def add_shift_command(subparsers: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    """Add the ``shift`` command to ``subparsers`` (from ``parser.add_subparsers()``).

    ``parents`` are shared option parsers (``-v/-q``, ``--data-dir``, ``--source``);
    ``--data-dir`` and ``--source`` are added unless a parent already provides them. The
    handler, :func:`run_shift_command`, is set as the ``run`` default: call ``args.run(args)``.

    Examples
    --------
    >>> import argparse
    >>> from mnistfamily.cli.shift import add_shift_command
    >>> parser = argparse.ArgumentParser(prog="mnistfamily")
    >>> _ = add_shift_command(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["shift", "writers", "--model", "centroid", "--limit", "500"])
    >>> args.protocol, args.model, args.limit
    ('writers', 'centroid', 500)
    """
    from .types import positive_int  # the command line's shared argument type
    # no "%" in help texts: argparse %-formats them
    help = "train a baseline on a shift protocol and score it on every test domain"
    description = ("Run a distribution-shift protocol: fit a baseline on its training set and score it on "
                   "every test domain: accuracy, error, n, the 95 percent Wilson interval of the accuracy and "
                   "the gap to the in-domain accuracy.")
    sub = subparsers.add_parser(
        "shift", help=help, description=description, parents=list(parents),
        epilog="Protocols are data: `mnistfamily shift --list` shows the built-in ones; docs/shift.md "
               "has the schema for your own file (--protocols FILE).")
    sub.add_argument("protocol", metavar="PROTOCOL", nargs="?",
                     help="a protocol or benchmark name (see --list): writers, rotatedmnist, coloredmnist, "
                          "label-errors, ...")
    sub.add_argument("--list", action="store_true", help="list the protocols and benchmarks and exit")
    sub.add_argument("--model", choices=MODEL_CHOICES, default="knn",
                     help="baseline: knn (1-NN, default), knn3, centroid (nearest class mean), logreg, "
                          "mlp (one hidden layer of 256, 10 epochs)")
    sub.add_argument("--json", metavar="FILE", type=Path, help="write the result as JSON")
    sub.add_argument("--plot", metavar="FILE.png", type=Path,
                     help="draw a bar chart of accuracy per domain with its interval")
    sub.add_argument("--limit", metavar="N", type=positive_int,
                     help="at most N examples per training set and domain (a seeded subset; quick runs)")
    sub.add_argument("--protocols", metavar="FILE", type=Path,
                     help="a protocols file of your own (its names win over the built-in ones)")
    sub.add_argument("--test-env", metavar="NAME", action="append", dest="test_envs",
                     help="environment benchmarks: hold out only this environment (repeatable; default: each)")
    sub.add_argument("--trial-seed", metavar="N", type=int, default=0,
                     help="environment benchmarks: DomainBed's trial seed of the 20 percent holdouts (default 0)")
    sub.add_argument("--grayscale", action="store_true",
                     help="coloredmnist: give the model the gray digit, not the coloured one (colour-blind)")
    given = {option for parser in parents for option in parser._option_string_actions}
    if "--data-dir" not in given:
        sub.add_argument("--data-dir", metavar="DIR",
                         help="cache root (default: $MNISTFAMILY_HOME or ~/.cache/mnistfamily)")
    if "--source" not in given:
        sub.add_argument("--source", metavar="DIR_OR_URL",
                         help="folder or fsspec URL holding the raw files, used instead of the internet")
    sub.set_defaults(run=run_shift_command)
    return sub


def run_shift_command(args: argparse.Namespace) -> int:
    """Handler of ``mnistfamily shift``: 0 on success, 2 on a usage error."""
    from ..shift import protocols

    from ..shift.benchmarks import benchmarks

    if args.list:
        _print_protocols(protocols(args.protocols))
        _print_benchmarks(benchmarks())
        return 0
    if not args.protocol:
        print("error: name a protocol or benchmark (`mnistfamily shift --list` shows them), e.g. "
              "`mnistfamily shift writers --model knn`", file=sys.stderr)
        return 2
    from ..errors import UnknownNameError
    from ..shift import get_protocol

    options: dict[str, Any] = {"data_dir": getattr(args, "data_dir", None), "source": getattr(args, "source", None)}
    known = protocols(args.protocols)
    if args.protocol not in known and args.protocol in benchmarks():
        return _run_benchmark(args, options)
    if args.grayscale or args.test_envs:
        print("error: --grayscale and --test-env apply to the environment benchmarks (rotatedmnist, "
              f"coloredmnist, ...), not to the protocol {args.protocol!r}", file=sys.stderr)
        return 2
    from ..shift.experiment import run

    try:  # here, so that the error does not get the CLI's hint about dataset names
        protocol = get_protocol(args.protocol, args.protocols)
    except UnknownNameError as exc:
        print(f"error: {exc}; benchmarks: {', '.join(benchmarks())}", file=sys.stderr)
        return 2
    result = run(protocol, args.model, limit=args.limit, protocols_file=args.protocols, **options)
    _report(result, args)
    return 0


def _run_benchmark(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from ..errors import ShiftError
    from ..shift.benchmarks import run_benchmark

    from ..shift.benchmarks import GRAYSCALE

    if args.grayscale and args.protocol not in GRAYSCALE:
        print(f"error: --grayscale applies to {' and '.join(GRAYSCALE)}, not {args.protocol!r}", file=sys.stderr)
        return 2
    if args.protocol.startswith("label-errors") and (args.limit or args.test_envs):
        print("error: the label-error report scores the whole test set: --limit and --test-env do not apply",
              file=sys.stderr)
        return 2
    try:
        result = run_benchmark(args.protocol, args.model, limit=args.limit, grayscale=args.grayscale,
                               test_environments=args.test_envs, trial_seed=args.trial_seed, **options)
    except ShiftError as exc:  # a test environment that does not exist, a limit too small: a usage error
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _report(result, args)
    return 0


def _report(result: Any, args: argparse.Namespace) -> None:
    """Print the table; write the JSON record and the chart when asked."""
    print(result.table())
    if args.json is not None:
        result.to_json(args.json)
        print(f"\nJSON written to {args.json.resolve()}")
    if args.plot is not None:
        path = result.plot(args.plot)
        print(f"{'' if args.json is not None else chr(10)}plot written to {path.resolve()}")


def _print_benchmarks(found: dict[str, str]) -> None:
    print("benchmarks")
    for name, description in found.items():
        print(f"  {name}")
        print(textwrap.indent(textwrap.fill(description, 90), "      "))
    print()


def _print_protocols(found: dict[str, Any]) -> None:
    for name, protocol in found.items():
        print(f"{name}")
        print(textwrap.indent(textwrap.fill(protocol.description, 92), "    "))
        print(f"    train      {protocol.train.describe()}")
        for domain, selection in protocol.domains.items():
            mark = "in-domain" if domain == protocol.in_domain else "domain"
            print(f"    {mark:<10} {domain}: {selection.describe()}")
        print()

