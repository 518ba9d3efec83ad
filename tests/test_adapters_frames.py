"""to_pandas and to_polars for real: columns, values, and no copy of the pixels for pandas."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.adapters import AdapterError
from mnistfamily.dataset import Dataset
from mnistfamily.errors import MissingDependencyError


@pytest.fixture
def sample():
    return mf.load("mnist/sample", "test")


def test_pandas_rows_with_an_image_column_of_views(sample):
    pd = pytest.importorskip("pandas")
    df = sample.to_pandas()
    assert list(df.columns) == ["index", "label", "label_name", *sample.metadata, "image"]
    assert len(df) == 2000 and df["label_name"].dtype == "category"
    assert list(df["label_name"].cat.categories) == sample.classes
    assert df["label_name"].iloc[5] == sample.classes[sample.labels[5]]
    np.testing.assert_array_equal(df["index"], sample.index)
    np.testing.assert_array_equal(df["writer_id"], sample.metadata["writer_id"])
    np.testing.assert_array_equal(np.stack(df["image"]), sample.images)
    assert np.shares_memory(df["image"].iloc[0], sample.images)  # views: no pixel copied
    assert isinstance(df, pd.DataFrame)


def test_pandas_pixel_columns_like_mnist_784(sample):
    df = sample.to_pandas(pixels="columns")
    assert list(df.columns[:3]) == ["index", "label", "label_name"]
    assert list(df.columns[-784:]) == [f"pixel{i}" for i in range(1, 785)]
    np.testing.assert_array_equal(df[[f"pixel{i}" for i in range(1, 785)]].to_numpy(), sample.images.reshape(2000, -1))
    assert df["pixel1"].dtype == np.uint8


def test_polars_rows_with_an_array_image_column(sample):
    pl = pytest.importorskip("polars")
    df = sample.to_polars()
    assert df.columns == ["index", "label", "label_name", *sample.metadata, "image"]
    assert df.schema["image"] == pl.Array(pl.UInt8, (28, 28))
    assert df.schema["label_name"] == pl.Enum(sample.classes)
    np.testing.assert_array_equal(df["image"].to_numpy(), sample.images)
    assert df["label_name"][5] == sample.classes[sample.labels[5]]
    wide = sample.to_polars(pixels="columns")
    assert wide.columns[-784:] == [f"pixel{i}" for i in range(1, 785)]
    np.testing.assert_array_equal(wide.select([f"pixel{i}" for i in range(1, 785)]).to_numpy(),
                                  sample.images.reshape(2000, -1))


def test_colour_signal_and_multi_label_rows():
    pytest.importorskip("pandas")
    rgb = Dataset(np.arange(2 * 3 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3, 3), np.array([0, 1]), classes=["a", "b"])
    assert rgb.to_pandas()["image"].iloc[1].shape == (3, 3, 3)
    assert rgb.to_pandas(pixels="columns").shape == (2, 3 + 27)
    signal = Dataset(np.linspace(0, 1, 80).reshape(2, 40), np.array([0, 1]), classes=["a", "b"])
    assert list(signal.to_pandas(pixels="columns").columns[-2:]) == ["x39", "x40"]
    assert signal.to_pandas()["signal"].iloc[1].shape == (40,)
    volume = Dataset(np.zeros((2, 3, 4, 5), np.uint8), np.array([0, 1]), classes=["a", "b"], example="volume")
    assert volume.to_pandas()["volume"].iloc[0].shape == (3, 4, 5)
    assert list(volume.to_pandas(pixels="columns").columns[-1:]) == ["voxel60"]
    multi = Dataset(np.zeros((2, 2, 2), np.uint8), np.array([[1, 0, 1], [0, 1, 0]]), classes=list("xyz"))
    assert multi.to_pandas()["label_name"].tolist() == [["x", "z"], ["y"]]
    pl = pytest.importorskip("polars")
    assert multi.to_polars()["label_name"].to_list() == [["x", "z"], ["y"]]
    assert rgb.to_polars().schema["image"] == pl.Array(pl.UInt8, (3, 3, 3))


def test_signals_of_varying_length_are_lists_and_have_no_table_of_columns():
    from mnistfamily.examples import Signals

    recordings = Dataset(Signals.from_arrays([np.arange(k, dtype=np.int16) for k in (3, 0, 5)]), np.array([0, 1, 0]),
                         classes=["a", "b"], name="talk", split="test")
    pd = pytest.importorskip("pandas")
    frame = recordings.to_pandas()
    assert isinstance(frame, pd.DataFrame) and [len(x) for x in frame["signal"]] == [3, 0, 5]
    assert np.shares_memory(frame["signal"].iloc[2], recordings.signals.samples)  # views, no sample copied
    with pytest.raises(AdapterError, match=r"talk.to_pandas: talk holds signals of varying length, and "
                                           r"pixels='columns' takes one array"):
        recordings.to_pandas(pixels="columns")
    pl = pytest.importorskip("polars")
    assert recordings.to_polars()["signal"].to_list()[2] == [0, 1, 2, 3, 4]


def test_an_unknown_pixels_option_is_refused(sample):
    with pytest.raises(AdapterError, match="pixels must be 'array'.*found 'flat'"):
        sample.to_pandas(pixels="flat")


def test_without_pandas_the_error_names_the_extra(sample, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match=r'needs pandas.*pip install "mnistfamily\[pandas\]"'):
        sample.to_pandas()
