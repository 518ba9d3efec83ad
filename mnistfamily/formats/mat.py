"""Checking a MATLAB v5 file's structure before ``scipy.io.loadmat`` reads it.

``loadmat`` trusts the file, and some of that trust cannot be caught with ``except``:

- it allocates every element's *declared* byte count before reading it (scipy's
  ``_streams.read_string``): a 300-byte file declaring a 4 GiB element reserves 4 GiB;
- it sizes struct and cell arrays from their dimensions before reading one element (a 5 KB
  file declaring a 268,435,457 x 1 struct reserved 8 GiB);
- it inflates compressed variables (``miCOMPRESSED``) without a cap;
- it looks an element's data type up in a fixed C table without a bounds check (scipy
  1.17.1, ``VarReader5.read_numeric``): a data type of 109 reads past the table and crashes
  the interpreter (SIGSEGV), taking the caller's process with it.

:func:`check_mat_v5` therefore parses the file first, in pure Python, exactly as far as
loadmat will read it, and accepts only the structure affNIST's files use. Anything else is a
:class:`~mnistfamily.errors.FormatError`. Accepted (MathWorks, "MAT-File Format", level 5):

- a 128-byte header with version 0x0100 and the byte order mark ``IM`` or ``MI``, then
  variables back to back: each an ``miMATRIX`` element, or an ``miCOMPRESSED`` element whose
  zlib stream inflates (to at most ``limit`` bytes) to exactly one ``miMATRIX`` element;
- a matrix element holds, in order, array flags (``miUINT32``, 8 bytes), dimensions
  (``miINT32``, 2 to 32 of them, none negative) and a name (``miINT8``), then by class:

  - a real numeric array (double, single, int8 ... uint64): one data element of a numeric
    type holding exactly the values its dimensions promise;
  - a struct: the field name length (one ``miINT32``, 2 to 64), the names (``miINT8``:
    distinct ASCII identifiers, each ending in a NUL inside its slot), then one matrix per
    field per element;
  - a cell array: one matrix per element;

- a field or cell element may also be an empty matrix element (no bytes);
- every element, padding included, lies inside its parent, and the parent holds nothing else.

Refused: characters, sparse, object, function and opaque classes, complex numbers, and
nesting deeper than :data:`MAX_DEPTH`. affNIST's struct holds numeric fields only (the
miniature written by ``mnistfamily.testing.mini_mat`` is the reference, as no published
file was available); cells are accepted because ``savemat`` writes a numpy object array as
one, and the reader then names the field that is not numeric.

Hence what loadmat allocates is bounded by the bytes present: a numeric array by its data
element, a struct or cell array by its elements (each at least an 8-byte tag), a compressed
variable by ``limit``.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import FormatError

#: element data types (the tag's first word); scipy's reader knows these and no other
_MI_INT8, _MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_COMPRESSED = 1, 5, 6, 14, 15
_TYPE_NAMES = {1: "miINT8", 5: "miINT32", 6: "miUINT32", 14: "miMATRIX"}
#: numeric element types and their item size: miINT8, miUINT8, miINT16, miUINT16, miINT32,
#: miUINT32, miSINGLE, miDOUBLE, miINT64, miUINT64 (MATLAB may store a double array's whole
#: values in a smaller type, so any of them may hold the data of any numeric class)
_NUMERIC_TYPES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8}
_MX_CELL, _MX_STRUCT = 1, 2
_MX_NUMERIC = range(6, 16)  # mxDOUBLE_CLASS ... mxUINT64_CLASS
_CLASS_NAMES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double", 7: "single",
                8: "int8", 9: "uint8", 10: "int16", 11: "uint16", 12: "int32", 13: "uint32", 14: "int64",
                15: "uint64", 16: "function", 17: "opaque"}
_COMPLEX_FLAG = 1 << 11
#: affNIST nests two levels (struct -> field); a field saved from an object array adds a cell
MAX_DEPTH = 8
#: MATLAB's longest field name is 63 characters, plus the terminating NUL
_MAX_NAME_LENGTH = 64
_NEXT_STEP = "The file is not the published one; delete the archive and fetch it again."


def check_mat_v5(data: bytes, limit: int, where: str) -> None:
    """Raise :class:`~mnistfamily.errors.FormatError` unless ``data`` is a MAT v5 file loadmat reads safely.

    ``limit`` bounds the inflated size of every compressed variable (the most bytes the
    caller is ready to hold for one file); ``where`` names the file in messages.

    Examples
    --------
    >>> import io
    >>> import numpy as np, scipy.io
    >>> buffer = io.BytesIO()
    >>> scipy.io.savemat(buffer, {"affNISTdata": {"image": np.zeros((4, 2), np.uint8)}})
    >>> check_mat_v5(buffer.getvalue(), 1 << 20, "1.mat")
    >>> check_mat_v5(buffer.getvalue()[:200], 1 << 20, "1.mat")
    Traceback (most recent call last):
    ...
    mnistfamily.errors.FormatError: 1.mat: variable 1: the variable's element declares 144 bytes, but only 64 ...
    """
    order = _header(data, where)
    view = memoryview(data)
    pos, number = 128, 0
    while pos < len(view):
        number += 1
        here = f"{where}: variable {number}"
        # loadmat reads a variable's tag as two words and goes on at start + byte count: unlike
        # the elements inside a matrix, top-level elements are not padded
        if pos + 8 > len(view):
            raise FormatError(f"{here}: {len(view) - pos} stray bytes after the last variable, not an "
                              f"8-byte element tag. {_NEXT_STEP}")
        kind, count = struct.unpack_from(order + "II", view, pos)
        if kind not in (_MI_MATRIX, _MI_COMPRESSED) or count == 0:
            raise FormatError(f"{here}: expected a matrix (type 14) or compressed (type 15) element of "
                              f"at least one byte; found type {kind} of {count:,} bytes. {_NEXT_STEP}")
        start = pos + 8
        if start + count > len(view):
            raise FormatError(f"{here}: the variable's element declares {count:,} bytes, but only "
                              f"{len(view) - start:,} remain. {_NEXT_STEP}")
        body = view[start:start + count]
        pos = start + count
        if kind == _MI_COMPRESSED:
            inner = memoryview(_inflate(body, limit, here))
            elements = _Elements(inner, order, here)
            _, matrix = elements.next("miMATRIX", (_MI_MATRIX,), small=False)
            elements.finish("the compressed variable, after its miMATRIX element")
            body = matrix
        if not len(body):
            raise FormatError(f"{here}: an empty matrix element; a variable has a header. {_NEXT_STEP}")
        _matrix(body, order, where, f"variable {number}", 0)


def _header(data: bytes, where: str) -> str:
    """The byte order (``<`` or ``>``) of a MAT v5 header; refuse anything loadmat would read otherwise."""
    # scipy reads a file whose first four bytes hold a zero as MATLAB v4, and bytes 124-127
    # as the version and the byte order mark
    if len(data) < 128 or 0 in data[:4] or data[126:128] not in (b"IM", b"MI"):
        raise FormatError(f"{where}: not a readable MATLAB file: expected a MATLAB v5 header (128 bytes "
                          f"ending in 'IM' or 'MI'); found {bytes(data[:20])!r}... ({len(data):,} bytes). "
                          f"{_NEXT_STEP}")
    order = "<" if data[126:128] == b"IM" else ">"
    version = struct.unpack_from(order + "H", data, 124)[0]
    if version == 0x0200:
        raise FormatError(f"{where}: a MATLAB v7.3 (HDF5) file; affNIST is published as v5 .mat files, "
                          f"so this is not the published archive. {_NEXT_STEP}")
    if version != 0x0100:
        raise FormatError(f"{where}: not a readable MATLAB file: expected version 0x0100 (MATLAB v5) in "
                          f"the header; found {version:#06x}. {_NEXT_STEP}")
    return order


def _inflate(body: memoryview, limit: int, here: str) -> bytes:
    """The bytes loadmat's zlib stream gives for ``body``, or an error past ``limit``."""
    # like scipy's ZlibInputStream: a stream missing its end is read as far as it goes
    # (MATLAB writes some so), anything after its end is ignored
    inflater = zlib.decompressobj()
    try:
        inner = inflater.decompress(body, limit + 1)
        if not inflater.unconsumed_tail:
            inner += inflater.flush()
    except zlib.error as exc:
        raise FormatError(f"{here}: the compressed variable is damaged ({exc}). {_NEXT_STEP}") from None
    if len(inner) > limit or inflater.unconsumed_tail:
        raise FormatError(f"{here}: a compressed variable inflates to more than {limit:,} bytes, more "
                          f"than the whole split could take. {_NEXT_STEP}")
    return inner


