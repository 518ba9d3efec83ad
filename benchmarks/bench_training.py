"""From arrays to training: an epoch of MNIST train through mnistfamily's adapters and through torchvision.

Sections (``--only``):

``epoch``    an epoch of MNIST train (60,000 images) as shuffled float32 batches of 128:
             ``ds.batches``; ``ds.to_torch()`` + ``DataLoader``: ``tds.loader`` (whole batches, 8 per
             worker message), the batch path (``batch_sampler``, one batch per message) and the item
             path (``batch_size=128, shuffle=True``), with 0 and 2 workers; against
             ``torchvision.datasets.MNIST`` + ``ToTensor`` + ``DataLoader`` with 0 and 2 workers.
             Goals: ``ds.batches`` >= 50x torchvision's best; ``to_torch`` with 2 workers no slower
             than with 0.
``elastic``  the same with elastic augmentation (alpha=34, sigma=4): mnistfamily's
             ``ElasticDistortion`` per batch (``ds.batches`` and ``tds.loader``, 0 and 2 workers)
             against torchvision v2 ``ElasticTransform`` per image (0 and 2 workers, on a slice of
             the epoch: it is slow). Goal: >= 15x torchvision with its best worker count.
``memory``   peak memory of ``to_pandas`` (both pixel layouts) and ``to_hf`` on EMNIST byclass-scale
             data (697,932 x 28 x 28 uint8, 62 classes: MNIST train tiled into a memory-mapped
             ``.npy``), each in a fresh process: peak RSS (``VmHWM``) minus the RSS after the arrays
             were read once, over the bytes of the arrays. Goal: <= 1.5x.

Rates are images per second, best of ``--rounds`` (rounds interleaved, so a busy machine slows
every row alike); ratios are of the best rates of the same run. Worker rows keep their workers
between rounds (``persistent_workers``) and time the epochs after the first. Nothing here
asserts on a time. Run with the benchmark venv (torch, torchvision): see README.md.

    python benchmarks/bench_training.py                       # everything, ~6 min
    python benchmarks/bench_training.py --only epoch --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import installed, realdata_dir  # noqa: E402

BATCH = 128
EMNIST_BYCLASS_ROWS = 697_932


def _mnist(workdir: Path) -> Any:
    import mnistfamily as mf

    return mf.load("mnist", "train", source=realdata_dir() / "mnist-kaggle-layout", data_dir=workdir / "cache")


def _torchvision_root(workdir: Path) -> Path:
    raw = workdir / "tv" / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        if not (raw / name).exists():
            (raw / name).symlink_to(realdata_dir() / "mnist-kaggle-layout" / name.replace("-idx", ".idx"))
    return workdir / "tv"


TV_TENSOR = "torchvision MNIST.data tensor, batches indexed (no DataLoader)"


def _tensor_batches(data: Any, targets: Any, epoch: int) -> Any:
    """Shuffled float32 batches in [0, 1] straight from torchvision's decoded ``(N, 28, 28)`` uint8 tensor."""
    import torch

    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(epoch))
    for start in range(0, len(order), BATCH):
        rows = order[start:start + BATCH]
        yield data[rows].unsqueeze(1).float().div_(255), targets[rows]


def _rate(make_iterable: Callable[[], Any], limit: int | None = None) -> float:
    """Images per second over one pass (or its first ``limit`` images)."""
    start = time.perf_counter()
    seen = 0
    for batch in make_iterable():
        seen += len(batch[0])
        if limit is not None and seen >= limit:
            break
    return seen / (time.perf_counter() - start)


