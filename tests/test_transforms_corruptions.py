"""MNIST-C corruptions: each changes real digits the way its name says, keeps shape and dtype,
and draws per example (same bytes alone or in a batch)."""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import transforms as T
from mnistfamily.transforms import TransformError


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return mf.load("mnist/sample", "test", data_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def corrupted(sample):
    """Every MNIST-C corruption applied once to the 2,000 sample digits."""
    return {name: t(sample.images, index=sample.index) for name, t in T.mnist_c(seed=0).items()}


def test_the_fifteen_mnist_c_corruptions():
    assert T.MNIST_C == ("shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate",
                         "brightness", "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges")
    c = T.mnist_c(seed=3)
    assert tuple(c) == T.MNIST_C
    assert all(t.spec().get("seed", 3) == 3 for t in c.values())


@pytest.mark.parametrize("name", T.MNIST_C)
def test_corruption_changes_images_but_keeps_shape_dtype_and_range(name, sample, corrupted):
    x, out = sample.images, corrupted[name]
    assert out.shape == x.shape and out.dtype == np.uint8
    changed = (out != x).any(axis=(1, 2))
    assert changed.mean() > 0.95, f"{name} left {(~changed).sum()} of 2000 digits untouched"
    t = T.mnist_c(seed=0)[name]
    f = t(T.ToFloat()(x[:50]), index=sample.index[:50])  # float in, float32 on [0, 1] out
    assert f.dtype == np.float32 and f.min() >= 0 and f.max() <= 1
    assert np.abs(f * 255 - out[:50]).max() <= 1.0


@pytest.mark.parametrize("name", T.MNIST_C)
def test_corruption_bytes_do_not_depend_on_the_batch(name, sample, corrupted):
    t = T.mnist_c(seed=0)[name]
    for i in (0, 777, 1999):  # batch size 1
        np.testing.assert_array_equal(t(sample.images[i:i + 1], index=sample.index[i:i + 1])[0], corrupted[name][i])
    sevens = np.concatenate([t(sample.images[i:i + 7], index=sample.index[i:i + 7]) for i in range(0, 70, 7)])
    np.testing.assert_array_equal(sevens, corrupted[name][:70])


def test_channels_are_corrupted_alike(sample):
    rgb = np.stack([sample.images[:30]] * 3, axis=-1)
    for name in ("zigzag", "motion_blur", "fog"):
        out = T.mnist_c(seed=0)[name](rgb, index=sample.index[:30])
        assert out.shape == rgb.shape
        np.testing.assert_array_equal(out[..., 0], out[..., 2])
        np.testing.assert_array_equal(out[..., 0], T.mnist_c(seed=0)[name](sample.images[:30], index=sample.index[:30]))


# ----------------------------------------------------------------------------------------------
# each one does what it says


def test_noise_corruptions(sample, corrupted):
    grey = np.full((500, 28, 28), 0.2, np.float32)  # rate 3: 0.6 photons a pixel, rarely clipped at 1
    shot = T.ShotNoise(rate=3, seed=0)(grey)
    assert abs(shot.mean() - 0.2) < 0.005  # Poisson noise is unbiased ...
    assert abs(shot.var() - 0.2 / 3) < 0.005  # ... with variance x / rate
    assert set(np.unique(np.rint(shot * 3)).tolist()) <= {0, 1, 2, 3}  # counts / rate, clipped at 1
    f = T.ToFloat()(sample.images)
    assert (T.ShotNoise(rate=3, seed=0)(f)[f == 0] == 0).all()  # no light, no photons
    np.testing.assert_allclose(T.ShotNoise(rate=1e4, seed=0)(f[:100]), f[:100], atol=0.05)  # many photons: little noise
    hits = T.ImpulseNoise(amount=0.17, seed=0)(np.full((200, 28, 28), 128, np.uint8))
    assert abs((hits == 255).mean() - 0.085) < 0.005 and abs((hits == 0).mean() - 0.085) < 0.005
    assert set(np.unique(hits).tolist()) == {0, 128, 255}
    with pytest.raises(TransformError, match="ImpulseNoise: amount is a fraction in"):
        T.ImpulseNoise(amount=2, seed=0)


def test_blur_corruptions_spread_ink_without_adding_much(sample, corrupted):
    x = sample.images.astype(np.float64)
    for name in ("glass_blur", "motion_blur"):
        out = corrupted[name].astype(np.float64)
        assert 0.8 < out.sum() / x.sum() < 1.05, name  # ink is moved, not created
        assert (out > 0).sum() > 1.1 * (x > 0).sum(), name  # and spread over more pixels
    # a single dot becomes a streak: the weights along the direction are a one-sided Gaussian
    # (ImageMagick averages the pixels ahead along the angle, so the streak trails behind the dot)
    dot = np.zeros((1, 28, 28), np.uint8)
    dot[0, 14, 20] = 255
    streak = T.MotionBlur(radius=10, sigma=3, max_degrees=0, seed=0)(dot)[0]
    assert (streak[14, :21] > 0).sum() >= 8 and streak[14, 21:].max() == 0 and streak[13].max() == 0
    assert streak[14, 20] > streak[14, 16] > streak[14, 12]


def test_affine_corruptions(sample, corrupted):
    x = sample.images
    # translate: every digit moved by 3 pixels on both axes, each way at random
    moved = corrupted["translate"]
    m0, m1 = T.moments(x), T.moments(moved)
    inside = (x[:, :3].max(axis=(1, 2)) == 0) & (x[:, 25:].max(axis=(1, 2)) == 0) & \
        (x[:, :, :3].max(axis=(1, 2)) == 0) & (x[:, :, 25:].max(axis=(1, 2)) == 0)
    np.testing.assert_allclose(np.abs(m1["cy"] - m0["cy"])[inside], 3, atol=1e-6)
    np.testing.assert_allclose(np.abs(m1["cx"] - m0["cx"])[inside], 3, atol=1e-6)
    assert 0.3 < (m1["cx"] > m0["cx"]).mean() < 0.7  # both signs
    # scale: 0.7 of the size, about the centre
    shrunk = corrupted["scale"]
    spread = lambda m: np.sqrt(m["mu20"] + m["mu02"])  # noqa: E731
    assert abs(np.median(spread(T.moments(shrunk)) / spread(m0)) - 0.7) < 0.05
    np.testing.assert_array_equal(T.Scale(1.0)(x), x)
    # rotate: 0.4 rad either way, which turns the principal axis by that much
    angle = lambda m: 0.5 * np.arctan2(2 * m["mu11"], m["mu02"] - m["mu20"])  # noqa: E731
    turned = np.abs(angle(T.moments(corrupted["rotate"])) - angle(m0))
    elongated = (m0["mu20"] > 2 * m0["mu02"])  # a clear principal axis (ones, sevens)
    assert abs(np.median(turned[elongated]) - 0.4) < 0.08
    # shear: rows slide sideways in proportion to their height
    skew = lambda m: m["mu11"] / m["mu20"]  # noqa: E731
    assert np.median(np.abs(skew(T.moments(corrupted["shear"])) - skew(m0))) > 0.25


def test_intensity_corruptions(sample, corrupted):
    x = sample.images.astype(int)
    assert np.abs(corrupted["brightness"] - np.minimum(x + 127.5, 255)).max() <= 0.5  # + 0.5 of full scale
    stripe = corrupted["stripe"]
    np.testing.assert_array_equal(stripe[:, :, 7:21], sample.images[:, :, 7:21])
    np.testing.assert_array_equal(stripe[:, :, :7], 255 - sample.images[:, :, :7])
    np.testing.assert_array_equal(T.Stripe()(stripe), sample.images)  # its own inverse
    fog = corrupted["fog"].astype(int)
    veil = np.array([f[c == 0].mean() for f, c in zip(fog, x)])  # the background, lifted by a grey veil
    assert 80 < veil.mean() < 115 and np.percentile(veil, 95) - np.percentile(veil, 5) > 80  # of varying density
    assert 15 < fog.std(axis=(1, 2)).mean() < 30  # thin: MNIST-C's crops span ~0.29 of the map's range
    fractal = T.Fog(seed=0).fractal(sample.index[:20], (28, 28))
    assert fractal.min() >= 0 and fractal.max() <= 1 and fractal.std() > 0.1
    spatter = corrupted["spatter"]
    mud = (spatter != sample.images) & (sample.images == 0)
    assert mud.any(axis=(1, 2)).mean() > 0.5 and spatter[mud].max() <= 63  # grey mud, never brighter


def test_line_corruptions_only_add_ink(sample, corrupted):
    x = sample.images
    for name in ("dotted_line", "zigzag"):
        out = corrupted[name]
        assert (out >= x).all(), name
        added = (out.astype(int) - x) > 0
        assert added.any(axis=(1, 2)).mean() > 0.95, name
    dotted = corrupted["dotted_line"].astype(int) - x
    assert dotted[:, :, (np.arange(28) // 2) % 2 == 0].max() == 0  # the gaps of the dots
    blank = np.zeros((200, 28, 28), np.uint8)
    zig = T.Zigzag(seed=0)(blank) > 0
    columns = zig.any(axis=1)
    assert not columns[:, :2].any() and not columns[:, 26:].any()  # from column 2 to 25 ...
    assert columns[:, 2:25].mean() > 0.95  # ... unless it leaves the image at the top or bottom
    rows_per_column = zig.sum(axis=1)[:, 5:22]
    assert rows_per_column.max() >= 3  # it zigzags: diagonal strokes cover several rows


def test_canny_edges_outline_shapes(sample, corrupted):
    square = np.zeros((1, 28, 28), np.uint8)
    square[0, 8:20, 8:20] = 255
    edges = T.CannyEdges()(square)[0]
    assert set(np.unique(edges).tolist()) == {0, 255}
    on = np.argwhere(edges > 0)
    assert on[:, 0].min() >= 6 and on[:, 0].max() <= 21 and on[:, 1].min() >= 6 and on[:, 1].max() <= 21
    assert edges[11:17, 11:17].max() == 0  # the inside is not an edge
    assert (edges[8:20, 8:20] > 0).sum() >= 30  # a closed outline
    out = corrupted["canny_edges"]
    assert set(np.unique(out).tolist()) <= {0, 255}
    thin = (out > 0).sum(axis=(1, 2)) < (sample.images > 0).sum(axis=(1, 2)) * 1.5
    assert thin.mean() > 0.9
    with pytest.raises(TransformError, match=r"CannyEdges: low \(0.3\) must not exceed high \(0.2\)"):
        T.CannyEdges(low=0.3, high=0.2)
