"""Distribution shift: metadata splits, protocols as data, run() and its Result, the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import shift
from mnistfamily.dataset import Dataset
from mnistfamily.errors import UnknownNameError
from mnistfamily.shift import ProtocolError, by_values, halves, load_protocols, protocols, writer_folds
from mnistfamily.cli.shift import add_shift_command
from mnistfamily.shift.experiment import (IN_DOMAIN_BAR, INTERVAL, OTHER_BAR, REFERENCE_LINE, Result, axis_range,
                                   check_datasets, load_selection)

# A protocol over the embedded sample (2,000 MNIST test digits with QMNIST's metadata):
# train on students minus a quarter of their writers; test on the held-out students, on the
# employees, on the employees with inverted colours, and on the sample's two halves.
SAMPLE_PROTOCOLS = """
version: 1
protocols:
  sample-writers:
    description: Students of the sample, writer-disjoint folds; employees as the shifted domain.
    train: {dataset: mnist/sample, split: test, where: {hsf_series: 4},
            writer_fold: {folds: 4, fold: 1, side: train, seed: 7}}
    in_domain: students, held out
    domains:
      students, held out: {dataset: mnist/sample, split: test, where: {hsf_series: 4},
                           writer_fold: {folds: 4, fold: 1, side: test, seed: 7}}
      employees: {dataset: mnist/sample, split: test, where: {hsf_series: [0, 1, 2, 3]}}
      employees, inverted: {dataset: mnist/sample, split: test, where: {hsf_series: [0, 1, 2, 3]},
                            transform: [{name: Invert}]}
  sample-halves:
    description: The sample's digits from MNIST's first and last test halves.
    train: {dataset: mnist/sample, split: test, half: first, writer_fold: {folds: 2, fold: 0, side: train}}
    in_domain: first half
    domains:
      first half: {dataset: mnist/sample, split: test, half: first, writer_fold: {folds: 2, fold: 0, side: test}}
      last half: {dataset: mnist/sample, split: test, half: last}
