"""Pickle a Dataset into worker processes by the path of its memory maps, not by its pixels.

A Dataset from the prepared cache holds read-only memory maps of ``.npy`` files. Pickled the
ordinary way, each map becomes a full copy of the array (47 MB for MNIST train, 550 MB for
EMNIST byclass) sent to every DataLoader worker started with ``spawn`` or ``forkserver``.
Here an array that lies inside a file mapping is described by that file, the byte offset of
its first element, its shape and dtype, and the file's identity (device, inode, size, mtime);
the worker maps the same bytes again. Arrays held in memory (a ``select`` with an index
array, a transform's output) are pickled as they are.

The prepared files are written once and renamed into place, never modified; if one was
replaced meanwhile (``mnistfamily verify --repair`` rebuilt it), its identity differs and the
worker refuses it rather than reading other bytes.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import AdapterError

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset


@dataclass(frozen=True)
class MappedArray:
    """Where a C-contiguous array lies in a file: enough to map it again in another process."""

    path: str
    offset: int
    shape: tuple[int, ...]
    dtype: str
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns

    def open(self) -> np.ndarray:
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            raise AdapterError(f"{self.path}: a worker cannot reopen this memory-mapped file ({exc.strerror}); it "
                               "was deleted after the Dataset was loaded. Load the Dataset again.") from None
        if _identity(stat) != self.identity:
            raise AdapterError(f"{self.path}: the file changed after the Dataset was loaded (rebuilt by `verify "
                               "--repair`, or replaced), so a worker will not read it as the same array. Load "
                               "the Dataset again.")
        return np.memmap(self.path, dtype=np.dtype(self.dtype), mode="r", offset=self.offset, shape=self.shape)


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])


def describe(array: Any) -> Any:
    """A :class:`MappedArray` for an array inside a file mapping, else the array itself."""
    if not isinstance(array, np.memmap) or not array.flags.c_contiguous or array.size == 0:
        return array
    mapping = getattr(array, "_mmap", None)
    filename = getattr(array, "filename", None)
    if not isinstance(mapping, mmap.mmap) or not filename:
        return array
    try:
        start = _address(np.frombuffer(mapping, dtype=np.uint8))
        stat = os.stat(filename)
    except (ValueError, TypeError, OSError):  # a closed mapping, a file gone: pickle the values
        return array
    # np.memmap maps from the offset rounded down to the allocation granularity
    mapped_from = array.offset - array.offset % mmap.ALLOCATIONGRANULARITY
    position = mapped_from + _address(array) - start
    if not 0 <= position <= stat.st_size - array.nbytes:
        return array
    return MappedArray(str(filename), int(position), tuple(int(d) for d in array.shape), array.dtype.str,
                       _identity(stat))


def reopen(value: Any) -> Any:
    return value.open() if isinstance(value, MappedArray) else value


def dataset_state(dataset: "Dataset") -> dict[str, Any]:
    """What a Dataset is made of, with memory-mapped arrays replaced by their descriptions."""
    from ..examples import Signals

    examples = dataset.examples
    described = ({"samples": describe(examples.samples), "starts": examples.starts, "stops": examples.stops}
                 if isinstance(examples, Signals) else describe(examples))
    return {
        "images": described, "labels": describe(dataset.labels), "index": describe(dataset.index),
        "metadata": {k: describe(v) for k, v in dataset.metadata.items()},
        "extras": dataset.extras, "classes": dataset.classes, "name": dataset.name, "split": dataset.split,
        "info": dataset.info, "example": dataset.example, "sample_rate": dataset.sample_rate,
    }


def dataset_from_state(state: dict[str, Any]) -> "Dataset":
    from ..dataset import Dataset

    from ..examples import Signals

    images = state["images"]
    if isinstance(images, dict):  # signals of varying length: their samples, where each starts and stops
        images = Signals(reopen(images["samples"]), starts=images["starts"], stops=images["stops"])
    else:
        images = reopen(images)
    return Dataset(images, reopen(state["labels"]), classes=state["classes"],
                   index=reopen(state["index"]), metadata={k: reopen(v) for k, v in state["metadata"].items()},
                   name=state["name"], split=state["split"], info=state["info"], extras=state["extras"],
                   example=state.get("example"), sample_rate=state.get("sample_rate"))
