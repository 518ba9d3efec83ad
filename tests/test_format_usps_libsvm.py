"""USPS as LIBSVM publishes it (``formats/usps_libsvm.py``): bzip2'd text, served as uint8 or float32.

The real test file (``$MNISTFAMILY_REALDATA/usps/usps.t.bz2``) is read both ways and compared with
what the facts say (2,007 lines, per-digit counts) and with torchvision's own decoding, written
out here from its source. The mapping is checked exhaustively on every six-decimal value in
[-1, 1]. Then miniatures, every hostile file, memory and mutants.
"""

from __future__ import annotations

import bz2
import doctest
import hashlib
import io
import tracemalloc

import numpy as np
import pytest

from mnistfamily.errors import FormatError
from mnistfamily.formats import usps_libsvm
from mnistfamily.formats.sink import MemorySink
from mnistfamily.formats.usps_libsvm import FLOAT32_DEPARTURES, MAX_TEXT_RATIO, read_usps_libsvm, to_uint8
from mnistfamily.prepare.cache import EntryWriter
from harness.fuzz.image_formats import IMAGE_TARGETS, run_mutants
from mnistfamily.testing.mini_usps_libsvm import usps_libsvm_contents

MiB = 1 << 20
#: SOURCES-2.txt: sha256 of usps.t.bz2 and its per-label line counts (file label 1..10)
TEST_SHA256 = "a9c0164e797d60142a50604917f0baa604f326e9a689698763793fa5d12ffc4e"
TEST_COUNTS = {1: 359, 2: 264, 3: 198, 4: 166, 5: 200, 6: 160, 7: 170, 8: 147, 9: 166, 10: 177}


def read(data: bytes, image_dtype: str = "uint8", **kwargs) -> MemorySink:
    sink = MemorySink()
    read_usps_libsvm(io.BytesIO(data), sink, image_dtype=image_dtype, where="usps.t.bz2", **kwargs)
    return sink


def _line(label: bytes = b"1", values=None, sep: bytes = b" ") -> bytes:
    values = values if values is not None else [b"-1.000000"] * 256
    return label + b" " + sep.join(b"%d:%s" % (i, v) for i, v in enumerate(values, start=1)) + b" \n"


# --------------------------------------------------------------------------- the real test file

@pytest.mark.realdata
def test_the_real_test_file_matches_the_facts_and_torchvision(realdata):
    path = realdata / "usps" / "usps.t.bz2"
    raw = path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == TEST_SHA256
    as_bytes, as_floats = MemorySink(), MemorySink()
    assert read_usps_libsvm(path, as_bytes, num_examples=2007).num_examples == 2007
    read_usps_libsvm(path, as_floats, image_dtype="float32", num_examples=2007)
    labels = as_bytes.arrays["labels"]
    assert dict(zip(range(1, 11), np.bincount(labels, minlength=10).tolist())) == TEST_COUNTS
    np.testing.assert_array_equal(as_floats.arrays["labels"], labels)

    # torchvision's USPS.__init__, written out: str tokens -> float32 array -> ((x + 1) / 2 * 255) as uint8
    lines = bz2.decompress(raw).decode().splitlines()
    raw_data = [line.split() for line in lines]
    tokens = [[x.split(":")[-1] for x in data[1:]] for data in raw_data]
    floats = np.asarray(tokens, dtype=np.float32).reshape((-1, 16, 16))
    np.testing.assert_array_equal(as_bytes.arrays["images"], ((floats + 1) / 2 * 255).astype(dtype=np.uint8))
    np.testing.assert_array_equal(labels, [int(d[0]) - 1 for d in raw_data])

    # the float32 images give back the published text, value for value
    np.testing.assert_array_equal(as_floats.arrays["images"], floats)
    printed = np.char.mod("%.6f", as_floats.arrays["images"].astype(np.float64).reshape(len(lines), 256))
    np.testing.assert_array_equal(printed, np.array(tokens))


# --------------------------------------------------------------------------- the mapping, exhaustively

