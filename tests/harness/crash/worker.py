"""The worker process a crash test kills: load a dataset, export it, report its phases.

The worker (``python -m harness.crash ...``) loads a dataset (download +
prepare) and optionally exports it, printing a JSON line of array hashes. It tells its
parent where it is: ``ready`` once its imports are done (so kill times are spread over the
work, not over the interpreter's start), then the phase of each library log record
(``download``, ``prepare``, ``export``) in ``--phase-file``. ``--pause S`` sleeps ``S``
seconds around every rename and array write, so that a kill lands between those steps
as often as inside them, the way ``Fault.trickle`` stretches a download.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from .invariants import array_digest

__all__ = ["EXIT_EXISTS", "PHASES", "main", "read_phases"]

#: the phases a kill is attributed to, in the order a worker goes through them
PHASES = ("start", "download", "prepare", "export", "done")
#: exit status of a worker whose export found the destination taken (ExportExistsError); the worker
#: also writes ``exists: parquet`` or ``exists: npz`` to stderr for each export that found it so
EXIT_EXISTS = 3


def _phase_logger(path: str) -> None:
    """Append the phase of every library log record to ``path`` (flushed at once: we may be killed)."""
    import logging

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open until killed

    class PhaseHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if record.name.startswith("mnistfamily.fetch"):
                phase = "download"
            elif record.name.startswith("mnistfamily.prepare"):
                phase = "prepare"
            elif record.name.startswith("mnistfamily.outputs") and message.startswith("exporting"):
                phase = "export"
            else:
                return
            stream.write(f"{phase} {time.monotonic():.4f}\n")

    logger = logging.getLogger("mnistfamily")
    logger.setLevel(logging.INFO)
    logger.addHandler(PhaseHandler())
    stream.write(f"start {time.monotonic():.4f}\n")


def _slow_down(pause: float) -> None:
    """Sleep ``pause`` seconds before and after every rename and ``.npy``/shard write."""
    import functools

    from mnistfamily.outputs import parquet
    from mnistfamily.prepare import cache

    def around(function):
        @functools.wraps(function)
        def slowed(*args, **kwargs):
            time.sleep(pause)
            try:
                return function(*args, **kwargs)
            finally:
                time.sleep(pause)
        return slowed

    os.replace = around(os.replace)
    os.rename = around(os.rename)
    for name in ("create", "save", "commit"):
        setattr(cache.EntryWriter, name, around(getattr(cache.EntryWriter, name)))
    parquet.write_shard = around(parquet.write_shard)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker: load every split (or ``--splits``), then export; print a JSON line of digests."""
    parser = argparse.ArgumentParser(prog="python -m harness.crash")
    parser.add_argument("--registry", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--splits", default=None, help="comma-separated (default: all)")
    parser.add_argument("--parquet", default=None, help="export as Parquet into this folder")
    parser.add_argument("--npz", default=None, help="export as .npz to this file")
    parser.add_argument("--rows-per-shard", type=int, default=25)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--phase-file", default=None)
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args(argv)

    import mnistfamily as mf
    from mnistfamily.outputs import ExportExistsError, export, export_npz
    from mnistfamily.registry import Registry

    import aiohttp  # noqa: F401 - imported before "ready": kill times should fall on the work
    import fsspec  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    if args.phase_file:
        _phase_logger(args.phase_file)
    if args.pause:
        _slow_down(args.pause)
    registry = Registry.from_files([Path(args.registry)])
    splits = args.splits.split(",") if args.splits else list(registry.dataset(args.dataset).splits)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    digests = {}
    for split in splits:
        ds = mf.load(args.dataset, split, registry=registry, data_dir=args.data_dir)
        digests[split] = array_digest(ds.images, ds.labels)
    taken = False
    try:
        if args.parquet:
            export(args.dataset, args.parquet, splits=splits, registry=registry, data_dir=args.data_dir,
                   rows_per_shard=args.rows_per_shard, overwrite=args.overwrite)
    except ExportExistsError as exc:
        sys.stderr.write(f"{exc}\nexists: parquet\n")
        taken = True
    try:
        if args.npz:
            export_npz(args.dataset, args.npz, splits=splits, registry=registry, data_dir=args.data_dir,
                       overwrite=args.overwrite)
    except ExportExistsError as exc:
        sys.stderr.write(f"{exc}\nexists: npz\n")
        taken = True
    if taken:
        sys.stdout.write(json.dumps(digests) + "\n")
        return EXIT_EXISTS
    if args.phase_file:
        with open(args.phase_file, "a", encoding="utf-8") as f:
            f.write(f"done {time.monotonic():.4f}\n")
    sys.stdout.write(json.dumps(digests) + "\n")
    return 0


def read_phases(path: str | os.PathLike[str]) -> list[tuple[str, float]]:
    """``(phase, time.monotonic())`` records a worker wrote to its ``--phase-file``."""
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        phase, _, stamp = line.partition(" ")
        try:
            out.append((phase, float(stamp)))
        except ValueError:
            continue  # the last line, cut by the kill
    return out
