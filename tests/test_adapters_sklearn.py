"""load_bunch has fetch_openml's layout: compared with scikit-learn's fetch_openml reading mnist_784 for real."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.adapters import AdapterError
from mnistfamily.dataset import Dataset

SAMPLE = "mnist/sample"


def write_openml_cache(data_home: Path, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> None:
    """An OpenML cache holding ``mnist_784`` (data id 554) with these rows, in OpenML's own formats.

    scikit-learn's ``fetch_openml`` reads a dataset's description, features, qualities and ARFF
    file from ``<data_home>/openml/openml.org/<API path>.gz`` before trying the network (its own
    tests serve stored OpenML responses the same way). The schema is mnist_784's: 784 numeric
    attributes ``pixel1`` .. ``pixel784`` and the nominal target ``class``.
    """
    root = data_home / "openml" / "openml.org"
    n, pixels = len(images), int(np.prod(images.shape[1:]))
    names = [f"pixel{i}" for i in range(1, pixels + 1)]
    lines = ["@RELATION mnist_784", "", *(f"@ATTRIBUTE {name} NUMERIC" for name in names),
             "@ATTRIBUTE class {" + ",".join(classes) + "}", "", "@DATA"]
    lines += [",".join(map(str, row.tolist())) + "," + classes[label]
              for row, label in zip(images.reshape(n, -1), labels)]
    arff = ("\n".join(lines) + "\n").encode()

    def put(path: str, payload: bytes) -> None:
        target = root / f"{path}.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(payload))

    put("api/v1/json/data/554", json.dumps({"data_set_description": {
        "id": "554", "name": "mnist_784", "version": "1", "description": "The MNIST database", "format": "ARFF",
        "url": "https://api.openml.org/data/v1/download/52667/mnist_784.arff", "file_id": "52667",
        "default_target_attribute": "class", "status": "active", "md5_checksum": hashlib.md5(arff).hexdigest(),
    }}).encode())
    features = [{"index": str(i), "name": name, "data_type": "numeric", "is_target": "false", "is_ignore": "false",
                 "is_row_identifier": "false", "number_of_missing_values": "0"} for i, name in enumerate(names)]
    features.append({"index": str(pixels), "name": "class", "data_type": "nominal", "nominal_value": list(classes),
                     "is_target": "true", "is_ignore": "false", "is_row_identifier": "false",
                     "number_of_missing_values": "0"})
    put("api/v1/json/data/features/554", json.dumps({"data_features": {"feature": features}}).encode())
    put("api/v1/json/data/qualities/554", json.dumps({"data_qualities": {"quality": [
        {"name": "NumberOfInstances", "value": f"{float(n)}"}]}}).encode())
    put("data/v1/download/52667/mnist_784.arff", arff)


@pytest.fixture
def openml(tmp_path):
    """fetch_openml's mnist_784 Bunch for the first 60 rows of the sample, and the same rows loaded by us."""
    datasets = pytest.importorskip("sklearn.datasets")
    ds = mf.load(SAMPLE, "test[:60]")
    write_openml_cache(tmp_path / "sk", np.asarray(ds.images), np.asarray(ds.labels), ds.classes)

    def fetch(**kwargs):
        # parser="liac-arff": scikit-learn 1.9's pandas parser fails on a nominal class of digits under pandas 3
        return datasets.fetch_openml(data_id=554, data_home=str(tmp_path / "sk"), parser="liac-arff", **kwargs)

    return fetch


def _same_layout(ours, theirs):
    assert set(theirs) <= set(ours), f"missing keys: {set(theirs) - set(ours)}"
    for key in theirs:
        assert type(ours[key]) is type(theirs[key]), key
        shape = getattr(theirs[key], "shape", None)
        assert getattr(ours[key], "shape", None) == shape, key
        if hasattr(theirs[key], "dtype") and not hasattr(theirs[key], "columns"):
            assert ours[key].dtype == theirs[key].dtype, key


def test_bunch_matches_fetch_openml_as_arrays(openml):
    theirs = openml(as_frame=False)
    ours = mf.load_bunch(SAMPLE, split="test[:60]")
    _same_layout(ours, theirs)
    np.testing.assert_array_equal(ours.data, theirs.data)
    np.testing.assert_array_equal(ours.target, theirs.target)
    assert ours.feature_names == theirs.feature_names and ours.target_names == theirs.target_names == ["class"]
    assert ours.categories == theirs.categories and ours.frame is theirs.frame is None
    assert isinstance(ours.DESCR, str) and "mnist/sample" in ours.DESCR
    np.testing.assert_array_equal(ours.index, mf.load(SAMPLE, "test").index[:60])


def test_bunch_matches_fetch_openml_as_frames(openml):
    pd = pytest.importorskip("pandas")
    theirs = openml(as_frame=True)
    ours = mf.load_bunch(SAMPLE, split="test[:60]", as_frame=True)
    _same_layout(ours, theirs)
    pd.testing.assert_frame_equal(ours.data, theirs.data)
    pd.testing.assert_series_equal(ours.target, theirs.target)
    pd.testing.assert_frame_equal(ours.frame, theirs.frame)
    assert list(ours.target.cat.categories) == list(theirs.target.cat.categories)
    X, y = mf.load_bunch(SAMPLE, split="test[:60]", as_frame=True, return_X_y=True)
    pd.testing.assert_frame_equal(X, theirs.data)


def test_return_x_y_and_a_lighter_dtype():
    X, y = mf.load_bunch(SAMPLE, return_X_y=True, dtype=np.uint8)
    ds = mf.load(SAMPLE, "test")
    assert X.dtype == np.uint8 and X.shape == (2000, 784) and y.dtype == object
    np.testing.assert_array_equal(X, ds.images.reshape(2000, -1))
    assert list(y[:3]) == [ds.classes[label] for label in ds.labels[:3]]


def test_the_default_split_is_train_then_test_as_openml_orders_mnist(served, cache):
    server, mini = served
    bunch = mf.load_bunch("mnist", registry=mini.registry, data_dir=cache)
    train = mf.load("mnist", "train", registry=mini.registry, data_dir=cache)
    test = mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    assert bunch.data.shape == (len(train) + len(test), 784)
    np.testing.assert_array_equal(bunch.data[:len(train)], train.images.reshape(len(train), -1))
    np.testing.assert_array_equal(bunch.index, np.concatenate([train.index, test.index]))


def test_a_dataset_without_train_and_test_needs_a_split():
    from mnistfamily.adapters.sklearn import default_split

    assert default_split("mnist/sample", ["test"]) == "test"
    with pytest.raises(AdapterError, match="no train and test splits to put together; pass split= one of a, b"):
        default_split("x", ["a", "b"])


def test_multi_label_datasets_are_refused():
    from mnistfamily.adapters.sklearn import bunch_from_dataset

    multi = Dataset(np.zeros((3, 4, 4), np.uint8), np.eye(3, dtype=np.int64), classes=list("xyz"), name="chest")
    with pytest.raises(AdapterError, match="multi-label"):
        bunch_from_dataset(multi)
