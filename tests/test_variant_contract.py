"""Derived datasets through the real load path, checked against values the library does not compute.

``mini.expect`` gives a variant's expected arrays by running the library's own transforms over
the base miniature, so the contract test alone would pass with a transform bug on both sides.
Here each built-in variant's loaded split is checked against its base split with arithmetic
written from the transform's definition (MNIST-C's paper and code, LeCun et al.'s deskewing):
exact values where the definition gives them (brightness, stripe, translate; deskew, scale and
rotate by a second implementation on scipy's sampler), and invariants that a wrong transform breaks where the definition is
random per pixel (the noises' value sets and rates, strokes that only add ink, edges that are
binary). The corruptions' values are also compared with the MNIST-C authors' own outputs in
test_mnist_c_reference.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.registry import Registry, builtin_registry_path
from mnistfamily.testing import serve_directory, write_miniatures

BUILTIN = Registry.from_files([builtin_registry_path()])
VARIANTS = [s.name for s in BUILTIN if s.base is not None and s.environments is None]
#: the variants of MNIST's digits (the module's fixture); others have their own (audiomnist/8k: test_8k)
DIGIT_VARIANTS = [v for v in VARIANTS if BUILTIN.dataset(v).example == "image"]
#: derived datasets dealt into environments: each split is an environment of the base's rows
DEALT = [s.name for s in BUILTIN if s.base is not None and s.environments is not None]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Every built-in variant's test split and its base's, loaded from a served miniature."""
    folder = tmp_path_factory.mktemp("served")
    cache = tmp_path_factory.mktemp("cache")
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=DIGIT_VARIANTS)
        out = {name: mf.load(name, "test", registry=mini.registry, data_dir=cache) for name in DIGIT_VARIANTS}
        out["mnist"] = mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    return out


def _base(loaded) -> np.ndarray:
    return np.asarray(loaded["mnist"].images).astype(np.float64)


def test_every_builtin_variant_is_checked_here():
    checked = {name for name in globals() if name.startswith("test_")}
    for variant in VARIANTS:
        assert f"test_{variant.split('/')[-1].replace('-', '_')}" in checked, f"no independent check of {variant}"
    for dealt in DEALT:  # checked family by family
        assert f"test_{dealt.split('/')[0].replace('-', '_')}" in checked, f"no independent check of {dealt}"


@pytest.fixture(scope="module")
def dealt(tmp_path_factory):
    """Every environment of every dealt dataset, and the base splits they were dealt from."""
    folder = tmp_path_factory.mktemp("served-dealt")
    cache = tmp_path_factory.mktemp("cache-dealt")
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=DEALT)
        out = {name: mf.load(name, registry=mini.registry, data_dir=cache) for name in DEALT}
        bases = {s: mf.load("mnist", s, registry=mini.registry, data_dir=cache) for s in ("train", "test")}
    return out, bases


def test_rotatedmnist(dealt):
    """DomainBed: every environment is its base digits rotated by its angle, by PIL (the library rotates
    with its own numpy code); the environments cover the base rows once each."""
    from PIL import Image

    loaded, bases = dealt
    for name, splits in loaded.items():
        if not name.startswith("rotatedmnist"):
            continue
        spec = BUILTIN.dataset(name)
        assert spec.environments is not None
        resample = Image.BILINEAR if name.endswith("/bilinear") else Image.BICUBIC
        seen = []
        for split, ds in splits.items():
            angle = int(split)
            np.testing.assert_array_equal(ds.metadata["angle"], angle)
            origin = [spec.environments.source[s] for s in ds.metadata["source_split"]]
            base = [np.asarray(bases[o].images[i]) for o, i in zip(origin, ds.metadata["source_index"])]
            want = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(x), mode="L").rotate(
                angle, resample, fillcolor=0)) for x in base])
            np.testing.assert_array_equal(ds.images, want)
            np.testing.assert_array_equal(ds.labels, [bases[o].labels[i] for o, i in
                                                       zip(origin, ds.metadata["source_index"])])
            seen += list(zip(origin, ds.metadata["source_index"].tolist()))
        assert len(seen) == len(set(seen)) == sum(len(b) for b in bases.values())


