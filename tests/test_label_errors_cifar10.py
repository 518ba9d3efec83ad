"""CIFAR-10's known test label errors (cleanlab's list, shipped): the count under the rule, the join on cifar10's
test split, and the given labels against cleanlab's own copy of CIFAR-10's test labels (realdata)."""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import FormatError
from mnistfamily.registry import get_registry
from mnistfamily.registry.label_errors import COLUMNS, confirmed, crowd_label, label_error_columns, read_list
from mnistfamily.testing import write_miniatures


def _labels_the_list_describes() -> np.ndarray:
    labels = np.zeros(10_000, np.int64)
    for r in read_list("cifar10"):
        labels[r["index"]] = r["given"]
    return labels


def test_the_rule_gives_54_errors_of_275_candidates_with_the_published_breakdown():
    records = read_list("cifar10")
    errors = [r for r in records if confirmed(r)]
    assert len(records) == 275 and len(errors) == 54
    correctable = [r for r in errors if r["suggested_votes"] >= 3]
    neither = [r for r in errors if r["neither_votes"] >= 3]
    both = [r for r in errors if r["both_votes"] >= 3]
    assert (len(correctable), len(neither), len(both)) == (18, 4, 0)  # the rest, 32, reached no agreement
    assert all(crowd_label(r) == r["suggested"] for r in correctable)
    assert all(r["both_votes"] is not None for r in records)  # CIFAR-10's workers could answer "both"
    assert sorted(r["index"] for r in errors)[:4] == [165, 792, 882, 1227]


def test_the_join_adds_the_columns_by_position():
    labels = _labels_the_list_describes()
    columns = label_error_columns("cifar10", np.arange(10_000), labels, "cifar10 [test]")
    assert list(columns) == list(COLUMNS)
    assert int(columns["label_error"].sum()) == 54 and int(columns["label_error_candidate"].sum()) == 275
    row = 1227  # cat, 4 of 5 workers said dog
    assert [int(columns[c][row]) for c in COLUMNS] == [1, 1, 5, 5, 1, 4, 0, 0]
    assert int(columns["votes_both"][0]) == -1  # not a candidate
    with pytest.raises(FormatError, match=r"cifar10 \[test\] and cleanlab's cifar10 label-error list disagree"):
        label_error_columns("cifar10", np.arange(10_000), (labels + 1) % 10, "cifar10 [test]")


def test_cifar10_test_offers_the_join(tmp_path):
    assert dict(get_registry().dataset("cifar10").joins["label-errors"]) == {"test": "cleanlab:cifar10"}
    mini = write_miniatures(tmp_path / "m", "file:///unused", names=["cifar10"])
    ds = mf.load("cifar10", "test", metadata="label-errors", registry=mini.registry, data_dir=tmp_path / "c",
                 source=tmp_path / "m")
    # the miniature's rows are CIFAR-10 test positions 0..9, none of them a candidate (the first is 20)
    assert min(r["index"] for r in read_list("cifar10")) > int(ds.index.max())
    assert list(ds.metadata) == list(COLUMNS) and not ds.metadata["label_error_candidate"].any()
    assert set(ds.metadata["votes_both"].tolist()) == {-1}


@pytest.mark.realdata
def test_the_given_labels_are_cleanlabs_copy_of_the_cifar10_test_labels(realdata):
    original = np.load(realdata / "label-errors" / "cifar10_test_set_original_labels.npy", allow_pickle=False)
    assert original.shape == (10_000,)
    for r in read_list("cifar10"):
        assert original[r["index"]] == r["given"]
    columns = label_error_columns("cifar10", np.arange(10_000), original.astype(np.int64), "cifar10 [test]")
    assert int(columns["label_error"].sum()) == 54
