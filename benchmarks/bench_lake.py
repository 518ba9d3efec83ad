"""Lake benchmarks at EMNIST byclass scale: table registration against the export, read-back per engine.

    python benchmarks/bench_lake.py                       # every engine that is installed
    python benchmarks/bench_lake.py --engines pyarrow,polars,duckdb --rounds 3

EMNIST byclass has 697,932 train and 116,323 test images of 28x28 in 62 classes. Its files are not
in the realdata folder, so the arrays are MNIST train (real digits, from ``$MNISTFAMILY_REALDATA``)
tiled to that shape, labels 0-9 of the 62 classes; with no real MNIST either, random pixels of the
same shape (the report says which). Then, in this process (imports excluded from every timing):

export    ``export`` of both splits, raw (``fixed_size_binary``, zstd 1), 100,000 rows per shard.
register  ``register_iceberg`` (SQL catalog on sqlite) and ``register_delta`` of that export, without
          and with ``verify`` (sha256 of every shard against the card); and ``export(..., table=...)``
          end to end. Registration writes table metadata only: no data file is read (without
          verify) or written, so it should take a small fraction of the export's time. A
          registration of a 10-row export runs first, untimed (imports, the catalog's first
          connection).
read      The train split (697,932 rows, 547 MB of pixels) read back by each engine into memory:
          ``read_parquet`` (to a uint8 array, checksums verified), pyarrow ``dataset`` (Hive),
          Polars ``scan_parquet`` of the folder, DuckDB ``read_parquet`` (to Arrow), pyiceberg
          and deltalake (the registered tables, to Arrow), Spark (a full scan summing the image
          lengths), Ray Data (the tensor export, to numpy batches) and Hugging Face ``datasets``
          (``load_dataset(lake, config)``: it converts to its own Arrow cache first, timed cold).
          Throughput is rows and pixel MB per second, best of ``--rounds``.

Figures go to stdout and ``benchmarks/results/bench_lake.json``. No assert on a time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common as c

TRAIN, TEST = 697_932, 116_323
ENGINES = ("read_parquet", "pyarrow", "polars", "duckdb", "iceberg", "delta", "spark", "ray", "datasets")


def byclass_arrays() -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str]:
    """Arrays of EMNIST byclass's shape: MNIST train tiled when the real files are there, else random."""
    source = c.realdata_dir() / "mnist-kaggle-layout"
    if (source / "train-images.idx3-ubyte").exists():
        import mnistfamily as mf

        mnist = mf.load("mnist", "train", source=source, data_dir=tempfile.mkdtemp(prefix="bench-lake-cache-"))
        images, labels, what = np.asarray(mnist.images), np.asarray(mnist.labels), "MNIST train tiled"
    else:
        rng = np.random.default_rng(0)
        images, labels, what = rng.integers(0, 256, (60_000, 28, 28), np.uint8), rng.integers(0, 62, 60_000), \
            "random pixels (no real MNIST found)"
    out = {}
    for split, rows in (("train", TRAIN), ("test", TEST)):
        take = np.arange(rows) % len(images)
        out[split] = (images[take], labels[take])
    return out, what


