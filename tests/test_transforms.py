"""Transforms: the protocol (specs, repr, errors), determinism per example, chunking, basic transforms.

Every random transform must give the same bytes for an example whatever the batch it is in
(1, 7 or 10,000 examples), the chunking, the thread count and its position in the batch.
Images are the embedded 2,000-digit sample of real MNIST.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import transforms as T
from mnistfamily.transforms import TransformError


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    # module-scoped: load once, into a cache of our own (the autouse cache is per test)
    return mf.load("mnist/sample", "test", data_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def big(sample):
    """10,000 real digits (the sample five times) with distinct split positions."""
    images = np.concatenate([sample.images] * 5)
    index = np.concatenate([sample.index + 10_000 * k for k in range(5)])
    return images, index


#: one instance of every registered transform, with non-default parameters where it has any;
#: test_every_transform_is_covered fails when a new transform is not listed here
EXAMPLES: dict[str, T.Transform] = {t.spec()["name"]: t for t in [
    T.ToFloat(), T.Normalize(mean=0.2, std=0.4), T.Pad((1, 2, 3, 4), fill=9), T.CenterCrop((20, 24)),
    T.Invert(), T.Binarize(0.4), T.Transpose(), T.Rotate90(3), T.Flip("vertical"),
    T.GaussianNoise(std=0.2, seed=5, clip=True),
    T.Resize((20, 24), antialias=False), T.ElasticDistortion(alpha=20, sigma=3, seed=5),
    T.RandomAffine(degrees=(-10, 30), translate=(0.1, 0.2), scale=(0.8, 1.1), shear=7, anisotropic=True,
                   size=(32, 30), seed=5),
    T.Deskew(), T.CenterOfMass(subpixel=True), T.MNISTify(box=16, size=24, threshold=0.2, invert=False),
    T.RotateDegrees(20, interpolation="bilinear"),
    T.ShotNoise(rate=10, seed=5), T.ImpulseNoise(amount=0.1, seed=5),
    T.GlassBlur(sigma=0.9, max_delta=2, iterations=1, seed=5), T.MotionBlur(radius=6, sigma=2, max_degrees=30, seed=5),
    T.Shear(radians=0.3, seed=5), T.Scale(factor=0.8), T.Rotate(radians=0.3, seed=5), T.Brightness(0.3),
    T.Translate(pixels=2, seed=5), T.Stripe(), T.Fog(amount=2.0, decay=1.7, seed=5),
    T.Spatter(mean=0.6, std=0.3, sigma=1.5, threshold=0.6, mask_sigma=1.0, seed=5),
    T.DottedLine(seed=5), T.Zigzag(seed=5), T.CannyEdges(sigma=1.5, low=0.05, high=0.25),
    T.ToChannels([1.0, 0.5]), T.ToGray(weights=[0.5, 0.25, 0.25]),
]}


def _input(t: T.Transform, grey: np.ndarray) -> np.ndarray:
    """The sample's grey digits, as RGB for a transform that takes only channels-last images."""
    return grey if "HW" in t.accepts else np.repeat(np.asarray(grey)[..., None], 3, axis=3)

RANDOM = [name for name, t in EXAMPLES.items() if "seed" in t.spec()]


# ----------------------------------------------------------------------------------------------
# specs and repr


#: the transforms of signals (AudioMNIST): they take Signals of varying length or (N, L) arrays, not images
SIGNAL_EXAMPLES: dict[str, T.Transform] = {t.spec()["name"]: t for t in [
    T.PadOrCrop(300, align="random", seed=5, fill=0.5), T.Resample(48_000, 16_000), T.AudioNet8k(align="random", seed=5),
]}


def test_every_transform_is_covered():
    assert set(T.registered()) - {"Compose"} == set(EXAMPLES) | set(SIGNAL_EXAMPLES)


def _recordings(n: int, seed: int = 0):
    from mnistfamily.examples import Signals

    rng = np.random.default_rng(seed)
    return Signals.from_arrays([rng.standard_normal(int(k)).astype(np.float32) for k in rng.integers(50, 900, n)])


