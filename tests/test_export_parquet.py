"""Parquet export: layout, schema, round trip, reproducibility, atomicity, errors, memory."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import mnistfamily as mf  # noqa: E402
from mnistfamily.dataset import Dataset  # noqa: E402
from mnistfamily.outputs import (ExportError, ExportExistsError, IncompleteExportError, export,  # noqa: E402
                                read_parquet, schema_metadata)
from mnistfamily.outputs import parquet as parquet_module  # noqa: E402

SAMPLE = "mnist/sample"


@pytest.fixture
def sample() -> Dataset:
    return mf.load(SAMPLE, "test")


def files_of(folder: Path) -> dict[str, bytes]:
    """The files of an export: its dataset folder's, and its card (beside the folder, as ``card``)."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    card = folder.parent / "_mnistfamily" / f"{folder.name}.card.json"
    if card.exists():
        files["card"] = card.read_bytes()
    return files


def assert_same(a: Dataset, b: Dataset) -> None:
    assert a.images.dtype == b.images.dtype == np.uint8
    np.testing.assert_array_equal(a.images, b.images)
    assert a.labels.dtype == b.labels.dtype == np.int64
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.index, b.index)
    assert a.classes == b.classes
    assert list(a.metadata) == list(b.metadata)  # same columns, same order
    for name in a.metadata:
        assert a.metadata[name].dtype == b.metadata[name].dtype, name
        np.testing.assert_array_equal(a.metadata[name], b.metadata[name])
    assert (a.name, a.split) == (b.name, b.split)


def test_layout_and_round_trip(tmp_path, sample):
    result = export(SAMPLE, tmp_path, rows_per_shard=700)
    folder = tmp_path / "mnist--sample"
    assert result.path == f"file://{folder}"
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    # nothing but Parquet and _SUCCESS in the dataset folder: the card is beside it
    assert names == ["_SUCCESS", "split=test/part-00000-of-00003.parquet",
                     "split=test/part-00001-of-00003.parquet", "split=test/part-00002-of-00003.parquet"]
    assert (tmp_path / "_mnistfamily" / "mnist--sample.card.json").is_file()
    assert [pq.ParquetFile(folder / n).metadata.num_rows for n in names[1:]] == [700, 700, 600]
    assert result.num_rows == {"test": 2000}
    assert [u.rsplit("/", 1)[-1] for u in result.files["test"]] == [n.split("/")[1] for n in names[1:]]

    back = read_parquet(folder)
    assert list(back) == ["test"]
    assert_same(back["test"], sample)
    assert_same(read_parquet(folder / "split=test"), sample)
    assert_same(read_parquet(str(folder), splits="test")["test"], sample)
    one = read_parquet(folder / "split=test" / "part-00001-of-00003.parquet")
    np.testing.assert_array_equal(one.images, sample.images[700:1400])
    np.testing.assert_array_equal(one.index, sample.index[700:1400])


def test_read_back_needs_no_source_and_carries_the_provenance(tmp_path, sample, monkeypatch):
    export(sample, tmp_path)
    monkeypatch.setenv("MNISTFAMILY_HOME", str(tmp_path / "elsewhere"))  # no cache, no registry lookups
    back = read_parquet(tmp_path / "mnist--sample" / "split=test")
    assert_same(back, sample)
    info = back.info
    assert info is not None and sample.info is not None
    assert (info.license, info.citation, info.homepage, info.title) == (
        sample.info.license, sample.info.citation, sample.info.homepage, sample.info.title)
    assert info.classes == tuple(sample.classes) and info.image_shape == (28, 28)
    assert info.metadata_columns == tuple(sample.metadata)
    assert [f["sha256"] for f in info.files] == [f["sha256"] for f in sample.info.files]


