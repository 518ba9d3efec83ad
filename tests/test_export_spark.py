"""Spark reads an export as it is, with the metadata of its footers: comments, the image shape, class names.

One Spark session for the module (starting one takes seconds); it runs on loopback, in local mode, with
one core. Spark needs Java: without it (or without pyspark) the tests are skipped, saying why.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytest.importorskip("pyarrow")

import mnistfamily as mf  # noqa: E402
from mnistfamily.outputs import export  # noqa: E402

SAMPLE = "mnist/sample"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[test]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java: no java on PATH and no JAVA_HOME (.ci/run installs openjdk-17-jre-headless)")
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        session = (SparkSession.builder.master("local[1]").appName("mnistfamily-tests")
                   .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "1")
                   .getOrCreate())
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Two datasets in one lake root (raw and PNG), plus a card, README and lock files beside them."""
    root = tmp_path_factory.mktemp("lake")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNISTFAMILY_HOME", str(root.parent / "cache"))
        ds = mf.load(SAMPLE, "test")
        export(ds, root, rows_per_shard=700)
        png = mf.Dataset(ds.images[:300], ds.labels[:300], classes=ds.classes, index=ds.index[:300],
                         name="mnist/png", split="train")
        export(png, root, image_encoding="png")
        tensor = mf.Dataset(ds.images[:300], ds.labels[:300], classes=ds.classes, name="mnist/tensor", split="train")
        export(tensor, root, image_encoding="tensor")
    return ds, root


def test_spark_reads_a_dataset_folder_with_its_split_and_column_comments(spark, lake):
    ds, root = lake
    frame = spark.read.parquet(str(root / "mnist--sample"))
    assert frame.count() == len(ds)
    assert [tuple(r) for r in frame.groupBy("split").count().collect()] == [("test", len(ds))]
    described = {r["col_name"]: r["comment"] for r in spark.sql(
        f"DESCRIBE (SELECT * FROM parquet.`{root / 'mnist--sample'}`)").collect()}
    assert described["label"].startswith("the class number") and described["index"].startswith("position")
    assert frame.schema["image"].metadata["image_shape"] == [28, 28]
    row = frame.filter(f"index = {int(ds.index[5])}").first()
    np.testing.assert_array_equal(np.frombuffer(row["image"], np.uint8).reshape(28, 28), ds.images[5])
    assert row["writer_id"] == ds.metadata["writer_id"][5]


def test_spark_ml_finds_the_class_names_and_their_number_on_label(spark, lake):
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.feature import IndexToString, VectorAssembler

    ds, root = lake
    frame = spark.read.parquet(str(root / "mnist--sample"))
    named = IndexToString(inputCol="label", outputCol="name").transform(frame)  # names from the metadata
    assert all(r["name"] == ds.classes[r["label"]] for r in named.select("label", "name").limit(50).collect())
    # a selection holding classes 0-4 only: the model still has the 10 classes the attribute declares
    low = VectorAssembler(inputCols=["writer_id"], outputCol="features").transform(frame.filter("label < 5"))
    model = DecisionTreeClassifier(maxDepth=2, labelCol="label").fit(low)
    assert model.numClasses == 10


def test_spark_reads_png_and_tensor_exports_in_a_lake_of_several_datasets(spark, lake):
    ds, root = lake
    png = spark.read.parquet(str(root / "mnist--png"))
    assert png.count() == 300 and png.schema["image"].dataType.simpleString() == "struct<bytes:binary,path:string>"
    tensor = spark.read.parquet(str(root / "mnist--tensor")).orderBy("index")
    first = tensor.first()
    assert tensor.schema["image"].dataType.simpleString() == "array<smallint>"
    np.testing.assert_array_equal(np.array(first["image"], np.uint8).reshape(28, 28), ds.images[0])


def test_the_docs_spark_example_runs(spark, tmp_path, docs_example):
    export(SAMPLE, tmp_path / "lake")
    found = docs_example("spark", tmp_path)
    assert found["spark"] is spark and found["named"].filter("name = '7'").count() == int(
        (mf.load(SAMPLE, "test").labels == 7).sum())
