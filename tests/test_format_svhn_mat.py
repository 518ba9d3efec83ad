"""SVHN's cropped digits (``formats/svhn_mat.py``): MATLAB v5 files streamed into a sink.

The miniature (``testing/mini_svhn_mat.py``) is itself checked against ``scipy.io.loadmat``, the
reader torchvision, TFDS and Hugging Face use, so "the published layout" means what they read.
Then: every layout the files may use, a file scipy writes, the real cache writer as the sink,
every hostile case with its message, memory on a large file, and mutants.
"""

from __future__ import annotations

import doctest
import io
import random
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import scipy.io

from mnistfamily.errors import FormatError, MnistFamilyError
from mnistfamily.formats import mat as mat_check, source, svhn_mat
from mnistfamily.formats.cifar_bin import read_cifar_bin
from mnistfamily.formats.sink import MemorySink
from mnistfamily.formats.svhn_mat import MAX_LABEL_BYTES, read_svhn_mat
from mnistfamily.formats.usps_libsvm import read_usps_libsvm
from mnistfamily.prepare.cache import EntryWriter
from harness.fuzz.image_formats import IMAGE_TARGETS, run_mutants
from mnistfamily.testing.mini_svhn_mat import images_for, svhn_mat_contents, write_svhn_mat

MiB = 1 << 20
LAYOUTS = [{}, {"compress": False}, {"order": ">"}, {"labels_first": True}, {"label_storage": "f8"},
           {"label_class": "uint8"}, {"label_storage": "i2", "order": ">", "compress": False},
           {"label_storage": "f4", "labels_first": True}]


def read(data: bytes, **kwargs) -> MemorySink:
    sink = MemorySink()
    read_svhn_mat(io.BytesIO(data), sink, where="train_32x32.mat", **kwargs)
    return sink


# --------------------------------------------------------------------------- hand-built elements

def _tag(kind, length, order="<"):
    return struct.pack(order + "II", kind, length)


def _el(kind, data, order="<"):
    return _tag(kind, len(data), order) + data + bytes(-len(data) % 8)


def _matrix(mx_class, dims, name, data_kind, data, order="<", flags=0, extra=b""):
    body = (_el(6, struct.pack(order + "II", mx_class | flags, 0), order)
            + _el(5, struct.pack(f"{order}{len(dims)}i", *dims), order) + _el(1, name, order)
            + _el(data_kind, data, order) + extra)
    return _tag(14, len(body), order) + body


def _compressed(matrix, order="<"):
    packed = zlib.compress(matrix)
    return _tag(15, len(packed), order) + packed


def _file(*variables, order="<", version=0x0100):
    return (b"MATLAB 5.0 MAT-file, test".ljust(124) + struct.pack(order + "H", version)
            + (b"IM" if order == "<" else b"MI") + b"".join(variables))


def _x(n, kind=2, dims=None, mx_class=9, **kw):
    pixels = images_for(0, 0, n).transpose(0, 3, 2, 1).tobytes() if kind == 2 else bytes(8 * 3072 * n)
    return _matrix(mx_class, dims or (32, 32, 3, n), b"X", kind, pixels, **kw)


def _y(values, dtype="<f8", kind=9, dims=None, **kw):
    values = np.asarray(values)
    return _matrix(6, dims or (len(values), 1), b"y", kind, values.astype(dtype).tobytes(), **kw)


# --------------------------------------------------------------------------- the layout itself

@pytest.mark.parametrize("layout", LAYOUTS,
                         ids=lambda layout: ",".join(f"{k}={v}" for k, v in layout.items()) or "default")
