"""IDX reader and writer: every type, any rank, raw/gz/xz by magic, and hostile input."""

from __future__ import annotations

import gzip
import io
import lzma

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mnistfamily as mf
from mnistfamily.errors import FormatError
from mnistfamily.formats.idx import encode_header, open_idx

class _Pipe(io.RawIOBase):
    """A non-seekable stream, as from a socket or a pipe."""

    def __init__(self, data):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        return self._data.readinto(b)


DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz", ".xz"])
def test_round_trip_every_type_and_container(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / f"a-idx3{suffix}"
    mf.write_idx(path, array)
    back = mf.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("dtype", DTYPES)
def test_on_disk_layout_is_big_endian_with_the_right_type_byte(tmp_path, dtype):
    array = np.array([1, 2, 3], dtype=dtype)
    path = tmp_path / "x"
    mf.write_idx(path, array)
    data = path.read_bytes()
    assert data[:4] == bytes([0, 0, CODES[dtype], 1])
    assert data[4:8] == (3).to_bytes(4, "big")
    assert data[8:] == array.astype(np.dtype(dtype).newbyteorder(">")).tobytes()


def test_compression_is_chosen_by_magic_not_by_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    gz = tmp_path / "looks-raw-idx1-ubyte"   # gzip content, no suffix
    gz.write_bytes(gzip.compress(encode_header(array.dtype, array.shape) + array.tobytes()))
    xz = tmp_path / "looks-gzip.gz"          # xz content, .gz suffix
    xz.write_bytes(lzma.compress(encode_header(array.dtype, array.shape) + array.tobytes()))
    np.testing.assert_array_equal(mf.read_idx(gz), array)
    np.testing.assert_array_equal(mf.read_idx(xz), array)


def test_file_objects_and_non_seekable_streams(tmp_path):
    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    path = tmp_path / "a.gz"
    mf.write_idx(path, array)
    with open(path, "rb") as f:
        np.testing.assert_array_equal(mf.read_idx(f), array)

    np.testing.assert_array_equal(mf.read_idx(_Pipe(path.read_bytes())), array)


def test_rows_reads_only_a_range(tmp_path):
    array = np.arange(50, dtype=np.uint8).reshape(10, 5)
    path = tmp_path / "a.xz"
    mf.write_idx(path, array)
    np.testing.assert_array_equal(mf.read_idx(path, rows=(3, 7)), array[3:7])
    with pytest.raises(FormatError, match="outside the 10 rows"):
        mf.read_idx(path, rows=(5, 11))


def test_gzip_output_is_reproducible(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    mf.write_idx(tmp_path / "a.gz", array)
    first = (tmp_path / "a.gz").read_bytes()
    mf.write_idx(tmp_path / "a.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == first


def _raw(array):
    return encode_header(array.dtype, array.shape) + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("wrap", [lambda b: b, gzip.compress, lzma.compress], ids=["raw", "gz", "xz"])
def test_truncated_payload_names_the_file_and_both_sizes(tmp_path, wrap):
    data = _raw(np.zeros((4, 28, 28), np.uint8))
    path = tmp_path / "cut-idx3-ubyte"
    path.write_bytes(wrap(data[:-100]))
    with pytest.raises(FormatError, match=r"cut-idx3-ubyte.*3,152 bytes.*3,052 bytes.*truncated"):
        mf.read_idx(path)


@pytest.mark.parametrize("wrap", [lambda b: b, gzip.compress, lzma.compress], ids=["raw", "gz", "xz"])
def test_oversized_payload_is_an_error(tmp_path, wrap):
    path = tmp_path / "long"
    path.write_bytes(wrap(_raw(np.zeros(10, np.uint8)) + b"extra"))
    with pytest.raises(FormatError, match="oversized"):
        mf.read_idx(path)


def test_huge_declared_dimensions_fail_before_allocating(tmp_path):
    # 2**32-1 x 2**32-1 x 255 bytes promised by a 20-byte file
    path = tmp_path / "bomb-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 2 + (255).to_bytes(4, "big") + b"1234")
    with pytest.raises(FormatError, match="truncated"):
        mf.read_idx(path)


def test_gzip_bomb_with_lying_header_stops_at_the_header_size(tmp_path):
    # header promises 10 bytes; the gzip stream inflates to 50 MB of zeros
    payload = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(50_000_000)
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(payload, compresslevel=1))
    with pytest.raises(FormatError, match="oversized or garbage"):
        mf.read_idx(path)


def test_gzip_without_trailer_hint_still_stops_after_the_promised_bytes(tmp_path):
    payload = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(5_000_000)
    data = gzip.compress(payload, compresslevel=1)
    with pytest.raises(FormatError, match="oversized"):
        mf.read_idx(io.BufferedReader(io.BytesIO(data)))  # read through, no seeking to the trailer


@pytest.mark.parametrize("data, message", [
    (b"", "truncated"),
    (b"<html><body>403 Forbidden</body></html>", "not an IDX file"),
    (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "unknown IDX type byte 0x07"),
    (bytes([0, 0, 8, 0]), "0 dimensions"),
    (b"\x1f\x8bgarbage-that-is-not-deflate", "cannot decompress|truncated|not an IDX"),
    (b"PK\x03\x04rest", "zip archive"),
])
def test_garbage_input_gets_a_clear_error(tmp_path, data, message):
    path = tmp_path / "garbage.bin"
    path.write_bytes(data)
    with pytest.raises(FormatError, match=message) as caught:
        mf.read_idx(path)
    assert "garbage.bin" in str(caught.value)


def test_unsupported_dtypes_are_refused_with_advice(tmp_path):
    with pytest.raises(FormatError, match=r"int64.*astype"):
        mf.write_idx(tmp_path / "x", np.zeros(3, np.int64))
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_open_idx_reports_header(tmp_path):
    mf.write_idx(tmp_path / "x.gz", np.zeros((7, 28, 28), np.uint8))
    with open_idx(tmp_path / "x.gz") as (header, _, checked):
        assert checked
        assert header.shape == (7, 28, 28) and header.payload_bytes == 7 * 784 and header.row_bytes == 784


@settings(max_examples=60, deadline=None)
@given(
    array=hnp.arrays(
        dtype=st.sampled_from([np.dtype(d) for d in DTYPES]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    suffix=st.sampled_from(["", ".gz", ".xz"]),
)
def test_property_round_trip(tmp_path_factory, array, suffix):
    path = tmp_path_factory.mktemp("rt") / f"a{suffix}"
    mf.write_idx(path, array)
    back = mf.read_idx(path)
    assert back.shape == array.shape
    np.testing.assert_array_equal(back.view(np.uint8), array.astype(array.dtype.newbyteorder("=")).view(np.uint8))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_property_arbitrary_bytes_only_raise_format_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fz") / "f"
    path.write_bytes(data)
    try:
        out = mf.read_idx(path)
    except FormatError:
        return
    # what reads is what the header declares, and never more than the bytes can hold (xz's bound)
    assert isinstance(out, np.ndarray) and out.ndim >= 1 and out.nbytes <= 16384 * len(data)


@pytest.mark.parametrize("offset", range(10, 60, 7))
def test_corrupt_deflate_streams_are_format_errors(tmp_path, offset):
    path = tmp_path / "c.gz"
    mf.write_idx(path, np.arange(3000, dtype=np.int32))
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    try:
        out = mf.read_idx(path)
    except FormatError:
        return
    # a flipped bit may also land where it changes nothing detectable: then it reads, as declared
    assert out.shape == (3000,) and out.dtype == np.int32


def test_gzip_header_promising_more_than_deflate_can_hold(tmp_path):
    # dims (2, 2**31 + 5): 2**32 + 10 data bytes promised, 10 present. The gzip trailer (ISIZE,
    # modulo 2**32) agrees, but no 40-byte gzip file inflates to 4 GiB.
    body = bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (2**31 + 5).to_bytes(4, "big") + bytes(10)
    path = tmp_path / "wrap.gz"
    path.write_bytes(gzip.compress(body))
    with pytest.raises(FormatError, match="more than a .*-byte gzip file can hold"):
        mf.read_idx(path)


def test_non_seekable_streams_allocate_only_what_arrives():
    import tracemalloc

    lying = bytes([0, 0, 8, 2]) + (50000).to_bytes(4, "big") + (50000).to_bytes(4, "big") + bytes(100)
    tracemalloc.start()
    with pytest.raises(FormatError, match="truncated"):
        mf.read_idx(_Pipe(lying))  # promises 2.5 GB, holds 100 bytes
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50_000_000


# ---------------------------------------------------------------------------
# Valid files of several gzip members or xz streams are read whole
# ---------------------------------------------------------------------------


def _split(data: bytes, parts: int) -> list[bytes]:
    step = -(-len(data) // parts)
    return [data[i: i + step] for i in range(0, len(data), step)]


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_a_gzip_file_of_several_members_is_read_whole(tmp_path, parts):
    array = np.arange(50 * 28 * 28, dtype=np.uint8).reshape(50, 28, 28)
    path = tmp_path / "images-idx3-ubyte.gz"  # as `cat a.gz b.gz > c.gz` or pigz/bgzip write them
    path.write_bytes(b"".join(gzip.compress(p, mtime=0) for p in _split(_raw(array), parts)))
    np.testing.assert_array_equal(mf.read_idx(path), array)
    np.testing.assert_array_equal(mf.read_idx(path, rows=(10, 20)), array[10:20])
    with open(path, "rb") as f:
        np.testing.assert_array_equal(mf.read_idx(f), array)


@pytest.mark.parametrize("padding", [b"", b"\0" * 4, b"\0" * 12])
def test_an_xz_file_of_several_streams_is_read_whole(tmp_path, padding):
    array = np.arange(40 * 28 * 28, dtype=np.int32).reshape(40, 28, 28)
    path = tmp_path / "images-idx3-int.xz"  # `xz` reads these as one file; padding between and after
    path.write_bytes(padding.join(lzma.compress(p) for p in _split(_raw(array), 3)) + padding)
    np.testing.assert_array_equal(mf.read_idx(path), array)


@pytest.mark.parametrize("wrap", [gzip.compress, lzma.compress], ids=["gz", "xz"])
def test_several_members_that_are_short_or_long_are_still_refused(tmp_path, wrap):
    data = _raw(np.zeros((4, 28, 28), np.uint8))
    path = tmp_path / "cut-idx3-ubyte"
    path.write_bytes(wrap(data[:1000]) + wrap(data[1000:-100]))
    with pytest.raises(FormatError, match=r"cut-idx3-ubyte.*3,152 bytes.*3,052 bytes.*truncated"):
        mf.read_idx(path)
    path.write_bytes(wrap(data[:1000]) + wrap(data[1000:] + b"extra"))
    with pytest.raises(FormatError, match="oversized"):
        mf.read_idx(path)


def test_a_gzip_member_cut_short_is_truncated_not_a_wrong_size(tmp_path):
    data = gzip.compress(_raw(np.arange(3000, dtype=np.int32)), mtime=0)
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])  # its last four bytes are not a size at all
    with pytest.raises(FormatError, match=r"cut\.gz: .*truncated") as caught:
        mf.read_idx(path)  # said when the trailer is checked (zlib), or on the first read (ISA-L reads ahead)
    assert "end marker" in str(caught.value)


# ---------------------------------------------------------------------------
# Streams that cannot be measured, and paths that are not regular files
# ---------------------------------------------------------------------------


class _Endless(io.RawIOBase):
    """A non-seekable stream: a header, then zeros forever (it gives up after ``budget`` bytes)."""

    def __init__(self, header: bytes, budget: int = 64 << 20):
        self._header, self.read_so_far, self._budget = header, 0, budget

    def readable(self):
        return True

    def readinto(self, b):
        if self.read_so_far >= self._budget:  # a reader without a bound would go on: fail loudly instead
            raise AssertionError(f"read {self.read_so_far:,} bytes of an endless stream")
        view = memoryview(b).cast("B")
        head = self._header[self.read_so_far:][: len(view)]
        view[: len(head)] = head
        view[len(head):] = bytes(len(view) - len(head))
        self.read_so_far += len(view)
        return len(view)


def test_an_endless_stream_promising_more_than_the_cap_is_refused_before_reading(monkeypatch):
    import tracemalloc

    stream = _Endless(encode_header(np.dtype(np.uint8), (2**31, 2**31)))  # promises 4 EiB
    tracemalloc.start()
    with pytest.raises(FormatError, match=r"promises 4,611,686,018,427,387,904 data bytes .* a stream whose length "
                                          r"cannot be measured; at most 4,294,967,296 bytes .*MNISTFAMILY_MAX_UNKNOWN"):
        mf.read_idx(stream)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20 and stream.read_so_far <= 1 << 16


def test_an_endless_stream_is_read_only_as_far_as_the_header_promises(monkeypatch):
    monkeypatch.setenv("MNISTFAMILY_MAX_UNKNOWN_SIZE", str(1 << 20))
    stream = _Endless(encode_header(np.dtype(np.uint8), (1000, 28, 28)))
    with pytest.raises(FormatError, match="oversized"):
        mf.read_idx(stream)
    assert stream.read_so_far <= 784_000 + 16 + (8 << 20)  # the promise, and at most one buffer more
    stream = _Endless(encode_header(np.dtype(np.uint8), (2000, 28, 28)))  # 1.5 MiB: past the cap
    with pytest.raises(FormatError, match="cannot be measured"):
        mf.read_idx(stream)


def test_a_fifo_path_is_refused_at_once_instead_of_waiting_for_a_writer(tmp_path):
    import os
    import threading

    fifo = tmp_path / "images-idx3-ubyte"
    os.mkfifo(fifo)
    # if the reader ever blocks on the FIFO, a writer comes after 10 s and the test fails by its message
    release = threading.Timer(10, lambda: open(fifo, "wb").close())
    release.daemon = True
    release.start()
    try:
        with pytest.raises(FormatError, match=r"images-idx3-ubyte: is a FIFO \(named pipe\), not a regular file.*"
                                              r"pass the file object"):
            mf.read_idx(fifo)
    finally:
        release.cancel()
    with pytest.raises(FormatError, match="is a folder, not a regular file"):
        mf.read_idx(tmp_path)
    with pytest.raises(FormatError, match="is a device"):
        mf.read_idx("/dev/zero")