@pytest.mark.parametrize("name", sorted(SIGNAL_EXAMPLES))
def test_signal_transforms_round_trip_their_spec_and_do_not_depend_on_the_batch(name):
    t = SIGNAL_EXAMPLES[name]
    again = T.from_spec(json.loads(json.dumps(t.spec())))
    assert again == t and repr(again) == repr(t)
    signals, index = _recordings(7), np.arange(100, 107)
    whole = t(signals, index=index)
    for i in (0, 3, 6):  # one example alone gives what it gives in the batch
        alone = t(signals[i:i + 1], index=index[i:i + 1])
        np.testing.assert_array_equal(alone[0], whole[i])  # a row, or one signal of a Signals
    with pytest.raises(TransformError, match=r"takes signals \(a Signals, or an array \(N, L\)\)"):
        t(np.zeros((2, 28, 28), np.uint8))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_spec_round_trip_gives_equal_transform_and_bytes(name, sample):
    t = EXAMPLES[name]
    spec = t.spec()
    text = json.dumps(spec, sort_keys=True)  # JSON-serialisable: it goes into cache keys
    again = T.from_spec(json.loads(text))
    assert again == t and hash(again) == hash(t) and json.dumps(again.spec(), sort_keys=True) == text
    assert spec["name"] == name and repr(t).startswith(f"{name}(")
    for key, value in spec.items():  # the repr shows every parameter
        if key != "name":
            assert f"{key}=" in repr(t)
    x, index = _input(t, sample.images[:40]), sample.index[:40]
    np.testing.assert_array_equal(again(x, index=index), t(x, index=index))


def test_spec_normalises_equivalent_parameters():
    # the same behaviour must give the same spec (it is a cache key): ints vs floats, d vs (-d, d)
    assert T.ElasticDistortion(alpha=34, sigma=4, seed=0).spec() == \
        {"name": "ElasticDistortion", "alpha": 34.0, "sigma": 4.0, "seed": 0}
    a = T.RandomAffine(degrees=10, shear=5, seed=1)
    b = T.RandomAffine(degrees=(-10.0, 10.0), shear=[-5, 5], seed=1)
    assert json.dumps(a.spec()) == json.dumps(b.spec())
    assert T.Pad(2).spec() == T.Pad((2, 2, 2, 2)).spec() == T.Pad([2, 2]).spec()
    assert json.dumps(T.RandomAffine(shear=(-0.0, 0), seed=0).spec()) == json.dumps(T.RandomAffine(seed=0).spec())
    assert json.dumps(T.Brightness(-0.0).spec()) == '{"name": "Brightness", "amount": 0.0}'



def test_compose_spec_is_a_list_and_round_trips_from_yaml(sample):
    t = T.Compose([T.Deskew(), T.Compose([T.ElasticDistortion(alpha=34, sigma=4, seed=0)]), T.ToFloat()])
    assert [s["name"] for s in t.spec()] == ["Deskew", "ElasticDistortion", "ToFloat"]  # flattened
    yaml_text = "- name: Deskew\n- {name: ElasticDistortion, alpha: 34, sigma: 4, seed: 0}\n- name: ToFloat\n"
    assert T.from_spec(yaml_text) == t == T.from_spec(t.spec())
    assert "ElasticDistortion(alpha=34.0, sigma=4.0, seed=0)" in repr(t)
    out = t(sample.images[:10], index=sample.index[:10])
    assert out.dtype == np.float32 and out.shape == (10, 28, 28)
    assert T.Compose([])(sample.images[:3]) is not None and T.Compose([]).spec() == []


def test_replace_changes_one_parameter():
    t = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
    assert t.replace(seed=7) == T.ElasticDistortion(alpha=34, sigma=4, seed=7)
    with pytest.raises(TransformError, match="ElasticDistortion has no parameter sed"):
        t.replace(sed=7)


@pytest.mark.parametrize("spec, message", [
    ({"name": "Elastic", "alpha": 1}, r"unknown transform 'Elastic'.*did you mean ElasticDistortion"),
    ({"alpha": 1}, r"unknown transform None"),
    ({"name": "ElasticDistortion", "alpha": 34}, r"missing parameter\(s\) seed.*takes alpha, sigma, seed"),
    ({"name": "Pad", "padding": 2, "colour": 3}, r"unknown parameter\(s\) colour.*Pad takes padding, fill, mode"),
    ({"name": "Flip", "direction": "diagonal"}, r"Flip spec .*direction must be 'horizontal' or 'vertical'"),
    (42, r"a transform spec is a mapping with a 'name'"),
    ({"name": "Compose", "transforms": []}, r"unknown transform 'Compose'"),
])
def test_from_spec_errors_name_the_problem(spec, message):
    with pytest.raises(TransformError, match=message):
        T.from_spec(spec)