def test_the_miniature_is_what_scipy_loadmat_reads_and_the_reader_agrees(layout):
    data, expected = svhn_mat_contents(37, seed=3, **layout)
    loaded = scipy.io.loadmat(io.BytesIO(data))
    # X(r, c, ch, n) is pixel (r, c) of channel ch of image n: TFDS's np.rollaxis(X, -1) is our images
    np.testing.assert_array_equal(np.rollaxis(loaded["X"], -1), expected["images"])
    np.testing.assert_array_equal(np.where(loaded["y"].ravel() == 10, 0, loaded["y"].ravel()), expected["labels"])
    sink = MemorySink()
    decoded = read_svhn_mat(io.BytesIO(data), sink)
    assert decoded.num_examples == 37 and decoded.classes == ()
    assert sink.report == {"digit_0_stored_as_10": int((expected["labels"] == 0).sum())}
    assert sink.arrays["images"].dtype == np.uint8 and sink.arrays["images"].shape == (37, 32, 32, 3)
    assert sink.arrays["labels"].dtype == np.int64 and set(sink.arrays) == {"images", "labels", "index"}
    for name in ("images", "labels", "index"):
        np.testing.assert_array_equal(sink.arrays[name], expected[name])


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize("n", [1, 5])
def test_a_file_scipy_writes_reads_the_same(compressed, n):
    # one image: MATLAB (and scipy) drop the trailing singleton dimension, X is 32 x 32 x 3
    images = images_for(7, 0, n)
    labels = np.arange(n) % 10 + 1
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"y": labels.reshape(-1, 1).astype(np.float64), "X": np.moveaxis(images, 0, -1)},
                     do_compression=compressed)
    sink = read(buffer.getvalue())
    np.testing.assert_array_equal(sink.arrays["images"], images)
    np.testing.assert_array_equal(sink.arrays["labels"], labels % 10)


def test_a_compressed_variable_without_its_end_marker_is_read_as_scipy_reads_it():
    # MATLAB writes some zlib streams without their end: scipy reads them as far as they go
    data, expected = svhn_mat_contents(4, seed=1, compress=False)
    head, variables = data[:128], data[128:]
    x_length = struct.unpack("<II", variables[:8])[1] + 8
    deflate = zlib.compressobj()
    open_ended = deflate.compress(variables[:x_length]) + deflate.flush(zlib.Z_SYNC_FLUSH)
    sink = read(head + _tag(15, len(open_ended)) + open_ended + variables[x_length:])
    np.testing.assert_array_equal(sink.arrays["images"], expected["images"])


def test_the_cache_writer_is_a_sink(tmp_path):
    data, expected = svhn_mat_contents(9, seed=2)
    with EntryWriter(tmp_path / "train@0123456789abcdef") as writer:
        read_svhn_mat(io.BytesIO(data), writer, num_examples=9)
        final = writer.commit({"format": "svhn-mat"})
    for name in ("images", "labels", "index"):
        np.testing.assert_array_equal(np.load(final / f"{name}.npy"), expected[name])


def test_the_module_examples_run():
    assert doctest.testmod(svhn_mat, optionflags=doctest.ELLIPSIS).failed == 0
    assert doctest.testmod(mat_check, optionflags=doctest.ELLIPSIS).failed == 0


# --------------------------------------------------------------------------- hostile files

_X2, _Y2 = _x(2), _y([10, 3])
_BIG = 1 << 30


