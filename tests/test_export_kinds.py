"""Parquet exports of every kind of example: colour and float images, volumes, fixed and varying-length signals.

Fixed-shape examples are one fixed-size binary (or an Arrow tensor) per row with their shape and
dtype in the metadata; signals of varying length are a list column. Each round trip is bit for
bit, and other engines read the columns as they are declared.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pq = pytest.importorskip("pyarrow.parquet")

from mnistfamily.dataset import Dataset  # noqa: E402
from mnistfamily.examples import Signals  # noqa: E402
from mnistfamily.outputs import ExportError, export, export_idx, export_npz, read_parquet  # noqa: E402
from harness.fuzz.parquet_seeds import KINDS, kind_dataset  # noqa: E402


def assert_same(back: Dataset, ds: Dataset) -> None:
    assert back.example == ds.example and back.sample_rate == ds.sample_rate and back.classes == ds.classes
    if isinstance(ds.examples, Signals):
        assert isinstance(back.examples, Signals) and back.signals.dtype == ds.signals.dtype
        assert back.signals.lengths.tolist() == ds.signals.lengths.tolist()
        for a, b in zip(back.signals, ds.signals):
            np.testing.assert_array_equal(a, b)
    else:
        assert back.images.dtype == ds.images.dtype and back.images.shape == ds.images.shape
        np.testing.assert_array_equal(back.images, ds.images)
    np.testing.assert_array_equal(back.labels, ds.labels)
    np.testing.assert_array_equal(back.index, ds.index)
    for column, values in ds.metadata.items():
        np.testing.assert_array_equal(back.metadata[column], values)
        assert back.metadata[column].dtype == values.dtype


@pytest.mark.parametrize("kind, encoding", [(k, e) for k, encodings in KINDS.items() for e in encodings])
def test_every_kind_round_trips_bit_for_bit(kind, encoding, tmp_path):
    ds = kind_dataset(kind)
    result = export(ds, tmp_path, image_encoding=encoding, rows_per_shard=5)
    back = read_parquet(result.path)["test"]
    assert_same(back, ds)
    assert back.info.example == ds.example and back.info.image_dtype == np.dtype(ds.examples.dtype).name


def test_the_column_is_named_after_the_kind_and_typed_as_declared(tmp_path):
    import pyarrow as pa

    for kind, column, expected in [("volume", "volume", pa.binary(4 * 5 * 6)),
                                   ("signal", "signal", pa.list_(pa.int16())),
                                   ("fixed-signal", "signal", pa.binary(40 * 8)),
                                   ("float-image", "image", pa.binary(4 * 7 * 2 * 4))]:
        export(kind_dataset(kind), tmp_path / kind)
        shard = next((tmp_path / kind).rglob("*.parquet"))
        schema = pq.read_schema(shard)
        assert schema.names[:3] == ["index", column, "label"] and schema.field(column).type == expected, kind
    export(kind_dataset("volume"), tmp_path / "tensor", image_encoding="tensor")
    table = pq.read_table(next((tmp_path / "tensor").rglob("*.parquet")))
    assert table.column("volume").type.shape == [4, 5, 6]  # Ray and pyarrow read (N, D, H, W) tensors
    np.testing.assert_array_equal(table.column("volume").combine_chunks().to_numpy_ndarray(),
                                  kind_dataset("volume").images)


def test_signals_are_lists_any_engine_reads(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    ds = kind_dataset("signal")
    export(ds, tmp_path)
    shard = next(tmp_path.rglob("*.parquet"))
    lengths = duckdb.sql(f"SELECT len(signal) AS n FROM '{shard}' ORDER BY index").fetchall()
    assert [n for (n,) in lengths] == ds.signals.lengths.tolist()
    first = duckdb.sql(f"SELECT signal FROM '{shard}' ORDER BY index LIMIT 1").fetchall()[0][0]
    assert first == ds.signals[0].tolist()


def test_a_selection_of_signals_and_a_worker_export_round_trip(tmp_path):
    ds = kind_dataset("signal")
    picked = ds.select([9, 2, 5, 5])  # out of order, repeated: its samples are not contiguous
    assert_same(read_parquet(export(picked, tmp_path / "a").path)["test"], picked)
    with ThreadPoolExecutor(2) as pool:  # workers read the samples and offsets staged as .npy files
        result = export(picked, tmp_path / "b", executor=pool, rows_per_shard=2)
    assert_same(read_parquet(result.path)["test"], picked)


def test_what_an_encoding_cannot_hold_is_refused_before_writing(tmp_path):
    with pytest.raises(ExportError, match=r"fuzz/volume \[test\]: image_encoding 'png' holds uint8 images that are "
                                          r"grey \(H, W\), RGB or RGBA \(H, W, 3\|4\); these are volumes"):
        export(kind_dataset("volume"), tmp_path, image_encoding="png")
    with pytest.raises(ExportError, match="image_encoding 'tensor' cannot hold signals of varying length"):
        export(kind_dataset("signal"), tmp_path, image_encoding="tensor")
    two = Dataset(np.zeros((3, 4, 4, 2), np.uint8), np.zeros(3, np.int64), classes=["a"], name="two", split="x")
    with pytest.raises(ExportError, match="these are images of shape \\[4, 4, 2\\]"):
        export(two, tmp_path, image_encoding="png")
    assert not list(tmp_path.iterdir())


def test_npz_and_idx_hold_fixed_shape_examples_and_refuse_varying_signals(tmp_path):
    from mnistfamily.formats import read_idx

    volume = kind_dataset("volume")
    paths = export_idx(volume, tmp_path / "idx")
    assert [p.rsplit("/", 1)[1] for p in paths][:2] == ["t10k-images-idx4-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    np.testing.assert_array_equal(read_idx(paths[0].removeprefix("file://")), volume.images)
    assert export_idx(kind_dataset("fixed-signal"), tmp_path / "idx1d")[0].endswith("t10k-images-idx2-double.gz")
    npz = export_npz(kind_dataset("rgb"), tmp_path / "rgb.npz")
    assert np.load(npz.removeprefix("file://"))["x_test"].shape == (12, 6, 5, 3)
    with pytest.raises(ExportError, match=r"fuzz/signal \[test\]: signals of varying length are not one array, and "
                                          r"\.npz and IDX files hold arrays"):
        export_npz(kind_dataset("signal"), tmp_path / "signal.npz")
    with pytest.raises(ExportError, match="signals of varying length are not one array"):
        export_idx(kind_dataset("signal"), tmp_path / "signal")
