"""Split expressions as tfds/HF write them, and train_test_split: rows, index kept, errors."""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import transforms as T
from mnistfamily.adapters import AdapterError
from mnistfamily.errors import UnknownNameError
from mnistfamily.split_expressions import SplitExpressionError, parse

SAMPLE = "mnist/sample"


@pytest.fixture
def sample():
    return mf.load(SAMPLE, "test")


@pytest.mark.parametrize("expression", [
    "train[:33%]", "train[33%:]", "train[:5000]", "train[-5000:]", "train[10%:20%]", "train[-10%:]",
    "train[:-10%]", "train[1:-1]", "train+test", "train[:10%]+test[-10%:]", "train[:33%](pct1_dropremainder)",
    "test[50%:]", "train[:0]", "train[5%:-5%]", "train[:100%]", "train[-100%:]",
])
def test_rows_are_those_hugging_face_reads(expression):
    """The same rows as ``datasets.ReadInstruction``, the library that defined the syntax with tfds."""
    datasets = pytest.importorskip("datasets")
    sizes = {"train": 60_001, "test": 9_999}
    theirs = [(r.splitname, r.from_, r.to) for r in datasets.ReadInstruction.from_spec(expression).to_absolute(sizes)]
    ours = []
    for part in parse(expression):
        rows = part.rows(sizes[part.split], expression)
        ours.append((part.split, rows.start, rows.stop))
    assert ours == theirs


def test_a_slice_is_a_view_that_keeps_index_and_metadata(sample):
    head = mf.load(SAMPLE, "test[:10%]")
    assert len(head) == 200 and head.split == "test[:10%]"
    assert isinstance(head.images, np.memmap)  # a view of the memory map, nothing copied
    np.testing.assert_array_equal(head.images, sample.images[:200])
    np.testing.assert_array_equal(head.index, sample.index[:200])
    np.testing.assert_array_equal(head.metadata["writer_id"], sample.metadata["writer_id"][:200])
    tail = mf.load(SAMPLE, "test[90%:]")
    np.testing.assert_array_equal(tail.index, sample.index[1800:])
    np.testing.assert_array_equal(mf.load(SAMPLE, "test[:5]").labels, sample.labels[:5])


def test_parts_of_different_splits_are_put_together_with_their_source(served, cache):
    _, mini = served
    both = mf.load("mnist", "train[:10]+test[-5:]", registry=mini.registry, data_dir=cache)
    train = mf.load("mnist", "train", registry=mini.registry, data_dir=cache)
    test = mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    assert both.split == "train[:10]+test[-5:]" and len(both) == 15
    np.testing.assert_array_equal(both.images, np.concatenate([train.images[:10], test.images[-5:]]))
    np.testing.assert_array_equal(both.index, np.concatenate([train.index[:10], test.index[-5:]]))
    np.testing.assert_array_equal(both.metadata["source_split"], [0] * 10 + [1] * 5)
    whole = mf.load("mnist", "train+test", registry=mini.registry, data_dir=cache)
    assert len(whole) == len(train) + len(test)


def test_a_transform_runs_on_the_selected_rows_only(sample):
    elastic = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    picked = mf.load(SAMPLE, "test[100:110]", transform=elastic)
    np.testing.assert_array_equal(picked.images, elastic(sample.images[100:110], index=sample.index[100:110]))


@pytest.mark.parametrize("expression, error, match", [
    ("test[:5", SplitExpressionError, "cannot read 'test\\[:5'"),
    ("test[1.5:]", SplitExpressionError, "row boundaries are whole numbers"),
    ("test[:150%]", SplitExpressionError, "between -100% and 100%"),
    ("test[:2001]", SplitExpressionError, "boundary 2001 is out of range for the 2,000 rows"),
    ("test[:10%](sloppy)", SplitExpressionError, "unknown rounding 'sloppy'"),
    ("test[:12.5%](pct1_dropremainder)", SplitExpressionError, "whole percents"),
    ("tset[:10%]", UnknownNameError, "tset"),
])
def test_bad_expressions_are_clear_errors(expression, error, match):
    with pytest.raises(error, match=match):
        mf.load(SAMPLE, expression)


def test_train_test_split_is_stratified_reproducible_and_keeps_index(sample):
    train, val = sample.train_test_split(0.1, seed=0)
    assert (len(train), len(val)) == (1800, 200)
    assert np.bincount(val.labels).tolist() == [20] * 10  # each class gives 10% of its rows
    assert not set(train.index) & set(val.index) and set(train.index) | set(val.index) == set(sample.index)
    assert np.all(np.diff(val.index) > 0)  # dataset order within each part
    again, val_again = sample.train_test_split(0.1, seed=0)
    np.testing.assert_array_equal(val.index, val_again.index)
    other = sample.train_test_split(0.1, seed=1).test
    assert set(other.index) != set(val.index)
    bigger = sample.train_test_split(0.2, seed=0).test  # a larger test part only adds rows
    assert set(val.index) <= set(bigger.index)


def test_train_test_split_sizes_and_largest_remainders(sample):
    rows = [np.flatnonzero(sample.labels == 0), np.flatnonzero(sample.labels == 1), np.flatnonzero(sample.labels == 2)[:193]]
    uneven = sample.select(np.sort(np.concatenate(rows)))  # classes of 200, 200, 193 rows: shares 34.06, 34.06, 32.87
    train, test = uneven.train_test_split(101, seed=0)
    assert len(test) == 101 and len(train) == 492
    assert np.bincount(test.labels).tolist() == [34, 34, 33]
    _, unstratified = sample.train_test_split(0.25, seed=0, stratify=False)
    assert len(unstratified) == 500


@pytest.mark.parametrize("kwargs, match", [
    ({"test_size": 1.0, "seed": 0}, "test_size must be a fraction in \\(0, 1\\) or a number of rows"),
    ({"test_size": 0, "seed": 0}, "both parts need at least one row"),
    ({"test_size": 2000, "seed": 0}, "both parts need at least one row"),
    ({"test_size": True, "seed": 0}, "test_size must be a fraction"),
    ({"test_size": 0.1, "seed": None}, "seed must be a non-negative int"),
])
def test_train_test_split_refuses_bad_arguments(sample, kwargs, match):
    with pytest.raises(AdapterError, match=match):
        sample.train_test_split(**kwargs)


def test_multi_label_cannot_be_stratified():
    from mnistfamily.dataset import Dataset

    multi = Dataset(np.zeros((10, 2, 2), np.uint8), np.eye(2, dtype=np.int64)[np.arange(10) % 2], classes=["a", "b"])
    with pytest.raises(AdapterError, match="multi-label.*stratify=False"):
        multi.train_test_split(0.2, seed=0)
    assert len(multi.train_test_split(0.2, seed=0, stratify=False).test) == 2
