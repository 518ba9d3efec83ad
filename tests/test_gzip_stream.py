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
