"""to_hf and the PNG export against the real Hugging Face datasets: Image and ClassLabel features, round trips."""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.adapters import AdapterError
from mnistfamily.dataset import Dataset
from mnistfamily.outputs import export

datasets = pytest.importorskip("datasets")
SAMPLE = "mnist/sample"


@pytest.fixture(autouse=True)
def hf_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)


@pytest.fixture
def sample():
    return mf.load(SAMPLE, "test")


def test_to_hf_has_image_and_class_label_features(sample):
    hf = sample[:300].to_hf()
    assert len(hf) == 300
    assert isinstance(hf.features["image"], datasets.Image)
    assert isinstance(hf.features["label"], datasets.ClassLabel)
    assert hf.features["label"].names == sample.classes
    assert hf.features["index"] == datasets.Value("int64")
    assert hf.features["writer_id"] == datasets.Value("int32")
    first = hf[7]
    assert first["image"].mode == "L" and first["label"] == sample.labels[7] and first["index"] == sample.index[7]
    pixels = np.stack([np.asarray(image) for image in hf[:300]["image"]])
    np.testing.assert_array_equal(pixels, sample.images[:300])
    assert hf.info.license == sample.info.license and hf.split == "test"


def test_png_bytes_are_those_hf_writes_for_grey_and_colour():
    from mnistfamily.adapters.hf import encode_pngs

    rng = np.random.default_rng(0)
    for images in (rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
                   rng.integers(0, 256, (3, 28, 28, 3), dtype=np.uint8)):
        assert encode_pngs(images) == [datasets.Image().encode_example(image)["bytes"] for image in images]


def test_to_hf_round_trips_through_parquet_with_class_label_names(sample, tmp_path):
    sample[:200].to_hf().to_parquet(str(tmp_path / "mnist.parquet"))
    back = datasets.load_dataset("parquet", data_files=str(tmp_path / "mnist.parquet"), split="train",
                                 cache_dir=str(tmp_path / "hf-cache"))
    assert back.features["label"] == datasets.ClassLabel(names=sample.classes)
    assert isinstance(back.features["image"], datasets.Image)
    np.testing.assert_array_equal(np.stack([np.asarray(i) for i in back["image"]]), sample.images[:200])
    np.testing.assert_array_equal(back["label"], sample.labels[:200])


def test_the_png_export_declares_a_class_label_for_load_dataset(sample, tmp_path):
    export(sample[:250], tmp_path / "out", image_encoding="png", rows_per_shard=100)
    files = sorted(str(p) for p in (tmp_path / "out").rglob("*.parquet"))
    hf = datasets.load_dataset("parquet", data_files={"test": files}, split="test", cache_dir=str(tmp_path / "c"))
    assert hf.features["label"] == datasets.ClassLabel(names=sample.classes)
    assert hf.features["label"].int2str(int(hf[3]["label"])) == sample.classes[sample.labels[3]]
    back = mf.read_parquet(tmp_path / "out" / "mnist--sample")  # our own reader still reads it back
    np.testing.assert_array_equal(back["test"].labels, sample.labels[:250])


def test_colour_signals_and_multi_label_have_their_features():
    rgb = Dataset(np.random.default_rng(1).integers(0, 256, (4, 6, 5, 3), dtype=np.uint8), np.array([0, 1, 1, 0]),
                  classes=["cat", "dog"], name="toy", split="train")
    hf = rgb.to_hf()
    assert hf[1]["image"].mode == "RGB"
    np.testing.assert_array_equal(np.asarray(hf[1]["image"]), rgb.images[1])
    signal = Dataset(np.linspace(-1, 1, 4 * 40).reshape(4, 40), np.array([0, 1, 1, 0]), classes=["a", "b"])
    hs = signal.to_hf()
    np.testing.assert_allclose(hs[2]["signal"], signal.images[2])
    from mnistfamily.examples import Signals

    recordings = Dataset(Signals.from_arrays([np.arange(k, dtype=np.int16) for k in (3, 0, 5)]), np.array([0, 1, 0]),
                         classes=["a", "b"], sample_rate=8000)
    hr = recordings.to_hf()
    assert hr.features["signal"].feature.dtype == "int16" and [len(x) for x in hr["signal"]] == [3, 0, 5]
    assert hr[2]["signal"] == [0, 1, 2, 3, 4]
    multi = Dataset(np.zeros((3, 4, 4), np.uint8), np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]]), classes=list("xyz"))
    hm = multi.to_hf()
    assert [hm[i]["label"] for i in range(3)] == [[0, 2], [], [1]]
    assert hm.features["label"].feature.names == ["x", "y", "z"]


def test_volumes_and_float_images_are_arrays_and_odd_ones_refused():
    volumes = np.random.default_rng(2).integers(0, 256, (2, 6, 4, 5), dtype=np.uint8)
    hv = Dataset(volumes, np.array([0, 1]), classes=["a", "b"], example="volume").to_hf()
    assert isinstance(hv.features["volume"], datasets.Array3D) and hv.features["volume"].shape == (6, 4, 5)
    np.testing.assert_array_equal(np.asarray(hv.with_format("numpy")["volume"]), volumes)
    floats = np.random.default_rng(3).random((2, 4, 4), dtype=np.float32)
    hfl = Dataset(floats, np.array([0, 1]), classes=["a", "b"]).to_hf()
    assert isinstance(hfl.features["image"], datasets.Array2D)
    np.testing.assert_array_equal(np.asarray(hfl.with_format("numpy")["image"]), floats)
    doubles = Dataset(np.zeros((2, 4, 4), np.float64), np.array([0, 1]), classes=["a", "b"], name="d")
    with pytest.raises(AdapterError, match=r"d.to_hf: images of float64 \(4, 4\) have no Hugging Face feature"):
        doubles.to_hf()


@pytest.mark.slow
def test_large_datasets_are_encoded_in_worker_processes(sample):
    """Past 8,192 images the PNGs are made by a process pool; the result is the same."""
    big = Dataset(np.concatenate([sample.images] * 5), np.concatenate([sample.labels] * 5), classes=sample.classes)
    hf = big.to_hf(workers=2)
    one = big.to_hf(workers=1)
    assert hf.data.column("image").to_pylist()[::997] == one.data.column("image").to_pylist()[::997]
    np.testing.assert_array_equal(np.asarray(hf[9999]["image"]), big.images[9999])