def _measure(rows: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, run in rows.items():
            best[name] = max(best.get(name, 0.0), run())
    return best


def _print(title: str, best: dict[str, float]) -> None:
    print(f"\n{title}")
    for name, rate in best.items():
        print(f"  {name:<58} {rate:>12,.0f} images/s")


def section_epoch(workdir: Path, rounds: int) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader

    from mnistfamily.adapters.torch import BUNDLE

    torch.set_num_threads(1)
    ds = _mnist(workdir)
    tds = ds.to_torch()
    rows: dict[str, Callable[[], float]] = {}
    epoch = iter(range(10**6))
    rows["ds.batches (numpy float32)"] = lambda: _rate(
        lambda: ds.batches(BATCH, shuffle=True, seed=0, epoch=next(epoch), dtype="float32"))
    loaders: dict[str, Any] = {}
    for workers in (0, 2):
        loaders[f"to_torch().loader (batches, {BUNDLE if workers else 1} per message), {workers} workers"] = tds.loader(
            BATCH, shuffle=True, seed=0, num_workers=workers, persistent_workers=workers > 0)
        sampler = tds.batch_sampler(BATCH, shuffle=True, seed=0)
        loaders[f"to_torch batch_sampler, {workers} workers"] = DataLoader(
            tds, batch_size=None, sampler=sampler, num_workers=workers, persistent_workers=workers > 0)
        loaders[f"to_torch items (batch_size=128, shuffle), {workers} workers"] = DataLoader(
            tds, batch_size=BATCH, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
    if installed("torchvision"):
        import torchvision
        from torchvision.transforms import ToTensor

        tv = torchvision.datasets.MNIST(str(_torchvision_root(workdir)), train=True, download=False,
                                        transform=ToTensor())
        for workers in (0, 2):
            loaders[f"torchvision MNIST + ToTensor, {workers} workers"] = DataLoader(
                tv, batch_size=BATCH, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
        # torchvision's fastest way to batches: its decoded uint8 tensor, indexed a batch at a time
        # (what a user who skips Dataset.__getitem__ writes), the same work as ds.batches
        tensor_epoch = iter(range(10**6))
        rows[TV_TENSOR] = lambda: _rate(lambda: _tensor_batches(tv.data, tv.targets, next(tensor_epoch)))
    for name, loader in loaders.items():
        if not name.endswith(" 0 workers"):
            _rate(lambda loader=loader: loader)  # start the workers: their epochs after the first are timed
        rows[name] = lambda loader=loader: _rate(lambda: loader)
    best = _measure(rows, rounds)
    _print("epoch of MNIST train, shuffled float32 batches of 128", best)
    loader0 = "to_torch().loader (batches, 1 per message), 0 workers"
    loader2 = f"to_torch().loader (batches, {BUNDLE} per message), 2 workers"
    tv_best = max((v for k, v in best.items() if k.startswith("torchvision MNIST + ToTensor")), default=None)
    ratios = {}
    if TV_TENSOR in best:  # not in tv_best: the goal is set against torchvision's Dataset + DataLoader
        ratios["ds.batches / torchvision's uint8 tensor batch-indexed"] = best["ds.batches (numpy float32)"] / best[TV_TENSOR]
    if tv_best:
        ratios["ds.batches / torchvision best"] = best["ds.batches (numpy float32)"] / tv_best
        ratios["to_torch batch path (best) / torchvision best"] = max(
            best["to_torch batch_sampler, 0 workers"], best["to_torch batch_sampler, 2 workers"]) / tv_best
    ratios["to_torch loader 2 workers / 0 workers"] = best[loader2] / best[loader0]
    ratios["to_torch batch_sampler 2 workers / 0 workers"] = (best["to_torch batch_sampler, 2 workers"]
                                                              / best["to_torch batch_sampler, 0 workers"])
    ratios["to_torch items 2 workers / 0 workers"] = (best["to_torch items (batch_size=128, shuffle), 2 workers"]
                                                      / best["to_torch items (batch_size=128, shuffle), 0 workers"])
    goals = {"ds.batches / torchvision best": 50.0, "to_torch loader 2 workers / 0 workers": 1.0}
    for name, value in ratios.items():
        goal = goals.get(name)
        verdict = "" if goal is None else (f"  (goal >= {goal:g}: {'met' if value >= goal else 'MISSED'})")
        print(f"  ratio {name:<52} {value:>8.2f}x{verdict}")
    return {"rates": best, "ratios": ratios}


def section_elastic(workdir: Path, rounds: int, torchvision_images: int) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader

    from mnistfamily import transforms as T

    torch.set_num_threads(1)
    ds = _mnist(workdir)
    elastic = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    rows: dict[str, Callable[[], float]] = {}
    epoch = iter(range(10**6))
    rows["ds.batches + ElasticDistortion per batch"] = lambda: _rate(
        lambda: ds.batches(BATCH, shuffle=True, seed=0, epoch=next(epoch), transform=elastic, dtype="float32"))
    tds = ds.to_torch(batch_transform=elastic)
    loaders: dict[str, Any] = {}
    for workers in (0, 2):
        loaders[f"to_torch().loader + ElasticDistortion, {workers} workers"] = tds.loader(
            BATCH, shuffle=True, seed=0, num_workers=workers, persistent_workers=workers > 0)
    limits = {}
    if installed("torchvision"):
        import torchvision
        from torchvision.transforms import v2

        transform = v2.Compose([v2.ToImage(), v2.ElasticTransform(alpha=34.0, sigma=4.0),
                                v2.ToDtype(torch.float32, scale=True)])
        tv = torchvision.datasets.MNIST(str(_torchvision_root(workdir)), train=True, download=False,
                                        transform=transform)
        for workers in (0, 2):
            name = f"torchvision v2 ElasticTransform per image, {workers} workers"
            loaders[name] = DataLoader(tv, batch_size=BATCH, shuffle=True, num_workers=workers,
                                       persistent_workers=workers > 0)
            limits[name] = torchvision_images
    for name, loader in loaders.items():
        if not name.endswith(" 0 workers"):
            _rate(lambda loader=loader: loader, limit=limits.get(name, 4096))
        rows[name] = lambda loader=loader, limit=limits.get(name): _rate(lambda: loader, limit=limit)
    best = _measure(rows, rounds)
    _print(f"epoch with elastic augmentation (torchvision rows: first {torchvision_images:,} images)", best)
    tv_best = max((v for k, v in best.items() if k.startswith("torchvision")), default=None)
    ratios = {}
    if tv_best:
        ours = max(v for k, v in best.items() if not k.startswith("torchvision"))
        ratios["mnistfamily best / torchvision v2 best"] = ours / tv_best
        ratios["ds.batches / torchvision v2 best"] = best["ds.batches + ElasticDistortion per batch"] / tv_best
        for name, value in ratios.items():
            print(f"  ratio {name:<52} {value:>8.2f}x  (goal >= 15: {'met' if value >= 15 else 'MISSED'})")
    return {"rates": best, "ratios": ratios}


_MEMORY_CHILD = """
import json, sys, numpy as np
from mnistfamily.dataset import Dataset
def hwm_kb():
    return int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])
def rss_kb():
    return int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])
images = np.load(sys.argv[1], mmap_mode='r')
labels = np.load(sys.argv[2], mmap_mode='r')
what = sys.argv[3]
if what == 'to_hf':
    import datasets, PIL.Image  # libraries' own import costs are not the conversion's
elif what.startswith('to_pandas'):
    import pandas
int(images.sum(dtype=np.uint64)); int(labels.sum())   # the arrays are read once: resident, as after training
ds = Dataset(images, labels, classes=[str(i) for i in range(62)], name='emnist-byclass-scale', split='train')
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')                                        # reset VmHWM to the current RSS
before = rss_kb()
if what == 'to_pandas':
    out = ds.to_pandas()
elif what == 'to_pandas_columns':
    out = ds.to_pandas(pixels='columns')
else:
    out = ds.to_hf()
print(json.dumps({'before_kb': before, 'peak_kb': hwm_kb(), 'rows': len(out)}))
"""


def section_memory(workdir: Path) -> dict[str, Any]:
    import numpy as np

    ds = _mnist(workdir)
    images_path, labels_path = workdir / "byclass-images.npy", workdir / "byclass-labels.npy"
    if not images_path.exists():
        images = np.lib.format.open_memmap(images_path, mode="w+", dtype=np.uint8, shape=(EMNIST_BYCLASS_ROWS, 28, 28))
        for start in range(0, EMNIST_BYCLASS_ROWS, len(ds)):
            stop = min(start + len(ds), EMNIST_BYCLASS_ROWS)
            images[start:stop] = ds.images[:stop - start]
        images.flush()
        del images
        labels = (np.arange(EMNIST_BYCLASS_ROWS) % 62).astype(np.int64)
        np.save(labels_path, labels)
    array_bytes = EMNIST_BYCLASS_ROWS * 28 * 28 + EMNIST_BYCLASS_ROWS * 8
    out: dict[str, Any] = {"array_bytes": array_bytes}
    print(f"\npeak memory at EMNIST byclass scale ({EMNIST_BYCLASS_ROWS:,} x 28 x 28 uint8 + int64 labels = "
          f"{array_bytes / 1e6:,.0f} MB)")
    wanted = [("to_pandas", "pandas"), ("to_pandas_columns", "pandas"), ("to_hf", "datasets")]
    for what, module in wanted:
        if not installed(module):
            print(f"  {what}: skipped ({module} is not installed)")
            continue
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(images_path), str(labels_path), what],
                              capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        extra = (result["peak_kb"] - result["before_kb"]) * 1024
        ratio = extra / array_bytes
        out[what] = {**result, "extra_bytes": extra, "ratio": ratio, "wall_s": wall}
        print(f"  {what:<20} peak above the loaded arrays {extra / 1e6:>8,.0f} MB = {ratio:4.2f}x the arrays "
              f"(goal <= 1.5: {'met' if ratio <= 1.5 else 'MISSED'}), {wall:5.1f} s in all")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="epoch,elastic,memory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torchvision-images", type=int, default=6400,
                        help="images per torchvision elastic round (it runs at ~1k images/s)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the prepared MNIST and the EMNIST-scale file")
    parser.add_argument("--no-json", action="store_true")
    args = parser.parse_args(argv)
    if not (realdata_dir() / "mnist-kaggle-layout" / "train-images.idx3-ubyte").is_file():
        print(f"needs the real MNIST train files in {realdata_dir() / 'mnist-kaggle-layout'} (MNISTFAMILY_REALDATA)")
        return 1
    sections = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"python {sys.version.split()[0]}, torch {installed('torch')}, torchvision {installed('torchvision')}, "
              f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
        results: dict[str, Any] = {}
        if "epoch" in sections:
            results["epoch"] = section_epoch(workdir, args.rounds)
        if "elastic" in sections:
            results["elastic"] = section_elastic(workdir, args.rounds, args.torchvision_images)
        if "memory" in sections:
            results["memory"] = section_memory(workdir)
    if not args.no_json:
        folder = BENCH_DIR / "results"
        folder.mkdir(exist_ok=True)
        path = folder / f"training-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
