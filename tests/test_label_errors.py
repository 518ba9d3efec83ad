"""Known label errors: the shipped cleanlab list, the counting rule, metadata="label-errors", the report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.registry import label_errors
from mnistfamily.errors import FormatError, RegistryError, UnknownNameError
from mnistfamily.registry.label_errors import COLUMNS, label_error_columns, read_list
from mnistfamily.registry import get_registry

#: the 15 human-validated MNIST test label errors (Northcutt et al. 2021; the author's count is 15),
#: with cleanlab's suggested label and, where at least 3 of 5 workers chose it, the crowd's label
CONFIRMED = {947: (8, 9, 9), 1621: (0, 6, 6), 1901: (9, 4, 4), 2130: (4, 9, -1), 2462: (2, 0, 0), 2597: (5, 3, 3),
             2654: (6, 1, -1), 3520: (6, 4, -1), 3558: (5, 0, 0), 5937: (5, 3, 3), 6651: (0, 6, 6), 6783: (1, 6, 6),
             8527: (4, 9, -1), 9679: (6, 3, -1), 9729: (5, 6, 6)}


def test_the_shipped_list_is_cleanlabs_file_and_the_rule_gives_the_15_published_errors():
    records = read_list("mnist")
    assert len(records) == 100 and len({r["index"] for r in records}) == 100
    confirmed = {r["index"]: (r["given"], r["suggested"], label_errors.crowd_label(r))
                 for r in records if label_errors.confirmed(r)}
    assert confirmed == CONFIRMED
    # categories: 10 correctable (the crowd chose the suggestion), 3 "neither", 2 without agreement
    assert sum(c >= 0 for _, _, c in confirmed.values()) == 10
    neither = [r for r in records if label_errors.confirmed(r) and r["neither_votes"] >= 3]
    assert sorted(r["index"] for r in neither) == [2654, 3520, 9679]
    # 13 records offered the same label twice (given == suggested) and carry doubled votes: none is an error
    doubled = [r for r in records if r["given"] == r["suggested"]]
    assert len(doubled) == 13 and not any(label_errors.confirmed(r) for r in doubled)
    assert all(r["given_votes"] + r["suggested_votes"] + r["neither_votes"] == 5 for r in records
               if r["given"] != r["suggested"])


def test_a_changed_list_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "label-errors"
    copy.mkdir()
    original = label_errors.FOLDER / "mnist_mturk.json"
    data = json.loads(original.read_text())
    data[0]["mturk"]["given"] = 0  # one vote changed: 16 errors
    (copy / "mnist_mturk.json").write_text(json.dumps(data))
    monkeypatch.setattr(label_errors, "FOLDER", copy)
    with pytest.raises(FormatError, match=r"mnist_mturk.json: expected cleanlab's published mnist_mturk.json "
                                          r"\(sha256 448bd00f.*the file was changed. Reinstall mnistfamily"):
        read_list("mnist")
    (copy / "mnist_mturk.json").unlink()
    with pytest.raises(FormatError, match="cannot read the shipped label-error list.*reinstall mnistfamily"):
        read_list("mnist")


def test_an_unknown_list_is_named():
    with pytest.raises(UnknownNameError, match="no label-error list 'cifar100': the package ships mnist, cifar10"):
        read_list("cifar100")


def test_a_list_in_another_layout_is_refused(tmp_path, monkeypatch):
    import hashlib

    for records, message in (([{"id": 1, "mturk": {}}], "record 0 lacks 'given_original_label'"),
                             ([{"id": 20_000, "given_original_label": 1, "our_guessed_label": 2,
                                "mturk": {"given": 1, "guessed": 4, "neither": 0}}], "an index below 10,000"),
                             ([{"id": 3, "given_original_label": "1", "our_guessed_label": 2,
                                "mturk": {"given": 1, "guessed": 4, "neither": 0}}], "non-negative integers")):
        data = json.dumps(records).encode()
        (tmp_path / "mnist_mturk.json").write_bytes(data)
        monkeypatch.setattr(label_errors, "FOLDER", tmp_path)
        monkeypatch.setitem(label_errors.LISTS, "mnist", ("mnist_mturk.json", hashlib.sha256(data).hexdigest(),
                                                          10_000))
        with pytest.raises(FormatError, match=message):
            read_list("mnist")


def test_metadata_label_errors_joins_by_position_in_the_test_set():
    ds = mf.load("mnist/sample", "test", metadata="label-errors")
    assert list(ds.metadata)[:len(COLUMNS)] == list(COLUMNS)
    assert ds.metadata["label_error"].dtype == np.int8 and ds.metadata["crowd_label"].dtype == np.int64
    records = {r["index"]: r for r in read_list("mnist")}
    for row, position in enumerate(ds.index):
        position = int(position)
        m = {c: int(ds.metadata[c][row]) for c in COLUMNS}
        if position in records:
            r = records[position]
            assert m == {"label_error": int(position in CONFIRMED), "label_error_candidate": 1,
                         "suggested_label": r["suggested"], "crowd_label": label_errors.crowd_label(r),
                         "votes_given": r["given_votes"], "votes_suggested": r["suggested_votes"],
                         "votes_neither": r["neither_votes"], "votes_both": -1}
            assert ds.labels[row] == r["given"]
        else:
            assert m == {"label_error": 0, "label_error_candidate": 0, **{c: -1 for c in COLUMNS[2:]}}
    in_sample = sorted(set(map(int, ds.index)) & set(CONFIRMED))
    assert in_sample and sorted(map(int, ds.index[ds.metadata["label_error"] == 1])) == in_sample
    # the sample's own QMNIST columns stay, and filters work on the new ones
    assert "writer_id" in ds.metadata and len(ds.filter(label_error=1)) == len(in_sample)


def test_joins_refuse_rows_that_are_not_the_listed_test_set():
    labels = np.zeros(10_000, np.int64)
    with pytest.raises(FormatError, match=r"mine \[test\] and cleanlab's mnist label-error list disagree on the "
                                          r"given label of \d+ candidates"):
        label_error_columns("mnist", np.arange(10_000), labels, "mine [test]")
    with pytest.raises(FormatError, match=r"positions up to 10000 but the mnist test set the label-error list "
                                          r"describes has 10,000 rows"):
        label_error_columns("mnist", np.array([0, 10_000]), np.zeros(2, np.int64), "mine [test]")
    with pytest.raises(UnknownNameError, match=r"mnist/sample \[test\] has no metadata 'errors' to join "
                                               r"\(offered: label-errors\)"):
        mf.load("mnist/sample", "test", metadata="errors")
    assert "label-errors" not in mf.info("fashion-mnist").name and not get_registry().dataset("mnist").joins[
        "label-errors"].get("train")


def test_a_join_naming_an_unknown_list_is_a_registry_error(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("""\
version: 1
datasets:
  mine/cifar:
    title: Mine
    homepage: https://example.org/
    license: none
    citation: none
    format: idx
    classes: ["a", "b"]
    image_shape: [2, 2]
    base_url: https://example.org/
    joins:
      label-errors: {test: "cleanlab:cifar100"}
    files:
      x.gz: {size: 1, md5: unknown, sha256: unknown}
    splits:
      test: {num_examples: 1, images: x.gz, labels: x.gz}
