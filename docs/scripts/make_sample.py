"""Rebuild the embedded sample ``mnist/sample`` from the real MNIST and QMNIST files.

The sample is 2,000 real digits of MNIST's test set (200 per class, chosen with a fixed
seed, kept in their published order) with their labels, their positions in the test set
and QMNIST's eight extended-label columns (QMNIST's test rows 0-9,999 reconstruct MNIST's
test set in the same order; see docs/datasets/qmnist.md).

Usage::

    python docs/scripts/make_sample.py ../shared/realdata mnistfamily/data/mnist

It prints the size, md5 and sha256 of each file for registry.yaml.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

import mnistfamily as mf

PER_CLASS = 200
SEED = 20261126


def main(realdata: Path, out: Path) -> None:
    images = mf.read_idx(realdata / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels = mf.read_idx(realdata / "mnist" / "t10k-labels-idx1-ubyte.gz")
    qmnist = mf.read_idx(realdata / "qmnist" / "qmnist-test-labels-idx2-int.gz")[:10000]
    if not np.array_equal(qmnist[:, 0], labels):
        raise SystemExit("QMNIST test10k classes do not match MNIST test labels")
    rng = np.random.default_rng(SEED)
    chosen = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == digit), PER_CLASS, replace=False) for digit in range(10)
    ]))
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "mnist-sample-images-idx3-ubyte.gz": images[chosen],
        "mnist-sample-labels-idx2-int.gz": qmnist[chosen].astype(np.int32),
        "mnist-sample-index-idx1-int.gz": chosen.astype(np.int32),
    }
    for name, array in files.items():
        mf.write_idx(out / name, array)
        data = (out / name).read_bytes()
        payload = mf.read_idx(out / name)
        print(f"{name}: size {len(data)} md5 {hashlib.md5(data).hexdigest()} "
              f"sha256 {hashlib.sha256(data).hexdigest()} shape {payload.shape}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
