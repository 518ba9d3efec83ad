"""Figures for docs/reliability.md's "Names, source= folders and registry facts" rows.

Run from the repository root: ``python benchmarks/figures_sources.py``. Offline; prints the time
to give up and peak Python heap (tracemalloc) for the source= errors, the same for a MNIST-1D
preview, and how many bytes each EMNIST split now needs instead of the whole archive.
Nothing is asserted.
"""

from __future__ import annotations

import pathlib
import tempfile
import time
import tracemalloc

import mnistfamily as mf
from mnistfamily.errors import DownloadError
from mnistfamily.preview import preview_grid
from mnistfamily.registry import get_registry


def _timed(call) -> tuple[float, float]:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        call()
    except DownloadError:
        pass
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds * 1e3, peak / 2**20


def main() -> None:
    tmp = pathlib.Path(tempfile.mkdtemp())
    cache = tmp / "cache"
    mf.info("mnist")  # registry loaded before timing
    ms, mib = _timed(lambda: mf.load("mnist", "test", source=tmp / "nowhere", data_dir=cache))
    print(f"source= a folder that does not exist: {ms:.1f} ms, peak {mib:.2f} MiB, "
          f"downloads folder created: {(cache / 'downloads').exists()}")
    raw = tmp / "torchvision" / "EMNIST" / "raw"
    raw.mkdir(parents=True)
    for name, size in (("emnist-balanced-test-images-idx3-ubyte", 16 + 18800 * 784),
                       ("emnist-balanced-test-labels-idx1-ubyte", 8 + 18800)):
        with open(raw / name, "wb") as f:  # sparse files of the published sizes
            f.write(b"\0\0\x08\x03")
            f.truncate(size)
    ms, mib = _timed(lambda: mf.load("emnist/balanced", "test", source=tmp / "torchvision", data_dir=cache))
    print(f"decompressed EMNIST members without a content hash: {ms:.1f} ms, peak {mib:.2f} MiB, "
          f"downloads folder created: {(cache / 'downloads').exists()}")
    ds = mf.load("mnist1d/generated", "train", data_dir=cache)
    ms, mib = _timed(lambda: preview_grid(ds, per_class=8, scale=2))
    print(f"MNIST-1D preview, {len(ds)} examples, 80 plots: {ms:.1f} ms, peak {mib:.2f} MiB")
    registry = get_registry()
    for split_name in ("byclass", "bymerge", "balanced", "letters", "digits", "mnist"):
        spec = registry.dataset(f"emnist/{split_name}")
        sizes = {s: sum(spec.file(f).size or 0 for f in spec.splits[s].files()) for s in ("train", "test")}
        print(f"emnist/{split_name}: train {sizes['train'] / 1e6:.1f} MB, test {sizes['test'] / 1e6:.1f} MB "
              f"of members (archive {spec.file('gzip.zip').size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