def test_schema_types_and_metadata(tmp_path, sample):
    export(sample, tmp_path)
    shard = tmp_path / "mnist--sample" / "split=test" / "part-00000-of-00001.parquet"
    schema = pq.read_schema(shard)
    assert schema.field("index").type == pa.int64()
    assert schema.field("image").type == pa.binary(28 * 28)
    assert schema.field("label").type == pa.int8()
    assert schema.field("label_name").type == pa.dictionary(pa.int8(), pa.string())
    assert schema.names[4:] == list(sample.metadata)
    assert all(schema.field(k).type == pa.int32() for k in sample.metadata)
    meta = schema_metadata(str(shard))
    assert meta["dataset"] == SAMPLE and meta["split"] == "test" and meta["num_examples"] == 2000
    assert meta["classes"] == sample.classes and meta["image_shape"] == [28, 28]
    assert meta["image_dtype"] == "uint8" and meta["image_encoding"] == "raw"
    assert meta["license"] == sample.info.license and meta["citation"] == sample.info.citation
    assert meta["transform"] is None
    registry_files = {f["name"]: f for f in sample.info.files}
    assert meta["sources"] and all(registry_files[s["name"]] == s for s in meta["sources"])
    table = pq.read_table(shard)
    assert table.column("label_name").to_pylist()[:5] == [sample.classes[i] for i in sample.labels[:5]]
    first = np.frombuffer(table.column("image").chunk(0)[0].as_py(), np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(first, sample.images[0])


def test_card_lists_every_shard_with_its_checksum(tmp_path):
    export(SAMPLE, tmp_path, rows_per_shard=900)
    folder = tmp_path / "mnist--sample"
    card = json.loads((tmp_path / "_mnistfamily" / "mnist--sample.card.json").read_text())
    assert card["dataset"] == SAMPLE and card["classes"] == [str(i) for i in range(10)]
    shards = card["splits"]["test"]["shards"]
    assert [s["num_rows"] for s in shards] == [900, 900, 200]
    for shard in shards:
        data = (folder / shard["path"]).read_bytes()
        assert shard["size"] == len(data) and shard["sha256"] == hashlib.sha256(data).hexdigest()


def test_png_encoding_round_trips_and_is_the_struct_hugging_face_reads(tmp_path, sample):
    subset = sample.select(np.arange(300))
    export(subset, tmp_path, image_encoding="png", rows_per_shard=128)
    folder = tmp_path / "mnist--sample" / "split=test"
    assert_same(read_parquet(folder), subset)
    table = pq.read_table(folder / "part-00000-of-00003.parquet")
    assert table.schema.field("image").type == pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    assert table.schema.metadata[b"huggingface"]
    cell = table.column("image")[3].as_py()
    assert cell["path"] is None and cell["bytes"].startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image
    import io

    with Image.open(io.BytesIO(cell["bytes"])) as image:
        assert image.mode == "L" and image.info == {}  # no text, time or gamma chunks
        np.testing.assert_array_equal(np.asarray(image), subset.images[3])


@pytest.mark.parametrize("encoding", ["raw", "png"])
def test_same_input_and_options_give_byte_identical_files(tmp_path, encoding):
    kwargs = dict(rows_per_shard=800, image_encoding=encoding)
    export(SAMPLE, tmp_path / "a", **kwargs)
    export(SAMPLE, tmp_path / "b", **kwargs)
    a, b = files_of(tmp_path / "a" / "mnist--sample"), files_of(tmp_path / "b" / "mnist--sample")
    assert a == b and len(a) == 5


def test_a_selection_exports_with_its_original_positions(tmp_path, sample):
    students = sample.filter(hsf_series=4)
    assert 0 < len(students) < len(sample)
    export(students, tmp_path)
    back = read_parquet(tmp_path / "mnist--sample" / "split=test")
    assert_same(back, students)
    assert set(back.metadata["hsf_series"]) == {4}


def test_existing_export_is_kept_unless_overwrite(tmp_path, sample):
    export(SAMPLE, tmp_path, rows_per_shard=500)
    folder = tmp_path / "mnist--sample"
    before = files_of(folder)
    with pytest.raises(ExportExistsError, match="overwrite=True"):
        export(SAMPLE, tmp_path, rows_per_shard=1000)
    assert files_of(folder) == before
    export(SAMPLE, tmp_path, rows_per_shard=1000, overwrite=True)
    after = files_of(folder)
    assert sorted(k for k in after if k.endswith(".parquet")) == [
        "split=test/part-00000-of-00002.parquet", "split=test/part-00001-of-00002.parquet"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    assert_same(read_parquet(folder)["test"], sample)


def test_exporting_another_split_keeps_the_first_in_the_card(tmp_path, sample):
    export(sample, tmp_path)
    renamed = Dataset(sample.images[:10], sample.labels[:10], classes=sample.classes, index=sample.index[:10],
                      metadata={k: v[:10] for k, v in sample.metadata.items()}, name=SAMPLE, split="extra",
                      info=sample.info)
    export(renamed, tmp_path)
    back = read_parquet(tmp_path / "mnist--sample")
    assert sorted(back) == ["extra", "test"]
    assert len(back["extra"]) == 10 and len(back["test"]) == 2000


class Boom(RuntimeError):
    pass


def failing_after(count: int):
    real = parquet_module.write_shard
    calls = []

    def write_shard(task, codec=None):
        calls.append(task)
        if len(calls) > count:
            raise Boom("shard task failed midway")
        return real(task, codec)

    return write_shard


def test_a_failed_export_leaves_nothing_visible(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_module, "write_shard", failing_after(2))
    with pytest.raises(Boom, match="shard task failed midway"):
        export(SAMPLE, tmp_path, rows_per_shard=400)
    folder = tmp_path / "mnist--sample"
    assert not folder.exists() or list(folder.iterdir()) == []
    with pytest.raises(IncompleteExportError, match="nothing there"):
        read_parquet(folder)


def test_a_failed_overwrite_keeps_the_old_export(tmp_path, monkeypatch, sample):
    export(SAMPLE, tmp_path, rows_per_shard=1000)
    folder = tmp_path / "mnist--sample"
    before = files_of(folder)
    monkeypatch.setattr(parquet_module, "write_shard", failing_after(1))
    with pytest.raises(Boom, match="shard task failed midway"):
        export(SAMPLE, tmp_path, rows_per_shard=300, overwrite=True)
    assert files_of(folder) == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    assert_same(read_parquet(folder)["test"], sample)


def test_a_failure_while_committing_leaves_no_success_marker(tmp_path, monkeypatch):
    from mnistfamily.outputs import layout

    real = layout.Destination.write_bytes

    def no_card(self, path, data):
        if path.endswith(layout.CARD_SUFFIX):
            raise OSError("disk full")
        return real(self, path, data)

    monkeypatch.setattr(layout.Destination, "write_bytes", no_card)
    with pytest.raises(OSError, match="disk full"):
        export(SAMPLE, tmp_path)
    folder = tmp_path / "mnist--sample"
    assert not folder.exists()  # the export created it, so putting the destination back removes it
    assert not list(tmp_path.glob(".mnistfamily-tmp-*"))  # no staging area left
    with pytest.raises(IncompleteExportError, match="nothing there"):
        read_parquet(folder)


def test_read_back_refuses_incomplete_exports(tmp_path):
    export(SAMPLE, tmp_path, rows_per_shard=500)
    folder = tmp_path / "mnist--sample"
    (folder / "split=test" / "part-00002-of-00004.parquet").unlink()
    with pytest.raises(IncompleteExportError, match="part-00002-of-00004.parquet"):
        read_parquet(folder)
    (folder / "_SUCCESS").unlink()
    with pytest.raises(IncompleteExportError, match="_SUCCESS"):
        read_parquet(folder / "split=test")
    (tmp_path / "_mnistfamily" / "mnist--sample.card.json").unlink()
    with pytest.raises(IncompleteExportError, match="not a complete set"):
        read_parquet(folder / "split=test")
    with pytest.raises(IncompleteExportError, match="did not finish"):
        read_parquet(folder)


def test_an_empty_dataset_folder_is_an_export_that_did_not_finish(tmp_path):
    # what an export killed between creating the dataset folder and renaming its card into it leaves
    (tmp_path / "mnist--sample").mkdir()
    with pytest.raises(IncompleteExportError, match="an empty folder.*did not finish"):
        read_parquet(tmp_path / "mnist--sample")


def test_read_back_errors_name_the_problem(tmp_path):
    with pytest.raises(IncompleteExportError, match="nothing there"):
        read_parquet(tmp_path / "missing")
    export(SAMPLE, tmp_path)
    with pytest.raises(ExportError, match="pass one of those folders"):
        read_parquet(tmp_path)
    with pytest.raises(ExportError, match="no split 'train'"):
        read_parquet(tmp_path / "mnist--sample", splits=["train"])
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), plain)
    with pytest.raises(ExportError, match="not an mnistfamily export"):
        read_parquet(plain)


