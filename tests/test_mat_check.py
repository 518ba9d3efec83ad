"""The MAT v5 pre-check (``mnistfamily/formats/mat.py``) that runs before ``scipy.io.loadmat``.

loadmat allocates what a file declares and crashes the interpreter on an unknown element
type, so affNIST's reader parses each ``.mat`` member first. Each test below pins one
protection: the fuzzer's reproducers (kept here as bytes, with what loadmat did on them), then
hand-built files for each rule, run either with loadmat forbidden (the check alone must refuse
them) or with the real loadmat under tracemalloc. Valid files written by ``savemat``, and a
big-endian file built by hand, still load.
"""

from __future__ import annotations

import base64
import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import scipy.io  # imported before any measurement: an import's allocations are not the reader's

from mnistfamily.errors import FormatError
from mnistfamily.formats.mat import MAX_DEPTH, check_mat_v5
from mnistfamily.prepare import mat_split  # noqa: F401 - imported before measuring, like scipy.io
from harness.fuzz import TARGETS
from mnistfamily.testing.mini_mat import mat_bytes, struct_fields, zip_bytes

MiB = 1 << 20


def _unpack(*lines: str) -> bytes:
    return zlib.decompress(base64.b64decode("".join(lines)))


#: members found by ``benchmarks/fuzz.py --reader mat`` (zlib + base64 of the .mat bytes), with
#: the tracemalloc peak loadmat reached on each before the check walked element sizes
REPRODUCERS = {
    # 229 MiB: the struct's field names element declares 239,945,985 bytes
    "fuzz-7a89": (_unpack(
            "eNrzdQzxcXRSMNUzUPB1DNFNy8xJVQjISSxJyy/KtVIoyC/OrNBRcC5KTSxJTVHIz7NSCMkoVfDLL1MwMlMwNLAyNrIyMlQw"
            "MjAyYyADMHr68gGpHUDMBsQcQMwElWKF8hkZ+IGYAYy5gTgxLc3PMzgkJbEkEaqOBayXysYxQs3IzE1MTwXSIHMTkMxlQzOX"
            "GWoXI1ScE4gNiAgAulgDAImuJjo="),
                 r"field names element declares 239,945,985 bytes"),
    # 1.7 GiB (with 2.mat): the variable declares 5,400 bytes, 909 remain
    "fuzz-7b6c-1": (_unpack(
            "eNrzdQzxcXRSMNUzUPB1DNFNy8xJVQjISSxJyy/KtVIoyC/OrNBRcC5KTSxJTVHIz7NSCMkoVfDLL1MwMlMwNLAyNrIyMlQw"
            "MjAyYyADMHr68gEpCVEGBjYgzQHETFApViifEQlzA3FiWpqfZ3BISmJJIlQdC4MkVD6FIT4zrwTdkpzEpNSc+Py81Pj8tPg8"
            "JImM0tzEvHig11ISk3JS40uKEifofg58t91hj+eJCxefeu387B7ennvMJ68YFBhgLSDXfhBCuJYTzbUOQAlmqGsYoL45AFQf"
            "33To5vnX/IsVr99s+rFXwHXHi7N+K21ruWQ/OAlvU7dmsQ68p1NRZXSBgSEzNzE9FVtYQbwxxP3nJ+OwrDJy1cv6TW8bCqt9"
            "ZrvOavoR73lg1/76OwufM2p3v90f1s/+IuG9jzmDu+/x2xc2TNi3OqNiM8OHr89S9t+ouy0/9XlvscBMjsrL5w+zbz61a5n6"
            "zhueR77r8NXfFrPy/nlHr3IF603juV0WQlNFFF7v9Pl4Ta36vJVpDs9iq3Tbr/bsGafiGBPYL8qveC3HtJJr3erdj/rarMzW"
            "LTVMu+f44UHn3FSpmYeNN1okSX39V1qr5vnf/qjwuTA2id+6hRqJn9fWr7c7Zvn5WH3Lsj1L/wN9brdhfabllj1RE5J3WXM9"
            "sFs/VUmUxXjKztLNO6yzCm98nFfbJuEnnfCVKcdfgtc95+CW+BrnzSw72iq3Pp60bI3QpUrZ93MU2Dp8ymdEX1xqwUAvMCng"
            "H9+6l9dXtx3hDtux5NYk4e0VamJLtO9cLvAsXu8l99TzxW0AeRUkNg=="),
                 r"declares 5,400 bytes, but only 909 remain"),
    # the same archive's second member: 5,400 bytes declared, 637 remain
    "fuzz-7b6c-2": (_unpack(
            "eNrzdQzxcXRSMNUzUPB1DNFNy8xJVQjISSxJyy/KtVIoyC/OrNBRcC5KTSxJTVHIz7NSCMkoVfDLL1MwMlMwNLAyNrIyMlQw"
            "MjAyYyADMHr68gEpCVEGBjYgzQHETFApViCWBSlBwtxAnJiW5ucZHJKSWJIIVcfCIAmVTwHizNzE9FRsduUkJqXmxGfmlWCX"
            "yM9Ljc9Pi89DksgozU3Miwd6PSUxKSc1vqQoMa8YFCxgSZC7Pwgh3M2J5G4Q3wEowQx1FwPUXweA6n1b+iO1dqzxbGlq3HSk"
            "7z2bj1NjcYpK6u0q99cnUrROZkvM/3t2CqMl54ZYraB5O0587v1m+dl07WQlI4WWjVorjqhrb/+Z+2u9zqp9yr6ZotMmrl2d"
            "/PR1k2yr883fqe8DVovM4rp+u2AD44e1u7MqT53TW7RJ6sXL9fuyRTK3r7x04U6C/WHW95YNJXL/z9oofhL3zW0/WT3VKHHp"
            "/NcaKvdaCxcmzHFn+3zXImFrd+4F5T3hibMl/+5P+l38yVf1h+ab0HcGiiJlGzgPqzmac3BHywdVvlxl5vqqZOHEN6ufpxww"
            "vRnJ88NO2C3BceNC3TqlD1HrHzqmLS9l65G03Zy5IED/dfi1h6lRb22z/TMVNszM3H19XbvJ5k+b2s5v2f+j1e9h2e0HV7yf"
            "fPxuse5KQ530leUH9bac292w/pesNk/RdJGDgfYN3bdjHRfmnvu8NfLynhvlxae4Gu37FcofnPt/+taiFWyzTLdzZovOlD8V"
            "KHIzxWDlT/33ywM/T371OeBeSMGGM+fyE2Izvv24dK25jv3K0YlBMz9XaDDpLkpQ6b10N4ShCwDh+AWF"),
                 r"declares 5,400 bytes, but only 637 remain"),
    # 4 GiB: image's data element declares 4,294,901,808 bytes
    "fuzz-b0d5": (_unpack(
            "eNrzdQzxcXRSMNUzUPB1DNFNy8xJVQjISSxJyy/KtVIoyC/OrNBRcC5KTSxJTVHIz7NSCMkoVfDLL1MwMlMwNLAyNrIyMlQw"
            "MjAyYyADMHr68gGpHUDMBsQcQMwElWKF8hmRMDcQJ6al+XkGh6QkliRC1bGA9TJCzcjMTUxPBdIgcxOQzGVDM5cZahcjVDwX"
            "iA0Y/v8n1QsAnYMgCg=="),
                 r"data element declares 4,294,901,808 bytes"),
    # 92 MiB: the variable declares 184 bytes, 87 remain
    "fuzz-ef94": (_unpack(
            "eNrzdQzxcXRSMNUzUPB1DNFNy8xJVQjISSxJyy/KtVIoyC/OrNBRyChKTSxJTVHIz7NSCMkoVfDLL1MwMlMwNLAyNrIyMlQw"
            "MjAyYyADMHr68gGpHUDMBsQcQMwElWKF8hkZtgMxAxhzA3FiWpqfZ3BISmJJIlQdC1gvI9SMzNzE9FQgDTI3gYEBADoeHiQ="),
                 r"declares 184 bytes, but only 87 remain"),
    # SIGSEGV in scipy 1.17.1: image's data element has type 109
    "segfault": (_unpack(
            "eNrzdQzxcXRSMNUzUPB1DNFNy8xJVQjISSxJyy/KtVIoyC/OrNBRcC5KTSxJTVHIz7NSCMkoVfDLL1MwMlMwNLAyNrIyMlQw"
            "MjAyYyADMHr68gGpHUDMBsQcQMwElWKF8hmRMDcQJ6al+XkGh6QkliRC1bGA9TJCzcjMTUxPBdIgcxOQzGVDM5cZahcjVDwX"
            "iA3I8AIAOuYeDA=="),
                 r"data element has data type 109"),
}


