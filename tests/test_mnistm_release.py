"""Ganin's released MNIST-M (``mnist-m``): read from source= only, PNGs placed by number and checked against the
labels file, hostile archives refused; on the real files, the test labels are MNIST's and the PNGs read as 32x32 RGB."""

from __future__ import annotations

import random
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mnistfamily as mf
from harness.fuzz.contract import run_target
from harness.fuzz.mnistm_targets import MNISTM_TARGETS
from harness.fuzz.mutators import mutate
from mnistfamily.errors import DownloadError, FormatError, RegistryError
from mnistfamily.formats.mnistm_release import parse_labels, read_release
from mnistfamily.registry import get_registry
from mnistfamily.testing.mini_mnistm_release import release_members, rgb_png
from mnistfamily.testing.mini_png_tar import regular, tar_gz_bytes

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
LABELS = np.array([3, 1, 4, 1])


def _archive(tmp_path: Path, members) -> Path:
    path = tmp_path / "mnist_m.tar.gz"
    path.write_bytes(tar_gz_bytes(members))
    return path


def _read(path: Path, n: int = 4):
    out = np.zeros((n, 32, 32, 3), np.uint8)
    labels, skipped = read_release(path, "test", n, out, "here")
    return out, labels, skipped


def test_images_are_placed_by_number_whatever_the_member_order(tmp_path):
    path = _archive(tmp_path, release_members({"test": (IMAGES, LABELS), "train": (IMAGES[:2], LABELS[:2])},
                                              np.random.default_rng(1)))
    images, labels, skipped = _read(path)
    np.testing.assert_array_equal(images, IMAGES)
    np.testing.assert_array_equal(labels, LABELS)
    assert skipped["skipped_other_members"] == 2 + 3 + 1  # the train PNGs, 3 folders, the train labels


def _members(images=IMAGES, labels_text=None, extra=()):
    text = labels_text if labels_text is not None else "".join(f"{i:08d}.png {l}\n" for i, l in enumerate(LABELS))
    return ([regular(f"mnist_m/mnist_m_test/{i:08d}.png", rgb_png(image)) for i, image in enumerate(images)]
            + [regular("mnist_m/mnist_m_test_labels.txt", text.encode())] + list(extra))


@pytest.mark.parametrize("members, message", [
    (lambda: _members()[:-1], r"here: no mnist_m/mnist_m_test_labels.txt; is this Ganin's mnist_m.tar.gz\?"),
    (lambda: _members()[1:], r"here: 1 of the 4 images the labels file names are not in the archive \(the first: "
                             r"mnist_m/mnist_m_test/00000000.png\)"),
    (lambda: _members(extra=[regular("mnist_m/mnist_m_test/00000004.png", rgb_png(IMAGES[0]))]),
     r"00000004.png is past the split; the registry expects 4 images numbered 0 to 3"),
    (lambda: _members() + _members()[:1], r"00000000.png is there twice"),
    (lambda: [regular("mnist_m/mnist_m_test/00000000.png", rgb_png(np.zeros((28, 28, 3), np.uint8)))] + _members()[1:],
     r"00000000.png: a PNG image 28x28 RGB; the release's are 32x32 RGB PNGs"),
    (lambda: [regular("mnist_m/mnist_m_test/00000000.png", b"\x89PNG not really")] + _members()[1:],
     r"00000000.png: not a readable PNG"),
    (lambda: _members(labels_text="00000000.png 3\n00000001.png 1\n"), r"labels.txt: 2 lines; the registry expects"),
    (lambda: _members(labels_text="00000000.png 3\n00000002.png 1\n00000001.png 4\n00000003.png 1\n"),
     r"line 2 is b'00000002.png 1'; expected '00000001.png <digit>'"),
    (lambda: _members(labels_text="00000000.png 3\n00000001.png 12\n00000002.png 4\n00000003.png 1\n"),
     r"line 2 is b'00000001.png 12'"),
])
def test_what_is_not_the_release_is_refused(tmp_path, members, message):
    with pytest.raises(FormatError, match=message):
        _read(_archive(tmp_path, members()))


def test_parse_labels_accepts_crlf_lines():
    assert parse_labels(b"00000000.png 7\r\n00000001.png 2\r\n", 2, "x").tolist() == [7, 2]