def test_option_errors(tmp_path, sample):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    with pytest.raises(ExportError, match="image_encoding"):
        export(sample, tmp_path, image_encoding="jpeg")
    with pytest.raises(ExportError, match="rows_per_shard"):
        export(sample, tmp_path, rows_per_shard=0)
    with pytest.raises(ExportError, match="compression"):
        export(sample, tmp_path, compression="zip")
    with pytest.raises(ExportError, match="takes no level"):
        export(sample, tmp_path, compression="snappy", compression_level=3)
    with pytest.raises(ExportError, match="load options"):
        export(sample, tmp_path, data_dir=tmp_path)
    with pytest.raises(ExportError, match="holds one split"):
        export(sample, tmp_path, splits=["train"])
    with pytest.raises(ExportError, match="no name or split"):
        export(Dataset(sample.images, sample.labels, classes=sample.classes), tmp_path)
    with pytest.raises(ExportError, match="image_dtype is 'float64'; images in an export are uint8, float32"):
        export(Dataset(sample.images.astype(np.float64), sample.labels, classes=sample.classes, name="x",
                       split="y"), tmp_path)
    with pytest.raises(ExportError, match="image_encoding 'png' holds uint8 images that are grey"):
        export(Dataset(sample.images.astype(np.float32), sample.labels, classes=sample.classes, name="x",
                       split="y"), tmp_path, image_encoding="png")
    with pytest.raises(ExportError, match="index the 10 classes"):
        export(Dataset(sample.images, sample.labels + 5, classes=sample.classes, name="x", split="y"), tmp_path)
    assert not list(tmp_path.iterdir())