def _peak(fn, *args):
    """(result or raised exception, tracemalloc peak in bytes) of ``fn(*args)``."""
    tracemalloc.start()
    try:
        try:
            outcome = fn(*args)
        except Exception as exc:  # noqa: BLE001 - returned for the caller to assert on
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _run(mat: bytes, tmp_path, name: str = "run"):
    """affNIST's reader (the fuzz target: a zip of ``training_batches/1.mat``) on ``mat``."""
    folder = tmp_path / name
    folder.mkdir()
    return _peak(TARGETS["mat"].run, zip_bytes([("training_batches/1.mat", mat)]), folder)


@pytest.fixture
def no_loadmat(monkeypatch):
    """Fail the test if loadmat is reached: the check alone must refuse the file."""
    def forbidden(*args, **kwargs):
        pytest.fail("scipy.io.loadmat was called on a file the check should have refused")

    monkeypatch.setattr(scipy.io, "loadmat", forbidden)


# run with the real loadmat, but not the one that crashes it: were the check to let it through,
# the whole test session would die with it
@pytest.mark.parametrize("name", sorted(set(REPRODUCERS) - {"segfault"}))
def test_fuzzer_reproducers_are_refused_in_bounded_memory(name, tmp_path):
    mat, message = REPRODUCERS[name]
    outcome, peak = _run(mat, tmp_path)
    assert isinstance(outcome, FormatError), outcome
    assert "training_batches/1.mat" in str(outcome) and "fetch it again" in str(outcome)
    assert message in str(outcome)
    assert peak < 8 * MiB  # loadmat reached 229 MiB to 4 GiB on these


