"""ColoredMNIST as registry entries (``coloredmnist``, ``coloredmnist/irm``): the prepared environments are the
in-memory construction byte for byte, their statistics are the papers', and bad constructions are refused."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import RegistryError, ShiftError
from mnistfamily.registry import get_registry
from mnistfamily.shift.coloredmnist import coloredmnist_environments
from mnistfamily.testing import write_miniatures
from mnistfamily.transforms.coloredmnist import construct

#: the entries' environments and the in-memory construction's, in the same order
NAMES = {"coloredmnist": ["plus90", "plus80", "minus90"],
         "coloredmnist/irm": ["train-e20", "train-e10", "test-e90"]}
COLUMNS = ("environment", "digit", "label_noise", "colour", "colour_flip", "source_split", "source_index")
SIGMAS = 4.5


def _same_as_in_memory(entry: dict, memory: dict) -> None:
    assert len(entry) == len(memory) == 3
    for (name, ds), (_, mine) in zip(entry.items(), memory.items()):
        assert ds.images.dtype == mine.images.dtype == np.uint8
        np.testing.assert_array_equal(ds.images, mine.images, err_msg=name)
        np.testing.assert_array_equal(ds.labels, mine.labels, err_msg=name)
        assert ds.classes == mine.classes == ["5-9", "0-4"]
        for column in COLUMNS:
            np.testing.assert_array_equal(ds.metadata[column], mine.metadata[column], err_msg=f"{name}.{column}")


@pytest.fixture
def mini(tmp_path):
    folder = tmp_path / "m"
    return write_miniatures(folder, "file:///unused", names=list(NAMES)), folder / "mnist"


def test_the_entries_are_the_in_memory_construction_byte_for_byte(mini, cache):
    miniatures, source = mini
    reg = miniatures.registry
    train = mf.load("mnist", "train", registry=reg, data_dir=cache, source=source)
    test = mf.load("mnist", "test", registry=reg, data_dir=cache, source=source)
    domainbed = mf.load("coloredmnist", registry=reg, data_dir=cache, source=source)
    assert list(domainbed) == NAMES["coloredmnist"]
    _same_as_in_memory(domainbed, coloredmnist_environments(train, test, protocol="domainbed"))
    irm_size = reg.dataset("coloredmnist/irm").environments.construction["train_size"]
    assert 2 <= irm_size < len(train)  # the miniature's train_size is scaled with its train split
    irm = mf.load("coloredmnist/irm", registry=reg, data_dir=cache, source=source)
    assert list(irm) == NAMES["coloredmnist/irm"]
    from mnistfamily.transforms.coloredmnist import irm_construction

    expected = irm_construction(np.asarray(train.labels), train_size=irm_size)
    for number, ds in enumerate(irm.values()):
        np.testing.assert_array_equal(ds.metadata["source_index"], expected.rows[expected.environment == number])
        np.testing.assert_array_equal(ds.metadata["colour"], expected.colour[expected.environment == number])
    assert info_columns("coloredmnist") == ("environment", "source_split", "source_index", "e", "digit",
                                            "label_noise", "colour", "colour_flip")


def info_columns(name: str) -> tuple[str, ...]:
    return mf.info(name).metadata_columns


def test_the_registry_declares_the_published_sizes_shapes_and_classes():
    reg = get_registry()
    domainbed, irm = reg.dataset("coloredmnist"), reg.dataset("coloredmnist/irm")
    assert {k: s.num_examples for k, s in domainbed.splits.items()} == {
        "plus90": 23_334, "plus80": 23_333, "minus90": 23_333}
    assert {k: s.num_examples for k, s in irm.splits.items()} == {
        "train-e20": 25_000, "train-e10": 25_000, "test-e90": 10_000}
    assert domainbed.image_shape == (28, 28, 2) and irm.image_shape == (14, 14, 2)
    assert domainbed.classes == irm.classes == ("5-9", "0-4") and domainbed.example == "image"
    assert [e.columns["e"] for e in domainbed.environments.splits] == [0.1, 0.2, 0.9]
    assert [e.columns["e"] for e in irm.environments.splits] == [0.2, 0.1, 0.9]
    assert irm.environments.source == ("train",) and domainbed.environments.source == ("train", "test")


def test_the_cache_key_follows_the_construction(mini):
    from mnistfamily.prepare import recipe_for
    from mnistfamily.prepare.entry import entry_key

    reg = mini[0].registry
    spec = reg.dataset("coloredmnist")
    env = spec.environments

    def key(s):
        return entry_key(recipe_for(reg, s, s.splits["plus80"], "upright"))

    original = key(spec)
    noisier = MappingProxyType({**env.construction, "label_noise": 0.3})
    assert key(replace(spec, environments=replace(env, construction=noisier))) != original
    assert key(replace(spec, environments=replace(env, seed=1))) != original


def test_bad_constructions_are_reported_at_once(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        datasets:
          mine/a:
            base: mnist
            title: A
            image_shape: [28, 28, 2]
            environments:
              from: [train, test]
              seed: 0
              construction: {name: colouredmnist}
              splits: {one: {columns: {e: 0.1}}, two: {columns: {e: 0.2}}}
          mine/b:
            base: mnist
            title: B
            image_shape: [28, 28, 2]
            environments:
              from: [train, test]
              seed: 0
              construction: {name: coloredmnist, protocol: random, label_noise: 2, subsample: 0, train_size: 5,
                             colours: 3}
              splits: {one: {columns: {e: 1.5}}, two: {}}
          mine/c:
            base: mnist
            title: C
            image_shape: [14, 14, 2]
            environments:
              from: [train, test]
              seed: 0
              construction: {name: coloredmnist, protocol: irm}
              splits: {one: {columns: {e: 0.1}}, two: {columns: {e: 0.2}}}
          mine/d:
            base: mnist
            title: D
            environments: {from: [test], seed: 0, construction: [coloredmnist], splits: {x: {}, y: {}}}
        """))
    with pytest.raises(RegistryError, match="problem") as caught:
        mf.datasets(registry=path)
    text = str(caught.value)
    for expected in [
        "mine/a.environments.construction.name", "expected one of coloredmnist; found 'colouredmnist'",
        "mine/b.environments.construction.protocol", "expected one of domainbed, irm; found 'random'",
        "mine/b.environments.construction.label_noise", "expected a probability in [0, 1]; found 2",
        "mine/b.environments.construction.subsample", "expected a positive integer; found 0",
        "mine/b.environments.construction.train_size", "only the irm protocol takes train_size",
        "mine/b.environments.construction.colours", "unknown key",
        "environment 'one' must declare columns: {e: <colour-flip probability in [0, 1]>}; found 1.5",
        "environment 'two' must declare columns: {e: <colour-flip probability in [0, 1]>}; found None",
        "mine/c.environments.construction.train_size", "the irm protocol needs train_size",
        "the irm protocol deals one 'from' split into 3 environments",
        "mine/d.environments.construction", "a mapping with a 'name'",
    ]:
        assert expected in text, expected
    path.write_text(textwrap.dedent("""\
        version: 1
        datasets:
          mine/e:
            base: mnist
            title: E
            image_shape: [14, 14, 2]
            environments:
              from: [test]
              seed: 0
              construction: {name: coloredmnist, protocol: irm, train_size: 20000}
              splits: {one: {columns: {e: 0.1}}, two: {columns: {e: 0.2}}, three: {columns: {e: 0.9}}}
        """))
    with pytest.raises(RegistryError, match=r"mine/e.environments.construction: its deal leaves an environment "
                                            r"empty \(\[10000, 10000, -10000\] of 10000 rows\)"):
        mf.datasets(registry=path)


