"""load(..., metadata="qmnist"): QMNIST's writer metadata joined onto MNIST's own rows."""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import FormatError, UnknownNameError
from mnistfamily.testing import serve_directory, write_miniatures


@pytest.mark.realdata
def test_qmnist_metadata_on_real_mnist(realdata, cache):
    train = mf.load("mnist", "train", source=realdata / "mnist-kaggle-layout", data_dir=cache)
    joined = mf.load("mnist", "train", source=realdata, data_dir=cache, metadata="qmnist")
    np.testing.assert_array_equal(joined.images, train.images)
    assert np.unique(joined.metadata["hsf_series"]).tolist() == [0, 4]
    assert np.bincount(joined.metadata["hsf_series"])[[0, 4]].tolist() == [30950, 29050]
    np.testing.assert_array_equal(joined.metadata["class"], joined.labels)  # checked by the join itself
    test = mf.load("mnist", "test", source=realdata, data_dir=cache, metadata="qmnist")
    assert np.bincount(test.metadata["hsf_series"])[[0, 4]].tolist() == [4999, 5001]
    # subsets keep their rows: the metadata follows each example's published position
    students = test.filter(hsf_series=4)
    assert len(students) == 5001 and set(students.metadata["writer_id"].tolist()) <= set(range(2100, 2600))
    # derived datasets inherit the join
    deskewed = mf.load("mnist/deskewed", "test", source=realdata, data_dir=cache, metadata="qmnist")
    np.testing.assert_array_equal(deskewed.metadata["writer_id"], test.metadata["writer_id"])


def test_misaligned_tables_are_refused(tmp_path, cache):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=["mnist", "qmnist"])  # independent random labels
        with pytest.raises(FormatError, match=r"disagree on the class of \d+ of 10 rows: they are not aligned"):
            mf.load("mnist", "test", registry=mini.registry, data_dir=cache, metadata="qmnist")
        with pytest.raises(UnknownNameError, match=r"has no metadata 'writers' to join \(offered: qmnist, label-errors\)"):
            mf.load("mnist", "test", registry=mini.registry, data_dir=cache, metadata="writers")


def test_metadata_with_source_never_goes_to_the_internet(tmp_path, cache):
    from mnistfamily.errors import DownloadError

    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=["mnist", "qmnist"])
        source = tmp_path / "mine"  # MNIST's files only: QMNIST's label table is not there
        source.mkdir()
        for path in mini.files["mnist"].values():
            (source / path.name).write_bytes(path.read_bytes())
        with pytest.raises(DownloadError, match=r"metadata='qmnist' needs qmnist's qmnist-test-labels-idx2-int\.gz, "
                                                r"and source= is used instead of mirrors and the internet"):
            mf.load("mnist", "test", registry=mini.registry, data_dir=cache, source=source, metadata="qmnist")
        assert [r.path for r in server.requests] == []  # not MNIST's files, not QMNIST's table: nothing
