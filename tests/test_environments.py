"""Derived datasets dealt into environments (DomainBed's RotatedMNIST) and PIL's rotation, byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import transforms as T
from mnistfamily.errors import RegistryError
from mnistfamily.registry import Registry, get_registry
from mnistfamily.testing import serve_directory, write_miniatures
from mnistfamily.transforms import TransformError

ANGLES = [0, 15, 30, 45, 60, 75]


def _pil_rotate(images: np.ndarray, degrees: float, interpolation: str) -> np.ndarray:
    """What DomainBed computes: torchvision's rotate on a PIL 'L' image = Image.rotate, fill 0."""
    from PIL import Image

    resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[interpolation]
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(x), mode="L").rotate(
        degrees, resample, expand=False, center=None, fillcolor=(0,))) for x in images])


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return np.asarray(mf.load("mnist/sample", "test").images)


# ----------------------------------------------------------------------------- the rotation


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("degrees", [*ANGLES, 90, 270, -20, 181.5, 1e-9, 400])
def test_rotate_degrees_equals_pil_byte_for_byte(sample, degrees, interpolation):
    ours = T.RotateDegrees(degrees, interpolation)(sample)
    np.testing.assert_array_equal(ours, _pil_rotate(sample, degrees, interpolation))


def test_rotate_degrees_on_other_shapes_and_kinds_matches_pil():
    from PIL import Image

    rng = np.random.default_rng(0)
    wide = rng.integers(0, 256, (5, 9, 14), dtype=np.uint8)  # not square: 90 degrees is not a quarter turn here
    for degrees in (90, 33):
        np.testing.assert_array_equal(T.RotateDegrees(degrees)(wide), _pil_rotate(wide, degrees, "bicubic"))
    rgb = rng.integers(0, 256, (3, 12, 12, 3), dtype=np.uint8)  # channels last: bands one by one, as PIL
    expected = np.stack([np.asarray(Image.fromarray(x, mode="RGB").rotate(20, Image.BICUBIC, fillcolor=(0, 0, 0)))
                         for x in rgb])
    np.testing.assert_array_equal(T.RotateDegrees(20)(rgb), expected)
    floats = rng.random((2, 10, 10)).astype(np.float32)  # PIL's "F" mode: no truncation, float32 out
    expected = np.stack([np.asarray(Image.fromarray(x, mode="F").rotate(20, Image.BILINEAR)) for x in floats])
    out = T.RotateDegrees(20, "bilinear")(floats)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_rotate_degrees_is_batch_and_chunk_independent(sample):
    t = T.RotateDegrees(45)
    whole = t(sample)
    np.testing.assert_array_equal(t(sample[123:124])[0], whole[123])
    np.testing.assert_array_equal(T.apply_in_chunks(t, sample, chunk_size=7), whole)


@pytest.mark.parametrize("kwargs, message", [
    ({"degrees": float("nan")}, "degrees must be a finite number"),
    ({"degrees": "15"}, "degrees must be a finite number"),
    ({"degrees": True}, "degrees must be a finite number"),
    ({"degrees": 15, "interpolation": "nearest"}, "interpolation must be one of bicubic, bilinear"),
])
def test_rotate_degrees_refuses_bad_parameters(kwargs, message):
    with pytest.raises(TransformError, match=message):
        T.RotateDegrees(**kwargs)


@pytest.mark.realdata
def test_rotate_degrees_equals_pil_on_all_of_mnist_test(realdata, cache):
    images = np.asarray(mf.load("mnist", "test", source=realdata / "mnist", data_dir=cache).images)
    for degrees in ANGLES[1:]:
        np.testing.assert_array_equal(T.RotateDegrees(degrees)(images), _pil_rotate(images, degrees, "bicubic"))


# ----------------------------------------------------------------------------- the registry


def test_rotatedmnist_entries_deal_six_environments_of_published_sizes():
    for name, interpolation in (("rotatedmnist", "bicubic"), ("rotatedmnist/bilinear", "bilinear")):
        spec = get_registry().dataset(name)
        env = spec.environments
        assert spec.base == "mnist" and env.source == ("train", "test") and env.seed == 0
        assert list(spec.splits) == ["0", "15", "30", "45", "60", "75"]
        assert [s.num_examples for s in spec.splits.values()] == [11_667] * 4 + [11_666] * 2
        assert [dict(e.columns) for e in env.splits] == [{"angle": a} for a in ANGLES]
        assert [list(e.transforms) for e in env.splits] == [
            [{"name": "RotateDegrees", "degrees": a, "interpolation": interpolation}] for a in ANGLES]
        info = mf.info(name)
        assert info.metadata_columns == ("environment", "source_split", "source_index", "angle")
        assert spec.joins == {}  # MNIST's joins name train/test, not environments
    assert get_registry().dataset("rotatedmnist").environments.to_dict()["from"] == ["train", "test"]