def test_coloredmnist(dealt):
    """Arjovsky et al.'s definition, checked row by row: the binary label of the digit (0-4 -> 1), flipped
    where the row says label noise; the colour, that label flipped where it says colour flip; the image, the
    base digit (every other pixel for IRM's 14x14) in channel `colour` and zeros in the other; e as declared."""
    loaded, bases = dealt
    for name in ("coloredmnist", "coloredmnist/irm"):
        spec = BUILTIN.dataset(name)
        assert spec.environments is not None
        step = 2 if name.endswith("/irm") else 1
        seen = []
        for number, (split, ds) in enumerate(loaded[name].items()):
            meta = ds.metadata
            origin = [spec.environments.source[s] for s in meta["source_split"]]
            digits = np.array([bases[o].labels[i] for o, i in zip(origin, meta["source_index"])])
            base = np.stack([np.asarray(bases[o].images[i]) for o, i in zip(origin, meta["source_index"])])
            np.testing.assert_array_equal(meta["digit"], digits)
            np.testing.assert_array_equal(meta["environment"], number)
            np.testing.assert_array_equal(meta["e"], spec.environments.split(split).columns["e"])
            label = (digits < 5).astype(np.int64) ^ meta["label_noise"].astype(np.int64)
            np.testing.assert_array_equal(ds.labels, label)
            colour = label ^ meta["colour_flip"].astype(np.int64)
            np.testing.assert_array_equal(meta["colour"], colour)
            images = np.asarray(ds.images)
            assert images.shape == (len(ds), 28 // step, 28 // step, 2) and ds.classes == ["5-9", "0-4"]
            rows = np.arange(len(ds))
            np.testing.assert_array_equal(images[rows, :, :, colour], base[:, ::step, ::step])
            assert not images[rows, :, :, 1 - colour].any()
            seen += list(zip(origin, meta["source_index"].tolist()))
        covered = sum(len(bases[s]) for s in spec.environments.source)
        assert len(seen) == len(set(seen)) == covered


def test_variants_keep_the_base_rows(loaded):
    base = loaded["mnist"]
    for name in DIGIT_VARIANTS:
        ds = loaded[name]
        np.testing.assert_array_equal(ds.labels, base.labels)
        np.testing.assert_array_equal(ds.index, base.index)
        assert ds.images.dtype == np.uint8 and len(ds) == len(base)


# ----------------------------------------------------------------------------- exact values


def test_brightness(loaded):
    """MNIST-C: HSV value + 0.5, which for a grey image is x + 0.5 on [0, 1], clipped."""
    want = np.clip(_base(loaded) / 255 + 0.5, 0, 1) * 255
    assert np.abs(np.asarray(loaded["mnist-c/brightness"].images) - want).max() <= 0.5 + 1e-6


def test_stripe(loaded):
    """MNIST-C: the left and right quarters inverted, the middle kept."""
    x = _base(loaded)
    q = x.shape[2] // 4
    want = x.copy()
    want[:, :, :q] = 255 - x[:, :, :q]
    want[:, :, -q:] = 255 - x[:, :, -q:]
    np.testing.assert_array_equal(loaded["mnist-c/stripe"].images, want.astype(np.uint8))


def _shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(x)
    h, w = x.shape
    ys, xs = slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))
    out[ys, xs] = x[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def test_translate(loaded):
    """MNIST-C: every image moved by 3 pixels on each axis, each sign random, zeros shifted in."""
    x = np.asarray(loaded["mnist"].images)
    y = np.asarray(loaded["mnist-c/translate"].images)
    moves = [(dy, dx) for dy in (-3, 3) for dx in (-3, 3)]
    seen = set()
    for before, after in zip(x, y):
        found = [m for m in moves if np.array_equal(_shifted(before, *m), after)]
        assert found, "an image is not its base shifted by (+-3, +-3)"
        seen.update(found)
    assert len(seen) >= 2  # the signs are drawn per example


def test_deskewed(loaded):
    """A second implementation of LeCun et al.'s deskewing (moments, then a bilinear shear on scipy)."""
    from scipy import ndimage

    x = _base(loaded)
    n, h, w = x.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    want = np.empty_like(x)
    for i, image in enumerate(x):
        total = image.sum()
        if total == 0:
            want[i] = image
            continue
        cy, cx = (image * yy).sum() / total, (image * xx).sum() / total
        mu20 = (image * (yy - cy) ** 2).sum() / total
        mu11 = (image * (yy - cy) * (xx - cx)).sum() / total
        alpha = mu11 / mu20 if mu20 > 1e-9 else 0.0
        src_y = yy + cy - h / 2
        src_x = xx + alpha * (yy - h / 2) + cx - w / 2
        want[i] = ndimage.map_coordinates(image, [src_y, src_x], order=1, mode="grid-constant", cval=0.0)
    got = np.asarray(loaded["mnist/deskewed"].images).astype(np.float64)
    assert np.abs(got - np.clip(np.rint(want), 0, 255)).max() <= 1


# ----------------------------------------------------------------------------- invariants of random ones


def test_shot_noise(loaded):
    """MNIST-C: poisson(x * 3) / 3, clipped to 1: only the levels 0, 85, 170 and 255, the mean kept."""
    y = np.asarray(loaded["mnist-c/shot-noise"].images)
    assert set(np.unique(y)) <= {0, 85, 170, 255}
    assert abs(y.mean() - _base(loaded).clip(0, 255).mean()) < 0.1 * 255


def test_impulse_noise(loaded):
    """MNIST-C: salt and pepper on 17 % of the pixels: each pixel is kept, 0 or 255."""
    x, y = _base(loaded), np.asarray(loaded["mnist-c/impulse-noise"].images).astype(np.float64)
    assert ((y == x) | (y == 0) | (y == 255)).all()
    assert 0.10 < ((y != x) & (x != 0) & (x != 255)).mean() < 0.20


def test_canny_edges(loaded):
    assert set(np.unique(np.asarray(loaded["mnist-c/canny-edges"].images))) <= {0, 255}


@pytest.mark.parametrize("name", ["mnist-c/dotted-line", "mnist-c/zigzag"])
def test_strokes_only_add_ink(loaded, name):
    x, y = _base(loaded), np.asarray(loaded[name].images).astype(np.float64)
    assert (y >= x).all() and ((y > x).reshape(len(y), -1).any(axis=1)).mean() > 0.5


def test_dotted_line(loaded):
    test_strokes_only_add_ink(loaded, "mnist-c/dotted-line")


def test_zigzag(loaded):
    test_strokes_only_add_ink(loaded, "mnist-c/zigzag")


@pytest.mark.parametrize("name", ["mnist/elastic", "mnist-c/glass-blur", "mnist-c/motion-blur", "mnist-c/shear",
                                  "mnist-c/fog", "mnist-c/spatter"])
def test_resampling_variants_change_every_image_and_keep_its_ink_near(loaded, name):
    """The resampling and blurring corruptions move ink, they do not replace it: each image differs
    from its base and stays correlated with it (a chain applied to the wrong rows, or not at all,
    fails this)."""
    x = _base(loaded).reshape(len(loaded["mnist"]), -1)
    y = np.asarray(loaded[name].images).astype(np.float64).reshape(len(x), -1)
    assert (np.abs(y - x).max(axis=1) > 0).all(), f"{name}: some image is its base unchanged"
    shuffled = np.roll(x, 1, axis=0)  # the same images, each paired with another row's

    def mean_corr(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
        return float(((a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1) + 1e-12)).mean())

    assert mean_corr(x, y) > mean_corr(shuffled, y) + 0.05


def test_elastic(loaded):
    test_resampling_variants_change_every_image_and_keep_its_ink_near(loaded, "mnist/elastic")


def test_affine40(loaded):
    """RandomAffine onto a 40x40 canvas: every image is there, with its ink."""
    y = np.asarray(loaded["mnist/affine40"].images)
    assert y.shape[1:] == (40, 40) and (y.reshape(len(y), -1).max(axis=1) > 0).all()


def test_glass_blur(loaded):
    test_resampling_variants_change_every_image_and_keep_its_ink_near(loaded, "mnist-c/glass-blur")


def test_motion_blur(loaded):
    test_resampling_variants_change_every_image_and_keep_its_ink_near(loaded, "mnist-c/motion-blur")


def test_shear(loaded):
    test_resampling_variants_change_every_image_and_keep_its_ink_near(loaded, "mnist-c/shear")


def _bilinear(image: np.ndarray, src_y: np.ndarray, src_x: np.ndarray) -> np.ndarray:
    """scipy's bilinear sampling with zeros around the image: a second implementation of our sampler."""
    from scipy import ndimage

    return ndimage.map_coordinates(image, [src_y, src_x], order=1, mode="grid-constant", cval=0.0)


def test_scale(loaded):
    """MNIST-C: zoomed by 0.7 about the centre ((H-1)/2, (W-1)/2), bilinear."""
    x = _base(loaded)
    h, w = x.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    c = (h - 1) / 2
    want = np.stack([_bilinear(image, (yy - c) / 0.7 + c, (xx - c) / 0.7 + c) for image in x])
    got = np.asarray(loaded["mnist-c/scale"].images).astype(np.float64)
    assert np.abs(got - np.clip(np.rint(want), 0, 255)).max() <= 1


def test_rotate(loaded):
    """MNIST-C: rotated by 0.4 radians about the centre, the sign drawn per image, bilinear."""
    x = _base(loaded)
    h, w = x.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    c = (h - 1) / 2
    got = np.asarray(loaded["mnist-c/rotate"].images).astype(np.float64)
    angles = set()
    for image, after in zip(x, got):
        found = []
        for theta in (0.4, -0.4):
            cos, sin = np.cos(theta), np.sin(theta)
            want = _bilinear(image, cos * (yy - c) - sin * (xx - c) + c, sin * (yy - c) + cos * (xx - c) + c)
            if np.abs(after - np.clip(np.rint(want), 0, 255)).max() <= 1:
                found.append(theta)
        assert found, "an image is not its base rotated by +-0.4 radians"
        angles.update(found)
    assert angles == {0.4, -0.4}  # the sign is drawn per example


def test_fog(loaded):
    test_resampling_variants_change_every_image_and_keep_its_ink_near(loaded, "mnist-c/fog")


def test_spatter(loaded):
    test_resampling_variants_change_every_image_and_keep_its_ink_near(loaded, "mnist-c/spatter")


def test_8k(tmp_path):
    """audiomnist/8k: each row is its recording resampled by scipy's resample_poly (1 up, 6 down) in float64,
    placed whole somewhere in 8,000 samples of zeros (the place is random per example)."""
    from scipy.signal import resample_poly

    from mnistfamily.fetch import UnverifiedFileWarning

    (tmp_path / "served").mkdir()
    with serve_directory(tmp_path / "served") as server:
        mini = write_miniatures(tmp_path / "served", server.url, names=["audiomnist/8k"])
        with pytest.warns(UnverifiedFileWarning):
            net = mf.load("audiomnist/8k", "all", registry=mini.registry, data_dir=tmp_path / "cache",
                          allow_unverified=True)
            audio = mf.load("audiomnist", "all", registry=mini.registry, data_dir=tmp_path / "cache",
                            allow_unverified=True)
    assert net.images.shape == (len(audio), 8000) and net.sample_rate == 8000
    np.testing.assert_array_equal(net.labels, audio.labels)
    places = set()
    for row, recording in zip(net.images, audio.signals):
        expected = resample_poly(np.asarray(recording, np.float64), 1, 6).astype(np.float32)
        start = int(np.flatnonzero(row)[0])
        np.testing.assert_allclose(row[start:start + len(expected)], expected, rtol=0, atol=1e-6)
        assert not row[:start].any() and not row[start + len(expected):].any()
        places.add(start)
    assert len(places) > 1  # placed at random, not all at the start