@pytest.mark.parametrize("seed", [None, -1, 1.5, True])
def test_random_transforms_need_an_explicit_int_seed(seed):
    with pytest.raises(TypeError, match="ElasticDistortion: seed must be a non-negative int"):
        T.ElasticDistortion(alpha=34, sigma=4, seed=seed)


def test_input_errors_say_what_was_expected(sample):
    t = T.ElasticDistortion(seed=0)
    with pytest.raises(TransformError, match=r"ElasticDistortion: expected a batch .* \(for one image pass image\[None\]\)"):
        t(sample.images[0])
    with pytest.raises(TransformError, match=r"expected uint8 images on \[0, 255\] or float images.*found dtype int16"):
        t(sample.images[:2].astype(np.int16))
    with pytest.raises(TransformError, match=r"index must be an integer array of shape \(2,\)"):
        t(sample.images[:2], index=[1, 2, 3])
    with pytest.raises(TransformError, match=r"index must be an integer array"):
        t(sample.images[:2], index=np.array([0.5, 1.5]))
    with pytest.raises(TransformError, match="Compose takes Transform objects"):
        T.Compose([lambda x: x])
    with pytest.raises(TransformError, match="MNISTIFY_NUM|set_num_threads takes a positive int"):
        T.set_num_threads(0)


def test_num_threads_environment_variable(monkeypatch):
    monkeypatch.setenv("MNISTFAMILY_NUM_THREADS", "3")
    assert T.get_num_threads() == 3
    monkeypatch.setenv("MNISTFAMILY_NUM_THREADS", "many")
    with pytest.raises(TransformError, match="MNISTFAMILY_NUM_THREADS must be a positive integer, found 'many'"):
        T.get_num_threads()


# ----------------------------------------------------------------------------------------------
# determinism: bytes depend on (seed, index) only


HEADLINE = [T.ElasticDistortion(alpha=34, sigma=4, seed=11),
            T.RandomAffine(degrees=20, translate=(0.1, 0.1), scale=(0.8, 1.2), shear=15, anisotropic=True, seed=11),
            T.RandomAffine.affnist(seed=11), T.GaussianNoise(std=0.2, seed=11)]


@pytest.mark.parametrize("t", HEADLINE, ids=lambda t: type(t).__name__ + ("-affnist" if "fit" in repr(t) else ""))
def test_same_bytes_for_batch_sizes_1_7_and_10000(t, big):
    images, index = big
    whole = t(images, index=index)  # one batch of 10,000: many blocks, several threads
    assert whole.shape[0] == 10_000 and whole.dtype == np.uint8
    sevens = np.concatenate([t(images[i:i + 7], index=index[i:i + 7]) for i in range(0, 700, 7)])
    np.testing.assert_array_equal(sevens, whole[:700])
    for i in range(0, 10_000, 97):  # batch size 1, spread over the whole batch
        np.testing.assert_array_equal(t(images[i:i + 1], index=index[i:i + 1])[0], whole[i])
    chunks = T.apply_in_chunks(t, images[:3000], index[:3000], chunk_size=1234)
    np.testing.assert_array_equal(chunks, whole[:3000])


@pytest.mark.parametrize("name", RANDOM)
def test_randomness_follows_the_index_not_the_position(name, sample):
    t = EXAMPLES[name]
    x, index = sample.images[:64], sample.index[:64]
    out = t(x, index=index)
    order = np.random.default_rng(0).permutation(64)
    np.testing.assert_array_equal(t(x[order], index=index[order]), out[order])
    assert not np.array_equal(t(x, index=index + 1), out), "the index must change the draws"
    assert not np.array_equal(t.replace(seed=t.spec()["seed"] + 1)(x, index=index), out), "so must the seed"
    T.set_num_threads(1)
    try:
        np.testing.assert_array_equal(T.apply_in_chunks(t, x, index, chunk_size=5), out)
    finally:
        T.set_num_threads(None)


