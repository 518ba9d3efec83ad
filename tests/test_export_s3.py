"""Object storage for real: an S3-compatible server (moto) on 127.0.0.1, reached through s3fs."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

import mnistfamily as mf  # noqa: E402
from mnistfamily.outputs import (ExportExistsError, IncompleteExportError, export, export_idx,  # noqa: E402
                                export_npz, read_parquet)
from mnistfamily.outputs import parquet as parquet_module  # noqa: E402

SAMPLE = "mnist/sample"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_server():
    """A moto S3 server on 127.0.0.1 (a free port) with fake credentials; yields its endpoint URL.

    It runs in a process of its own: deltalake's object store holds the interpreter lock while it
    waits for an answer, so a server thread of this process could never answer it.
    """
    import socket
    import subprocess
    import sys
    import time

    with pytest.MonkeyPatch.context() as patch:
        for key, value in FAKE_CREDENTIALS.items():
            patch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            patch.delenv(key, raising=False)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254 for credentials
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the moto server did not start (exit status {server.poll()})") from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def bucket(s3_server):
    """A fresh bucket; yields ``(s3fs filesystem, bucket name, storage_options)``."""
    import s3fs

    options = {"endpoint_url": s3_server, "key": "testing", "secret": "testing"}
    fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
    name = f"lake-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    yield fs, name, options


def keys(fs, prefix: str) -> list[str]:
    fs.invalidate_cache()
    return sorted(p[len(prefix) + 1:] for p in fs.find(prefix))


def test_export_to_s3_and_read_back(bucket):
    fs, name, options = bucket
    sample = mf.load(SAMPLE, "test")
    result = export(SAMPLE, f"s3://{name}/lake", rows_per_shard=800, storage_options=options)
    assert result.path == f"s3://{name}/lake/mnist--sample"
    assert keys(fs, f"{name}/lake/_mnistfamily") == ["mnist--sample.card.json"]  # the card: beside the folder
    assert keys(fs, f"{name}/lake/mnist--sample") == [
        "_SUCCESS", "split=test/part-00000-of-00003.parquet",
        "split=test/part-00001-of-00003.parquet", "split=test/part-00002-of-00003.parquet"]
    back = read_parquet(result.path, storage_options=options)["test"]
    np.testing.assert_array_equal(back.images, sample.images)
    np.testing.assert_array_equal(back.labels, sample.labels)
    np.testing.assert_array_equal(back.metadata["writer_id"], sample.metadata["writer_id"])
    split = read_parquet(f"{result.path}/split=test", storage_options=options)
    np.testing.assert_array_equal(split.index, sample.index)


def test_s3_export_has_the_bytes_of_a_local_one(bucket, tmp_path):
    fs, name, options = bucket
    export(SAMPLE, f"s3://{name}/lake", rows_per_shard=700, image_encoding="png", storage_options=options)
    export(SAMPLE, tmp_path, rows_per_shard=700, image_encoding="png")
    local = tmp_path / "mnist--sample"
    for key in keys(fs, f"{name}/lake/mnist--sample"):
        assert fs.cat_file(f"{name}/lake/mnist--sample/{key}") == (local / key).read_bytes(), key


def test_s3_overwrite_and_failure(bucket, monkeypatch):
    fs, name, options = bucket
    url = f"s3://{name}/lake"
    export(SAMPLE, url, rows_per_shard=1000, storage_options=options)
    before = keys(fs, f"{name}/lake/mnist--sample")
    with pytest.raises(ExportExistsError, match=r"split=test already exist\(s\).*overwrite=True"):
        export(SAMPLE, url, storage_options=options)

    real = parquet_module.write_shard

    def fail_second(task, codec=None):
        if task.start > 0:
            raise RuntimeError("worker lost")
        return real(task, codec)

    monkeypatch.setattr(parquet_module, "write_shard", fail_second)
    with pytest.raises(RuntimeError, match="worker lost"):
        export(SAMPLE, url, rows_per_shard=500, overwrite=True, storage_options=options)
    assert keys(fs, f"{name}/lake/mnist--sample") == before  # no temporary keys left, old export intact
    monkeypatch.setattr(parquet_module, "write_shard", real)

    export(SAMPLE, url, rows_per_shard=500, overwrite=True, storage_options=options)
    assert [k for k in keys(fs, f"{name}/lake/mnist--sample") if k.endswith(".parquet")] == [
        f"split=test/part-0000{i}-of-00004.parquet" for i in range(4)]
    assert len(read_parquet(f"{url}/mnist--sample", storage_options=options)["test"]) == 2000

    fs.rm(f"{name}/lake/mnist--sample/_SUCCESS")
    with pytest.raises(IncompleteExportError, match="_SUCCESS"):
        read_parquet(f"{url}/mnist--sample", storage_options=options)


def test_npz_and_idx_to_s3(bucket, tmp_path):
    fs, name, options = bucket
    url = export_npz(SAMPLE, f"s3://{name}/keras/mnist-sample.npz", storage_options=options)
    assert url == f"s3://{name}/keras/mnist-sample.npz"
    local = tmp_path / "sample.npz"
    local.write_bytes(fs.cat_file(f"{name}/keras/mnist-sample.npz"))
    with np.load(local) as npz:
        np.testing.assert_array_equal(npz["x_test"], mf.load(SAMPLE, "test").images)
    urls = export_idx(SAMPLE, f"s3://{name}/idx", storage_options=options)
    assert [u.rsplit("/", 1)[-1] for u in urls] == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx2-int.gz",
        "t10k-index-idx1-int.gz"]
    assert keys(fs, f"{name}/idx") == sorted(u.rsplit("/", 1)[-1] for u in urls)


def test_iceberg_registration_on_s3_points_at_the_shards_in_place(bucket, tmp_path):
    pytest.importorskip("pyiceberg")
    from pyiceberg.catalog import load_catalog

    fs, name, options = bucket
    catalog = {"type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db", "warehouse": f"s3://{name}/warehouse",
               "s3.endpoint": options["endpoint_url"], "s3.access-key-id": "testing",
               "s3.secret-access-key": "testing", "s3.region": "us-east-1"}
    sample = mf.load(SAMPLE, "test")
    result = export(SAMPLE, f"s3://{name}/lake", rows_per_shard=800, storage_options=options, table="iceberg",
                    catalog=catalog)
    assert keys(fs, f"{name}/lake/mnist--sample")[0] == "_SUCCESS"  # no table metadata in the dataset folder
    assert any(k.endswith(".metadata.json") for k in keys(fs, f"{name}/warehouse"))
    table = load_catalog("mnistfamily", **catalog).load_table(result.table)
    arrow = table.scan(row_filter="split == 'test'").to_arrow()
    order = np.argsort(arrow.column("index").to_numpy())
    images = np.stack([np.frombuffer(b, np.uint8) for b in arrow.column("image").to_pylist()]).reshape(-1, 28, 28)
    np.testing.assert_array_equal(images[order], sample.images[np.argsort(sample.index)])


def test_delta_registration_on_s3_commits_in_place(bucket):
    deltalake = pytest.importorskip("deltalake")
    fs, name, options = bucket
    sample = mf.load(SAMPLE, "test")
    url = f"s3://{name}/lake"
    export(SAMPLE, url, rows_per_shard=800, storage_options=options, table="delta")
    export(sample.select(np.arange(1200)), url, rows_per_shard=800, storage_options=options, table="delta",
           overwrite=True)
    # the table, then one commit removing part-*-of-00003 and adding part-*-of-00002
    assert [k for k in keys(fs, f"{name}/lake/mnist--sample") if k.startswith("_delta_log/")] == [
        "_delta_log/00000000000000000000.json", "_delta_log/00000000000000000001.json"]
    delta_options = {"AWS_ENDPOINT_URL": options["endpoint_url"], "AWS_ACCESS_KEY_ID": "testing",
                     "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    arrow = deltalake.DeltaTable(f"{url}/mnist--sample", storage_options=delta_options).to_pyarrow_table()
    assert arrow.num_rows == 1200
    order = np.argsort(arrow.column("index").to_numpy())
    images = np.stack([np.frombuffer(b, np.uint8) for b in arrow.column("image").to_pylist()]).reshape(-1, 28, 28)
    np.testing.assert_array_equal(images[order], sample.images[:1200][np.argsort(sample.index[:1200])])
    assert len(read_parquet(f"{url}/mnist--sample", storage_options=options)["test"]) == 1200
