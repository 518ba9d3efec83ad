"""Reading pickles of numpy arrays without running anything the file asks for.

A pickle is a small program: its ``GLOBAL`` instructions import any object by name and
``REDUCE`` calls it, so unpickling a downloaded file runs whatever the file says
(``os.system``, ``builtins.eval``, ...). MNIST-1D is published as a pickle (protocol 3) of a
dict of numpy arrays, and numpy's array pickles name exactly three globals:
``numpy.core.multiarray._reconstruct`` (``numpy._core.multiarray._reconstruct`` when
written by NumPy 2), ``numpy.ndarray`` and ``numpy.dtype``.

:class:`ArrayUnpickler` answers those three with inert stand-ins that only record their
arguments, and refuses every other global before anything is imported. When the pickle
program has finished, each recorded array is built by :func:`numpy.frombuffer` after its
dtype (booleans, integers, floats and complex numbers only: object arrays are refused, so no
Python object can hide inside) and its byte count have been checked. Neither numpy's
``_reconstruct`` nor ``ndarray.__setstate__`` ever sees the file's data.

Only reading needs this care; writing a pickle (the test miniatures) uses :mod:`pickle`.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import FormatError

__all__ = ["ALLOWED_GLOBALS", "ArrayUnpickler", "read_array_pickle"]

#: The globals a pickle of numpy arrays may name, and the role each plays in rebuilding one.
ALLOWED_GLOBALS: dict[tuple[str, str], str] = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
}
_ALLOWED_TEXT = "numpy.ndarray, numpy.dtype and numpy.core.multiarray._reconstruct"
#: dtype kinds an array may have: bool, signed and unsigned integers, floats, complex
_KINDS = "biufc"
_DTYPE_SPEC = re.compile(r"^[biufc][0-9]{1,2}$")
_MAX_DEPTH = 32
_MAX_RANK = 32


class _Refused(ValueError):
    """The pickle asked for something a pickle of plain numpy arrays never needs."""


class _Inert:
    """Base of the stand-ins: the pickle program may not change them except as numpy does."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise _Refused(f"the pickle tries to set attribute {name!r} of {self!r}")

    def __setstate__(self, state: Any) -> None:
        raise _Refused(f"the pickle tries to change the state of {self!r}")


class _Global(_Inert):
    """What an allowed global resolves to: a callable that records, never a numpy function."""

    __slots__ = ("role",)
    role: str

    def __init__(self, role: str):
        object.__setattr__(self, "role", role)

    def __repr__(self) -> str:
        return {"reconstruct": "numpy.core.multiarray._reconstruct", "ndarray": "numpy.ndarray",
                "dtype": "numpy.dtype"}[self.role]

    def __call__(self, *args: Any) -> "_ArrayStub | _DtypeStub":
        if self.role == "reconstruct":
            return _ArrayStub(*args)
        if self.role == "dtype":
            return _DtypeStub(*args)
        raise _Refused("numpy.ndarray is called directly; numpy pickles only pass it to _reconstruct")


_GLOBALS = {role: _Global(role) for role in set(ALLOWED_GLOBALS.values())}


class _DtypeStub(_Inert):
    """``numpy.dtype(spec, align, copy)`` followed by its pickled state, checked."""

    __slots__ = ("spec", "dtype")
    spec: str
    dtype: np.dtype | None

    def __init__(self, spec: Any, align: Any = False, copy: Any = False):
        if not isinstance(spec, str) or not _DTYPE_SPEC.match(spec):
            raise _Refused(f"the pickle asks for dtype {spec!r}; only booleans, integers, floats and "
                           "complex numbers are read (object and structured arrays are refused)")
        if not isinstance(align, bool) or not isinstance(copy, bool):
            raise _Refused(f"dtype {spec!r} is built with unexpected arguments {align!r}, {copy!r}")
        dtype = np.dtype(spec)
        if dtype.kind not in _KINDS or dtype.hasobject:
            raise _Refused(f"the pickle asks for dtype {spec!r}, which is not a plain numeric dtype")
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "dtype", None)  # set by the state numpy always pickles with it

    def __repr__(self) -> str:
        return f"numpy.dtype({self.spec!r})"

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, itemsize, alignment, flags[, metadata]);
        # a plain numeric dtype has no subarray, names or fields, and -1/-1/0 for the rest
        if (not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4)
                or state[1] not in ("<", ">", "|", "=") or state[2:8] != (None, None, None, -1, -1, 0)
                or (len(state) == 9 and state[8] is not None) or self.dtype is not None):
            raise _Refused(f"dtype {self.spec!r} has the unexpected pickled state {state!r}")
        dtype = np.dtype(self.spec)
        if state[1] in "<>":
            dtype = dtype.newbyteorder(state[1])
        object.__setattr__(self, "dtype", dtype)