@pytest.mark.parametrize("data, message", [
    (b"MATLAB 5.0"[:4] + bytes(200), r"not a MATLAB v5 file: expected a 128-byte header"),
    (_file(_X2, _Y2)[:100], r"\(100 bytes\)"),
    (_file(_X2, _Y2, version=0x0200), r"a MATLAB v7.3 \(HDF5\) file; SVHN is published as MATLAB v5"),
    (_file(_X2, _Y2, version=0x0300), r"version 0x0300"),
    (_file(_X2, _Y2) + b"\0\0\0", r"3 stray bytes after the last variable"),
    (_file(_X2, _el(9, bytes(8))), r"variable 2: expected a matrix \(type 14\) or compressed \(type 15\) element"),
    (_file(_X2, _Y2)[:-8], r"variable 2: the element declares \d+ bytes, but only \d+ remain: the file is truncated"),
    (_file(_compressed(_X2))[:-100] + b"", r"variable 1: the element declares"),
    (_file(_tag(15, 40) + b"\x78\x9c" + b"\xff" * 38), r"variable 1: the compressed variable is damaged"),
    (_file(_compressed(b"abc")), r"inflates to 3 bytes, not even a matrix element's tag"),
    (_file(_compressed(_el(9, bytes(16)))), r"holds an element of type 9; expected a matrix"),
    # a 1 GiB matrix claimed inside a few compressed bytes: refused before anything is inflated
    (_file(_compressed(_tag(14, _BIG))), r"claims a 1,073,741,824-byte matrix from 12 compressed bytes"),
    (_file(_compressed(_X2 + bytes(8)), _Y2), r"variable 'X': the compressed variable holds more than its matrix"),
    # X's dimensions, class and data
    (_file(_x(2, dims=(32, 32, 1, 6)), _Y2),
     r"'X': a uint8 array of dimensions \[32, 32, 1, 6\]; expected uint8 images"),
    (_file(_x(2, mx_class=4), _Y2), r"a char array of dimensions"),
    (_file(_x(2, flags=1 << 11), _Y2), r"\(complex\)"),
    (_file(_x(1, kind=9), _y([1])), r"the image data is 24,576 bytes of type 9; expected 3,072 bytes of uint8"),
    (_file(_matrix(9, (32, 32, 3, 3), b"X", 2, bytes(3072 * 2)), _Y2),
     r"expected 9,216 bytes of uint8 \(type 2\) for 3"),
    (_file(_matrix(9, (32, 32, 3, _BIG), b"X", 2, bytes(3072)), _Y2), r"for 1,073,741,824 images"),
    (_file(_matrix(9, (32, 32, 3, 0), b"X", 2, b""), _Y2), r"holds no images"),
    (_file(_x(2, extra=_el(1, b"x")), _Y2),
     r"the matrix element is [\d,]+ bytes, but its header and 2 images take [\d,]+\."),
    (_file(_tag(14, 3000) + _x(1)[8:3008]), r"the element declares 3,000 bytes|header and 1 images take"),
    # y's values, shape and size
    (_file(_X2, _y([0, 3])), r"'y': label 0 is .*0.*; SVHN's labels are 1..10 \(10 for the digit 0\), and 1 are not"),
    (_file(_X2, _y([10, 11])), r"label 1 is .*11"),
    (_file(_X2, _y([10, 2.5])), r"label 1 is .*2.5"),
    (_file(_X2, _y([np.nan, 1])), r"label 0 is .*nan"),
    (_file(_X2, _y([1, 2, 3, 4], dims=(2, 2))), r"'y': dimensions \[2, 2\]; expected the labels as N x 1"),
    (_file(_X2, _y([1, 2], flags=1 << 11)), r"'y': a double array \(complex\)"),
    (_file(_X2, _matrix(4, (2, 1), b"y", 4, b"ab\0c")), r"'y': a char array"),
    (_file(_X2, _y([1, 2], dtype="u1", kind=2, extra=_el(1, b"x"))), r"16 bytes left over in the labels' matrix"),
    (_file(_X2, _y([1, 2], dtype="<f4", kind=9)), r"'y': 8 bytes of 8-byte values for 2 labels"),
    (_file(_X2, _tag(14, MAX_LABEL_BYTES + 8) + _y([1, 2])[8:]), r"the element declares"),
    (_file(_X2, _compressed(_y(np.zeros(MAX_LABEL_BYTES // 8 + 1)))),
     r"'y': a 67,108,928-byte matrix for 8,388,609 labels; at most 8 bytes per label \(and 67,108,864 in all\)"),
    # the variables themselves
    (_file(_X2), r"no variable 'y'"),
    (_file(_Y2), r"no variable 'X'"),
    (_file(_X2, _Y2, _matrix(6, (1, 1), b"Z", 9, bytes(8))), r"variable 'Z': an unexpected variable"),
    (_file(_X2, _X2, _Y2), r"variable 'X': a second variable"),
    (_file(_x(3), _Y2), r"'X' holds 3 images but 'y' 2 labels"),
    (_file(_y([1, 2, 3]), _X2), r"'X' holds 2 images but 'y' 3 labels"),
], ids=lambda value: value[:40] if isinstance(value, str) else "")
def test_hostile_files_are_refused_with_a_clear_error(data, message):
    with pytest.raises(FormatError, match=message) as caught:
        read(data)
    assert str(caught.value).startswith("train_32x32.mat: ") and "fetch it again" in str(caught.value)


def test_a_count_other_than_the_splits_is_refused_before_allocating():
    data, _ = svhn_mat_contents(3, seed=0)
    with pytest.raises(FormatError, match=r"'X': holds 3 images; the split has 73,257"):
        read(data, num_examples=73_257)
    data, _ = svhn_mat_contents(3, seed=0, labels_first=True)
    with pytest.raises(FormatError, match=r"'y': holds 3 labels; the split has 4"):
        read(data, num_examples=4)


def test_every_truncation_is_refused():
    data, _ = svhn_mat_contents(3, seed=0)
    for cut in range(0, len(data), 97):
        with pytest.raises(FormatError, match="train_32x32.mat"):
            read(data[:cut])


def test_a_stream_that_cannot_seek_is_refused_by_every_reader():
    class Pipe(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            return 0

    with pytest.raises(FormatError, match="<stream>: read from a stream that cannot seek; the reader needs a file"):
        read_svhn_mat(io.BufferedReader(Pipe()), MemorySink())
    with pytest.raises(FormatError, match="pipe: read from a stream that cannot seek"):
        read_cifar_bin(io.BufferedReader(Pipe()), MemorySink(), layout="cifar10", split="test", where="pipe")
    with pytest.raises(FormatError, match="pipe: read from a stream that cannot seek"):
        read_usps_libsvm(io.BufferedReader(Pipe()), MemorySink(), where="pipe")
    assert doctest.testmod(source).failed == 0


def test_a_declared_billion_images_allocates_nothing():
    # a compressed X whose dimensions and tags agree on a million images: only the ratio can tell
    n = 1_000_000  # 3 GB of pixels
    head = struct.pack("<II", 14, 48 + 8 + 3072 * n)
    matrix = (_el(6, struct.pack("<II", 9, 0)) + _el(5, struct.pack("<4i", 32, 32, 3, n)) + _el(1, b"X")
              + _tag(2, 3072 * n) + bytes(3072))
    data = _file(_compressed(head + matrix), _Y2)
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="more than deflate can produce"):
            read(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MiB


# --------------------------------------------------------------------------- memory and mutants

def test_a_large_split_streams_in_bounded_memory(tmp_path):
    n = 24_576  # 75 MB of pixels, 12 chunks
    path = write_svhn_mat(tmp_path / "extra_32x32.mat", n, seed=5, level=1)
    arrays = n * 3072 + 2 * n * 8
    tracemalloc.start()
    try:
        with EntryWriter(tmp_path / "cache" / "extra@0123456789abcdef") as writer:
            read_svhn_mat(path, writer, num_examples=n)
            to_disk = tracemalloc.get_traced_memory()[1]
            final = writer.commit({})
        tracemalloc.reset_peak()
        sink = MemorySink()
        read_svhn_mat(path, sink, num_examples=n)
        in_memory = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # written to the cache, a few chunks whatever the size; in memory, the arrays and a few chunks
    print(f"peak {to_disk / MiB:.1f} MiB to disk, {in_memory / MiB:.1f} MiB in memory, arrays {arrays / MiB:.1f} MiB")
    assert to_disk < 32 * MiB < arrays / 1.5
    assert in_memory < arrays + 32 * MiB < 1.5 * arrays
    images = np.load(final / "images.npy", mmap_mode="r")
    for start in (0, 4095, 8191, n - 3):
        np.testing.assert_array_equal(images[start:start + 3], images_for(5, start, 3))
    np.testing.assert_array_equal(sink.arrays["images"][-2:], images_for(5, n - 2, 2))


def test_mutants_raise_only_library_errors(tmp_path):
    outcomes = run_mutants(IMAGE_TARGETS["svhn-mat"], 150, seed=11, folder=tmp_path)
    assert outcomes["ok"] >= len(IMAGE_TARGETS["svhn-mat"].seeds()) - 1  # every seed but the hostile one reads
    assert sum(outcomes.values()) == 150 + len(IMAGE_TARGETS["svhn-mat"].seeds())


def test_arbitrary_bytes_after_a_valid_header_raise_only_library_errors():
    rng = random.Random(0)
    head = _file()
    for _ in range(300):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        try:
            read(head + junk)
        except MnistFamilyError:
            pass
