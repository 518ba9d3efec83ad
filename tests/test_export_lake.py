"""A lake as engines expect it: the dataset folder holds only Parquet, the card beside it, the lake's README,
footer metadata for Spark, the tensor encoding, exports of format version 1, a folder that is a Delta table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("pyarrow")

import pyarrow.parquet as pq  # noqa: E402

import mnistfamily as mf  # noqa: E402
from mnistfamily.dataset import Dataset  # noqa: E402
from mnistfamily.outputs import (CorruptExportError, ExportDestinationError, ExportError,  # noqa: E402
                                 ExportWarning, IncompleteExportError, export, read_parquet)
from mnistfamily.outputs.lake_card import MARKER  # noqa: E402

SAMPLE = "mnist/sample"
LEGACY = Path(__file__).parent / "data" / "export-v1"


def legacy_images() -> np.ndarray:
    """The images of the export of format version 1 in tests/data (see its README.txt)."""
    return np.random.default_rng(1).integers(0, 256, (30, 6, 5), dtype=np.uint8)


# --------------------------------------------------------------------------- layout

def test_the_dataset_folder_holds_only_parquet_and_success_the_card_is_beside_it(tmp_path):
    export(SAMPLE, tmp_path, rows_per_shard=1500)
    folder = tmp_path / "mnist--sample"
    inside = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    assert inside == ["_SUCCESS", "split=test", "split=test/part-00000-of-00002.parquet",
                      "split=test/part-00001-of-00002.parquet"]
    card = json.loads((tmp_path / "_mnistfamily" / "mnist--sample.card.json").read_text())
    assert card["format_version"] == 3 and [s["path"] for s in card["splits"]["test"]["shards"]] == inside[2:]
    # the staging area and the lock are beside the folder too, and hidden
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [
        ".README.md.lock", ".mnist--sample.lock"]


def test_a_copied_folder_without_its_card_says_where_the_card_belongs(tmp_path):
    export(SAMPLE, tmp_path / "lake")
    shutil.copytree(tmp_path / "lake" / "mnist--sample", tmp_path / "copy" / "mnist--sample")
    with pytest.raises(ExportError, match=r"no dataset card: it belongs at .*copy/_mnistfamily/mnist--sample.card.json"):
        read_parquet(tmp_path / "copy" / "mnist--sample")
    # its split folders still read, with structural checks (no checksums to compare against)
    assert len(read_parquet(tmp_path / "copy" / "mnist--sample" / "split=test")) == 2000


def test_reading_a_lake_root_names_the_exports_it_holds(tmp_path):
    export(SAMPLE, tmp_path)
    with pytest.raises(ExportError, match="It holds the export.s. mnist--sample: pass one of those folders"):
        read_parquet(tmp_path)


def test_a_file_where_the_card_folder_goes_is_a_destination_error(tmp_path):
    (tmp_path / "_mnistfamily").write_text("mine")
    with pytest.raises(ExportDestinationError, match="_mnistfamily is a file, not the folder of dataset cards"):
        export(SAMPLE, tmp_path)
    assert (tmp_path / "_mnistfamily").read_text() == "mine" and not (tmp_path / "mnist--sample").exists()


# --------------------------------------------------------------------------- exports of format version 1

def test_an_export_of_format_version_1_is_read_as_it_is(tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(LEGACY, lake)
    back = read_parquet(lake / "legacy--sample")["train"]  # the card inside the folder, checksums verified
    np.testing.assert_array_equal(back.images, legacy_images())
    assert back.classes == ["a", "b", "c"] and back.metadata["site"].tolist() == list(range(30))
    assert len(read_parquet(lake / "legacy--sample" / "split=train")) == 30
    shard = lake / "legacy--sample" / "split=train" / "part-00001-of-00002.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(CorruptExportError, match="_dataset_card.json lists|the dataset card lists"):
        read_parquet(lake / "legacy--sample")


def test_the_next_export_of_a_version_1_folder_moves_its_card_beside_it(tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(LEGACY, lake)
    ds = read_parquet(lake / "legacy--sample")["train"]
    with pytest.raises(mf.outputs.ExportExistsError, match="already exist"):  # the old card proves it ours
        export(ds, lake)
    export(ds.select(np.arange(10)), lake, overwrite=True)
    folder = lake / "legacy--sample"
    assert sorted(p.name for p in folder.iterdir()) == ["_SUCCESS", "split=train"]
    assert (lake / "_mnistfamily" / "legacy--sample.card.json").is_file()
    np.testing.assert_array_equal(read_parquet(folder)["train"].images, legacy_images()[:10])


# --------------------------------------------------------------------------- the lake's README

def front_matter(readme: Path) -> dict:
    text = readme.read_text()
    assert text.startswith("---\n") and MARKER in text
    return yaml.safe_load(text.split("---\n")[1])


def test_the_lake_readme_lists_every_complete_export_with_its_splits_and_class_names(tmp_path):
    export(SAMPLE, tmp_path)
    other = Dataset(np.zeros((5, 4, 4), np.uint8), np.array([0, 1, 0, 1, 1]), classes=["no", "yes | maybe"],
                    name="toy/flags", split="train")
    export(other, tmp_path)
    meta = front_matter(tmp_path / "README.md")
    assert [c["config_name"] for c in meta["configs"]] == ["mnist--sample", "toy--flags"]
    assert meta["configs"][1]["data_files"] == [{"split": "train", "path": "toy--flags/split=train/*.parquet"}]
    toy = meta["dataset_info"][1]
    label = next(f for f in toy["features"] if f["name"] == "label")
    assert label["dtype"] == {"class_label": {"names": {"0": "no", "1": "yes | maybe"}}}
    assert "yes \\| maybe" not in (tmp_path / "README.md").read_text()  # class names are not in the table
    # a dataset whose export did not finish is not listed
    (tmp_path / "toy--flags" / "_SUCCESS").unlink()
    export(SAMPLE, tmp_path, overwrite=True)
    assert [c["config_name"] for c in front_matter(tmp_path / "README.md")["configs"]] == ["mnist--sample"]


def test_a_readme_someone_else_wrote_is_kept_and_reported(tmp_path):
    (tmp_path / "README.md").write_text("# my lake\n")
    with pytest.warns(ExportWarning, match="README.md: kept, it was not written by mnistfamily"):
        export(SAMPLE, tmp_path)
    assert (tmp_path / "README.md").read_text() == "# my lake\n"
    assert len(read_parquet(tmp_path / "mnist--sample")["test"]) == 2000


# --------------------------------------------------------------------------- footer metadata

def test_shards_carry_sparks_schema_with_comments_the_image_shape_and_the_class_names(tmp_path):
    export(SAMPLE, tmp_path)
    shard = next((tmp_path / "mnist--sample").rglob("*.parquet"))
    spark = json.loads(pq.read_schema(shard).metadata[b"org.apache.spark.sql.parquet.row.metadata"])
    fields = {f["name"]: f for f in spark["fields"]}
    assert [f["name"] for f in spark["fields"]] == pq.read_schema(shard).names
    assert fields["label"]["type"] == "byte" and fields["label"]["metadata"]["ml_attr"] == {
        "type": "nominal", "name": "label", "vals": [str(i) for i in range(10)]}
    assert fields["image"]["metadata"]["image_shape"] == [28, 28]
    assert all(f["metadata"]["comment"] for f in spark["fields"])
    assert fields["writer_id"]["type"] == "integer"


def test_sparks_types_are_those_spark_converts_the_parquet_types_to():
    from mnistfamily.outputs.engines import spark_schema_json

    def types(columns):
        text = spark_schema_json(image_shape=(2, 2), image_encoding="tensor", classes=["a"], label_dtype="int8",
                                 metadata_columns=columns)
        return {f["name"]: f["type"] for f in json.loads(text)["fields"]} if text else None

    found = types([("u8", "|u1"), ("u64", "<u8"), ("b", "|b1"), ("f", "<f4")])
    assert found is not None
    assert (found["u8"], found["u64"], found["b"], found["f"]) == ("short", "decimal(20,0)", "boolean", "float")
    assert found["image"] == {"type": "array", "elementType": "short", "containsNull": True}
    assert types([("h", "<f2")]) is None  # Spark reads no float16: it converts the types itself


# --------------------------------------------------------------------------- the tensor encoding

def test_the_tensor_encoding_reads_back_and_pyarrow_gives_n_h_w_arrays(tmp_path):
    sample = mf.load(SAMPLE, "test")
    export(sample, tmp_path / "tensor", image_encoding="tensor", rows_per_shard=1500)
    export(sample, tmp_path / "raw", rows_per_shard=1500)
    back = read_parquet(tmp_path / "tensor" / "mnist--sample")["test"]
    np.testing.assert_array_equal(back.images, sample.images)
    np.testing.assert_array_equal(back.metadata["writer_id"], sample.metadata["writer_id"])
    table = pq.read_table(tmp_path / "tensor" / "mnist--sample" / "split=test" / "part-00000-of-00002.parquet")
    np.testing.assert_array_equal(table.column("image").combine_chunks().to_numpy_ndarray(), sample.images[:1500])
    size = {kind: sum(p.stat().st_size for p in (tmp_path / kind).rglob("*.parquet")) for kind in ("raw", "tensor")}
    assert size["tensor"] < 1.15 * size["raw"]  # dictionary-encoded pixels, not 4-byte integers


def test_a_tensor_shard_with_a_missing_image_is_refused(tmp_path):
    import pyarrow as pa

    sample = mf.load(SAMPLE, "test").select(np.arange(8))
    export(sample, tmp_path, image_encoding="tensor")
    shard = tmp_path / "mnist--sample" / "split=test" / "part-00000-of-00001.parquet"
    table = pq.read_table(shard)
    storage = table.column("image").combine_chunks().storage
    holed = pa.FixedSizeListArray.from_arrays(storage.values, type=storage.type,
                                              mask=pa.array([i == 3 for i in range(8)]))
    image = pa.ExtensionArray.from_storage(table.schema.field("image").type, holed)
    lone = tmp_path / "lone.parquet"  # outside the export: no card to hold its checksum against
    pq.write_table(table.set_column(1, table.schema.field("image"), image), lone, store_schema=True)
    with pytest.raises(CorruptExportError, match="row group 0 cannot be read .*missing examples or values"):
        read_parquet(lone)


# --------------------------------------------------------------------------- a folder that is a Delta table

@pytest.mark.filterwarnings("ignore::mnistfamily.outputs.ExportWarning")
def test_an_export_refuses_to_change_a_delta_table_without_a_delta_commit(tmp_path):
    export(SAMPLE, tmp_path)
    log = tmp_path / "mnist--sample" / "_delta_log"
    log.mkdir()
    (log / "00000000000000000000.json").write_text("{}")
    before = sorted(p.name for p in (tmp_path / "mnist--sample" / "split=test").iterdir())
    with pytest.raises(ExportDestinationError, match="is a Delta table .*Pass table='delta'"):
        export(SAMPLE, tmp_path, overwrite=True, rows_per_shard=500)
    assert sorted(p.name for p in (tmp_path / "mnist--sample" / "split=test").iterdir()) == before


@pytest.mark.parametrize("options, message", [
    (dict(table="parquet"), "table must be 'iceberg', 'delta' or None"),
    (dict(catalog={"type": "sql"}), "go with table='iceberg' or table='delta'"),
    (dict(table="delta", table_name="a.b"), "are for table='iceberg'"),
    (dict(table="iceberg"), "table='iceberg' needs catalog="),
    (dict(table="iceberg", catalog={"type": "sql"}, image_encoding="tensor"), "Iceberg has no tensor type"),
])
def test_table_options_that_do_not_go_together_are_refused_before_anything_is_written(tmp_path, options, message):
    if options.get("table") in ("iceberg", "delta"):
        pytest.importorskip("pyiceberg" if options["table"] == "iceberg" else "deltalake")
    with pytest.raises(ExportError, match=message):
        export(SAMPLE, tmp_path, **options)
    assert list(tmp_path.iterdir()) == []


def test_an_unfinished_export_beside_a_card_is_refused(tmp_path):
    export(SAMPLE, tmp_path)
    (tmp_path / "mnist--sample" / "_SUCCESS").unlink()
    with pytest.raises(IncompleteExportError, match="no _SUCCESS"):
        read_parquet(tmp_path / "mnist--sample")


def test_what_a_killed_lake_card_writer_left_is_removed_by_the_next_export(tmp_path):
    from mnistfamily import safe_write

    export(SAMPLE, tmp_path)
    area = safe_write.TempArea(tmp_path, "README.md")  # a writer of the card killed before its rename
    (area.path / "README.md").write_text("half")
    mine = tmp_path / ".mnistfamily-tmp-notours"
    mine.mkdir()
    export(SAMPLE, tmp_path, overwrite=True)  # the card itself is unchanged: nothing to write
    assert not area.path.exists() and mine.is_dir()
    again = safe_write.TempArea(tmp_path, "README.md")
    with pytest.raises(mf.outputs.ExportExistsError, match="already exist"):  # one that stops early cleans up
        export(SAMPLE, tmp_path)
    assert not again.path.exists() and mine.is_dir()