""")
    with pytest.raises(RegistryError, match=r"mine/cifar.joins.label-errors.test: names 'cleanlab:cifar100'; "
                                            r"the label-error lists are cleanlab:mnist, cleanlab:cifar10"):
        mf.datasets(registry=path)


def test_shift_run_reports_accuracy_without_the_known_errors():
    from mnistfamily.shift import load_protocols, run
    from mnistfamily.shift.label_errors import accuracy_without_label_errors

    protocol = load_protocols("""
version: 1
protocols:
  sample:
    description: Halves of the sample.
    train: {dataset: mnist/sample, split: test, half: first}
    in_domain: last half
    domains:
      last half: {dataset: mnist/sample, split: test, half: last}
""")["sample"]
    result = run(protocol, "centroid")
    row = result.row("last half")
    ds = mf.load("mnist/sample", "test", metadata="label-errors")
    last = ds.index >= 5000
    assert row.label_errors == int(ds.metadata["label_error"][last].sum())
    from mnistfamily.baselines import NearestCentroid

    first = ds.index < 5000
    predicted = NearestCentroid().fit(ds.images[first], ds.labels[first]).predict(ds.images[last])
    keep = ds.metadata["label_error"][last] == 0
    assert row.accuracy_without_label_errors == pytest.approx(np.mean(predicted[keep] == ds.labels[last][keep]))
    assert f"({row.label_errors} removed)" in result.table() and "w/o known label errors" in result.table()
    assert accuracy_without_label_errors("fashion-mnist", "test", [0], [0], [0]) is None


def test_the_report_on_the_sample(tmp_path):
    from mnistfamily.shift.label_errors import label_error_report

    report = label_error_report("knn", dataset="mnist/sample", train_split="test")
    c = report.counts
    assert c["confirmed"] == len(report.errors) == len(set(map(int, mf.load("mnist/sample", "test").index))
                                                          & set(CONFIRMED))
    assert c["given"] == c["confirmed"]  # trained on the test split itself, 1-NN repeats the given labels
    assert [r["n"] for r in report.accuracies] == [2000, 2000 - c["confirmed"], 2000 - 19]
    assert report.accuracy("all") == 1.0
    assert "trained on the test split itself" in report.table()
    record = json.loads(report.to_json(tmp_path / "r.json"))
    assert record["counts"] == c and record["errors"] == report.errors
    assert report.plot(tmp_path / "r.png").stat().st_size > 1000
    with pytest.raises(KeyError, match="no subset 'some'"):
        report.accuracy("some")


# ----------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_the_shipped_list_is_byte_identical_to_cleanlabs_and_matches_mnist(realdata, cache):
    shipped = (label_errors.FOLDER / "mnist_mturk.json").read_bytes()
    assert shipped == (realdata / "label-errors" / "mnist_mturk.json").read_bytes()
    test = mf.load("mnist", "test", metadata="label-errors", source=realdata / "mnist", data_dir=cache)
    original = np.load(realdata / "label-errors" / "mnist_test_set_original_labels.npy")
    np.testing.assert_array_equal(original, test.labels)  # cleanlab's "given" labels are MNIST's
    assert int(test.metadata["label_error"].sum()) == 15 and int(test.metadata["label_error_candidate"].sum()) == 100
    assert sorted(np.flatnonzero(test.metadata["label_error"]).tolist()) == sorted(CONFIRMED)


@pytest.mark.realdata
def test_one_nn_on_the_confirmed_errors_mostly_predicts_the_suggested_label(realdata, cache):
    from mnistfamily.baselines import KNN

    source = realdata / "mnist-kaggle-layout"
    train = mf.load("mnist", "train", source=source, data_dir=cache)
    test = mf.load("mnist", "test", source=source, data_dir=cache, metadata="label-errors")
    rows = np.flatnonzero(test.metadata["label_error"])
    predicted = KNN(k=1).fit(train.images, train.labels).predict(test.images[rows])
    given = test.labels[rows]
    suggested = test.metadata["suggested_label"][rows]
    crowd = test.metadata["crowd_label"][rows]
    counts = (int(np.sum(predicted == given)), int(np.sum(predicted == suggested)),
              int(np.sum((predicted != given) & (predicted != suggested))))
    assert counts == (6, 8, 1)  # 1-NN is exact: the same counts on every machine
    # of its 9 "mistakes" (predictions other than the given label), 8 are the label the crowd was shown
    has_crowd = crowd >= 0
    assert (int(np.sum(has_crowd & (predicted == crowd))), int(np.sum(has_crowd & (predicted == given)))) == (4, 5)


@pytest.mark.realdata
def test_the_report_on_real_mnist(realdata, cache):
    from mnistfamily.shift.label_errors import label_error_report

    report = label_error_report("centroid", source=realdata / "mnist-kaggle-layout", data_dir=cache)
    assert [r["n"] for r in report.accuracies] == [10_000, 9_985, 9_900]
    c = report.counts
    assert c["confirmed"] == 15 and c["given"] + c["suggested"] + c["other"] == 15 and c["with_crowd_label"] == 10
    assert [e["index"] for e in report.errors] == sorted(CONFIRMED)
    assert 0.8 < report.accuracy("all") < report.accuracy("without candidates")
    shutil.rmtree(cache, ignore_errors=True)
