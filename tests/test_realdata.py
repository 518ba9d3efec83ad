"""Real published files (MNISTFAMILY_REALDATA): every one these datasets use verifies and loads.

See ../shared/realdata/SOURCES.md for where each file came from.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.fetch import FetchSettings, fetch_file
from mnistfamily.registry import get_registry

pytestmark = pytest.mark.realdata

# folder in realdata -> dataset whose registry entry describes the files there
FOLDERS = {"mnist": "mnist", "mnist-kaggle-layout": "mnist", "fashion-mnist": "fashion-mnist",
           "kmnist": "kmnist", "qmnist": "qmnist", "kannada-mnist": "kannada-mnist"}


def _real_files(realdata):
    """(dataset, FileSpec) for every registry file that has a real copy (any name variant)."""
    from mnistfamily.fetch.locations import name_variants

    found = []
    for folder, name in FOLDERS.items():
        spec = get_registry().dataset(name)
        for file in spec.files.values():
            if any((realdata / folder / v).is_file() for v in name_variants(file.name)):
                found.append((folder, spec, file))
    return found


def test_every_real_file_verifies_against_the_registry(realdata, cache):
    found = _real_files(realdata)
    # mnist 3 + kaggle layout 4 + fashion 2 + kmnist 1 + qmnist 3 + kannada 3 (test images/labels, train labels)
    assert len(found) == 16
    for folder, spec, file in found:
        path, how = fetch_file(spec, file, root=cache / folder, settings=FetchSettings(source=realdata / folder))
        assert how.method in ("published", "payload"), (folder, file.name)


def test_published_checksums_are_the_real_files(realdata):
    for folder, spec, file in _real_files(realdata):
        path = realdata / folder / file.name
        if path.is_file():
            data = path.read_bytes()
            assert len(data) == file.size, file.name
            if file.sha256:
                assert hashlib.sha256(data).hexdigest() == file.sha256, file.name
            assert hashlib.md5(data).hexdigest() == file.md5, file.name


def test_kaggle_layout_loads_verified_mnist(realdata, cache):
    loaded = mf.load("mnist", source=realdata / "mnist-kaggle-layout", data_dir=cache)
    train, test = loaded["train"], loaded["test"]
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # byte-exact: the prepared array is the published payload
    raw = (realdata / "mnist-kaggle-layout" / "t10k-images.idx3-ubyte").read_bytes()[16:]
    assert test.images.tobytes() == raw


def test_mnist_test_from_the_published_gz(realdata, cache):
    ds = mf.load("mnist", "test", source=realdata / "mnist", data_dir=cache)
    assert ds.images.shape == (10000, 28, 28)
    assert int(ds.images.astype(np.int64).sum()) == int(
        np.frombuffer((realdata / "mnist-kaggle-layout" / "t10k-images.idx3-ubyte").read_bytes()[16:], np.uint8)
        .astype(np.int64).sum())


def test_qmnist_rows_align_with_mnist(realdata):
    """QMNIST train matches MNIST train and test10k matches MNIST test, row for row (label check)."""
    q_train = mf.read_idx(realdata / "qmnist" / "qmnist-train-labels-idx2-int.gz")
    q_test = mf.read_idx(realdata / "qmnist" / "qmnist-test-labels-idx2-int.gz")
    m_train = mf.read_idx(realdata / "mnist" / "train-labels-idx1-ubyte.gz")
    m_test = mf.read_idx(realdata / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert q_train.shape == (60000, 8) and q_test.shape == (60000, 8)
    np.testing.assert_array_equal(q_train[:, 0], m_train)
    np.testing.assert_array_equal(q_test[:10000, 0], m_test)
    assert not np.array_equal(q_test[10000:20000, 0], m_test)  # the lost digits are other digits
    # facts file: hsf series {0,4} in train, {0,1,4} in test; nist_class = class + 30
    assert set(np.unique(q_train[:, 1]).tolist()) == {0, 4}
    assert set(np.unique(q_test[:, 1]).tolist()) == {0, 1, 4}
    np.testing.assert_array_equal(q_test[:, 4], q_test[:, 0] + 30)


def test_qmnist_nist_labels_decode(realdata):
    table = mf.read_idx(realdata / "qmnist" / "xnist-labels-idx2-int.xz")
    assert table.shape == (402953, 8) and table.dtype == np.int32
    assert table[:, 5].max() == 402952


def test_embedded_sample_matches_the_real_mnist_test_set(realdata):
    sample = mf.load("mnist/sample", "test")
    images = mf.read_idx(realdata / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels = mf.read_idx(realdata / "mnist" / "t10k-labels-idx1-ubyte.gz")
    q_test = mf.read_idx(realdata / "qmnist" / "qmnist-test-labels-idx2-int.gz")
    np.testing.assert_array_equal(sample.images, images[sample.index])
    np.testing.assert_array_equal(sample.labels, labels[sample.index])
    np.testing.assert_array_equal(sample.metadata["writer_id"], q_test[sample.index, 2])


def test_kannada_and_dig_mnist_load_from_the_authors_files(realdata, cache):
    kannada = mf.load("kannada-mnist", "test", source=realdata / "kannada-mnist", data_dir=cache)
    dig = mf.load("dig-mnist", "test", source=realdata / "kannada-mnist", data_dir=cache)
    assert kannada.images.shape == (10000, 28, 28) and dig.images.shape == (10240, 28, 28)
    # the quirk the docs warn about: labels repeat 0..9 in order
    np.testing.assert_array_equal(kannada.labels, np.tile(np.arange(10), 1000))
    np.testing.assert_array_equal(dig.labels, np.tile(np.arange(10), 1024))


def test_kannada_label_npz_files_match_the_idx_labels(realdata):
    """The author's .npz label copies (read with allow_pickle=False) equal the IDX label files."""
    folder = realdata / "kannada-mnist"
    for npz, idx in [("y_kannada_MNIST_train.npz", "y_kannada_MNIST_train-idx1-ubyte.gz"),
                     ("y_kannada_MNIST_test.npz", "y_kannada_MNIST_test-idx1-ubyte.gz"),
                     ("y_dig_MNIST.npz", "y_dig_MNIST-idx1-ubyte.gz")]:
        with np.load(folder / npz, allow_pickle=False) as archive:
            assert archive.files == ["arr_0"]
            np.testing.assert_array_equal(archive["arr_0"], mf.read_idx(folder / idx))


