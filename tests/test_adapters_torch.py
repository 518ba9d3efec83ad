"""to_torch against the real torch and torchvision: items as ToTensor gives them, DataLoader batches equal ds.batches."""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import transforms as T
from mnistfamily.adapters import AdapterError
from mnistfamily.dataset import Dataset
from mnistfamily.errors import MissingDependencyError

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402


@pytest.fixture
def sample():
    return mf.load("mnist/sample", "test")


def _batches_equal(loader_batches, numpy_batches, channel_axis=True):
    loader_batches, numpy_batches = list(loader_batches), list(numpy_batches)
    assert len(loader_batches) == len(numpy_batches)
    for (x, y), (images, labels) in zip(loader_batches, numpy_batches):
        got = x[:, 0].numpy() if channel_axis else x.numpy()
        np.testing.assert_array_equal(got, images)
        np.testing.assert_array_equal(y.numpy(), labels)


def test_items_are_what_torchvision_to_tensor_gives(sample):
    transforms = pytest.importorskip("torchvision.transforms")
    from PIL import Image

    tds = sample.to_torch()
    assert len(tds) == len(sample)
    for i in (0, 17, 1999, -1):
        image, label = tds[i]
        expected = transforms.ToTensor()(Image.fromarray(sample.images[i]))
        assert image.shape == (1, 28, 28) and image.dtype == torch.float32
        assert torch.equal(image, expected)
        assert isinstance(label, int) and label == sample.labels[i]
    raw, _ = sample.to_torch(dtype="uint8")[5]
    assert raw.dtype == torch.uint8 and torch.equal(raw[0], torch.from_numpy(np.array(sample.images[5])))


@pytest.mark.realdata
def test_items_equal_torchvision_mnist_on_the_published_files(realdata, tmp_path):
    datasets = pytest.importorskip("torchvision.datasets")
    transforms = pytest.importorskip("torchvision.transforms")
    raw = tmp_path / "tv" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):  # torchvision wants all four, uncompressed
        (raw / name).symlink_to(realdata / "mnist-kaggle-layout" / name.replace("-idx", ".idx"))
    theirs = datasets.MNIST(str(tmp_path / "tv"), train=False, download=False, transform=transforms.ToTensor())
    ours = mf.load("mnist", "test", source=realdata / "mnist").to_torch()
    for i in (0, 1, 4321, 9999):
        (a, la), (b, lb) = ours[i], theirs[i]
        assert torch.equal(a, b) and la == lb


def test_transform_and_target_transform_work_as_in_torchvision(sample):
    transforms = pytest.importorskip("torchvision.transforms")
    normalize = transforms.Normalize((0.1307,), (0.3081,))
    tds = sample.to_torch(transform=normalize, target_transform=lambda y: y + 100)
    image, label = tds[3]
    assert torch.allclose(image, normalize(sample.to_torch()[3][0])) and label == sample.labels[3] + 100


