"""The contract: every registry entry goes miniature -> HTTP -> download -> verify -> prepare -> load.

A new registry entry is tested the day it is added: its miniature is generated from its own
spec, so this file needs no change.
"""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.registry import get_registry
from mnistfamily.testing import serve_directory, write_miniatures

NAMES = get_registry().names()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url)


@pytest.mark.parametrize("name", NAMES)
def test_every_split_of_every_dataset_loads_exactly(served, name, tmp_path):
    server, mini = served
    spec = mini.registry.dataset(name)
    real = get_registry().dataset(name)
    loaded = mf.load(name, registry=mini.registry, data_dir=tmp_path)
    assert set(loaded) == set(real.splits)
    for split, ds in loaded.items():
        expected = mini.expect(name, split)
        assert ds.images.dtype == np.uint8 and ds.images.shape == (spec.splits[split].num_examples, *real.image_shape)
        assert ds.labels.dtype == np.int64 and ds.index.dtype == np.int64
        np.testing.assert_array_equal(ds.images, expected["images"])
        np.testing.assert_array_equal(ds.labels, expected["labels"])
        np.testing.assert_array_equal(ds.index, expected["index"])
        assert ds.classes == list(real.classes)
        assert list(ds.metadata) == list(real.label_columns)
        for column, values in expected["metadata"].items():
            np.testing.assert_array_equal(ds.metadata[column], values)
        assert ds.labels.min() >= 0 and ds.labels.max() < len(ds.classes)
    for file in spec.files.values():
        served_as = file.archive or file.name  # members travel inside their archive
        assert server.count(f"{spec.family}/{served_as}", method="GET") >= 1


@pytest.mark.parametrize("name", NAMES)
def test_second_load_is_served_from_the_prepared_cache(served, name, tmp_path):
    server, mini = served
    spec = mini.registry.dataset(name)
    split = next(iter(spec.splits))
    first = mf.load(name, split, registry=mini.registry, data_dir=tmp_path)
    before = len(server.requests)
    second = mf.load(name, split, registry=mini.registry, data_dir=tmp_path)
    assert len(server.requests) == before
    assert isinstance(second.images, np.memmap)
    np.testing.assert_array_equal(first.images, second.images)
