"""The Transform protocol, Compose, specs (``spec()`` / ``from_spec``) and chunked application.

A transform is a callable object on a batch: ``t(images, *, index=None) -> images``, with
``images`` shaped ``(N, H, W)`` or ``(N, H, W, C)``. ``index`` holds each example's position in
its published split (``Dataset.index``); random transforms derive an example's randomness
from ``(seed, index[i])`` only, so output bytes do not depend on batch size, chunking or
threads. ``index=None`` means ``np.arange(N)``.

Value conventions, shared by every transform: ``uint8`` images are on ``[0, 255]``, float
images on ``[0, 1]`` (what :class:`ToFloat` produces). A transform that computes in floating
point returns ``uint8`` for ``uint8`` input (rounded half to even, clipped) and ``float32``
for float input, unless its docstring says otherwise.
"""

from __future__ import annotations

import abc
import difflib
import inspect
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from ..errors import TransformError

__all__ = [
    "Transform", "Compose", "from_spec", "apply_in_chunks", "TransformError",
    "set_num_threads", "get_num_threads", "registered", "check_accepts", "LAYOUTS", "VALUE_LAYOUTS",
]

#: the layouts of one example (``mnistfamily.examples.layout``): grey and channels-last images,
#: volumes, fixed-length signals, varying-length signals (a ``Signals``)
LAYOUTS = ("HW", "HWC", "DHW", "L", "signal")
#: what a transform that works value by value (no neighbourhood, no axes) takes: every fixed shape
VALUE_LAYOUTS = ("HW", "HWC", "DHW", "L")
#: the batch's ndim for each fixed layout (the example's axes plus N)
_NDIM = {"HW": 3, "HWC": 4, "DHW": 4, "L": 2}
_SHOWN = {"HW": "images (N, H, W)", "HWC": "images (N, H, W, C)", "DHW": "volumes (N, D, H, W)",
          "L": "signals (N, L)", "signal": "signals of varying length"}


# ----------------------------------------------------------------------------------------------
# threads


_threads_lock = threading.Lock()
_num_threads: int | None = None


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """Threads a heavy transform splits a large batch over (default: the usable CPUs).

    ``MNISTFAMILY_NUM_THREADS`` sets the default; :func:`set_num_threads` overrides it.

    Examples
    --------
    >>> from mnistfamily import transforms as T
    >>> T.get_num_threads() >= 1
    True
    """
    if _num_threads is not None:
        return _num_threads
    value = os.environ.get("MNISTFAMILY_NUM_THREADS", "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise TransformError(f"MNISTFAMILY_NUM_THREADS must be a positive integer, found {value!r}; "
                                 "unset it to use every usable CPU") from None
    return _usable_cpus()


def set_num_threads(n: int | None) -> None:
    """Set the threads heavy transforms use (``None``: back to the default).

    The output bytes never depend on it: each example's result is computed from the example
    alone. numpy releases the GIL in the array arithmetic these transforms are made of.

    Examples
    --------
    >>> from mnistfamily import transforms as T
    >>> T.set_num_threads(1); T.get_num_threads()
    1
    >>> T.set_num_threads(None)
    """
    global _num_threads
    if n is not None and (not isinstance(n, (int, np.integer)) or n < 1):
        raise TransformError(f"set_num_threads takes a positive int or None, found {n!r}")
    with _threads_lock:
        _num_threads = None if n is None else int(n)


# ----------------------------------------------------------------------------------------------
# input checks and dtype conventions shared by the transforms