def test_default_index_is_the_position(sample):
    t = T.ElasticDistortion(seed=0)
    x = sample.images[:20]
    np.testing.assert_array_equal(t(x), t(x, index=np.arange(20)))


def test_threads_do_not_change_bytes(big):
    images, index = big
    t = T.ElasticDistortion(alpha=34, sigma=4, seed=2)
    T.set_num_threads(1)
    try:
        one = t(images[:3000], index=index[:3000])
    finally:
        T.set_num_threads(None)
    T.set_num_threads(4)
    try:
        four = t(images[:3000], index=index[:3000])
    finally:
        T.set_num_threads(None)
    np.testing.assert_array_equal(one, four)


# ----------------------------------------------------------------------------------------------
# chunked application


def test_apply_in_chunks_into_a_memmap_bounds_memory(big, tmp_path):
    images, index = big
    t = T.ElasticDistortion(alpha=34, sigma=4, seed=0)

    def peak(call):
        tracemalloc.start()
        try:
            result = call()
            return result, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.uint8, shape=images.shape)
    result, peak_10000 = peak(lambda: T.apply_in_chunks(t, images, index, chunk_size=500, out=out))
    small = np.lib.format.open_memmap(tmp_path / "small.npy", mode="w+", dtype=np.uint8, shape=(2000, 28, 28))
    _, peak_2000 = peak(lambda: T.apply_in_chunks(t, images[:2000], index[:2000], chunk_size=500, out=small))
    whole, peak_whole = peak(lambda: t(images, index=index))
    assert result is out
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), whole)
    # the peak is set by the chunk (500 images of 784 pixels: ~30 bytes of temporaries a pixel),
    # not by the number of images; the output (7.8 MB) lives in the file
    assert peak_10000 < 40 * 500 * 784, peak_10000
    assert peak_10000 < 1.25 * peak_2000 + 100_000, (peak_10000, peak_2000)
    assert peak_whole > peak_10000 + 0.9 * images.nbytes, (peak_whole, peak_10000)  # the output in memory


def test_apply_in_chunks_checks_out_and_chunk_size(sample):
    t = T.Resize(14)
    with pytest.raises(TransformError, match=r"out has shape \(2000, 28, 28\), the transform gives \(2000, 14, 14\)"):
        T.apply_in_chunks(t, sample.images, out=np.empty((2000, 28, 28), np.uint8))
    with pytest.raises(TransformError, match="out has dtype uint8, the transform gives float32"):
        T.apply_in_chunks(T.ToFloat(), sample.images, out=np.empty((2000, 28, 28), np.uint8))
    with pytest.raises(TransformError, match="chunk_size must be a positive int"):
        T.apply_in_chunks(t, sample.images, chunk_size=0)
    assert T.apply_in_chunks(t, sample.images[:0]).shape == (0, 14, 14)


def test_empty_batches_keep_the_output_shape():
    for t in EXAMPLES.values():
        out = t(_input(t, np.zeros((0, 28, 28), np.uint8)))
        assert out.shape[0] == 0 and out.ndim == t(_input(t, np.zeros((1, 28, 28), np.uint8))).ndim, t


# ----------------------------------------------------------------------------------------------
# basic transforms: exact inverses, dtypes, ranges


def test_exact_inverses(sample):
    x = sample.images
    rect = x[:, :, 3:25]  # non-square: a transpose changes the shape
    np.testing.assert_array_equal(T.Transpose()(T.Transpose()(rect)), rect)
    assert T.Transpose()(rect).shape == (2000, 22, 28)
    np.testing.assert_array_equal(T.Transpose()(rect)[5], rect[5].T)
    for direction in ("horizontal", "vertical"):
        flipped = T.Flip(direction)(x)
        assert not np.array_equal(flipped, x)
        np.testing.assert_array_equal(T.Flip(direction)(flipped), x)
    np.testing.assert_array_equal(T.Flip("horizontal")(x)[:, :, 0], x[:, :, -1])
    for k in (1, 2, 3):
        np.testing.assert_array_equal(T.Rotate90(-k)(T.Rotate90(k)(rect)), rect)
    np.testing.assert_array_equal(T.Compose([T.Rotate90(1)] * 4)(rect), rect)
    np.testing.assert_array_equal(T.Rotate90(1)(x)[7], np.rot90(x[7]))
    np.testing.assert_array_equal(T.Invert()(T.Invert()(x)), x)
    np.testing.assert_array_equal(T.CenterCrop(28)(T.Pad(6)(x)), x)
    np.testing.assert_array_equal(T.CenterCrop((28, 28))(T.Pad((1, 2, 3, 4))(x)[:, 0:30, 0:28]).shape, (2000, 28, 28))