def test_memory_filesystem_round_trip(sample):
    url = "memory://lake-test-round-trip"
    export(SAMPLE, url, rows_per_shard=1200)
    assert_same(read_parquet(f"{url}/mnist--sample")["test"], sample)
    import fsspec

    fs = fsspec.filesystem("memory")
    assert fs.exists("/lake-test-round-trip/mnist--sample/_SUCCESS")
    fs.rm("/lake-test-round-trip", recursive=True)


def test_empty_split_exports_one_shard_with_the_schema(tmp_path, sample):
    empty = sample.select(np.zeros(len(sample), dtype=bool))
    export(empty, tmp_path)
    back = read_parquet(tmp_path / "mnist--sample")["test"]
    assert back.images.shape == (0, 28, 28) and list(back.metadata) == list(sample.metadata)


def test_import_does_not_load_pyarrow_and_export_does_not_load_pandas(tmp_path):
    code = textwrap.dedent(f"""
        import sys, mnistfamily, mnistfamily.outputs
        print(sorted(m for m in ('pyarrow', 'fsspec', 'PIL') if m in sys.modules))
        result = mnistfamily.outputs.export("mnist/sample", {str(tmp_path)!r}, image_encoding="png")
        mnistfamily.outputs.read_parquet(result.path)
        print('pandas' in sys.modules)  # pa.array() and to_numpy() import it: 1.5 s for nothing
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "False"]


def test_other_shapes_and_column_types_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    ds = Dataset(rng.integers(0, 255, (37, 4, 5), dtype=np.uint8), np.arange(37) % 3, classes=["a", "b", "c"],
                 index=np.arange(100, 137), name="tiny/odd", split="all",
                 metadata={"flag": rng.random(37) > 0.5, "score": rng.random(37).astype(np.float32),
                           "site": np.arange(37, dtype=np.uint16)})
    result = export(ds, tmp_path, rows_per_shard=10)
    assert result.path.endswith("/tiny--odd") and len(result.files["all"]) == 4
    assert_same(read_parquet(result.path)["all"], ds)
    schema = pq.read_schema(result.files["all"][0].removeprefix("file://"))
    assert [str(schema.field(k).type) for k in ds.metadata] == ["bool", "float", "uint16"]
    assert schema.field("image").type == pa.binary(20)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memory_stays_bounded_while_exporting_a_large_memory_map(tmp_path):
    """200,000 images (157 MB) memory-mapped: the exporting process grows by a fraction of that."""
    n, path = 200_000, tmp_path / "images.npy"
    rng = np.random.default_rng(0)
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 28, 28))
    for start in range(0, n, 20_000):
        images[start:start + 20_000, 8:20, 8:20] = rng.integers(0, 255, (20_000, 12, 12), dtype=np.uint8)
    images.flush()
    del images
    script = textwrap.dedent(f"""
        import numpy as np
        from mnistfamily.dataset import Dataset
        from mnistfamily.outputs import export
        def rss(field):
            with open("/proc/self/status") as f:
                return int([l for l in f if l.startswith(field)][0].split()[1]) * 1024
        small = np.zeros((10, 28, 28), np.uint8)  # pay pyarrow's one-time costs before measuring
        export(Dataset(small, np.zeros(10, np.int64), classes=["a"], name="warm", split="up"),
               {str(tmp_path / 'warm')!r})
        images = np.load({str(path)!r}, mmap_mode="r")
        labels = np.arange({n}, dtype=np.int64) % 10
        ds = Dataset(images, labels, classes=[str(i) for i in range(10)], name="big", split="train")
        start = rss("VmHWM")
        export(ds, {str(tmp_path / 'out')!r}, rows_per_shard=100_000)
        print(rss("VmHWM") - start)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    growth = int(out.stdout.split()[-1])
    assert growth < 60e6, f"peak RSS grew by {growth / 1e6:.0f} MB for 157 MB of memory-mapped images"
    assert len(list((tmp_path / "out" / "big" / "split=train").iterdir())) == 2


@pytest.mark.realdata
def test_real_mnist_round_trip(tmp_path, realdata, cache):
    kwargs = dict(source=str(realdata / "mnist-kaggle-layout"), data_dir=cache)
    result = export("mnist", tmp_path, rows_per_shard=25_000, **kwargs)
    assert result.num_rows == {"train": 60000, "test": 10000}
    back = read_parquet(tmp_path / "mnist")
    for split in ("train", "test"):
        assert_same(back[split], mf.load("mnist", split, **kwargs))
    meta = schema_metadata(result.files["train"][0])
    assert {s["name"] for s in meta["sources"]} == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}