def as_batch(images: Any, owner: str, accepts: Sequence[str] = ("HW", "HWC")) -> np.ndarray:
    """Check that ``images`` is a uint8 or float batch of one of the layouts ``accepts`` names.

    A 4-D batch is ``(N, H, W, C)`` for a transform that takes channels and ``(N, D, H, W)`` for
    one that takes only volumes; a transform taking both works value by value, so the axes do
    not matter to it. ``Dataset.map`` checks the dataset's own layout first (:func:`check_accepts`).
    """
    from ..examples import Signals

    if isinstance(images, Signals):
        raise TransformError(f"{owner}: takes {_takes(accepts)}, not signals of varying length; pad or crop "
                             "them to one length first (PadOrCrop)")
    if not isinstance(images, np.ndarray):
        images = np.asarray(images)
    ndims = {_NDIM[a] for a in accepts if a in _NDIM}
    if images.ndim not in ndims:
        hint = " (for one image pass image[None])" if images.ndim == 2 and 2 not in ndims else ""
        raise TransformError(f"{owner}: expected a batch of {_takes(accepts)}, found shape {images.shape}{hint}")
    if images.dtype != np.uint8 and images.dtype.kind != "f":
        raise TransformError(f"{owner}: expected uint8 images on [0, 255] or float images on [0, 1], found "
                             f"dtype {images.dtype}; convert first (e.g. images.astype(np.uint8) * 255 for a mask)")
    return images


def _takes(accepts: Sequence[str]) -> str:
    shown = [_SHOWN[a] for a in LAYOUTS if a in accepts]
    return ", ".join(shown[:-1]) + (" or " if len(shown) > 1 else "") + shown[-1] if shown else "nothing"


def check_accepts(transform: Any, layout: str, what: str) -> None:
    """Refuse, before any work, a transform that does not take examples of ``layout``.

    ``what`` names the data (``"medmnist3d/organmnist3d [train] (volumes (N, 28, 28, 28))"``). A plain
    function has no ``accepts`` and is trusted with whatever it is given.

    >>> from mnistfamily import transforms as T
    >>> check_accepts(T.Rotate90(), "DHW", "a volume dataset")
    Traceback (most recent call last):
    ...
    mnistfamily.errors.TransformError: Rotate90 takes images (N, H, W) or images (N, H, W, C); a volume dataset holds volumes (N, D, H, W). Transforms that work value by value (ToFloat, Normalize, Invert, Binarize, GaussianNoise) take every fixed-shape example.
    """
    accepts = getattr(transform, "accepts", None)
    if accepts is None or layout in accepts:
        return
    name = type(transform).__name__
    hint = (" Transforms that work value by value (ToFloat, Normalize, Invert, Binarize, GaussianNoise) take every "
            "fixed-shape example." if layout in ("DHW", "L") else
            " Pad or crop them to one length first (PadOrCrop)." if layout == "signal" else "")
    raise TransformError(f"{name} takes {_takes(accepts)}; {what} holds {_SHOWN.get(layout, layout)}.{hint}")


def as_index(index: Any, n: int, owner: str) -> np.ndarray:
    """``index`` as int64 ``(N,)``; ``None`` gives ``arange(N)``."""
    if index is None:
        return np.arange(n, dtype=np.int64)
    array = np.asarray(index)
    if array.shape != (n,) or (array.size and array.dtype.kind not in "iu"):
        raise TransformError(f"{owner}: index must be an integer array of shape ({n},) (each example's "
                             f"position in its split, e.g. Dataset.index), found {array.dtype} {array.shape}")
    return array.astype(np.int64, copy=False)


def full_scale(dtype: np.dtype) -> float:
    """The value of a white pixel: 255 for uint8, 1.0 for floats."""
    return 255.0 if np.dtype(dtype) == np.uint8 else 1.0


def restore_dtype(values: np.ndarray, dtype: np.dtype, *, clip_float: bool = False) -> np.ndarray:
    """Back to the input's kind: uint8 input -> rounded, clipped uint8; float input -> float32.

    Works in place on ``values`` (a scratch float array) to keep peak memory down.
    """
    if np.dtype(dtype) == np.uint8:
        np.rint(values, out=values)
        np.clip(values, 0, 255, out=values)
        return values.astype(np.uint8)
    if clip_float:
        np.clip(values, 0.0, 1.0, out=values)
    return values.astype(np.float32, copy=False)


