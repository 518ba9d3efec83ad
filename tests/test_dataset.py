"""Dataset: indexing, selection and filtering keep images, labels, index and metadata together."""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.dataset import Dataset


@pytest.fixture
def sample():
    return mf.load("mnist/sample", "test")


def test_sample_shape_types_and_classes(sample):
    assert len(sample) == 2000
    assert sample.images.shape == (2000, 28, 28) and sample.images.dtype == np.uint8
    assert sample.labels.dtype == np.int64 and sorted(set(sample.labels.tolist())) == list(range(10))
    assert np.bincount(sample.labels).tolist() == [200] * 10
    assert sample.classes == [str(d) for d in range(10)]
    assert np.all(np.diff(sample.index) > 0) and sample.index.max() < 10000
    np.testing.assert_array_equal(sample.metadata["class"], sample.labels)
    np.testing.assert_array_equal(sample.metadata["nist_class"], sample.labels + 30)


def test_getitem_gives_image_and_label(sample):
    image, label = sample[3]
    assert image.shape == (28, 28) and isinstance(label, int) and label == sample.labels[3]
    assert isinstance(sample[:5], Dataset) and len(sample[:5]) == 5


def test_select_keeps_rows_together(sample):
    picked = sample.select([10, 3, 7])
    np.testing.assert_array_equal(picked.index, sample.index[[10, 3, 7]])
    np.testing.assert_array_equal(picked.images[1], sample.images[3])
    np.testing.assert_array_equal(picked.metadata["writer_id"], sample.metadata["writer_id"][[10, 3, 7]])
    mask = sample.labels == 4
    assert len(sample.select(mask)) == 200
    with pytest.raises(ValueError, match="boolean mask must have shape"):
        sample.select(np.ones(3, bool))


def test_filter_by_metadata_and_label(sample):
    students = sample.filter(hsf_series=4)
    assert len(students) > 0 and set(students.metadata["hsf_series"].tolist()) == {4}
    both = sample.filter(hsf_series=4, label=[3, 5])
    assert set(both.labels.tolist()) <= {3, 5} and len(both) < len(students)
    # positions trace back to the published split through select and filter
    assert set(both.index.tolist()) <= set(sample.index.tolist())
    with pytest.raises(KeyError, match="no column 'writer'; columns: label, index, class"):
        sample.filter(writer=3)


def test_repr_shows_name_split_shape_and_classes(sample):
    text = repr(sample)
    assert "mnist/sample" in text and "'test'" in text and "(2000, 28, 28)" in text and "'9'" in text


def test_mismatched_columns_are_refused():
    with pytest.raises(ValueError, match="labels has 2 rows but there are 3 examples"):
        Dataset(np.zeros((3, 2, 2), np.uint8), np.zeros(2, np.int64), classes=["a"])


def test_transform_applies_to_the_whole_batch():
    ds = mf.load("mnist/sample", "test", transform=lambda images: 255 - images)
    plain = mf.load("mnist/sample", "test")
    np.testing.assert_array_equal(ds.images, 255 - plain.images)


def test_split_none_returns_every_split():
    loaded = mf.load("mnist/sample")
    assert list(loaded) == ["test"] and isinstance(loaded["test"], Dataset)


def test_info_describes_the_dataset():
    info = mf.info("mnist/sample")
    assert info.splits == {"test": 2000} and info.num_classes == 10
    assert "hsf_series" in info.metadata_columns
    assert "CC BY-SA 3.0" in info.license and "LeCun" in info.citation
    text = str(info)
    assert "test (2,000)" in text and "metadata" in text
