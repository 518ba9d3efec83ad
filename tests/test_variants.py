"""Derived datasets (base + transform chain + seed): registry, cache keys, loading, Dataset.map."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.examples import Signals
from mnistfamily import transforms as T
from mnistfamily.errors import RegistryError
from mnistfamily.registry import Registry, get_registry
from mnistfamily.testing import serve_directory, write_miniatures


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url, names=["mnist/elastic", "mnist/deskewed"])


def test_every_builtin_variant_builds_its_chain():
    from mnistfamily.prepare.variant import chain_spec

    variants = [s for s in get_registry() if s.base is not None]
    assert len(variants) >= 18  # deskewed, elastic, affine40 and the fifteen MNIST-C corruptions
    recordings = Signals.from_arrays([np.ones(n, np.float32) for n in (20_000, 48_000, 60_000)])
    for spec in variants:
        if spec.environments is not None and spec.environments.construction is not None:
            continue  # its chain takes the construction's images (test_shift_coloredmnist_entries.py)
        transform = T.from_spec(chain_spec(spec))
        base = get_registry().dataset(spec.base)
        # the base's kind of example: MNIST's digits, or recordings of varying length (AudioMNIST)
        batch = recordings if base.varying_length else mf.load("mnist/sample", "test").images[:3]
        out = transform(batch, index=np.arange(3))
        assert out.shape[1:] == tuple(spec.image_shape) and out.dtype == np.dtype(spec.image_dtype), spec.name


def test_variant_inherits_from_its_base():
    spec = get_registry().dataset("mnist/affine40")
    base = get_registry().dataset("mnist")
    assert spec.classes == base.classes and spec.license == base.license
    assert spec.image_shape == (40, 40) and set(spec.splits) == set(base.splits)
    assert mf.info("mnist-c/fog").splits == {"train": 60000, "test": 10000}


def test_variant_loads_as_the_base_through_the_chain(served, cache):
    server, mini = served
    base = mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    ds = mf.load("mnist/elastic", "test", registry=mini.registry, data_dir=cache)
    expected = T.ElasticDistortion(alpha=34, sigma=4, seed=0)(np.asarray(base.images), index=base.index)
    np.testing.assert_array_equal(ds.images, expected)
    np.testing.assert_array_equal(ds.labels, base.labels)
    np.testing.assert_array_equal(ds.index, base.index)
    requests = len(server.requests)
    again = mf.load("mnist/elastic", "test", registry=mini.registry, data_dir=cache)
    assert isinstance(again.images, np.memmap) and len(server.requests) == requests


def test_cache_key_follows_the_chain_and_the_base_files(served, cache):
    from mnistfamily.prepare import recipe_for
    from mnistfamily.prepare.variant import variant_entry

    _, mini = served
    reg = mini.registry
    spec = reg.dataset("mnist/elastic")
    split = spec.splits["test"]
    base = reg.dataset("mnist")

    def entry(s, b):
        registry = Registry({"mnist": b, s.name: s})
        return variant_entry(cache, s, split, recipe_for(registry, b, b.splits["test"], "upright"))

    original = entry(spec, base)
    assert entry(replace(spec, seed=1), base) != original
    assert entry(replace(spec, transforms=({"name": "ElasticDistortion", "alpha": 30, "sigma": 4},)), base) != original
    name = "t10k-images-idx3-ubyte.gz"
    other_file = replace(base, files=MappingProxyType({**base.files, name: replace(base.file(name), md5="0" * 32)}))
    assert entry(spec, other_file) != original


def test_bad_variant_entries_are_reported(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        datasets:
          mine/a:
            base: mnsit
            title: A
            transforms: [{name: Deskew}]
          mine/b:
            base: mine/c
            title: B
            transforms: [{name: Deskew}]
          mine/c:
            base: mine/b
            title: C
            transforms: [{name: Deskew}]
          mine/d:
            base: mnist
            title: D
            transforms: Deskew
        """))
    with pytest.raises(RegistryError, match="expected a non-empty list of transform specs") as caught:
        Registry.from_files([path])
    text = str(caught.value)
    assert "mine/d.transforms" in text and "a non-empty list of transform specs" in text
    path.write_text(path.read_text().replace("    transforms: Deskew", "    transforms: [{name: Deskew}]"))
    with pytest.raises(RegistryError, match=r"(?s)names \'mnsit\', which is not a dataset.*a cycle of bases") as caught:
        mf.datasets(registry=path)
    text = str(caught.value)
    assert "mine/a.base: names 'mnsit', which is not a dataset: did you mean 'mnist'" in text
    assert "a cycle of bases" in text


def test_load_transform_and_map_are_chunk_independent():
    ds = mf.load("mnist/sample", "test")
    t = T.ElasticDistortion(alpha=34, sigma=4, seed=3)
    direct = mf.load("mnist/sample", "test", transform=t).images
    for batch in (1, 7, 10_000):
        np.testing.assert_array_equal(ds.map(t, batch_size=batch).images, direct)
    mapped = ds.select(np.arange(0, 2000, 5)).map(t)
    np.testing.assert_array_equal(mapped.images, direct[::5])  # randomness follows each digit's index


def test_warm_load_of_a_variant_imports_no_transform_code(tmp_path):
    code = textwrap.dedent("""
        import sys, mnistfamily as mf
        from mnistfamily.registry import Registry
        from mnistfamily.testing import write_miniatures
        reg = Registry.from_files([sys.argv[1]])
        mf.load("mnist/deskewed", "test", registry=reg, data_dir=sys.argv[2], source=sys.argv[3])
        print(sorted({"scipy", "mnistfamily.transforms"} & set(sys.modules)))
    """)
    mini = write_miniatures(tmp_path / "m", "file:///unused", names=["mnist/deskewed"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [str(mini.registry_path), str(tmp_path / "cache"), str(tmp_path / "m" / "mnist")]
    cold = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True)
    assert "mnistfamily.transforms" in cold.stdout
    # the second process finds the entry; write_miniatures (imported above) is the only extra
    warm_code = code.replace("from mnistfamily.testing import write_miniatures\n", "")
    warm = subprocess.run([sys.executable, "-c", warm_code, *args], env=env, capture_output=True, text=True, check=True)
    assert warm.stdout.strip() == "[]"


def test_cache_keys_follow_the_transform_algorithms_version():
    from mnistfamily.prepare.variant import TRANSFORMS_VERSION

    assert TRANSFORMS_VERSION == T.ALGORITHMS_VERSION  # bump both when outputs change for a spec


def test_a_full_disk_while_preparing_a_variant_is_a_clear_error(served, cache, monkeypatch):
    import errno

    from mnistfamily.errors import CacheError
    from mnistfamily.prepare import cache as cache_module

    _, mini = served
    mf.load("mnist", "test", registry=mini.registry, data_dir=cache)  # the base, prepared before the disk fills
    real_save = cache_module.EntryWriter.save

    def full(self, name, array):
        if name == "labels":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(self, name, array)

    monkeypatch.setattr(cache_module.EntryWriter, "save", full)
    with pytest.raises(CacheError, match=r"(?s)mnist/deskewed \[test\]: the prepared arrays.*free some space"):
        mf.load("mnist/deskewed", "test", registry=mini.registry, data_dir=cache)
    prepared = cache / "prepared" / "mnist" / "deskewed"
    assert not [p for p in prepared.iterdir() if p.name.startswith((".tmp-", ".mnistfamily-tmp-"))]