"""


@pytest.fixture
def sample_file(tmp_path) -> Path:
    path = tmp_path / "protocols.yaml"
    path.write_text(SAMPLE_PROTOCOLS, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sample() -> Dataset:
    return mf.load("mnist/sample", "test")


def _toy(writers, index=None, **columns) -> Dataset:
    writers = np.asarray(writers)
    n = len(writers)
    return Dataset(np.zeros((n, 2, 2), np.uint8), np.arange(n) % 3, classes=["a", "b", "c"],
                   index=None if index is None else np.asarray(index),
                   metadata={"writer_id": writers, **{k: np.asarray(v) for k, v in columns.items()}}, name="toy")


# ----------------------------------------------------------------------------- splits


def test_by_values_takes_one_value_or_a_list(sample):
    series = sample.metadata["hsf_series"]
    np.testing.assert_array_equal(by_values(sample, "hsf_series", 4), np.flatnonzero(series == 4))
    np.testing.assert_array_equal(by_values(sample, "hsf_series", [0, 1, 2, 3]), np.flatnonzero(series <= 3))
    assert by_values(sample, "label", {3, 5}).tolist() == np.flatnonzero(np.isin(sample.labels, [3, 5])).tolist()
    assert by_values(sample, "hsf_series", 9).size == 0
    with pytest.raises(ValueError, match="no values given for column 'hsf_series'"):
        by_values(sample, "hsf_series", [])
    with pytest.raises(KeyError, match="has no column 'writer'"):
        by_values(sample, "writer", 1)


def test_writer_folds_are_writer_disjoint_and_cover_every_example(sample):
    writers = sample.metadata["writer_id"]
    folds = writer_folds(sample, k=5, seed=3)
    assert len(folds) == 5
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(sample)))  # each example tested exactly once
    for train, test in folds:
        assert not set(writers[train]) & set(writers[test])
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(sample)))
        assert train.dtype == test.dtype == np.int64
    # balanced by example count: within about one writer's share of len/k
    sizes = np.array([len(test) for _, test in folds])
    assert np.abs(sizes - len(sample) / 5).max() <= np.bincount(np.unique(writers, return_inverse=True)[1]).max()


def test_writer_folds_are_seeded_and_independent_of_row_order():
    rng = np.random.default_rng(0)
    writers = rng.integers(0, 40, size=600)
    ds = _toy(writers)
    first, again = writer_folds(ds, 4, seed=11), writer_folds(ds, 4, seed=11)
    for (a_train, a_test), (b_train, b_test) in zip(first, again):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)
    other = writer_folds(ds, 4, seed=12)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(first, other))
    # shuffled rows: every writer keeps its fold
    order = rng.permutation(len(writers))
    shuffled = writer_folds(ds.select(order), 4, seed=11)
    fold_of = {int(w): f for f, (_, test) in enumerate(first) for w in writers[test]}
    for f, (_, test) in enumerate(shuffled):
        assert {fold_of[int(w)] for w in writers[order][test]} == {f}


def test_writer_folds_refuse_impossible_requests():
    with pytest.raises(ValueError, match="3 distinct writer_id values cannot make 4 writer-disjoint folds"):
        writer_folds(_toy([1, 1, 2, 3]), 4)
    with pytest.raises(ValueError, match="k must be a whole number of folds, at least 2"):
        writer_folds(_toy([1, 2]), 1)
    # one writer with most of the examples, shuffled first: its middle lies past the first cut
    seed = next(s for s in range(100) if np.random.default_rng(s).permutation(3)[0] == 0)
    with pytest.raises(ValueError, match=r"cannot balance 3 writer-disjoint folds by example count \(the largest "
                                         r"writer has 100 of 102 examples\)"):
        writer_folds(_toy([0] * 100 + [1, 2]), 3, seed=seed)
    with pytest.raises(KeyError, match="has no column 'author'"):
        writer_folds(_toy([1, 2]), 2, column="author")


def test_splits_refuse_columns_without_one_value_per_example():
    ds = _toy([1, 2, 3, 4], pairs=np.zeros((4, 2), np.int64))
    with pytest.raises(ValueError, match=r"column 'pairs' has shape \(4, 2\), not one value per example"):
        by_values(ds, "pairs", 0)
    with pytest.raises(ValueError, match=r"column 'pairs' has shape \(4, 2\), not one writer per example"):
        writer_folds(ds, 2, column="pairs")


def test_halves_go_by_published_position_and_survive_filters(sample):
    first, last = halves(sample)  # the sample's index is the position in MNIST's test set
    assert sample.index[first].max() < 5000 <= sample.index[last].min()
    assert len(first) + len(last) == len(sample)
    students = sample.filter(hsf_series=4)
    s_first, s_last = halves(students, total=10_000)
    np.testing.assert_array_equal(students.index[s_first], sample.index[first][np.isin(sample.index[first],
                                                                                        students.index)])
    assert len(s_last) == np.count_nonzero(students.index >= 5000)
    toy = _toy([0, 1, 2, 3, 4, 5])
    assert [h.tolist() for h in halves(toy)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="positions go up to 5 but total is 4"):
        halves(toy, total=4)
    with pytest.raises(ValueError, match="total must be the size of the published split"):
        halves(toy, total=1)
    with pytest.raises(ValueError, match="toy is empty and its published size is unknown: pass total="):
        halves(toy.select(np.zeros(6, bool)))


# ----------------------------------------------------------------------------- protocols


def test_builtin_protocols_are_valid_and_name_real_datasets():
    found = protocols()
    assert {"writers", "writers-reverse", "mnist-halves", "qmnist-lost-digits", "emnist-digits",
            "mnist-variants", "mnist-c", "affnist"} <= set(found)
    for protocol in found.values():
        check_datasets(protocol)  # every dataset, split and join exists in the registry
        assert protocol.in_domain in protocol.domains
    assert len(found["mnist-c"].domains) == 16
    writers = found["writers"]
    held_out = writers.domains[writers.in_domain]
    assert writers.train.where == held_out.where == {"hsf_series": (0, 1, 2, 3)}
    assert writers.train.writer_fold is not None and held_out.writer_fold is not None
    assert (writers.train.writer_fold.side, held_out.writer_fold.side) == ("train", "test")
    assert writers.train.writer_fold.fold == held_out.writer_fold.fold
    assert found["writers-reverse"].train.where == {"hsf_series": (4,)}
    assert found["affnist"].train.transform == ({"name": "Pad", "padding": 6},)


def test_user_protocols_are_added_and_win_over_builtins(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(SAMPLE_PROTOCOLS.replace("sample-halves:", "writers:"), encoding="utf-8")
    found = protocols(path)
    assert found["writers"].train.dataset == "mnist/sample" and "mnist-c" in found
    assert shift.get_protocol("sample-writers", path).source == str(path)
    with pytest.raises(UnknownNameError, match=r"no shift protocol 'writer'; did you mean writers"):
        shift.get_protocol("writer")


BROKEN = """
version: 2
protocols:
  Bad Name:
    description: x
    train: {dataset: mnist, split: train}
    in_domain: a
    domains: {a: {dataset: mnist, split: test}}
  broken:
    description: ""
    train: {dataset: mnist, splt: train, half: middle, where: {hsf_series: []},
            writer_fold: {folds: 5, fold: 5, side: tran, seed: -1}}
    in_domain: studnets
    domains:
      employees: {dataset: mnist, split: test, transform: [{name: NoSuchTransform}]}
      students: {dataset: mnist, split: test}
      students: {dataset: mnist, split: train}
    extra: 1
