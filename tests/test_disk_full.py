"""A full disk while downloading, preparing and exporting: a clear error, no temporary files, the old state kept.

The disk is a real 2 MB tmpfs where the machine lets us mount one (root in a container);
otherwise those tests are skipped and the injected-ENOSPC test at the end still runs.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import CacheError
from mnistfamily.outputs import ExportDiskFullError, export, export_npz, read_parquet
from mnistfamily.testing import serve_directory, write_miniatures

SAMPLE = "mnist/sample"


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs mounted at a fresh folder, or a skip when mounting is not allowed here."""
    folder = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the injected ENOSPC test runs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave: int = 8192) -> None:
    """Take all the free space of ``disk`` but ``leave`` bytes."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(disk / "filler", "ab") as f:
        f.write(b"\0" * max(0, free - leave))


def hidden_leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith((".tmp-", ".old-", ".trash-", ".mnistfamily-tmp-"))
            or p.name.endswith((".part", ".tmp"))]


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "filler"}


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url, names=["mnist"], scale=100)  # 600 training images


def test_download_on_a_full_disk_leaves_no_partial_file_and_keeps_the_cache(served, small_disk, monkeypatch):
    monkeypatch.setenv("MNISTFAMILY_BACKOFF", "0.001")
    _, mini = served
    cache = small_disk / "cache"
    mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    fill(small_disk)
    with pytest.raises(OSError, match="No space left on device"):  # DownloadError or CacheError: both are OSErrors
        mf.load("mnist", "train", registry=mini.registry, data_dir=cache)
    assert hidden_leftovers(cache) == []
    assert not (cache / "downloads" / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert mf.verify("mnist", registry=mini.registry, data_dir=cache) == []
    ds = mf.load("mnist", "test", registry=mini.registry, data_dir=cache, download=False)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])


def test_download_on_a_full_disk_says_the_disk_is_full(served, small_disk):
    server, mini = served
    cache = small_disk / "cache"
    mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    fill(small_disk)
    server.reset_counts()
    with pytest.raises(CacheError, match=r"(?s)downloads.*No space left.*full: free some space.*data_dir=") as caught:
        mf.load("mnist", "train", registry=mini.registry, data_dir=cache)
    assert "network" not in str(caught.value)
    # the local disk's failure: not retried, and no other location is tried
    assert len([r for r in server.requests if r.method == "GET"]) == 1
    assert hidden_leftovers(cache) == []


def test_prepare_on_a_full_disk_is_a_clear_error_and_keeps_the_cache(served, small_disk):
    _, mini = served
    cache = small_disk / "cache"
    mf.download("mnist", registry=mini.registry, data_dir=cache)
    mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    before = {k: v for k, v in files_of(cache / "prepared").items() if not k.endswith(".lock")}
    fill(small_disk)
    with pytest.raises(CacheError, match=r"(?s)prepared.*full: free some space, or pass data_dir="):
        mf.load("mnist", "train", registry=mini.registry, data_dir=cache)
    assert hidden_leftovers(cache) == []
    after = {k: v for k, v in files_of(cache / "prepared").items() if not k.endswith(".lock")}
    assert after == before  # the test split's entry untouched (a lock file for train is all that is new)
    assert mf.verify("mnist", registry=mini.registry, data_dir=cache) == []


@pytest.mark.parametrize("encoding", ["raw", "png"])
def test_parquet_export_on_a_full_disk_keeps_the_previous_export(small_disk, encoding):
    sample = mf.load(SAMPLE, "test")
    dest = small_disk / "lake"
    export(sample.select(np.arange(200)), dest, image_encoding=encoding)
    before = files_of(dest)
    fill(small_disk)
    with pytest.raises(ExportDiskFullError, match=r"lake/mnist--sample is full.*Free some space") as caught:
        export(sample, dest, overwrite=True, image_encoding=encoding, rows_per_shard=500)
    assert isinstance(caught.value, OSError)
    assert files_of(dest) == before
    assert hidden_leftovers(dest) == []
    np.testing.assert_array_equal(read_parquet(dest / "mnist--sample")["test"].images, sample.images[:200])


def test_npz_export_on_a_full_disk_keeps_the_previous_file(small_disk):
    sample = mf.load(SAMPLE, "test")
    target = small_disk / "sample.npz"
    export_npz({"test": sample.select(np.arange(100))}, target)
    before = target.read_bytes()
    fill(small_disk)
    with pytest.raises(ExportDiskFullError, match=r"is full.*Free some space"):
        export_npz({"test": sample}, target, overwrite=True)
    assert target.read_bytes() == before
    assert hidden_leftovers(small_disk) == []


def test_a_full_disk_while_committing_puts_the_previous_export_back(tmp_path, monkeypatch):
    """Injected ENOSPC (runs everywhere): the new split is in place when _SUCCESS cannot be written."""
    from mnistfamily.outputs import layout

    sample = mf.load(SAMPLE, "test")
    export(sample.select(np.arange(300)), tmp_path)
    folder = tmp_path / "mnist--sample"
    before = files_of(tmp_path)  # the dataset folder, its card beside it (and the lake's README)
    real = layout.Destination.write_bytes

    def full(self, path, data):
        if path.endswith(layout.SUCCESS):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real(self, path, data)

    monkeypatch.setattr(layout.Destination, "write_bytes", full)
    with pytest.raises(ExportDiskFullError, match="holds what it held before"):
        export(sample, tmp_path, overwrite=True)
    monkeypatch.undo()
    assert files_of(tmp_path) == before  # old split, old card, _SUCCESS: all back
    assert hidden_leftovers(tmp_path) == []
    assert len(read_parquet(folder)["test"]) == 300


def test_a_full_disk_reported_without_an_errno_still_gets_the_full_disk_advice(tmp_path):
    """One detection for the cache and the exports: pyarrow and worker processes re-raise ENOSPC as
    an OSError with the text only."""
    from mnistfamily.errors import CacheError, ExportDiskFullError, is_disk_full
    from mnistfamily.outputs.errors import disk_full_error

    rewrapped = OSError("[Errno 28] No space left on device")
    assert rewrapped.errno is None and is_disk_full(rewrapped)
    error = CacheError.cannot_write("train-images-idx3-ubyte.gz", tmp_path, rewrapped)
    assert "is full" in str(error)
    with pytest.raises(CacheError, match=r"The disk \(or your quota\) is full: free some space"):
        raise error
    with pytest.raises(ExportDiskFullError, match="the disk holding out/ is full"):
        raise disk_full_error(rewrapped, "mnist", "out/")
    assert not is_disk_full(PermissionError(13, "Permission denied"))
