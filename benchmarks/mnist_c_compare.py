"""Our MNIST-C corruptions against the authors' code, digit by digit and in distribution.

    python benchmarks/mnist_c_reference.py --reference-code .../corruptions.py --out /tmp/mnist-c-ref
    python benchmarks/mnist_c_compare.py --reference /tmp/mnist-c-ref
    python benchmarks/mnist_c_compare.py --reference /tmp/mnist-c-ref --write-fixtures tests/data/mnist_c

Reads what ``mnist_c_reference.py`` wrote (the reference's outputs on real MNIST test digits and
the parameters it drew) and runs ``mnistfamily.transforms.mnist_c(seed=0)`` on the same digits,
with their test positions as ``index``:

* deterministic corruptions (scale, brightness, stripe, canny_edges) on the digits as they are;
* those whose randomness is a few numbers per digit (motion_blur, shear, rotate, translate,
  dotted_line, zigzag) with the reference's own numbers (``with_parameters``);
* the five that draw noise per pixel (shot and impulse noise, glass blur, fog, spatter) with our
  own randomness: only their statistics can agree.

It prints, per corruption, the fraction of digits whose every pixel is within 1 grey level of
the reference's (float) output, the fraction of pixels equal after rounding, and the statistics
of ``mnist_c_reference.statistics`` (correlation with the clean digit, within-image standard
deviation, fraction of changed pixels), ours beside the reference's.

``--write-fixtures DIR`` also writes the test fixtures: ``reference.npz`` with the first
``--fixture-digits`` clean digits, the reference's outputs for the deterministic and
parameter-matched corruptions (rounded to uint8) and their parameters, and ``statistics.json``
with the reference's statistics over all the digits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import _common as c
from mnist_c_reference import CORRUPTIONS, statistics

#: the corruptions whose output is a function of the digit alone
DETERMINISTIC = ("scale", "brightness", "stripe", "canny_edges")
#: the corruptions whose randomness is the reference's replayed parameters
PARAMETRIC = ("motion_blur", "shear", "rotate", "translate", "dotted_line", "zigzag")


def ours(reference: dict[str, np.ndarray], name: str, seed: int = 0) -> np.ndarray:
    """Our corruption ``name`` of the reference's clean digits (with its parameters where it has some)."""
    from mnistfamily import transforms as T

    t = T.mnist_c(seed=seed)[name]
    clean, index = reference["clean"], reference["index"]
    if name in PARAMETRIC:
        drawn = {key.split(".", 1)[1]: reference[key] for key in reference if key.startswith(f"{name}.")}
        return t.with_parameters(clean, **drawn)
    return t(clean, index=index)


def compare(reference: dict[str, np.ndarray]) -> dict[str, dict]:
    clean = reference["clean"]
    rows = {}
    for name in CORRUPTIONS:
        theirs = reference[name].astype(np.float64)
        mine = ours(reference, name)
        gap = np.abs(mine.astype(np.float64) - theirs)
        kind = "deterministic" if name in DETERMINISTIC else "same parameters" if name in PARAMETRIC else "random"
        rows[name] = {"kind": kind, "within_1": float((gap.max(axis=(1, 2)) <= 1.0 + 1e-9).mean()),
                      "pixels_equal": float((mine == np.clip(np.rint(theirs), 0, 255)).mean()),
                      "largest_gap": float(gap.max()),
                      "ours": statistics(clean, mine), "reference": statistics(clean, theirs)}
    return rows


def write_fixtures(reference: dict[str, np.ndarray], folder: Path, digits: int, rows: dict[str, dict],
                   meta: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"clean": reference["clean"][:digits], "index": reference["index"][:digits]}
    for name in DETERMINISTIC + PARAMETRIC:
        arrays[name] = np.clip(np.rint(reference[name][:digits]), 0, 255).astype(np.uint8)
        for key in reference:
            if key.startswith(f"{name}."):
                arrays[key] = reference[key][:digits]
    np.savez_compressed(folder / "reference.npz", **arrays)
    stats = {"source": "google-research/mnist-c corruptions.py at commit bba57e4, run by "
                       "benchmarks/mnist_c_reference.py", "versions": meta.get("versions"),
             "seeding": meta.get("seeding"), "seed": meta.get("seed"),
             "test_positions": [int(reference["index"][0]), int(reference["index"][-1])],
             "statistics": {name: row["reference"] for name, row in rows.items()}}
    (folder / "statistics.json").write_text(json.dumps(stats, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", required=True, help="the folder mnist_c_reference.py wrote")
    parser.add_argument("--write-fixtures", help="also write the test fixtures into this folder")
    parser.add_argument("--fixture-digits", type=int, default=100, help="digits kept in the fixtures (default 100)")
    parser.add_argument("--no-json", action="store_true", help="do not write benchmarks/results/")
    args = parser.parse_args()
    folder = Path(args.reference)
    if not (folder / "reference.npz").is_file():
        sys.exit(f"mnist_c_compare: {folder / 'reference.npz'} is missing; run benchmarks/mnist_c_reference.py first")
    with np.load(folder / "reference.npz", allow_pickle=False) as data:
        reference = {key: data[key] for key in data.files}
    meta = json.loads((folder / "reference.json").read_text())
    rows = compare(reference)
    n = len(reference["clean"])
    table = []
    for name, row in rows.items():
        o, r = row["ours"], row["reference"]
        table.append([name, row["kind"], f"{row['within_1']:.1%}", f"{row['pixels_equal']:.2%}",
                      f"{o['corr']:.3f} / {r['corr']:.3f}", f"{o['std']:.1f} / {r['std']:.1f}",
                      f"{o['changed']:.3f} / {r['changed']:.3f}"])
    print(c.table(["corruption", "randomness", "digits within 1", "pixels equal", "corr ours / ref",
                   "std ours / ref", "changed ours / ref"], table,
                  title=f"mnistfamily against MNIST-C's code on {n:,} MNIST test digits "
                        f"(positions {reference['index'][0]}-{reference['index'][-1]})"))
    versions = meta.get("versions", {})
    print("reference: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if args.write_fixtures:
        write_fixtures(reference, Path(args.write_fixtures), args.fixture_digits, rows, meta)
        print(f"fixtures written to {args.write_fixtures}")
    if not args.no_json:
        c.save_results("mnist_c_compare", {"digits": n, "reference_versions": versions, "corruptions": rows})


if __name__ == "__main__":
    main()