"""


def test_every_problem_of_a_file_is_reported_at_once_with_protocol_and_key():
    with pytest.raises(ProtocolError, match=r"14 problem\(s\) in the shift protocols") as caught:
        load_protocols(BROKEN)
    problems = caught.value.problems
    text = str(caught.value)
    assert text.startswith("<text>: ") and "docs/shift.md" in text
    expected = [
        r"students \(line 17\): duplicate key \(first defined on line 16\)",
        r"^version: expected 1, found 2",
        r"^Bad Name: a protocol name is lower-case",
        r"^broken.description: expected a non-empty string",
        r"^broken.train.splt: unknown key \(did you mean 'split'\?\)",
        r"^broken.train.split: missing required field",
        r"^broken.train.where.hsf_series: expected a number or string, or a non-empty list",
        r"^broken.train.half: expected 'first' or 'last', found 'middle'",
        r"^broken.train.writer_fold.fold: folds are numbered 0 to 4, found 5",
        r"^broken.train.writer_fold.side: expected 'train' .* found 'tran'",
        r"^broken.train.writer_fold.seed: expected a whole number of at least 0, found -1",
        r"^broken.domains\['employees'\].transform: unknown transform 'NoSuchTransform'",
        r"^broken.in_domain: 'studnets' is not one of the domains \('employees', 'students'\); did you mean "
        r"'students'\?",
        r"^broken.extra: unknown key \(known: description, train, in_domain, domains\)",
    ]
    import re

    for pattern in expected:
        assert any(re.search(pattern, p) for p in problems), (pattern, problems)


@pytest.mark.parametrize("text, message", [
    ("version: 1\nprotocols: {}\n", r"protocols: expected a mapping of protocol names"),
    ("version: 1\nprotocols: [a]\n", r"protocols: expected a mapping of protocol names to protocols, found a list"),
    ("- 1\n- 2\n", r"\(the file\): expected a mapping, found a list"),
    ("version: 1\nprotocols:\n  p: {description: d, train: {dataset: mnist, split: train}, in_domain: a,\n"
     "      domains: {a: [mnist, test]}}\n", r"p.domains\['a'\]: expected a mapping, found a list"),
    ("version: 1\nprotocols:\n  p: {description: d, train: {dataset: mnist, split: train}, in_domain: a,\n"
     "      domains: {a: {dataset: mnist, split: test, where: {writer_id: {a: 1}}}}}\n",
     r"p.domains\['a'\].where.writer_id: expected a number or string"),
    ("version: 1\nprotocols: {p: [\n", r"not valid YAML"),
    ("version: 1\nprotocols:\n  p: {description: d, train: {dataset: mnist, split: train}, in_domain: a,\n"
     "      domains: [a]}\n", r"p.domains: expected a mapping of domain names to selections, found a list"),
    ("version: 1\nprotocols:\n  p: {description: d, train: {dataset: mnist, split: train}, in_domain: a,\n"
     "      domains: {a: {dataset: mnist, split: test}, 7: {dataset: mnist, split: test}}}\n",
     r"protocols.p.domains \(line 4\): keys must be strings, found 7"),
    ("version: 1\nprotocols:\n  p: {description: d, train: {dataset: mnist, split: train, where: [a]},\n"
     "      in_domain: a, domains: {a: {dataset: mnist, split: test}}}\n",
     r"p.train.where: expected a mapping of column names to a value or a list of values, found a list"),
    ("version: 1\nprotocols:\n  p: {description: d, train: {dataset: mnist, split: train, transform: Pad},\n"
     "      in_domain: a, domains: {a: {dataset: mnist, split: test}}}\n",
     r"p.train.transform: expected a transform spec \(\{name: ..., ...\}\) or a list of them, found str 'Pad'"),
    ("version: 1\nprotocols:\n  p: {description: d, train: {dataset: mnist, split: 3}, in_domain: a,\n"
     "      domains: {a: {dataset: mnist, split: test, writer_fold: {folds: 1, fold: 0, side: test}}}}\n",
     r"(?s)p.train.split: expected a non-empty string, found int 3.*"
     r"p.domains\['a'\].writer_fold.folds: expected a whole number of at least 2, found 1"),
])
def test_malformed_files_are_refused_with_the_key(text, message):
    with pytest.raises(ProtocolError, match=message):
        load_protocols(text)


def test_a_missing_file_is_a_protocol_error(tmp_path):
    with pytest.raises(ProtocolError, match=r"(?s)nope.yaml: 1 problem.*cannot read the file"):
        load_protocols(tmp_path / "nope.yaml")


def test_yaml_anchors_and_merge_keys_are_allowed():
    text = """
