"""3D MNIST's reader: the Kaggle-only error, h5py on use, the published layout, every hostile HDF5 object, memory.

The tests that write HDF5 files need h5py (the ``hdf5`` extra); they are skipped without it.
"""

from __future__ import annotations

import doctest
import io
import sys
import tracemalloc

import numpy as np
import pytest

from mnistfamily.errors import DownloadError, FormatError, MissingDependencyError
from mnistfamily.formats import mnist3d
from mnistfamily.formats.mnist3d import not_downloadable, read_mnist3d
from mnistfamily.formats.sink import MemorySink


def test_without_h5py_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "h5py", None)  # what an environment without h5py gives
    path = tmp_path / "full_dataset_vectors.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(MissingDependencyError, match=r"3d-mnist: reading full_dataset_vectors.h5 \(an HDF5 file\) "
                                                     r"needs h5py, which is not installed\. Install it with pip "
                                                     r"install 'mnistfamily\[hdf5\]'"):
        read_mnist3d(path, MemorySink(), split="train")
    assert issubclass(MissingDependencyError, ImportError)


def test_the_error_without_source_says_exactly_where_to_get_the_file():
    error = not_downloadable()
    assert isinstance(error, DownloadError) and isinstance(error, OSError)
    text = str(error)
    for needed in ("published only on Kaggle (dataset daavoo/3d-mnist), which needs a login",
                   "https://www.kaggle.com/datasets/daavoo/3d-mnist", "kaggle datasets download -d daavoo/3d-mnist",
                   "unzip 3d-mnist.zip", "source= the folder holding full_dataset_vectors.h5",
                   "mf.load('3d-mnist', split='train', source='~/Downloads/3d-mnist')"):
        assert needed in text, needed
    with pytest.raises(DownloadError, match=r"3d-mnist: full_dataset_vectors.h5 is published only on Kaggle"):
        raise not_downloadable()


def test_an_unknown_split_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"3d-mnist has the splits train, test, not 'validation'"):
        read_mnist3d(tmp_path / "x.h5", MemorySink(), split="validation")


def test_the_doctests_run():
    assert doctest.testmod(mnist3d).failed == 0


# ------------------------------------------------------------------------------------------ with h5py

try:
    import h5py
except ImportError:  # the tests below are skipped, the ones above still run
    h5py = None

from mnistfamily.testing.mini_mnist3d import write_mnist3d  # noqa: E402  (imports h5py when called)


@pytest.fixture
def h5(tmp_path):
    """Where a test writes its HDF5 file; skips the test when h5py is not installed."""
    if h5py is None:
        pytest.skip("the hdf5 extra (h5py) is not installed")
    return tmp_path / "full_dataset_vectors.h5"


def _read(source, split="train"):
    sink = MemorySink()
    return read_mnist3d(source, sink, split=split), sink


def _check(sink: MemorySink, expected: dict) -> None:
    for key in ("images", "labels", "index"):
        assert sink.arrays[key].dtype == expected[key].dtype, key
        np.testing.assert_array_equal(sink.arrays[key], expected[key], err_msg=key)


@pytest.mark.parametrize("options", [None, {"chunks": (8, 4096), "compression": "gzip", "shuffle": True,
                                            "fletcher32": True}, {"chunks": (4, 4096), "compression": "lzf"}])
@pytest.mark.parametrize("x_dtype, y_dtype", [("<f8", "<i8"), ("<f4", "<u1"), ("<f2", "<f8"), ("|u1", "<i4")])
def test_the_miniature_reads_back_exactly(h5, options, x_dtype, y_dtype):
    expected = write_mnist3d(h5, train=300, test=9, x_dtype=x_dtype, y_dtype=y_dtype, dataset_options=options)
    for split in ("train", "test"):
        result, sink = _read(h5, split)
        _check(sink, expected[split])
        assert sink.arrays["images"].shape == (len(expected[split]["labels"]), 16, 16, 16)
        assert result.stored_dtype == np.dtype(x_dtype).str and result.nonfinite == 0


def test_a_stream_reads_like_a_path_and_labels_may_be_a_column(h5):
    expected = write_mnist3d(h5, train=5, test=3)
    with h5py.File(h5, "a") as f:
        labels = f["y_test"][()]
        del f["y_test"]
        f.create_dataset("y_test", data=labels.reshape(-1, 1))
    _, sink = _read(io.BytesIO(h5.read_bytes()), "test")
    _check(sink, expected["test"])


