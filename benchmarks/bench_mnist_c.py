"""Throughput of the fifteen MNIST-C corruptions on the 10,000 real MNIST test digits.

    python benchmarks/bench_mnist_c.py                       # every corruption, best of 3 rounds
    python benchmarks/bench_mnist_c.py --only fog,glass_blur --rounds 5 --threads 1

Each corruption is called once on the whole batch (blocks over the threads the library uses,
``--threads`` to set them) and the best of ``--rounds`` wall times is kept, with the CPU seconds of
that round beside it (a busy machine inflates wall time far more than CPU time). The load average
is printed in the header. Results go to stdout and to ``benchmarks/results/bench_mnist_c.json``.
Nothing asserts on a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import _common as c


def test_images() -> np.ndarray:
    path = c.realdata_dir() / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not path.is_file():
        sys.exit(f"bench_mnist_c: {path} is missing. Point MNISTFAMILY_REALDATA at the shared realdata folder "
                 "(it holds mnist/t10k-images-idx3-ubyte.gz).")
    import mnistfamily as mf

    return np.ascontiguousarray(mf.read_idx(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per corruption (best is kept)")
    parser.add_argument("--only", default="", help="comma-separated MNIST-C names (default: all fifteen)")
    parser.add_argument("--threads", type=int, default=None, help="threads the transforms use (default: all CPUs)")
    parser.add_argument("--no-json", action="store_true", help="do not write benchmarks/results/")
    args = parser.parse_args()

    from mnistfamily import transforms as T

    if args.threads:
        T.set_num_threads(args.threads)
    images = test_images()
    index = np.arange(len(images))
    names = [n for n in args.only.split(",") if n] or list(T.MNIST_C)
    unknown = sorted(set(names) - set(T.MNIST_C))
    if unknown:
        sys.exit(f"bench_mnist_c: unknown corruption(s) {unknown}; choose from {', '.join(T.MNIST_C)}")
    load = os.getloadavg()[0]
    print(f"MNIST-C corruptions on {len(images):,} real MNIST test digits, {T.get_num_threads()} thread(s), "
          f"best of {args.rounds}; load average {load:.1f} on {os.cpu_count()} CPUs")
    rows, results = [], {}
    for name in names:
        t = T.mnist_c(seed=0)[name]
        t(images[:100], index=index[:100])  # warm-up: imports, caches
        best = (float("inf"), 0.0)
        for _ in range(args.rounds):
            cpu, start = time.process_time(), time.perf_counter()
            t(images, index=index)
            best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
        results[name] = {"seconds": best[0], "cpu_seconds": best[1], "per_second": len(images) / best[0]}
        rows.append([name, c.fmt_s(best[0]), c.fmt_s(best[1]), f"{len(images) / best[0]:,.0f}"])
    print(c.table(["corruption", "wall", "CPU", "images/s"], rows))
    if not args.no_json:
        c.save_results("bench_mnist_c", {"images": len(images), "threads": T.get_num_threads(), "loadavg": load,
                                         "rounds": args.rounds, "corruptions": results})


if __name__ == "__main__":
    main()