def test_the_member_that_crashed_loadmat_is_refused_before_loadmat_runs(tmp_path, no_loadmat):
    # the data type 109 makes scipy 1.17.1 read past a C table and die with SIGSEGV
    outcome, _ = _run(REPRODUCERS["segfault"][0], tmp_path)
    assert isinstance(outcome, FormatError)
    assert "affNISTdata.image: the data element has data type 109; expected a numeric type" in str(outcome)


# --------------------------------------------------------------------------- hand-built files

def _element(kind: int, data: bytes, order: str = "<", *, small: bool = False) -> bytes:
    """A tagged element padded to 8 bytes; ``small`` packs up to 4 bytes into the tag."""
    if small:
        return struct.pack(order + "I", len(data) << 16 | kind) + data.ljust(4, b"\0")
    return struct.pack(order + "II", kind, len(data)) + data + bytes(-len(data) % 8)


def _matrix(mx_class: int, dims, *contents: bytes, name: bytes = b"", flags: int = 0, order: str = "<") -> bytes:
    """An miMATRIX element: array flags, dimensions, name, then ``contents``."""
    body = (_element(6, struct.pack(order + "II", mx_class | flags, 0), order)
            + _element(5, struct.pack(f"{order}{len(dims)}i", *dims), order)
            + _element(1, name, order, small=0 < len(name) <= 4) + b"".join(contents))
    return struct.pack(order + "II", 14, len(body)) + body


