"""Keras-style .npz and IDX exports, for tools that read only those; and the export command."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import zipfile

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.cli.export import add_export_command
from mnistfamily.outputs import (ExportError, ExportExistsError, export_idx, export_npz,
                                read_parquet)

SAMPLE = "mnist/sample"


def payload_sha256(path) -> str:
    with gzip.open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_npz_has_keras_keys_and_reads_without_pickle(tmp_path):
    sample = mf.load(SAMPLE, "test")
    path = export_npz(SAMPLE, tmp_path / "sample.npz")
    assert path == f"file://{tmp_path / 'sample.npz'}"
    with np.load(tmp_path / "sample.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["classes", "x_test", "y_test"]
        assert npz["x_test"].dtype == np.uint8 and npz["y_test"].dtype == np.uint8
        np.testing.assert_array_equal(npz["x_test"], sample.images)
        np.testing.assert_array_equal(npz["y_test"], sample.labels)
        assert npz["classes"].tolist() == sample.classes


def test_npz_of_several_splits_is_reproducible(tmp_path):
    sample = mf.load(SAMPLE, "test")
    splits = {"train": sample.select(slice(0, 1500)), "test": sample.select(slice(1500, None))}
    export_npz(splits, tmp_path / "a.npz", compressed=True)
    export_npz(splits, tmp_path / "b.npz", compressed=True)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        assert [i.filename for i in archive.infolist()] == ["x_train.npy", "y_train.npy", "x_test.npy",
                                                            "y_test.npy", "classes.npy"]
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with np.load(tmp_path / "a.npz") as npz:
        assert npz["x_train"].shape == (1500, 28, 28) and npz["x_test"].shape == (500, 28, 28)
    with pytest.raises(ExportExistsError, match="overwrite=True"):
        export_npz(splits, tmp_path / "a.npz")
    export_npz(splits, tmp_path / "a.npz", splits=["test"], overwrite=True)
    with np.load(tmp_path / "a.npz") as npz:
        assert sorted(npz.files) == ["classes", "x_test", "y_test"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_idx_export_equals_the_published_files(tmp_path):
    """The sample's three IDX files come back byte for byte (decompressed): images, QMNIST table, index."""
    urls = export_idx(SAMPLE, tmp_path)
    names = [u.rsplit("/", 1)[-1] for u in urls]
    assert names == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx2-int.gz",
                     "t10k-index-idx1-int.gz"]
    published = {f["name"]: f["payload_sha256"] for f in mf.info(SAMPLE).files}
    assert payload_sha256(tmp_path / names[0]) == published["mnist-sample-images-idx3-ubyte.gz"]
    assert payload_sha256(tmp_path / names[2]) == published["mnist-sample-labels-idx2-int.gz"]
    assert payload_sha256(tmp_path / names[3]) == published["mnist-sample-index-idx1-int.gz"]
    sample = mf.load(SAMPLE, "test")
    np.testing.assert_array_equal(mf.read_idx(tmp_path / names[0]), sample.images)
    np.testing.assert_array_equal(mf.read_idx(tmp_path / names[1]), sample.labels)
    with pytest.raises(ExportExistsError, match=r"t10k-images-idx3-ubyte\.gz.* already exist\(s\); pass overwrite=True"):
        export_idx(SAMPLE, tmp_path)


def test_idx_export_of_a_parquet_read_back_equals_the_source(tmp_path):
    pytest.importorskip("pyarrow")
    from mnistfamily.outputs import export

    export(SAMPLE, tmp_path / "lake")
    back = read_parquet(tmp_path / "lake" / "mnist--sample")
    export_idx(back, tmp_path / "from-parquet")
    export_idx(SAMPLE, tmp_path / "direct")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx2-int.gz", "t10k-index-idx1-int.gz"):
        assert (tmp_path / "from-parquet" / name).read_bytes() == (tmp_path / "direct" / name).read_bytes()


def test_idx_options_are_checked(tmp_path):
    with pytest.raises(ExportError, match="compression must be"):
        export_idx(SAMPLE, tmp_path, compression="bz2")
    with pytest.raises(ExportError, match="no split 'train'"):
        export_idx({"test": mf.load(SAMPLE, "test")}, tmp_path, splits=["train"])


@pytest.mark.realdata
def test_idx_export_of_real_mnist_equals_the_published_payload(tmp_path, realdata, cache):
    kwargs = dict(source=str(realdata / "mnist-kaggle-layout"), data_dir=cache)
    export_idx("mnist", tmp_path / "idx", splits=["test"], **kwargs)
    published = {f["name"]: f["payload_sha256"] for f in mf.info("mnist").files}
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert payload_sha256(tmp_path / "idx" / name) == published[name]
    # and mnistfamily loads its own export as a source: same names, verified by content
    again = mf.load("mnist", "test", source=tmp_path / "idx", data_dir=tmp_path / "cache2")
    np.testing.assert_array_equal(again.images, mf.load("mnist", "test", **kwargs).images)


def parser_with(parents=()):
    parser = argparse.ArgumentParser(prog="mnistfamily")
    commands = parser.add_subparsers(dest="command")
    add_export_command(commands, parents=parents)
    return parser


def test_cli_export_parquet_npz_idx(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    parser = parser_with()
    args = parser.parse_args(["export", SAMPLE, str(tmp_path / "lake"), "--rows-per-shard", "1000",
                              "--data-dir", str(tmp_path / "cache")])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "mnist--sample" in out and "split=test: 2,000 rows in 2 shards" in out
    assert len(read_parquet(tmp_path / "lake" / "mnist--sample")["test"]) == 2000

    args = parser.parse_args(["export", SAMPLE, str(tmp_path / "k.npz"), "--format", "npz"])
    assert args.run(args) == 0
    assert (tmp_path / "k.npz").exists()
    args = parser.parse_args(["export", SAMPLE, str(tmp_path / "idx"), "--format", "idx", "--compression", "none"])
    assert args.run(args) == 0
    assert (tmp_path / "idx" / "t10k-images-idx3-ubyte").exists()
    args = parser.parse_args(["export", SAMPLE, str(tmp_path / "lake")])
    with pytest.raises(ExportExistsError, match="--overwrite"):
        args.run(args)


def test_cli_takes_data_dir_and_source_from_parent_parsers(tmp_path):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir")
    common.add_argument("--source")
    parser = parser_with(parents=[common])
    args = parser.parse_args(["export", SAMPLE, str(tmp_path), "--data-dir", "x", "--split", "test",
                              "--image-encoding", "png", "--workers", "2", "--storage-option", "anon=true"])
    assert (args.data_dir, args.splits, args.image_encoding, args.workers) == ("x", ["test"], "png", 2)
    assert args.storage_options == ["anon=true"]
    with pytest.raises(SystemExit, match="^2$"):
        parser.parse_args(["export", SAMPLE, str(tmp_path), "--rows-per-shard", "0"])