def test_nonfinite_voxels_are_kept_and_counted(h5):
    write_mnist3d(h5, train=4, test=2)
    with h5py.File(h5, "a") as f:
        f["X_train"][0, :3] = [np.nan, np.inf, 1e300]  # 1e300 overflows float32
    result, sink = _read(h5)
    assert result.nonfinite == 3 and sink.report["nonfinite_voxels"] == 3
    assert np.isnan(sink.arrays["images"][0, 0, 0, 0])


def _rewrite(h5, name, **create):
    with h5py.File(h5, "a") as f:
        del f[name]
        f.create_dataset(name, **create)


def test_links_groups_and_missing_datasets_are_refused(h5, tmp_path):
    write_mnist3d(h5, train=4, test=2)
    other = tmp_path / "other.h5"
    write_mnist3d(other, train=4, test=2)
    with h5py.File(h5, "a") as f:
        f["X_copy"] = f["X_train"]
        del f["X_train"]
        f["X_train"] = h5py.SoftLink("/X_copy")
    with pytest.raises(FormatError, match=r"'X_train' is a SoftLink, not a dataset stored in the file; links .* "
                                          r"are not followed"):
        _read(h5)
    with h5py.File(h5, "a") as f:
        del f["X_train"]
        f["X_train"] = h5py.ExternalLink(str(other), "/X_train")
    with pytest.raises(FormatError, match=r"'X_train' is a ExternalLink"):
        _read(h5)
    with h5py.File(h5, "a") as f:
        del f["X_train"]
        f.create_group("X_train")
    with pytest.raises(FormatError, match=r"'X_train' is a Group, not a dataset"):
        _read(h5)
    with h5py.File(h5, "a") as f:
        del f["X_train"]
    with pytest.raises(FormatError, match=r"no dataset 'X_train' at the root \(found X_copy, X_test, y_test, "
                                          r"y_train\); the published file holds X_train, y_train, X_test, y_test"):
        _read(h5)


def test_a_name_that_is_not_utf8_is_shown_among_those_found(h5):
    # found by fuzzing: h5py lists such a name as bytes, which sorting with str names broke
    write_mnist3d(h5, train=4, test=2)
    with h5py.File(h5, "a") as f:
        f[b"\xff\xfeX"] = f["X_train"][()]
        del f["X_train"]
    with pytest.raises(FormatError, match=r"no dataset 'X_train' at the root \(found X_test, "
                                          r"b'\\xff\\xfeX', y_test, y_train\)"):
        _read(h5)


def test_data_kept_in_other_files_is_never_opened(h5, tmp_path):
    write_mnist3d(h5, train=4, test=2)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(bytes(4 * 4096 * 8))
    _rewrite(h5, "X_train", shape=(4, 4096), dtype="<f8", external=[(str(raw), 0, 4 * 4096 * 8)])
    with pytest.raises(FormatError, match=r"'X_train' keeps its data in external files, which are never opened"):
        _read(h5)
    layout = h5py.VirtualLayout(shape=(4, 4096), dtype="<f8")
    layout[:] = h5py.VirtualSource(str(tmp_path / "elsewhere.h5"), "X", shape=(4, 4096))
    with h5py.File(h5, "a") as f:
        del f["X_train"]
        f.create_virtual_dataset("X_train", layout)
    with pytest.raises(FormatError, match=r"'X_train' is a virtual dataset \(its data is in other files\)"):
        _read(h5)


@pytest.mark.parametrize("create, message", [
    ({"data": np.zeros((4, 4096), "<c16")}, r"'X_train' is complex128 with 2 dimension\(s\); expected .* plain numbers"),
    ({"data": np.zeros((4, 2), [("a", "<f8"), ("b", "<f8")])}, r"'X_train' is \[\('a', '<f8'\), \('b', '<f8'\)\]"),
    ({"data": np.array([b"abc"] * 4)}, r"'X_train' is \|S3"),
    ({"data": np.zeros((4, 16, 256))}, r"'X_train' is float64 with 3 dimension\(s\)"),
    ({"data": np.zeros((4, 4095))}, r"'X_train' has shape \(4, 4095\); expected \(N, 4096\)"),
    ({"data": np.zeros((4, 4096)), "chunks": (4, 4096), "scaleoffset": 2}, r"'X_train' is compressed with HDF5 "
                                                                           r"filter 6; only deflate, shuffle, "
                                                                           r"fletcher32, lzf"),
    ({"shape": (4, 4096), "dtype": "<f8"}, r"'X_train' declares 131,072 bytes of float64 \(4, 4096\) but stores 0"),
])
def test_hostile_image_datasets_are_refused_before_reading(h5, create, message):
    write_mnist3d(h5, train=4, test=2)
    _rewrite(h5, "X_train", **create)
    with pytest.raises(FormatError, match=rf"3d-mnist full_dataset_vectors.h5: {message}"):
        _read(h5)


