"""Shards as independent tasks on any Executor: the same bytes as a serial export."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")

import mnistfamily as mf  # noqa: E402
from mnistfamily.outputs import ExportError, export, read_parquet  # noqa: E402
from mnistfamily.outputs.shards import LoadedSplit, NpyFiles, ShardTask  # noqa: E402

SAMPLE = "mnist/sample"


def files_of(folder: Path) -> dict[str, bytes]:
    """The files of an export: its dataset folder's, and its card (beside the folder, as ``card``)."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    card = folder.parent / "_mnistfamily" / f"{folder.name}.card.json"
    if card.exists():
        files["card"] = card.read_bytes()
    return files


@pytest.fixture(scope="module")
def pool():
    # forkserver: the test process runs Arrow's threads; workers start clean
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as executor:
        yield executor


class RecordingExecutor(Executor):
    """Runs tasks inline and keeps what it was sent; fails task number ``fail_at``."""

    def __init__(self, fail_at: int | None = None):
        self.sent: list = []
        self.fail_at = fail_at

    def submit(self, fn, /, *args, **kwargs):
        self.sent.append(args)
        future: Future = Future()
        try:
            if self.fail_at is not None and len(self.sent) > self.fail_at:
                raise RuntimeError("worker lost")
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def test_process_pool_gives_the_bytes_of_a_serial_export(tmp_path, pool):
    export(SAMPLE, tmp_path / "serial", rows_per_shard=500)
    export(SAMPLE, tmp_path / "pool", rows_per_shard=500, executor=pool)
    serial, parallel = files_of(tmp_path / "serial" / "mnist--sample"), files_of(tmp_path / "pool" / "mnist--sample")
    assert serial == parallel and len(serial) == 6


def test_process_pool_png_and_a_selection(tmp_path, pool):
    subset = mf.load(SAMPLE, "test").filter(hsf_series=[0, 4])
    export(subset, tmp_path / "serial", rows_per_shard=300, image_encoding="png")
    export(subset, tmp_path / "pool", rows_per_shard=300, image_encoding="png", executor=pool)
    assert files_of(tmp_path / "serial") == files_of(tmp_path / "pool")
    back = read_parquet(tmp_path / "pool" / "mnist--sample" / "split=test")
    np.testing.assert_array_equal(back.images, subset.images)
    np.testing.assert_array_equal(back.index, subset.index)


def test_tasks_are_small_descriptions_not_arrays(tmp_path):
    recorder = RecordingExecutor()
    export(SAMPLE, tmp_path / "a", rows_per_shard=700, executor=recorder)
    tasks = [args[0] for args in recorder.sent]
    assert len(tasks) == 3 and all(isinstance(t, ShardTask) for t in tasks)
    assert all(isinstance(t.source, LoadedSplit) for t in tasks)
    assert [(t.start, t.stop) for t in tasks] == [(0, 700), (700, 1400), (1400, 2000)]
    import pickle

    assert max(len(pickle.dumps(t)) for t in tasks) < 20_000  # a description, not 1.5 MB of pixels

    recorder = RecordingExecutor()
    export(mf.load(SAMPLE, "test"), tmp_path / "b", executor=recorder)
    source = recorder.sent[0][0].source
    assert isinstance(source, NpyFiles) and source.images.endswith("images.npy")  # the prepared cache itself


def test_a_failing_task_leaves_nothing_visible(tmp_path):
    with pytest.raises(RuntimeError, match="worker lost"):
        export(SAMPLE, tmp_path, rows_per_shard=400, executor=RecordingExecutor(fail_at=3))
    folder = tmp_path / "mnist--sample"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_task_raising_in_a_worker_process(tmp_path, pool, monkeypatch):
    # a shard URL the worker cannot write: the error comes back from the other process
    export(SAMPLE, tmp_path, rows_per_shard=1000)
    before = files_of(tmp_path / "mnist--sample")
    monkeypatch.setattr("mnistfamily.outputs.parquet.ShardTask",
                        lambda source, url, *a: ShardTask(source, "unknownproto://x/" + url[-20:], *a))
    with pytest.raises(Exception, match="unknownproto"):
        export(SAMPLE, tmp_path, rows_per_shard=500, overwrite=True, executor=pool)
    assert files_of(tmp_path / "mnist--sample") == before


