"""Exports registered as Iceberg and Delta tables in place: the shards are the tables' files, never rewritten.

Read back through pyiceberg, deltalake and DuckDB, the tables equal the arrays. An overwrite is a new
snapshot (Iceberg) or new commits (Delta); a registration that fails leaves the export complete.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pyarrow")

import mnistfamily as mf  # noqa: E402
from mnistfamily.outputs import (ExportError, TableRegistrationError, export, read_parquet,  # noqa: E402
                                 register_delta, register_iceberg)

SAMPLE = "mnist/sample"


@pytest.fixture
def catalog(tmp_path):
    """A pyiceberg SQL catalog on sqlite, its warehouse in tmp_path (as properties: export loads it)."""
    pytest.importorskip("pyiceberg")
    return {"name": "lake", "type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db",
            "warehouse": f"file://{tmp_path}/warehouse"}


def iceberg_table(catalog, name="mnistfamily.mnist__sample"):
    from pyiceberg.catalog import load_catalog

    properties = dict(catalog)
    return load_catalog(properties.pop("name"), **properties).load_table(name)


def by_index(images, index):
    return np.asarray(images)[np.argsort(np.asarray(index))]


def pixels(column) -> np.ndarray:
    return np.stack([np.frombuffer(b, np.uint8).reshape(28, 28) for b in column.to_pylist()])


def test_iceberg_registration_partitions_by_split_and_reads_back_equal(tmp_path, catalog):
    sample = mf.load(SAMPLE, "test")
    result = export(SAMPLE, tmp_path / "lake", rows_per_shard=700, table="iceberg", catalog=catalog)
    assert result.table == "mnistfamily.mnist__sample"
    folder = tmp_path / "lake" / "mnist--sample"
    assert sorted(p.name for p in folder.iterdir()) == ["_SUCCESS", "split=test"]  # metadata is in the warehouse
    table = iceberg_table(catalog)
    scan = table.scan(row_filter="split == 'test'")
    assert sorted(t.file.file_path for t in scan.plan_files()) == sorted(result.files["test"])
    arrow = scan.to_arrow()
    assert arrow.num_rows == len(sample) and set(arrow.column("split").to_pylist()) == {"test"}
    np.testing.assert_array_equal(by_index(pixels(arrow.column("image")), arrow.column("index")),
                                  by_index(sample.images, sample.index))
    assert list(table.scan(row_filter="split == 'train'").plan_files()) == []  # pruned by the partition
    duckdb = pytest.importorskip("duckdb")
    connection = duckdb.connect()
    table.scan(row_filter="split == 'test'").to_duckdb("mnist", connection=connection)
    counts = dict(connection.sql("SELECT label, count(*) FROM mnist GROUP BY ALL").fetchall())
    assert counts == {i: int(n) for i, n in enumerate(np.bincount(sample.labels))}


def test_an_iceberg_overwrite_is_a_new_snapshot_of_the_new_files(tmp_path, catalog):
    sample = mf.load(SAMPLE, "test")
    export(SAMPLE, tmp_path, rows_per_shard=700, table="iceberg", catalog=catalog)
    subset = sample.select(np.arange(0, 2000, 2))
    export(subset, tmp_path, rows_per_shard=700, table="iceberg", catalog=catalog, overwrite=True)  # same names
    table = iceberg_table(catalog)
    assert len(table.snapshots()) == 2
    arrow = table.scan().to_arrow()
    assert arrow.num_rows == 1000
    np.testing.assert_array_equal(by_index(pixels(arrow.column("image")), arrow.column("index")),
                                  by_index(subset.images, subset.index))
    summary = table.current_snapshot().summary
    assert summary["mnistfamily.dataset"] == SAMPLE and summary["deleted-data-files"] == "3"


def test_register_iceberg_registers_an_existing_export_and_refuses_a_changed_shard(tmp_path, catalog):
    export(SAMPLE, tmp_path)
    folder = tmp_path / "mnist--sample"
    assert register_iceberg(folder, catalog=catalog, table_name="lake.digits") == "lake.digits"
    assert iceberg_table(catalog, "lake.digits").scan().to_arrow().num_rows == 2000
    shard = next(folder.rglob("*.parquet"))
    data = bytearray(shard.read_bytes())
    data[100] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(TableRegistrationError, match="its sha256 is .*it changed after the export"):
        register_iceberg(folder, catalog=catalog, table_name="lake.digits")


def test_an_iceberg_table_of_another_folder_is_not_taken_over(tmp_path, catalog):
    export(SAMPLE, tmp_path / "one", table="iceberg", catalog=catalog)
    with pytest.raises(TableRegistrationError, match="already exists and holds the export .*one/mnist--sample"):
        export(SAMPLE, tmp_path / "two", table="iceberg", catalog=catalog)
    assert not (tmp_path / "two" / "mnist--sample").exists()  # checked before anything was written


def test_a_failed_registration_leaves_the_export_complete_and_says_how_to_register_it(tmp_path, catalog,
                                                                                     monkeypatch):
    from mnistfamily.outputs import iceberg

    def broken(*args, **kwargs):
        raise ConnectionError("catalog unreachable")

    monkeypatch.setattr(iceberg, "_live_data_files", broken)
    with pytest.raises(TableRegistrationError, match="the export is complete .*ConnectionError: catalog unreachable"
                                                     ".*register_iceberg"):
        export(SAMPLE, tmp_path, table="iceberg", catalog=catalog)
    assert len(read_parquet(tmp_path / "mnist--sample")["test"]) == 2000
    monkeypatch.undo()
    register_iceberg(tmp_path / "mnist--sample", catalog=catalog)
    assert iceberg_table(catalog).scan().to_arrow().num_rows == 2000


def test_a_catalog_pyiceberg_cannot_load_is_a_library_error(tmp_path):
    pytest.importorskip("pyiceberg")
    with pytest.raises(ExportError, match="pyiceberg cannot load it .*Pass a pyiceberg Catalog"):
        export(SAMPLE, tmp_path, table="iceberg", catalog={"type": "no-such-catalog", "secret": "hunter2"})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError, match="pyiceberg cannot load it") as caught:
        export(SAMPLE, tmp_path, table="iceberg", catalog={"type": "no-such-catalog", "secret": "hunter2"})
    assert "hunter2" not in str(caught.value) and "'secret': ..." in str(caught.value)


# --------------------------------------------------------------------------- Delta

def delta_log(folder):
    return [json.loads(line) for path in sorted((folder / "_delta_log").glob("*.json"))
            for line in path.read_text().splitlines()]


def test_delta_registration_writes_the_log_in_place_and_reads_back_equal(tmp_path):
    deltalake = pytest.importorskip("deltalake")
    sample = mf.load(SAMPLE, "test")
    result = export(SAMPLE, tmp_path, rows_per_shard=700, table="delta")
    folder = tmp_path / "mnist--sample"
    assert result.table == result.path
    adds = [a["add"] for a in delta_log(folder) if "add" in a]
    assert sorted(a["path"] for a in adds) == sorted(f"split=test/{u.rsplit('/', 1)[1]}" for u in result.files["test"])
    assert {a["partitionValues"]["split"] for a in adds} == {"test"}
    table = deltalake.DeltaTable(result.path).to_pyarrow_table(filters=[("split", "=", "test")])
    np.testing.assert_array_equal(by_index(pixels(table.column("image")), table.column("index")),
                                  by_index(sample.images, sample.index))
    duckdb = pytest.importorskip("duckdb")
    files = deltalake.DeltaTable(result.path).to_pyarrow_dataset()  # noqa: F841 - DuckDB reads it by name
    assert duckdb.sql("SELECT count(*) FROM files WHERE split = 'test'").fetchall() == [(2000,)]
    assert len(read_parquet(folder)["test"]) == 2000  # read_parquet ignores the log


def test_a_delta_overwrite_commits_the_replaced_files(tmp_path):
    deltalake = pytest.importorskip("deltalake")
    sample = mf.load(SAMPLE, "test")
    export(SAMPLE, tmp_path, rows_per_shard=700, table="delta")
    subset = sample.select(np.arange(1000, 2000))
    export(subset, tmp_path, rows_per_shard=400, table="delta", overwrite=True)  # same names, other bytes
    folder = tmp_path / "mnist--sample"
    table = deltalake.DeltaTable(str(folder))
    assert table.version() == 2  # remove the three old files, then add the three new ones
    arrow = table.to_pyarrow_table()
    np.testing.assert_array_equal(by_index(pixels(arrow.column("image")), arrow.column("index")),
                                  by_index(subset.images, subset.index))
    last = [json.loads(line) for line in (folder / "_delta_log" / "00000000000000000002.json").read_text().splitlines()]
    sizes = {a["add"]["path"]: a["add"]["size"] for a in last if "add" in a}
    assert sizes == {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*.parquet")}
    polars = pytest.importorskip("polars")
    assert polars.scan_delta(str(folder)).select(polars.len()).collect().item() == 1000


def test_delta_with_the_tensor_encoding_gives_the_pixels_as_integers(tmp_path):
    deltalake = pytest.importorskip("deltalake")
    sample = mf.load(SAMPLE, "test").select(np.arange(300))
    export(sample, tmp_path, image_encoding="tensor", table="delta")
    arrow = deltalake.DeltaTable(str(tmp_path / "mnist--sample")).to_pyarrow_table()
    images = np.array(arrow.column("image").to_pylist(), dtype=np.uint8).reshape(-1, 28, 28)
    np.testing.assert_array_equal(by_index(images, arrow.column("index")), by_index(sample.images, sample.index))


def test_the_docs_table_examples_run(tmp_path, docs_example):
    for module in ("pyiceberg", "deltalake", "duckdb", "polars"):
        pytest.importorskip(module)
    found = docs_example("tables-export", tmp_path, export=export)
    assert found["result"].table == "mnistfamily.mnist__sample"
    found = docs_example("tables", tmp_path, catalog=found["catalog"])
    assert found["test"].num_rows == 2000


def test_the_command_line_exports_a_delta_table_and_an_iceberg_one(tmp_path, capsys):
    pytest.importorskip("deltalake")
    pytest.importorskip("pyiceberg")
    from mnistfamily.cli import main

    assert main(["export", SAMPLE, str(tmp_path / "delta"), "--table", "delta", "--image-encoding", "tensor"]) == 0
    assert (tmp_path / "delta" / "mnist--sample" / "_delta_log" / "00000000000000000000.json").is_file()
    assert main(["export", SAMPLE, str(tmp_path / "iceberg"), "--table", "iceberg", "--table-name", "lake.digits",
                 "--catalog", "type=sql", "--catalog", f"uri=sqlite:///{tmp_path}/cat.db",
                 "--catalog", f"warehouse=file://{tmp_path}/warehouse"]) == 0
    assert "table: lake.digits" in capsys.readouterr().out
    catalog = {"name": "mnistfamily", "type": "sql", "uri": f"sqlite:///{tmp_path}/cat.db",
               "warehouse": f"file://{tmp_path}/warehouse"}
    assert iceberg_table(catalog, "lake.digits").scan().to_arrow().num_rows == 2000
