"""notMNIST: PNG tarballs streamed member by member, broken and hostile members skipped and counted."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import DownloadError, FormatError, UnverifiedFileError
from mnistfamily.fetch import UnverifiedFileWarning
from mnistfamily.prepare import png_tar_split
from mnistfamily.prepare.cache import EntryWriter
from mnistfamily.prepare.png_tar_split import build_png_tar_split
from mnistfamily.registry import Registry, get_registry
from mnistfamily.testing import serve_directory, write_miniatures
from mnistfamily.testing.mini_png_tar import (
    corrupt_png, folder, png_bytes, png_tar_contents, regular, special, symlink, tar_gz_bytes,
)
from mnistfamily.testing.miniatures import _described

REGISTRY = get_registry()
LETTERS = list("ABCDEFGHIJ")


@pytest.fixture
def served(tmp_path):
    folder_ = tmp_path / "served"
    folder_.mkdir()
    with serve_directory(folder_) as server:
        yield server, write_miniatures(folder_, server.url, names=["notmnist/small", "notmnist/large"],
                                       source_registry=REGISTRY)


def _one_dataset(spec, contents: dict, where: Path, **splits) -> Registry:
    where.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, (data, payload) in contents.items():
        (where / name).write_bytes(data)
        files[name] = _described(spec.file(name), data, payload)
    return Registry({spec.name: replace(spec, files=files, splits=splits or spec.splits)})


def _load(name, split, **kwargs):
    with pytest.warns(UnverifiedFileWarning):
        return mf.load(name, split, allow_unverified=True, **kwargs)


def test_both_sets_load_their_readable_images_in_tarball_order(served, cache):
    server, mini = served
    for name, split, root in [("notmnist/small", "test", "notMNIST_small"),
                              ("notmnist/large", "train", "notMNIST_large")]:
        ds = _load(name, split, registry=mini.registry, data_dir=cache)
        expected = mini.expect(name, split)
        assert ds.classes == LETTERS and ds.images.shape[1:] == (28, 28)
        np.testing.assert_array_equal(ds.images, expected["images"])
        np.testing.assert_array_equal(ds.labels, expected["labels"])
        np.testing.assert_array_equal(ds.index, np.arange(len(ds)))
        report = ds.info.report
        for key, count in expected["skipped"].items():
            assert report[key] == count, key
        assert report["skipped_unreadable"] == 1 and report["unreadable_examples"] == [f"{root}/A/broken.png"]
        assert report["class_counts"] == np.bincount(expected["labels"], minlength=10).tolist()


def test_the_sets_have_no_checksum_and_need_the_opt_in(served, cache):
    _, mini = served
    for name in ("notmnist/small", "notmnist/large"):
        spec = REGISTRY.dataset(name)
        assert not any(f.verifiable for f in spec.files.values())
        assert [s.num_examples for s in spec.splits.values()] == [None]
        with pytest.raises(UnverifiedFileError, match=r"no checksum for notMNIST_\w+\.tar\.gz.*allow_unverified=True"):
            mf.load(name, registry=mini.registry, data_dir=cache)


def test_an_unknown_count_is_what_the_tarball_holds(tmp_path, cache):
    spec = REGISTRY.dataset("notmnist/small")
    contents, expected = png_tar_contents(spec, dict(spec.splits), np.random.default_rng(0))
    registry = _one_dataset(spec, contents, tmp_path / "src")
    assert registry.dataset("notmnist/small").splits["test"].num_examples is None
    ds = _load("notmnist/small", "test", registry=registry, data_dir=cache, source=tmp_path / "src")
    assert len(ds) == 30  # the miniature's default, found by reading
    labels = np.asarray(ds.labels)
    assert not (np.diff(labels) >= 0).all()  # tarball order, not grouped by class
    np.testing.assert_array_equal(ds.images, expected["test"]["images"])
    np.testing.assert_array_equal(labels, expected["test"]["labels"])


def test_hostile_members_are_skipped_counted_and_never_touch_the_disk(tmp_path, cache, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = png_bytes(np.full((28, 28), 7, np.uint8))
    hostile = [
        regular("../escape.png", good), regular("/tmp/absolute-escape.png", good),
        regular("notMNIST_small/../../escape2.png", good), regular("notMNIST_small\\A\\win.png", good),
        symlink("notMNIST_small/B/sym.png", "/etc/passwd"), symlink("notMNIST_small/B/hard.png",
                                                                     "notMNIST_small/B/sym.png", hard=True),
        special("notMNIST_small/C/char.png"), special("notMNIST_small/C/block.png", tarfile.BLKTYPE),
        special("notMNIST_small/C/fifo.png", tarfile.FIFOTYPE),
        regular("notMNIST_small/K/not-a-class.png", good), regular("notMNIST_large/A/other-root.png", good),
        regular("notMNIST_small/A/deeper/x.png", good), regular("notMNIST_small/x.png", good),
        folder("notMNIST_small/Z"),
    ]
    spec = REGISTRY.dataset("notmnist/small")
    contents, expected = png_tar_contents(spec, dict(spec.splits), np.random.default_rng(1), extra=hostile)
    registry = _one_dataset(spec, contents, tmp_path / "src")
    before = sorted(p for p in tmp_path.rglob("*"))
    ds = _load("notmnist/small", "test", registry=registry, data_dir=cache, source=tmp_path / "src")
    np.testing.assert_array_equal(ds.images, expected["test"]["images"])
    report = ds.info.report
    assert report["skipped_unsafe_names"] == 4
    assert report["skipped_links"] == 1 + 2 and report["skipped_special"] == 3
    assert report["skipped_outside_classes"] == 4
    assert report["skipped_folders"] == 1 + 10 + 1
    assert report["skipped_unreadable"] == 1
    # only the cache changed; nothing named after a member exists anywhere
    after = [p for p in sorted(tmp_path.rglob("*")) if p not in before]
    assert all(p == cache or cache in p.parents for p in after)
    names = {"escape.png", "absolute-escape.png", "escape2.png", "win.png", "sym.png", "hard.png", "char.png",
             "block.png", "fifo.png", "not-a-class.png", "other-root.png", "x.png", "glyph-00000.png"}
    assert not [p for p in tmp_path.parent.rglob("*") if p.name in names]
    assert not Path("/tmp/absolute-escape.png").exists()


def test_images_in_other_modes_are_converted_to_grey_and_wrong_ones_counted(tmp_path, cache):
    from PIL import Image

    grey = np.arange(784, dtype=np.uint8).reshape(28, 28)
    rgb = np.stack([grey, grey, grey], axis=-1)

    def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        return buffer.getvalue()

    members = [
        folder("notMNIST_small"), folder("notMNIST_small/A"),
        regular("notMNIST_small/A/grey.png", png_bytes(grey)),
        regular("notMNIST_small/B/rgb.png", encoded(Image.fromarray(rgb, "RGB"))),
        regular("notMNIST_small/C/palette.png", encoded(Image.fromarray(grey, "L").convert("P"))),
        regular("notMNIST_small/D/alpha.png", encoded(Image.fromarray(grey, "L").convert("LA"))),
        regular("notMNIST_small/E/small.png", png_bytes(grey[:27])),
        regular("notMNIST_small/E/big.png", png_bytes(np.zeros((56, 56), np.uint8))),
        regular("notMNIST_small/F/empty.png", b""),
        regular("notMNIST_small/F/text.png", b"not an image at all"),
        regular("notMNIST_small/F/jpeg.png", encoded(Image.fromarray(grey, "L"), "JPEG")),
        regular("notMNIST_small/F/truncated.png", png_bytes(grey)[:60]),
        regular("notMNIST_small/F/corrupt.png", corrupt_png((28, 28))),
        regular("notMNIST_small/G/huge.png", b"\0" * (png_tar_split.MAX_PNG_BYTES + 1)),
    ]
    spec = REGISTRY.dataset("notmnist/small")
    registry = _one_dataset(spec, {"notMNIST_small.tar.gz": (tar_gz_bytes(members), None)}, tmp_path / "src")
    ds = _load("notmnist/small", "test", registry=registry, data_dir=cache, source=tmp_path / "src")
    assert ds.labels.tolist() == [0, 1, 2, 3]
    for image in ds.images:
        np.testing.assert_array_equal(image, grey)
    report = ds.info.report
    assert report["skipped_unreadable"] == 8
    assert report["unreadable_examples"] == ["notMNIST_small/E/small.png", "notMNIST_small/E/big.png",
                                             "notMNIST_small/F/empty.png", "notMNIST_small/F/text.png",
                                             "notMNIST_small/F/jpeg.png"]


def test_memory_follows_the_decoded_images_not_the_members(tmp_path, monkeypatch):
    from PIL import Image  # imported before tracing: the import is not the builder's memory

    del Image
    monkeypatch.setattr(png_tar_split, "BLOCK", 128)
    n = 1000
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    members = [folder("notMNIST_small")]
    members += [regular(f"notMNIST_small/{LETTERS[i % 10]}/{i}.png", png_bytes(image))
                for i, image in enumerate(images)]
    members += [regular("notMNIST_small/A/padding.png", b"\0" * (4 << 20))]  # 4 MiB, never read
    path = tmp_path / "notMNIST_small.tar.gz"
    path.write_bytes(tar_gz_bytes(members))
    spec = REGISTRY.dataset("notmnist/small")
    spec = replace(spec, files={"notMNIST_small.tar.gz": replace(spec.file("notMNIST_small.tar.gz"), size=None)})
    decoded = n * (28 * 28 + 8)
    tracemalloc.start()
    try:
        with EntryWriter(tmp_path / "entry") as writer:
            build_png_tar_split(spec, spec.splits["test"], {"notMNIST_small.tar.gz": path}, writer)
            _, peak = tracemalloc.get_traced_memory()
            stored = np.load(writer.tmp / "images.npy", mmap_mode="r")
            np.testing.assert_array_equal(stored, images)
            del stored
    finally:
        tracemalloc.stop()
    assert writer.report["skipped_unreadable"] == 1
    assert peak < decoded + 2 * 128 * (28 * 28 + 8) + (1 << 20), f"peak {peak:,} bytes for {decoded:,} decoded"


def test_memory_does_not_grow_with_the_number_of_members(tmp_path, monkeypatch):
    from PIL import Image

    del Image
    monkeypatch.setattr(png_tar_split, "BLOCK", 128)
    good = png_bytes(np.zeros((28, 28), np.uint8))
    members = [regular("notMNIST_small/A/kept.png", good)]
    members += [regular(f"notMNIST_small/{LETTERS[i % 10]}/broken-{i:05d}.png", b"") for i in range(1_500)]
    members += [symlink(f"notMNIST_small/B/link-{i:05d}.png", "kept.png") for i in range(500)]
    path = tmp_path / "notMNIST_small.tar.gz"
    path.write_bytes(tar_gz_bytes(members))
    spec = REGISTRY.dataset("notmnist/small")
    spec = replace(spec, files={"notMNIST_small.tar.gz": replace(spec.file("notMNIST_small.tar.gz"), size=None)})
    tracemalloc.start()
    try:
        with EntryWriter(tmp_path / "entry") as writer:
            build_png_tar_split(spec, spec.splits["test"], {"notMNIST_small.tar.gz": path}, writer)
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert writer.report["skipped_unreadable"] == 1_500 and writer.report["skipped_links"] == 500
    assert len(writer.report["unreadable_examples"]) == 5
    # keeping the 2,001 headers alone would take about 1 MB
    assert peak < 2 * png_tar_split.BLOCK * (28 * 28 + 8) + (256 << 10), f"peak {peak:,} bytes for 2,001 members"


@pytest.mark.parametrize("compress", [lambda tar: tar, lambda tar: __import__("lzma").compress(tar)],
                         ids=["plain", "xz"])
def test_the_compression_is_recognised_by_content(tmp_path, cache, compress):
    spec = REGISTRY.dataset("notmnist/small")
    contents, expected = png_tar_contents(spec, dict(spec.splits), np.random.default_rng(5))
    tar = gzip.decompress(contents["notMNIST_small.tar.gz"][0])
    registry = _one_dataset(spec, {"notMNIST_small.tar.gz": (compress(tar), None)}, tmp_path / "src")
    ds = _load("notmnist/small", "test", registry=registry, data_dir=cache, source=tmp_path / "src")
    np.testing.assert_array_equal(ds.images, expected["test"]["images"])


def test_a_truncated_download_is_caught_by_its_size(served, cache):
    _, mini = served
    path = mini.files["notmnist/small"]["notMNIST_small.tar.gz"]
    path.write_bytes(path.read_bytes()[:-100])
    # the size is the one fact known without a checksum: the download itself is refused
    with pytest.raises(DownloadError, match=r"expected [\d,]+ bytes for notMNIST_small.tar.gz .*no checksum is known"):
        mf.load("notmnist/small", "test", registry=mini.registry, data_dir=cache, allow_unverified=True)


@pytest.mark.parametrize("data, message", [
    (b"plain text, not gzip", r"the archive is damaged or truncated after 0 members"),
    (b"PK\x03\x04 a zip", r"a zip archive, not a tarball"),
    (gzip.compress(b"gzip but not a tar" * 100), r"the archive is damaged or truncated"),
    ("truncated", r"the archive is damaged or truncated after \d+ members"),
    (tar_gz_bytes([folder("notMNIST_small"), regular("notMNIST_small/A/x.png", b"junk"),
                   regular("elsewhere/A/y.png", png_bytes(np.zeros((28, 28), np.uint8)))]),
     r"no readable 28x28 PNG at notMNIST_small/<class>/<file> .* among 3 members \(skipped folders: 1, "
     r"outside classes: 1, unreadable: 1\)"),
])
def test_damaged_or_empty_archives_are_clear_errors(tmp_path, cache, data, message):
    spec = REGISTRY.dataset("notmnist/small")
    if data == "truncated":
        whole, _ = png_tar_contents(spec, dict(spec.splits), np.random.default_rng(3))
        data = whole["notMNIST_small.tar.gz"][0][:-300]
    registry = _one_dataset(spec, {"notMNIST_small.tar.gz": (data, None)}, tmp_path / "src")
    with pytest.raises(FormatError, match=message):
        _load("notmnist/small", "test", registry=registry, data_dir=cache, source=tmp_path / "src")


def test_a_known_count_must_match(tmp_path, cache):
    spec = REGISTRY.dataset("notmnist/large")
    counted = {"train": replace(spec.splits["train"], num_examples=12)}
    contents, _ = png_tar_contents(spec, counted, np.random.default_rng(4))
    registry = _one_dataset(spec, contents, tmp_path / "src", train=replace(counted["train"], num_examples=13))
    with pytest.raises(FormatError, match=r"12 readable images; the registry expects 13 \(skipped folders: 11, "
                                          r"links: 1, unreadable: 1\)"):
        _load("notmnist/large", "train", registry=registry, data_dir=cache, source=tmp_path / "src")


def test_only_two_dimensional_uint8_images_are_read(tmp_path):
    spec = replace(REGISTRY.dataset("notmnist/small"), image_dtype="float32")
    with EntryWriter(tmp_path / "entry") as writer, pytest.raises(FormatError, match=r"reads uint8 \(H, W\) images"):
        build_png_tar_split(spec, spec.splits["test"], {"notMNIST_small.tar.gz": tmp_path / "absent"}, writer)


def test_registry_entries_match_the_facts():
    small = REGISTRY.dataset("notmnist/small")
    large = REGISTRY.dataset("notmnist/large")
    assert small.file("notMNIST_small.tar.gz").size == 8_458_043
    assert large.file("notMNIST_large.tar.gz").size == 247_336_696
    for spec in (small, large):
        assert spec.classes == tuple(LETTERS) and spec.image_shape == (28, 28)
        assert spec.mirrors == ("https://commondatastorage.googleapis.com/books1000/",)
        assert spec.base_url == "http://yaroslavvb.com/upload/notMNIST/"
        assert spec.license.startswith("unknown")
        file = next(iter(spec.files.values()))
        assert spec.mirror_urls(file) + [spec.canonical_url(file)] == [
            f"https://commondatastorage.googleapis.com/books1000/{file.name}",
            f"http://yaroslavvb.com/upload/notMNIST/{file.name}"]
    assert list(small.splits) == ["test"] and list(large.splits) == ["train"]


@pytest.mark.realdata
def test_the_idx_sample_loads_from_the_real_files(realdata, cache):
    folder_ = Path(os.environ["MNISTFAMILY_REALDATA"]) / "notmnist"
    assert folder_ == realdata / "notmnist"
    ds = mf.load("notmnist/idx-sample", "test", source=folder_, data_dir=cache, registry=REGISTRY)
    assert ds.images.shape == (10_000, 28, 28) and ds.classes == LETTERS
    assert np.bincount(ds.labels).tolist() == [1000] * 10
    assert "published" in {s["verified"] for s in _sources(cache)}
    # upright letters: the mean "A" has its legs (ink in the bottom corners) below its apex
    a_mean = np.asarray(ds.images)[np.asarray(ds.labels) == 0].astype(float).mean(0)

    def bottom_over_top(m):
        return (m[-7:, :7].sum() + m[-7:, -7:].sum()) / (m[:7, :7].sum() + m[:7, -7:].sum())

    assert bottom_over_top(a_mean) > 3 > 2 > bottom_over_top(a_mean.T)


def _sources(cache: Path) -> list[dict]:
    import json

    manifest = next((cache / "prepared" / "notmnist" / "idx-sample").glob("test@*/manifest.json"))
    return json.loads(manifest.read_text())["sources"]
