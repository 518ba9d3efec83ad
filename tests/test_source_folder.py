"""``source=`` a local folder: what is wrong with it is said at once, and EMNIST's extracted members are found."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from dataclasses import replace

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import DownloadError
from mnistfamily.registry import Registry
from mnistfamily.testing import serve_directory, write_miniatures

EMNIST = "emnist/balanced"


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url, names=["mnist", EMNIST])


def _load(mini, cache, name="mnist", split="test", **kw):
    return mf.load(name, split, registry=mini.registry, data_dir=cache, **kw)


def _every_name_listed(message: str, names) -> bool:
    return all(name in message for name in names)


# --------------------------------------------------------------------------- what is wrong with the folder

def test_a_folder_that_does_not_exist_is_named_with_every_file_needed(served, cache, tmp_path, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", server.url)
    with pytest.raises(DownloadError, match=r"mnist \[test\]: source= .*nowhere does not exist\. The files needed:") as info:
        _load(mini, cache, source=tmp_path / "nowhere")
    message = str(info.value)
    # both files, each with the names it is accepted under
    assert _every_name_listed(message, ["t10k-images-idx3-ubyte.gz (or t10k-images-idx3-ubyte or t10k-images.idx3-ubyte",
                                        "t10k-labels-idx1-ubyte.gz (or t10k-labels-idx1-ubyte or t10k-labels.idx1-ubyte"])
    assert "network" not in message and "nothing was downloaded" in message
    assert server.requests == []
    assert not (cache / "downloads").exists()


def test_a_file_given_as_source_says_so_and_names_its_folder(served, cache, tmp_path):
    _, mini = served
    folder = tmp_path / "files"
    folder.mkdir()
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    shutil.copy(mini.files["mnist"]["t10k-labels-idx1-ubyte.gz"], labels)
    with pytest.raises(DownloadError, match=rf"is a file, not a folder\. It is one of the files needed: pass the "
                                            rf"folder that holds it, source={folder}\."):
        _load(mini, cache, source=labels)


def test_every_missing_file_is_listed_not_only_the_first(served, cache, tmp_path):
    _, mini = served
    folder = tmp_path / "half"
    folder.mkdir()
    shutil.copy(mini.files["mnist"]["t10k-images-idx3-ubyte.gz"], folder)  # images only
    with pytest.raises(DownloadError, match=r"mnist \[test\]: 1 of the 2 files needed cannot be taken from source="):
        _load(mini, cache, source=folder)
    with pytest.raises(DownloadError, match="3 of the 4 files needed cannot be taken from source=") as info:
        mf.download("mnist", registry=mini.registry, data_dir=cache, source=folder)
    message = str(info.value)
    assert "3 of the 4 files needed" in message
    assert _every_name_listed(message, ["train-images-idx3-ubyte.gz (or", "train-labels-idx1-ubyte.gz (or",
                                        "t10k-labels-idx1-ubyte.gz (or"])
    assert "t10k-images-idx3-ubyte.gz (or" not in message


def test_files_already_in_the_cache_are_not_asked_of_the_source(served, cache, tmp_path):
    _, mini = served
    _load(mini, cache)  # from the loopback server: now cached
    shutil.rmtree(cache / "prepared")
    empty = tmp_path / "empty"
    empty.mkdir()
    ds = _load(mini, cache, source=empty)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])


def test_a_damaged_local_copy_gets_advice_about_local_files(served, cache, tmp_path):
    _, mini = served
    folder = tmp_path / "damaged"
    folder.mkdir()
    for name, path in mini.files["mnist"].items():
        shutil.copy(path, folder / name)
    data = (folder / "t10k-images-idx3-ubyte.gz").read_bytes()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(DownloadError, match=r"(?s)expected size .*found size.*The copies in source= are not the "
                                            r"published files \(damaged, truncated, or another version\)") as info:
        _load(mini, cache, source=folder)
    assert "network" not in str(info.value) and "MNISTFAMILY_MIRROR" not in str(info.value)


# --------------------------------------------------------------------------- EMNIST's members, extracted

def _members(mini, split="test"):
    with zipfile.ZipFile(mini.files[EMNIST]["gzip.zip"]) as zf:
        return {m.split("/")[-1]: zf.read(m) for m in zf.namelist() if f"balanced-{split}-" in m}


def test_members_in_the_archives_own_gzip_folder(served, cache, tmp_path):
    server, mini = served
    unpacked = tmp_path / "unzipped"
    (unpacked / "gzip").mkdir(parents=True)
    for name, data in _members(mini).items():
        (unpacked / "gzip" / name).write_bytes(data)
    ds = _load(mini, cache, EMNIST, source=unpacked)
    np.testing.assert_array_equal(ds.images, mini.expect(EMNIST, "test")["images"])
    assert server.requests == []


def _torchvision_raw(mini, root, with_archive=False):
    raw = root / "EMNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in _members(mini).items():
        (raw / name[: -len(".gz")]).write_bytes(gzip.decompress(data))  # as torchvision leaves them
    if with_archive:
        shutil.copy(mini.files[EMNIST]["gzip.zip"], raw / "gzip.zip")
    return raw


def _with_payload_hashes(mini):
    """The miniature registry, with the sha256 of each member's decompressed content recorded."""
    import hashlib

    spec = mini.registry.dataset(EMNIST)
    files = dict(spec.files)
    for name, data in {**_members(mini, "train"), **_members(mini, "test")}.items():
        payload = gzip.decompress(data)
        files[name] = replace(files[name], payload_size=len(payload), payload_sha256=hashlib.sha256(payload).hexdigest())
    return Registry({EMNIST: replace(spec, files=files)})


