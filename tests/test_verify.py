"""verify_file: published bytes, decompressed content, and keeping the payload in the same pass."""

from __future__ import annotations

import gzip
import hashlib
import lzma

import numpy as np
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
    with pytest.raises(ChecksumError, match=r"does not match the registry entry for data-idx1-ubyte\.gz"):
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


# ----------------------------------------------------------------------------- files without a checksum
# A registry entry that knows no checksum for a file (Kannada-MNIST's training images) can only be
# used with allow_unverified=True; the cache must still never vouch for such a copy.

UNVERIFIED = "train-images-idx3-ubyte.gz"


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A served MNIST miniature under the name ``mylab/digits``, whose registry has no checksum for
    the training images, and folders holding copies of that file: ``right``, ``other`` (as many
    images, other pixels) and ``short`` (10 images). The server holds the short one."""
    from dataclasses import replace
    from types import MappingProxyType

    from mnistfamily.formats.idx import encode_header
    from mnistfamily.registry import Registry
    from mnistfamily.registry.dump import dump_registry
    from mnistfamily.testing import serve_directory, write_miniatures

    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=["mnist"])
        spec = mini.registry.dataset("mnist")
        files = dict(spec.files)
        files[UNVERIFIED] = replace(files[UNVERIFIED], size=None, md5=None, sha256=None, payload_size=None,
                                    payload_sha256=None)
        path = tmp_path / "mylab.yaml"
        path.write_text(dump_registry([replace(spec, name="mylab/digits", files=MappingProxyType(files))]))
        monkeypatch.setenv("MNISTFAMILY_REGISTRY", str(path))  # for the command line
        expected = mini.expect("mnist", "train")
        count = len(expected["images"])
        other = np.random.default_rng(1).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        copies = {"right": mini.files["mnist"][UNVERIFIED].read_bytes(),
                  "other": gzip.compress(encode_header(other.dtype, other.shape) + other.tobytes(), mtime=0),
                  "short": gzip.compress(encode_header(np.dtype("u1"), (10, 28, 28)) + bytes(10 * 784), mtime=0)}
        folders = {}
        for name, data in copies.items():
            folders[name] = tmp_path / name
            folders[name].mkdir()
            (folders[name] / UNVERIFIED).write_bytes(data)
            labels = mini.files["mnist"]["train-labels-idx1-ubyte.gz"]
            (folders[name] / labels.name).write_bytes(labels.read_bytes())
        (folder / "mnist" / UNVERIFIED).write_bytes(copies["short"])
        yield {"registry": Registry.from_files([path]), "folders": folders, "images": expected["images"],
               "other": other}


@pytest.mark.filterwarnings("ignore::mnistfamily.fetch.UnverifiedFileWarning")
def test_a_wrong_unverified_file_is_named_replaced_by_a_new_source_and_found_by_verify(lab, cache):
    import re

    import mnistfamily as mf
    from mnistfamily.errors import FormatError

    registry = lab["registry"]
    cached = cache / "downloads" / "mylab" / UNVERIFIED
    with pytest.raises(FormatError, match=r"the registry says 60 examples, the file header gives 10") as caught:
        mf.load("mylab/digits", "train", registry=registry, data_dir=cache, allow_unverified=True)
    assert re.search(rf"{re.escape(str(cached))} was used without verification .* pass source= a folder holding "
                     "the right file: it replaces the cached copy", str(caught.value))
    # verify checks the copy against what the registry knows: 60 examples of 28 x 28
    problems = mf.verify("mylab/digits", registry=registry, data_dir=cache)
    assert [(p.kind, p.path) for p in problems] == [("download", str(cached))]
    assert "reads 60 rows from it, and its header gives 10" in problems[0]
    assert problems.unverified == [str(cached)]
    # a new source= replaces the cached copy
    ds = mf.load("mylab/digits", "train", registry=registry, data_dir=cache, allow_unverified=True,
                 source=lab["folders"]["right"])
    np.testing.assert_array_equal(ds.images, lab["images"])
    report = mf.verify("mylab/digits", registry=registry, data_dir=cache)
    assert report == [] and report.unverified == [str(cached)]


@pytest.mark.filterwarnings("ignore::mnistfamily.fetch.UnverifiedFileWarning")
def test_arrays_made_from_an_unverified_file_follow_the_source_and_need_the_opt_in(lab, cache):
    import mnistfamily as mf
    from mnistfamily.errors import UnverifiedFileError

    registry, folders = lab["registry"], lab["folders"]
    options = dict(registry=registry, data_dir=cache, allow_unverified=True)
    np.testing.assert_array_equal(mf.load("mylab/digits", "train", source=folders["right"], **options).images,
                                  lab["images"])
    # same number of images, other pixels: the prepared arrays are made again from the new copy
    np.testing.assert_array_equal(mf.load("mylab/digits", "train", source=folders["other"], **options).images,
                                  lab["other"])
    np.testing.assert_array_equal(mf.load("mylab/digits", "train", **options).images, lab["other"])  # warm
    entries = [p for p in (cache / "prepared" / "mylab" / "digits").iterdir() if p.is_dir()]
    assert len(entries) == 1  # replaced, not one entry per copy
    # a warm load answers as a cold one would: without the opt-in, no arrays from an unverified file
    with pytest.raises(UnverifiedFileError, match=r"mylab/digits \[train\]: the prepared arrays in .* were made "
                                                  r"from train-images-idx3-ubyte\.gz, which the registry has no "
                                                  r"checksum for\. Pass allow_unverified=True"):
        mf.load("mylab/digits", "train", registry=registry, data_dir=cache)


@pytest.mark.filterwarnings("ignore::mnistfamily.fetch.UnverifiedFileWarning")
def test_verify_repairs_a_wrong_unverified_file_from_source_and_says_what_it_checked(lab, cache, capsys):
    import mnistfamily as mf
    from mnistfamily.cli import main

    registry = lab["registry"]
    cached = cache / "downloads" / "mylab" / UNVERIFIED
    mf.download("mylab/digits", "train", registry=registry, data_dir=cache, allow_unverified=True)  # the short copy
    assert main(["verify", "mylab/digits", "--data-dir", str(cache)]) == 1
    out = capsys.readouterr().out
    assert f"problem: {cached}: the registry has no checksum for {UNVERIFIED}" in out
    assert "all verified" not in out
    problems = mf.verify("mylab/digits", registry=registry, data_dir=cache, repair=True,
                         source=lab["folders"]["right"])
    assert [p.repair for p in problems] == [f"deleted and fetched again: {cached} (no checksum is known: checked "
                                            "by size and counts only on the next verify)"]
    assert main(["verify", "mylab/digits", "--data-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert f"unverified: {cached} (the registry has no checksum for it" in out
    assert "no problem found (mylab/digits" in out and "all verified" not in out
