"""Bounding what a MATLAB v5 file can make ``scipy.io.loadmat`` allocate, before it runs.

``loadmat`` allocates a struct or cell array from the dimensions its header declares
(``np.empty(dims, dtype=object)`` and friends) before reading a single element, and inflates
a compressed variable (``miCOMPRESSED``) to whatever size the zlib stream gives. A 5 KB file
declaring a 268,435,457 x 1 struct made it reserve 8 GiB. :func:`check_mat_v5` walks the
element tags first, without building anything: every struct, cell or object array must
have no more elements than its bytes could describe (each element or field is a tagged
element of at least 8 bytes), and compressed variables are inflated with a cap. Numeric
and character arrays need no check: scipy builds them from the bytes actually present.

The walk follows the MAT-File Format reference (MathWorks, "MAT-File Format", v5): a
128-byte header whose bytes 126-127 give the byte order (``IM`` little-endian), then tagged
elements; a tag is ``(type, byte count)`` as two uint32, or one uint32 with the count in
its upper half and up to 4 bytes of data ("small data element"). Anything the walk cannot
parse is left to scipy, which refuses it with its own error.
"""

from __future__ import annotations

import math
import struct
import zlib

from ..errors import FormatError

_MI_INT8, _MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_COMPRESSED = 1, 5, 6, 14, 15
_MX_CELL, _MX_STRUCT, _MX_OBJECT = 1, 2, 3
_MAX_DEPTH = 32


class _Stop(Exception):
    """The bytes do not parse as the walk expects: leave the verdict to scipy."""


def check_mat_v5(data: bytes, limit: int, where: str) -> None:
    """Raise :class:`~mnistfamily.errors.FormatError` if ``data`` would make loadmat over-allocate.

    ``limit`` bounds the inflated size of every compressed variable (the most bytes the
    caller is ready to hold for one file). Files that are not MATLAB v5 are not checked.
    """
    if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
        return
    order = "<" if data[126:128] == b"IM" else ">"
    try:
        _walk_top(memoryview(data)[128:], order, limit, where)
    except _Stop:
        return


def _tag(view: memoryview, pos: int, order: str) -> tuple[int, int, int, int]:
    """``(type, byte count, data start, next element)`` of the element at ``pos``."""
    if pos + 8 > len(view):
        raise _Stop
    first, second = struct.unpack_from(order + "II", view, pos)
    if first >> 16:  # small data element: count in the upper half, data in the next 4 bytes
        return first & 0xFFFF, first >> 16, pos + 4, pos + 8
    start = pos + 8
    end = start + second
    if end > len(view):
        raise _Stop
    return first, second, start, end + (-second % 8)  # elements are padded to 8 bytes


def _walk_top(view: memoryview, order: str, limit: int, where: str) -> None:
    pos = 0
    while pos < len(view):
        kind, count, start, pos = _tag(view, pos, order)
        if kind == _MI_COMPRESSED:
            inflater = zlib.decompressobj()
            try:
                inner = inflater.decompress(view[start:start + count], limit + 1)
            except zlib.error:
                raise _Stop from None
            if len(inner) > limit:
                raise FormatError(f"{where}: a compressed variable inflates to more than {limit:,} bytes, "
                                  "more than the whole split could take. The file is not the published one; "
                                  "delete the archive and fetch it again.")
            _walk_elements(memoryview(inner), order, where, 0)
        elif kind == _MI_MATRIX:
            _matrix(view[start:start + count], order, where, 0)


def _walk_elements(view: memoryview, order: str, where: str, depth: int) -> None:
    pos = 0
    while pos < len(view):
        kind, count, start, pos = _tag(view, pos, order)
        if kind == _MI_MATRIX:
            _matrix(view[start:start + count], order, where, depth)


def _matrix(view: memoryview, order: str, where: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise FormatError(f"{where}: MATLAB variables nested more than {_MAX_DEPTH} deep; the published "
                          "file has two levels. Delete the archive and fetch it again.")
    if not len(view):
        return  # an empty matrix element: an empty array
    kind, count, start, pos = _tag(view, 0, order)  # array flags
    if kind != _MI_UINT32 or count < 8:
        raise _Stop
    mx_class = view[start] if order == "<" else view[start + 3]
    kind, count, start, pos = _tag(view, pos, order)  # dimensions
    if kind != _MI_INT32 or count % 4:
        raise _Stop
    dims = struct.unpack_from(f"{order}{count // 4}i", view, start)
    if mx_class not in (_MX_CELL, _MX_STRUCT, _MX_OBJECT):
        return
    if any(d < 0 for d in dims):
        raise _Stop
    elements = math.prod(dims)
    kind, count, start, pos = _tag(view, pos, order)  # array name
    fields = 1
    if mx_class in (_MX_STRUCT, _MX_OBJECT):
        if mx_class == _MX_OBJECT:
            kind, count, start, pos = _tag(view, pos, order)  # class name
        kind, count, start, pos = _tag(view, pos, order)  # field name length
        if kind != _MI_INT32 or count != 4:
            raise _Stop
        length = struct.unpack_from(order + "i", view, start)[0]
        kind, count, start, pos = _tag(view, pos, order)  # field names
        fields = count // length if length > 0 else 0
    # every element (of every field) is a tagged element of at least 8 bytes
    if elements * max(fields, 1) * 8 > len(view) - pos:
        raise FormatError(f"{where}: a MATLAB {'cell' if mx_class == _MX_CELL else 'struct'} array declares "
                          f"dimensions {list(dims)} ({elements:,} elements of {fields} field(s)), more than its "
                          f"{len(view) - pos:,} bytes can hold. The file is not the published one; delete the "
                          "archive and fetch it again.")
    _walk_elements(view[pos:], order, where, depth + 1)