class Invert:
    """A transform with a spec, as mnistfamily.transforms gives every transform."""

    def __call__(self, images):
        return 255 - np.asarray(images)

    def spec(self):
        return {"name": "Invert"}


def test_the_transform_spec_goes_into_the_metadata(tmp_path, sample):
    result = export(SAMPLE, tmp_path, transform=Invert())
    meta = schema_metadata(result.files["test"][0])
    assert meta["transform"] == {"name": "Invert"}
    back = read_parquet(result.path)["test"]
    np.testing.assert_array_equal(back.images, 255 - sample.images)
    export(SAMPLE, tmp_path / "plain-function", transform=lambda images: images)
    meta = schema_metadata(str(next((tmp_path / "plain-function").rglob("*.parquet"))))
    # no "<function ... at 0x...>": an address would make every export's bytes differ
    assert meta["transform"]["repr"].endswith("test_the_transform_spec_goes_into_the_metadata.<locals>.<lambda>")


def test_mf_export_is_the_function_even_after_the_package_is_imported(tmp_path):
    import mnistfamily.outputs  # noqa: F401 - binding the package must not shadow mf.export

    assert mf.export is mnistfamily.outputs.export and mf.read_parquet is mnistfamily.outputs.read_parquet
    result = mf.export(SAMPLE, tmp_path)
    assert result.num_rows == {"test": 2000}
    assert mf.read_parquet(result.path)["test"].images.shape == (2000, 28, 28)


def test_a_dataset_named_in_another_spelling_is_exported_under_its_registry_name(tmp_path):
    lake = tmp_path / "lake"
    result = mf.export("MNIST/Sample", lake)
    assert result.path.endswith("/mnist--sample")
    assert sorted(p.name for p in lake.iterdir() if not p.name.startswith(".")) == [
        "README.md", "_mnistfamily", "mnist--sample"]
    assert [p.name for p in (lake / "_mnistfamily").iterdir()] == ["mnist--sample.card.json"]
    assert mf.read_parquet(lake / "mnist--sample")["test"].name == "mnist/sample"