def _jsonable(value: Any) -> Any:
    """Parameters as plain JSON values: tuples -> lists, numpy scalars -> Python numbers, no -0.0."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value + 0.0  # -0.0 -> 0.0: equal values must serialise alike (specs are cache keys)
    return value


# ----------------------------------------------------------------------------------------------
# the protocol


_REGISTRY: dict[str, type["Transform"]] = {}


def registered() -> dict[str, type["Transform"]]:
    """Every transform class ``from_spec`` knows, by spec name.

    Examples
    --------
    >>> from mnistfamily import transforms as T
    >>> "ElasticDistortion" in T.registered()
    True
    """
    return dict(sorted(_REGISTRY.items()))


class Transform(abc.ABC):
    """Base class: a callable on image batches with a readable repr and a serialisable spec.

    Subclasses implement ``_apply(images, index)`` and store every ``__init__`` parameter
    under an attribute of the same name, normalised (floats as floats, pairs as tuples) so
    that the same behaviour always gives the same spec. ``spec()`` is then
    ``{"name": <class name>, **parameters}``, JSON-serialisable and stable: it goes into
    cache keys and Parquet metadata, and :func:`from_spec` rebuilds the transform from it.

    A heavy transform sets ``pixels_per_block``: ``__call__`` then runs it over blocks of
    that many pixels (cache-sized temporaries, memory bounded by the block), spread over
    :func:`get_num_threads` threads.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily import transforms as T
    >>> t = T.Invert()
    >>> t(np.zeros((2, 28, 28), np.uint8)).max()
    np.uint8(255)
    >>> t.spec()
    {'name': 'Invert'}
    """

    #: output pixels per block for heavy transforms (None: the whole batch at once)
    pixels_per_block: ClassVar[int | None] = None
    #: the layouts of example this transform takes (LAYOUTS): grey and channels-last images unless it
    #: says otherwise; ``Dataset.map`` refuses a dataset of another layout before any work
    accepts: tuple[str, ...] = ("HW", "HWC")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    # -- calling -------------------------------------------------------------------------------

    def __call__(self, images: np.ndarray, *, index: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        name = type(self).__name__
        images = as_batch(images, name, self.accepts)
        idx = as_index(index, len(images), name)
        if not len(images):  # learn the output shape and dtype from one blank image
            return self._apply(np.zeros((1, *images.shape[1:]), images.dtype), np.zeros(1, np.int64))[:0]
        block = self._images_per_block(images)
        if block is None or len(images) <= block:
            return self._apply(images, idx)
        return _run_blocks(self._apply, images, idx, block, get_num_threads())

    @abc.abstractmethod
    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The transform on one validated batch; ``index`` gives each example's position."""

    def sample_rate_after(self, rate: int | None) -> int | None:
        """The sample rate of signals after this transform (unchanged unless it resamples)."""
        return rate

    def _images_per_block(self, images: np.ndarray) -> int | None:
        if self.pixels_per_block is None:
            return None
        pixels = int(np.prod(images.shape[1:], dtype=np.int64)) or 1
        return max(1, self.pixels_per_block // pixels)

    # -- description ---------------------------------------------------------------------------

    @classmethod
    def _parameter_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in list(signature.parameters.values())[1:]
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def params(self) -> dict[str, Any]:
        """The constructor parameters, as JSON values."""
        return {name: _jsonable(getattr(self, name)) for name in self._parameter_names()}

    def spec(self) -> Any:
        """``{"name": ..., **params}``: JSON-serialisable; ``from_spec(t.spec()) == t``."""
        return {"name": type(self).__name__, **self.params()}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._parameter_names())
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transform):
            return NotImplemented
        return type(self) is type(other) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(json.dumps(self.spec(), sort_keys=True))

    def replace(self, **changes: Any) -> "Transform":
        """A copy with some parameters changed, e.g. a new seed for the next epoch.

        Examples
        --------
        >>> from mnistfamily import transforms as T
        >>> T.GaussianNoise(std=0.1, seed=0).replace(seed=1)
        GaussianNoise(std=0.1, seed=1, clip=True)
        """
        spec = self.spec()
        if not isinstance(spec, dict):
            raise TransformError(f"{type(self).__name__}.replace works on single transforms, not pipelines")
        unknown = sorted(set(changes) - set(spec) - {"name"})
        if unknown:
            raise TransformError(f"{type(self).__name__} has no parameter {', '.join(unknown)}; "
                                 f"its parameters are {', '.join(self._parameter_names()) or 'none'}")
        return from_spec({**spec, **changes})


