"""Tests for the ``mnistfamily`` command, run in-process through ``main([...])``.

Only the embedded ``mnist/sample`` and, for ``realdata`` tests, the real MNIST test files in
``$MNISTFAMILY_REALDATA/mnist`` are used: nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mnistfamily as mf
from mnistfamily.cli import main
from mnistfamily.preview import CELL_GAP

SAMPLE = "mnist/sample"


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def realdata_mnist() -> Path:
    folder = os.environ.get("MNISTFAMILY_REALDATA")
    if not folder or not (Path(folder) / "mnist").is_dir():
        pytest.skip("MNISTFAMILY_REALDATA is not set to the folder of real files")
    return Path(folder) / "mnist"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ----------------------------------------------------------------------------- global options


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"mnistfamily {mf.__version__}"


def test_no_command_prints_help_and_fails(capsys):
    code, out, err = run(capsys)
    assert code == 2
    assert "usage: mnistfamily" in err and "demo" in err
    assert out == ""


def test_usage_error_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "preview", SAMPLE, "--split", "test", "--out", tmp_path / "x.png",
                       "--per-class", "0")
    assert code == 2
    assert "--per-class" in err and "at least 1" in err
    assert not (tmp_path / "x.png").exists()


def test_verbose_logs_at_info_on_stderr_before_or_after_the_command(capsys, data_dir):
    code, _, err = run(capsys, "-v", "load", SAMPLE, "--split", "test", "--data-dir", data_dir)
    assert code == 0
    assert "info: preparing mnist/sample [test]" in err
    code, _, err = run(capsys, "load", SAMPLE, "--split", "test", "--data-dir", data_dir / "other", "-v")
    assert code == 0 and "info: preparing" in err


def test_default_and_quiet_do_not_log_info_and_leave_logging_as_it_was(capsys, data_dir):
    logger = logging.getLogger("mnistfamily")
    handlers, level = list(logger.handlers), logger.level
    code, _, err = run(capsys, "load", SAMPLE, "--split", "test", "--data-dir", data_dir)
    assert code == 0 and err == ""
    code, _, err = run(capsys, "-q", "load", SAMPLE, "--split", "test", "--data-dir", data_dir / "q")
    assert code == 0 and err == ""
    assert logger.handlers == handlers and logger.level == level


# ----------------------------------------------------------------------------- list and info


def test_list_shows_every_dataset_with_splits_and_sizes(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["dataset", "classes", "example", "splits"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert sorted(by_name) == mf.datasets()
    for name in mf.datasets():
        splits = list(mf.info(name).splits.items())
        for split, count in splits[:4]:
            shown = f"{split} {count:,}" if count is not None else f"{split} (count unknown)"
            assert shown in by_name[name]
        # a dataset of many splits (HASYv2's folds) keeps to one readable line and says where the rest are
        rest = f"and {len(splits) - 4} more (mnistfamily info {name})"
        assert (rest in by_name[name]) == (len(splits) > 4)
    assert "test 2,000" in by_name[SAMPLE]
    assert "and 17 more (mnistfamily info hasyv2)" in by_name["hasyv2"]


def test_info_prints_the_description_files_checksums_and_citation(capsys):
    code, out, _ = run(capsys, "info", "mnist")
    info = mf.info("mnist")
    assert code == 0
    assert out.startswith(str(info))
    for record in info.files:
        assert f"{record['name']}  {record['size']:,} bytes" in out
        assert f"md5:{record['md5']}" in out and f"sha256:{record['sha256']}" in out
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz" in out
    assert "citation\n  Y. LeCun" in out and "Gradient-based learning" in out


@pytest.mark.parametrize("argv", [
    ["info", "mnistfamly"],
    ["load", "mnistfamly", "--split", "test"],
    ["download", "mnistfamly"],
    ["verify", "mnistfamly"],
    ["preview", "mnistfamly", "--split", "test", "--out", "x.png"],
])
def test_unknown_name_exits_2_with_a_close_match_and_no_traceback(capsys, argv, tmp_path):
    code, out, err = run(capsys, *argv, *(["--data-dir", tmp_path] if argv[0] != "info" else []))
    assert code == 2
    assert out == ""
    assert err.startswith("error: unknown dataset 'mnistfamly'")
    assert "did you mean 'mnist" in err
    assert "mnistfamily list" in err


def test_unknown_split_suggests_the_right_one(capsys, data_dir):
    code, _, err = run(capsys, "load", SAMPLE, "--split", "tset", "--data-dir", data_dir)
    assert code == 2
    assert err.startswith("error: ") and "'tset'" in err and "did you mean 'test'" in err


# ----------------------------------------------------------------------------- load and download


def test_load_prints_a_summary(capsys, data_dir):
    code, out, _ = run(capsys, "load", SAMPLE, "--split", "test", "--data-dir", data_dir)
    assert code == 0
    assert out.startswith("mnist/sample [test]: 2,000 examples")
    assert "images     uint8 (2000, 28, 28)" in out
    assert "labels     int64 (2000,)" in out
    assert "classes    10: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in out
    assert "per class  0: 200  1: 200" in out and "9: 200" in out
    ds = mf.load(SAMPLE, split="test", data_dir=data_dir)
    for column, values in ds.metadata.items():
        line = next(line for line in out.splitlines() if line.split()[:1] == [column])
        assert line.split()[1:] == [str(values.dtype), str(values.min()), str(values.max())]
    cache_line = next(line for line in out.splitlines() if line.strip().startswith("cache"))
    entry = Path(cache_line.split(None, 1)[1])
    assert entry.parent == data_dir / "prepared" / "mnist" / "sample"
    assert (entry / "images.npy").is_file()


@pytest.mark.realdata
def test_load_from_a_source_folder_of_real_files(capsys, data_dir, realdata_mnist):
    code, out, _ = run(capsys, "load", "mnist", "--split", "test", "--source", realdata_mnist,
                       "--data-dir", data_dir)
    assert code == 0
    assert "mnist [test]: 10,000 examples" in out
    assert "uint8 (10000, 28, 28)" in out
    assert "1: 1,135" in out and "5: 892" in out  # MNIST's published test class counts
    assert "metadata" not in out
    assert (data_dir / "downloads" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


@pytest.mark.realdata
def test_download_prints_each_verified_path(capsys, data_dir, realdata_mnist):
    code, out, _ = run(capsys, "download", "mnist", "--split", "test", "--source", realdata_mnist,
                       "--data-dir", data_dir)
    assert code == 0
    paths = [Path(line) for line in out.splitlines()]
    assert [p.name for p in paths] == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for path in paths:
        assert path.parent == data_dir / "downloads" / "mnist"
        assert path.read_bytes() == (realdata_mnist / path.name).read_bytes()


def test_download_of_the_embedded_sample_prints_its_packaged_files(capsys, data_dir):
    code, out, _ = run(capsys, "download", SAMPLE, "--data-dir", data_dir)
    assert code == 0
    paths = [Path(line) for line in out.splitlines()]
    assert sorted(p.name for p in paths) == sorted(r["name"] for r in mf.info(SAMPLE).files)
    assert all(p.is_file() for p in paths)


def test_download_from_a_folder_without_the_files_is_an_error(capsys, data_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(capsys, "download", "mnist", "--split", "test", "--source", empty,
                         "--data-dir", data_dir)
    assert code == 2
    assert out == ""
    assert err.startswith("error: mnist [test]: 2 of the 2 files needed cannot be taken from source=")
    assert str(empty) in err and "t10k-images-idx3-ubyte.gz" in err and "t10k-labels-idx1-ubyte.gz" in err


# ----------------------------------------------------------------------------- verify


def test_verify_repairs_a_damaged_prepared_cache(capsys, data_dir):
    assert run(capsys, "load", SAMPLE, "--split", "test", "--data-dir", data_dir)[0] == 0
    original = np.array(mf.load(SAMPLE, split="test", data_dir=data_dir).images)
    code, out, _ = run(capsys, "verify", "--data-dir", data_dir)
    assert code == 0 and out.startswith("all verified")

    (images,) = (data_dir / "prepared").glob("mnist/sample/test@*/images.npy")
    damaged = bytearray(images.read_bytes())
    damaged[-200:-100] = bytes(b ^ 0xFF for b in damaged[-200:-100])
    images.write_bytes(bytes(damaged))

    code, out, _ = run(capsys, "verify", SAMPLE, "--data-dir", data_dir)
    assert code == 1
    assert f"problem: {images}" in out and "CRC-32" in out
    assert "--repair" in out

    code, out, _ = run(capsys, "verify", "--repair", "--data-dir", data_dir)
    assert code == 0
    assert f"problem: {images}" in out
    assert f"  repair: deleted and rebuilt: {images.parent} is verified" in out
    assert out.endswith("1 problem(s) found and repaired; the cache verifies.\n")
    np.testing.assert_array_equal(np.load(images), original)  # rebuilt in place, not just deleted

    code, out, _ = run(capsys, "verify", "--data-dir", data_dir)
    assert (code, out) == (0, f"all verified (every dataset; cache {data_dir})\n")
    assert run(capsys, "load", SAMPLE, "--split", "test", "--data-dir", data_dir)[0] == 0
    np.testing.assert_array_equal(mf.load(SAMPLE, split="test", data_dir=data_dir).images, original)


# ----------------------------------------------------------------------------- preview and demo


def test_preview_writes_a_labelled_png(capsys, data_dir, tmp_path):
    out_file = tmp_path / "previews" / "sample.png"
    code, out, _ = run(capsys, "preview", SAMPLE, "--split", "test", "--out", out_file,
                       "--per-class", "5", "--scale", "1", "--data-dir", data_dir)
    assert code == 0
    assert Path(out.strip()) == out_file.resolve()
    with Image.open(out_file) as picture:
        assert picture.format == "PNG"
        pixels = np.asarray(picture)
    assert pixels.shape[0] == CELL_GAP + 10 * (28 + CELL_GAP)  # one row per class
    label_width = pixels.shape[1] - 5 * (28 + CELL_GAP)  # then 5 columns of cells
    assert 4 < label_width < 60
    cells = pixels[:, label_width:]
    assert (cells > 200).sum() > 2000 and (cells == 0).sum() > 20000  # white digits on black
    assert pixels[:, :label_width].max() > 200  # the class names


def test_preview_with_more_per_class_and_a_larger_scale(capsys, data_dir, tmp_path):
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    assert run(capsys, "preview", SAMPLE, "--split", "test", "--out", small, "--per-class", "2",
               "--scale", "1", "--data-dir", data_dir)[0] == 0
    assert run(capsys, "preview", SAMPLE, "--split", "test", "--out", large, "--per-class", "4",
               "--scale", "2", "--data-dir", data_dir)[0] == 0
    with Image.open(small) as a, Image.open(large) as b:
        assert b.height == CELL_GAP + 10 * (56 + CELL_GAP)
        assert b.height - a.height == 10 * 28
        assert (b.width - 4 * (56 + CELL_GAP)) >= (a.width - 2 * (28 + CELL_GAP))  # label area


def test_preview_to_an_unwritable_place_is_an_error(capsys, data_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run(capsys, "preview", SAMPLE, "--split", "test", "--out", blocker / "x.png",
                         "--data-dir", data_dir)
    assert code == 2
    assert err.startswith("error: ") and "a-file" in err
    assert out == ""


def test_demo_summarises_the_sample_with_its_qmnist_metadata_and_writes_a_preview(capsys, data_dir, tmp_path):
    out_file = tmp_path / "demo.png"
    code, out, _ = run(capsys, "demo", "--data-dir", data_dir, "--out", out_file)
    assert code == 0
    ds = mf.load(SAMPLE, split="test", data_dir=data_dir)
    series = ds.metadata["hsf_series"]
    census, students = int((series <= 3).sum()), int((series == 4).sum())
    assert census + students == 2000 and census > 0 and students > 0
    assert f"{census:,} digits by Census Bureau employees (hsf_series 0-3)" in out
    assert f"{students:,} digits by high-school students (hsf_series 4)" in out
    assert f"{len(np.unique(ds.metadata['writer_id'])):,} different writers" in out
    assert "mnist/sample [test]: 2,000 examples" in out
    assert f"preview written to {out_file.resolve()}" in out
    assert "mnistfamily list" in out and "mnistfamily info" in out
    with Image.open(out_file) as picture:
        assert picture.height == CELL_GAP + 10 * (56 + CELL_GAP)


def test_python_m_mnistfamily_demo_works_on_a_fresh_machine(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNISTFAMILY_")}
    env["MNISTFAMILY_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-m", "mnistfamily", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    picture_path = tmp_path / "mnistfamily-demo.png"
    assert f"preview written to {picture_path.resolve()}" in done.stdout
    assert "high-school students (hsf_series 4)" in done.stdout
    with Image.open(picture_path) as picture:
        assert picture.format == "PNG"
        assert np.asarray(picture).max() == 255
    assert list((tmp_path / "home" / "prepared" / "mnist" / "sample").glob("test@*/manifest.json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "mnistfamily-demo.png"]
