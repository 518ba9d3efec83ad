"""DomainBed-style evaluation: the holdout, leave one environment out, training-domain validation, results."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import ShiftError
from mnistfamily import transforms as T
from mnistfamily.baselines import MLP, KNN, NearestCentroid
from mnistfamily.dataset import Dataset
from mnistfamily.shift.environments import (EnvironmentResult, environments_by_column, holdout,
                                            leave_one_environment_out, load_environments, seed_hash)


@pytest.fixture(scope="module")
def sample() -> Dataset:
    return mf.load("mnist/sample", "test")


@pytest.fixture(scope="module")
def rotated(sample) -> dict[str, Dataset]:
    """The sample dealt into three environments rotated by 0, 30 and 60 degrees."""
    return {str(a): sample.select(slice(i, None, 3)).map(T.RotateDegrees(a)) for i, a in enumerate((0, 30, 60))}


# ----------------------------------------------------------------------------- DomainBed's holdout


def test_seed_hash_is_domainbeds():
    # misc.seed_hash: int(md5(str(args)).hexdigest(), 16) % 2**31, on the tuple of arguments
    assert seed_hash(0, 0) == int(hashlib.md5(b"(0, 0)").hexdigest(), 16) % 2 ** 31
    assert seed_hash(2, 5) == int(hashlib.md5(b"(2, 5)").hexdigest(), 16) % 2 ** 31
    assert seed_hash("RotatedMNIST", "ERM", [0], 0, 0) == \
        int(hashlib.md5(b"('RotatedMNIST', 'ERM', [0], 0, 0)").hexdigest(), 16) % 2 ** 31


def test_holdout_is_domainbeds_split_dataset():
    # DomainBed: keys = list(range(n)); np.random.RandomState(seed).shuffle(keys); out = keys[:n_out]
    n, seed = 11_667, seed_hash(0, 3)
    keys = list(range(n))
    np.random.RandomState(seed).shuffle(keys)
    inside, out = holdout(n, 0.2, seed)
    assert len(out) == int(n * 0.2) == 2333
    assert out.tolist() == keys[:2333] and inside.tolist() == keys[2333:]
    assert inside.dtype == out.dtype == np.int64
    assert not set(inside) & set(out) and len(set(inside) | set(out)) == n


@pytest.mark.parametrize("n, fraction, message", [
    (1, 0.2, "at least 2 examples"), (True, 0.2, "at least 2 examples"),
    (10, 0.0, "strictly between 0 and 1"), (10, 1.0, "strictly between 0 and 1"),
])
def test_holdout_refuses_impossible_cuts(n, fraction, message):
    with pytest.raises(ShiftError, match=message):
        holdout(n, fraction)


# ----------------------------------------------------------------------------- leave one out


def test_each_environment_is_held_out_in_turn_on_its_in_part(rotated):
    result = leave_one_environment_out(rotated, "centroid", name="rotated sample")
    assert [r.environment for r in result.rows] == ["0", "30", "60"]
    for i, (name, ds) in enumerate(rotated.items()):
        inside, out = holdout(len(ds), 0.2, seed_hash(0, i))
        row = result.row(name)
        assert row.n == len(inside)
        assert row.n_train == sum(len(holdout(len(d), 0.2, seed_hash(0, j))[0])
                                  for j, (other, d) in enumerate(rotated.items()) if other != name)
        # the same model by hand: fitted on the others' "in" parts, scored on this one's "in" part
        parts = [holdout(len(d), 0.2, seed_hash(0, j)) for j, d in enumerate(rotated.values())]
        others = [j for j in range(3) if j != i]
        X = np.concatenate([list(rotated.values())[j].images[parts[j][0]] for j in others])
        y = np.concatenate([list(rotated.values())[j].labels[parts[j][0]] for j in others])
        model = NearestCentroid().fit(X, y)
        assert row.accuracy == model.score(ds.images[inside], ds.labels[inside])
        assert row.validation == pytest.approx(np.mean([
            model.score(list(rotated.values())[j].images[parts[j][1]], list(rotated.values())[j].labels[parts[j][1]])
            for j in others]))
        assert row.ci_low < row.accuracy < row.ci_high and row.error == pytest.approx(1 - row.accuracy)
    assert result.average == pytest.approx(np.mean([r.accuracy for r in result.rows]))
    # the middle angle lies between the other two: it is the easiest to reach
    assert result.row("30").accuracy > max(result.row("0").accuracy, result.row("60").accuracy)


def test_training_domain_validation_chooses_the_best_candidate(rotated):
    candidates = [KNN(k=1), NearestCentroid()]
    result = leave_one_environment_out(rotated, candidates, test_environments=["60"])
    alone = {repr(c): leave_one_environment_out(rotated, c, test_environments=["60"]).row("60") for c in candidates}
    best = max(alone.values(), key=lambda r: r.validation)
    row = result.row("60")
    assert row.model == best.model and row.validation == best.validation and row.accuracy == best.accuracy
    assert "2 candidates" in result.model
    assert best.model in result.table()  # several candidates: the table names the chosen one


def test_a_model_taking_validation_keeps_its_best_epoch(rotated):
    model = MLP(hidden=(32,), epochs=4, seed=1)
    result = leave_one_environment_out(rotated, model, test_environments=["0"])
    row = result.row("0")
    assert row.epoch is not None and 1 <= row.epoch <= 4
    assert "epoch" in result.table()
    assert not hasattr(model, "weights_")  # the template is copied, never fitted itself


def test_models_may_be_names_classes_factories_or_templates(rotated):
    by_name = leave_one_environment_out(rotated, "centroid", test_environments=["30"]).row("30")
    for model in (NearestCentroid, lambda: NearestCentroid(), NearestCentroid()):
        assert leave_one_environment_out(rotated, model, test_environments=["30"]).row("30") == by_name


def test_limit_is_a_seeded_subset_before_the_holdout(rotated):
    first = leave_one_environment_out(rotated, "centroid", limit=300)
    again = leave_one_environment_out(rotated, "centroid", limit=300)
    assert first.rows == again.rows and first.sizes == {"0": 300, "30": 300, "60": 300}
    assert all(r.n == 240 for r in first.rows)
    assert "limit: at most 300 examples per environment" in first.table()


def test_any_example_shape_works_colours_included(sample):
    two = np.stack([sample.images, 255 - sample.images], axis=-1)  # (N, 28, 28, 2)
    ds = Dataset(two, sample.labels, classes=sample.classes)
    envs = {"a": ds.select(slice(0, 1000)), "b": ds.select(slice(1000, 2000))}
    result = leave_one_environment_out(envs, "centroid")
    assert all(0.5 < r.accuracy < 1 for r in result.rows)


def test_environments_by_column_cuts_one_dataset(sample):
    envs = environments_by_column(sample, "hsf_series", {0: "employees", 4: "students"})
    assert list(envs) == ["employees", "students"] and len(envs["employees"]) + len(envs["students"]) == 2000
    assert set(envs["students"].metadata["hsf_series"]) == {4}
    assert list(environments_by_column(sample.select(slice(0, 10)), "label")) == \
        sorted({str(v) for v in sample.labels[:10]}, key=int)
    with pytest.raises(ShiftError, match="not one value per example"):
        environments_by_column(Dataset(np.zeros((2, 2, 2), np.uint8), np.zeros(2, np.int64), classes=["a"],
                                       metadata={"m": np.zeros((2, 3))}), "m")


def test_what_cannot_be_evaluated_is_refused_clearly(rotated, sample):
    with pytest.raises(ShiftError, match="at least 2 environments"):
        leave_one_environment_out({"0": rotated["0"]}, "centroid")
    with pytest.raises(ShiftError, match=r"test environments \['90'\] are not among 0, 30, 60"):
        leave_one_environment_out(rotated, "centroid", test_environments=["90"])
    with pytest.raises(ShiftError, match="limit must be a number of examples of at least 2"):
        leave_one_environment_out(rotated, "centroid", limit=1)
    with pytest.raises(ShiftError, match="an empty list of candidates"):
        leave_one_environment_out(rotated, [])
    with pytest.raises(ValueError, match="unknown model 'forest'"):
        leave_one_environment_out(rotated, "forest")
    with pytest.raises(TypeError, match="a model needs fit"):
        leave_one_environment_out(rotated, object())
    small = {"a": sample.select(slice(0, 50)), "b": sample.select(slice(50, 100)).map(T.Pad(2))}
    with pytest.raises(ShiftError, match=r"'b' has examples of shape \(32, 32\), 'a' of \(28, 28\)"):
        leave_one_environment_out(small, "centroid")
    multi = Dataset(sample.images[:50], np.eye(10, dtype=np.int64)[sample.labels[:50]], classes=sample.classes)
    with pytest.raises(ShiftError, match="'b' is multi-label"):
        leave_one_environment_out({"a": sample.select(slice(0, 50)), "b": multi}, "centroid")
    other = Dataset(sample.images[:50], sample.labels[:50], classes=list("abcdefghij"))
    with pytest.raises(ShiftError, match="must share their classes"):
        leave_one_environment_out({"a": sample.select(slice(0, 50)), "b": other}, "centroid")

    class OneLabel:
        def fit(self, X, y):
            return self

        def predict(self, X):
            return np.zeros(1, np.int64)

    with pytest.raises(ShiftError, match="predict returned shape"):
        leave_one_environment_out(rotated, OneLabel(), test_environments=["0"])


# ----------------------------------------------------------------------------- the result


@pytest.fixture(scope="module")
def result(rotated) -> EnvironmentResult:
    return leave_one_environment_out(rotated, "centroid", name="rotated sample")


def test_result_table_json_and_chart(result, tmp_path):
    table = result.table()
    assert str(result) == table
    assert table.startswith("rotated sample: NearestCentroid()")
    assert "training-domain validation (20% of every environment held out, trial seed 0)" in table
    assert "average" in table and f"{result.average:.2%}" in table
    target = tmp_path / "out" / "result.json"
    record = json.loads(result.to_json(target))
    assert record == json.loads(target.read_text(encoding="utf-8"))
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]
    assert record["selection"] == "training-domain validation" and record["holdout_fraction"] == 0.2
    assert record["sizes"] == {"0": 667, "30": 667, "60": 666} and record["average"] == result.average
    assert set(record["rows"][0]) == {"environment", "n", "accuracy", "error", "ci_low", "ci_high", "validation",
                                      "n_train", "model", "epoch"}
    from PIL import Image

    path = result.plot(tmp_path / "chart.png")
    with Image.open(path) as picture:
        assert picture.mode == "RGB" and picture.size[0] >= 900
    with pytest.raises(KeyError, match="has no test environment '90'"):
        result.row("90")


def test_load_environments_loads_every_split_in_registry_order(tmp_path):
    from mnistfamily.testing import write_miniatures

    mini = write_miniatures(tmp_path / "m", "file:///unused", names=["rotatedmnist"])
    envs = load_environments("rotatedmnist", registry=mini.registry, data_dir=tmp_path / "cache",
                             source=tmp_path / "m" / "mnist")
    assert list(envs) == ["0", "15", "30", "45", "60", "75"]
    assert [int(ds.metadata["angle"][0]) for ds in envs.values()] == [0, 15, 30, 45, 60, 75]
    two = load_environments("rotatedmnist", ["75", "0"], registry=mini.registry, data_dir=tmp_path / "cache")
    assert list(two) == ["75", "0"]


# ----------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_rotatedmnist_extremes_are_the_hardest_environments_on_real_mnist(realdata, cache):
    """DomainBed's table: 0 and 75 degrees are the hardest held-out environments for every method."""
    envs = load_environments("rotatedmnist", source=realdata / "mnist-kaggle-layout", data_dir=cache)
    for model, limit in (("centroid", None), (MLP(hidden=(128,), epochs=5, seed=0), 2500)):
        result = leave_one_environment_out(envs, model, limit=limit, name="rotatedmnist")
        rows = {r.environment: r for r in result.rows}
        middle = [rows[a] for a in ("15", "30", "45", "60")]
        for extreme in (rows["0"], rows["75"]):
            assert extreme.ci_high < min(r.ci_low for r in middle), (model, result.table())
