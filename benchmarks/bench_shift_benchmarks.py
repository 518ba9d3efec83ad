"""The published distribution-shift results, reproduced in shape with numpy baselines on the full MNIST.

    python benchmarks/bench_shift_benchmarks.py                     # everything, ~6-8 min on 2 cores
    python benchmarks/bench_shift_benchmarks.py --only coloredmnist --epochs 5
    python benchmarks/bench_shift_benchmarks.py --only rotatedmnist,label-errors

rotatedmnist   DomainBed's RotatedMNIST (bicubic, and bilinear), leave one environment out with
               training-domain validation: nearest centroid and an MLP (256 hidden units, Adam,
               the best epoch on the training environments' 20 % holdouts). DomainBed's table:
               0 and 75 degrees are the hardest held-out environments for every algorithm.
coloredmnist   DomainBed's ColoredMNIST (the registry entry), ERM with the same MLP on the 2-channel images and a
               colour-blind one on the gray digits. DomainBed: 71.7 / 72.9 / 10.0 (+90 %, +80 %,
               -90 %); shape alone gives at most 75 %.
irm            The IRM paper's ColoredMNIST (coloredmnist/irm: 14x14, trained on e = 0.2 and 0.1, tested on e = 0.9).
label-errors   1-NN on MNIST's test set with and without its 15 crowd-confirmed label errors.
digits         The digit domain protocols whose files are in MNISTFAMILY_REALDATA: mnist-usps (USPS's test
               file), 1-NN and the MLP; the others need files that are not there (USPS train, SVHN).

The real files come from ``MNISTFAMILY_REALDATA`` (or ``../shared/realdata``): the Kaggle-layout
MNIST (all 70,000 images). Each section prints its table and its wall time; the figures go to
``benchmarks/results/bench_shift_benchmarks.json``. Nothing here asserts on a time or a score.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, realdata_dir  # noqa: E402

SECTIONS = ("rotatedmnist", "coloredmnist", "irm", "label-errors", "digits")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections ({', '.join(SECTIONS)})")
    parser.add_argument("--epochs", type=int, default=10, help="MLP epochs (the best one is kept; default 10)")
    parser.add_argument("--data-dir", type=Path, help="cache root (default: a temporary folder)")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    source = realdata_dir() / "mnist-kaggle-layout"
    if not source.is_dir():
        print(f"the real MNIST is not at {source}: set MNISTFAMILY_REALDATA", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        figures = {section: run_section(section, source, data_dir, args.epochs) for section in chosen}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "bench_shift_benchmarks.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def run_section(section: str, source: Path, data_dir: Path, epochs: int) -> list[dict]:
    import mnistfamily as mf
    from mnistfamily.baselines import MLP
    from mnistfamily.shift.benchmarks import run_benchmark
    from mnistfamily.shift.environments import leave_one_environment_out, load_environments
    from mnistfamily.shift.label_errors import label_error_report

    options = {"source": source, "data_dir": data_dir}
    mlp = MLP(hidden=(256,), epochs=epochs, seed=0)
    out = []

    def report(label: str, started: float, result) -> None:
        seconds = time.perf_counter() - started
        print(f"\n## {label} ({seconds:.1f} s)\n")
        print(result.table())
        out.append({"run": label, "seconds": round(seconds, 1), "result": result.to_dict()})

    if section == "rotatedmnist":
        for name in ("rotatedmnist", "rotatedmnist/bilinear"):
            started = time.perf_counter()
            envs = load_environments(name, **options)
            print(f"\n{name}: built and loaded the six environments in {time.perf_counter() - started:.1f} s")
            for model in ("centroid", mlp):
                started = time.perf_counter()
                report(f"{name}, {model if isinstance(model, str) else 'mlp'}", started,
                       leave_one_environment_out(envs, model, name=name))
    elif section in ("coloredmnist", "irm"):
        name = "coloredmnist" if section == "coloredmnist" else "coloredmnist/irm"
        started = time.perf_counter()
        load_environments(name, **options)  # the registry entry, prepared once
        print(f"\n{name}: built and loaded the environments in {time.perf_counter() - started:.1f} s")
        for grayscale in (False, True):
            label = f"{name}{', grayscale model' if grayscale else ''}, mlp"
            started = time.perf_counter()
            report(label, started, run_benchmark(name, mlp, grayscale=grayscale, **options))
    elif section == "digits":
        from mnistfamily import shift

        for split in ("train", "test"):  # MNIST into the cache, so the protocol's source= serves USPS
            mf.load("mnist", split, **options)
        usps = source.parent / "usps" / "usps.t.bz2"
        if not usps.is_file():
            print(f"\ndigits: skipped, {usps} is not there")
            return out
        for model in ("knn", mlp):
            started = time.perf_counter()
            report(f"mnist-usps, {model if isinstance(model, str) else 'mlp'}", started,
                   shift.run("mnist-usps", model, source=source.parent, data_dir=data_dir))
    else:
        started = time.perf_counter()
        report("label-errors, 1-NN", started, label_error_report("knn", **options))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
