"""Minibatches of a Dataset as numpy arrays: the fast path into any training loop.

Order. ``shuffle=False`` gives the rows in dataset order. ``shuffle=True`` gives a permutation
that is a pure function of ``(seed, epoch)``: each row's position is hashed (SplitMix64, the
same counter-mode hash the random transforms use) and the rows are sorted by their hashes.
No generator state is involved, so epoch ``k`` is the same permutation in any process, on any
machine and under any numpy version, which is what lets DataLoader workers, a resumed run or
a colleague reproduce it.

Augmentation. A random transform (``mnistfamily.transforms``) draws per example from
``(its seed, index)``. In epoch ``e`` the batches hand it ``index + e * EPOCH_STRIDE`` instead of
``index``, so every epoch sees fresh randomness, epoch 0 gives exactly ``ds.map(t)``, and an
example's augmented pixels do not depend on the batch size, the shuffle or the workers.

Memory. Each batch is a fresh, writable array (the rows are copied out of the memory map);
nothing else is copied, so an epoch of MNIST costs one batch of memory at a time.
"""

from __future__ import annotations

import inspect
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from . import AdapterError
from ._layout import fixed_shape, parse_dtype, to_unit_float

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

#: in epoch e a transform sees index + e * EPOCH_STRIDE; positions stay far below 2**40
EPOCH_STRIDE = 1 << 40
#: batches prepared ahead by the background thread when a transform makes batches costly
DEFAULT_PREFETCH = 2