def test_item_tensors_are_writable_copies(sample):
    tds = sample.to_torch()
    image, _ = tds[0]
    image.zero_()  # would raise, or corrupt the cache, if it viewed the read-only memory map
    assert sample.images[0].any()
    images, labels = tds[np.arange(4)]
    assert images.shape == (4, 1, 28, 28) and labels.dtype == torch.int64
    images.zero_()


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_batch_sampler_yields_exactly_the_batches(sample, workers):
    tds = sample.to_torch()
    sampler = tds.batch_sampler(128, shuffle=True, seed=3)
    loader = DataLoader(tds, batch_size=None, sampler=sampler, num_workers=workers)
    _batches_equal(loader, sample.batches(128, shuffle=True, seed=3, dtype="float32"))
    sampler.set_epoch(1)  # the next epoch: reshuffled, as ds.batches(epoch=1)
    _batches_equal(loader, sample.batches(128, shuffle=True, seed=3, epoch=1, dtype="float32"))


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_with_augmentation_in_workers_equals_batches(sample, workers):
    elastic = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    small = sample[:300]
    tds = small.to_torch(batch_transform=elastic)
    sampler = tds.batch_sampler(64, shuffle=True, seed=0, epoch=2)
    loader = DataLoader(tds, batch_size=None, sampler=sampler, num_workers=workers)
    _batches_equal(loader, small.batches(64, shuffle=True, seed=0, epoch=2, transform=elastic, dtype="float32"))


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_of_items_matches_batches_in_order(sample, workers):
    loader = DataLoader(sample[:500].to_torch(), batch_size=100, shuffle=False, num_workers=workers)
    _batches_equal(loader, sample[:500].batches(100, dtype="float32"))


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_workers_convert_colour_batches_straight_into_shared_memory_exactly(dtype):
    """A worker with no tensor transform writes the converted pixels into its shared segment itself."""
    rgb = Dataset(np.random.default_rng(0).integers(0, 256, (300, 8, 8, 3), dtype=np.uint8), np.arange(300) % 3,
                  classes=["a", "b", "c"])
    loader = rgb.to_torch(dtype=getattr(torch, dtype)).loader(32, shuffle=True, seed=4, num_workers=2)
    got, expected = list(loader), list(rgb.batches(32, shuffle=True, seed=4, dtype=dtype))
    assert len(got) == len(expected) == 10
    for (x, y), (images, labels) in zip(got, expected):
        assert x.dtype == getattr(torch, dtype) and x.is_contiguous()
        np.testing.assert_array_equal(x.numpy(), np.moveaxis(images, -1, 1))
        np.testing.assert_array_equal(y.numpy(), labels)


def test_batches_held_by_the_loop_are_never_overwritten_by_workers(sample):
    """Workers write batches into shared segments; one still referenced is not reused."""
    tds = sample.to_torch()
    loader = DataLoader(tds, batch_size=None, sampler=tds.batch_sampler(50, shuffle=True, seed=1), num_workers=2,
                        prefetch_factor=4)
    held = list(loader)  # all 40 batches alive at once
    _batches_equal(held, sample.batches(50, shuffle=True, seed=1, dtype="float32"))
    assert all(x.is_contiguous() for x, _ in held)
    leftovers = [f for f in os.listdir("/dev/shm")] if os.path.isdir("/dev/shm") else []
    del held, loader
    import gc

    gc.collect()
    mine = [f for f in (os.listdir("/dev/shm") if os.path.isdir("/dev/shm") else []) if f.startswith("mnistfamily-batch")]
    assert mine == [], f"segments left behind: {mine} (before: {len(leftovers)} files)"


def test_pickling_sends_the_memory_map_by_path_not_the_pixels(tmp_path, sample):
    ds = mf.load("mnist/sample", "test")
    tds = ds[100:1100].to_torch()  # a slice: still inside the file mapping
    payload = pickle.dumps(tds)
    assert len(payload) < 20_000 < ds.images[100:1100].nbytes  # 784 kB of pixels are not in it
    again = pickle.loads(payload)
    assert isinstance(again.dataset.images, np.memmap)
    np.testing.assert_array_equal(again.dataset.images, ds.images[100:1100])
    np.testing.assert_array_equal(again.dataset.metadata["writer_id"], ds.metadata["writer_id"][100:1100])
    picked = ds.select([5, 3]).to_torch()  # an index array copies rows into memory: pickled as values
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(picked)).dataset.images, ds.images[[5, 3]])


def test_a_worker_refuses_a_prepared_file_that_was_replaced(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28))
    images = np.load(path, mmap_mode="r")
    tds = Dataset(images, np.arange(4) % 2, classes=["a", "b"]).to_torch()
    payload = pickle.dumps(tds)
    replacement = tmp_path / "new.npy"
    np.save(replacement, np.zeros((4, 28, 28), np.uint8))
    os.replace(replacement, path)  # what `verify --repair` does to a damaged entry
    with pytest.raises(AdapterError, match="the file changed after the Dataset was loaded"):
        pickle.loads(payload)


def test_spawned_workers_reopen_the_memory_map(sample):
    tds = sample[:256].to_torch()
    loader = DataLoader(tds, batch_size=None, sampler=tds.batch_sampler(64), num_workers=1,
                        multiprocessing_context="spawn")
    _batches_equal(loader, sample[:256].batches(64, dtype="float32"))