def test_bad_environment_entries_are_reported_at_once(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        datasets:
          mine/a:
            base: mnist
            title: A
          mine/b:
            base: mnist
            title: B
            environments:
              from: [train, tset]
              seed: 0
              splits: {one: {}, two: {}}
          mine/c:
            base: mnist
            title: C
            environments:
              from: train
              seed: -1
              column: "not a column"
              splits:
                only: {columns: {angle: "fifteen", source_index: 3, 9lives: 1}}
                Bad Name: {}
          mine/d:
            base: mnist
            title: D
            environments: {from: [test], seed: 1, splits: {x: {transforms: Deskew}, y: {}}, deal: random}
        """))
    with pytest.raises(RegistryError, match="problem") as caught:
        mf.datasets(registry=path)
    text = str(caught.value)
    for expected in [
        "mine/a.transforms", "a derived dataset needs transforms, environments, or both",
        "mine/c.environments.from", "a non-empty list of the base's split names",
        "mine/c.environments.seed", "mine/c.environments.column",
        "mine/c.environments.splits.only.columns", "a mapping of column names to numbers",
        "'Bad Name' is not a split name",
        "mine/d.environments.deal", "unknown key",
        "mine/d.environments.splits.x.transforms", "a list of transform specs",
    ]:
        assert expected in text, expected
    # once every entry parses, the base's splits are checked
    path.write_text(textwrap.dedent("""\
        version: 1
        datasets:
          mine/b:
            base: mnist
            title: B
            environments:
              from: [train, tset]
              seed: 0
              splits: {one: {}, two: {}}
          mine/e:
            base: mnist
            title: E
            environments:
              from: [test]
              seed: 0
              splits: {one: {columns: {environment: 1, source_split: 2}}, two: {}}
          mine/f:
            base: mnist
            title: F
            environments: {from: [test], seed: 0, splits: {alone: {}}}
        """))
    with pytest.raises(RegistryError, match="problem") as caught:
        mf.datasets(registry=path)
    text = str(caught.value)
    assert "mine/e.environments.splits.one.columns.environment" in text
    assert "'source_split' is a column every environment carries already" in text
    assert "mine/f.environments.splits" in text and "at least two environments" in text
    path.write_text(path.read_text().split("  mine/e:")[0])
    with pytest.raises(RegistryError, match=r"mine/b.environments.from: 'tset' is not a split of mnist "
                                            r"\(its splits: train, test\)"):
        mf.datasets(registry=path)


# ----------------------------------------------------------------------------- loading


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url, names=["rotatedmnist", "rotatedmnist/bilinear"])


def test_environments_are_dealt_as_domainbed_deals_and_rotated_by_their_angle(served, cache):
    _, mini = served
    reg = mini.registry
    train = mf.load("mnist", "train", registry=reg, data_dir=cache)
    test = mf.load("mnist", "test", registry=reg, data_dir=cache)
    joined_images = np.concatenate([train.images, test.images])
    joined_labels = np.concatenate([train.labels, test.labels])
    n = len(joined_labels)
    # DomainBed: shuffled = whole[permutation]; environment i = shuffled[i::6] (our permutation: numpy's)
    shuffled = np.random.default_rng(0).permutation(n)
    envs = mf.load("rotatedmnist", registry=reg, data_dir=cache)
    assert list(envs) == ["0", "15", "30", "45", "60", "75"]
    seen = []
    for i, (name, ds) in enumerate(envs.items()):
        rows = shuffled[i::6]
        assert len(ds) == len(rows) == reg.dataset("rotatedmnist").splits[name].num_examples
        joined = np.where(ds.metadata["source_split"] == 0, 0, len(train)) + ds.metadata["source_index"]
        np.testing.assert_array_equal(joined, rows)
        np.testing.assert_array_equal(ds.labels, joined_labels[rows])
        np.testing.assert_array_equal(ds.index, np.arange(len(ds)))
        assert set(ds.metadata["environment"]) == {i} and set(ds.metadata["angle"]) == {ANGLES[i]}
        assert list(ds.metadata) == ["environment", "source_split", "source_index", "angle"]
        np.testing.assert_array_equal(ds.images, _pil_rotate(joined_images[rows], ANGLES[i], "bicubic"))
        seen.append(joined)
    everything = np.concatenate(seen)
    assert len(everything) == n and len(np.unique(everything)) == n  # disjoint, and they cover the base
    bilinear = mf.load("rotatedmnist/bilinear", "45", registry=reg, data_dir=cache)
    np.testing.assert_array_equal(bilinear.metadata["source_index"], envs["45"].metadata["source_index"])
    np.testing.assert_array_equal(bilinear.images, _pil_rotate(joined_images[shuffled[3::6]], 45, "bilinear"))
    assert not np.array_equal(bilinear.images, envs["45"].images)


def test_environment_cache_keys_follow_the_deal_and_the_angles(served, cache):
    from mnistfamily.prepare import recipe_for as _recipe
    from mnistfamily.prepare.entry import entry_key
    from mnistfamily.registry.schema import EnvironmentSpec

    _, mini = served
    spec = mini.registry.dataset("rotatedmnist")

    def key(s):
        return entry_key(_recipe(mini.registry, s, s.splits["15"], "upright"))

    original = key(spec)
    env = spec.environments
    assert key(replace(spec, environments=replace(env, seed=1))) != original
    turned = tuple(replace(e, transforms=({"name": "RotateDegrees", "degrees": 16},)) if e.name == "15" else e
                   for e in env.splits)
    assert key(replace(spec, environments=replace(env, splits=turned))) != original
    assert key(replace(spec, environments=replace(env, source=("test", "train")))) != original
    extra = (*env.splits, EnvironmentSpec(name="90"))
    assert key(replace(spec, environments=replace(env, splits=extra))) != original  # 7 environments, other deal


def test_split_expressions_and_selection_work_on_environments(served, cache):
    _, mini = served
    both = mf.load("rotatedmnist", "0+75", registry=mini.registry, data_dir=cache)
    zero = mf.load("rotatedmnist", "0", registry=mini.registry, data_dir=cache)
    assert len(both) == len(zero) + mini.registry.dataset("rotatedmnist").splits["75"].num_examples
    assert set(both.metadata["angle"]) == {0, 75}
    assert set(zero.filter(environment=0).metadata["angle"]) == {0}


def test_warm_load_of_an_environment_imports_no_transform_code(tmp_path):
    code = textwrap.dedent("""
        import sys, mnistfamily as mf
        from mnistfamily.registry import Registry
        from mnistfamily.testing import write_miniatures
        reg = Registry.from_files([sys.argv[1]])
        mf.load("rotatedmnist", "30", registry=reg, data_dir=sys.argv[2], source=sys.argv[3])
        print(sorted({"scipy", "mnistfamily.transforms", "PIL"} & set(sys.modules)))
    """)
    mini = write_miniatures(tmp_path / "m", "file:///unused", names=["rotatedmnist"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [str(mini.registry_path), str(tmp_path / "cache"), str(tmp_path / "m" / "mnist")]
    cold = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True)
    assert "mnistfamily.transforms" in cold.stdout
    warm_code = code.replace("from mnistfamily.testing import write_miniatures\n", "")
    warm = subprocess.run([sys.executable, "-c", warm_code, *args], env=env, capture_output=True, text=True,
                          check=True)
    assert warm.stdout.strip() == "[]"


@pytest.mark.realdata
def test_rotatedmnist_on_real_mnist_covers_all_70000_digits(realdata, cache):
    source = realdata / "mnist-kaggle-layout"
    envs = mf.load("rotatedmnist", data_dir=cache, source=source)
    train = mf.load("mnist", "train", data_dir=cache, source=source)
    test = mf.load("mnist", "test", data_dir=cache, source=source)
    assert [len(ds) for ds in envs.values()] == [11_667] * 4 + [11_666] * 2
    joined = np.concatenate([ds.metadata["source_split"].astype(np.int64) * 60_000 + ds.metadata["source_index"]
                             for ds in envs.values()])
    assert np.array_equal(np.sort(joined), np.arange(70_000))
    for i, (name, ds) in enumerate(envs.items()):
        assert set(ds.metadata["angle"]) == {int(name)} and set(ds.metadata["environment"]) == {i}
        some = np.arange(0, len(ds), 97)  # a spread of digits from each environment, checked against PIL
        split = ds.metadata["source_split"][some]
        index = ds.metadata["source_index"][some]
        source_images = np.where(split[:, None, None] == 0, np.asarray(train.images)[np.minimum(index, 59_999)],
                                 np.asarray(test.images)[np.minimum(index, 9_999)])
        labels = np.where(split == 0, np.asarray(train.labels)[np.minimum(index, 59_999)],
                          np.asarray(test.labels)[np.minimum(index, 9_999)])
        np.testing.assert_array_equal(ds.labels[some], labels)
        np.testing.assert_array_equal(ds.images[some], _pil_rotate(source_images, int(name), "bicubic"))
    # every class in every environment, in about MNIST's proportions (the deal is a uniform shuffle)
    counts = np.stack([np.bincount(ds.labels, minlength=10) for ds in envs.values()])
    overall = counts.sum(axis=0) / 70_000
    assert np.abs(counts / counts.sum(axis=1, keepdims=True) - overall).max() < 0.01


def test_verify_finds_a_damaged_environment_and_repair_rebuilds_it(served, cache):
    _, mini = served
    before = mf.load("rotatedmnist", "45", registry=mini.registry, data_dir=cache)
    expected = np.array(before.images)
    del before
    entry = next(p for p in (cache / "prepared" / "rotatedmnist").glob("45@*") if p.is_dir())
    path = entry / "images.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    problems = mf.verify("rotatedmnist", registry=mini.registry, data_dir=cache)
    assert [p.path for p in problems] == [str(entry)] and "images.npy" in problems[0] and "CRC-32" in problems[0]
    repaired = mf.verify("rotatedmnist", registry=mini.registry, data_dir=cache, repair=True)
    assert repaired[0].repair.startswith("deleted and rebuilt")
    assert mf.verify("rotatedmnist", registry=mini.registry, data_dir=cache) == []
    np.testing.assert_array_equal(mf.load("rotatedmnist", "45", registry=mini.registry, data_dir=cache).images,
                                  expected)