def test_a_chain_that_does_not_give_the_declared_shape_is_refused(mini, cache):
    from mnistfamily.registry import Registry
    from mnistfamily.registry.dump import dump_registry
    from mnistfamily.transforms import TransformError

    miniatures, source = mini
    reg = miniatures.registry
    wrong = replace(reg.dataset("coloredmnist"), image_shape=(28, 28, 3))
    path = cache.parent / "wrong.yaml"
    path.write_text(dump_registry([*[s for s in reg if s.name != "coloredmnist"], wrong]), encoding="utf-8")
    with pytest.raises(TransformError, match=r"coloredmnist \[plus90\]: the transform chain gives uint8 examples of "
                                             r"shape \(28, 28, 2\), but the registry entry declares"):
        mf.load("coloredmnist", "plus90", registry=Registry.from_files([path]), data_dir=cache, source=source)


def test_construct_refuses_an_unknown_protocol():
    with pytest.raises(ShiftError, match="a coloredmnist construction's protocol is 'domainbed' or 'irm'; "
                                         "found 'other'"):
        construct({"protocol": "other"}, 0, {"a": 0.1, "b": 0.2}, np.arange(10), 0)


def test_the_grayscale_benchmark_input_is_the_gray_digit(mini, cache):
    from mnistfamily.shift.benchmarks import GRAYSCALE
    from mnistfamily.transforms import from_spec

    miniatures, source = mini
    reg = miniatures.registry
    train = mf.load("mnist", "train", registry=reg, data_dir=cache, source=source)
    test = mf.load("mnist", "test", registry=reg, data_dir=cache, source=source)
    gray = coloredmnist_environments(train, test, grayscale=True)
    for (name, ds), mine in zip(mf.load("coloredmnist", registry=reg, data_dir=cache, source=source).items(),
                                gray.values()):
        np.testing.assert_array_equal(ds.map(from_spec(GRAYSCALE["coloredmnist"])).images, mine.images)


@pytest.mark.realdata
def test_on_real_mnist_the_entries_are_the_construction_with_the_published_statistics(realdata, cache):
    source = realdata / "mnist-kaggle-layout"
    train = mf.load("mnist", "train", data_dir=cache, source=source)
    test = mf.load("mnist", "test", data_dir=cache, source=source)
    for name, memory in (("coloredmnist", coloredmnist_environments(train, test)),
                         ("coloredmnist/irm", coloredmnist_environments(train, protocol="irm"))):
        entry = mf.load(name, data_dir=cache, source=source)
        _same_as_in_memory(entry, memory)
        spec = get_registry().dataset(name)
        seen = []
        for split, ds in entry.items():
            e = spec.environments.split(split).columns["e"]
            n = len(ds)
            assert n == spec.splits[split].num_examples
            noise = int(ds.metadata["label_noise"].sum())
            agree = int((ds.metadata["colour"] == ds.labels).sum())
            assert abs(noise / n - 0.25) <= SIGMAS * np.sqrt(0.25 * 0.75 / n), (name, split)
            assert abs(agree / n - (1 - e)) <= SIGMAS * np.sqrt(e * (1 - e) / n), (name, split)
            seen.append(ds.metadata["source_split"].astype(np.int64) * 60_000 + ds.metadata["source_index"])
        everything = np.concatenate(seen)
        total = 70_000 if name == "coloredmnist" else 60_000
        assert np.array_equal(np.sort(everything), np.arange(total))  # disjoint, covering every digit
        del entry, memory