def test_notmnist_idx_conversion_train_labels(realdata):
    """The one real notMNIST file no registry split uses: 60,000 labels of the ten letters."""
    labels = mf.read_idx(realdata / "notmnist" / "train-labels-idx1-ubyte.gz")
    assert labels.shape == (60000,) and set(np.unique(labels).tolist()) == set(range(10))


def test_mnist1d_official_file_loads_exactly(realdata, cache):
    ds = mf.load("mnist1d", "train", source=realdata / "mnist1d", data_dir=cache)
    assert ds.images.shape == (4000, 40) and ds.images.dtype == np.float64


def test_torchvision_raw_layout_of_real_mnist_files(realdata, cache, tmp_path):
    # torchvision keeps MNIST in <root>/MNIST/raw/, the .gz files and their decompressed copies
    raw = tmp_path / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes((realdata / "mnist-kaggle-layout" / "t10k-images.idx3-ubyte").read_bytes())
    (raw / "t10k-labels-idx1-ubyte").write_bytes((realdata / "mnist" / "t10k-labels-idx1-ubyte").read_bytes())
    ds = mf.load("MNIST", "test", source=tmp_path / "torchvision", data_dir=cache)  # torchvision's class name
    assert ds.name == "mnist" and len(ds) == 10_000
    expected = np.frombuffer((raw / "t10k-images-idx3-ubyte").read_bytes()[16:], np.uint8).reshape(-1, 28, 28)
    np.testing.assert_array_equal(ds.images, expected)


def test_a_folder_of_real_emnist_mapping_files_is_not_mistaken_for_the_members(realdata, cache):
    # the real EMNIST files at hand are the six mapping files of gzip.zip: no member, no archive
    from mnistfamily.errors import DownloadError

    with pytest.raises(DownloadError, match=r"emnist/letters \[test\]: 2 of the 2 files needed cannot be taken from "
                                            r"source=") as info:
        mf.load("EMNIST-letters", "test", source=realdata / "emnist", data_dir=cache)
    message = str(info.value)
    for member in ("emnist-letters-test-images-idx3-ubyte.gz", "emnist-letters-test-labels-idx1-ubyte.gz"):
        assert f"{member} (or" in message
    assert "or the archive gzip.zip holding it" in message and "network" not in message
    assert not (cache / "downloads").exists()


def test_fashion_mnist_real_labels_are_the_current_version(realdata):
    # Zalando replaced the files on 2017-08-31; the registry holds the current version, which is
    # what the repository serves (a hash list made before then has 42bd1813... for t10k-labels)
    spec = get_registry().dataset("fashion-mnist")
    for name in ("t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        digest = hashlib.sha256((realdata / "fashion-mnist" / name).read_bytes()).hexdigest()
        assert digest == spec.file(name).sha256
    assert spec.file("t10k-labels-idx1-ubyte.gz").sha256 != \
        "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"


def test_the_usps_test_file_loads_through_the_registry_with_the_facts_counts_and_labels(realdata, cache):
    """usps.t.bz2 (verified against torchvision's md5 and an independent sha256) found by source=, verified,
    prepared and loaded: 2,007 images, the published label k read as the digit k - 1 (facts, section 17)."""
    spec = get_registry().dataset("usps")
    path, how = fetch_file(spec, spec.file("usps.t.bz2"), root=cache, settings=FetchSettings(source=realdata / "usps"))
    assert how.method == "published"
    test = mf.load("usps", "test", source=realdata / "usps", data_dir=cache)
    assert test.images.shape == (2007, 16, 16) and test.images.dtype == np.uint8
    counts = np.bincount(test.labels, minlength=10).tolist()
    assert counts == [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]  # the facts' per-digit counts
    exact = mf.load("usps/float32", "test", source=realdata / "usps", data_dir=cache)
    assert exact.images.dtype == np.float32 and exact.images.min() >= -1 and exact.images.max() <= 1
    # the bytes are torchvision's: floor((x + 1) / 2 * 255) in float32 arithmetic on the published values
    expected = ((exact.images + np.float32(1)) / np.float32(2) * np.float32(255)).astype(np.uint8)
    np.testing.assert_array_equal(test.images, expected)
    np.testing.assert_array_equal(test.labels, exact.labels)


def test_hasyv2_symbols_csv_names_the_registry_classes_in_order(realdata):
    """HASYv2's real symbols.csv (the author's repository copy) gives the registry's 369 classes, row by row."""
    from mnistfamily.formats.hasy import parse_symbols
    from mnistfamily.registry import get_registry

    path = realdata / "hasy" / "symbols.csv"
    table = parse_symbols(path.read_bytes(), str(path))
    spec = get_registry().dataset("hasyv2")
    assert len(table.latex) == 369 and list(spec.classes) == table.latex
    assert int(table.counts.sum()) == spec.splits["all"].num_examples == 168_233
    assert spec.splits["fold1-train"].num_examples + spec.splits["fold1-test"].num_examples == 168_233
