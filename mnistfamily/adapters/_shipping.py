"""Batches from DataLoader workers to the main process through shared memory, without a copy.

A tensor that a DataLoader worker returns travels through torch's own machinery: its storage
is moved to shared memory, and the main process receives a file descriptor over a socket the
worker listens on. For batches of small images that costs far more than making the batch
(measured: ~40k MNIST images/s with 2 workers against ~1M/s with none), so workers would make
training slower, not faster.

So a worker writes each batch's images into a *segment*: a file in ``/dev/shm`` (RAM) that it
maps and keeps for the next batches, and returns a small :class:`Shipped` object naming the
segment. When the main process unpickles it, it maps the segment (once: mappings are cached,
and the file is unlinked as soon as the main process holds it, so nothing is left behind
even if a worker is killed) and hands out a tensor that *views* the segment. The segment's
first byte says whether it is in use: the worker sets it before writing, and the main process
clears it when the last tensor viewing it is freed (a ``weakref.finalize`` on the numpy view
that backs the tensor). A worker writes only into segments whose byte is clear, and makes a
new one when all are in use, so a batch the training loop still holds is never overwritten.
Labels and other small arrays travel in the pickle itself.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import threading
import uuid
import weakref
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

#: bytes before the pixels: the in-use flag, padded so the array is 64-byte aligned
HEADER = 64
#: segments the main process keeps mapped (a worker normally cycles through a handful)
MAPPED_SEGMENTS = 256
#: segments a worker keeps for reuse (a loop holding more batches makes the worker forget the oldest)
WORKER_SEGMENTS = 64


def _folder() -> str:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return shm
    return tempfile.gettempdir()


class _Segment:
    """A worker's shared file: a flag byte, then room for one batch's pixels."""

    def __init__(self, nbytes: int):
        self.path = os.path.join(_folder(), f"mnistfamily-batch-{os.getpid()}-{uuid.uuid4().hex}")
        self.capacity = nbytes
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, HEADER + nbytes)
            self.map = mmap.mmap(fd, HEADER + nbytes)
        finally:
            os.close(fd)
        self.flag = np.frombuffer(self.map, dtype=np.uint8, count=1)

    def unlink(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:  # the main process unlinked it once it had mapped it
            pass


class _WorkerSegments:
    """The segments of this (worker) process, reused while their flag is clear."""

    def __init__(self) -> None:
        self.segments: list[_Segment] = []
        self.forgotten: list[str] = []
        self.pid = os.getpid()

    def take(self, nbytes: int) -> _Segment:
        for segment in self.segments:
            if segment.capacity >= nbytes and segment.flag[0] == 0:
                segment.flag[0] = 1
                return segment
        segment = _Segment(nbytes)
        segment.flag[0] = 1
        self.segments.append(segment)
        if len(self.segments) > WORKER_SEGMENTS:  # the loop holds many batches: reuse only the newest ones
            self.forgotten.append(self.segments.pop(0).path)  # it may not be received yet: unlink it at exit
        return segment

    def close(self) -> None:
        for segment in self.segments:
            segment.unlink()
        for path in self.forgotten:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


_worker: _WorkerSegments | None = None
_worker_lock = threading.Lock()


def _worker_segments() -> _WorkerSegments:
    global _worker
    with _worker_lock:
        if _worker is None or _worker.pid != os.getpid():  # a forked child must not reuse its parent's
            from multiprocessing.util import Finalize

            _worker = _WorkerSegments()
            Finalize(_worker, _worker.close, exitpriority=10)  # unlink what is left when the worker exits
        return _worker


class Shipped:
    """A batch made in a worker: images in a shared segment (written by ``fill``), the rest pickled as is."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, fill: Callable[[np.ndarray], object], rest: tuple):
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        segment = _worker_segments().take(nbytes)
        view = np.ndarray(shape, dtype=dtype, buffer=segment.map, offset=HEADER)
        try:
            fill(view)
        except BaseException:
            segment.flag[0] = 0  # nothing will view it: free for the next batch
            raise
        self.state = (segment.path, tuple(shape), dtype.str, rest)

    def __reduce__(self) -> tuple:
        return _receive, self.state


_mapped: "OrderedDict[str, np.ndarray]" = OrderedDict()
_mapped_lock = threading.Lock()


def _segment_bytes(path: str) -> np.ndarray:
    """The whole segment as a writable uint8 array, mapped once per process."""
    with _mapped_lock:
        found = _mapped.get(path)
        if found is not None:
            _mapped.move_to_end(path)
            return found
        with open(path, "r+b") as file:
            mapping = mmap.mmap(file.fileno(), 0)
        os.unlink(path)  # both processes hold it mapped now: nothing to leave behind
        array = np.frombuffer(mapping, dtype=np.uint8)
        _mapped[path] = array
        while len(_mapped) > MAPPED_SEGMENTS:  # unmapped once the last tensor viewing it is gone
            _mapped.popitem(last=False)
        return array


def _release(flag: np.ndarray) -> None:
    flag[0] = 0


def _receive(path: str, shape: tuple[int, ...], dtype: str, rest: tuple) -> tuple:
    import torch

    segment = _segment_bytes(path)
    count = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    images = segment[HEADER:HEADER + count].view(np.dtype(dtype)).reshape(shape)
    weakref.finalize(images, _release, segment[:1])  # the worker may reuse the segment once this is freed
    return (torch.from_numpy(images), *(torch.from_numpy(value) if isinstance(value, _Small) else value
                                        for value in rest))


class _Small(np.ndarray):
    """A small tensor's values, pickled by value (torch would share each tensor through a socket)."""


def ship(images: np.ndarray, *rest: Any) -> Any:
    """What a worker returns for a batch: unpickled in the main process as ``(tensor, *rest)``.

    Tensors among ``rest`` (the labels) travel by value and come back as tensors.
    """
    return ship_into(images.shape, images.dtype, lambda view: np.copyto(view, images), *rest)


def ship_into(shape: tuple[int, ...], dtype: Any, fill: Callable[[np.ndarray], object], *rest: Any) -> Any:
    """:func:`ship` for a batch not made yet: ``fill(view)`` writes its images straight into the segment.

    Saves the copy :func:`ship` makes: the worker converts the pixels into shared memory once.
    """
    import torch

    small = tuple(value.numpy().view(_Small) if isinstance(value, torch.Tensor) and value.device.type == "cpu"
                  else value for value in rest)
    return Shipped(tuple(int(d) for d in shape), np.dtype(dtype), fill, small)