def _double(values, dims, order: str = "<", *, kind: int = 9, name: bytes = b"") -> bytes:
    return _matrix(6, dims, _element(kind, np.asarray(values, order + "f8").tobytes(), order), name=name,
                   order=order)


def _struct(fields: dict, *, name: bytes = b"affNISTdata", length: int = 16, declared: int | None = None,
            order: str = "<") -> bytes:
    """A 1 x 1 struct holding ``fields`` (name -> matrix element), names in slots of ``length`` bytes.

    ``declared`` is the slot length the file states, if not ``length``.
    """
    names = b"".join(f.encode().ljust(length, b"\0") for f in fields)
    declared = length if declared is None else declared
    return _matrix(2, (1, 1), _element(5, struct.pack(order + "i", declared), order, small=True),
                   _element(1, names, order), *fields.values(), name=name, order=order)


def _file(*variables: bytes, order: str = "<", version: int = 0x0100) -> bytes:
    header = b"MATLAB 5.0 MAT-file, built by test_mat_check".ljust(124)
    return header + struct.pack(order + "H", version) + (b"IM" if order == "<" else b"MI") + b"".join(variables)


def _compressed(matrix: bytes, order: str = "<") -> bytes:
    data = zlib.compress(matrix)
    return struct.pack(order + "II", 15, len(data)) + data  # top-level elements are not padded


def _nested_cells(levels: int) -> bytes:
    """A double inside ``levels`` nested 1 x 1 cells."""
    matrix = _double([1.0], (1, 1))
    for _ in range(levels):
        matrix = _matrix(1, (1, 1), matrix)
    return matrix


_GOOD = {"image": _double(np.zeros(1600 * 2), (1600, 2)), "label_int": _double([3, 7], (1, 2))}


def test_the_hand_built_file_is_valid(tmp_path):
    # the baseline every refusal below departs from by one change
    outcome, _ = _run(_file(_struct(_GOOD)), tmp_path)
    assert outcome is None


