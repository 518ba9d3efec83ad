"""EMNIST: members read out of gzip.zip (by range requests when possible), upright images, 0-based letters."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import DownloadError, RegistryError
from mnistfamily.registry import get_registry
from mnistfamily.registry.loader import load_registry_text
from mnistfamily.testing import serve_directory, write_miniatures

SPLITS = ["emnist/balanced", "emnist/letters", "emnist/mnist"]


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url, names=SPLITS)


def _archive_requests(server):
    return [r for r in server.requests if r.path == "emnist/gzip.zip"]


def test_members_with_checksums_are_read_by_range_requests(served, cache):
    server, mini = served
    ds = mf.load("emnist/balanced", "test", registry=mini.registry, data_dir=cache)
    np.testing.assert_array_equal(ds.images, mini.expect("emnist/balanced", "test")["images"])
    requests = _archive_requests(server)
    assert requests and all(r.range_header for r in requests)  # never the whole archive
    assert not (cache / "downloads" / "emnist" / "gzip.zip").exists()
    assert (cache / "downloads" / "emnist" / "emnist-balanced-test-images-idx3-ubyte.gz").is_file()


def test_every_split_is_read_member_by_member_without_the_archive(served, cache):
    # emnist/mnist's train images used to have no checksum of their own, which meant the
    # whole 536 MB archive; every member now has its size and sha256
    server, mini = served
    for name in SPLITS:
        for split in ("train", "test"):
            ds = mf.load(name, split, registry=mini.registry, data_dir=cache)
            np.testing.assert_array_equal(ds.images, mini.expect(name, split)["images"])
    assert all(r.range_header for r in _archive_requests(server))
    assert not (cache / "downloads" / "emnist" / "gzip.zip").exists()


def test_without_range_support_the_archive_is_downloaded_once(served, cache):
    server, mini = served
    server.allow_ranges = False
    mf.load("emnist/balanced", "test", registry=mini.registry, data_dir=cache)
    mf.load("emnist/letters", registry=mini.registry, data_dir=cache)
    whole = [r for r in _archive_requests(server) if r.range_header is None]
    probes = [r for r in _archive_requests(server) if r.range_header is not None]
    assert len(whole) == 1  # one full download, shared by every later member
    assert len(probes) == 1  # one ranged read was tried, answered with the whole body, abandoned
    assert (cache / "downloads" / "emnist" / "gzip.zip").is_file()


def test_a_member_without_its_own_checksum_comes_from_the_verified_archive(served, cache):
    # every member of the built-in registry has its own sha256 now; a user registry may still
    # list a member known only through its archive
    from dataclasses import replace

    from mnistfamily.registry import Registry

    server, mini = served
    spec = mini.registry.dataset("emnist/mnist")
    name = "emnist-mnist-train-images-idx3-ubyte.gz"
    bare = replace(spec.file(name), size=None, md5=None, sha256=None, payload_size=None, payload_sha256=None)
    spec = replace(spec, files={**spec.files, name: bare})
    assert not spec.file(name).verifiable
    ds = mf.load("emnist/mnist", "train", registry=Registry({"emnist/mnist": spec}), data_dir=cache)
    np.testing.assert_array_equal(ds.images, mini.expect("emnist/mnist", "train")["images"])
    assert (cache / "downloads" / "emnist" / "gzip.zip").is_file()
    manifest_sources = {s["name"]: s["verified"] for s in
                        __import__("json").loads(next((cache / "prepared").rglob("manifest.json")).read_text())["sources"]}
    assert manifest_sources["emnist-mnist-train-images-idx3-ubyte.gz"] == "archive"


def test_images_are_upright_by_default_and_raw_on_request(served, cache):
    _, mini = served
    upright = mf.load("emnist/letters", "test", registry=mini.registry, data_dir=cache)
    raw = mf.load("emnist/letters", "test", registry=mini.registry, data_dir=cache, orientation="raw")
    np.testing.assert_array_equal(raw.images, upright.images.transpose(0, 2, 1))
    assert not np.array_equal(raw.images, upright.images)
    with pytest.raises(ValueError, match="orientation must be one of upright, raw"):
        mf.load("emnist/letters", "test", registry=mini.registry, data_dir=cache, orientation="sideways")


def test_letters_are_zero_based_with_classes_a_to_z(served, cache):
    _, mini = served
    ds = mf.load("emnist/letters", "train", registry=mini.registry, data_dir=cache)
    assert ds.classes == [chr(c) for c in range(ord("a"), ord("z") + 1)]
    assert ds.labels.min() >= 0 and ds.labels.max() <= 25
    published = mf.read_idx(io.BytesIO(zipfile.ZipFile(mini.files["emnist/letters"]["gzip.zip"])
                                       .read("gzip/emnist-letters-train-labels-idx1-ubyte.gz")))
    np.testing.assert_array_equal(ds.labels, published.astype(np.int64) - 1)
    assert published.min() >= 1


def test_source_folder_holding_the_archive(served, cache, tmp_path):
    server, mini = served
    ds = mf.load("emnist/balanced", "train", registry=mini.registry, data_dir=cache,
                 source=tmp_path / "served" / "emnist")
    assert len(ds) == mini.registry.dataset("emnist/balanced").splits["train"].num_examples
    assert server.requests == []


def test_an_archive_without_the_member_is_a_clear_error(served, cache, tmp_path):
    server, mini = served
    path = mini.files["emnist/balanced"]["gzip.zip"]
    with zipfile.ZipFile(path) as zf:
        kept = {n: zf.read(n) for n in zf.namelist() if "balanced-test-images" not in n}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in kept.items():
            zf.writestr(name, data)
    with pytest.raises(DownloadError, match="no member 'gzip/emnist-balanced-test-images-idx3-ubyte.gz'"):
        mf.load("emnist/balanced", "test", registry=mini.registry, data_dir=cache)


def test_orientation_matches_mnist(tmp_path, cache):
    """Published-transposed digits come back in MNIST's orientation.

    No real EMNIST image file is available here, so real MNIST digits are stored the way
    EMNIST publishes them (transposed) in a miniature archive; loaded upright, their mean
    image must match MNIST's mean image far better than the raw layout does.
    """
    from dataclasses import replace

    from mnistfamily.formats.idx import write_idx
    from mnistfamily.testing.miniatures import _described

    sample = mf.load("mnist/sample", "test")
    spec = get_registry().dataset("emnist/mnist")
    folder = tmp_path / "served" / "emnist"
    folder.mkdir(parents=True)
    members = {}
    for name, array in [("emnist-mnist-test-images-idx3-ubyte.gz", np.ascontiguousarray(sample.images.transpose(0, 2, 1))),
                        ("emnist-mnist-test-labels-idx1-ubyte.gz", sample.labels.astype(np.uint8))]:
        write_idx(tmp_path / name, array)
        members[name] = (tmp_path / name).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(f"gzip/{name}", data)
    (folder / "gzip.zip").write_bytes(buffer.getvalue())
    files = {n: _described(spec.file(n), members[n], None) if n in members else
             _described(spec.file(n), buffer.getvalue(), None) for n in [*members, "gzip.zip"]}
    test = replace(spec.splits["test"], num_examples=len(sample))
    mini = replace(spec, files=files, splits={"test": test})
    from mnistfamily.registry import Registry

    registry = Registry({"emnist/mnist": mini})
    upright = mf.load("emnist/mnist", "test", registry=registry, data_dir=cache, source=folder)
    raw = mf.load("emnist/mnist", "test", registry=registry, data_dir=cache, source=folder, orientation="raw")
    reference = sample.images.astype(float).mean(0).ravel()
    corr_upright = np.corrcoef(upright.images.astype(float).mean(0).ravel(), reference)[0, 1]
    corr_raw = np.corrcoef(raw.images.astype(float).mean(0).ravel(), reference)[0, 1]
    assert corr_upright > 0.999 and corr_raw < 0.9


@pytest.mark.parametrize("member", ["../escape.gz", "/etc/passwd", "gzip/../../x"])
def test_member_names_that_look_like_paths_out_are_refused(member):
    text = f"""