def test_decompressed_members_as_torchvision_keeps_them_verify_by_content(served, cache, tmp_path):
    server, mini = served
    _torchvision_raw(mini, tmp_path / "torchvision")
    registry = _with_payload_hashes(mini)
    ds = mf.load(EMNIST, "test", registry=registry, data_dir=cache, source=tmp_path / "torchvision")
    np.testing.assert_array_equal(ds.images, mini.expect(EMNIST, "test")["images"])
    manifest = json.loads(next((cache / "prepared").rglob("manifest.json")).read_text())
    assert {s["verified"] for s in manifest["sources"]} == {"payload"}
    assert server.requests == []


def test_a_decompressed_member_with_other_content_is_rejected(served, cache, tmp_path):
    _, mini = served
    raw = _torchvision_raw(mini, tmp_path / "torchvision")
    images = raw / "emnist-balanced-test-images-idx3-ubyte"
    data = bytearray(images.read_bytes())
    data[-1] ^= 0xFF
    images.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match=r"(?s)emnist-balanced-test-images-idx3-ubyte: does not match .*"
                                            r"decompressed sha256.*Nor is the archive there: .*gzip.zip was not found"):
        mf.load(EMNIST, "test", registry=_with_payload_hashes(mini), data_dir=cache, source=tmp_path / "torchvision")


def test_decompressed_members_without_a_published_content_hash_are_a_clear_error(served, cache, tmp_path):
    # the built-in registry knows no member's decompressed sha256 (no source publishes one):
    # a decompressed member cannot be verified, and the error says what to pass instead
    server, mini = served
    _torchvision_raw(mini, tmp_path / "torchvision")
    assert mini.registry.dataset(EMNIST).file("emnist-balanced-test-images-idx3-ubyte.gz").payload_sha256 is None
    with pytest.raises(DownloadError, match=r"emnist-balanced-test-images-idx3-ubyte.gz: found .*EMNIST/raw/"
                                            r"emnist-balanced-test-images-idx3-ubyte decompressed, but no checksum of "
                                            r"its decompressed content is published, so it cannot be verified; provide "
                                            r"emnist-balanced-test-images-idx3-ubyte.gz or the archive gzip.zip holding it"):
        _load(mini, cache, EMNIST, source=tmp_path / "torchvision")
    assert server.requests == []


def test_torchvision_raw_folder_with_its_archive_loads(served, cache, tmp_path):
    server, mini = served
    _torchvision_raw(mini, tmp_path / "torchvision", with_archive=True)
    ds = _load(mini, cache, EMNIST, source=tmp_path / "torchvision")
    np.testing.assert_array_equal(ds.labels, mini.expect(EMNIST, "test")["labels"])
    assert server.requests == []


def test_torchvision_raw_folder_of_mnist(served, cache, tmp_path):
    server, mini = served
    raw = tmp_path / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, path in mini.files["mnist"].items():
        (raw / name[: -len(".gz")]).write_bytes(gzip.decompress(path.read_bytes()))
    for source in (tmp_path / "torchvision", tmp_path / "torchvision" / "MNIST", raw):
        shutil.rmtree(cache, ignore_errors=True)
        ds = _load(mini, cache, source=source)
        np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.requests == []