def test_workers_writing_where_this_process_cannot_read_is_an_error(pool):
    with pytest.raises(ExportError, match="Workers must write where this process reads"):
        export(SAMPLE, "memory://private-to-each-process", executor=pool)


def test_thread_pool_and_memory_filesystem(tmp_path):
    url = "memory://thread-pool-export"
    with ThreadPoolExecutor(2) as threads:
        export(SAMPLE, url, rows_per_shard=600, executor=threads)
    back = read_parquet(f"{url}/mnist--sample")["test"]
    np.testing.assert_array_equal(back.images, mf.load(SAMPLE, "test").images)
    import fsspec

    fsspec.filesystem("memory").rm("/thread-pool-export", recursive=True)


def test_dask_distributed_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    export(SAMPLE, tmp_path / "serial", rows_per_shard=500)
    # TCP on 127.0.0.1 (tasks are serialised as for a real cluster); without host= dask probes 8.8.8.8
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        export(SAMPLE, tmp_path / "dask", rows_per_shard=500, executor=client.get_executor())
    assert files_of(tmp_path / "serial") == files_of(tmp_path / "dask")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_export_leaves_nothing_visible(tmp_path):
    """SIGKILL while shards are being written: no split folder, no card, no _SUCCESS at dest."""
    marker = tmp_path / "writing"
    script = textwrap.dedent(f"""
        import time
        from mnistfamily.outputs import export, parquet
        real = parquet.write_shard
        def slow(task, codec=None):
            result = real(task, codec)
            open({str(marker)!r}, "w").close()
            time.sleep(60)
            return result
        parquet.write_shard = slow
        export("mnist/sample", {str(tmp_path / 'out')!r}, rows_per_shard=500)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None, "the export ended before it could be killed"
            assert time.monotonic() < deadline, "the export never wrote a shard"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    folder = tmp_path / "out" / "mnist--sample"
    assert not folder.exists()  # shards are staged beside the dataset folder, which a glob of it never sees
    hidden = [p for p in (tmp_path / "out").rglob("*.parquet")]
    assert hidden and all(p.relative_to(tmp_path / "out").parts[0].startswith(".mnistfamily-tmp-") for p in hidden)
    with pytest.raises(ExportError, match="did not finish"):
        read_parquet(folder)
    export("mnist/sample", tmp_path / "out")  # the killed export's lock is free: its staging area is removed
    assert not list((tmp_path / "out").glob(".mnistfamily-tmp-*"))
    assert len(read_parquet(folder)["test"]) == 2000


def test_every_split_of_a_miniature_through_a_process_pool(tmp_path, pool):
    """A whole dataset by name (QMNIST's five splits, served over loopback), tasks loaded by workers."""
    from mnistfamily.testing import serve_directory, write_miniatures

    (tmp_path / "served").mkdir()
    with serve_directory(tmp_path / "served") as server:
        mini = write_miniatures(tmp_path / "served", server.url, names=["qmnist"])
        kwargs = dict(registry=mini.registry, data_dir=tmp_path / "cache")  # pickled to the workers
        result = export("qmnist", tmp_path / "pool", rows_per_shard=40, executor=pool, **kwargs)
        export("qmnist", tmp_path / "serial", rows_per_shard=40, **kwargs)
    splits = mini.registry.dataset("qmnist").splits
    assert set(result.num_rows) == set(splits)
    assert files_of(tmp_path / "pool") == files_of(tmp_path / "serial")
    back = read_parquet(tmp_path / "pool" / "qmnist")
    for split in splits:
        expected = mini.expect("qmnist", split)
        np.testing.assert_array_equal(back[split].images, expected["images"])
        np.testing.assert_array_equal(back[split].labels, expected["labels"])
        np.testing.assert_array_equal(back[split].index, expected["index"])
        for column, values in expected["metadata"].items():
            np.testing.assert_array_equal(back[split].metadata[column], values)
