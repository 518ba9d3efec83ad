"""The ``mnistfamily`` command: a thin layer over the public Python API.

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
import textwrap
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ._version import __version__

DEMO_DATASET = "mnist/sample"
DEMO_SPLIT = "test"
DEMO_OUT = "mnistfamily-demo.png"


# ----------------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    import mnistfamily as mf

    rows = []
    for name in mf.datasets():
        info = mf.info(name)
        splits = ", ".join(f"{split} {count:,}" if count is not None else f"{split} (count unknown)"
                           for split, count in info.splits.items())
        rows.append((name, str(info.num_classes), "x".join(str(d) for d in info.image_shape), splits))
    _print_table(("dataset", "classes", "image", "splits"), rows)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import mnistfamily as mf

    info = mf.info(args.name)
    print(info)
    print("\nfiles")
    for record in info.files:
        size = record.get("size")
        print(f"  {record['name']}  {f'{size:,} bytes' if size is not None else 'size unknown'}")
        hashes = [f"{algo}:{record[algo]}" for algo in ("md5", "sha256") if algo in record]
        print(f"      {'  '.join(hashes) if hashes else 'no checksum known (unverified)'}")
        if "payload_sha256" in record or "payload_size" in record:
            payload = record.get("payload_size")
            line = f"{payload:,} bytes" if payload is not None else "size unknown"
            if "payload_sha256" in record:
                line += f"  sha256:{record['payload_sha256']}"
            print(f"      decompressed: {line}")
        for url in info.urls.get(record["name"], ()):
            print(f"      from {url}")
    print("\ncitation")
    print(textwrap.indent(info.citation.strip() or "(none given)", "  "))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    import mnistfamily as mf

    for path in mf.download(args.name, args.split, source=args.source, data_dir=args.data_dir):
        print(path)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    import mnistfamily as mf

    dataset = mf.load(args.name, args.split, source=args.source, data_dir=args.data_dir)
    print(_summary(dataset, args.data_dir))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import mnistfamily as mf

    problems = mf.verify(args.name, data_dir=args.data_dir, repair=args.repair, source=args.source)
    what = args.name or "every dataset"
    for path in problems.unverified:  # no checksum: only the registry's sizes and counts could be checked
        print(f"unverified: {path} (the registry has no checksum for it: checked against its sizes and "
              "counts only)")
    if not problems:
        print(f"{'no problem found' if problems.unverified else 'all verified'} ({what}; cache "
              f"{_cache_root(args.data_dir)})")
        return 0
    for problem in problems:
        print(f"problem: {problem}")
        if args.repair:
            print(f"  repair: {problem.repair}")
    if not args.repair:
        print(f"{len(problems)} problem(s) found. `mnistfamily verify --repair` fetches damaged downloads "
              "again, rebuilds damaged prepared arrays and deletes what interrupted runs left behind.")
        return 1
    remaining = mf.verify(args.name, data_dir=args.data_dir)
    if remaining:
        print(f"{len(problems)} problem(s) found; {len(remaining)} remain after repair:")
        for problem in remaining:
            print(f"remaining: {problem}")
        print("Files inside the package: reinstall mnistfamily. Downloads that could not be fetched: "
              "run again with network access, or pass --source a folder holding them.")
        return 1
    print(f"{len(problems)} problem(s) found and repaired; the cache verifies.")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    import mnistfamily as mf
    from .preview import save_preview

    dataset = mf.load(args.name, args.split, source=args.source, data_dir=args.data_dir)
    path = save_preview(dataset, args.out, per_class=args.per_class, scale=args.scale, seed=args.seed)
    print(path.resolve())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import numpy as np

    import mnistfamily as mf
    from .preview import save_preview

    dataset = mf.load(DEMO_DATASET, DEMO_SPLIT, data_dir=args.data_dir)
    print(_summary(dataset, args.data_dir))
    series = dataset.metadata.get("hsf_series")
    if series is not None:
        census = int(np.count_nonzero(series <= 3))
        students = int(np.count_nonzero(series == 4))
        writers = len(np.unique(dataset.metadata["writer_id"])) if "writer_id" in dataset.metadata else 0
        print("\nwho wrote them (QMNIST metadata, column hsf_series)")
        print(f"  {census:,} digits by Census Bureau employees (hsf_series 0-3)")
        print(f"  {students:,} digits by high-school students (hsf_series 4)")
        if writers:
            print(f"  {writers:,} different writers (writer_id)")
        print(f"  e.g. students only: mf.load({DEMO_DATASET!r}, split={DEMO_SPLIT!r}).filter(hsf_series=4)")
    path = save_preview(dataset, args.out, per_class=10, scale=2)
    print(f"\npreview written to {path.resolve()}")
    print(textwrap.dedent(f"""
        next, try:
          mnistfamily list                                   # every dataset, with splits and sizes
          mnistfamily info qmnist                            # classes, files, checksums, citation
          mnistfamily preview {DEMO_DATASET} --split {DEMO_SPLIT} --out sample.png --per-class 16
          mnistfamily download mnist                         # needs internet (or --source DIR)
          mnistfamily load mnist --split test --source DIR   # from a folder holding the raw files
          python -c "import mnistfamily as mf; print(mf.load('{DEMO_DATASET}', split='{DEMO_SPLIT}'))"
        """).rstrip())
    return 0


# ----------------------------------------------------------------------------- output helpers


def _summary(dataset: Any, data_dir: str | None) -> str:
    """Shape, dtype, classes, per-class counts, metadata ranges and the cache location."""
    import numpy as np

    images, labels = dataset.images, dataset.labels
    classes = dataset.classes
    lines = [f"{dataset.name} [{dataset.split}]: {len(dataset):,} examples"]
    lines.append(f"  images     {images.dtype} {tuple(images.shape)}")
    lines.append(f"  labels     {labels.dtype} {tuple(labels.shape)}")
    shown = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
    lines.append(f"  classes    {len(classes)}: {shown}")
    counts = np.bincount(np.asarray(labels), minlength=len(classes)) if len(labels) else [0] * len(classes)
    entries = [f"{name}: {int(count):,}" for name, count in zip(classes, counts)]
    lines.extend(_wrap_entries(entries, first="  per class  ", indent=" " * 13))
    if dataset.metadata:
        lines.append("  metadata   column          dtype    min        max")
        for column, values in dataset.metadata.items():
            low, high = (values.min(), values.max()) if len(values) else ("-", "-")
            lines.append(f"             {column:<15} {str(values.dtype):<8} {low!s:<10} {high!s}")
    lines.append(f"  cache      {_cache_location(images, data_dir)}")
    return "\n".join(lines)


def _wrap_entries(entries: Sequence[str], *, first: str, indent: str, width: int = 96) -> list[str]:
    """Entries two spaces apart, wrapped between entries (never inside ``9: 1,009``)."""
    lines, line = [], first
    for entry in entries:
        if line.strip() and len(line) + 2 + len(entry) > width:
            lines.append(line.rstrip())
            line = indent
        line += ("  " if line.strip() and line != first else "") + entry
    lines.append(line.rstrip())
    return lines


def _cache_location(images: Any, data_dir: str | None) -> str:
    # prepared arrays are memory maps of <root>/prepared/<dataset>/<split>@<key>/images.npy
    filename = getattr(images, "filename", None)
    if filename:
        return str(Path(filename).parent)
    return str(_cache_root(data_dir))


def _cache_root(data_dir: str | None) -> Path:
    from . import config

    return config.cache_root(data_dir)


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths)]
        print("  ".join(cells).rstrip())


# ----------------------------------------------------------------------------- argument parsing


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (shared by every subcommand)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, found {value}")
    return value


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

    command("list", cmd_list, "every dataset with its splits and sizes")

    sub = command("info", cmd_info, "describe a dataset: classes, splits, files with checksums, citation")
    sub.add_argument("name", metavar="NAME")

    sub = command("download", cmd_download, "fetch and verify a dataset's files; print their paths",
                  [cache, source])
    sub.add_argument("name", metavar="NAME")
    sub.add_argument("--split", metavar="S", help="only the files of this split")

    sub = command("load", cmd_load, "load a split and summarise it", [cache, source])
    sub.add_argument("name", metavar="NAME")
    sub.add_argument("--split", metavar="S", required=True)

    sub = command("verify", cmd_verify, "rehash the cache; exit 1 when something is damaged",
                  [cache, source])
    sub.add_argument("name", metavar="NAME", nargs="?", help="one dataset (default: all)")
    sub.add_argument("--repair", action="store_true",
                     help="fetch damaged downloads again, rebuild damaged prepared arrays, delete leftovers "
                          "of interrupted runs (--source: where to fetch from)")

    sub = command("preview", cmd_preview, "write a PNG grid of examples, one row per class", [cache, source])
    sub.add_argument("name", metavar="NAME")
    sub.add_argument("--split", metavar="S", required=True)
    sub.add_argument("--out", metavar="FILE.png", required=True, type=Path)
    sub.add_argument("--per-class", metavar="K", type=positive_int, default=8, help="examples per row (8)")
    sub.add_argument("--scale", metavar="N", type=positive_int, default=2, help="upscaling factor (2)")
    sub.add_argument("--seed", type=int, default=0, help="seed of the choice of examples (0)")

    sub = command("demo", cmd_demo, "offline tour: load the embedded sample, summarise it, write a preview",
                  [cache])
    sub.add_argument("--out", metavar="FILE.png", type=Path, default=Path(DEMO_OUT),
                     help=f"where to write the preview (default: ./{DEMO_OUT})")

    from .outputs.command import add_export_command

    add_export_command(commands, parents=[verbosity, cache, source])
    from .shift.cli import add_shift_command

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

    from .errors import MnistFamilyError, UnknownNameError

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
