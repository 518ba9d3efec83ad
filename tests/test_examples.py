"""The data model: what an example is (image, volume, signal), Signals, and the Dataset around them.

Every dataset says what its examples are; each operation handles each kind or refuses it with
an error that says what the data holds and what to do instead.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import transforms as T
from mnistfamily.dataset import Dataset
from mnistfamily.errors import ExampleKindError, RegistryError, TransformError
from mnistfamily.examples import Signals, describe, infer_kind, layout
from mnistfamily.registry import Registry
from mnistfamily.registry.loader import load_registry_text
from mnistfamily.testing import serve_directory, write_miniatures


def _signals() -> Signals:
    return Signals(np.arange(10, dtype=np.int16), offsets=[0, 3, 3, 7, 10])


# ----------------------------------------------------------------------------- Signals


def test_signals_index_views_and_select_without_copying():
    sig = _signals()
    assert len(sig) == 4 and sig.lengths.tolist() == [3, 0, 4, 3] and sig.dtype == np.int16
    assert sig[2].tolist() == [3, 4, 5, 6] and sig[-1].tolist() == [7, 8, 9]
    assert np.shares_memory(sig[2], sig.samples)  # one example is a view
    picked = sig[[3, 0]]
    assert isinstance(picked, Signals) and picked.samples is sig.samples  # selecting copies no sample
    assert [x.tolist() for x in picked] == [[7, 8, 9], [0, 1, 2]]
    assert [x.tolist() for x in sig[np.array([True, False, False, True])]] == [[0, 1, 2], [7, 8, 9]]
    assert [x.tolist() for x in sig[1:3]] == [[], [3, 4, 5, 6]]
    samples, offsets = picked.compact()
    assert samples.tolist() == [7, 8, 9, 0, 1, 2] and offsets.tolist() == [0, 3, 6]
    whole, whole_offsets = sig.compact()
    assert whole is sig.samples and whole_offsets.tolist() == [0, 3, 3, 7, 10]  # already compact: no copy
    assert Signals.concatenate([picked, sig[:1]]).to_list()[2].tolist() == [0, 1, 2]
    assert "4 examples of 0 to 4 samples, int16" in repr(sig) and sig.nbytes == 20


def test_signals_refuse_what_is_not_signals():
    samples = np.arange(10, dtype=np.int16)
    with pytest.raises(ValueError, match="every example must lie within the 10 samples"):
        Signals(samples, offsets=[0, 4, 11])
    with pytest.raises(ValueError, match="every example must lie within"):
        Signals(samples, offsets=[0, 5, 4])
    with pytest.raises(ValueError, match="samples must be the 1-D array"):
        Signals(samples.reshape(2, 5), offsets=[0, 1])
    with pytest.raises(ValueError, match="offsets must be N \\+ 1 integer positions"):
        Signals(samples, offsets=[0.0, 1.5])
    with pytest.raises(IndexError, match="a boolean mask must have shape \\(4,\\)"):
        _signals()[np.array([True, False])]
    with pytest.raises(IndexError, match="example 4 of 4"):
        _signals()[4]
    with pytest.raises(TypeError, match="signals of different lengths are not one array"):
        np.asarray(_signals())


def test_layouts_and_descriptions():
    assert [layout("image", (28, 28)), layout("image", (32, 32, 3)), layout("volume", (16, 16, 16)),
            layout("signal", (40,)), layout("signal", ())] == ["HW", "HWC", "DHW", "L", "signal"]
    assert describe("volume", (28, 28, 28), "uint8") == "volume (28, 28, 28) uint8 (depth, height, width)"
    assert describe("signal", (8000,), "float32", 8000) == "signal of 8,000 samples, float32, 8,000 Hz"
    assert [infer_kind(np.zeros(s)) for s in [(2, 40), (2, 5, 5), (2, 5, 5, 3), (2, 9, 9, 9)]] == \
        ["signal", "image", "image", "volume"]
    with pytest.raises(ValueError, match="unknown kind of example 'movie'"):
        layout("movie", (2, 2))


# ----------------------------------------------------------------------------- Dataset


def test_a_dataset_of_varying_length_signals():
    ds = Dataset(_signals(), np.array([0, 1, 0, 1]), classes=["a", "b"], name="talk", split="train",
                 sample_rate=8000)
    assert ds.example == "signal" and ds.layout == "signal" and ds.sample_rate == 8000 and len(ds) == 4
    signal, label = ds[2]
    assert signal.tolist() == [3, 4, 5, 6] and label == 0
    assert ds.signals[3].tolist() == [7, 8, 9]
    with pytest.raises(ExampleKindError, match=r"talk \[train\] holds 4 signals of different lengths, not one "
                                               r"array of images: ds.signals\[i\] is one"):
        ds.images  # noqa: B018 - the property raises
    picked = ds.filter(label=1)
    assert picked.index.tolist() == [1, 3] and [x.tolist() for x in picked.signals] == [[], [7, 8, 9]]
    assert picked.sample_rate == 8000 and picked.example == "signal"
    assert "signals=Signals(4 examples of 0 to 4 samples, int16)" in repr(ds)
    with pytest.raises(TransformError, match=r"Rotate90 takes images \(N, H, W\) or images \(N, H, W, C\); "
                                             r"talk \[train\] \(signals of varying length\) holds signals of "
                                             r"varying length. Pad or crop them to one length first"):
        ds.map(T.Rotate90())


def test_fixed_length_signals_are_one_array_and_signals_too():
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    ds = Dataset(x, np.zeros(3, np.int64), classes=["a"])
    assert ds.example == "signal" and ds.layout == "L" and ds.images is x
    assert [s.tolist() for s in ds.signals] == x.tolist()
    assert ds.map(T.Normalize(mean=0.5, std=2.0)).images.shape == (3, 4)  # value by value: any layout


def test_volumes_take_value_transforms_and_refuse_image_ones():
    volumes = np.random.default_rng(0).integers(0, 256, (3, 6, 6, 6), dtype=np.uint8)
    ds = Dataset(volumes, np.arange(3) % 2, classes=["a", "b"], name="organs", split="test", example="volume")
    assert ds.layout == "DHW"
    assert ds.map(T.ToFloat()).images.dtype == np.float32
    np.testing.assert_array_equal(ds.map(T.Invert()).images, 255 - volumes)
    with pytest.raises(TransformError, match=r"ElasticDistortion takes images \(N, H, W\) or images \(N, H, W, C\); "
                                             r"organs \[test\] \(volumes \(N, 6, 6, 6\)\) holds volumes"):
        ds.map(T.ElasticDistortion(alpha=3, sigma=1, seed=0))
    with pytest.raises(TransformError, match="Normalize takes images \\(N, H, W, C\\); .* holds volumes"):
        ds.map(T.Normalize(mean=[0.1, 0.2, 0.3], std=[1, 1, 1]))
    with pytest.raises(ExampleKindError, match=r"organs \[test\] holds volumes, not signals: use ds.images"):
        ds.signals  # noqa: B018
    with pytest.raises(ValueError, match=r"volumes are an array \(N, D, H, W\); found shape \(3, 6, 6\)"):
        Dataset(volumes[:, 0], np.arange(3), classes=["a", "b"], example="volume")
    with pytest.raises(ValueError, match="varying-length examples \\(Signals\\) are signals, not images"):
        Dataset(_signals(), np.arange(4), classes=["a"], example="image")


def test_colour_images_go_through_image_transforms_channel_by_channel():
    rgb = np.random.default_rng(1).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    ds = Dataset(rgb, np.arange(4) % 2, classes=["a", "b"])
    assert ds.layout == "HWC"
    flipped = ds.map(T.Flip("horizontal")).images
    np.testing.assert_array_equal(flipped, rgb[:, :, ::-1])
    assert ds.map(T.ToGray()).images.shape == (4, 8, 8)


def test_to_gray_is_pillow_luma_and_to_channels_its_inverse():
    from PIL import Image

    rgb = np.random.default_rng(2).integers(0, 256, (30, 7, 9, 3), dtype=np.uint8)
    pillow = np.stack([np.asarray(Image.fromarray(x, "RGB").convert("L")) for x in rgb])
    np.testing.assert_array_equal(T.ToGray()(rgb), pillow)
    grey = rgb[..., 0]
    np.testing.assert_array_equal(T.ToGray()(T.ToChannels()(grey)), grey)
    two = T.ToChannels([1, 0])(grey)
    assert two.shape == (30, 7, 9, 2) and (two[..., 1] == 0).all() and (two[..., 0] == grey).all()
    assert T.ToChannels([0.5])(np.ones((1, 2, 2), np.float32)).dtype == np.float32
    with pytest.raises(TransformError, match="ToGray: luma needs RGB \\(3 channels, or 4 with alpha\\); these "
                                             "images have 2"):
        T.ToGray()(two)
    with pytest.raises(TransformError, match="ToGray: 3 weights for images with 2 channels"):
        T.ToGray(weights=[1, 1, 1])(two)
    with pytest.raises(TransformError, match="ToChannels: weights must be finite and non-negative"):
        T.ToChannels([1, -1])
    with pytest.raises(TransformError, match="ToChannels: expected a batch of images \\(N, H, W\\), found shape"):
        T.ToChannels()(rgb)


def test_transforms_over_signals_in_chunks():
    class _Twice(T.Transform):  # a signal transform giving varying lengths back (a leading _: not registered)
        accepts = ("signal",)

        def __init__(self) -> None:
            pass

        def __call__(self, images, *, index=None):  # a Signals in, not the image batch Transform.__call__ checks
            return self._apply(images, index)

        def _apply(self, images, index):
            return Signals.from_arrays([np.repeat(x, 2) for x in images], dtype=images.dtype)

    ds = Dataset(_signals(), np.zeros(4, np.int64), classes=["a"])
    doubled = ds.map(_Twice(), batch_size=3)
    assert isinstance(doubled.examples, Signals) and doubled.signals[3].tolist() == [7, 7, 8, 8, 9, 9]
    assert doubled.signals.lengths.tolist() == [6, 0, 8, 6]


# ----------------------------------------------------------------------------- the registry


def _entry(**fields) -> str:
    base = {"title": "t", "homepage": "h", "license": "l", "citation": "c", "format": "npz",
            "classes": ["a", "b"], "base_url": "https://example.org/",
            "files": {"x.npz": {"size": "unknown", "md5": "unknown", "sha256": "unknown"}},
            "splits": {"train": {"num_examples": 3, "images": "x.npz", "labels": "x.npz"}}}
    base.update(fields)
    import yaml

    return yaml.safe_dump({"version": 1, "datasets": {"d": base}})


def test_the_registry_says_what_every_example_is():
    assert load_registry_text(_entry(image_shape=[28, 28]), "r")["d"].example == "image"
    rgb = load_registry_text(_entry(image_shape=[28, 28, 3]), "r")["d"]
    assert rgb.example == "image" and not rgb.varying_length  # three numbers: channels last unless told
    volume = load_registry_text(_entry(image_shape=[28, 28, 28], example="volume"), "r")["d"]
    assert volume.example == "volume"
    for spec in Registry.from_files([mf.registry.builtin_registry_path()]):
        assert spec.example in ("image", "volume", "signal"), spec.name
    assert mf.info("mnist1d").example == "signal" and mf.info("mnist").example == "image"
    assert "example      image (28, 28) uint8" in str(mf.info("mnist"))


@pytest.mark.parametrize("fields, problem", [
    ({"image_shape": [28, 28], "example": "volume"},
     "d.image_shape \\(line \\d+\\): .*volume' has image_shape \\[depth, height, width\\]; found image_shape "
     "\\[28, 28\\]"),
    ({"example": "image"}, "an example of kind 'image' has image_shape .*; found no image_shape"),
    ({"image_shape": [28, 28], "image_dtype": "int16"},
     "d.image_dtype \\(line \\d+\\): images are uint8 or float32, not int16"),
    ({"image_shape": [28, 28], "sample_rate": 8000}, "d.sample_rate \\(line \\d+\\): only signals have a sample rate"),
    ({"image_shape": [28, 28], "example": "movie"}, "d.example \\(line \\d+\\): expected one of image, volume, signal"),
    ({"image_shape": [40], "sample_rate": 0}, "d.sample_rate \\(line \\d+\\): expected a positive integer"),
    ({"image_shape": [40]}, "d.example \\(line \\d+\\): format 'npz' writes image, volume examples, not signals"),
])
def test_kinds_that_do_not_fit_are_registry_errors(fields, problem):
    with pytest.raises(RegistryError, match=problem):
        load_registry_text(_entry(**fields), "r")


# ----------------------------------------------------------------------------- derived entries with channels


DERIVED = textwrap.dedent("""\
    version: 1
    datasets:
      mnist/rgb:
        base: mnist
        title: MNIST as RGB
        transforms: [{name: ToChannels}]
        image_shape: [28, 28, 3]
      mnist/two-colours:
        base: mnist
        title: MNIST dealt into two colours
        image_shape: [28, 28, 2]
        environments:
          from: [train, test]
          seed: 0
          splits:
            red: {transforms: [{name: ToChannels, weights: [1, 0]}]}
            green: {transforms: [{name: ToChannels, weights: [0, 1]}]}
      mnist/undeclared:
        base: mnist
        title: MNIST as RGB, its shape not said
        transforms: [{name: ToChannels}]
    """)


@pytest.fixture
def derived(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=["mnist"])
        extra = tmp_path / "derived.yaml"
        extra.write_text(DERIVED, encoding="utf-8")
        yield Registry.from_files([mini.registry_path, extra])


def test_derived_entries_make_channels_last_images(derived, cache):
    """What a derived dataset needs to build ColoredMNIST: a chain, per entry or per environment, that
    gives (N, H, W, C) images, declared in the registry and cached like any other."""
    base = {s: mf.load("mnist", s, registry=derived, data_dir=cache) for s in ("train", "test")}
    rgb = mf.load("mnist/rgb", "test", registry=derived, data_dir=cache)
    assert rgb.images.shape == (len(base["test"]), 28, 28, 3) and rgb.layout == "HWC"
    np.testing.assert_array_equal(rgb.images, np.repeat(np.asarray(base["test"].images)[..., None], 3, axis=3))
    assert mf.info("mnist/rgb", registry=derived).image_shape == (28, 28, 3)
    envs = mf.load("mnist/two-colours", registry=derived, data_dir=cache)
    joined = np.concatenate([base["train"].images, base["test"].images])
    for colour, (name, ds) in enumerate(envs.items()):
        rows = np.where(ds.metadata["source_split"] == 0, 0, len(base["train"])) + ds.metadata["source_index"]
        assert ds.images.shape[1:] == (28, 28, 2) and isinstance(ds.images, np.memmap)
        np.testing.assert_array_equal(ds.images[..., colour], joined[rows])
        assert not ds.images[..., 1 - colour].any()


def test_a_chain_that_changes_the_shape_must_say_so(derived, cache):
    with pytest.raises(TransformError, match=r"mnist/undeclared \[test\]: the transform chain gives uint8 examples "
                                             r"of shape \(28, 28, 3\), but the registry entry declares image "
                                             r"\(28, 28\) uint8. Set the entry's image_shape"):
        mf.load("mnist/undeclared", "test", registry=derived, data_dir=cache)