@pytest.mark.parametrize("mat, message", [
    # a data element declaring more than its parent holds: loadmat allocates the declared size
    (_file(_struct({**_GOOD, "image": _matrix(6, (1600, 2), struct.pack("<II", 9, 0xFFFF0000))})),
     r"affNISTdata.image: the data element declares 4,294,901,760 bytes, but only 0 remain"),
    # an unknown data type is read out of bounds of a C table (SIGSEGV); 8, 10, 11 are unused codes
    (_file(_struct({**_GOOD, "image": _double(np.zeros(3200), (1600, 2), kind=11)})),
     r"affNISTdata.image: the data element has data type 11; expected a numeric type"),
    (_file(_struct({**_GOOD, "image": _double(np.zeros(3200), (1600, 2), kind=0x7FFF)})),
     r"data type 32767"),
    # scipy divides by the field name length (0: ZeroDivisionError, negative: a negative count)
    (_file(_struct(_GOOD, declared=0)),
     r"field names of 32 bytes in slots of 0; expected at least one slot of 2 to 64 bytes"),
    (_file(_struct(_GOOD, declared=-16)), r"field names of 32 bytes in slots of -16"),
    (_file(_struct(_GOOD, declared=5)), r"field names of 32 bytes in slots of 5"),
    (_file(_struct(_GOOD, length=128)), r"field names of 256 bytes in slots of 128"),
    # names are read up to their NUL with C string functions
    (_file(_struct({"image": _GOOD["image"], "label_in": _GOOD["label_int"]}, length=8)),
     r"field name b'label_in' is not a NUL-terminated identifier"),
    (_file(_struct({"image": _GOOD["image"], "image ": _GOOD["label_int"]})),
     r"field name b'image \\x00.*' is not a NUL-terminated identifier"),
    (_file(_struct({"image": _GOOD["image"], "imagf": _GOOD["label_int"]}).replace(b"imagf", b"image")),
     r"the field names \['image', 'image'\] repeat"),
    # the struct's records are allocated from its dimensions before one is read
    (_file(_struct(_GOOD).replace(struct.pack("<2i", 1, 1), struct.pack("<2i", 268_435_457, 1), 1)),
     r"declares dimensions \[268435457, 1\] \(268,435,457 elements of 2 field\(s\)\), more than its"),
    # and so are a cell array's elements
    (_file(_struct({**_GOOD, "image": _matrix(1, (100_000, 100_000))})),
     r"affNISTdata.image \(cell array\): declares dimensions \[100000, 100000\]"),
    # numeric values must match the dimensions exactly
    (_file(_struct({**_GOOD, "image": _double(np.zeros(3199), (1600, 2))})),
     r"declares dimensions \[1600, 2\] \(3,200 values\) but its data holds 25,592 bytes of 8-byte values"),
    (_file(_struct({**_GOOD, "image": _double(np.zeros(3200), (1600, -2))})),
     r"dimensions \[1600, -2\] \(8 bytes\); expected 2 to 32 dimensions, none negative"),
    (_file(_struct({**_GOOD, "image": _double(np.zeros(3200), (3200,))})),
     r"dimensions \[3200\]"),
    # classes affNIST does not use are not read: char, sparse, object, function; complex numbers
    (_file(_struct({**_GOOD, "name": _matrix(4, (1, 2), _element(16, b"ab"))})),
     r"affNISTdata.name \(char array\): affNIST's files hold numeric arrays in a struct"),
    (_file(_struct({**_GOOD, "image": _matrix(5, (2, 2), _element(5, bytes(8)))})), r"\(sparse array\)"),
    (_file(_struct({**_GOOD, "x": _matrix(17, (1, 1))})), r"\(opaque array\)"),
    (_file(_struct({**_GOOD, "x": _matrix(99, (1, 1))})), r"\(class 99 array\)"),
    (_file(_struct({**_GOOD, "label_int": _matrix(6, (1, 1), _element(9, bytes(8)), _element(9, bytes(8)),
                                                  flags=1 << 11)})),
     r"affNISTdata.label_int \(double array\): holds complex numbers"),
    # loadmat reads on from where the last element ended: nothing may be left over, or missing
    (_file(_struct({**_GOOD, "label_int": _matrix(6, (1, 2), _element(9, bytes(16)), _element(1, b""))})),
     r"affNISTdata.label_int: 8 bytes left over in the array"),
    (_file(_struct(_GOOD))[:-8] + bytes(3), r"variable 1: the variable's element declares [\d,]+ bytes, but only"),
    (_file(_struct(_GOOD)) + bytes(5), r"5 stray bytes after the last variable"),
    (_file(_struct(_GOOD)) + _element(9, bytes(8)), r"variable 2: expected a matrix \(type 14\) or compressed"),
    # inside a compressed variable too (scipy's zlib stream allocates the declared size first)
    (_file(_compressed(_struct({**_GOOD, "image": _matrix(6, (1600, 2), struct.pack("<II", 9, 0xFFFF0000))}))),
     r"affNISTdata.image: the data element declares 4,294,901,760 bytes"),
    (_file(_compressed(_struct(_GOOD) + bytes(8))), r"8 bytes left over in the compressed variable"),
    (_file(struct.pack("<II", 15, 40) + b"\x78\x9c" + b"\xff" * 38), r"the compressed variable is damaged"),
    # nesting is bounded (scipy's reader recurses)
    (_file(_struct({**_GOOD, "deep": _nested_cells(MAX_DEPTH + 1)})), r"nested more than 8 deep"),
    # headers loadmat would read as another format
    (_file(_struct(_GOOD), version=0x0200), r"a MATLAB v7.3 \(HDF5\) file"),
    (_file(_struct(_GOOD), version=0x0300), r"expected version 0x0100 \(MATLAB v5\) in the header; found 0x0300"),
    (b"\0\0\0\0" + _file(_struct(_GOOD))[4:], r"not a readable MATLAB file: expected a MATLAB v5 header"),
    (_file(_struct(_GOOD))[:100], r"\(100 bytes\)"),
], ids=lambda value: value.replace("\\", "")[:36] if isinstance(value, str) else "")
def test_malformed_structures_are_refused_before_loadmat(mat, message, tmp_path, no_loadmat):
    outcome, peak = _run(mat, tmp_path)
    assert isinstance(outcome, FormatError), outcome
    assert "training_batches/1.mat" in str(outcome) and "fetch it again" in str(outcome)
    with pytest.raises(FormatError, match=message):
        check_mat_v5(mat, 1 << 30, "x")
    assert peak < 8 * MiB