version: 1
protocols:
  p:
    description: d
    train: &students {dataset: mnist/sample, split: test, where: {hsf_series: 4}}
    in_domain: same
    domains:
      same: {<<: *students, half: last}
"""
    domain = load_protocols(text)["p"].domains["same"]
    assert (domain.dataset, domain.where, domain.half) == ("mnist/sample", {"hsf_series": (4,)}, "last")


# ----------------------------------------------------------------------------- run


def test_run_scores_every_domain_with_intervals_and_gaps(sample_file):
    result = shift.run("sample-writers", "knn", protocols_file=sample_file)
    assert [r.domain for r in result.rows] == ["students, held out", "employees", "employees, inverted"]
    assert result.in_domain == "students, held out"
    by_name = {r.domain: r for r in result.rows}
    assert by_name["employees"].n == by_name["employees, inverted"].n == 1039
    students = by_name["students, held out"]
    assert result.train["n"] + students.n == 961 and 150 < students.n < 330
    reference = students.accuracy
    for r in result.rows:
        assert r.ci_low <= r.accuracy <= r.ci_high and 0 <= r.ci_low < r.ci_high <= 1
        assert r.error == pytest.approx(1 - r.accuracy)
        assert r.gap == pytest.approx(r.accuracy - reference)
        assert (r.dataset, r.split) == ("mnist/sample", "test")
    assert students.gap == 0.0
    assert by_name["employees, inverted"].accuracy < 0.5 < by_name["employees"].accuracy  # a real shift
    assert result.model.startswith("KNN(k=1")


def test_run_trains_and_tests_on_writer_disjoint_sides(sample_file):
    protocol = shift.get_protocol("sample-writers", sample_file)
    train = load_selection(protocol.train)
    held_out = load_selection(protocol.domains[protocol.in_domain])
    assert not set(train.metadata["writer_id"]) & set(held_out.metadata["writer_id"])
    assert (train.metadata["hsf_series"] == 4).all() and (held_out.metadata["hsf_series"] == 4).all()
    assert len(train) + len(held_out) == 961


def test_limit_is_a_seeded_subset_and_runs_are_reproducible(sample_file):
    first = shift.run("sample-halves", "centroid", protocols_file=sample_file, limit=100)
    again = shift.run("sample-halves", "centroid", protocols_file=sample_file, limit=100)
    assert first.to_dict() == again.to_dict()
    assert first.train["n"] == 100 and [r.n for r in first.rows] == [100, 100] and first.limit == 100
    protocol = shift.get_protocol("sample-halves", sample_file)
    kept = load_selection(protocol.domains["last half"], limit=100)
    assert (np.diff(kept.index) > 0).all() and kept.index.min() >= 5000  # published order, not the first 100
    assert kept.index.max() > load_selection(protocol.domains["last half"]).index[150]


def test_run_accepts_any_classifier_object_and_refuses_others(sample_file):
    class Majority:
        def fit(self, X, y):
            assert X.ndim == 2 and X.shape[1] == 784  # flat features, as scikit-learn wants
            values, counts = np.unique(y, return_counts=True)
            self.label = values[counts.argmax()]
            return self

        def predict(self, X):
            return np.full(len(X), self.label)

    result = shift.run("sample-halves", Majority(), protocols_file=sample_file)
    assert all(r.accuracy < 0.2 for r in result.rows)
    with pytest.raises(ValueError, match="unknown model 'svm'; the baselines are knn, knn3, centroid, logreg"):
        shift.run("sample-halves", "svm", protocols_file=sample_file)
    with pytest.raises(TypeError, match=r"needs fit\(X, y\) and predict\(X\)"):
        shift.run("sample-halves", object(), protocols_file=sample_file)
    with pytest.raises(ValueError, match="limit must be a positive number"):
        shift.run("sample-halves", "knn", protocols_file=sample_file, limit=0)


def _one_protocol(domain: str, train: str = "{dataset: mnist/sample, split: test, half: first}") -> str:
    return ("version: 1\nprotocols:\n  p:\n    description: d\n"
            f"    train: {train}\n    in_domain: d\n    domains:\n      d: {domain}\n")


def test_run_explains_what_cannot_work(tmp_path):
    padded = load_protocols(_one_protocol(
        "{dataset: mnist/sample, split: test, half: last, transform: [{name: Pad, padding: 6}]}"))["p"]
    with pytest.raises(ProtocolError, match=r"p.domains\['d'\]: images of shape \(40, 40\), but the model trains "
                                            r"on \(28, 28\); add a transform .*Pad"):
        shift.run(padded, "centroid")
    unknown = load_protocols(_one_protocol("{dataset: mnist-c/shot-nose, split: test}"))["p"]
    with pytest.raises(ProtocolError, match=r"p.domains\['d'\]: unknown dataset 'mnist-c/shot-nose'.*shot-noise"):
        shift.run(unknown, "centroid")
    no_join = load_protocols(_one_protocol("{dataset: mnist/sample, split: test, metadata: qmnist}"))["p"]
    with pytest.raises(ProtocolError, match=r"p.domains\['d'\].metadata: mnist/sample \[test\] has no metadata"):
        shift.run(no_join, "centroid")
    no_column = load_protocols(_one_protocol("{dataset: mnist/sample, split: test, where: {author: 3}}"))["p"]
    with pytest.raises(ProtocolError, match=r"(?s)p.domains\['d'\]: 1 problem.*has no column 'author'"):
        shift.run(no_column, "centroid")
    empty = load_protocols(_one_protocol("{dataset: mnist/sample, split: test, where: {hsf_series: 2}}"))["p"]
    with pytest.raises(ProtocolError, match="no example is left to use"):
        shift.run(empty, "centroid")


def test_domains_must_share_the_training_classes_and_be_single_label(sample):
    from mnistfamily.shift.experiment import _labels_as_train, _mismatches

    protocol = load_protocols(_one_protocol("{dataset: mnist/sample, split: test}"))["p"]
    train = _toy([1, 2, 3])  # classes a, b, c
    renamed = Dataset(np.zeros((3, 2, 2), np.uint8), np.array([0, 1, 2]), classes=["c", "a", "b"], name="renamed")
    assert _mismatches(protocol, "d", renamed, train) == []
    assert _labels_as_train(renamed, train).tolist() == [2, 0, 1]  # matched by class name
    other = Dataset(np.zeros((3, 2, 2), np.uint8), np.array([0, 1, 2]), classes=["a", "b", "z"], name="other")
    assert _mismatches(protocol, "d", other, train) == [
        "p.domains['d']: classes ['z'] of other do not occur in the training dataset toy (its classes: a, b, c)"]
    multi = Dataset(np.zeros((3, 2, 2), np.uint8), np.eye(3, dtype=np.int64), classes=["a", "b", "c"], name="multi")
    assert "multi-label" in _mismatches(protocol, "d", multi, train)[0]


def test_a_model_must_predict_one_label_per_example(sample_file):
    class Broken:
        def fit(self, X, y):
            return self

        def predict(self, X):
            return np.zeros((len(X), 2))

    with pytest.raises(ValueError, match=r"predict returned shape \(\d+, 2\) for \d+ examples of domain "
                                         r"'first half'; expected one label per example"):
        shift.run("sample-halves", Broken(), protocols_file=sample_file)


def test_shift_run_and_protocols_are_the_functions_after_submodule_imports(sample_file):
    import mnistfamily.shift.experiment  # noqa: F401
    import mnistfamily.shift.protocols  # noqa: F401

    assert callable(shift.run) and callable(shift.protocols) and "writers" in shift.protocols()
    result = shift.run("sample-halves", "centroid", protocols_file=sample_file, limit=50)
    assert isinstance(result, Result)


# ----------------------------------------------------------------------------- Result


@pytest.fixture(scope="module")
def result() -> Result:
    return shift.run(load_protocols(SAMPLE_PROTOCOLS)["sample-writers"], "centroid")


def test_result_json_and_table(result, tmp_path):
    target = tmp_path / "out" / "result.json"
    text = result.to_json(target)
    record = json.loads(target.read_text(encoding="utf-8"))
    assert json.loads(text) == record
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]  # no temporary file left
    assert record["protocol"] == "sample-writers" and record["model"] == "NearestCentroid()"
    assert record["in_domain"] == "students, held out" and record["confidence"] == 0.95
    assert record["spec"]["train"]["writer_fold"] == {"folds": 4, "fold": 1, "side": "train", "seed": 7,
                                                      "column": "writer_id"}
    assert set(record["rows"][0]) == {"domain", "dataset", "split", "n", "accuracy", "error", "ci_low",
                                      "ci_high", "gap", "label_errors", "accuracy_without_label_errors"}
    table = result.table()
    assert str(result) == table
    assert "in-domain" in table and "95% interval" in table and "1,039" in table
    assert result.row("employees").n == 1039
    with pytest.raises(KeyError, match="has no domain 'teachers'"):
        result.row("teachers")


def test_result_plot_draws_a_bar_and_an_interval_per_domain(result, tmp_path):
    from PIL import Image

    path = result.plot(tmp_path / "chart.png")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        width, height = picture.size
        pixels = np.asarray(picture.convert("RGB"))
    assert width >= 900 and 120 < height < 400
    is_colour = {name: (pixels == np.array(colour, np.uint8)).all(axis=2)
                 for name, colour in [("in", IN_DOMAIN_BAR), ("other", OTHER_BAR), ("ci", INTERVAL),
                                      ("line", REFERENCE_LINE)]}
    bar_rows = np.flatnonzero(is_colour["in"].any(axis=1) | is_colour["other"].any(axis=1))
    bands = np.split(bar_rows, np.flatnonzero(np.diff(bar_rows) > 1) + 1)  # one band of rows per bar
    assert len(bands) == 3
    assert is_colour["in"][bands[0]].sum() > 500 and not is_colour["in"][bands[1]].any()
    lengths = [is_colour["other"][band].any(axis=0).sum() for band in bands[1:]]
    assert lengths[0] > 2 * lengths[1] > 0  # employees (~80 %) against inverted (~10 %)
    for band in bands:
        assert is_colour["ci"][band].sum() > 20  # the interval's whiskers
    assert is_colour["line"].sum() > 30
    # the same chart as a JPEG, chosen by suffix
    with Image.open(result.plot(tmp_path / "chart.jpg")) as picture:
        assert picture.format == "JPEG"


def test_axis_range_starts_low_enough_and_on_a_tick():
    assert axis_range(0.3) == (0.0, 0.1)
    start, step = axis_range(0.962)
    assert start <= 0.962 - 0.005 and (1 - start) / step <= 10
    assert round(start / step, 6) == round(start / step)
    start, step = axis_range(0.9995)
    assert 0.99 <= start < 0.9995


# ----------------------------------------------------------------------------- CLI


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mnistfamily")
    add_shift_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_lists_and_runs_protocols(sample_file, tmp_path, capsys):
    assert _cli(["shift", "--list"]) == 0
    out = capsys.readouterr().out
    assert "writers-reverse" in out and "in-domain  employees, held-out writers" in out
    json_path, png_path = tmp_path / "r.json", tmp_path / "r.png"
    assert _cli(["shift", "sample-writers", "--protocols", str(sample_file), "--model", "centroid",
                 "--json", str(json_path), "--plot", str(png_path), "--limit", "400"]) == 0
    out = capsys.readouterr().out
    assert "sample-writers: NearestCentroid()" in out and "employees, inverted" in out
    assert json.loads(json_path.read_text())["limit"] == 400 and png_path.stat().st_size > 1000
    assert _cli(["shift"]) == 2
    assert "name a protocol" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^2$"):
        _cli(["shift", "writers", "--model", "svm"])


def test_cli_wired_into_mnistfamily(sample_file, capsys):
    from mnistfamily.cli import build_parser, main

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    if "shift" not in commands.choices:
        pytest.skip("the shift command is not wired into mnistfamily.cli yet")
    assert main(["shift", "--list"]) == 0
    assert main(["shift", "sample-halves", "--protocols", str(sample_file), "--model", "centroid"]) == 0
    assert "first half" in capsys.readouterr().out
    assert main(["shift", "no-such-protocol"]) == 2
    assert "no shift protocol 'no-such-protocol'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_writers_protocol_on_real_mnist(realdata, cache):
    mf.load("mnist", "train", source=realdata / "mnist-kaggle-layout", data_dir=cache)  # train images
    result = shift.run("writers", "knn", data_dir=cache, source=realdata, limit=3000)
    rows = {r.domain: r for r in result.rows}
    assert list(rows) == ["employees, held-out writers", "students", "employees, MNIST test", "students, MNIST test"]
    assert result.train["n"] == 3000 and all(r.n == 3000 for r in result.rows)
    for r in result.rows:
        assert r.ci_low < r.accuracy < r.ci_high and r.accuracy > 0.85
    assert rows["employees, held-out writers"].gap == 0
    # the whole training set, the fast model: the students are clearly harder for employee-trained models
    full = shift.run("writers", "centroid", data_dir=cache, source=realdata)
    rows = {r.domain: r for r in full.rows}
    assert full.train["n"] + rows["employees, held-out writers"].n == 30_950
    assert (rows["students"].n, rows["employees, MNIST test"].n, rows["students, MNIST test"].n) == (29_050, 4_999,
                                                                                                     5_001)
    assert rows["students"].ci_high < rows["employees, held-out writers"].ci_low
    protocol = shift.get_protocol("writers")
    train = load_selection(protocol.train, data_dir=cache, source=realdata)
    held_out = load_selection(protocol.domains[protocol.in_domain], data_dir=cache, source=realdata)
    assert not set(train.metadata["writer_id"]) & set(held_out.metadata["writer_id"])


def test_a_protocols_file_is_read_as_strictly_as_the_registry():
    """One strict YAML reader for both kinds of file: an alias bomb and a Python tag are problems with their
    place in the file, never built."""
    bomb = "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh")) + "protocols: *h\n"
    with pytest.raises(ProtocolError, match=r"aliases expand to more than 200,000 values"):
        load_protocols(bomb)
    tagged = "version: 1\nprotocols: !!python/name:os.system ''\n"
    with pytest.raises(ProtocolError, match=r"protocols \(line 2\): cannot read the value"):
        load_protocols(tagged)