def test_every_kind_of_example_gets_channels_first():
    rgb = Dataset(np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3), np.array([0, 1]), classes=["a", "b"])
    image, _ = rgb.to_torch()[1]
    assert image.shape == (3, 4, 5)
    assert torch.equal(image, torch.from_numpy(rgb.images[1].transpose(2, 0, 1).astype(np.float32) / np.float32(255)))
    volume = Dataset(np.zeros((2, 6, 4, 5), np.uint8), np.array([0, 1]), classes=["a", "b"])
    assert volume.to_torch()[0][0].shape == (1, 6, 4, 5)
    signal = Dataset(np.linspace(-1, 1, 80).reshape(2, 40), np.array([0, 1]), classes=["a", "b"])
    x, _ = signal.to_torch()[0]
    assert x.shape == (1, 40) and torch.allclose(x[0], torch.from_numpy(signal.images[0]).float())
    multi = Dataset(np.zeros((3, 4, 4), np.uint8), np.eye(3, dtype=np.int64), classes=list("xyz"))
    assert torch.equal(multi.to_torch()[1][1], torch.tensor([0, 1, 0]))
    # a declared volume is one whatever its last axis (here 3, which a bare array would take for RGB)
    declared = Dataset(np.zeros((2, 6, 4, 3), np.uint8), np.array([0, 1]), classes=["a", "b"], example="volume")
    assert declared.to_torch()[0][0].shape == (1, 6, 4, 3)


def test_signals_of_varying_length_need_a_batch_transform_that_fixes_their_length():
    from mnistfamily.examples import Signals

    recordings = Dataset(Signals.from_arrays([np.arange(k, dtype=np.int16) for k in (3, 0, 5)]), np.array([0, 1, 0]),
                         classes=["a", "b"], name="talk")
    with pytest.raises(AdapterError, match=r"talk.to_torch: talk holds signals of varying length, and a tensor "
                                           r"takes one array of examples. Make them one length first"):
        recordings.to_torch()

    def pad(signals, index=None):  # every recording to 4 samples
        return np.stack([np.pad(x[:4], (0, 4 - len(x[:4]))) for x in signals]).astype(np.float32)

    tds = recordings.to_torch(batch_transform=pad)
    x, label = tds[2]
    assert x.shape == (1, 4) and x[0].tolist() == [0, 1, 2, 3] and label == 0
    batch, labels = tds[[0, 1]]
    assert batch.shape == (2, 1, 4) and batch[1].abs().sum() == 0


def test_bad_arguments_are_adapter_errors(sample):
    with pytest.raises(AdapterError, match="dtype must be torch.float32"):
        sample.to_torch(dtype="int32")
    with pytest.raises(AdapterError, match="transform must be callable"):
        sample.to_torch(transform="ToTensor")
    with pytest.raises(AdapterError, match="a 1-D sequence of ints"):
        sample.to_torch()["seven"]
    with pytest.raises(IndexError, match="out of range for 2000 examples"):
        sample.to_torch()[2000]
    with pytest.raises(AdapterError, match="seed must be a non-negative int"):
        sample.to_torch().batch_sampler(32, shuffle=True)


def test_without_torch_the_error_names_the_extra(sample, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "mnistfamily.adapters.torch", raising=False)
    with pytest.raises(MissingDependencyError, match=r'needs torch.*pip install "mnistfamily\[torch\]"'):
        sample.to_torch()


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_bundles_batches_per_worker_message_and_yields_exactly_the_batches(sample, workers):
    elastic = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    small = sample[:700]
    loader = small.to_torch(batch_transform=elastic).loader(64, shuffle=True, seed=5, num_workers=workers)
    assert len(loader) == 11
    _batches_equal(loader, small.batches(64, shuffle=True, seed=5, transform=elastic, dtype="float32"))
    loader.set_epoch(3)
    _batches_equal(loader, small.batches(64, shuffle=True, seed=5, epoch=3, transform=elastic, dtype="float32"))
