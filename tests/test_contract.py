"""The contract: every registry entry goes miniature -> HTTP -> download -> verify -> prepare -> load.

A new registry entry is tested the day it is added: its miniature is generated from its own
spec, so this file needs no change.
"""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import UnverifiedFileError
from mnistfamily.examples import Signals
from mnistfamily.fetch import UnverifiedFileWarning
from mnistfamily.registry import Registry, builtin_registry_path, get_registry
from mnistfamily.testing import serve_directory, write_miniatures

# the built-in registry only: a user's MNISTFAMILY_REGISTRY does not change what is tested here
NAMES = Registry.from_files([builtin_registry_path()]).names()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url)


def _unverifiable(spec, registry) -> bool:
    """Whether some file has no checksum, directly, through its archive or its base's (opt-in needed)."""
    if spec.base is not None:
        return _unverifiable(registry.dataset(spec.base), registry)
    return any(not f.verifiable and not (f.archive and spec.file(f.archive).verifiable)
               for f in spec.files.values())


def _load_all(name, mini, tmp_path):
    spec = mini.registry.dataset(name)
    if _unverifiable(spec, mini.registry):
        with pytest.raises(UnverifiedFileError, match="the registry has no checksum for .*allow_unverified=True"):
            mf.load(name, registry=mini.registry, data_dir=tmp_path)
        with pytest.warns(UnverifiedFileWarning):
            return mf.load(name, registry=mini.registry, data_dir=tmp_path, allow_unverified=True)
    return mf.load(name, registry=mini.registry, data_dir=tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_every_split_of_every_dataset_loads_exactly(served, name, tmp_path):
    server, mini = served
    spec = mini.registry.dataset(name)
    real = get_registry().dataset(name)
    loaded = _load_all(name, mini, tmp_path)
    assert set(loaded) == set(real.splits)
    for split, ds in loaded.items():
        expected = mini.expect(name, split)
        assert ds.example == real.example and ds.sample_rate == real.sample_rate
        assert ds.examples.dtype == np.dtype(real.image_dtype)
        assert ds.examples.shape == (len(expected["images"]), *real.image_shape)
        assert ds.labels.dtype == np.int64 and ds.index.dtype == np.int64
        _assert_same_examples(ds.examples, expected["images"])
        np.testing.assert_array_equal(ds.labels, expected["labels"])
        np.testing.assert_array_equal(ds.index, expected["index"])
        # classes the published files name (CIFAR-100) are the archive's: the miniature's own
        assert ds.classes == list(real.classes or expected["classes"]) and len(ds.classes) == real.num_classes
        assert list(ds.metadata) == [*real.label_columns, *[c for c in expected["metadata"]
                                                             if c not in real.label_columns]]
        for column, values in expected["metadata"].items():
            np.testing.assert_array_equal(ds.metadata[column], values)
        if real.multi_label:
            assert ds.labels.shape == (len(ds), len(ds.classes)) and set(np.unique(ds.labels)) <= {0, 1}
        else:
            assert ds.labels.min() >= 0 and ds.labels.max() < len(ds.classes)
    for file in spec.files.values():
        served_as = file.archive or file.name  # members travel inside their archive
        assert server.count(f"{spec.family}/{served_as}", method="GET") >= 1


@pytest.mark.parametrize("name", NAMES)
def test_second_load_is_served_from_the_prepared_cache(served, name, tmp_path):
    server, mini = served
    spec = mini.registry.dataset(name)
    split = next(iter(spec.splits))
    first = _load_all(name, mini, tmp_path)[split]
    before = len(server.requests)
    second = mf.load(name, split, registry=mini.registry, data_dir=tmp_path, allow_unverified=True)
    assert len(server.requests) == before
    if isinstance(second.examples, Signals):  # varying lengths: memory-mapped flat samples
        assert isinstance(second.examples.samples, np.memmap)
    else:
        assert isinstance(second.images, np.memmap)
    _assert_same_examples(first.examples, second.examples)


def _assert_same_examples(found, expected) -> None:
    """Equal examples: arrays element by element, signals of varying length by lengths and samples."""
    if isinstance(expected, Signals) or isinstance(found, Signals):
        assert isinstance(found, Signals) and isinstance(expected, Signals)
        np.testing.assert_array_equal(found.lengths, expected.lengths)
        np.testing.assert_array_equal(found.compact()[0], expected.compact()[0])
    else:
        np.testing.assert_array_equal(found, expected)