class _Elements:
    """The tagged elements inside one parent, read in order; each must lie inside the parent."""

    def __init__(self, view: memoryview, order: str, here: str, next_step: str = _NEXT_STEP):
        self.view, self.order, self.here, self.pos = view, order, here, 0
        #: what the messages tell the user to do (the file is affNIST's by default)
        self.next_step = next_step

    def next(self, what: str, kinds, *, small: bool = True) -> tuple[int, memoryview]:
        """``(type, data)`` of the next element, which must be of one of ``kinds``.

        ``small`` allows the "small data element" form: a tag whose first word holds the byte
        count (at most 4) in its upper half, with the data in the tag's second word.
        """
        view, pos = self.view, self.pos
        if pos + 8 > len(view):
            raise FormatError(f"{self.here}: the {what} element is missing (the enclosing element ends "
                              f"{len(view) - pos} bytes later). {self.next_step}")
        first, count = struct.unpack_from(self.order + "II", view, pos)
        if first >> 16 and small:
            kind, count = first & 0xFFFF, first >> 16
            if count > 4:
                raise FormatError(f"{self.here}: the {what} element is a small data element of {count} "
                                  f"bytes; at most 4 fit. {self.next_step}")
            data, self.pos = view[pos + 4:pos + 4 + count], pos + 8
        else:
            kind, start = first, pos + 8
            end = start + count + (-count % 8)  # elements inside a matrix are padded to 8 bytes
            if end > len(view):
                raise FormatError(f"{self.here}: the {what} element declares {count:,} bytes, but only "
                                  f"{len(view) - start:,} remain. {self.next_step}")
            data, self.pos = view[start:start + count], end
        if kind not in kinds:
            expected = ("a numeric type (1-7, 9, 12 or 13)" if len(kinds) > 1 else
                        f"{_TYPE_NAMES[kinds[0]]} ({kinds[0]})")
            raise FormatError(f"{self.here}: the {what} element has data type {kind}; expected {expected}. "
                              f"{self.next_step}")
        return kind, data

    def finish(self, what: str) -> None:
        """Refuse bytes left over: loadmat reads on from where the last element ended."""
        if self.pos != len(self.view):
            raise FormatError(f"{self.here}: {len(self.view) - self.pos:,} bytes left over in {what}. "
                              f"{self.next_step}")