def test_value_transforms_dtypes_and_ranges(sample):
    x = sample.images
    f = T.ToFloat()(x)
    assert f.dtype == np.float32 and f.min() == 0.0 and f.max() == 1.0
    np.testing.assert_allclose(f * 255, x, atol=1e-4)
    n = T.Normalize(0.1307, 0.3081)(x)
    assert n.dtype == np.float32 and abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    np.testing.assert_allclose(T.Normalize(0.5, 0.25)(f), (f - 0.5) / 0.25, atol=1e-5)
    rgb = np.stack([x[:5]] * 3, axis=-1)
    per_channel = T.Normalize([0.1, 0.2, 0.3], [0.5, 0.5, 1.0])(rgb)
    np.testing.assert_allclose(per_channel[..., 2], (x[:5] / 255 - 0.3) / 1.0, atol=1e-5)
    with pytest.raises(TransformError, match=r"Normalize: 2 mean\(s\) and 2 std\(s\) for images with 3 channel"):
        T.Normalize([0.1, 0.2], [1, 1])(rgb)
    with pytest.raises(TransformError, match="std must be positive"):
        T.Normalize(0.1, 0)
    b = T.Binarize(0.5)(x)
    assert set(np.unique(b).tolist()) == {0, 255}
    np.testing.assert_array_equal(b == 255, x > 127.5)
    assert set(np.unique(T.Binarize(0.5)(f)).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(T.Invert()(x), 255 - x)
    np.testing.assert_allclose(T.Invert()(f), 1 - f)
    padded = T.Pad((1, 2, 3, 4), fill=7)(x)
    assert padded.shape == (2000, 34, 32) and padded.dtype == np.uint8
    assert padded[:, :2].max() == 7 and padded[:, :, :1].min() == 7  # top rows and left column
    np.testing.assert_array_equal(padded[:, 2:30, 1:29], x)
    assert T.Pad(2, mode="edge")(x).shape == (2000, 32, 32)
    assert T.CenterCrop(32)(x).shape == (2000, 32, 32)


def test_gaussian_noise_has_the_requested_spread(sample):
    f = T.ToFloat()(sample.images)
    noisy = T.GaussianNoise(std=0.1, seed=0, clip=False)(f)
    residual = noisy - f
    assert noisy.dtype == np.float32
    assert abs(residual.mean()) < 0.002 and abs(residual.std() - 0.1) < 0.002
    clipped = T.GaussianNoise(std=0.1, seed=0)(sample.images)
    assert clipped.dtype == np.uint8
    diff = clipped.astype(int) - sample.images
    assert 20 < np.abs(diff[(sample.images > 40) & (sample.images < 200)]).mean() < 22.5  # E|N(0, 25.5)| = 20.3


# ----------------------------------------------------------------------------------------------
# the examples in the docstrings


@pytest.mark.parametrize("module", ["base", "basic", "geometric", "mnistify", "corruptions", "strokes", "__init__"])
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)  # apply_in_chunks' example may write files; keep them here
    mod = importlib.import_module("mnistfamily.transforms" + ("" if module == "__init__" else f".{module}"))
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, report=True)
    assert result.attempted > 0 and result.failed == 0, f"{result.failed} example(s) of {mod.__name__} failed"


def test_the_base_classes_are_abstract():
    from mnistfamily.transforms.corruption import _Corruption

    with pytest.raises(TypeError, match="abstract"):
        T.Transform()
    with pytest.raises(TypeError, match="abstract"):
        _Corruption()
