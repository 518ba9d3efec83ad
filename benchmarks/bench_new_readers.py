"""Time and peak memory of the HASYv2, AudioMNIST and 3D MNIST readers on full-size synthetic files.

    python benchmarks/bench_new_readers.py                      # all three, full size (~3 min, 1 GB of disk)
    python benchmarks/bench_new_readers.py --only hasy --hasy-images 20000
    python benchmarks/bench_new_readers.py --recordings 3000    # AudioMNIST at a tenth of its size

The inputs are written in the exact published layouts by the miniature writers of
``mnistfamily.testing`` at the published sizes (HASYv2: 168,233 grey PNGs of dark strokes on
white in a ``.tar.bz2``, in both member orders, so the second pass is measured too; AudioMNIST: 30,000 16-bit 48 kHz recordings
of 0.4 to 1 s, 1.8 GB on disk, a ``--recordings`` subset by default; 3D MNIST: 10,000 x 4096
float64 rows). Each read runs in a fresh process into the cache's own writer
(``prepare.cache.EntryWriter``: ``.npy`` files in a temporary area, images memory-mapped), and
reports its wall time, the process's peak resident set (``VmHWM``, which counts the memory-mapped output it wrote), next
to the size of the arrays written and the resident floor of ``import numpy, PIL`` (``--heap`` adds
the Python heap's peak, from tracemalloc, which slows the reads several times). AudioMNIST's
row adds ``audiomnist_8k`` (resampling to 8 kHz and padding) over the recordings read.
Nothing is asserted; the figures are printed and written to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, fmt_mb, fmt_s, save_results, spawn, table  # noqa: E402

_CHILD = """
import json, sys, time, tracemalloc
sys.path.insert(0, {repo!r})
from pathlib import Path
from mnistfamily.prepare.cache import EntryWriter
if {heap!r}:
    tracemalloc.start()
