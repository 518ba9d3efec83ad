"""PNG encoding and decoding of image batches, spread over every core.

Pillow spends most of its ~100 us per 28x28 PNG in Python, so threads do not help
(measured: 2 threads were slower than 1); batches go to worker processes instead.
Workers start through ``forkserver``, never ``fork``: the parent may be running Arrow's
thread pools, and a forked child of a threaded process can deadlock.

Each PNG is deterministic: 8-bit grey (or RGB, RGBA), zlib level 6 (Pillow's default), no ancillary chunks
(no time, no text, no gamma), so the bytes are the same on every run and are byte for
byte what Hugging Face's ``Image`` feature writes for the same array.
"""

from __future__ import annotations

import io
import os
from collections import deque
from concurrent.futures import Executor, Future
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

from .schema import PNG_COMPRESS_LEVEL

T = TypeVar("T")
R = TypeVar("R")

#: images per task sent to a worker process
BATCH = 1024
#: below this many images a process pool costs more than it saves
POOL_MIN_IMAGES = 8192


#: the PNG mode of an image of each shape: grey (H, W), RGB (H, W, 3), RGBA (H, W, 4)
_MODES = {2: "L", 3: "RGB", 4: "RGBA"}


def png_mode(shape: tuple[int, ...]) -> str:
    """The 8-bit PNG mode holding images of ``shape`` (grey, RGB or RGBA)."""
    return "L" if len(shape) == 2 else _MODES[shape[2]]


def encode_png(images: np.ndarray) -> list[bytes]:
    """One PNG per image of a ``uint8`` batch: 8-bit grey ``(N, H, W)``, RGB or RGBA ``(N, H, W, 3|4)``."""
    from PIL import Image

    mode = png_mode(images.shape[1:])
    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image), mode=mode).save(
            buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        out.append(buffer.getvalue())
    return out


class PngError(ValueError):
    """Image ``index`` of a batch is not a PNG the export could have written (``reason`` says why)."""

    def __init__(self, index: int, reason: str):
        super().__init__(index, reason)
        self.index = index
        self.reason = reason

    def __str__(self) -> str:
        return f"image {self.index}: {self.reason}"


def decode_png(blobs: list[bytes], shape: tuple[int, ...], first: int = 0) -> np.ndarray:
    """A ``uint8 (N, *shape)`` array from PNG bytes, each checked before it is decoded.

    Only PNG is opened (not GIF, BMP, TIFF, JPEG...), and an image whose header declares
    another size than ``shape``, or another mode than 8-bit grey, is refused before its pixels
    are decoded: a few bytes of PNG can declare 12000x12000 pixels. A :class:`PngError` names
    the image (``first`` + its position in ``blobs``).
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    height, width = shape[:2]
    mode = png_mode(tuple(shape))
    out = np.empty((len(blobs), *shape), dtype=np.uint8)
    for i, blob in enumerate(blobs):
        if not isinstance(blob, bytes):
            raise PngError(first + i, "no PNG bytes")
        try:
            with warnings.catch_warnings():  # a huge declared size is refused below, not warned about
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(blob), formats=["PNG"]) as opened:
                    if opened.size != (width, height):
                        raise PngError(first + i, f"a PNG of {opened.size[1]}x{opened.size[0]} pixels")
                    if opened.mode != mode:
                        raise PngError(first + i, f"a PNG of mode {opened.mode}, not 8-bit {mode}")
                    opened.load()
                    out[i] = np.asarray(opened)
        except PngError:
            raise
        except UnidentifiedImageError:
            raise PngError(first + i, "not a PNG file (another image format, or no image at all)") from None
        except Exception as exc:  # Pillow's many exception types (incl. DecompressionBombError) for a bad file
            raise PngError(first + i, f"not a readable PNG ({type(exc).__name__}: {str(exc)[:120]})") from None
    return out


def _decode_batch(args: tuple[list[bytes], tuple[int, ...], int]) -> np.ndarray:
    return decode_png(*args)


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def process_context() -> Any:
    """``forkserver``, unless the main module cannot be re-imported (a script read from stdin).

    forkserver (and spawn) workers re-import ``__main__`` from its file; ``python - < script``
    has none, and every worker would die. Such a session gets ``fork``, Python's own
    default on Linux before 3.14.
    """
    import multiprocessing
    import sys

    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file is not None and not os.path.exists(main_file):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


class CodecPool:
    """A lazily started process pool for PNG work, shut down by ``close``."""

    def __init__(self, workers: int | None = None):
        self.workers = cpu_count() if workers is None else workers
        self._executor: Executor | None = None

    def executor(self, images: int) -> Executor | None:
        """The pool, or None when ``images`` are better encoded in this process."""
        if self.workers <= 1 or images < POOL_MIN_IMAGES:
            return None
        if self._executor is None:
            from concurrent.futures import ProcessPoolExecutor

            self._executor = ProcessPoolExecutor(self.workers, mp_context=process_context())
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> "CodecPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def decode(self, blobs: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
        """Decode a list of PNGs in parallel (in order)."""
        executor = self.executor(len(blobs))
        if executor is None:
            return decode_png(blobs, shape)
        batches = ((blobs[i:i + BATCH], shape, i) for i in range(0, len(blobs), BATCH))
        parts = list(ordered_map(_decode_batch, batches, executor, window=4 * self.workers))
        return np.concatenate(parts) if parts else np.empty((0, *shape), np.uint8)


def ordered_map(function: Callable[[T], R], items: Iterable[T], executor: Executor | None,
                *, window: int) -> Iterator[R]:
    """``map`` on an executor with at most ``window`` tasks in flight, results in order.

    ``Executor.map`` submits every item at once, which would hold a whole dataset's
    batches in the task queue; this keeps memory to ``window`` batches.
    """
    if executor is None:
        for item in items:
            yield function(item)
        return
    pending: deque[Future] = deque()
    try:
        for item in items:
            pending.append(executor.submit(function, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
