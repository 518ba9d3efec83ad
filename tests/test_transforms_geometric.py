"""Resampling transforms against independent references (scipy, PIL, np.rot90) on real digits.

Deskew must remove the skew moment of real MNIST digits; MNISTify must bring a real digit,
upscaled to 112x112, back close to the original; CenterOfMass must leave MNIST as it is.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import mnistfamily as mf
from mnistfamily import transforms as T
from mnistfamily.transforms import TransformError, _rng
from mnistfamily.transforms._sampling import bilinear, gaussian_matrix, shear_sample, smooth_batch


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return mf.load("mnist/sample", "test", data_dir=tmp_path_factory.mktemp("cache"))


def _map_coordinates(images: np.ndarray, src_y: np.ndarray, src_x: np.ndarray) -> np.ndarray:
    """scipy's bilinear over the whole batch as one 3-D coordinate array: the reference."""
    n = len(images)
    batch = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], src_y.shape)
    return ndimage.map_coordinates(images.astype(np.float32), [batch, src_y, src_x], order=1, mode="grid-constant")


def _skew(images: np.ndarray) -> np.ndarray:
    m = T.moments(images)
    return np.abs(m["mu11"] / m["mu20"])


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


# ----------------------------------------------------------------------------------------------
# the samplers


def test_bilinear_equals_map_coordinates_inside_and_outside(sample):
    rng = np.random.default_rng(0)
    x = sample.images[:200]
    src_y = rng.uniform(-3, 31, (200, 28, 28)).astype(np.float32)  # many points off the image
    src_x = rng.uniform(-3, 31, (200, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(bilinear(x, src_y, src_x), _map_coordinates(x, src_y, src_x), atol=2e-3)
    rgb = np.stack([x, 255 - x, x // 2], axis=-1)
    out = bilinear(rgb, src_y, src_x)
    np.testing.assert_allclose(out[..., 1], _map_coordinates(255 - x, src_y, src_x), atol=2e-3)


def test_shear_sampler_equals_map_coordinates(sample):
    rng = np.random.default_rng(1)
    x = sample.images[:300]
    dy = rng.uniform(-6, 6, 300)
    skew, dx = rng.uniform(-1.2, 1.2, 300), rng.uniform(-6, 6, 300)
    shift = skew[:, None] * (np.arange(28) - 14) + dx[:, None]
    src_y = np.broadcast_to((np.arange(28)[None, :] + dy[:, None])[:, :, None], (300, 28, 28)).astype(np.float32)
    src_x = (np.arange(28)[None, None, :] + shift[:, :, None]).astype(np.float32)
    np.testing.assert_allclose(shear_sample(x, dy, shift), _map_coordinates(x, src_y, src_x), atol=2e-3)
    rgb = np.stack([x, 255 - x, x // 2], axis=-1)  # channels share the geometry
    out = shear_sample(rgb, dy, shift)
    for c, plane in enumerate([x, 255 - x, x // 2]):
        np.testing.assert_array_equal(out[..., c], shear_sample(plane, dy, shift))


def test_gaussian_matrix_smoothing_is_scipys_gaussian_filter():
    fields = np.random.default_rng(2).uniform(-1, 1, (30, 2, 28, 28)).astype(np.float32)
    smoothed = smooth_batch(fields, gaussian_matrix(28, 4.0), gaussian_matrix(28, 4.0))
    reference = ndimage.gaussian_filter(fields, (0, 0, 4, 4), mode="constant")
    np.testing.assert_allclose(smoothed, reference, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Resize


@pytest.mark.parametrize("size", [7, 14, 20, (20, 33), 40, 112])
def test_resize_matches_pil_bilinear(size, sample):
    x = sample.images[:100]
    h, w = (size, size) if isinstance(size, int) else size
    ours = T.Resize(size)(x)
    pil = np.stack([np.asarray(Image.fromarray(im).resize((w, h), Image.BILINEAR)) for im in x])
    assert ours.shape == (100, h, w) and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - pil).max() <= 1  # PIL rounds fixed-point weights


def test_resize_float_and_channels(sample):
    f = T.ToFloat()(sample.images[:20])
    out = T.Resize(14)(f)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    rgb = np.stack([sample.images[:20]] * 3, axis=-1)
    np.testing.assert_array_equal(T.Resize(14)(rgb)[..., 2], T.Resize(14)(sample.images[:20]))
    with pytest.raises(TransformError, match=r"Resize: size must be an int or an \(height, width\) pair"):
        T.Resize(2.5)


# ----------------------------------------------------------------------------------------------
# RandomAffine


def test_affine_quarter_turns_are_rot90_exactly(sample):
    x = sample.images
    np.testing.assert_array_equal(T.RandomAffine(degrees=(90, 90), seed=0)(x), T.Rotate90(1)(x))
    np.testing.assert_array_equal(T.RandomAffine(degrees=(-90, -90), seed=0)(x), T.Rotate90(-1)(x))
    np.testing.assert_array_equal(T.RandomAffine(seed=0)(x), x)  # no range: the identity


def test_affine_canvas_centres_the_input(sample):
    # 28 -> 40 moves every pixel by exactly 6: the same bytes as padding
    x = sample.images
    np.testing.assert_array_equal(T.RandomAffine(size=40, seed=0)(x), T.Pad(6)(x))


def test_affine_matches_scipy_affine_transform_per_image(sample):
    t = T.RandomAffine(degrees=25, translate=(0.1, 0.1), scale=(0.8, 1.2), shear=15, anisotropic=True, seed=3)
    x = sample.images[:40]
    ours = t(x)
    p = t.parameters(np.arange(40))
    c = np.array([13.5, 13.5])
    for i in range(40):  # the forward map, inverted independently, per image (test only)
        th, sh = math.radians(p["degrees"][i]), math.tan(math.radians(p["shear"][i]))
        a_xy = np.array([[math.cos(th), math.sin(th)], [-math.sin(th), math.cos(th)]]) @ \
            np.array([[1, sh], [0, 1]]) @ np.diag([p["scale_x"][i], p["scale_y"][i]])
        swap = np.array([[0, 1], [1, 0]])
        inv_yx = swap @ np.linalg.inv(a_xy) @ swap
        shift = _translation_of(t, x[i:i + 1], i)
        offset = c - inv_yx @ (c + shift[::-1])
        ref = ndimage.affine_transform(x[i].astype(np.float64), inv_yx, offset=offset, order=1, mode="grid-constant")
        assert np.abs(ours[i].astype(int) - np.rint(np.clip(ref, 0, 255))).max() <= 1


def _translation_of(t: T.RandomAffine, image: np.ndarray, i: int) -> np.ndarray:
    u = _rng.uniform(t.seed, "RandomAffine.translate", np.array([i]), (2,))[0]
    return (2 * u - 1) * np.array([t.translate[0] * 28, t.translate[1] * 28])


def test_affine_parameters_stay_in_their_ranges():
    t = T.RandomAffine(degrees=(-5, 30), scale=(0.7, 0.9), shear=12, anisotropic=True, seed=9)
    p = t.parameters(np.arange(5000))
    assert -5 <= p["degrees"].min() < 0 < 25 < p["degrees"].max() <= 30
    assert 0.7 <= p["scale_x"].min() and p["scale_y"].max() <= 0.9 and not np.allclose(p["scale_x"], p["scale_y"])
    assert -12 <= p["shear"].min() and p["shear"].max() <= 12
    for bad, message in [({"degrees": (10, -10)}, "degrees range .* has low > high"),
                         ({"scale": (0, 1)}, "scale factors must be positive"),
                         ({"translate": (2, 0)}, "translate must be None, 'fit' or a pair of fractions"),
                         ({"shear": 95}, r"shear angles must be within \(-90, 90\)")]:
        with pytest.raises(TransformError, match=message):
            T.RandomAffine(**bad, seed=0)


def test_affnist_preset_keeps_digits_inside_the_40_pixel_canvas(sample):
    t = T.RandomAffine.affnist(seed=1)
    assert t.size == (40, 40) and t.translate == "fit" and t.anisotropic
    out = t(sample.images, index=sample.index)
    assert out.shape == (2000, 40, 40) and out.dtype == np.uint8
    border = np.concatenate([out[:, 0], out[:, -1], out[:, :, 0], out[:, :, -1]], axis=1)
    assert (border.max(axis=1) == 0).mean() > 0.99  # the ink box fits, so the edge stays black
    # the digit moves around: centres of mass spread over the canvas, unlike the input's
    m = T.moments(out)
    assert m["cx"].std() > 2.5 and m["cy"].std() > 2.5
    # ink is conserved up to the area change sx * sy
    p = t.parameters(sample.index)
    ratio = T.moments(out)["mass"] / T.moments(sample.images)["mass"] / (p["scale_x"] * p["scale_y"])
    assert abs(np.median(ratio) - 1) < 0.03


# ----------------------------------------------------------------------------------------------
# ElasticDistortion


def test_elastic_fields_are_simards_smoothed_uniform_noise(sample):
    t = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    index = sample.index[:50]
    d = t.displacements(index, (28, 28))
    raw = _rng.uniform(0, "ElasticDistortion", index, (2, 28, 28), -1.0, 1.0, dtype=np.float32)
    assert raw.min() >= -1 and raw.max() < 1 and abs(raw.mean()) < 0.01
    np.testing.assert_allclose(d, 34 * ndimage.gaussian_filter(raw, (0, 0, 4, 4), mode="constant"), atol=1e-4)
    # the expected spread of a smoothed U(-1, 1) field, 34 * sqrt(1/3 / (4 pi 16)) ~ 1.4 px in the middle
    assert 0.8 < d[:, :, 10:18, 10:18].std() < 2.0
    out = t(sample.images[:50], index=index)
    src_y = np.arange(28)[:, None] + d[:, 0]
    src_x = np.arange(28)[None, :] + d[:, 1]
    ref = np.rint(np.clip(_map_coordinates(sample.images[:50], src_y, src_x), 0, 255))
    assert np.abs(out.astype(int) - ref).max() <= 1


def test_elastic_changes_digits_but_keeps_them(sample):
    x = sample.images
    out = T.ElasticDistortion(alpha=34, sigma=4, seed=0)(x, index=sample.index)
    assert (out != x).any(axis=(1, 2)).all()
    assert np.median(_correlation(out, x)) > 0.6  # distorted, still the same digit
    np.testing.assert_array_equal(T.ElasticDistortion(alpha=0, sigma=4, seed=0)(x), x)


# ----------------------------------------------------------------------------------------------
# Deskew and CenterOfMass


def test_deskew_removes_the_skew_moment_of_real_digits(sample):
    x = sample.images
    before, out = _skew(x), T.Deskew()(x)
    after = _skew(out)
    assert before.mean() > 0.15  # real handwriting leans
    assert after.mean() < 0.05 * before.mean()
    assert (after < 0.05).mean() > 0.99
    m = T.moments(out)  # and the centre of mass moves to (14, 14), MNIST's convention
    assert np.abs(m["cy"] - 14).max() < 0.2 and np.abs(m["cx"] - 14).max() < 0.2
    assert out.dtype == np.uint8 and out.shape == x.shape


def test_deskew_equals_the_classic_per_image_implementation(sample):
    # the well-known scipy version: affine_transform with [[1, 0], [alpha, 1]] about the centre of mass
    x = sample.images[:60]
    ours = T.Deskew()(x)
    for i in range(60):
        m = T.moments(x[i:i + 1])
        c = np.array([m["cy"][0], m["cx"][0]])
        matrix = np.array([[1.0, 0.0], [m["mu11"][0] / m["mu20"][0], 1.0]])
        ref = ndimage.affine_transform(x[i].astype(np.float64), matrix, offset=c - matrix @ [14.0, 14.0], order=1,
                                       mode="grid-constant")
        assert np.abs(ours[i].astype(int) - np.rint(np.clip(ref, 0, 255))).max() <= 1


def test_deskew_leaves_an_upright_centred_stroke_and_blank_images_alone():
    bar = np.zeros((2, 28, 28), np.uint8)
    bar[0, 4:25, 13:16] = 255  # centre of mass (14, 14), no lean
    np.testing.assert_array_equal(T.Deskew()(bar), bar)


def test_center_of_mass_keeps_mnist_and_recentres_shifted_digits(sample):
    x = sample.images
    np.testing.assert_array_equal(T.CenterOfMass()(x), x)  # MNIST's digits are centred this way
    moved = np.zeros_like(x)
    moved[:, 2:, :25] = x[:, :26, 3:]  # 2 down, 3 left
    fits = (x[:, 26:].max(axis=(1, 2)) == 0) & (x[:, :, :3].max(axis=(1, 2)) == 0)
    np.testing.assert_array_equal(T.CenterOfMass()(moved)[fits], x[fits])
    sub = T.CenterOfMass(subpixel=True)(moved)
    m = T.moments(sub[fits])
    assert np.abs(m["cy"] - 14).max() < 0.1 and np.abs(m["cx"] - 14).max() < 0.1


# ----------------------------------------------------------------------------------------------
# MNISTify


def test_mnistify_round_trip_of_upscaled_real_digits(sample):
    """A real digit upscaled 4x (bilinear, to 112x112) and MNISTified comes back close.

    Metric: Pearson correlation between the original and the result over the 784 pixels.
    MNISTify centres by whole pixels, so a digit whose centre of mass sits near a half pixel
    can land one pixel over; the second figure allows that one-pixel shift. Measured on the
    2,000 sample digits: median 0.984 and mean 0.963 unshifted; with the shift mean 0.980,
    1st percentile 0.93, worst 0.86. The thresholds below leave a margin.
    """
    x = sample.images
    big = T.Resize(112)(x)
    assert big.shape == (2000, 112, 112)
    back = T.MNISTify()(big)
    assert back.shape == (2000, 28, 28) and back.dtype == np.uint8
    unshifted = _correlation(x, back)
    shifts = [np.roll(back, (dy, dx), axis=(1, 2)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    best = np.max([_correlation(x, s) for s in shifts], axis=0)
    assert np.median(unshifted) >= 0.97 and unshifted.mean() >= 0.95
    assert best.mean() >= 0.97 and np.quantile(best, 0.01) >= 0.9 and best.min() >= 0.8
    # MNIST's own invariants: the longest side of the ink box is 20, the centre of mass at 14 +- 0.5
    # (give or take the rounding to grey levels after centring)
    ink = back > 0
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    height = 28 - rows.argmax(axis=1) - rows[:, ::-1].argmax(axis=1)
    width = 28 - cols.argmax(axis=1) - cols[:, ::-1].argmax(axis=1)
    assert (np.maximum(height, width) == 20).mean() > 0.99
    m = T.moments(back)
    assert np.abs(m["cy"] - 14).max() <= 0.51 and np.abs(m["cx"] - 14).max() <= 0.51


def test_mnistify_undoes_pixel_replication_byte_for_byte(sample):
    # area anti-aliasing averages each 4x4 block back: most digits return identical
    # (the rest are rescaled slightly, their >0 ink box not being exactly MNIST's 20 pixels)
    x = sample.images
    back = T.MNISTify(threshold=0)(np.repeat(np.repeat(x, 4, axis=1), 4, axis=2))
    assert (back == x).all(axis=(1, 2)).mean() > 0.75


def test_mnistify_handles_photos_of_any_size_shape_and_polarity():
    page = np.full((300, 150), 250, np.uint8)  # dark ink on light paper, not square
    page[40:240, 60:100] = 10                   # a tall bar, aspect 5:1
    out = T.MNISTify()(page[None])[0]
    assert out[0, 0] == 0 and out.max() >= 230  # inverted: white ink on black
    rows, cols = np.flatnonzero((out > 127).any(axis=1)), np.flatnonzero((out > 127).any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20 and 3 <= cols[-1] - cols[0] + 1 <= 5  # fitted to 20, aspect kept
    many = T.MNISTify()([page, page[:200, :100] > 128, np.ones((60, 90), np.float32) * 0.9 - (page[:60, :90] > 0)])
    assert many.shape == (3, 28, 28) and many.dtype == np.uint8
    np.testing.assert_array_equal(many[0], out)
    rgb = np.stack([page] * 3, axis=-1)[None]
    np.testing.assert_array_equal(T.MNISTify()(rgb)[0], out)
    blank = T.MNISTify()(np.zeros((2, 50, 50), np.float32))
    assert blank.dtype == np.float32 and not blank.any()
    with pytest.raises(TransformError, match="MNISTify: need integers 0 < box <= size"):
        T.MNISTify(box=30, size=28)


# ----------------------------------------------------------------------------------------------
# real data: the full MNIST train split


def _real_train() -> np.ndarray:
    folder = os.environ.get("MNISTFAMILY_REALDATA")
    path = Path(folder or "") / "mnist-kaggle-layout" / "train-images.idx3-ubyte"
    if not folder or not path.is_file():
        pytest.skip("MNISTFAMILY_REALDATA is not set to the folder of real files")
    return mf.read_idx(path)


@pytest.mark.realdata
def test_deskew_on_the_full_train_split():
    x = _real_train()
    assert x.shape == (60000, 28, 28)
    before, after = _skew(x), _skew(T.Deskew()(x))
    assert after.mean() < 0.05 * before.mean() and (after < 0.05).mean() > 0.99


@pytest.mark.realdata
def test_real_train_digits_are_centred_and_bytes_are_batch_independent():
    x = _real_train()
    # 2 of the 60,000 have a centre of mass just outside [13.5, 14.5): MNIST's centring rounded differently
    assert (T.CenterOfMass()(x) != x).any(axis=(1, 2)).sum() <= 2
    t = T.Compose([T.Deskew(), T.ElasticDistortion(alpha=34, sigma=4, seed=0)])
    x, index = x[40000:], np.arange(40000, 60000)
    whole = T.apply_in_chunks(t, x, index, chunk_size=7000)
    for start, stop in [(0, 1), (11337, 11344), (19990, 20000)]:
        np.testing.assert_array_equal(t(x[start:stop], index=index[start:stop]), whole[start:stop])
