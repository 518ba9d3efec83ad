"""``mnistfamily shift``: run a distribution-shift protocol from the command line.

Wired into :mod:`mnistfamily.cli` by :func:`add_shift_command`; the handler prints what
:func:`mnistfamily.shift.run` returns and writes the JSON record and the bar chart.

.. code-block:: console

    $ mnistfamily shift --list
    $ mnistfamily shift writers --model knn --json writers.json --plot writers.png
    $ mnistfamily shift mine --protocols my-protocols.yaml --model centroid --limit 2000
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any, Sequence

# the baseline names of mnistfamily.shift.experiment.MODELS, repeated so that building the parser imports no numpy
MODEL_CHOICES = ("knn", "knn3", "centroid", "logreg")


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
    sub.add_argument("protocol", metavar="PROTOCOL", nargs="?", help="a protocol name (see --list)")
    sub.add_argument("--list", action="store_true", help="list the protocols and exit")
    sub.add_argument("--model", choices=MODEL_CHOICES, default="knn",
                     help="baseline: knn (1-NN, default), knn3, centroid (nearest class mean), logreg")
    sub.add_argument("--json", metavar="FILE", type=Path, help="write the result as JSON")
    sub.add_argument("--plot", metavar="FILE.png", type=Path,
                     help="draw a bar chart of accuracy per domain with its interval")
    sub.add_argument("--limit", metavar="N", type=positive_int,
                     help="at most N examples per training set and domain (a seeded subset; quick runs)")
    sub.add_argument("--protocols", metavar="FILE", type=Path,
                     help="a protocols file of your own (its names win over the built-in ones)")
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

    if args.list:
        _print_protocols(protocols(args.protocols))
        return 0
    if not args.protocol:
        print("error: name a protocol (`mnistfamily shift --list` shows them), e.g. "
              "`mnistfamily shift writers --model knn`", file=sys.stderr)
        return 2
    from ..errors import UnknownNameError
    from ..shift import get_protocol
    from ..shift.experiment import run

    try:  # here, so that the error does not get the CLI's hint about dataset names
        protocol = get_protocol(args.protocol, args.protocols)
    except UnknownNameError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run(protocol, args.model, data_dir=getattr(args, "data_dir", None),
                 source=getattr(args, "source", None), limit=args.limit, protocols_file=args.protocols)
    print(result.table())
    if args.json is not None:
        result.to_json(args.json)
        print(f"\nJSON written to {args.json.resolve()}")
    if args.plot is not None:
        path = result.plot(args.plot)
        print(f"{'' if args.json is not None else chr(10)}plot written to {path.resolve()}")
    return 0


def _print_protocols(found: dict[str, Any]) -> None:
    for name, protocol in found.items():
        print(f"{name}")
        print(textwrap.indent(textwrap.fill(protocol.description, 92), "    "))
        print(f"    train      {protocol.train.describe()}")
        for domain, selection in protocol.domains.items():
            mark = "in-domain" if domain == protocol.in_domain else "domain"
            print(f"    {mark:<10} {domain}: {selection.describe()}")
        print()

