"""EMNIST at full scale: prepare memory and warm-load time on a synthetic gzip.zip.

No real EMNIST image file is available here, so this builds an archive with the real
layout (``gzip/emnist-byclass-{train,test}-{images-idx3,labels-idx1}-ubyte.gz`` members,
697,932 + 116,323 transposed 28x28 images made by tiling real MNIST digits, 62 classes)
and a registry entry whose checksums are the synthetic files'. Then, in fresh processes:

* cold: ``mf.load("emnist/byclass", source=<folder>)`` for both splits: members read out
  of the zip, verified, decoded (transposed in bounded chunks) into memory-mapped .npy;
  peak RSS (VmHWM) above a process that only imported numpy and mnistfamily, against
  the decoded arrays' size. Target: at most 1.5x.
* warm: the same two ``load`` calls once the cache exists, timed inside a fresh process
  after ``import mnistfamily`` and its modules (those imports are what bench_load.py
  measures). Target: at most 20 ms.

    python benchmarks/bench_emnist.py [--rounds 5]

The synthetic archive is kept in benchmarks/results/emnist-synth/ and reused.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import sys
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, child_json, environment, fmt_mb, fmt_ratio, fmt_s, realdata_dir, spawn, stats, table, verdict  # noqa: E402

TRAIN, TEST = 697_932, 116_323
SYNTH = RESULTS_DIR / "emnist-synth"


def _idx_gz(array: np.ndarray) -> bytes:
    from mnistfamily.formats.idx import encode_header

    return gzip.compress(encode_header(array.dtype, array.shape) + array.tobytes(), compresslevel=6, mtime=0)


def build_archive() -> Path:
    """The synthetic archive and its registry file (built once)."""
    import mnistfamily as mf
    from mnistfamily.registry import get_registry
    from mnistfamily.registry.dump import dump_registry

    registry_path = SYNTH / "registry.yaml"
    if registry_path.exists():
        return registry_path
    SYNTH.mkdir(parents=True, exist_ok=True)
    digits = mf.read_idx(realdata_dir() / "mnist-kaggle-layout" / "train-images.idx3-ubyte")
    rng = np.random.default_rng(0)
    members = {}
    for split, n in [("train", TRAIN), ("test", TEST)]:
        images = np.ascontiguousarray(digits[np.arange(n) % len(digits)].transpose(0, 2, 1))  # as published
        labels = rng.integers(0, 62, size=n).astype(np.uint8)
        members[f"emnist-byclass-{split}-images-idx3-ubyte.gz"] = _idx_gz(images)
        members[f"emnist-byclass-{split}-labels-idx1-ubyte.gz"] = _idx_gz(labels)
        del images
    archive = SYNTH / "emnist" / "gzip.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(f"gzip/{name}", data)
    spec = get_registry().dataset("emnist/byclass")
    files = {}
    for name, data in [*members.items(), ("gzip.zip", archive.read_bytes())]:
        files[name] = replace(spec.file(name), size=len(data), md5=hashlib.md5(data).hexdigest(),
                              sha256=hashlib.sha256(data).hexdigest())
    registry_path.write_text(dump_registry([replace(spec, files=MappingProxyType(files))]))
    return registry_path


CHILD = """
import json, time, sys
import numpy as np
import mnistfamily as mf
from mnistfamily.registry import Registry
reg = Registry.from_files([{registry!r}])
mf.load  # the library's modules are imported: time the calls themselves
start = time.perf_counter()
train = mf.load("emnist/byclass", "train", registry=reg, source={source!r}, data_dir={cache!r})
test = mf.load("emnist/byclass", "test", registry=reg, source={source!r}, data_dir={cache!r})
elapsed = time.perf_counter() - start
assert train.images.shape == ({train}, 28, 28) and test.images.shape == ({test}, 28, 28)
nbytes = sum(a.nbytes for d in (train, test) for a in (d.images, d.labels, d.index))
print(json.dumps({{"elapsed": elapsed, "nbytes": nbytes}}))
"""

BASELINE = "import numpy, mnistfamily, mnistfamily.api, mnistfamily.registry"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    registry = build_archive()
    source = str(SYNTH / "emnist")
    base = stats([spawn(BASELINE)["maxrss"] for _ in range(3)])["median"]
    colds, warms, nbytes = [], [], None
    for _ in range(max(1, args.rounds // 2)):
        cache = tempfile.mkdtemp(prefix="bench-emnist-")
        try:
            code = CHILD.format(registry=str(registry), source=source, cache=cache, train=TRAIN, test=TEST)
            cold = spawn(code)
            nbytes = child_json(cold)["nbytes"]
            colds.append((cold["wall"], cold["maxrss"] - base))
            for _ in range(args.rounds):
                warms.append(child_json(spawn(code))["elapsed"])
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    cold_wall = stats([c[0] for c in colds])
    cold_rss = stats([c[1] for c in colds])
    warm = stats(warms)
    ratio = cold_rss["max"] / nbytes
    print(table(["measure", "value", "reference", "ratio", "target", "verdict"], [
        ["cold prepare, both splits (wall)", fmt_s(cold_wall["median"]), "", "", "", ""],
        ["cold peak RSS above baseline (worst)", fmt_mb(cold_rss["max"]), fmt_mb(nbytes) + " decoded",
         fmt_ratio(ratio), "<= 1.50x", verdict(ratio, 1.5)],
        ["warm load, both splits (median)", fmt_s(warm["median"]), "", "", "<= 20 ms", verdict(warm["median"], 0.020)],
    ], title=f"EMNIST byclass scale ({TRAIN:,} + {TEST:,} images, synthetic gzip.zip of the real layout)"))
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "bench_emnist.json").write_text(json.dumps({
        "environment": environment(), "cold_wall": cold_wall, "cold_rss_above_baseline": cold_rss,
        "decoded_bytes": nbytes, "ratio": ratio, "warm": warm}, indent=1))


if __name__ == "__main__":
    main()