def _matrix(body: memoryview, order: str, where: str, path: str, depth: int) -> None:
    """Check one matrix element's contents (after its tag); ``path`` names it in messages."""
    elements = _Elements(body, order, f"{where}: {path}")
    if depth > MAX_DEPTH:
        raise FormatError(f"{elements.here}: MATLAB arrays nested more than {MAX_DEPTH} deep; affNIST's "
                          f"files nest two. {_NEXT_STEP}")
    word, raw_dims, name = _flags_dims_name(elements)
    mx_class = word & 0xFF
    dims = list(struct.unpack(f"{order}{len(raw_dims) // 4}i", raw_dims[:len(raw_dims) // 4 * 4]))
    if depth == 0:  # a variable's name; the arrays inside it have empty names
        path = bytes(name).decode("latin-1")
        elements.here = f"{where}: variable {path!r}"
    here = f"{elements.here} ({_CLASS_NAMES.get(mx_class, f'class {mx_class}')} array)"
    _check_dims(dims, len(raw_dims), here, _NEXT_STEP)
    size = math.prod(dims)
    if mx_class in _MX_NUMERIC:
        if word & _COMPLEX_FLAG:
            raise FormatError(f"{here}: holds complex numbers; affNIST's arrays are real. {_NEXT_STEP}")
        kind, values = elements.next("data", tuple(_NUMERIC_TYPES))
        if len(values) != size * _NUMERIC_TYPES[kind]:
            raise FormatError(f"{here}: declares dimensions {dims} ({size:,} values) but its data holds "
                              f"{len(values):,} bytes of {_NUMERIC_TYPES[kind]}-byte values. {_NEXT_STEP}")
    elif mx_class in (_MX_STRUCT, _MX_CELL):
        fields = _field_names(elements, here) if mx_class == _MX_STRUCT else [""]
        # loadmat allocates size x fields slots before reading them: there must be as many
        # elements as slots (each at least an 8-byte tag), checked before walking them
        if size * len(fields) * 8 > len(body) - elements.pos:
            raise FormatError(f"{here}: declares dimensions {dims} ({size:,} elements of {len(fields)} "
                              f"field(s)), more than its {len(body) - elements.pos:,} bytes can hold. "
                              f"{_NEXT_STEP}")
        for index in range(size):
            for field in fields:
                child = f"{path}.{field}" if field else f"{path}{{{index}}}"
                _, element = elements.next(f"matrix of {child}", (_MI_MATRIX,), small=False)
                if len(element):  # an empty matrix element is an empty array
                    _matrix(element, order, where, child, depth + 1)
    else:
        raise FormatError(f"{here}: affNIST's files hold numeric arrays in a struct; this class is not "
                          f"read. {_NEXT_STEP}")
    elements.finish("the array")


def _flags_dims_name(elements: _Elements) -> tuple[int, memoryview, memoryview]:
    """A matrix's array flags word, raw dimensions and name: its first three elements."""
    _, flags = elements.next("array flags", (_MI_UINT32,), small=False)
    if len(flags) != 8:
        raise FormatError(f"{elements.here}: array flags of {len(flags)} bytes; expected 8. {elements.next_step}")
    word = struct.unpack_from(elements.order + "I", flags)[0]
    _, raw_dims = elements.next("dimensions", (_MI_INT32,), small=False)
    _, name = elements.next("array name", (_MI_INT8,))
    return word, raw_dims, name


def _check_dims(dims: list[int], raw_length: int, here: str, next_step: str) -> None:
    if raw_length % 4 or not 2 <= len(dims) <= 32 or min(dims) < 0:
        raise FormatError(f"{here}: dimensions {dims} ({raw_length} bytes); expected 2 to 32 "
                          f"dimensions, none negative. {next_step}")


#: the public names of the walker, for readers that stream a matrix's data (SVHN's ``.mat`` files)
Elements = _Elements
#: numeric element data type -> item size in bytes
NUMERIC_TYPES = MappingProxyType(_NUMERIC_TYPES)
MI_MATRIX, MI_COMPRESSED = _MI_MATRIX, _MI_COMPRESSED
CLASS_NAMES = MappingProxyType(_CLASS_NAMES)


@dataclass(frozen=True)
class MatrixHeader:
    """The start of a matrix element: its class, flags, dimensions and name, and where its data begins."""

    #: the array flags word: the class in its low byte, ``COMPLEX_FLAG`` and the logical flag above
    flags: int
    dims: tuple[int, ...]
    name: str
    #: offset of the element after the name (the data), from the start of the matrix's contents
    end: int

    @property
    def mx_class(self) -> int:
        return self.flags & 0xFF

    @property
    def class_name(self) -> str:
        return _CLASS_NAMES.get(self.mx_class, f"class {self.mx_class}")

    @property
    def complex(self) -> bool:
        return bool(self.flags & _COMPLEX_FLAG)


def read_matrix_header(contents: memoryview, order: str, here: str,
                       next_step: str = _NEXT_STEP) -> MatrixHeader:
    """Parse the array flags, dimensions and name at the start of a matrix element's ``contents``.

    ``contents`` may hold only the first bytes of the element (a reader streaming a large
    array inflates a few hundred bytes first): the three elements must lie inside it.
    Dimensions are checked as :func:`check_mat_v5` checks them (2 to 32, none negative).
    ``here`` names the variable and ``next_step`` says what to do, in errors.

    Examples
    --------
    >>> import struct
    >>> flags = struct.pack("<IIII", 6, 8, 9, 0)  # miUINT32, 8 bytes: class 9 (uint8)
    >>> dims = struct.pack("<II4i", 5, 16, 32, 32, 3, 7)  # miINT32, 16 bytes
    >>> name = struct.pack("<HH4s", 1, 1, b"X")  # a small data element: miINT8, 1 byte
    >>> read_matrix_header(memoryview(flags + dims + name), "<", "x.mat: variable 1")
    MatrixHeader(flags=9, dims=(32, 32, 3, 7), name='X', end=48)
    """
    elements = _Elements(contents, order, here, next_step)
    word, raw_dims, name = _flags_dims_name(elements)
    dims = list(struct.unpack(f"{order}{len(raw_dims) // 4}i", raw_dims[:len(raw_dims) // 4 * 4]))
    _check_dims(dims, len(raw_dims), here, next_step)
    return MatrixHeader(word, tuple(dims), bytes(name).decode("latin-1"), elements.pos)


def _field_names(elements: _Elements, here: str) -> list[str]:
    # scipy's reader divides by this length and reads each name up to its NUL with C string
    # functions: a zero, negative or unterminated length is not safe to hand it
    _, raw = elements.next("field name length", (_MI_INT32,))
    if len(raw) != 4:
        raise FormatError(f"{here}: the field name length has {len(raw)} bytes; expected one "
                          f"int32. {_NEXT_STEP}")
    length = struct.unpack_from(elements.order + "i", raw)[0]
    _, names = elements.next("field names", (_MI_INT8,))
    if not 2 <= length <= _MAX_NAME_LENGTH or not names or len(names) % length:
        raise FormatError(f"{here}: field names of {len(names):,} bytes in slots of {length}; "
                          f"expected at least one slot of 2 to {_MAX_NAME_LENGTH} bytes, filling the names "
                          f"exactly. {_NEXT_STEP}")
    fields = []
    for start in range(0, len(names), length):
        slot = bytes(names[start:start + length])
        name = slot.split(b"\0", 1)[0]
        if b"\0" not in slot or not name.isascii() or not name.decode("ascii").isidentifier():
            raise FormatError(f"{here}: field name {slot!r} is not a NUL-terminated identifier. "
                              f"{_NEXT_STEP}")
        fields.append(name.decode("ascii"))
    if len(set(fields)) != len(fields):
        raise FormatError(f"{here}: the field names {fields} repeat. {_NEXT_STEP}")
    return fields
