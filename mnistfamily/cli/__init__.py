"""The ``mnistfamily`` command: a thin layer over the public Python API.

One module per command group (:mod:`.datasets`, :mod:`.pictures`, :mod:`.export`, :mod:`.shift`) and
the argument types they share (:mod:`.types`); this module builds the parser and runs a command.

Every command calls :mod:`mnistfamily` functions and prints what they return; the library
logs, only this module prints. Expected failures (any :class:`~mnistfamily.errors.MnistFamilyError`,
an unknown name, a file that cannot be written) print ``error: ...`` to stderr and exit 2.

Examples
--------
.. code-block:: console

    $ mnistfamily demo                      # offline: the embedded sample, a summary and a PNG
    $ mnistfamily list
    $ mnistfamily info qmnist
    $ mnistfamily load mnist --split test --source ~/Downloads/mnist
    $ mnistfamily preview mnist --split test --out digits.png --per-class 12
    $ mnistfamily verify --repair
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from typing import Callable, Iterator, Sequence

from .._version import __version__
from . import datasets, pictures
from .export import add_export_command
from .shift import add_shift_command
from .types import positive_int

__all__ = ["main", "build_parser", "positive_int"]

# ----------------------------------------------------------------------------- argument parsing


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mnistfamily`` command."""
    # -v/-q are accepted before or after the command: the copies on the subcommands
    # default to SUPPRESS so they never overwrite a value given before the command.
    verbosity = argparse.ArgumentParser(add_help=False)
    verbosity.add_argument("-v", "--verbose", action="store_const", const="verbose", dest="verbosity",
                           default=argparse.SUPPRESS, help="log what the library does (INFO) on stderr")
    verbosity.add_argument("-q", "--quiet", action="store_const", const="quiet", dest="verbosity",
                           default=argparse.SUPPRESS, help="only errors on stderr")
    cache = argparse.ArgumentParser(add_help=False)
    cache.add_argument("--data-dir", metavar="DIR",
                       help="cache root (default: $MNISTFAMILY_HOME or ~/.cache/mnistfamily)")
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("--source", metavar="DIR_OR_URL",
                        help="folder or fsspec URL holding the raw files, used instead of the internet")

    parser = argparse.ArgumentParser(
        prog="mnistfamily",
        description="The MNIST family of datasets: verified downloads, numpy arrays, previews.",
        epilog="Start with `mnistfamily demo`: it works offline.",
    )
    parser.add_argument("--version", action="version", version=f"mnistfamily {__version__}")
    parser.add_argument("-v", "--verbose", action="store_const", const="verbose", dest="verbosity",
                        help="log what the library does (INFO) on stderr")
    parser.add_argument("-q", "--quiet", action="store_const", const="quiet", dest="verbosity",
                        help="only errors on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], help: str,
                parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[verbosity, *parents])
        sub.set_defaults(run=run)
        return sub

    datasets.add_commands(command, cache, source)
    pictures.add_commands(command, cache, source)
    add_export_command(commands, parents=[verbosity, cache, source])
    add_shift_command(commands, parents=[verbosity, cache, source])
    return parser


# ----------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mnistfamily`` command; return its exit code.

    0 on success, 1 when ``verify`` found problems, 2 on an error (``error: ...`` on stderr).

    Examples
    --------
    >>> from mnistfamily.cli import main
    >>> main(["info", "mnist/sample"])  # doctest: +ELLIPSIS
    mnist/sample: MNIST sample (embedded)
    ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse has printed already
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2

    from ..errors import MnistFamilyError, UnknownNameError

    with _logging(getattr(args, "verbosity", None)):
        try:
            return args.run(args)
        except UnknownNameError as exc:
            _error(f"{exc}\n(`mnistfamily list` shows every dataset and its splits)")
        except (MnistFamilyError, KeyError) as exc:
            _error(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
        except BrokenPipeError:  # `mnistfamily list | head`
            with contextlib.suppress(OSError):
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
            return 0
        except OSError as exc:
            _error(exc)
        except KeyboardInterrupt:
            _error("interrupted")
            return 130
    return 2


def _error(message: object) -> None:
    print(f"error: {message}", file=sys.stderr)


class _LowerLevelFormatter(logging.Formatter):
    """``info: ...``, ``warning: ...``: the same look as ``error: ...``."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(logging.makeLogRecord({**record.__dict__,
                                                            "levelname": record.levelname.lower()}))


@contextlib.contextmanager
def _logging(verbosity: str | None) -> Iterator[None]:
    """Library log records and warnings go to stderr for the duration of one command."""
    logger = logging.getLogger("mnistfamily")
    level = {"verbose": logging.INFO, "quiet": logging.ERROR}.get(verbosity or "", logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowerLevelFormatter("%(levelname)s: %(message)s"))
    handler.setLevel(level)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, old_level) if old_level else level)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            if verbosity == "quiet":
                warnings.simplefilter("ignore")
            warnings.showwarning = show
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
