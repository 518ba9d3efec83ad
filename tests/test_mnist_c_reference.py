"""MNIST-C as its authors made it: our corruptions against outputs of google-research/mnist-c's code.

tests/data/mnist_c/ holds what the authors' ``corruptions.py`` (commit bba57e4, with the library
versions of its time) produced on real MNIST test digits (see its README): outputs for 100 digits
for the corruptions that are a function of the digit and a few drawn numbers, and statistics over
1,000 digits for the five that draw noise per pixel. benchmarks/mnist_c_reference.py makes them,
benchmarks/mnist_c_compare.py prints the full comparison.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import transforms as T
from mnistfamily.transforms import TransformError, _rng

DATA = Path(__file__).parent / "data" / "mnist_c"
DETERMINISTIC = ("scale", "brightness", "stripe", "canny_edges")
PARAMETRIC = ("motion_blur", "shear", "rotate", "translate", "dotted_line", "zigzag")
RANDOM = ("shot_noise", "impulse_noise", "glass_blur", "fog", "spatter")


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "reference.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def reference_statistics():
    return json.loads((DATA / "statistics.json").read_text())["statistics"]


def ours(reference, name):
    t = T.mnist_c(seed=0)[name]
    drawn = {key.split(".", 1)[1]: reference[key] for key in reference if key.startswith(f"{name}.")}
    if name in PARAMETRIC:
        return t.with_parameters(reference["clean"], **drawn)
    assert not drawn
    return t(reference["clean"], index=reference["index"])


def statistics(clean: np.ndarray, corrupted: np.ndarray) -> dict[str, float]:
    """The statistics of benchmarks/mnist_c_reference.py, on uint8 images."""
    x = clean.reshape(len(clean), -1).astype(np.float64)
    y = corrupted.reshape(len(clean), -1).astype(np.float64)
    xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    corr = (xc * yc).sum(axis=1) / np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    return {"corr": float(corr.mean()), "std": float(y.std(axis=1).mean()), "changed": float((y != x).mean())}


# ----------------------------------------------------------------------------------------------
# digit by digit


def test_the_fixtures_are_real_mnist_test_digits(reference, sample):
    # the sample holds some of the same test digits: they must be the same bytes
    positions = {int(p): i for i, p in enumerate(reference["index"])}
    shared = [(positions[int(p)], i) for i, p in enumerate(sample.index) if int(p) in positions]
    assert len(shared) >= 10
    for ours_at, sample_at in shared:
        np.testing.assert_array_equal(reference["clean"][ours_at], sample.images[sample_at])


@pytest.mark.parametrize("name", DETERMINISTIC + PARAMETRIC)
def test_corruption_equals_the_reference_within_one_grey_level(name, reference):
    mine = ours(reference, name).astype(int)
    theirs = reference[name].astype(int)
    within = (np.abs(mine - theirs).max(axis=(1, 2)) <= 1).mean()
    assert within >= 0.98, f"{name}: {within:.0%} of the digits within 1 grey level of MNIST-C's"
    assert (mine == theirs).mean() > 0.98, name


@pytest.mark.parametrize("name", ["motion_blur", "canny_edges", "zigzag", "dotted_line"])
def test_corruption_is_the_reference_bit_for_bit(name, reference):
    # the arithmetic follows the reference's to the operation: ImageMagick's motion blur (edge
    # pixels beyond the border, 16-bit sum truncated to 8 bits), scikit-image's interpolated
    # non-maximum suppression, the zigzag's last vertex where the reference's formula puts it
    mine, theirs = ours(reference, name), reference[name]
    assert (mine == theirs).mean() > 0.999, f"{name}: {(mine != theirs).sum()} pixels differ"
    assert np.abs(mine.astype(int) - theirs).max() <= 1


def test_motion_blur_repeats_the_edge_beyond_the_border():
    # ImageMagick's "edge" virtual pixels: a flat image stays flat up to the border (zero
    # padding would darken the border by up to the whole weight of the taps outside)
    flat = np.full((3, 28, 28), 200, np.uint8)
    out = T.MotionBlur(seed=0).with_parameters(flat, degrees=[0.0, 33.0, -45.0])
    assert (out == 199).all() or (out == 200).all()
    ink = np.zeros((1, 28, 28), np.uint8)
    ink[0, :, -3:] = 255  # ink touching the right border, blurred towards it
    trail = T.MotionBlur(seed=0).with_parameters(ink, degrees=[0.0])[0]
    assert (trail[:, -3:] >= 254).all()


def test_motion_blur_truncates_imagemagicks_16_bit_sum_to_8_bits():
    dot = np.zeros((1, 28, 28), np.uint8)
    dot[0, 14, 24] = 255
    t = T.MotionBlur(seed=0)
    trail = t.with_parameters(dot, degrees=[0.0])[0, 14, 24 - len(t.kernel()) + 1:25][::-1]
    quanta = np.floor(t.kernel() * 65535.0 + 0.5)  # ClampToQuantum of each tap's share
    expected = np.floor(quanta / 257.0)  # the 8-bit PNG: truncated, not rounded
    np.testing.assert_array_equal(trail, expected)
    assert (np.rint(t.kernel() * 255.0) != expected).any()  # rounding would differ


# ----------------------------------------------------------------------------------------------
# in distribution: the five that draw noise for every pixel


@pytest.mark.realdata
@pytest.mark.parametrize("name", RANDOM)
def test_random_corruption_matches_the_reference_statistics(name, reference_statistics, realdata):
    images = mf.read_idx(realdata / "mnist" / "t10k-images-idx3-ubyte.gz")[:1000]
    mine = statistics(images, T.mnist_c(seed=0)[name](images, index=np.arange(1000)))
    theirs = reference_statistics[name]
    corr_tolerance = {"fog": 0.05, "glass_blur": 0.02}.get(name, 0.02)
    assert abs(mine["corr"] - theirs["corr"]) <= corr_tolerance, (name, mine, theirs)
    assert abs(mine["std"] / theirs["std"] - 1) <= 0.25, (name, mine, theirs)
    assert abs(mine["changed"] - theirs["changed"]) <= 0.02, (name, mine, theirs)


def test_fog_is_the_whole_map_normalised_then_cropped():
    # computing only the crop and the cells that can hold the extremes gives the same bits
    # as the whole 256x256 map
    for fog, shape in ((T.Fog(seed=0), (28, 28)), (T.Fog(decay=1.7, map_size=64, seed=3), (40, 36)),
                       (T.Fog(decay=3.0, map_size=16, seed=1), (16, 16))):
        index = np.arange(25) * 97
        whole = fog.plasma_map(index)
        low, high = whole.min(axis=(1, 2), keepdims=True), whole.max(axis=(1, 2), keepdims=True)
        expected = ((whole - low) / (high - low))[:, :shape[0], :shape[1]]
        np.testing.assert_array_equal(fog.fractal(index, shape), expected)


def test_fog_crops_span_part_of_the_range_like_mnist_c():
    crops = T.Fog(seed=0).fractal(np.arange(300), (28, 28))
    span = crops.max(axis=(1, 2)) - crops.min(axis=(1, 2))
    assert 0.2 < span.mean() < 0.4 and span.max() < 0.9  # MNIST-C: 0.29 on average
    level = crops.mean(axis=(1, 2))
    assert level.std() > 0.1  # the haze's density varies from image to image


def _sequential_swaps(x: np.ndarray, seed: int, index: np.ndarray, max_delta: int, iterations: int) -> np.ndarray:
    """MNIST-C's swap loop, one pixel at a time, with GlassBlur's random numbers."""
    x = x.copy()
    n, h, w = x.shape
    d = max_delta
    rows, cols = list(range(h - d, d, -1)), list(range(w - d, d, -1))
    for it in range(iterations):
        u = _rng.uniform(seed, f"GlassBlur.{it}", index, (3, len(rows) * len(cols)), dtype=np.float32)
        for k in range(n):
            for i, r in enumerate(rows):
                for j, c in enumerate(cols):
                    p = i * len(cols) + j
                    if u[k, 0, p] < 0.5:
                        dy = int(math.floor(u[k, 1, p] * 2 * d)) - d
                        dx = int(math.floor(u[k, 2, p] * 2 * d)) - d
                        x[k, r, c], x[k, r + dy, c + dx] = x[k, r + dy, c + dx], x[k, r, c]
    return x


@pytest.mark.parametrize("max_delta, iterations", [(1, 2), (2, 1), (3, 2)])
def test_glass_blur_swaps_are_the_references_sequential_loop(max_delta, iterations):
    ids = np.broadcast_to(np.arange(28 * 28, dtype=np.float64).reshape(28, 28), (6, 28, 28)).copy()
    index = np.arange(6) + 40
    t = T.GlassBlur(max_delta=max_delta, iterations=iterations, seed=4)
    swapped = ids.copy()
    t._swap(swapped, index)
    np.testing.assert_array_equal(swapped, _sequential_swaps(ids, 4, index, max_delta, iterations))


def test_glass_blur_values_travel_as_in_mnist_c():
    # MNIST-C's own loop with numpy's generator, on 100 images: 69.5% of the values move, by
    # 1.54 px on average (Euclidean), 5.0% of them by 3 px or more, up to 11 px
    ids = np.broadcast_to(np.arange(28 * 28, dtype=np.float64).reshape(28, 28), (400, 28, 28)).copy()
    T.GlassBlur(seed=0)._swap(ids, np.arange(400))
    origin_y, origin_x = np.divmod(ids.astype(int), 28)
    distance = np.hypot(origin_y - np.arange(28)[:, None], origin_x - np.arange(28))
    moved = distance[distance > 0]
    assert sorted(set(ids.ravel().astype(int).tolist())) == list(range(784))  # swapped, never copied
    assert 0.65 < (distance > 0).mean() < 0.75
    assert 1.45 < moved.mean() < 1.65 and 0.04 < (moved >= 3).mean() < 0.06 and moved.max() >= 6  # carried along
    assert (ids[:, 0] == np.arange(28)).all() and (ids[:, :, 0] == np.arange(0, 784, 28)).all()  # row/col 0 stay


def test_glass_blur_blurs_along_the_columns_only_unless_asked():
    line = np.zeros((1, 28, 28), np.uint8)
    line[0, 14, :] = 255  # a horizontal line: MNIST-C's blur spreads it up and down only
    dot = np.zeros((1, 28, 28), np.uint8)
    dot[0, 14, 14] = 255
    vertical = T.GlassBlur(iterations=0, seed=0)(dot)[0]
    both = T.GlassBlur(iterations=0, blur="both", seed=0)(dot)[0]
    assert vertical[:, 13].max() == 0 and vertical[:, 15].max() == 0 and vertical[13, 14] > 0
    assert both[14, 13] > 0 and both[13, 14] > 0
    assert T.GlassBlur(iterations=0, seed=0)(line)[0, 14].min() > 0
    with pytest.raises(TransformError, match="GlassBlur: blur is 'vertical'"):
        T.GlassBlur(blur="horizontal", seed=0)


# ----------------------------------------------------------------------------------------------
# parameters, errors, caches


def test_parameters_are_drawn_per_example_and_can_be_given(sample):
    x, index = sample.images[:20], sample.index[:20]
    for name in PARAMETRIC:
        t = T.mnist_c(seed=0)[name]
        drawn = t.parameters(index)
        np.testing.assert_array_equal(t.with_parameters(x, **drawn), t(x, index=index))
        reversed_ = t.parameters(index[::-1])
        for key in drawn:
            np.testing.assert_array_equal(reversed_[key], drawn[key][::-1])
    assert T.MotionBlur(seed=0).parameters(np.arange(1000))["degrees"].min() >= -45
    assert T.Scale().parameters(index) == {} and T.Scale().with_parameters(x).shape == x.shape
    empty = T.Zigzag(seed=0).with_parameters(x[:0], r0=[], slope=[])
    assert empty.shape == (0, 28, 28) and empty.dtype == np.uint8


def test_with_parameters_errors_name_the_problem(sample):
    x = sample.images[:3]
    with pytest.raises(TransformError, match="MotionBlur.with_parameters takes degrees, found angle"):
        T.MotionBlur(seed=0).with_parameters(x, angle=[1, 2, 3])
    with pytest.raises(TransformError, match=r"Zigzag.with_parameters: r0 needs one value per image, shape \(3,\)"):
        T.Zigzag(seed=0).with_parameters(x, r0=[1, 2], slope=[0, 0, 0])
    with pytest.raises(TransformError, match="Fog draws noise for every pixel"):
        T.Fog(seed=0).with_parameters(x)


def test_fog_errors_say_what_to_pass():
    with pytest.raises(TransformError, match="Fog: map_size must be a power of two of at least 8"):
        T.Fog(map_size=100, seed=0)
    with pytest.raises(TransformError, match="do not fit in the 32x32 plasma map; pass map_size=64"):
        T.Fog(map_size=32, seed=0)(np.zeros((1, 40, 40), np.uint8))
    with pytest.raises(TransformError, match="MotionBlur: need radius > 0"):
        T.MotionBlur(radius=0, seed=0)


def test_mnist_c_variants_made_by_the_previous_algorithms_are_not_reused():
    from mnistfamily.prepare.cache import entry_key
    from mnistfamily.prepare.variant import variant_recipe
    from mnistfamily.registry import get_registry

    spec = get_registry().dataset("mnist-c/fog")
    recipe = variant_recipe(spec, spec.splits["test"], {"dataset": "mnist"})
    assert recipe["algorithms"] == T.ALGORITHMS_VERSION >= 2
    assert entry_key(recipe) != entry_key({**recipe, "algorithms": 1})


@pytest.mark.parametrize("module", ["blurs", "canny", "fog", "warps", "strokes", "corruptions"])
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)
    mod = importlib.import_module(f"mnistfamily.transforms.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, report=True)
    assert result.attempted > 0 and result.failed == 0, f"{result.failed} example(s) of {mod.__name__} failed"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return mf.load("mnist/sample", "test", data_dir=tmp_path_factory.mktemp("cache"))
