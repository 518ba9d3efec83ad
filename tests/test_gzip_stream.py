"""GzipStream: the zlib-based gzip reader used when ISA-L is not installed."""

from __future__ import annotations

import gzip
import io
import random
import zlib

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.formats import compression
from mnistfamily.formats.compression import GzipStream


def _read_all(blob: bytes, sizes: list[int]) -> bytes:
    stream = io.BufferedReader(GzipStream(io.BytesIO(blob)))
    out, turn = bytearray(), 0
    while True:
        chunk = stream.read(sizes[turn % len(sizes)])
        turn += 1
        if not chunk:
            return bytes(out)
        out += chunk


@pytest.mark.parametrize("seed", range(20))
def test_any_read_sizes_give_the_same_bytes_as_gzip(seed):
    rnd = random.Random(seed)
    parts = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 3000))) * rnd.randint(1, 200)
             for _ in range(rnd.randint(1, 3))]
    blob = b"".join(gzip.compress(p, compresslevel=rnd.randint(1, 9), mtime=0) for p in parts)
    blob += b"\0" * rnd.choice([0, 0, 9])  # zero padding after the last member, as gzip allows
    assert _read_all(blob, [rnd.choice([1, 7, 512, 8192, 1 << 20]) for _ in range(5)]) == gzip.decompress(blob)


def test_a_truncated_stream_is_an_eof_error():
    blob = gzip.compress(bytes(range(256)) * 1000, mtime=0)
    for cut in (0 + 10, len(blob) // 2, len(blob) - 1):
        with pytest.raises(EOFError, match="end-of-stream"):
            _read_all(blob[:cut], [4096])


def test_a_wrong_crc_or_length_is_a_zlib_error():
    blob = bytearray(gzip.compress(bytes(range(256)) * 1000, mtime=0))
    blob[-6] ^= 1  # in the CRC-32
    with pytest.raises(zlib.error, match="incorrect data check"):
        _read_all(bytes(blob), [4096])


def test_without_isal_idx_files_are_read_through_it(tmp_path, monkeypatch):
    monkeypatch.setattr(compression, "_fast_gzip", None)
    array = np.arange(60 * 28 * 28, dtype=np.uint8).reshape(60, 28, 28)
    path = tmp_path / "images-idx3-ubyte.gz"
    mf.write_idx(path, array)
    with open(path, "rb") as f:
        assert isinstance(compression.decompressing_reader(f, "gzip"), io.BufferedReader)
    np.testing.assert_array_equal(mf.read_idx(path), array)


# ---------------------------------------------------------------------------
# XzStream: every stream of an xz file, padding included, as xz(1) reads it
# ---------------------------------------------------------------------------


def _read_xz(blob: bytes, size: int = 4096) -> bytes:
    stream = io.BufferedReader(compression.XzStream(io.BytesIO(blob)))
    return b"".join(iter(lambda: stream.read(size), b""))


@pytest.mark.parametrize("seed", range(10))
def test_xz_streams_and_padding_are_read_as_xz_reads_them(seed):
    import lzma

    rnd = random.Random(seed)
    parts = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 2000))) * rnd.randint(1, 50)
             for _ in range(rnd.randint(1, 4))]
    pads = [b"\0" * (4 * rnd.randint(0, 3)) for _ in parts]
    blob = b"".join(lzma.compress(p) + pad for p, pad in zip(parts, pads))
    assert _read_xz(blob, rnd.choice([1, 100, 4096, 1 << 20])) == b"".join(parts)


def test_python_s_lzmafile_would_stop_at_the_first_padding():
    import lzma

    blob = lzma.compress(b"a" * 100) + b"\0" * 4 + lzma.compress(b"b" * 100)
    assert lzma.LZMAFile(io.BytesIO(blob)).read() == b"a" * 100  # what XzStream is there for
    assert _read_xz(blob) == b"a" * 100 + b"b" * 100


def test_a_truncated_xz_stream_is_an_eof_error_and_garbage_after_it_an_lzma_error():
    import lzma

    blob = lzma.compress(bytes(range(256)) * 100)
    with pytest.raises(EOFError, match="end-of-stream"):
        _read_xz(blob[:-20])
    with pytest.raises(lzma.LZMAError, match="Input format not supported"):
        _read_xz(blob + b"garbage after the stream: not another one")


def test_inflated_size_counts_every_member_without_keeping_them():
    blob = gzip.compress(b"x" * 1000, mtime=0) + gzip.compress(b"y" * 500, mtime=0)
    assert compression.inflated_size(io.BytesIO(blob), "gzip", 10_000) == (1500, True)
    assert compression.inflated_size(io.BytesIO(blob), "gzip", 1001) == (1001, True)  # stops at the limit
    assert compression.inflated_size(io.BytesIO(blob[:-30]), "gzip", 10_000)[1] is False


# ---------------------------------------------------------------------------
# ISA-L (the ``fast`` extra): damaged data raises what zlib's reader raises
# ---------------------------------------------------------------------------


def test_with_isal_damaged_data_is_a_zlib_error_and_several_members_read_whole():
    pytest.importorskip("isal")
    assert compression._fast_gzip is not None
    blob = gzip.compress(bytes(range(256)) * 1000, mtime=0)
    reader = compression.decompressing_reader(io.BytesIO(blob + blob), "gzip")
    assert reader.read() == (bytes(range(256)) * 1000) * 2
    for offset in range(12, 200):  # damage deflate data: whichever error ISA-L finds, it is zlib's
        damaged = bytearray(blob)
        damaged[offset] ^= 0xFF
        try:
            compression.decompressing_reader(io.BytesIO(bytes(damaged)), "gzip").read()
        except compression.DECOMPRESSION_ERRORS as exc:
            assert isinstance(exc, (zlib.error, EOFError, OSError)), type(exc)
