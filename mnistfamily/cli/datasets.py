"""``mnistfamily list|info|download|load|verify``: the datasets and the cache, one command each."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence



def add_commands(command: Any, cache: argparse.ArgumentParser, source: argparse.ArgumentParser) -> None:
    """Add this group's commands through ``command(name, run, help, parents)`` (see ``build_parser``)."""
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


def cmd_list(args: argparse.Namespace) -> int:
    import mnistfamily as mf

    rows = []
    for name in mf.datasets():
        info = mf.info(name)
        splits = _splits_summary(name, info.splits)
        shape = "x".join(str(d) for d in info.image_shape) or "varying"
        rows.append((name, str(info.num_classes), f"{info.example} {shape}", splits))
    _print_table(("dataset", "classes", "example", "splits"), rows)
    return 0


#: splits a row of `list` shows before it summarises the rest (HASYv2 and AudioMNIST have 21 and 28)
LISTED_SPLITS = 4


def _splits_summary(name: str, splits: Mapping[str, int | None]) -> str:
    """``train 60,000, test 10,000``; past :data:`LISTED_SPLITS` splits, the rest counted and pointed to ``info``."""
    shown = [f"{split} {count:,}" if count is not None else f"{split} (count unknown)"
             for split, count in list(splits.items())[:LISTED_SPLITS]]
    hidden = len(splits) - LISTED_SPLITS
    if hidden > 0:
        shown.append(f"and {hidden} more (mnistfamily info {name})")
    return ", ".join(shown)


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
    print(summary(dataset, args.data_dir))
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
              f"{cache_root(args.data_dir)})")
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


# ----------------------------------------------------------------------------- output helpers


def summary(dataset: Any, data_dir: str | None) -> str:
    """Shape, dtype, classes, per-class counts, metadata ranges and the cache location."""
    import numpy as np

    from ..examples import Signals, describe

    examples, labels = dataset.examples, dataset.labels
    classes = dataset.classes
    lines = [f"{dataset.name} [{dataset.split}]: {len(dataset):,} examples"]
    if isinstance(examples, Signals):
        lengths = examples.lengths
        shown_lengths = f"{int(lengths.min()):,} to {int(lengths.max()):,} samples" if len(lengths) else "none"
        lines.append(f"  signals    {examples.dtype}, {shown_lengths}"
                     + (f", {dataset.sample_rate:,} Hz" if dataset.sample_rate else ""))
        images = examples.samples
    else:
        images = examples
        lines.append(f"  {dataset.example + 's':<10} {images.dtype} {tuple(images.shape)}"
                     f"  ({describe(dataset.example, images.shape[1:], images.dtype.name, dataset.sample_rate)})")
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
    return str(cache_root(data_dir))


def cache_root(data_dir: str | None) -> Path:
    from .. import config

    return config.cache_root(data_dir)


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths)]
        print("  ".join(cells).rstrip())