class _ArrayStub(_Inert):
    """``_reconstruct(ndarray, (0,), b'b')`` followed by the array's pickled state, checked."""

    __slots__ = ("shape", "dtype", "fortran", "data")
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    data: bytes | None

    def __init__(self, subtype: Any = None, shape: Any = None, typecode: Any = None, *extra: Any):
        if subtype is not _GLOBALS["ndarray"] or shape != (0,) or typecode != b"b" or extra:
            raise _Refused("_reconstruct is called with arguments numpy never writes "
                           f"({subtype!r}, {shape!r}, {typecode!r}); only plain numpy.ndarray is read")
        for slot in self.__slots__:
            object.__setattr__(self, slot, None)

    def __repr__(self) -> str:
        return "numpy array"

    def __setstate__(self, state: Any) -> None:
        # (version, shape, dtype, is_fortran, raw bytes)
        if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1 or self.data is not None:
            raise _Refused(f"an array has an unexpected pickled state of type {type(state).__name__}")
        _, shape, dtype, fortran, data = state
        if (not isinstance(shape, tuple) or len(shape) > _MAX_RANK
                or not all(type(n) is int and n >= 0 for n in shape)):
            raise _Refused(f"an array has the invalid shape {shape!r}")
        if not isinstance(dtype, _DtypeStub) or dtype.dtype is None:
            raise _Refused(f"an array's dtype is {dtype!r}, not a checked numeric dtype")
        if not isinstance(fortran, bool) or not isinstance(data, bytes):
            raise _Refused("an array's data is not stored as raw bytes (pickle protocol 3 or later writes it so)")
        expected = math.prod(shape) * dtype.dtype.itemsize
        if len(data) != expected:
            raise _Refused(f"an array of shape {shape} and dtype {dtype.dtype.str} needs {expected:,} bytes; "
                           f"the pickle holds {len(data):,}")
        for slot, value in zip(self.__slots__, (shape, dtype.dtype, fortran, data)):
            object.__setattr__(self, slot, value)

    def build(self) -> np.ndarray:
        if self.data is None:
            raise _Refused("an array was started but its contents never given")
        flat = np.frombuffer(self.data, dtype=self.dtype)
        return flat.reshape(self.shape, order="F" if self.fortran else "C").copy(order="K")


class ArrayUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that reads numpy arrays (in dicts, lists, tuples) and nothing else.

    ``load()`` returns the pickled structure with real, writable arrays. Any global other than
    those numpy array reconstruction names, any object or structured dtype, and any state
    numpy would not have written raise :class:`~mnistfamily.errors.FormatError`; nothing the
    file names is imported or called.

    Examples
    --------
    >>> import io, pickle, numpy as np
    >>> from mnistfamily.formats.safe_pickle import ArrayUnpickler
    >>> blob = pickle.dumps({"x": np.arange(3.0)}, protocol=3)
    >>> ArrayUnpickler(io.BytesIO(blob), where="example.pkl").load()
    {'x': array([0., 1., 2.])}
    """

    def __init__(self, file: BinaryIO, *, where: str = "pickle"):
        super().__init__(file)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        role = ALLOWED_GLOBALS.get((module, name))
        if role is None:
            raise FormatError(
                f"{self.where}: the pickle asks for the global {module}.{name}, which is refused: only "
                f"{_ALLOWED_TEXT} (numpy array reconstruction) are allowed, so nothing in the file can run. "
                "This is not a plain pickle of numpy arrays such as the published file; do not open it "
                "with pickle. Delete it and fetch the file again from a trusted location.")
        return _GLOBALS[role]

    def persistent_load(self, pid: Any) -> Any:
        raise FormatError(f"{self.where}: the pickle refers to an external object ({pid!r}); "
                          "a plain pickle of numpy arrays never does. Delete the file and fetch it again.")

    def load(self) -> Any:
        try:
            raw = super().load()
            return _Materialiser(self.where).build(raw, 0)
        except FormatError:
            raise
        except _Refused as exc:
            raise FormatError(f"{self.where}: {exc}. The published file needs nothing of this kind; "
                              "delete it and fetch it again from a trusted location.") from None
        except Exception as exc:  # noqa: BLE001 - any failure of the pickle program is a bad file
            raise FormatError(f"{self.where}: not a readable pickle of numpy arrays "
                              f"({type(exc).__name__}: {exc}). Delete the file and fetch it again.") from None


class _Materialiser:
    """Turns the stand-ins left by the pickle program into arrays, keeping shared references."""

    def __init__(self, where: str):
        self.where = where
        self.done: dict[int, Any] = {}
        self.active: set[int] = set()

    def build(self, obj: Any, depth: int) -> Any:
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
            return obj
        if depth > _MAX_DEPTH:
            raise _Refused(f"the pickled structure is nested deeper than {_MAX_DEPTH} levels")
        key = id(obj)
        if key in self.done:
            return self.done[key]
        if key in self.active:
            raise _Refused("the pickled structure contains itself")
        self.active.add(key)
        if isinstance(obj, _ArrayStub):
            out: Any = obj.build()
        elif type(obj) is dict:
            out = {}
            for k, v in obj.items():
                if not isinstance(k, (str, int)):
                    raise _Refused(f"a dict key is a {type(k).__name__}; only str and int keys are read")
                out[k] = self.build(v, depth + 1)
        elif type(obj) is list:
            out = [self.build(v, depth + 1) for v in obj]
        elif type(obj) is tuple:
            out = tuple(self.build(v, depth + 1) for v in obj)
        else:
            raise _Refused(f"the pickle holds {obj!r} ({type(obj).__name__}) where arrays, dicts, lists, "
                           "tuples, numbers or strings were expected")
        self.active.discard(key)
        self.done[key] = out
        return out


def read_array_pickle(source: "str | os.PathLike[str] | bytes | BinaryIO", *, where: str | None = None) -> Any:
    """Read a pickle of numpy arrays (a dict of arrays, say) with :class:`ArrayUnpickler`.

    ``source`` is a path, the file's bytes, or a binary file object. The whole file is read
    into memory first, so a length the pickle claims can never allocate more than the file
    holds. ``where`` names the file in error messages (default: the file name).

    Examples
    --------
    >>> import pickle, numpy as np
    >>> from mnistfamily.formats.safe_pickle import read_array_pickle
    >>> read_array_pickle(pickle.dumps({"y": np.array([7, 1])}, protocol=3))["y"]
    array([7, 1])
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "pickle"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        name = path.name
    else:
        data, name = source.read(), getattr(source, "name", "pickle")
    where = where or str(name)
    if not data.startswith(b"\x80"):
        raise FormatError(f"{where}: not a pickle of protocol 2 or later (it starts with {data[:4]!r}); "
                          "expected the published pickle of numpy arrays. Delete the file and fetch it again.")
    _check_lengths(data, where)
    return ArrayUnpickler(io.BytesIO(data), where=where).load()


def _check_lengths(data: bytes, where: str) -> None:
    """Walk the opcodes once without running them: every counted length must fit in the file.

    CPython's unpickler allocates a ``BINBYTES8``/``BYTEARRAY8`` object of the length the
    opcode states *before* reading its bytes, so 20 bytes claiming 8 GiB made it reserve
    8 GiB. :func:`pickletools.genops` reads each argument with ``read(n)`` and fails when
    fewer than ``n`` bytes remain, allocating only what is there.
    """
    import pickletools

    try:
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
    except Exception as exc:  # noqa: BLE001 - any malformed opcode stream is a bad file
        raise FormatError(f"{where}: not a readable pickle of numpy arrays ({type(exc).__name__}: {exc}). "
                          "Delete the file and fetch it again.") from None
