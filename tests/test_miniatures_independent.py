"""The miniatures' IDX files, checked by a second writer that shares no code with the library.

The contract test loads every miniature and compares the arrays with what the miniature says
to expect; but the IDX files are written with ``formats.idx.write_idx`` and read back with
``read_idx``, so a bug shared by the two (a dtype code, the byte order, a dimension) would
cancel out. Here every IDX file of every IDX dataset's miniature is decompressed with the
standard library and compared byte for byte with the expected rows packed by ``struct``.
"""

from __future__ import annotations

import gzip
import lzma
import struct
import zipfile

import numpy as np
import pytest

from mnistfamily.registry import Registry, builtin_registry_path
from mnistfamily.testing import write_miniatures

#: IDX type codes (Y. LeCun's page): byte, signed byte, short, int, float, double
TYPE_CODES = {"uint8": (0x08, "B"), "int8": (0x09, "b"), "int16": (0x0B, "h"), "int32": (0x0C, "i"),
              "float32": (0x0D, "f"), "float64": (0x0E, "d")}

IDX_NAMES = [n for n in Registry.from_files([builtin_registry_path()]).names()
             if Registry.from_files([builtin_registry_path()]).dataset(n).format == "idx"]


def struct_idx_body(array: np.ndarray) -> bytes:
    """The big-endian bytes of ``array``'s elements, one ``struct.pack`` call: no numpy byte order."""
    _, letter = TYPE_CODES[array.dtype.name]
    return struct.pack(f">{array.size}{letter}", *array.ravel().tolist())


def parse_idx(data: bytes) -> tuple[str, tuple[int, ...], bytes]:
    """Type name, dimensions and body of an IDX file, read with ``struct`` alone."""
    zero, zero2, code, ndim = struct.unpack(">BBBB", data[:4])
    assert (zero, zero2) == (0, 0), "an IDX file starts with two zero bytes"
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    name = next(n for n, (c, _) in TYPE_CODES.items() if c == code)
    return name, dims, data[4 + 4 * ndim:]


def plain_bytes(raw: bytes) -> bytes:
    if raw[:2] == b"\x1f\x8b":
        return gzip.decompress(raw)
    if raw[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(raw)
    return raw


def test_the_struct_writer_agrees_with_the_idx_format():
    """The reference itself, against bytes written out by hand from the format's description."""
    labels = np.array([7, 2, 1], dtype=np.uint8)
    assert b"\x00\x00\x08\x01" + struct.pack(">I", 3) + struct_idx_body(labels) == \
        bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])
    table = np.array([[1, -2]], dtype=np.int32)
    assert struct_idx_body(table) == bytes([0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE])
    assert parse_idx(bytes([0, 0, 0x0C, 2, 0, 0, 0, 1, 0, 0, 0, 2]) + struct_idx_body(table)) == \
        ("int32", (1, 2), struct_idx_body(table))


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return write_miniatures(tmp_path_factory.mktemp("mini"), "file:///nowhere", names=IDX_NAMES)


@pytest.mark.parametrize("name", IDX_NAMES)
def test_every_idx_miniature_holds_the_expected_rows(mini, name):
    spec = mini.registry.dataset(name)
    checked = 0
    for split in spec.splits.values():
        expected = mini.expect(name, split.name)
        start, stop = split.rows or (0, len(expected["labels"]))
        images = np.asarray(expected["images"])
        if spec.orientation == "transposed":  # published transposed: the file holds the transposes
            images = images.transpose(0, 2, 1)
        if spec.label_columns:
            published_labels = np.stack([expected["metadata"][c] for c in spec.label_columns], axis=1).astype(np.int32)
        else:
            published_labels = (np.asarray(expected["labels"]) + spec.label_offset).astype(np.uint8)
        wanted = {split.images: images, split.labels: published_labels}
        if split.index_file:
            wanted[split.index_file] = np.asarray(expected["index"]).astype(np.int32)
        for file_name, rows in wanted.items():
            file = spec.file(file_name)
            if file.archive is not None:  # a member of a zip (EMNIST): read with the standard library
                with zipfile.ZipFile(mini.files[name][file.archive]) as archive:
                    raw = archive.read(file.member or file.name)
            else:
                raw = mini.files[name][file_name].read_bytes()
            type_name, dims, body = parse_idx(plain_bytes(raw))
            assert type_name == rows.dtype.name, (file_name, type_name)
            assert tuple(dims[1:]) == rows.shape[1:] and dims[0] >= stop, (file_name, dims)
            row_bytes = int(np.prod(dims[1:], dtype=np.int64)) * rows.dtype.itemsize
            part = body[start * row_bytes:stop * row_bytes] if file_name != split.index_file else body
            assert part == struct_idx_body(rows), f"{name} [{split.name}]: {file_name} rows {start}:{stop}"
            checked += 1
    assert checked >= 2, f"{name}: no IDX file was checked"
