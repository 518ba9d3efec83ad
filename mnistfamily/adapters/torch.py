"""PyTorch: a map-style ``torch.utils.data.Dataset`` over a Dataset, and a batch sampler.

Two ways into a ``DataLoader``:

* **Items, as torchvision gives them.** ``DataLoader(ds.to_torch(), batch_size=128, shuffle=True)``
  works like ``torchvision.datasets.MNIST(..., transform=ToTensor())``: ``tds[i]`` is a
  ``(C, H, W)`` float tensor in ``[0, 1]`` and an ``int`` label. The DataLoader asks for a whole
  batch of indices at once (``__getitems__``), which is answered with one copy out of the
  memory map instead of one per image.
* **Whole batches.** ``DataLoader(tds, batch_size=None, sampler=tds.batch_sampler(128, shuffle=True,
  seed=0))``: the sampler yields the row positions of each batch (the same batches as
  ``ds.batches``, in the same order), the dataset answers each with a ready batch, and the
  DataLoader only moves it. ``sampler.set_epoch(e)`` reshuffles, as with ``DistributedSampler``.

Workers started with ``spawn`` or ``forkserver`` receive the memory maps by path (see
``_portable``), not a pickled copy of the pixels. Tensors are writable: each item or batch
is copied out of the read-only map, and nothing else is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

import numpy as np

from . import AdapterError, require
from ..examples import Signals
from ._layout import channels_first, fixed_shape, kind_of, to_unit_float
from .batches import (batch_sizes, check_epoch, check_positive, check_seed, epoch_batches, epoch_index,
                      make_batch, takes_index)

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

torch: Any = require("torch", "Dataset.to_torch")


class BatchKey(NamedTuple):
    """What the batch sampler yields: the epoch and the row positions of one batch."""

    epoch: int
    positions: np.ndarray


class BundleKey(NamedTuple):
    """Several batches asked of one worker at once (:meth:`TorchDataset.loader`): one message, not one each."""

    epoch: int
    batches: tuple[np.ndarray, ...]


#: batches per worker message in :meth:`TorchDataset.loader`: DataLoader's cost per message
#: (~0.2-0.3 ms in the main process) is spread over this many batches (16 batches of 128 MNIST
#: images: 6.4 MB of float32 per message; with 8, two workers were 0.85-0.95x no workers on 2 cores)
BUNDLE = 16


def _parse_dtype(dtype: Any, where: str) -> Any:
    """``torch.float32`` (default), ``torch.uint8``, or any float dtype, by name or as a torch dtype."""
    if isinstance(dtype, str):
        found = getattr(torch, dtype, None)
        dtype = found if isinstance(found, torch.dtype) else dtype
    if isinstance(dtype, torch.dtype) and (dtype == torch.uint8 or dtype.is_floating_point):
        return dtype
    raise AdapterError(f"{where}: dtype must be torch.float32 (images scaled to [0, 1], the default), "
                       f"torch.uint8 (pixels as stored) or another float dtype; found {dtype!r}")


class TorchDataset(torch.utils.data.Dataset):
    """A Dataset as PyTorch sees it; made by :meth:`mnistfamily.Dataset.to_torch`.

    ``tds[i]`` is ``(image, label)``: the image a ``(C, H, W)`` tensor (grey ``(1, H, W)``,
    colour ``(3, H, W)``, volume ``(1, D, H, W)``, signal ``(1, L)``), float32 in ``[0, 1]``
    (uint8 images divided by 255, bit for bit torchvision's ``ToTensor``) or uint8 as
    stored; the label an ``int`` (a 0/1 tensor per class for multi-label datasets).
    ``transform`` and ``target_transform`` are applied to each item, as in torchvision; in the
    batch path they receive the batch tensors. ``batch_transform`` is an mnistfamily transform
    applied to the numpy images first, drawing from ``(seed, epoch, index)``.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> tds = mf.load("mnist/sample", split="test").to_torch()   # doctest: +SKIP
    >>> image, label = tds[0]                                     # doctest: +SKIP
    >>> image.shape, image.dtype, type(label)                     # doctest: +SKIP
    (torch.Size([1, 28, 28]), torch.float32, <class 'int'>)
    """

    def __init__(self, dataset: "Dataset", *, transform: Callable | None = None,
                 target_transform: Callable | None = None, dtype: Any = "float32",
                 batch_transform: Callable | None = None, epoch: int = 0):
        where = f"{dataset.name or 'Dataset'}.to_torch"
        self.kind = kind_of(dataset, where)
        if batch_transform is None:  # a tensor has one shape: varying lengths need a transform that fixes it
            fixed_shape(dataset, where, "a tensor")
        self.dtype = _parse_dtype(dtype, where)
        for name, value in (("transform", transform), ("target_transform", target_transform),
                            ("batch_transform", batch_transform)):
            if value is not None and not callable(value):
                raise AdapterError(f"{where}: {name} must be callable, found {value!r}")
        self.dataset = dataset
        self.transform = transform
        self.target_transform = target_transform
        self.batch_transform = batch_transform
        self.epoch = check_epoch(epoch, where)
        self._where = where

    # -- the dataset protocol -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, BatchKey):
            return self._batch(np.asarray(key.positions, dtype=np.int64), key.epoch)
        if isinstance(key, BundleKey):
            return [self._batch(np.asarray(p, dtype=np.int64), key.epoch) for p in key.batches]
        if isinstance(key, (int, np.integer)):
            return self._item(int(key))
        positions = np.asarray(key)
        if positions.ndim == 1 and (positions.size == 0 or positions.dtype.kind in "iu"):
            return self._batch(positions.astype(np.int64, copy=False), self.epoch)
        raise AdapterError(f"{self._where}: index with an int (one item) or a 1-D sequence of ints (a batch), "
                           f"found {type(key).__name__}")

    def __getitems__(self, indices: list[int]) -> list[tuple[Any, Any]]:
        """A list of items, made with one copy out of the memory map (DataLoader calls this)."""
        positions = np.asarray(indices, dtype=np.int64)
        images, labels = self._arrays(positions, self.epoch)
        tensors = torch.from_numpy(images).unbind(0)
        label_values = labels.tolist() if labels.ndim == 1 else list(torch.from_numpy(labels).unbind(0))
        return [self._finish_item(image, label) for image, label in zip(tensors, label_values)]

    def set_epoch(self, epoch: int) -> None:
        """The epoch ``batch_transform`` draws from on the item path (the batch path carries its own)."""
        self.epoch = check_epoch(epoch, self._where)

    def batch_sampler(self, batch_size: int, *, shuffle: bool = False, seed: int | None = None,
                      drop_last: bool = False, epoch: int = 0) -> "BatchSampler":
        """A sampler of whole batches for ``DataLoader(tds, batch_size=None, sampler=...)``.

        Its batches are those of ``ds.batches(batch_size, shuffle=..., seed=..., epoch=...)``,
        in the same order; call ``set_epoch`` before each epoch to reshuffle.
        """
        return BatchSampler(len(self), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last, epoch=epoch,
                            where=self._where)

    def loader(self, batch_size: int, *, shuffle: bool = False, seed: int | None = None, drop_last: bool = False,
               epoch: int = 0, num_workers: int = 0, **dataloader_options: Any) -> "TorchLoader":
        """A DataLoader of whole batches, for when workers make them (augmentation).

        The batches of ``batch_sampler`` (and of ``ds.batches``), but each worker makes
        several per message, so that DataLoader's per-message cost does not eat what the
        workers save. Iterate it like a DataLoader; ``set_epoch`` reshuffles. Other keyword
        arguments go to ``DataLoader`` (``persistent_workers``, ``pin_memory``, ...).
        """
        return TorchLoader(self, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last, epoch=epoch,
                           num_workers=num_workers, **dataloader_options)

    # -- making items and batches ---------------------------------------------------------------

    def _arrays(self, positions: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Images ``(B, C, ...)`` in the output dtype and labels, as numpy arrays (fresh, writable)."""
        images, labels = self._made(positions, epoch)
        return self._pixels(images), labels

    def _made(self, positions: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Images as the batch transform leaves them (rows last, any dtype) and labels."""
        transform_takes_index = None if self.batch_transform is None else takes_index(self.batch_transform)
        images, labels = make_batch(self.dataset, positions, epoch=epoch, transform=self.batch_transform,
                                    transform_takes_index=transform_takes_index)
        if self.dtype == torch.uint8 and images.dtype != np.uint8:
            raise AdapterError(f"{self._where}: dtype=torch.uint8 was asked for, but the images are "
                               f"{images.dtype}; ask for torch.float32")
        return images, labels

    def _pixels(self, images: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``images`` channels first in the output dtype (uint8, or float32 in [0, 1]), into ``out`` if given."""
        layout = channels_first(images, self.kind)
        if self.dtype == torch.uint8:
            if out is None:
                return np.ascontiguousarray(layout)
            np.copyto(out, layout)
            return out
        if out is None:
            return np.ascontiguousarray(to_unit_float(layout, np.float32))
        return to_unit_float(layout, np.float32, out=out)

    def _item(self, i: int) -> tuple[Any, Any]:
        n = len(self.dataset)
        if not -n <= i < n:
            raise IndexError(f"{self._where}: index {i} is out of range for {n} examples")
        i %= n
        examples = self.dataset.examples
        image = examples[i:i + 1]
        if self.batch_transform is not None:
            index = epoch_index(self.dataset.index[i:i + 1], self.epoch)
            one = image if isinstance(image, Signals) else np.array(image)
            image = (self.batch_transform(one, index=index) if takes_index(self.batch_transform)
                     else self.batch_transform(one))
        if self.dtype == torch.uint8:
            image = np.array(image)
            if image.dtype != np.uint8:
                raise AdapterError(f"{self._where}: dtype=torch.uint8 was asked for, but the images are "
                                   f"{image.dtype}; ask for torch.float32")
        else:
            image = to_unit_float(np.asarray(image), np.float32)
        item = np.ascontiguousarray(channels_first(image, self.kind)[0])
        if not item.flags.writeable:  # float32 examples come straight from the read-only memory map:
            item = item.copy()        # a tensor over it would let a caller write into pages it must not
        tensor = torch.from_numpy(item)
        label = self.dataset.labels[i]
        return self._finish_item(tensor, int(label) if np.ndim(label) == 0 else torch.from_numpy(np.array(label)))

    def _finish_item(self, image: Any, label: Any) -> tuple[Any, Any]:
        if self.dtype not in (torch.uint8, torch.float32):
            image = image.to(self.dtype)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def _batch(self, positions: np.ndarray, epoch: int) -> tuple[Any, Any]:
        n = len(self.dataset)
        if positions.size and (positions.min() < 0 or positions.max() >= n):
            raise IndexError(f"{self._where}: batch positions {positions.min()}..{positions.max()} are out of "
                             f"range for {n} examples")
        if torch.utils.data.get_worker_info() is not None and self.transform is None \
                and self.target_transform is None and self.dtype in (torch.uint8, torch.float32):
            # a DataLoader worker with nothing to do after the pixels: convert them straight into the
            # shared segment the main process will view (one pass over the batch instead of two)
            from ._shipping import ship_into

            made, labels = self._made(positions, epoch)
            shape = channels_first(made[:0], self.kind).shape[1:]
            dtype = np.uint8 if self.dtype == torch.uint8 else np.float32
            return ship_into((len(made), *shape), dtype, lambda out: self._pixels(made, out), torch.from_numpy(labels))
        images, labels = self._arrays(positions, epoch)
        image_tensor = torch.from_numpy(images)
        if self.dtype not in (torch.uint8, torch.float32):
            image_tensor = image_tensor.to(self.dtype)
        label_tensor = torch.from_numpy(labels)
        if self.transform is not None:
            image_tensor = self.transform(image_tensor)
        if self.target_transform is not None:
            label_tensor = self.target_transform(label_tensor)
        if torch.utils.data.get_worker_info() is not None and isinstance(image_tensor, torch.Tensor) \
                and image_tensor.device.type == "cpu":
            from ._shipping import ship  # a DataLoader worker: hand the pixels over through shared memory

            return ship(image_tensor.numpy(), label_tensor)
        return image_tensor, label_tensor

    # -- pickling into workers ----------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        from ._portable import dataset_state

        state = dict(self.__dict__)
        state["dataset"] = dataset_state(self.dataset)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from ._portable import dataset_from_state

        state = dict(state)
        state["dataset"] = dataset_from_state(state["dataset"])
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return (f"TorchDataset({self.dataset.name or 'dataset'} [{self.dataset.split}], {len(self)} examples, "
                f"dtype={self.dtype}, transform={self.transform!r})")


class BatchSampler(torch.utils.data.Sampler):
    """Yields a :class:`BatchKey` per batch: the batches of ``ds.batches`` with the same arguments.

    Examples
    --------
    >>> from torch.utils.data import DataLoader                               # doctest: +SKIP
    >>> tds = ds.to_torch()                                                   # doctest: +SKIP
    >>> sampler = tds.batch_sampler(128, shuffle=True, seed=0)                # doctest: +SKIP
    >>> loader = DataLoader(tds, batch_size=None, sampler=sampler, num_workers=2)  # doctest: +SKIP
    >>> for epoch in range(3):                                                # doctest: +SKIP
    ...     sampler.set_epoch(epoch)
    ...     for images, labels in loader: ...
    """

    def __init__(self, num_examples: int, batch_size: int, *, shuffle: bool = False, seed: int | None = None,
                 drop_last: bool = False, epoch: int = 0, where: str = "batch_sampler"):
        self.num_examples = int(num_examples)
        self.batch_size = check_positive(batch_size, "batch_size", where)
        self.shuffle = bool(shuffle)
        self.seed = check_seed(seed, where) if (shuffle or seed is not None) else None
        self.drop_last = bool(drop_last)
        self.epoch = check_epoch(epoch, where)
        self._where = where

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s permutation (and augmentation) from the next iteration on."""
        self.epoch = check_epoch(epoch, self._where)

    def __len__(self) -> int:
        return batch_sizes(self.num_examples, self.batch_size, self.drop_last)

    def __iter__(self) -> Iterator[BatchKey]:
        epoch = self.epoch
        for positions in epoch_batches(self.num_examples, self.batch_size, shuffle=self.shuffle, seed=self.seed,
                                       epoch=epoch, drop_last=self.drop_last):
            yield BatchKey(epoch, positions)


class _BundleSampler(torch.utils.data.Sampler):
    """The batches of a :class:`BatchSampler`, ``bundle`` at a time."""

    def __init__(self, batches: BatchSampler, bundle: int):
        self.batches = batches
        self.bundle = bundle

    def __len__(self) -> int:
        return -(-len(self.batches) // self.bundle)

    def __iter__(self) -> Iterator[BundleKey]:
        keys = list(self.batches)
        for start in range(0, len(keys), self.bundle):
            part = keys[start:start + self.bundle]
            yield BundleKey(part[0].epoch, tuple(k.positions for k in part))


def _keep(bundle: Any) -> Any:
    """The collate function of bundles: workers' shipped batches are already what the loop gets."""
    return bundle


class TorchLoader:
    """Whole batches from a DataLoader whose workers make :data:`BUNDLE` batches per message.

    Made by :meth:`TorchDataset.loader`. Yields ``(images, labels)`` tensors, the batches of
    ``ds.batches`` with the same arguments, in order; ``len()`` is the number of batches.
    """

    def __init__(self, dataset: TorchDataset, batch_size: int, *, shuffle: bool = False, seed: int | None = None,
                 drop_last: bool = False, epoch: int = 0, num_workers: int = 0, **dataloader_options: Any):
        self.sampler = dataset.batch_sampler(batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last,
                                             epoch=epoch)
        bundle = BUNDLE if num_workers > 0 else 1
        self.dataloader = torch.utils.data.DataLoader(dataset, batch_size=None,
                                                      sampler=_BundleSampler(self.sampler, bundle),
                                                      num_workers=num_workers, collate_fn=_keep,
                                                      **dataloader_options)

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s permutation (and augmentation) from the next iteration on."""
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        for bundle in self.dataloader:
            yield from bundle
