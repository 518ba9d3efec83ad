"""``mnistfamily preview|demo``: pictures of a split, and the offline tour."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

from .datasets import summary
from .types import positive_int

DEMO_DATASET = "mnist/sample"
DEMO_SPLIT = "test"
DEMO_OUT = "mnistfamily-demo.png"


def add_commands(command: Any, cache: argparse.ArgumentParser, source: argparse.ArgumentParser) -> None:
    """Add this group's commands through ``command(name, run, help, parents)`` (see ``build_parser``)."""
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


def cmd_preview(args: argparse.Namespace) -> int:
    import mnistfamily as mf
    from ..preview import save_preview

    dataset = mf.load(args.name, args.split, source=args.source, data_dir=args.data_dir)
    path = save_preview(dataset, args.out, per_class=args.per_class, scale=args.scale, seed=args.seed)
    print(path.resolve())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import numpy as np

    import mnistfamily as mf
    from ..preview import save_preview

    dataset = mf.load(DEMO_DATASET, DEMO_SPLIT, data_dir=args.data_dir)
    print(summary(dataset, args.data_dir))
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