@pytest.mark.parametrize("levels, message", [(MAX_DEPTH - 1, None), (MAX_DEPTH, "nested more than 8 deep")])
def test_nesting_is_accepted_up_to_the_bound(levels, message):
    # struct (depth 0) -> field "deep" (1) -> cells ... -> the innermost double at depth levels + 1
    mat = _file(_struct({**_GOOD, "deep": _nested_cells(levels)}))
    if message is None:
        check_mat_v5(mat, 1 << 20, "x")
    else:
        with pytest.raises(FormatError, match=message):
            check_mat_v5(mat, 1 << 20, "x")


# --------------------------------------------------------------------------- what must still load

def test_a_big_endian_file_with_small_data_elements_loads(tmp_path):
    # MATLAB on a big-endian machine writes "MI"; short names and values fit in the tag
    images = np.arange(1600 * 2, dtype=np.uint8)
    fields = {"image": _matrix(9, (1600, 2), _element(2, images.tobytes(), ">"), order=">"),
              "label_int": _matrix(9, (1, 2), _element(2, bytes([3, 7]), ">", small=True), order=">"),
              "label_one_of_n": _double(np.eye(10)[:, [3, 7]].T.ravel(), (10, 2), ">", kind=9)}
    mat = _file(_matrix(6, (1, 1), _element(9, struct.pack(">d", 1.0), ">"), name=b"a", order=">"),
                _struct(fields, order=">"), order=">")
    check_mat_v5(mat, 1 << 20, "x")
    loaded = scipy.io.loadmat(io.BytesIO(mat))
    assert loaded["a"].tolist() == [[1.0]]
    record = loaded["affNISTdata"][0, 0]
    assert np.array_equal(record["image"], images.reshape(2, 1600).T)
    assert record["label_int"].tolist() == [[3, 7]]
    outcome, _ = _run(mat, tmp_path)
    assert outcome is None


def _objects(*values) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


@pytest.mark.parametrize("compress", [False, True])
def test_what_savemat_writes_passes_the_check_and_loads(compress, tmp_path):
    rng = np.random.default_rng(0)
    batch = struct_fields(rng.integers(0, 256, (5, 40, 40), dtype=np.uint8), rng.integers(0, 10, 5), 10,
                          rng.uniform(-20, 20, (5, 7)))
    variables = {
        "affNISTdata": batch,
        # what a batch's struct might also hold: every numeric type, logical, empty, a nested
        # struct, an object array (a cell), a one-letter name (a small data element)
        "extra": {**{str(np.dtype(t)): np.arange(3, dtype=t) for t in
                     ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8")},
                  "mask": np.array([True, False]), "empty": np.zeros((0, 3)), "nested": {"x": np.ones(2)},
                  "cells": _objects(np.ones(2), np.zeros((2, 2)))},
        "n": np.array(5.0),
    }
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables, do_compression=compress, long_field_names=True)
    mat = buffer.getvalue()
    check_mat_v5(mat, 1 << 20, "x")
    loaded = scipy.io.loadmat(io.BytesIO(mat))
    assert np.array_equal(loaded["affNISTdata"][0, 0]["image"], batch["image"])
    assert loaded["extra"][0, 0]["cells"].shape == (1, 2)
    outcome, _ = _run(mat, tmp_path)
    assert outcome is None
