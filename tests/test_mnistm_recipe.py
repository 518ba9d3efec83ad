"""MNIST-M by the published recipe (``mnist-m/recipe``): the draws, the blend, the BSDS500 reader and its hostile
inputs, and the decoder's refusals. The miniature's end-to-end load is in the contract test."""

from __future__ import annotations

import io
import random
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mnistfamily as mf
from harness.fuzz.mnistm_targets import MNISTM_TARGETS as BSDS_TARGETS
from harness.fuzz.contract import run_target
from harness.fuzz.mutators import mutate
from mnistfamily.errors import FormatError
from mnistfamily.formats.mnistm import PATCH, blend, draw_patches, read_backgrounds
from mnistfamily.formats.sink import MemorySink
from mnistfamily.registry import get_registry
from mnistfamily.testing import write_miniatures
from mnistfamily.testing.mini_mnistm import bsds_archive, jpeg_bytes
from mnistfamily.testing.mini_png_tar import regular, tar_gz_bytes

ROOT = "BSR/BSDS500/data/images/train"


def test_the_draws_are_seeded_and_every_patch_lies_inside_its_background():
    shapes = [(321, 481), (481, 321), (40, 30)]
    a, b, other = (draw_patches(s, 5000, shapes) for s in (7, 7, 8))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], other[1])
    which, row, col = a
    heights = np.array([h for h, _ in shapes])[which]
    widths = np.array([w for _, w in shapes])[which]
    assert set(np.unique(which)) == {0, 1, 2}
    assert (row >= 0).all() and (row < heights - PATCH).all() and (col >= 0).all() and (col < widths - PATCH).all()
    assert row[which == 1].max() > 400  # the tall photo's rows are used, down to its last possible corner
    with pytest.raises(FormatError, match="MNIST-M: no background to draw patches from"):
        draw_patches(0, 3, [])


def test_the_blend_is_the_difference_of_the_patch_and_the_binarised_digit():
    rng = np.random.default_rng(1)
    backgrounds = [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)]
    digits = np.where(rng.random((20, 28, 28)) < 0.3, rng.integers(1, 256, (20, 28, 28)), 0).astype(np.uint8)
    which, row, col = draw_patches(3, 20, [b.shape[:2] for b in backgrounds])
    out = blend(digits, backgrounds, which, row, col)
    for i in range(20):  # pumpikano's compose_image: np.abs(bg - digit).astype(np.uint8), digit in {0, 255}
        bg = backgrounds[which[i]][row[i]:row[i] + 28, col[i]:col[i] + 28]
        want = np.abs(bg - (digits[i] > 0).astype(np.float32)[:, :, None] * 255).astype(np.uint8)
        np.testing.assert_array_equal(out[i], want)


def _archive(tmp_path: Path, members) -> Path:
    path = tmp_path / "BSR_bsds500.tgz"
    path.write_bytes(tar_gz_bytes(members))
    return path


def test_the_reader_keeps_readable_rgb_photos_in_order_and_counts_the_rest(tmp_path):
    data, backgrounds, skipped = bsds_archive(np.random.default_rng(0))
    path = tmp_path / "BSR_bsds500.tgz"
    path.write_bytes(data)
    found = read_backgrounds(path, "here")
    assert found.names == [f"{ROOT}/{1000 + i}.jpg" for i in range(3)]
    for mine, theirs in zip(found.images, backgrounds):
        np.testing.assert_array_equal(mine, theirs)
    assert dict(found.skipped) == skipped
    assert len(found.digest()) == 64 and found.digest() == read_backgrounds(path, "here").digest()


def test_a_photo_claiming_a_huge_size_is_skipped_before_decoding(tmp_path):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (5000, 30)).save(buffer, format="PNG")  # a header of 5000 pixels a side: refused unread
    photo = jpeg_bytes(np.full((40, 40, 3), 7, np.uint8))
    found = read_backgrounds(_archive(tmp_path, [regular(f"{ROOT}/huge.png", buffer.getvalue()),
                                                 regular(f"{ROOT}/ok.jpg", photo)]), "here")
    assert found.names == [f"{ROOT}/ok.jpg"] and found.skipped["skipped_unreadable"] == 1


def test_an_archive_without_backgrounds_is_refused(tmp_path):
    path = _archive(tmp_path, [regular("BSR/BSDS500/data/images/test/1.jpg", jpeg_bytes(np.zeros((40, 40, 3), np.uint8))),
                               regular(f"{ROOT}/Thumbs.db", b"not an image")])
    with pytest.raises(FormatError, match=r"here: no readable RGB image of at least 29x29 pixels under "
                                          r"BSR/BSDS500/data/images/train/ \(skipped_outside_root 1, "
                                          r"skipped_unreadable 1\). Is this BSR_bsds500.tgz\?"):
        read_backgrounds(path, "here")


def test_too_many_backgrounds_are_refused(tmp_path, monkeypatch):
    import mnistfamily.formats.mnistm as mnistm

    monkeypatch.setattr(mnistm, "MAX_BACKGROUNDS", 2)
    data = bsds_archive(np.random.default_rng(0))[0]
    path = tmp_path / "BSR_bsds500.tgz"
    path.write_bytes(data)
    with pytest.raises(FormatError, match=r"here: more than 2 images under BSR/BSDS500/data/images/train/; "
                                          r"BSDS500 has 200"):
        read_backgrounds(path, "here")


def test_a_member_larger_than_a_photo_is_refused(tmp_path, monkeypatch):
    import mnistfamily.formats.mnistm as mnistm

    monkeypatch.setattr(mnistm, "MAX_BACKGROUND_BYTES", 100)
    path = _archive(tmp_path, [regular(f"{ROOT}/big.jpg", jpeg_bytes(np.zeros((40, 40, 3), np.uint8)))])
    with pytest.raises(FormatError, match=r"big.jpg' is \d+ bytes; at most 100 are expected"):
        read_backgrounds(path, "here")