def test_the_entry_is_read_from_source_only(tmp_path):
    spec = get_registry().dataset("mnist-m")
    assert spec.source_only and spec.base_url is None and not spec.mirrors
    assert spec.file("mnist_m.tar.gz").md5 == "859df31c91afe82e80e5012ba928f279"
    assert [s.num_examples for s in spec.splits.values()] == [59_001, 9_001] and spec.image_shape == (32, 32, 3)
    with pytest.raises(DownloadError, match=r"mnist-m: mnist_m.tar.gz has no stable public URL, so it is never "
                                            r"downloaded.*pass source= the folder holding it"):
        mf.load("mnist-m", "test", data_dir=tmp_path)


def test_source_only_excludes_urls(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        datasets:
          mine:
            title: Mine
            homepage: https://example.org/
            license: none
            citation: none
            format: mnist-m-release
            image_shape: [32, 32, 3]
            classes: ["0", "1"]
            base_url: https://example.org/
            source_only: true
            files:
              x.tar.gz: {size: unknown, md5: 859df31c91afe82e80e5012ba928f279, sha256: unknown}
            splits:
              test: {num_examples: 1, archive: x.tar.gz, part: test}
        """))
    with pytest.raises(RegistryError, match=r"mine.source_only \(line 4\): a dataset read only from source= has no base_url"):
        mf.datasets(registry=path)


def test_the_decoder_refuses_another_shape(tmp_path):
    from dataclasses import replace

    from mnistfamily.formats.sink import MemorySink
    from mnistfamily.prepare.mnistm_release_split import build_mnistm_release_split

    spec = get_registry().dataset("mnist-m")
    path = _archive(tmp_path, _members())
    split = replace(spec.splits["test"], num_examples=4)
    with pytest.raises(FormatError, match=r"the mnist-m-release format reads uint8 \(32, 32, 3\) images"):
        build_mnistm_release_split(replace(spec, image_shape=(28, 28, 3)), split, {"mnist_m.tar.gz": path},
                                   MemorySink())
    with pytest.raises(FormatError, match="the registry must give the split's size"):
        build_mnistm_release_split(spec, replace(split, num_examples=None), {"mnist_m.tar.gz": path}, MemorySink())
    sink = MemorySink()
    build_mnistm_release_split(spec, split, {"mnist_m.tar.gz": path}, sink)
    np.testing.assert_array_equal(sink.arrays["images"], IMAGES)


FUZZ = dict(derandomize=True, deadline=None, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def test_the_release_reader_takes_its_seeds_and_raises_only_library_errors_on_mutants(tmp_path):
    target = MNISTM_TARGETS["mnist-m-release"]
    seeds = target.seeds()
    assert [run_target(target, s, Path(tempfile.mkdtemp(dir=tmp_path))) for s in seeds] == ["ok"] * len(seeds)

    @settings(max_examples=80, **FUZZ)
    @given(which=st.integers(0, len(seeds) - 1), salt=st.integers(0, 2**32 - 1))
    def check(which, salt):
        run_target(target, mutate(seeds[which], random.Random(salt), seeds), Path(tempfile.mkdtemp(dir=tmp_path)))

    check()


@pytest.mark.realdata
def test_the_real_test_labels_and_pngs_read_as_the_release_describes(realdata, cache, tmp_path):
    """The label-file check the real files allow: Ganin's test labels are MNIST's t10k labels 0..9,000, and
    a tarball of the ten real test PNGs with the first ten label lines reads back byte for byte."""
    from PIL import Image

    folder = realdata / "mnist-m"
    text = (folder / "mnist_m_test_labels.txt").read_bytes()
    labels = parse_labels(text, 9_001, "mnist_m_test_labels.txt")
    mnist = mf.load("mnist", "test", source=realdata / "mnist-kaggle-layout", data_dir=cache)
    np.testing.assert_array_equal(labels, mnist.labels[:9_001])
    pngs = sorted((folder / "mnist_m_test").glob("*.png"))
    assert [p.name for p in pngs] == [f"{i:08d}.png" for i in range(10)]
    members = [regular(f"mnist_m/mnist_m_test/{p.name}", p.read_bytes()) for p in pngs]
    members.append(regular("mnist_m/mnist_m_test_labels.txt", b"".join(text.splitlines(keepends=True)[:10])))
    images, read_labels, _ = _read(_archive(tmp_path, members), n=10)
    np.testing.assert_array_equal(read_labels, mnist.labels[:10])
    for p, image in zip(pngs, images):
        np.testing.assert_array_equal(image, np.asarray(Image.open(p).convert("RGB")))