def test_every_six_decimal_value_round_trips_and_maps_to_its_byte():
    # all 2,000,001 values in [-1, 1], through the reader's own text path
    k = np.arange(-10**6, 10**6 + 1 + 255, dtype=np.int64)  # padded to whole lines with 1.0s
    k[k > 10**6] = 10**6
    k = k[:len(k) // 256 * 256]
    published = np.char.mod("%.6f", k / 10**6).astype("S").reshape(-1, 256)  # k / 10**6: the nearest double
    prefixes = [b"%d:" % i for i in range(1, 257)]
    text = b"".join(b"1 " + b" ".join(map(bytes.__add__, prefixes, row)) + b"\n" for row in published.tolist())
    floats = read(text, "float32").arrays["images"].reshape(-1)
    served = to_uint8(floats).astype(np.int64)  # what image_dtype="uint8" serves from the same floats
    printed = np.char.mod("%.6f", floats.astype(np.float64)).astype("S")
    assert (printed == published.reshape(-1)).all()
    exact = (k + 10**6) * 255 // (2 * 10**6)
    differs = np.nonzero(served != exact)[0]
    assert {printed[i].decode(): (int(exact[i]), int(served[i])) for i in differs} == FLOAT32_DEPARTURES
    assert served[0] == 0 and served[k == 10**6].min() == 255 and (np.diff(served) >= 0).all()


def test_to_uint8_is_torchvisions_float32_arithmetic():
    values = np.array([-1, -0.6, -0.027451, 0, 0.372549, 0.992157, 1], np.float32)
    assert to_uint8(values).tolist() == [0, 50, 124, 127, 175, 254, 255]
    # in float64 the same formula gives 51 for -0.6: the float32 steps are what torchvision does
    assert int((np.float64(-0.6) + 1) / 2 * 255) == 51


# --------------------------------------------------------------------------- miniatures

@pytest.mark.parametrize("image_dtype", ["uint8", "float32"])
@pytest.mark.parametrize("compress", [True, False])
def test_the_miniature_reads_back_both_ways(image_dtype, compress):
    data, expected = usps_libsvm_contents(40, seed=2, compress=compress)
    sink = MemorySink()
    decoded = read_usps_libsvm(io.BytesIO(data), sink, image_dtype=image_dtype, num_examples=40)
    assert decoded.num_examples == 40 and sink.report == {"image_dtype": image_dtype}
    assert sink.arrays["images"].dtype == np.dtype(image_dtype) and sink.arrays["images"].shape == (40, 16, 16)
    for name in ("images", "labels", "index"):
        np.testing.assert_array_equal(sink.arrays[name], expected[image_dtype][name])


def test_line_endings_a_missing_last_newline_and_trailing_blank_lines_are_read():
    text = _line(b"3") + _line(b"10")
    for variant in (text.replace(b"\n", b"\r\n"), text[:-1], text + b"\n\n  \n"):
        np.testing.assert_array_equal(read(variant).arrays["labels"], [2, 9])
    two_streams = bz2.compress(_line(b"1")) + bz2.compress(_line(b"2"))  # `cat a.bz2 b.bz2`
    np.testing.assert_array_equal(read(two_streams).arrays["labels"], [0, 1])


def test_the_cache_writer_is_a_sink(tmp_path):
    data, expected = usps_libsvm_contents(12, seed=3)
    with EntryWriter(tmp_path / "test@0123456789abcdef") as writer:
        read_usps_libsvm(io.BytesIO(data), writer, image_dtype="float32")
        final = writer.commit({})
    np.testing.assert_array_equal(np.load(final / "images.npy"), expected["float32"]["images"])


def test_the_module_examples_run():
    assert doctest.testmod(usps_libsvm, optionflags=doctest.ELLIPSIS).failed == 0


# --------------------------------------------------------------------------- hostile files

def _values(**changes) -> list[bytes]:
    values = [b"0.500000"] * 256
    for position, value in changes.items():
        values[int(position[1:]) - 1] = value
    return values


@pytest.mark.parametrize("data, message", [
    (b"PK\x03\x04rest", r"neither bzip2 \(which starts 'BZh'\) nor LIBSVM text"),
    (b"", r"neither bzip2"),
    (b"BZh0" + bytes(20), r"neither bzip2"),
    (_line(b"0"), r"usps.t.bz2: line 1: the label b'0'; expected 1..10"),
    (_line(b"1") + _line(b"11"), r"line 2: the label b'11'"),
    (_line(b"01"), r"the label b'01'"),
    (_line(b"1.0"), r"the label b'1.0'"),
    (_line(b"1", _values()[:255]), r"line 1: 255 items; expected 256 'index:value' pairs"),
    (_line(b"1", _values() + [b"0.1"]), r"257 items"),
    (_line(b"1").replace(b" 2:", b" 02:"), r"feature 2 is numbered 02; expected the indices 1..256 in order"),
    (_line(b"1").replace(b" 3:", b" 2:"), r"feature 3 is numbered 2"),
    (_line(b"1").replace(b"1:-1.000000", b"1:-1.000000:2", 1),
     r"line 1: item 1 is b'1:-1.000000:2'; expected 'index:value' with a plain decimal value"),
    (_line(b"1").replace(b"1:-1.000000 ", b"1: -1.000000 ", 1), r"line 1: 257 items; expected 256"),
    (_line(b"1", _values(v7=b"nan")), r"line 1: item 7 is b'7:nan'; expected 'index:value' with a plain decimal"),
    (_line(b"1", _values(v7=b"inf")), r"item 7 is b'7:inf'"),
    (_line(b"1", _values(v7=b"1_0")), r"item 7 is b'7:1_0'"),
    (_line(b"1", _values(v7=b"0x1p-1")), r"item 7 is b'7:0x1p-1'"),
    (_line(b"1", _values(v7=b"0.5\x00")), r"item 7 is b'7:0.5\\x00'"),
    (_line(b"1", _values(v7=b"1.2.3")), r"line 1: value 7 is '1.2.3', not a number"),
    (_line(b"1") + _line(b"1", _values(v9=b"--1")), r"line 2: value 9 is '--1', not a number"),
    (_line(b"1", _values(v7=b"1.5")), r"line 1: value 7 is 1.5; expected -1..1"),
    (_line(b"1", _values(v256=b"-1.000001")), r"value 256 is -1.000001; expected -1..1"),
    (_line(b"1", _values(v1=b"1e5")), r"value 1 is 1e5; expected -1..1"),
    (_line(b"1") + b"\n" + _line(b"2"), r"line 2: empty; only the end of the file may hold empty lines"),
    (_line(b"1") + b"7 " + b"1:0.5 " * 3000, r"line 2: longer than 8,192 bytes"),
    (bz2.compress(b"\n\n"), r"holds no USPS line \(2 empty lines\)"),
    (bz2.compress(_line(b"1"))[:-10], r"the bzip2 data ends before its end-of-stream marker"),
    (bz2.compress(_line(b"1"))[:30] + bytes(40) + bz2.compress(_line(b"1"))[70:],
     r"the bzip2 data is damaged, or followed by bytes that are not another bzip2 stream"),
    (bz2.compress(_line(b"1")) + b"garbage",
     r"the bzip2 data is damaged, or followed by bytes that are not another bzip2 stream \(Invalid data stream\)"),
], ids=lambda value: value[:40] if isinstance(value, str) else "")
def test_hostile_files_are_refused_with_a_clear_error(data, message):
    with pytest.raises(FormatError, match=message) as caught:
        read(data)
    assert str(caught.value).startswith("usps.t.bz2: ") and "fetch it again" in str(caught.value)


def test_counts_other_than_the_splits_are_refused():
    text = _line(b"1") * 3
    with pytest.raises(FormatError, match=r"line 3: one line more than the split's 2"):
        read(text, num_examples=2)
    with pytest.raises(FormatError, match=r"3 lines; the split has 2,007"):
        read(text, num_examples=2007)
    with pytest.raises(FormatError, match=r"image_dtype='float64': USPS is decoded as one of \['uint8', 'float32'\]"):
        read(text, "float64")


def test_a_bzip2_bomb_stops_at_the_ratio_in_bounded_memory():
    bomb = bz2.compress(_line(b"1") * 1_000, 9)  # 3.4 MB of valid lines in 200 bytes
    assert len(bomb) * MAX_TEXT_RATIO < MiB
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=r"the text decompresses to more than [\d,]+ bytes"):
            read(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MiB


def test_a_large_file_is_read_in_memory_bounded_by_its_arrays():
    rng = np.random.default_rng(0)
    distinct = usps_libsvm_contents(64, seed=4, compress=False)
    lines = distinct[0].splitlines(keepends=True)
    order = rng.integers(0, 64, size=2_000)
    text = b"".join(lines[i] for i in order)  # 6.8 MB of text
    output = 2_000 * 256
    tracemalloc.start()
    try:
        sink = read(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(sink.arrays["images"], distinct[1]["uint8"]["images"][order])
    # the decoded blocks and the sink's copy of them (USPS is at most 1.9 MB as uint8, 7.5 MB as
    # float32), plus one block of text; never the whole text
    assert peak < 2 * output + 4 * MiB < len(text)


def test_mutants_raise_only_library_errors(tmp_path):
    outcomes = run_mutants(IMAGE_TARGETS["usps-libsvm"], 100, seed=13, folder=tmp_path)
    assert outcomes["ok"] >= 4 and sum(outcomes.values()) == 100 + len(IMAGE_TARGETS["usps-libsvm"].seeds())