@pytest.fixture
def decoder_inputs(tmp_path):
    """A miniature mnist-m/recipe spec, its test split and the paths of its files."""
    mini = write_miniatures(tmp_path / "m", "file:///unused", names=["mnist-m/recipe"])
    spec = mini.registry.dataset("mnist-m/recipe")
    split = spec.splits["test"]
    folder = tmp_path / "m" / "mnist-m"
    return spec, split, {name: folder / name for name in split.files()}


def test_the_decoder_writes_images_labels_and_the_patch_columns(decoder_inputs):
    from mnistfamily.prepare.mnistm_split import build_mnistm_split

    spec, split, paths = decoder_inputs
    sink = MemorySink()
    build_mnistm_split(spec, split, paths, sink)
    assert sink.arrays["images"].shape == (split.num_examples, 28, 28, 3)
    assert sink.report["metadata_columns"] == ["background", "patch_row", "patch_col"]
    assert sink.report["backgrounds"] == 3 and sink.report["seed"] == 1
    np.testing.assert_array_equal(sink.arrays["meta.background"],
                                  draw_patches(1, split.num_examples, [(40, 52), (52, 40), (36, 45)])[0])


def test_the_decoder_refuses_what_is_not_mnist_m(decoder_inputs, tmp_path):
    from mnistfamily.formats.idx import write_idx
    from mnistfamily.prepare.mnistm_split import build_mnistm_split

    spec, split, paths = decoder_inputs
    with pytest.raises(FormatError, match=r"the mnist-m-recipe format makes uint8 \(28, 28, 3\) images; the "
                                          r"registry says uint8 \(32, 32, 3\)"):
        build_mnistm_split(replace(spec, image_shape=(32, 32, 3)), split, paths, MemorySink())
    n = split.num_examples
    cases = [
        ("images", np.zeros((n, 16, 16), np.uint8), r"expected MNIST's uint8 digits \(N, 28, 28\); found uint8 "
                                                    r"\(\d+, 16, 16\)"),
        ("labels", np.zeros(n + 1, np.uint8), r"\(\d+,\) labels for \d+ digits; the label and image files do not"),
        ("labels", np.full(n, 12, np.uint8), r"labels outside 0..9"),
    ]
    for key, array, message in cases:
        path = tmp_path / f"bad-{key}.idx"
        write_idx(path, array)
        bad = dict(paths)
        bad[split.inputs[key]] = path
        with pytest.raises(FormatError, match=message):
            build_mnistm_split(spec, split, bad, MemorySink())


def test_the_entry_is_unverified_and_its_mnist_files_are_mnists():
    spec = get_registry().dataset("mnist-m/recipe")
    mnist = get_registry().dataset("mnist")
    assert not spec.file("BSR_bsds500.tgz").verifiable
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert spec.file(name).sha256 == mnist.file(name).sha256
    assert spec.image_shape == (28, 28, 3) and [s.num_examples for s in spec.splits.values()] == [60_000, 10_000]
    assert spec.splits["train"].options["seed"] != spec.splits["test"].options["seed"]


def test_loading_without_allow_unverified_says_what_to_do(tmp_path):
    mini = write_miniatures(tmp_path / "m", "file:///unused", names=["mnist-m/recipe"])
    with pytest.raises(mf.errors.MnistFamilyError, match="BSR_bsds500.tgz"):
        mf.load("mnist-m/recipe", "test", registry=mini.registry, data_dir=tmp_path / "c",
                source=tmp_path / "m" / "mnist-m")


FUZZ = dict(derandomize=True, deadline=None, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def test_every_seed_of_the_background_reader_is_read(tmp_path):
    seeds = BSDS_TARGETS["bsds500"].seeds()
    assert [run_target(BSDS_TARGETS["bsds500"], data, Path(tempfile.mkdtemp(dir=tmp_path))) for data in seeds] \
        == ["ok"] * len(seeds)


def test_the_background_reader_raises_only_library_errors_on_mutants(tmp_path):
    seeds = BSDS_TARGETS["bsds500"].seeds()

    @settings(max_examples=80, **FUZZ)
    @given(which=st.integers(0, len(seeds) - 1), salt=st.integers(0, 2**32 - 1))
    def check(which, salt):
        data = mutate(seeds[which], random.Random(salt), seeds)
        run_target(BSDS_TARGETS["bsds500"], data, Path(tempfile.mkdtemp(dir=tmp_path)))

    check()


@pytest.mark.realdata
def test_ganins_released_test_labels_are_mnists_first_9001_test_labels(realdata, cache):
    """What docs/datasets/mnist-m.md says of Ganin's release, checked on its real test labels file."""
    lines = (realdata / "mnist-m" / "mnist_m_test_labels.txt").read_text(encoding="ascii").splitlines()
    assert len(lines) == 9_001
    names, labels = zip(*(line.split(" ") for line in lines))
    assert list(names) == [f"{i:08d}.png" for i in range(9_001)]
    mnist = mf.load("mnist", "test", source=realdata / "mnist-kaggle-layout", data_dir=cache)
    np.testing.assert_array_equal(np.array(labels, dtype=np.int64), mnist.labels[:9_001])
    from PIL import Image

    for path in sorted((realdata / "mnist-m" / "mnist_m_test").glob("*.png")):
        with Image.open(path) as image:
            assert image.size == (32, 32) and image.mode == "RGB"  # not the recipe's 28x28
