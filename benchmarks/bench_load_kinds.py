"""Warm loads of the family beyond 28x28 grey: colour images, volumes, signals, classes named by the files.

    python benchmarks/bench_load_kinds.py              # ~1 min on 2 cores
    python benchmarks/bench_load_kinds.py --rounds 30

Like ``bench_load.py``'s warm row, each load runs in a fresh process, whole-process wall time,
against ``python -c "import numpy"``: the target is a warm load at most 1.3 times that. The
entries are miniatures (``mnistfamily.testing``) prepared once before timing: a warm load
memory-maps the prepared arrays and parses the manifest and the compiled registry, so its time
does not depend on the split's size (the arrays are not read). Each child loads one split and
touches its first example. The package is precompiled first, as ``pip install`` does (see
bench_load.py). Nothing asserts on a time; the figures are printed and written to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

TARGET = 1.3
#: (dataset, split) of every kind of example the family now holds, and the new formats
CASES = [("svhn", "test"), ("cifar10", "test"), ("cifar100", "test"), ("usps", "test"), ("usps/float32", "test"),
         ("medmnist3d/organmnist3d", "test"), ("medmnist3d/organmnist3d-64", "test"), ("mnist1d", "test"),
         ("hasyv2", "fold1-test"), ("audiomnist", "digit-fold0-test"), ("audiomnist/8k", "digit-fold0-test"),
         ("3d-mnist", "test")]


def bench_name(name: str) -> str:
    """The miniature's name in the benchmark's registry file (which adds to the built-in one)."""
    return "bench/" + name.replace("/", ".")


def prepare(work: Path, names: list[str]) -> Path:
    """Miniatures of ``names`` served on loopback and loaded once (the cold path); returns their registry file.

    A derived entry's base is the base's miniature (``bench/audiomnist`` for ``bench/audiomnist.8k``).
    """
    from dataclasses import replace

    import mnistfamily as mf
    from mnistfamily.registry.dump import dump_registry
    from mnistfamily.testing import serve_directory, write_miniatures

    folder = work / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=names)
        specs = [replace(spec, name=bench_name(n), sizes={}, base=spec.base and bench_name(spec.base))
                 for n in names for spec in [mini.registry.dataset(n)]]
        registry = work / "bench-registry.yaml"
        registry.write_text(dump_registry(specs), encoding="utf-8")
        for name, split in CASES:
            if name in names:
                mf.load(bench_name(name), split, registry=registry, data_dir=work / "cache", allow_unverified=True)
    return registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    import mnistfamily as mf

    c.precompile(Path(mf.__file__).parent)  # as pip install does: fresh processes do not compile the package
    known = set(mf.datasets())
    cases = [(n, s) for n, s in CASES if n in known]
    with tempfile.TemporaryDirectory(prefix="bench-kinds-") as tmp:
        work = Path(tmp)
        registry = prepare(work, sorted({n for n, _ in cases}))
        snippets = {"import numpy (reference)": "import numpy"}
        for name, split in cases:
            snippets[f"warm mf.load({name!r}, {split!r})"] = (
                f"import mnistfamily as mf; d = mf.load({bench_name(name)!r}, {split!r}, registry={str(registry)!r}, "
                f"data_dir={str(work / 'cache')!r}, allow_unverified=True); d.examples[0]")
        runs = c.interleaved(snippets, args.rounds, lambda name, code: c.spawn(code, cwd=work))
    reference = [r["wall"] for r in runs["import numpy (reference)"]]
    rows, out = [], {}
    for label, measured in runs.items():
        walls = [r["wall"] for r in measured]
        wall = c.stats(walls)
        paired = c.paired_ratio(walls, reference)
        is_load = label != "import numpy (reference)"
        rows.append([label, c.fmt_s(wall["min"]), c.fmt_s(wall["median"]), c.fmt_ratio(paired),
                     c.verdict(paired, TARGET) if is_load else ""])
        out[label] = {"wall_s": wall, "ratio_to_import_numpy_paired": paired}
    print(c.table(["fresh process (whole wall time)", "best", "median", "ratio paired", f"<= {TARGET}x"], rows,
                  title=f"warm loads of every kind of example, {args.rounds} rounds (ratio = / import numpy, paired)"))
    print(f"results: {c.save_results('load_kinds', {'rounds': args.rounds, 'target': TARGET, 'rows': out})}")


if __name__ == "__main__":
    main()