def best_of(rounds: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-lake-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update({"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(work / "hf-home")})
    print(c.describe_environment())
    for name in ("pyarrow", "polars", "duckdb", "pyiceberg", "deltalake", "pyspark", "ray", "datasets"):
        print(f"  {name} {c.installed(name)}")
    try:
        payload = run(work, engines, args.rounds)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nresults: {c.save_results('bench_lake', payload)}")
    return 0


def run(work: Path, engines: list[str], rounds: int) -> dict:
    from mnistfamily.dataset import Dataset
    from mnistfamily.outputs import export, read_parquet, register_delta, register_iceberg

    arrays, what = byclass_arrays()
    classes = [str(i) for i in range(62)]
    splits = {s: Dataset(im, lab, classes=classes, name="emnist/byclass", split=s) for s, (im, lab) in arrays.items()}
    print(f"\narrays: {what}; train {TRAIN:,}, test {TEST:,} images of 28x28")
    lake, folder = work / "lake", work / "lake" / "emnist--byclass"
    payload: dict = {"arrays": what, "rows": {"train": TRAIN, "test": TEST}}

    def export_both(dest: Path, **options) -> None:
        for ds in splits.values():
            export(ds, dest, overwrite=True, **options)

    seconds, _ = best_of(1, lambda: export_both(lake))
    size = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    rows = [["export (both splits, raw)", c.fmt_s(seconds), "-"]]
    payload["export"] = {"seconds": seconds, "bytes": size}
    catalog = {"type": "sql", "uri": f"sqlite:///{work}/catalog.db", "warehouse": f"file://{work}/warehouse"}
    registration: dict = {}
    warm = Dataset(arrays["test"][0][:10], arrays["test"][1][:10], classes=classes, name="warm/up", split="test")
    if "iceberg" in engines and c.installed("pyiceberg"):  # imports and the catalog's first connection: untimed
        export(warm, work / "warm", overwrite=True)
        register_iceberg(work / "warm" / "warm--up", catalog=catalog)
    if "delta" in engines and c.installed("deltalake"):
        export(warm, work / "warm-delta", overwrite=True)
        register_delta(work / "warm-delta" / "warm--up")
    if "iceberg" in engines and c.installed("pyiceberg"):
        for verify in (False, True):
            t, _ = best_of(1, lambda: register_iceberg(folder, catalog=catalog, verify=verify))
            registration[f"iceberg verify={verify}"] = t
    if "delta" in engines and c.installed("deltalake"):
        delta_lake = work / "lake-delta"
        shutil.copytree(lake, delta_lake)
        for verify in (False, True):
            t, _ = best_of(1, lambda: register_delta(delta_lake / "emnist--byclass", verify=verify))
            registration[f"delta verify={verify}"] = t
        t, _ = best_of(1, lambda: export_both(work / "lake-delta-e2e", table="delta"))
        registration["export(table='delta'), both splits"] = t
    for name, t in registration.items():
        rows.append([f"register: {name}", c.fmt_s(t), f"{100 * t / seconds:.1f} %"])
    payload["register"] = registration
    print(c.table(["EMNIST byclass scale", "time", "of the export"], rows,
                  title=f"export and registration ({c.fmt_mb(size)} of Parquet)"))
    payload["read"] = read_back(work, lake, folder, engines, rounds, splits, catalog)
    return payload


def read_back(work: Path, lake: Path, folder: Path, engines: list[str], rounds: int, splits, catalog) -> dict:
    from mnistfamily.outputs import export, read_parquet

    pixels = TRAIN * 784
    readers = {}
    train = str(folder / "split=train")
    if "read_parquet" in engines:
        readers["mnistfamily read_parquet (verify=True)"] = lambda: read_parquet(train).images.shape[0]
    if "pyarrow" in engines:
        import pyarrow.dataset as pads

        readers["pyarrow dataset (hive)"] = lambda: pads.dataset(
            str(folder), format="parquet", partitioning="hive").to_table(filter=pads.field("split") == "train").num_rows
    if "polars" in engines and c.installed("polars"):
        import polars as pl

        readers["Polars scan_parquet(folder)"] = lambda: pl.scan_parquet(str(folder)).filter(
            pl.col("split") == "train").collect().height
    if "duckdb" in engines and c.installed("duckdb"):
        import duckdb

        readers["DuckDB read_parquet -> Arrow"] = lambda: duckdb.sql(
            f"SELECT * FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true) "
            "WHERE split = 'train'").to_arrow_table().num_rows
    if "iceberg" in engines and c.installed("pyiceberg"):
        from pyiceberg.catalog import load_catalog

        table = load_catalog("mnistfamily", **catalog).load_table("mnistfamily.emnist__byclass")
        readers["pyiceberg scan -> Arrow"] = lambda: table.scan(row_filter="split == 'train'").to_arrow().num_rows
    if "delta" in engines and c.installed("deltalake"):
        import deltalake

        delta = str(work / "lake-delta" / "emnist--byclass")
        readers["deltalake -> Arrow"] = lambda: deltalake.DeltaTable(delta).to_pyarrow_table(
            filters=[("split", "=", "train")]).num_rows
    out: dict = {}
    rows = []
    for name, fn in readers.items():
        seconds, count = best_of(rounds, fn)
        assert count == TRAIN, (name, count)
        out[name] = seconds
        rows.append([name, c.fmt_s(seconds), f"{TRAIN / seconds / 1e6:5.2f} M rows/s",
                     f"{pixels / seconds / 1e6:7.0f} MB/s"])
    if "spark" in engines and c.installed("pyspark") and shutil.which("java"):
        seconds = spark_scan(folder, rounds)
        out["Spark full scan"] = seconds
        rows.append(["Spark (local[2]) sum(length(image))", c.fmt_s(seconds), f"{TRAIN / seconds / 1e6:5.2f} M rows/s",
                     f"{pixels / seconds / 1e6:7.0f} MB/s"])
    if "ray" in engines and c.installed("ray"):
        for ds in splits.values():
            export(ds, work / "lake-tensor", image_encoding="tensor", overwrite=True)
        seconds = ray_scan(work / "lake-tensor" / "emnist--byclass" / "split=train", rounds)
        out["Ray Data tensor -> numpy"] = seconds
        rows.append(["Ray Data (tensor) -> numpy batches", c.fmt_s(seconds), f"{TRAIN / seconds / 1e6:5.2f} M rows/s",
                     f"{pixels / seconds / 1e6:7.0f} MB/s"])
    if "datasets" in engines and c.installed("datasets"):
        import datasets

        start = time.perf_counter()
        loaded = datasets.load_dataset(str(lake), "emnist--byclass", split="train", cache_dir=str(work / "hf-cache"))
        seconds = time.perf_counter() - start
        assert len(loaded) == TRAIN
        out["datasets load_dataset (cold)"] = seconds
        rows.append(["HF load_dataset(lake, config), cold", c.fmt_s(seconds), f"{TRAIN / seconds / 1e6:5.2f} M rows/s",
                     f"{pixels / seconds / 1e6:7.0f} MB/s"])
    print(c.table(["train split (697,932 rows) ->", "best", "rows", "pixels"], rows,
                  title=f"read-back per engine (best of {rounds}; in memory)"))
    return out


def spark_scan(folder: Path, rounds: int) -> float:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession, functions

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        frame = spark.read.parquet(str(folder)).filter("split = 'train'")
        seconds, total = best_of(rounds, lambda: frame.agg(functions.sum(functions.length("image"))).first()[0])
        assert total == TRAIN * 784
        return seconds
    finally:
        spark.stop()


def ray_scan(folder: Path, rounds: int) -> float:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    try:
        def scan() -> int:
            n = 0
            for batch in ray.data.read_parquet(str(folder)).iter_batches(batch_size=65_536, batch_format="numpy"):
                assert batch["image"].shape[1:] == (28, 28)
                n += len(batch["image"])
            return n

        seconds, count = best_of(rounds, scan)
        assert count == TRAIN
        return seconds
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