def _run_blocks(apply: Callable[[np.ndarray, np.ndarray], np.ndarray], images: np.ndarray,
                index: np.ndarray, block: int, threads: int) -> np.ndarray:
    """``apply`` over consecutive blocks into one preallocated output, on ``threads`` threads."""
    n = len(images)
    first = apply(images[:block], index[:block])
    out = np.empty((n, *first.shape[1:]), first.dtype)
    out[:block] = first
    del first
    starts = range(block, n, block)

    def run(start: int) -> None:
        stop = min(start + block, n)
        out[start:stop] = apply(images[start:stop], index[start:stop])

    if threads <= 1 or len(starts) <= 1:
        for start in starts:
            run(start)
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(starts))) as pool:
            for future in [pool.submit(run, s) for s in starts]:
                future.result()  # re-raises a block's exception here
    return out


class Compose(Transform):
    """Apply transforms in order; the spec is the list of their specs.

    Nested pipelines are flattened, so equal behaviour gives one spec. An empty pipeline
    returns its input unchanged.

    Examples
    --------
    >>> from mnistfamily import transforms as T
    >>> t = T.Compose([T.Deskew(), T.ElasticDistortion(alpha=34, sigma=4, seed=0), T.ToFloat()])
    >>> [s["name"] for s in t.spec()]
    ['Deskew', 'ElasticDistortion', 'ToFloat']
    >>> T.from_spec(t.spec()) == t
    True
    """

    def __init__(self, transforms: Iterable[Transform]):
        flat: list[Transform] = []
        for t in transforms:
            if isinstance(t, Compose):
                flat.extend(t.transforms)
            elif isinstance(t, Transform):
                flat.append(t)
            else:
                raise TransformError(f"Compose takes Transform objects (each with a spec), found {t!r}; "
                                     "wrap a plain function in a Transform subclass to give it one")
        self.transforms: tuple[Transform, ...] = tuple(flat)
        # what the first transform takes (an empty pipeline takes anything); each later one checks its input
        self.accepts = self.transforms[0].accepts if self.transforms else LAYOUTS

    def __call__(self, images: Any, *, index: np.ndarray | Sequence[int] | None = None) -> Any:
        if not self.transforms:
            return images
        idx = as_index(index, len(images), "Compose")
        return self._apply(images, idx)  # each transform checks its own input

    def sample_rate_after(self, rate: int | None) -> int | None:
        for t in self.transforms:
            rate = t.sample_rate_after(rate)
        return rate

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            images = t(images, index=index)
        return images

    def spec(self) -> list[dict[str, Any]]:
        return [t.spec() for t in self.transforms]

    def params(self) -> dict[str, Any]:
        return {"transforms": self.spec()}

    def __repr__(self) -> str:
        if not self.transforms:
            return "Compose([])"
        inner = ",\n".join(f"    {t!r}" for t in self.transforms)
        return f"Compose([\n{inner},\n])"

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, i: int) -> Transform:
        return self.transforms[i]