@pytest.mark.parametrize("labels, message", [
    (np.arange(5), r"'y_train' has shape \(5,\); expected \(4,\)"),
    (np.array([0, 1, 10, 2]), r"'y_train'\[2\] is 10; labels are the digits 0 to 9 \(1 outside\)"),
    (np.array([0, -1, 3, 2]), r"'y_train'\[1\] is -1"),
    (np.array([0.0, 1.5, 3, 2]), r"'y_train'\[1\] is 1.5; labels are the digits 0 to 9"),
    (np.array([0.0, np.nan, 3, 2]), r"'y_train'\[1\] is nan"),
])
def test_labels_must_be_one_digit_per_row(h5, labels, message):
    write_mnist3d(h5, train=4, test=2)
    _rewrite(h5, "y_train", data=labels)
    with pytest.raises(FormatError, match=message):
        _read(h5)


def test_declared_sizes_are_bounded_before_reading(h5, monkeypatch):
    write_mnist3d(h5, train=40, test=40, dataset_options={"chunks": (40, 4096), "compression": "gzip"})
    monkeypatch.setattr(mnist3d, "MAX_CHUNK_BYTES", 1 << 20)
    with pytest.raises(FormatError, match=r"'X_train' is stored in chunks of \(40, 4096\) \(float64\), more than "
                                          r"1,048,576 bytes each once decoded"):
        _read(h5)
    monkeypatch.setattr(mnist3d, "MAX_CHUNK_BYTES", 16 << 20)
    monkeypatch.setattr(mnist3d, "MAX_ROWS", 10)
    with pytest.raises(FormatError, match=r"'X_train' declares 40 rows; the published file holds 12,000"):
        _read(h5)


def test_a_compressed_dataset_declaring_more_than_deflate_can_give_is_refused(h5):
    write_mnist3d(h5, train=4, test=2)
    # 200,000 rows of zeros in chunks HDF5 never allocated: a few KB on disk, 6.5 GB declared
    _rewrite(h5, "X_train", shape=(200_000, 4096), dtype="<f8", chunks=(128, 4096), compression="gzip")
    _rewrite(h5, "y_train", data=np.zeros(200_000, np.uint8))
    with pytest.raises(FormatError, match=r"'X_train' declares 6,553,600,000 bytes .* but stores 0"):
        _read(h5)


def test_files_that_are_not_hdf5_or_are_damaged_are_format_errors(h5, tmp_path):
    not_hdf5 = tmp_path / "x.h5"
    not_hdf5.write_bytes(b"PK\x03\x04" + bytes(2000))
    with pytest.raises(FormatError, match=r"not an HDF5 file \(no HDF5 signature at byte 0, 512, 1024"):
        _read(not_hdf5)
    write_mnist3d(h5, train=300, test=2)
    data = h5.read_bytes()
    h5.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match=r"3d-mnist full_dataset_vectors.h5: (HDF5 cannot open it|'X_\w+' declares|"
                                          r"the HDF5 data cannot be read)"):
        _read(h5)
    with pytest.raises(FormatError, match=r"reading HDF5 needs a path or a seekable stream"):
        read_mnist3d(_Pipe(), MemorySink(), split="train")  # type: ignore[arg-type]
    with pytest.raises(FormatError, match=r"cannot read it"):
        _read(tmp_path / "missing.h5")


class _Pipe(io.RawIOBase):
    def readable(self):
        return True


def test_memory_stays_at_the_output_plus_one_block(h5):
    expected = write_mnist3d(h5, train=1500, test=2)
    output = expected["train"]["images"].nbytes + 2 * 8 * 1500
    tracemalloc.start()
    try:
        result, _ = _read(h5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.num_examples == 1500
    # numpy's share: the float32 output, one block of 128 rows (2 MiB, converted by HDF5 as it reads) and
    # h5py's buffer for that read (measured: 4.2 MB over the output in all)
    assert peak < output + (6 << 20), (peak, output)