start = time.perf_counter()
with EntryWriter(Path({entry!r})) as sink:
{body}
    elapsed = time.perf_counter() - start
    written = sum(p.stat().st_size for p in sink.tmp.glob("*.npy"))
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({{"seconds": elapsed, "heap_peak": peak, "written": written, **extra}}))
"""


#: trace the heap too (tracemalloc slows allocation-heavy readers several times: times are then not comparable)
HEAP = False


def _run(body: str, work: Path) -> dict:
    entry = work / "entry"
    code = _CHILD.format(repo=str(REPO), entry=str(entry), body=body, heap=HEAP)
    result = spawn(code)
    shutil.rmtree(entry, ignore_errors=True)
    return {**json.loads(result["stdout"].strip().splitlines()[-1]), "rss_peak": result["maxrss"],
            "wall": result["wall"]}


def _floor() -> int:
    return spawn("import numpy, PIL.Image, PIL.PngImagePlugin")["maxrss"]


def bench_hasy(work: Path, images: int) -> list[dict]:
    from mnistfamily.testing.mini_hasy import hasy_archive

    rows = []
    for order in ("texts-first", "pngs-first"):
        start = time.perf_counter()
        # grey strokes on white, as the published images: their PNGs compress as the real ones do
        data, _ = hasy_archive(seed=0, count=images, order=order, modes=("L",), content="strokes")
        path = work / f"hasy-{order}.tar.bz2"
        path.write_bytes(data)
        made = time.perf_counter() - start
        del data
        body = (f"    from mnistfamily.formats.hasy import read_hasy\n"
                f"    result = read_hasy({str(path)!r}, sink)\n"
                f"    extra = {{'passes': sink.report['archive_passes'], 'n': result.num_examples}}")
        row = _run(body, work)
        rows.append({"case": f"hasy {order}", "input": path.stat().st_size, "made_in": made, **row})
        path.unlink()
    return rows


def bench_audiomnist(work: Path, recordings: int) -> list[dict]:
    from mnistfamily.testing.mini_audiomnist import write_audiomnist

    speakers = max(1, min(60, recordings // 500))
    repetitions = max(1, min(50, recordings // (10 * speakers)))
    start = time.perf_counter()
    folder = work / "audiomnist"
    write_audiomnist(folder, speakers=tuple(range(1, speakers + 1)), digits=tuple(range(10)),
                     repetitions=repetitions, lengths=(19_200, 48_000))
    made = time.perf_counter() - start
    size = sum(p.stat().st_size for p in (folder / "data").rglob("*.wav"))
    body = (f"    from mnistfamily.formats.audiomnist import read_audiomnist, recording_files\n"
            f"    data = Path({str(folder / 'data')!r})\n"
            f"    result = read_audiomnist(recording_files(data), data / 'audioMNIST_meta.txt', sink)\n"
            f"    extra = {{'n': result.num_examples}}")
    read = _run(body, work)
    transform = (f"    import numpy as np\n"
                 f"    from mnistfamily.formats.audiomnist import read_audiomnist, recording_files\n"
                 f"    from mnistfamily.formats.sink import MemorySink\n"
                 f"    from mnistfamily.transforms.signals import audiomnist_8k\n"
                 f"    data = Path({str(folder / 'data')!r})\n"
                 f"    memory = MemorySink()\n"
                 f"    read_audiomnist(recording_files(data), data / 'audioMNIST_meta.txt', memory)\n"
                 f"    t0 = time.perf_counter()\n"
                 f"    out = audiomnist_8k(memory.arrays['samples'], memory.arrays['offsets'])\n"
                 f"    sink.save('images', out)\n"
                 f"    extra = {{'n': len(out), 'transform_seconds': time.perf_counter() - t0}}")
    eight = _run(transform, work)
    shutil.rmtree(folder)
    return [{"case": f"audiomnist read ({read['n']:,} recordings)", "input": size, "made_in": made, **read},
            {"case": "audiomnist read + audiomnist_8k", "input": size, "made_in": made, **eight}]


def bench_mnist3d(work: Path, rows: int) -> list[dict]:
    try:
        import h5py  # noqa: F401
    except ImportError:
        print("3D MNIST skipped: h5py is not installed (pip install h5py)")
        return []
    from mnistfamily.testing.mini_mnist3d import write_mnist3d

    path = work / "full_dataset_vectors.h5"
    start = time.perf_counter()
    write_mnist3d(path, train=rows, test=rows // 5)
    made = time.perf_counter() - start
    body = (f"    from mnistfamily.formats.mnist3d import read_mnist3d\n"
            f"    result = read_mnist3d({str(path)!r}, sink, split='train')\n"
            f"    extra = {{'n': result.num_examples}}")
    row = _run(body, work)
    out = [{"case": f"3d-mnist train ({rows:,} rows)", "input": path.stat().st_size, "made_in": made, **row}]
    path.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="hasy,audiomnist,mnist3d")
    parser.add_argument("--hasy-images", type=int, default=168_233)
    parser.add_argument("--recordings", type=int, default=3_000, help="AudioMNIST recordings (30,000 published)")
    parser.add_argument("--rows", type=int, default=10_000, help="3D MNIST train rows")
    parser.add_argument("--heap", action="store_true", help="also trace the Python heap's peak (slows the reads)")
    args = parser.parse_args(argv)
    global HEAP
    HEAP = args.heap
    chosen = set(args.only.split(","))
    floor = _floor()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-new-readers-") as folder:
        work = Path(folder)
        if "hasy" in chosen:
            rows += bench_hasy(work, args.hasy_images)
        if "audiomnist" in chosen:
            rows += bench_audiomnist(work, args.recordings)
        if "mnist3d" in chosen:
            rows += bench_mnist3d(work, args.rows)
    print(table(["case", "input", "written", "read", "heap peak", "peak RSS", "RSS - floor", "(RSS-floor)/written"],
                [[r["case"], fmt_mb(r["input"]), fmt_mb(r["written"]), fmt_s(r["seconds"]), fmt_mb(r["heap_peak"]) if r["heap_peak"] else "-",
                  fmt_mb(r["rss_peak"]), fmt_mb(r["rss_peak"] - floor),
                  f"{(r['rss_peak'] - floor) / max(r['written'], 1):.2f}"] for r in rows],
                title=f"new readers (resident floor of import numpy, PIL: {fmt_mb(floor)})"))
    for r in rows:
        if "transform_seconds" in r:
            print(f"audiomnist_8k over {r['n']:,} recordings: {fmt_s(r['transform_seconds'])}")
    save_results("new_readers", {"floor": floor, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