def from_spec(spec: Mapping[str, Any] | Sequence[Any] | str) -> Transform:
    """Build a transform from its spec: a dict, a list of dicts (a :class:`Compose`) or YAML text.

    Errors name the transform, the unknown or missing parameter and what is accepted, so
    a typo in ``registry.yaml`` says where it is.

    Examples
    --------
    >>> from mnistfamily import transforms as T
    >>> T.from_spec({"name": "ElasticDistortion", "alpha": 34, "sigma": 4, "seed": 0})
    ElasticDistortion(alpha=34.0, sigma=4.0, seed=0)
    >>> T.from_spec("[{name: Deskew}, {name: ToFloat}]")
    Compose([
        Deskew(),
        ToFloat(),
    ])
    """
    if isinstance(spec, str):
        import yaml

        spec = yaml.safe_load(spec)
    if isinstance(spec, Transform):
        return spec
    if isinstance(spec, (list, tuple)):
        return Compose([from_spec(s) for s in spec])
    if not isinstance(spec, Mapping):
        raise TransformError(f"a transform spec is a mapping with a 'name' (or a list of them), found {spec!r}")
    name = spec.get("name")
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None or cls is Compose:
        known = sorted(k for k in _REGISTRY if k != "Compose")
        wanted = str(name).lower()
        close = [k for k in known if wanted and wanted in k.lower()] or \
            difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close[:3])}?" if close else f"; known: {', '.join(known)}"
        raise TransformError(f"unknown transform {name!r} in spec {dict(spec)!r}{hint}")
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    allowed = cls._parameter_names()
    unknown = sorted(set(kwargs) - set(allowed))
    signature = inspect.signature(cls.__init__)
    missing = [p.name for p in list(signature.parameters.values())[1:]
               if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in kwargs]
    if unknown or missing:
        problems = ([f"unknown parameter(s) {', '.join(unknown)}"] if unknown else []) + \
                   ([f"missing parameter(s) {', '.join(missing)}"] if missing else [])
        raise TransformError(f"{name} spec {dict(spec)!r}: {'; '.join(problems)}; "
                             f"{name} takes {', '.join(allowed) or 'no parameters'}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise TransformError(f"{name} spec {dict(spec)!r}: {exc}") from exc


# ----------------------------------------------------------------------------------------------
# chunked application


def apply_in_chunks(transform: Callable[..., Any], images: Any, index: Any = None, *,
                    chunk_size: int = 8192, out: np.ndarray | None = None) -> Any:
    """Apply ``transform`` chunk by chunk, writing into one preallocated output.

    ``images`` may be a read-only memory map (a prepared dataset) and ``out`` a writable
    one (``np.lib.format.open_memmap``): only one chunk of input, its temporaries and its
    output are in memory at a time, so peak memory is set by ``chunk_size``, not by ``N``.
    The bytes equal ``transform(images, index=index)``: random transforms draw per example.

    Parameters
    ----------
    transform
        A :class:`Transform` (or any callable taking ``index=``).
    images
        ``(N, H, W)`` or ``(N, H, W, C)``.
    index
        Positions of the examples in their split (``Dataset.index``); default ``arange(N)``.
    chunk_size
        Examples per chunk.
    out
        Where to write, shaped ``(N, *output image shape)``; allocated from the first chunk's
        result when ``None``.

    Returns
    -------
    numpy.ndarray
        ``out``.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily import transforms as T
    >>> ds = mf.load("mnist/sample", "test")
    >>> t = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    >>> a = T.apply_in_chunks(t, ds.images, ds.index, chunk_size=300)
    >>> bool((a == t(ds.images, index=ds.index)).all())
    True
    """
    from ..examples import Signals

    name = getattr(transform, "__name__", type(transform).__name__)
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise TransformError(f"apply_in_chunks: chunk_size must be a positive int, found {chunk_size!r}")
    n = len(images)
    idx = as_index(index, n, name)

    def batch(start: int, stop: int) -> Any:
        part = images[start:stop]
        return part if isinstance(part, Signals) else np.asarray(part)

    if n == 0:
        result = transform(batch(0, 0), index=idx)
        if out is not None:
            out[...] = result
            return out
        return result
    pieces: list[Signals] = []  # varying-length results are joined at the end (they have no common shape)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        part = transform(batch(start, stop), index=idx[start:stop])
        if isinstance(part, Signals):
            pieces.append(part)
            continue
        if out is None:
            out = np.empty((n, *part.shape[1:]), part.dtype)
        elif start == 0:
            if tuple(out.shape) != (n, *part.shape[1:]):
                raise TransformError(f"apply_in_chunks: out has shape {tuple(out.shape)}, the transform gives "
                                     f"{(n, *part.shape[1:])}; allocate out with that shape")
            if not np.can_cast(part.dtype, out.dtype, "same_kind"):
                raise TransformError(f"apply_in_chunks: out has dtype {out.dtype}, the transform gives "
                                     f"{part.dtype}; allocate out with dtype {part.dtype}")
        out[start:stop] = part
        del part
    if pieces:
        if len(pieces) * chunk_size < n:
            raise TransformError(f"{name}: gave signals of varying length for some chunks and arrays for others")
        return pieces[0] if len(pieces) == 1 else Signals.concatenate(pieces)  # type: ignore[return-value]
    flush = getattr(out, "flush", None)
    if callable(flush):
        flush()
    return out  # type: ignore[return-value]  # n > 0: the first chunk allocated it