version: 1
datasets:
  bad:
    title: Bad
    homepage: https://example.invalid/
    license: MIT
    citation: x
    format: idx
    image_shape: [28, 28]
    classes: [a]
    base_url: http://127.0.0.1:1/
    files:
      a.zip: {{size: 1, md5: unknown, sha256: {'0' * 64}}}
      x.gz: {{archive: a.zip, member: "{member}", size: unknown, md5: unknown, sha256: unknown}}
    splits:
      train: {{num_examples: 1, images: x.gz, labels: x.gz}}
"""
    with pytest.raises(RegistryError, match="a relative path inside the archive"):
        load_registry_text(text, "bad.yaml")


def test_registry_counts_match_the_published_headers():
    expected = {"byclass": (697932, 116323), "bymerge": (697932, 116323), "balanced": (112800, 18800),
                "letters": (124800, 20800), "digits": (240000, 40000), "mnist": (60000, 10000)}
    for split, (train, test) in expected.items():
        assert mf.info(f"emnist/{split}").splits == {"train": train, "test": test}


@pytest.mark.realdata
def test_class_names_equal_the_real_mapping_files(realdata):
    for split in ["byclass", "bymerge", "balanced", "letters", "digits", "mnist"]:
        spec = get_registry().dataset(f"emnist/{split}")
        lines = (realdata / "emnist" / f"emnist-{split}-mapping.txt").read_text().split("\n")
        rows = [list(map(int, line.split())) for line in lines if line.strip()]
        assert [r[0] - spec.label_offset for r in rows] == list(range(len(spec.classes)))
        assert [chr(r[-1]) for r in rows] == list(spec.classes), split


def test_source_folder_of_extracted_members(served, cache, tmp_path):
    server, mini = served
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    with zipfile.ZipFile(mini.files["emnist/balanced"]["gzip.zip"]) as zf:
        for member in zf.namelist():
            if "balanced-test" in member:
                (extracted / member.split("/")[-1]).write_bytes(zf.read(member))
    ds = mf.load("emnist/balanced", "test", registry=mini.registry, data_dir=cache, source=extracted)
    np.testing.assert_array_equal(ds.images, mini.expect("emnist/balanced", "test")["images"])
    assert server.requests == []


def test_a_member_left_half_extracted_by_a_killed_process_is_removed(served, cache):
    from mnistfamily import safe_write

    _, mini = served
    folder = cache / "downloads" / "emnist"
    folder.mkdir(parents=True)
    stale = safe_write.TempArea(folder, "emnist-balanced-test-images-idx3-ubyte.gz")
    stale.file().write_bytes(b"half a member")
    look_alike = folder / ".emnist-balanced-test-images-idx3-ubyte.gz.deadbeef.part"  # no marker: kept
    look_alike.write_bytes(b"not proved ours")
    mf.load("emnist/balanced", "test", registry=mini.registry, data_dir=cache)
    assert not stale.path.exists() and look_alike.exists()
    assert safe_write.leftovers(folder) == []


def test_a_full_disk_while_extracting_a_member_is_a_cache_error(served, cache, monkeypatch):
    import errno

    from mnistfamily.errors import CacheError
    from mnistfamily.fetch import archive

    _, mini = served

    class FullDisk:  # a file on a disk that is full: the first write fails
        def __init__(self, real):
            self.real, self.name = real, real.name

        def write(self, chunk):
            raise OSError(errno.ENOSPC, "No space left on device", self.name)

        def close(self):
            self.real.close()

    real_init = archive._open_target.__init__

    def init(self, target):
        real_init(self, target)
        if "images" in target.name:
            self._file = FullDisk(self._file)

    monkeypatch.setattr(archive._open_target, "__init__", init)
    with pytest.raises(CacheError, match=r"(?s)No space left.*free some space"):
        mf.load("emnist/balanced", "test", registry=mini.registry, data_dir=cache)
    assert not (cache / "downloads" / "emnist" / "gzip.zip").exists()  # no fallback to the whole archive
