"""Other engines read the shards for real: DuckDB, Polars, pyarrow.dataset, Hugging Face datasets."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("pyarrow")

import mnistfamily as mf  # noqa: E402
from mnistfamily.outputs import export  # noqa: E402

SAMPLE = "mnist/sample"


@pytest.fixture
def exported(tmp_path):
    ds = mf.load(SAMPLE, "test")
    export(ds, tmp_path, rows_per_shard=600)
    return ds, tmp_path / "mnist--sample"


def test_duckdb_reads_the_hive_layout(exported):
    duckdb = pytest.importorskip("duckdb")
    ds, folder = exported
    con = duckdb.connect()
    glob = f"{folder}/*/*.parquet"
    total, splits = con.execute(
        f"SELECT count(*), list(DISTINCT split) FROM read_parquet('{glob}', hive_partitioning = true)").fetchone()
    assert total == len(ds) and splits == ["test"]
    histogram = dict(con.execute(
        f"SELECT label, count(*) FROM read_parquet('{glob}') GROUP BY label ORDER BY label").fetchall())
    assert histogram == {i: int(c) for i, c in enumerate(np.bincount(ds.labels))}
    names = dict(con.execute(f"SELECT DISTINCT label, label_name FROM read_parquet('{glob}')").fetchall())
    assert names == {i: str(i) for i in range(10)}
    position = int(ds.index[1234])
    (image,) = con.execute(f"SELECT image FROM read_parquet('{glob}') WHERE index = {position}").fetchone()
    np.testing.assert_array_equal(np.frombuffer(image, np.uint8).reshape(28, 28), ds.images[1234])
    (students,) = con.execute(f"SELECT count(*) FROM read_parquet('{glob}') WHERE hsf_series = 4").fetchone()
    assert students == int(np.count_nonzero(ds.metadata["hsf_series"] == 4))


def test_polars_reads_the_hive_layout(exported):
    pl = pytest.importorskip("polars")
    ds, folder = exported
    frame = pl.scan_parquet(f"{folder}/*/*.parquet", hive_partitioning=True).collect()
    assert frame.height == len(ds)
    assert frame["split"].unique().to_list() == ["test"]
    counts = frame.group_by("label").len().sort("label")
    assert counts["len"].to_list() == np.bincount(ds.labels).tolist()
    assert frame["label_name"].cast(pl.Utf8).to_list()[:20] == [str(i) for i in ds.labels[:20]]
    assert frame["writer_id"].dtype == pl.Int32
    row = frame.filter(pl.col("index") == int(ds.index[42]))
    image = np.frombuffer(row["image"][0], np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(image, ds.images[42])


def test_pyarrow_dataset_skips_the_marker_and_the_card(exported):
    import pyarrow.dataset as pads

    ds, folder = exported
    dataset = pads.dataset(folder, format="parquet", partitioning="hive")
    assert all(f.endswith(".parquet") for f in dataset.files)
    table = dataset.to_table(columns=["index", "label", "split"])
    assert table.num_rows == len(ds) and set(table.column("split").to_pylist()) == {"test"}


def test_hugging_face_datasets_reads_png_shards_as_images(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    ds = mf.load(SAMPLE, "test").select(np.arange(250))
    export(ds, tmp_path / "out", image_encoding="png", rows_per_shard=100)
    files = sorted(str(p) for p in (tmp_path / "out" / "mnist--sample" / "split=test").glob("*.parquet"))
    hf = datasets.load_dataset("parquet", data_files={"test": files}, split="test",
                               cache_dir=str(tmp_path / "hf-cache"))
    assert isinstance(hf.features["image"], datasets.Image)
    assert len(hf) == 250
    first = hf[7]
    assert first["image"].mode == "L" and first["image"].size == (28, 28)
    np.testing.assert_array_equal(np.asarray(first["image"]), ds.images[7])
    assert first["label"] == ds.labels[7] and first["label_name"] == ds.classes[ds.labels[7]]
    assert first["index"] == ds.index[7] and first["writer_id"] == ds.metadata["writer_id"][7]
    pixels = np.stack([np.asarray(image) for image in hf[:250]["image"]])
    np.testing.assert_array_equal(pixels, ds.images)


def test_png_bytes_are_what_hugging_face_writes(tmp_path):
    """The same array gives the same PNG bytes as HF's Image feature (Pillow, default level)."""
    datasets = pytest.importorskip("datasets")
    from mnistfamily.outputs.images import encode_png

    images = mf.load(SAMPLE, "test").images[:5]
    theirs = [datasets.Image().encode_example(np.asarray(image))["bytes"] for image in images]
    assert encode_png(images) == theirs
    from PIL import Image

    assert all(Image.open(io.BytesIO(b)).format == "PNG" for b in theirs)
