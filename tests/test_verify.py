"""verify_file: published bytes, decompressed content, and keeping the payload in the same pass."""

from __future__ import annotations

import gzip
import hashlib
import lzma

import pytest

from mnistfamily.errors import ChecksumError
from mnistfamily.fetch.verify import verify_file
from mnistfamily.registry import FileSpec

PAYLOAD = bytes(range(256)) * 400
PUBLISHED = gzip.compress(PAYLOAD, mtime=0)


def _spec() -> FileSpec:
    return FileSpec(name="data-idx1-ubyte.gz", size=len(PUBLISHED), md5=None,
                    sha256=hashlib.sha256(PUBLISHED).hexdigest(), payload_size=len(PAYLOAD),
                    payload_sha256=hashlib.sha256(PAYLOAD).hexdigest())


@pytest.mark.parametrize("recompress", [lambda b: gzip.compress(b, compresslevel=1, mtime=0), lzma.compress],
                         ids=["gzip-level-1", "xz"])
def test_a_recompressed_copy_verifies_by_content_and_its_payload_is_kept(tmp_path, recompress):
    copy = tmp_path / "copy.gz"
    copy.write_bytes(recompress(PAYLOAD))
    kept = tmp_path / "payload.part"
    result = verify_file(copy, _spec(), keep_payload=kept)
    assert result.method == "payload"
    assert result.payload_path == kept
    assert kept.read_bytes() == PAYLOAD  # decompressed once, kept for the caller
    assert result.sha256 == hashlib.sha256(PAYLOAD).hexdigest()  # the content it matched by


def test_the_published_file_keeps_nothing(tmp_path):
    copy = tmp_path / "copy.gz"
    copy.write_bytes(PUBLISHED)
    kept = tmp_path / "payload.part"
    result = verify_file(copy, _spec(), keep_payload=kept)
    assert (result.method, result.payload_path) == ("published", None)
    assert not kept.exists()


def test_an_uncompressed_copy_is_its_own_payload(tmp_path):
    copy = tmp_path / "copy"
    copy.write_bytes(PAYLOAD)
    kept = tmp_path / "payload.part"
    result = verify_file(copy, _spec(), keep_payload=kept)
    assert (result.method, result.payload_path) == ("payload", None)
    assert not kept.exists()


@pytest.mark.parametrize("content", [gzip.compress(PAYLOAD[:-1] + b"x", mtime=0), b"\x1f\x8b\x08garbage" * 50],
                         ids=["wrong-content", "corrupt-gzip"])
def test_a_copy_that_does_not_match_leaves_no_payload_behind(tmp_path, content):
    copy = tmp_path / "copy.gz"
    copy.write_bytes(content)
    kept = tmp_path / "payload.part"
    with pytest.raises(ChecksumError, match="decompressed content"):
        verify_file(copy, _spec(), keep_payload=kept)
    assert not kept.exists()


def test_a_bomb_stops_at_the_payload_size_and_keeps_nothing(tmp_path):
    copy = tmp_path / "copy.gz"
    copy.write_bytes(gzip.compress(b"\0" * (50 * len(PAYLOAD)), mtime=0))
    kept = tmp_path / "payload.part"
    with pytest.raises(ChecksumError):
        verify_file(copy, _spec(), keep_payload=kept)
    assert not kept.exists()


def test_a_full_disk_while_keeping_the_payload_is_a_cache_error_not_a_mismatch(tmp_path, monkeypatch):
    import errno
    import threading

    from mnistfamily.errors import CacheError
    from mnistfamily.fetch import verify

    copy = tmp_path / "copy.gz"
    copy.write_bytes(gzip.compress(PAYLOAD, compresslevel=1, mtime=0))
    kept = tmp_path / "payload.part"

    class FullDisk:
        def __init__(self, *_args):
            pass

        def write(self, _chunk):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            pass

    real_open = open
    monkeypatch.setattr(verify, "open", lambda file, mode="r", *a: FullDisk() if "w" in mode else real_open(file, mode, *a),
                        raising=False)
    threads = threading.active_count()
    with pytest.raises(CacheError, match="No space left on device"):
        verify_file(copy, _spec(), keep_payload=kept)
    assert threading.active_count() == threads  # the hashing thread has ended


def test_the_payload_hash_is_the_same_whatever_the_chunking(tmp_path, monkeypatch):
    from mnistfamily.fetch import verify

    copy = tmp_path / "copy.gz"
    copy.write_bytes(gzip.compress(PAYLOAD, compresslevel=1, mtime=0))
    expected = hashlib.sha256(PAYLOAD).hexdigest()
    for chunk in (7, 1000, 1 << 20):
        monkeypatch.setattr(verify, "_CHUNK", chunk)
        assert verify.hash_payload(copy, None) == (expected, len(PAYLOAD))
