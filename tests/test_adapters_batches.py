"""ds.batches: order from (seed, epoch), augmentation from (seed, epoch, index), fresh writable arrays."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import transforms as T
from mnistfamily.adapters import AdapterError
from mnistfamily.adapters.batches import EPOCH_STRIDE, epoch_order
from mnistfamily.dataset import Dataset


@pytest.fixture
def sample():
    return mf.load("mnist/sample", "test")


def _stack(batches):
    images, labels = zip(*batches)
    return np.concatenate(images), np.concatenate(labels)


def test_unshuffled_batches_are_the_rows_in_order(sample):
    batches = sample.batches(300)
    assert len(batches) == 7
    images, labels = _stack(batches)
    np.testing.assert_array_equal(images, sample.images)
    np.testing.assert_array_equal(labels, sample.labels)
    assert [len(x) for x, _ in sample.batches(300, drop_last=True)] == [300] * 6


def test_shuffled_epoch_is_a_permutation_fixed_by_seed_and_epoch(sample):
    first = [y for _, y in sample.batches(128, shuffle=True, seed=7, epoch=3)]
    again = [y for _, y in sample.batches(128, shuffle=True, seed=7, epoch=3)]
    assert all((a == b).all() for a, b in zip(first, again))
    order = epoch_order(len(sample), shuffle=True, seed=7, epoch=3)
    assert sorted(order.tolist()) == list(range(len(sample)))
    images, labels = _stack(sample.batches(128, shuffle=True, seed=7, epoch=3))
    np.testing.assert_array_equal(images, sample.images[order])
    np.testing.assert_array_equal(labels, sample.labels[order])
    other_epoch = epoch_order(len(sample), shuffle=True, seed=7, epoch=4)
    other_seed = epoch_order(len(sample), shuffle=True, seed=8, epoch=3)
    assert (order != other_epoch).mean() > 0.99 and (order != other_seed).mean() > 0.99


def test_the_permutation_is_pinned_so_every_machine_and_numpy_gives_it():
    # a hash of each position, sorted: no generator whose stream numpy may change between versions
    assert epoch_order(10, shuffle=True, seed=0, epoch=0).tolist() == [4, 9, 5, 7, 1, 6, 0, 3, 2, 8]
    assert epoch_order(10, shuffle=True, seed=0, epoch=1).tolist() == [5, 7, 8, 3, 0, 6, 1, 9, 2, 4]


def test_float32_batches_are_uint8_divided_by_255(sample):
    images, _ = next(iter(sample.batches(64, dtype="float32")))
    assert images.dtype == np.float32 and images.max() <= 1.0
    np.testing.assert_array_equal(images, sample.images[:64].astype(np.float32) / np.float32(255))


def test_batches_are_fresh_writable_arrays(sample):
    images, labels = next(iter(sample.batches(16)))  # a slice of the memory map, copied out
    assert images.flags.writeable and labels.flags.writeable
    images[:] = 0
    assert sample.images[:16].any()


def test_epoch_zero_augmentation_is_exactly_map_and_does_not_depend_on_batch_size(sample):
    elastic = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    mapped = sample.map(elastic).images
    images, _ = _stack(sample.batches(300, transform=elastic))
    np.testing.assert_array_equal(images, mapped)
    # shuffled, any batch size: example i gets the same pixels in the same epoch
    order = epoch_order(len(sample), shuffle=True, seed=1, epoch=0)
    shuffled, _ = _stack(sample.batches(77, shuffle=True, seed=1, transform=elastic))
    np.testing.assert_array_equal(shuffled, mapped[order])


def test_each_epoch_draws_new_augmentation_from_seed_epoch_and_index(sample):
    elastic = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    small = sample[:50]
    epoch2, _ = _stack(small.batches(50, transform=elastic, epoch=2))
    again, _ = _stack(small.batches(7, transform=elastic, epoch=2))
    np.testing.assert_array_equal(epoch2, again)
    np.testing.assert_array_equal(epoch2, elastic(small.images, index=small.index + 2 * EPOCH_STRIDE))
    epoch0, _ = _stack(small.batches(50, transform=elastic))
    assert (epoch0 != epoch2).any(axis=(1, 2)).all()


def test_a_plain_function_of_the_batch_is_a_transform_too(sample):
    images, _ = next(iter(sample.batches(8, transform=lambda x: 255 - x)))
    np.testing.assert_array_equal(images, 255 - sample.images[:8])


def test_columns_come_with_each_batch(sample):
    images, labels, columns = next(iter(sample.batches(32, shuffle=True, seed=0, columns=["index", "writer_id"])))
    order = epoch_order(len(sample), shuffle=True, seed=0, epoch=0)[:32]
    np.testing.assert_array_equal(columns["index"], sample.index[order])
    np.testing.assert_array_equal(columns["writer_id"], sample.metadata["writer_id"][order])


def test_prefetching_gives_the_same_batches_and_leaves_no_thread(sample):
    elastic = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    plain = [x for x, _ in sample.batches(100, shuffle=True, seed=0, transform=elastic, prefetch=0)]
    ahead = [x for x, _ in sample.batches(100, shuffle=True, seed=0, transform=elastic, prefetch=3)]
    assert all((a == b).all() for a, b in zip(plain, ahead)) and len(plain) == len(ahead) == 20
    iterator = iter(sample.batches(100, transform=elastic, prefetch=3))
    next(iterator)
    iterator.close()  # leaving the loop early
    assert not [t for t in threading.enumerate() if t.name.startswith("mnistfamily-batches")]


def test_an_error_in_the_transform_reaches_the_loop(sample):
    def broken(images):
        raise RuntimeError("transform failed on purpose")

    with pytest.raises(RuntimeError, match="on purpose"):
        list(sample.batches(100, transform=broken, prefetch=2))


def test_every_kind_of_example_is_batched():
    rgb = Dataset(np.arange(6 * 4 * 4 * 3, dtype=np.uint8).reshape(6, 4, 4, 3), np.arange(6) % 2, classes=["a", "b"])
    signal = Dataset(np.linspace(0, 1, 6 * 40).reshape(6, 40), np.arange(6) % 2, classes=["a", "b"])
    multi = Dataset(np.zeros((6, 4, 4), np.uint8), np.eye(3, dtype=np.int64)[np.arange(6) % 3], classes=list("xyz"))
    assert next(iter(rgb.batches(4, dtype="float32")))[0].shape == (4, 4, 4, 3)
    x, _ = next(iter(signal.batches(4, dtype="float32")))
    assert x.dtype == np.float32 and np.allclose(x, signal.images[:4])  # floats are cast, not divided
    assert next(iter(multi.batches(4)))[1].shape == (4, 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size must be a positive int"),
    ({"batch_size": 8, "shuffle": True}, "seed must be a non-negative int"),
    ({"batch_size": 8, "shuffle": True, "seed": -1}, "seed must be a non-negative int"),
    ({"batch_size": 8, "epoch": -2}, "epoch must be a non-negative int"),
    ({"batch_size": 8, "dtype": "int32"}, "dtype must be None"),
    ({"batch_size": 8, "transform": 3}, "transform must be callable"),
    ({"batch_size": 8, "prefetch": -1}, "prefetch must be a non-negative int"),
])
def test_bad_arguments_are_adapter_errors(sample, kwargs, match):
    with pytest.raises(AdapterError, match=match):
        sample.batches(**kwargs)


def test_an_unknown_column_names_the_known_ones(sample):
    with pytest.raises(KeyError, match="no column 'writer'.*writer_id"):
        sample.batches(8, columns=["writer"])


def test_uint8_batches_of_float_images_are_refused(sample):
    with pytest.raises(AdapterError, match="dtype='uint8' was asked for, but the batch holds float32"):
        next(iter(sample.batches(8, transform=T.ToFloat(), dtype="uint8")))


def test_a_warm_load_and_batches_import_no_training_library(tmp_path):
    code = textwrap.dedent("""
        import sys, mnistfamily as mf
        ds = mf.load("mnist/sample", "test")
        for images, labels in ds.batches(256, shuffle=True, seed=0, dtype="float32"):
            pass
        str(ds)
        heavy = {"torch", "tensorflow", "pandas", "polars", "datasets", "PIL", "pyarrow", "sklearn", "jax",
                 "keras", "scipy"}
        print(",".join(sorted(heavy & set(sys.modules))))
    """)
    env = {**os.environ, "MNISTFAMILY_HOME": str(tmp_path / "c"), "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)  # cold: prepares
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert warm.stdout.strip() == ""
