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


# --------------------------------------------------------------------------- a lake as engines find it

@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A lake root holding two datasets, an unfinished export's staging area and the lock files.

    Engines are pointed at one dataset folder and must see that dataset only.
    """
    from mnistfamily import safe_write

    root = tmp_path_factory.mktemp("lake")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNISTFAMILY_HOME", str(root.parent / "cache"))
        ds = mf.load(SAMPLE, "test")
        export(ds, root, rows_per_shard=600)
        other = mf.Dataset(ds.images[:100], ds.labels[:100], classes=ds.classes, name="mnist/other", split="train")
        export(other, root)
    area = safe_write.TempArea(root, "mnist--sample")  # what an export being written (or killed) has staged
    (area.path / "split=test").mkdir()
    (area.path / "split=test" / "part-00000-of-00001.parquet").write_bytes(
        next((root / "mnist--sample" / "split=test").glob("*.parquet")).read_bytes())
    return ds, root


def test_polars_reads_a_dataset_folder_as_it_is(lake):
    pl = pytest.importorskip("polars")
    ds, root = lake
    frame = pl.scan_parquet(root / "mnist--sample").collect()  # a folder: Hive partitions found, _SUCCESS skipped
    assert frame.height == len(ds) and frame["split"].unique().to_list() == ["test"]
    assert sorted(frame["index"].to_list()) == sorted(ds.index.tolist())


def test_duckdb_reads_a_dataset_folder_and_not_what_is_staged_beside_it(lake):
    duckdb = pytest.importorskip("duckdb")
    ds, root = lake
    rows = duckdb.sql(f"SELECT split, count(*) FROM read_parquet('{root}/mnist--sample/**/*.parquet', "
                      "hive_partitioning = true) GROUP BY ALL").fetchall()
    assert rows == [("test", len(ds))]


def test_pyarrow_dataset_reads_a_dataset_folder_with_hive_partitioning(lake):
    import pyarrow.dataset as pads

    ds, root = lake
    table = pads.dataset(root / "mnist--sample", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(ds) and set(table.column("split").to_pylist()) == {"test"}


def hf_load(tmp_path, monkeypatch, *args, **kwargs):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    return datasets, datasets.load_dataset(*args, cache_dir=str(tmp_path / "hf-cache"), **kwargs)


def test_hugging_face_loads_a_dataset_of_the_lake_by_its_config_with_split_names_and_class_labels(
        lake, tmp_path, monkeypatch):
    ds, root = lake
    datasets, loaded = hf_load(tmp_path, monkeypatch, str(root), "mnist--sample")
    assert list(loaded) == ["test"]
    test = loaded["test"]
    assert isinstance(test.features["label"], datasets.ClassLabel)
    assert test.features["label"].names == ds.classes
    order = np.argsort(np.asarray(test["index"]))
    np.testing.assert_array_equal(np.asarray(test["label"])[order], ds.labels[np.argsort(ds.index)])
    first = test[int(order[0])]
    np.testing.assert_array_equal(np.frombuffer(first["image"], np.uint8).reshape(28, 28),
                                  ds.images[int(np.argsort(ds.index)[0])])
    _, other = hf_load(tmp_path, monkeypatch, str(root), "mnist--other")
    assert list(other) == ["train"] and len(other["train"]) == 100


def test_hugging_face_loads_png_exports_as_images_with_class_labels(tmp_path, monkeypatch):
    ds = mf.load(SAMPLE, "test").select(np.arange(120))
    export(ds, tmp_path / "lake", image_encoding="png", rows_per_shard=50)
    datasets, loaded = hf_load(tmp_path, monkeypatch, str(tmp_path / "lake"), "mnist--sample")
    test = loaded["test"]
    assert isinstance(test.features["image"], datasets.Image) and isinstance(test.features["label"], datasets.ClassLabel)
    np.testing.assert_array_equal(np.stack([np.asarray(im) for im in test["image"]]), ds.images)
    assert test["label"] == ds.labels.tolist()


@pytest.fixture(scope="module")
def ray_data():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    # one CPU, no dashboard; the node's address is loopback (no lookup of the machine's address)
    ray.init(num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    try:
        yield ray.data
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_data_reads_the_tensor_encoding_as_n_h_w_uint8_arrays(ray_data, lake, tmp_path):
    ds, root = lake
    raw = ray_data.read_parquet(str(root / "mnist--sample"))
    assert raw.count() == len(ds)
    export(ds, tmp_path, image_encoding="tensor", rows_per_shard=700)
    batches = list(ray_data.read_parquet(str(tmp_path / "mnist--sample")).iter_batches(
        batch_size=None, batch_format="numpy"))
    images = np.concatenate([b["image"] for b in batches])
    index = np.concatenate([b["index"] for b in batches])
    assert images.dtype == np.uint8 and images.shape == (len(ds), 28, 28)
    np.testing.assert_array_equal(images[np.argsort(index)], ds.images[np.argsort(ds.index)])
    assert set(np.concatenate([b["split"] for b in batches])) == {"test"}


def test_the_docs_hugging_face_example_runs(tmp_path, monkeypatch, docs_example):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    export(SAMPLE, tmp_path / "lake")
    export(SAMPLE, tmp_path / "lake-png", image_encoding="png")
    found = docs_example("datasets", tmp_path)
    assert found["png"][0]["image"].size == (28, 28) and len(found["splits"]["test"]) == 2000


@pytest.mark.slow
def test_the_docs_ray_example_runs(ray_data, tmp_path, docs_example):
    found = docs_example("ray", tmp_path, export=export, np=np)
    assert found["batch"]["image"].shape == (256, 28, 28)
