"""HASYv2, AudioMNIST (and its 8 kHz variant) and 3D MNIST through the library: each kind downstream, each refusal.

The contract test (tests/test_contract.py) proves every split of these entries loads from its
miniature. Here the loaded miniatures go on: Parquet and back, preview, the adapters and the
CLI; signals of varying length are a list column where a library can hold them and a clear
refusal where it cannot. Then every error of the three decoders, of the Kaggle-only file and
of the registry's ``kaggle:`` key.
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import AdapterError, DownloadError, ExampleKindError, FormatError, RegistryError
from mnistfamily.fetch import UnverifiedFileWarning
from mnistfamily.examples import Signals
from mnistfamily.formats.sink import MemorySink
from mnistfamily.registry import get_registry
from mnistfamily.registry.loader import load_registry_text
from mnistfamily.testing import serve_directory, write_miniatures

NAMES = ["hasyv2", "audiomnist", "audiomnist/8k", "3d-mnist"]
#: one split of each, small in the miniature
SPLITS = {"hasyv2": "fold1-test", "audiomnist": "digit-fold0-test", "audiomnist/8k": "gender-fold1-test",
          "3d-mnist": "test"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    pytest.importorskip("h5py")
    folder = tmp_path_factory.mktemp("served")
    cache = tmp_path_factory.mktemp("cache")
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=NAMES)
        with pytest.warns(UnverifiedFileWarning):  # AudioMNIST and 3D MNIST publish no checksum
            datasets = {name: mf.load(name, split, registry=mini.registry, data_dir=cache, allow_unverified=True)
                        for name, split in SPLITS.items()}
    return datasets, mini


def _same_examples(a, b) -> None:
    if isinstance(b, Signals):
        assert isinstance(a, Signals) and a.lengths.tolist() == b.lengths.tolist()
        np.testing.assert_array_equal(a.compact()[0], b.compact()[0])
    else:
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_each_entry_round_trips_through_parquet_with_its_metadata(loaded, name, tmp_path):
    datasets, _ = loaded
    ds = datasets[name]
    result = mf.export(ds, tmp_path, rows_per_shard=4)
    back = mf.read_parquet(result.path)[SPLITS[name]]
    assert back.example == ds.example and back.sample_rate == ds.sample_rate and back.classes == ds.classes
    _same_examples(back.examples, ds.examples)
    np.testing.assert_array_equal(back.labels, ds.labels)
    np.testing.assert_array_equal(back.index, ds.index)
    assert list(back.metadata) == list(ds.metadata)
    for column, values in ds.metadata.items():
        np.testing.assert_array_equal(back.metadata[column], values)


def test_what_each_entry_holds(loaded):
    datasets, mini = loaded
    hasy, audio, audio8k, voxels = (datasets[n] for n in NAMES)
    assert hasy.images.shape[1:] == (32, 32) and list(hasy.metadata) == ["symbol_id", "writer_id"]
    assert len(hasy.classes) == 369 and hasy.classes[:3] == ["A", "B", "C"]
    assert isinstance(audio.examples, Signals) and audio.sample_rate == 48_000 and audio.signals.dtype == np.float32
    assert list(audio.metadata)[:3] == ["speaker", "repetition", "age"]
    speakers = set(audio.metadata["speaker"].tolist())
    assert speakers <= {5, 13, 18, 22, 26, 32, 33, 42, 45, 51, 52, 60}  # group E: digit fold 0's test speakers
    assert audio.metadata["age"][audio.metadata["speaker"] == 45].tolist() == [-1, -1]  # published "1234"
    rooms = audio.info.report["code_names"]["recording_room"]
    assert "vr-room" in rooms and "vr-romm" not in rooms
    np.testing.assert_array_equal(audio.index, (audio.metadata["speaker"] - 1) * 500 + audio.labels * 50
                                  + audio.metadata["repetition"])
    assert audio8k.images.shape[1:] == (8000,) and audio8k.sample_rate == 8_000 and audio8k.images.dtype == np.float32
    assert list(audio8k.metadata) == list(audio.metadata)  # a derived entry keeps its base's columns
    assert voxels.example == "volume" and voxels.images.shape[1:] == (16, 16, 16) and voxels.images.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_each_entry_previews(loaded, name):
    from mnistfamily.preview import preview_grid

    picture = np.asarray(preview_grid(loaded[0][name], per_class=2))
    assert picture.size and len(np.unique(picture)) > 2  # drawn, not blank


def test_signals_of_varying_length_in_the_adapters(loaded):
    from mnistfamily.transforms import PadOrCrop

    audio = loaded[0]["audiomnist"]
    with pytest.raises(AdapterError, match=r"holds signals of varying length, and a batch takes one array.*"
                                           r"ds.map\(mnistfamily.transforms.PadOrCrop\(length\)\)"):
        next(iter(audio.batches(4)))
    x, y = next(iter(audio.map(PadOrCrop(1000)).batches(4)))
    assert x.shape == (4, 1000) and x.dtype == np.float32 and len(y) == 4
    frame = audio.to_pandas()
    assert "signal" in frame.columns and len(frame["signal"].iloc[0]) == audio.signals.lengths[0]
    hf = audio.to_hf()
    assert len(hf[0]["signal"]) == audio.signals.lengths[0]
    with pytest.raises(ExampleKindError, match="PadOrCrop"):
        audio.images  # noqa: B018 - the property refuses


@pytest.mark.parametrize("name", ["hasyv2", "audiomnist/8k", "3d-mnist"])
def test_fixed_shape_entries_in_the_adapters(loaded, name):
    ds = loaded[0][name]
    x, y = next(iter(ds.batches(2)))
    assert x.shape == (2, *ds.images.shape[1:]) and y.tolist() == ds.labels[:2].tolist()
    torch = pytest.importorskip("torch")
    image, label = ds.to_torch()[0]
    assert isinstance(image, torch.Tensor) and int(label) == int(ds.labels[0])


def test_cli_lists_and_describes_them(capsys):
    from mnistfamily.cli import main

    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in NAMES)
    assert main(["info", "hasyv2"]) == 0
    assert "ODbL" in capsys.readouterr().out
    assert main(["info", "3d-mnist"]) == 0
    assert "kaggle datasets download daavoo/3d-mnist" in capsys.readouterr().out


# -------------------------------------------------------------------------- 3D MNIST: Kaggle only


def test_3d_mnist_without_source_says_where_to_get_the_file(tmp_path):
    with pytest.raises(DownloadError, match=r"(?s)only on Kaggle \(dataset daavoo/3d-mnist\).*"
                                            r"kaggle datasets download daavoo/3d-mnist.*source="):
        mf.load("3d-mnist", "train", data_dir=tmp_path)


def test_3d_mnist_loads_from_the_folder_a_kaggle_download_gives(tmp_path):
    pytest.importorskip("h5py")
    from mnistfamily.testing.mini_mnist3d import write_mnist3d

    folder = tmp_path / "3d-mnist"
    folder.mkdir()
    expected = write_mnist3d(folder / "full_dataset_vectors.h5", train=4, test=3)
    spec = get_registry().dataset("3d-mnist")
    small = dataclasses.replace(spec, splits={k: dataclasses.replace(s, num_examples=3 if k == "test" else 4)
                                              for k, s in spec.splits.items()})
    registry = tmp_path / "registry.yaml"
    from mnistfamily.registry.dump import dump_registry

    registry.write_text(dump_registry([small]))
    with pytest.warns(UnverifiedFileWarning):
        ds = mf.load("3d-mnist", "test", registry=mf.registry.Registry.from_files([registry]), source=folder,
                     data_dir=tmp_path / "cache", allow_unverified=True)
    np.testing.assert_array_equal(ds.images, expected["test"]["images"])


def test_the_registry_refuses_a_kaggle_key_that_is_not_owner_slash_name():
    text = get_registry().dataset("3d-mnist")
    from mnistfamily.registry.dump import dump_registry

    document = dump_registry([dataclasses.replace(text, kaggle="not a dataset")])
    with pytest.raises(RegistryError, match="kaggle.*a Kaggle dataset, owner/name"):
        load_registry_text(document, "bad.yaml")


# -------------------------------------------------------------------------- the decoders' refusals


def _split(spec, name, **options):
    split = spec.splits[name]
    return dataclasses.replace(split, options={**split.options, **options})


def test_hasy_decoder_refusals(tmp_path):
    from mnistfamily.prepare.hasy_split import build_hasy_split
    from mnistfamily.testing.mini_hasy import hasy_archive

    spec = get_registry().dataset("hasyv2")
    data, _ = hasy_archive(count=30)
    archive = tmp_path / "HASYv2.tar.bz2"
    archive.write_bytes(data)
    paths = {"HASYv2.tar.bz2": archive}
    with pytest.raises(FormatError, match="names the fold 'fold11-test'.*Fix the entry"):
        build_hasy_split(spec, _split(spec, "fold1-test", fold="fold11-test"), paths, MemorySink())
    with pytest.raises(FormatError, match=r"uint8 images \(32, 32\).*says uint8 \(28, 28\)"):
        build_hasy_split(dataclasses.replace(spec, image_shape=(28, 28)), _split(spec, "all"), paths, MemorySink())
    with pytest.raises(FormatError, match="30 images; the registry says 168,233"):
        build_hasy_split(spec, _split(spec, "all"), paths, MemorySink())
    with pytest.raises(FormatError, match="3 images; the registry says 16,992"):
        build_hasy_split(spec, _split(spec, "fold1-test"), paths, MemorySink())
    unknown = dataclasses.replace(spec.splits["all"], num_examples=None)
    with pytest.raises(FormatError, match=r"symbols.csv names 7 classes, class 2 '\\\\alpha'; the registry lists 369, "
                                          "class 2 'C'"):
        build_hasy_split(spec, unknown, paths, MemorySink())


def _repository_tarball(tmp_path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "AudioMNIST-HEAD.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_audiomnist_decoder_refusals(tmp_path):
    from mnistfamily.formats.wav import wav_bytes
    from mnistfamily.prepare.audiomnist_split import build_audiomnist_split
    from mnistfamily.testing.mini_audiomnist import meta_document

    import json

    spec = get_registry().dataset("audiomnist")
    meta = json.dumps(meta_document()).encode()
    wav = wav_bytes(np.arange(100, dtype=np.int16), 48_000)
    good = {"A-1/data/audioMNIST_meta.txt": meta, "A-1/data/05/0_05_0.wav": wav}

    def build(members, split="digit-fold0-test", entry=spec, **options):
        paths = {"AudioMNIST-HEAD.tar.gz": _repository_tarball(tmp_path, members)}
        build_audiomnist_split(entry, _split(entry, split, **options), paths, MemorySink())

    with pytest.raises(FormatError, match="'digit-fold9-test' is not an AudioMNIST fold.*Fix the entry"):
        build(good, fold="digit-fold9-test")
    with pytest.raises(FormatError, match="signals of varying length, stored as float32; the registry entry says "
                                          "signal int16"):
        build(good, entry=dataclasses.replace(spec, image_dtype="int16"))
    with pytest.raises(FormatError, match="no data/audioMNIST_meta.txt in the archive"):
        build({"A-1/data/05/0_05_0.wav": wav})
    with pytest.raises(FormatError, match="under 2 top folders"):
        build({**good, "B-2/data/05/1_05_0.wav": wav})
    with pytest.raises(FormatError, match="audioMNIST_meta.txt is in the archive twice"):
        build({**good, "A-1/data/audioMNIST_meta.txt ": b"", "A-1//data/audioMNIST_meta.txt": meta})
    with pytest.raises(FormatError, match="05/0_05_0.wav is in the archive twice"):
        build({**good, "A-1/./data/05/0_05_0.wav": wav})
    with pytest.raises(FormatError, match="1 recordings; the registry says 6,000"):
        build(good)
    # a split without a known count, and names outside the published ones, are not read
    sink = MemorySink()
    paths = {"AudioMNIST-HEAD.tar.gz": _repository_tarball(tmp_path, {**good, "A-1/data/05/0_05_50.wav": wav,
                                                                      "A-1/data/61/0_61_0.wav": wav})}
    build_audiomnist_split(spec, dataclasses.replace(_split(spec, "digit-fold0-test"), num_examples=None), paths, sink)
    assert sink.arrays["index"].tolist() == [4 * 500] and sink.arrays["samples"].dtype == np.float32
    np.testing.assert_array_equal(sink.arrays["samples"], np.arange(100) / 32768)
    assert sink.report["stored_dtype"] == "<i2" and sink.report["metadata_columns"][0] == "speaker"


def test_mnist3d_decoder_refusals(tmp_path):
    pytest.importorskip("h5py")
    from mnistfamily.prepare.mnist3d_split import build_mnist3d_split
    from mnistfamily.testing.mini_mnist3d import write_mnist3d

    spec = get_registry().dataset("3d-mnist")
    path = tmp_path / "full_dataset_vectors.h5"
    write_mnist3d(path, train=4, test=3)
    paths = {"full_dataset_vectors.h5": path}
    with pytest.raises(FormatError, match="names the part 'validation'.*holds train, test"):
        build_mnist3d_split(spec, _split(spec, "test", part="validation"), paths, MemorySink())
    with pytest.raises(FormatError, match=r"float32 volumes \(16, 16, 16\) of ten digits; the registry entry says "
                                          "volume uint8"):
        build_mnist3d_split(dataclasses.replace(spec, image_dtype="uint8"), _split(spec, "test"), paths, MemorySink())
    with pytest.raises(FormatError, match="3 volumes in X_test; the registry says 2,000"):
        build_mnist3d_split(spec, _split(spec, "test"), paths, MemorySink())


def test_signal_transforms_refuse_what_is_not_signals():
    from mnistfamily.transforms import AudioNet8k, PadOrCrop, Resample, TransformError

    with pytest.raises(TransformError, match=r"PadOrCrop: takes signals \(a Signals, or an array \(N, L\)\), found "
                                             r"shape \(2, 3, 3\)"):
        PadOrCrop(4)(np.zeros((2, 3, 3)))
    with pytest.raises(TransformError, match="length must be a positive int"):
        PadOrCrop(0)
    with pytest.raises(TransformError, match="align='random' needs seed="):
        AudioNet8k(seed=None)
    with pytest.raises(TransformError, match=r"resample: rate must be a positive int \(Hz\), found 0"):
        Resample(0, 8000)
    two = PadOrCrop(3, align="end")(np.arange(8).reshape(2, 4))
    assert two.tolist() == [[1, 2, 3], [5, 6, 7]]


def test_float_examples_reach_torch_as_writable_tensors_of_their_own(loaded):
    torch = pytest.importorskip("torch")
    import warnings

    for name in ("audiomnist/8k", "3d-mnist"):  # float32 in the cache: read-only memory maps
        ds = loaded[0][name]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch warns about tensors over non-writable arrays
            image, _ = ds.to_torch()[0]
        before = image.clone()
        image += 1  # writes into the tensor's own memory, not the cache
        assert torch.equal(before, torch.from_numpy(np.array(ds.examples[0])).reshape(image.shape))