def check_seed(seed: object, what: str) -> int:
    """A seed is a non-negative int; ``None`` with ``shuffle=True`` would make runs irreproducible."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AdapterError(f"{what}: seed must be a non-negative int, found {seed!r}. Shuffling is a pure "
                           "function of (seed, epoch), so every run that passes the same seed sees the same "
                           "order; pass seed=0 (or any int)")
    return int(seed)


def check_positive(value: object, name: str, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise AdapterError(f"{what}: {name} must be a positive int, found {value!r}")
    return int(value)


def check_epoch(epoch: object, what: str) -> int:
    if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise AdapterError(f"{what}: epoch must be a non-negative int, found {epoch!r}")
    return int(epoch)


def epoch_order(n: int, *, shuffle: bool, seed: int | None, epoch: int) -> np.ndarray:
    """Row positions in the order epoch ``epoch`` visits them: ``int64 (n,)``.

    Examples
    --------
    >>> from mnistfamily.adapters.batches import epoch_order
    >>> epoch_order(5, shuffle=False, seed=None, epoch=3).tolist()
    [0, 1, 2, 3, 4]
    >>> sorted(epoch_order(5, shuffle=True, seed=0, epoch=1).tolist())
    [0, 1, 2, 3, 4]
    """
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    from ..transforms._rng import bits

    keys = bits(int(seed or 0), f"mnistfamily.batches/epoch={epoch}", np.arange(n, dtype=np.int64), 1)[:, 0]
    return np.argsort(keys, kind="stable").astype(np.int64, copy=False)


def epoch_index(index: np.ndarray, epoch: int) -> np.ndarray:
    """What a random transform sees as ``index`` in epoch ``epoch``: ``index + epoch * EPOCH_STRIDE``."""
    if epoch == 0:
        return np.asarray(index, dtype=np.int64)
    shifted = np.asarray(index, dtype=np.int64).astype(np.uint64) + np.uint64(epoch) * np.uint64(EPOCH_STRIDE)
    return shifted.view(np.int64)  # wraps past 2**63 like the transforms' own uint64 keys


def takes_index(transform: Callable) -> bool:
    """Whether ``transform`` accepts ``index=`` (mnistfamily transforms do; a plain function may not)."""
    try:
        return "index" in inspect.signature(transform).parameters
    except (TypeError, ValueError):
        return False


def batch_sizes(n: int, batch_size: int, drop_last: bool) -> int:
    """How many batches an epoch of ``n`` rows gives."""
    return n // batch_size if drop_last else -(-n // batch_size)


def epoch_batches(n: int, batch_size: int, *, shuffle: bool, seed: int | None, epoch: int,
                  drop_last: bool) -> list[np.ndarray]:
    """The row positions of each batch of an epoch of ``n`` rows, in order."""
    order = epoch_order(n, shuffle=shuffle, seed=seed, epoch=epoch)
    out = [order[start:start + batch_size] for start in range(0, n, batch_size)]
    if out and drop_last and len(out[-1]) < batch_size:
        out.pop()
    return out


class Batches:
    """An epoch of ``(images, labels)`` numpy batches; iterate it (again) to get them.

    Made by :meth:`mnistfamily.Dataset.batches`, which documents the parameters. ``len()``
    is the number of batches; ``positions()`` the row positions of each batch (what the
    PyTorch batch sampler hands to ``DataLoader``).

    Examples
    --------
    >>> import mnistfamily as mf
    >>> ds = mf.load("mnist/sample", split="test")
    >>> batches = ds.batches(500, shuffle=True, seed=0, dtype="float32")
    >>> len(batches)
    4
    >>> images, labels = next(iter(batches))
    >>> images.shape, images.dtype, labels.shape
    ((500, 28, 28), dtype('float32'), (500,))
    """

    def __init__(self, dataset: "Dataset", batch_size: int, *, shuffle: bool = False, seed: int | None = None,
                 epoch: int = 0, drop_last: bool = False, transform: Callable | None = None,
                 dtype: Any = None, columns: Sequence[str] | None = None, prefetch: int | None = None):
        what = f"{dataset.name or 'Dataset'}.batches"
        self.dataset = dataset
        self.batch_size = check_positive(batch_size, "batch_size", what)
        self.shuffle = bool(shuffle)
        self.seed = check_seed(seed, what) if (shuffle or seed is not None) else None
        self.epoch = check_epoch(epoch, what)
        self.drop_last = bool(drop_last)
        if transform is not None and not callable(transform):
            raise AdapterError(f"{what}: transform must be callable on a batch of images, found {transform!r}")
        if transform is None:
            fixed_shape(dataset, what, "a batch")  # varying lengths need a transform that makes one array
        else:
            from ..transforms import check_accepts
            from ..errors import TransformError

            try:
                check_accepts(transform, dataset.layout, dataset._described())
            except TransformError as exc:
                raise AdapterError(f"{what}: {exc}") from None
        self.transform = transform
        self._transform_takes_index = transform is not None and takes_index(transform)
        self.dtype = parse_dtype(dtype, what)
        self.columns = tuple(columns) if columns is not None else None
        for name in self.columns or ():
            dataset.column(name)  # a KeyError naming the known columns, before any batch is made
        if prefetch is None:
            prefetch = DEFAULT_PREFETCH if transform is not None else 0
        if isinstance(prefetch, bool) or not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
            raise AdapterError(f"{what}: prefetch must be a non-negative int (batches made ahead in a "
                               f"background thread; 0 for none), found {prefetch!r}")
        self.prefetch = int(prefetch)

    def __len__(self) -> int:
        return batch_sizes(len(self.dataset), self.batch_size, self.drop_last)

    def __repr__(self) -> str:
        return (f"Batches({self.dataset.name or 'dataset'} [{self.dataset.split}], batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch}, batches={len(self)})")

    def positions(self) -> list[np.ndarray]:
        """The row positions of each batch of this epoch, in order."""
        return epoch_batches(len(self.dataset), self.batch_size, shuffle=self.shuffle, seed=self.seed,
                             epoch=self.epoch, drop_last=self.drop_last)

    def make(self, positions: np.ndarray) -> tuple:
        """The batch of the rows at ``positions`` (in that order)."""
        return make_batch(self.dataset, positions, epoch=self.epoch, transform=self.transform,
                          transform_takes_index=self._transform_takes_index, dtype=self.dtype,
                          columns=self.columns)

    def __iter__(self) -> Iterator[tuple]:
        keys = self.positions()
        if self.prefetch == 0:
            return (self.make(positions) for positions in keys)
        return _prefetched(self.make, keys, self.prefetch)


def make_batch(dataset: "Dataset", positions: np.ndarray, *, epoch: int = 0, transform: Callable | None = None,
               transform_takes_index: bool | None = None, dtype: np.dtype | None = None,
               columns: Sequence[str] | None = None) -> tuple:
    """``(images, labels)`` (and ``{column: values}`` when ``columns`` is given) for ``positions``."""
    from ..examples import Signals

    rows = _rows(positions)
    examples = dataset.examples
    if isinstance(examples, Signals):  # varying lengths: the transform makes them one array (checked in Batches)
        images = examples[rows]
    else:
        # plain ndarray views: np.memmap's Python-level __getitem__ costs ~15 us a call, a fifth of a batch
        images = np.asarray(examples)[rows]
        if isinstance(rows, slice):  # a slice of the memory map is a read-only view: copy it out
            images = np.array(images)
    labels = np.array(np.asarray(dataset.labels)[rows])
    if transform is not None:
        if transform_takes_index is None:
            transform_takes_index = takes_index(transform)
        if transform_takes_index:
            images = transform(images, index=epoch_index(np.asarray(dataset.index)[rows], epoch))
        else:
            images = transform(images)
        if isinstance(images, Signals):
            raise AdapterError(f"{dataset.name or 'dataset'}: the batch transform gave signals of varying length; "
                               "a batch is one array: end the transform with PadOrCrop(length)")
        images = np.asarray(images)
    elif isinstance(images, Signals):
        raise AdapterError(f"{dataset.name or 'dataset'}: a batch of signals of varying length is not one array; "
                           "pass transform=mnistfamily.transforms.PadOrCrop(length) (or ds.map it first)")
    if dtype is not None:
        images = _as_dtype(images, dtype, dataset.name or "dataset")
    if columns is None:
        return images, labels
    return images, labels, {name: np.array(np.asarray(dataset.column(name))[rows]) for name in columns}


def _rows(positions: np.ndarray) -> slice | np.ndarray:
    """A slice when the positions are consecutive (a copy of a slice is several times faster)."""
    n = len(positions)
    if n and positions[-1] - positions[0] == n - 1 and (n < 3 or np.all(np.diff(positions) == 1)):
        return slice(int(positions[0]), int(positions[0]) + n)
    return positions


def _as_dtype(images: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    if dtype == np.uint8:
        if images.dtype != np.uint8:
            raise AdapterError(f"{where}: dtype='uint8' was asked for, but the batch holds {images.dtype} "
                               "(float data, or a transform with float output such as ToFloat); ask for a float "
                               "dtype instead")
        return images
    return to_unit_float(images, dtype)


def _prefetched(make: Callable[[np.ndarray], tuple], keys: list[np.ndarray], depth: int) -> Iterator[tuple]:
    """``make(key)`` for each key, computed ``depth`` batches ahead in one background thread.

    numpy's copies, conversions and the transforms' array arithmetic release the GIL, so the
    next batch is made while the training step runs. Leaving the loop early cancels what is
    queued and waits for the one batch in progress, so no thread outlives the iteration.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnistfamily-batches")
    pending: deque[Future] = deque()
    remaining = iter(keys)
    try:
        for key in remaining:
            pending.append(pool.submit(make, key))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
