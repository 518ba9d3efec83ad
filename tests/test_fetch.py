"""Fetching against the loopback server: order of locations, faults, offline mode, source=, locks."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import ChecksumError, DownloadError, OfflineError, UnverifiedFileError
from mnistfamily.fetch import UnverifiedFileWarning
from mnistfamily.fetch.locations import name_variants
from mnistfamily.registry import Registry
from mnistfamily.registry.dump import dump_registry
from mnistfamily.testing import Fault, serve_directory

LABELS = "t10k-labels-idx1-ubyte.gz"
IMAGES = "t10k-images-idx3-ubyte.gz"



def _load(mini, cache, **kw):
    return mf.load("mnist", "test", registry=mini.registry, data_dir=cache, **kw)


def _leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.name.endswith(".part") or p.name.startswith(".tmp-")]


def test_download_verify_and_reuse(served, cache):
    server, mini = served
    ds = _load(mini, cache)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.count(f"mnist/{IMAGES}", "GET") == 1
    assert (cache / "downloads" / "mnist" / IMAGES).is_file()
    shutil.rmtree(cache / "prepared")  # the verified download is reused, not fetched again
    _load(mini, cache)
    assert server.count(f"mnist/{IMAGES}", "GET") == 1
    assert not _leftovers(cache)


def test_environment_mirror_is_tried_first_and_failures_fall_through(served, cache, monkeypatch, tmp_path):
    server, mini = served
    mirror = tmp_path / "served" / "mirror"
    (mirror / "mnist").mkdir(parents=True)
    shutil.copy(mini.files["mnist"][LABELS], mirror / "mnist" / LABELS)
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/nowhere, {server.url}/mirror")
    _load(mini, cache)
    assert server.count(f"nowhere/mnist/{LABELS}", "GET") == 1          # 404, next
    assert server.count(f"mirror/mnist/{LABELS}", "GET") == 1           # served from the mirror
    assert server.count(f"mnist/{LABELS}", "GET") == 0                  # canonical never needed
    assert server.count(f"mnist/{IMAGES}", "GET") == 1                  # not on the mirror: canonical


def test_corrupt_bytes_fall_back_to_the_next_location(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/")
    server.add_fault(f"mnist/{IMAGES}", Fault.corrupt(offset=40, times=1))
    ds = _load(mini, cache)  # the env mirror is the same folder: first answer corrupt, second good
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.count(f"mnist/{IMAGES}", "GET") == 2


def test_every_location_failing_lists_each_one(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/gone")
    server.add_fault(f"mnist/{IMAGES}", Fault.corrupt(offset=30))
    with pytest.raises(DownloadError, match=r"(?s)no location gave a verified copy.*not found \(404") as caught:
        _load(mini, cache)
    message = str(caught.value)
    assert f"{server.url}/gone/mnist/{IMAGES}: not found" in message
    assert f"{server.url}/mnist/{IMAGES}: does not match the registry entry" in message
    assert "source=" in message  # says what to do
    assert isinstance(caught.value, OSError)
    assert not (cache / "downloads" / "mnist" / IMAGES).exists()
    assert not _leftovers(cache)


def test_transient_503_is_retried(served, cache):
    server, mini = served
    server.add_fault(f"mnist/{IMAGES}", Fault.status(503, times=2))
    _load(mini, cache)
    assert server.count(f"mnist/{IMAGES}", "GET") == 3


def test_persistent_503_gives_up_after_the_capped_retries(served, cache):
    server, mini = served
    server.add_fault(f"mnist/{IMAGES}", Fault.status(503))
    with pytest.raises(DownloadError, match=r"HTTP 503 \(after 3 attempts\)"):
        _load(mini, cache)
    assert server.count(f"mnist/{IMAGES}", "GET") == 3


def test_truncated_body_is_retried_and_never_cached(served, cache):
    server, mini = served
    server.add_fault(f"mnist/{IMAGES}", Fault.truncate(at=100, times=1))
    ds = _load(mini, cache)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.count(f"mnist/{IMAGES}", "GET") == 2


def test_html_error_page_with_status_200_is_rejected(served, cache):
    server, mini = served
    server.add_fault(f"mnist/{IMAGES}", Fault.html_page())
    with pytest.raises(DownloadError, match="does not match the registry entry"):
        _load(mini, cache)
    assert not (cache / "downloads" / "mnist" / IMAGES).exists()


def test_slow_server_within_the_timeout_still_works(served, cache):
    server, mini = served
    server.add_fault(f"mnist/{IMAGES}", Fault.delay(0.3))
    server.add_fault(f"mnist/{LABELS}", Fault.trickle(bytes_per_chunk=64, pause=0.001))
    ds = _load(mini, cache)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    np.testing.assert_array_equal(ds.labels, mini.expect("mnist", "test")["labels"])
    assert server.count(f"mnist/{IMAGES}") == 1 and server.count(f"mnist/{LABELS}") == 1  # no retry was needed


def test_offline_mode_makes_no_request_and_says_what_to_do(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"2 files are not in the cache .* MNISTFAMILY_OFFLINE=1 is set.*"
                                           rf"{IMAGES}, {LABELS}.*source=") as caught:
        _load(mini, cache)
    assert caught.value.missing == [IMAGES, LABELS]
    assert server.requests == []


def test_download_false_is_offline_for_this_call(served, cache):
    server, mini = served
    with pytest.raises(OfflineError, match="download=False"):
        _load(mini, cache, download=False)
    assert server.requests == []


def test_offline_mode_still_loads_what_is_cached(served, cache, monkeypatch):
    server, mini = served
    _load(mini, cache)
    monkeypatch.setenv("MNISTFAMILY_OFFLINE", "1")
    shutil.rmtree(cache / "prepared")
    requests = len(server.requests)
    ds = _load(mini, cache)  # prepared again from the cached downloads, without the network
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert len(server.requests) == requests and (cache / "prepared").is_dir()


def test_source_folder_is_used_exclusively(served, cache, monkeypatch, tmp_path):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", server.url)
    ds = _load(mini, cache, source=tmp_path / "served" / "mnist")
    np.testing.assert_array_equal(ds.labels, mini.expect("mnist", "test")["labels"])
    assert server.requests == []


def test_source_finds_uncompressed_and_dotted_names(served, cache, tmp_path):
    server, mini = served
    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    for name, path in mini.files["mnist"].items():
        stem = name[:-3]
        dotted = stem.replace("-idx", ".idx", 1)
        (kaggle / dotted).write_bytes(gzip.decompress(path.read_bytes()))
    ds = _load(mini, cache, source=kaggle)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.requests == []


def test_source_in_a_family_subfolder(served, cache, tmp_path):
    server, mini = served
    ds = _load(mini, cache, source=tmp_path / "served")
    assert len(ds) == mini.registry.dataset("mnist").splits["test"].num_examples


def test_source_url_over_http(served, cache):
    server, mini = served
    ds = _load(mini, cache, source=f"{server.url}/mnist")
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])


def test_source_without_the_file_names_the_folder(served, cache, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DownloadError, match=r"cannot be taken from source= .*empty \(searched .*empty"):
        _load(served[1], cache, source=empty)


def test_a_wrong_file_in_source_is_rejected_with_expected_and_found(served, cache, tmp_path):
    server, mini = served
    bad = tmp_path / "bad"
    bad.mkdir()
    for name, path in mini.files["mnist"].items():
        shutil.copy(path, bad / name)
    mf.write_idx(bad / IMAGES, np.ones((5, 28, 28), np.uint8))
    with pytest.raises(DownloadError, match=r"expected size .* sha256 .*found size"):
        _load(mini, cache, source=bad)


def test_corrupt_cached_download_is_fetched_again(served, cache):
    server, mini = served
    _load(mini, cache)
    shutil.rmtree(cache / "prepared")
    cached = cache / "downloads" / "mnist" / IMAGES
    cached.write_bytes(b"damaged")
    ds = _load(mini, cache)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.count(f"mnist/{IMAGES}", "GET") == 2


def test_progress_bar_goes_to_stderr_when_asked(served, cache, monkeypatch, capfd):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_PROGRESS", "1")
    _load(mini, cache)
    err = capfd.readouterr().err
    assert IMAGES in err and "B/s" in err or "100%" in err


def test_unverified_files_need_an_opt_in(served, cache, tmp_path):
    server, mini = served
    from dataclasses import replace
    from types import MappingProxyType

    spec = mini.registry.dataset("mnist")
    files = {n: replace(f, md5=None, sha256=None, payload_sha256=None) for n, f in spec.files.items()}
    registry = Registry({"mnist": replace(spec, files=MappingProxyType(files))})
    (tmp_path / "unverified.yaml").write_text(dump_registry(list(registry)))
    assert "md5: unknown" in (tmp_path / "unverified.yaml").read_text()
    with pytest.raises(UnverifiedFileError, match="allow_unverified=True"):
        mf.load("mnist", "test", registry=registry, data_dir=cache)
    assert server.requests == []
    with pytest.warns(UnverifiedFileWarning, match="without verification"):
        ds = mf.load("mnist", "test", registry=registry, data_dir=cache, allow_unverified=True)
    assert len(ds) == spec.splits["test"].num_examples


def test_name_variants():
    assert name_variants("xnist-images-idx3-ubyte.xz") == [
        "xnist-images-idx3-ubyte.xz", "xnist-images-idx3-ubyte", "xnist-images.idx3-ubyte",
        "xnist-images.idx3-ubyte.xz"]


def test_verify_file_accepts_recompressed_copies_by_content(served, tmp_path):
    from mnistfamily.fetch import verify_file

    _, mini = served
    spec = mini.registry.dataset("mnist").file(IMAGES)
    original = mini.files["mnist"][IMAGES]
    again = tmp_path / "recompressed.gz"
    again.write_bytes(gzip.compress(gzip.decompress(original.read_bytes()), compresslevel=1, mtime=12345))
    assert verify_file(original, spec).method == "published"
    assert verify_file(again, spec).method == "payload"
    with pytest.raises(ChecksumError, match=r"does not match the registry entry for t10k-images-idx3-ubyte\.gz"):
        again.write_bytes(gzip.compress(b"x" * 100))
        verify_file(again, spec)


def test_four_processes_loading_at_once_download_once(served, tmp_path):
    server, mini = served
    cache = tmp_path / "shared-cache"
    for name in mini.files["mnist"]:
        server.add_fault(f"mnist/{name}", Fault.delay(0.2))  # widen the race window
    code = textwrap.dedent(f"""
        import sys, numpy as np, mnistfamily as mf
        from mnistfamily.registry import Registry
        reg = Registry.from_files([{str(mini.registry_path)!r}])
        ds = mf.load("mnist", "test", registry=reg, data_dir={str(cache)!r})
        sys.stdout.write(str(int(np.asarray(ds.images, dtype=np.int64).sum())))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, text=True) for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-2000:] for r in results]
    assert len({out for out, _ in results}) == 1
    for name in mini.files["mnist"]:
        if "t10k" in name:
            assert server.count(f"mnist/{name}", "GET") == 1, name


def test_source_any_fsspec_url_memory(served, cache):
    import fsspec

    server, mini = served
    fs = fsspec.filesystem("memory")
    for name, path in mini.files["mnist"].items():
        fs.pipe(f"/mnistfamily-test/mnist/{name}", path.read_bytes())
    try:
        ds = _load(mini, cache, source="memory://mnistfamily-test")
        np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
        assert server.requests == []
    finally:
        fs.rm("/mnistfamily-test", recursive=True)


@pytest.mark.parametrize("offset", [20, 25, 30])
def test_corrupt_compressed_stream_falls_back_like_any_mismatch(served, cache, monkeypatch, offset):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/")
    server.add_fault(f"mnist/{LABELS}", Fault.corrupt(offset=offset, times=1))
    ds = _load(mini, cache)  # corrupt from the first location, good from the second
    np.testing.assert_array_equal(ds.labels, mini.expect("mnist", "test")["labels"])


def test_unwritable_cache_root_is_a_clear_error(served, tmp_path):
    from mnistfamily.errors import CacheError

    _, mini = served
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with pytest.raises(CacheError, match="cannot create the cache folder .*data_dir="):
        _load(mini, blocker / "cache")


def test_storage_options_keep_identity_encoding_and_timeouts():
    from mnistfamily.config import FetchSettings
    from mnistfamily.fetch.http import http_filesystem
    from mnistfamily.fetch.transfer import _limits

    fs = http_filesystem({"client_kwargs": {"headers": {"Authorization": "Bearer x"}}}, None, _limits(FetchSettings()))
    headers = fs.client_kwargs["headers"]
    assert headers["Authorization"] == "Bearer x" and headers["Accept-Encoding"] == "identity"
    assert "timeout" in fs.client_kwargs


def test_source_with_a_tilde_is_expanded(served, cache, monkeypatch, tmp_path):
    _, mini = served
    monkeypatch.setenv("HOME", str(tmp_path))
    ds = _load(mini, cache, source="~/served/mnist")
    assert len(ds) == mini.registry.dataset("mnist").splits["test"].num_examples


@pytest.mark.parametrize("via", ["source", "http"])
def test_a_recompressed_copy_is_stored_decompressed_from_the_verifying_pass(served, cache, tmp_path, monkeypatch,
                                                                             via):
    import hashlib

    from mnistfamily.fetch import verify_file

    server, mini = served
    original = mini.files["mnist"][IMAGES]
    payload = gzip.decompress(original.read_bytes())
    mirror = tmp_path / "mirror"
    (mirror / "mnist").mkdir(parents=True)
    for name, path in mini.files["mnist"].items():  # a mirror that recompressed the images
        data = path.read_bytes()
        (mirror / "mnist" / name).write_bytes(gzip.compress(payload, compresslevel=1, mtime=7) if name == IMAGES
                                              else data)
    if via == "source":
        ds = _load(mini, cache, source=mirror / "mnist")
    else:
        with serve_directory(mirror) as other:
            monkeypatch.setenv("MNISTFAMILY_MIRROR", other.url)
            ds = _load(mini, cache)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    stored = cache / "downloads" / "mnist" / IMAGES
    assert stored.read_bytes() == payload  # the payload kept from the verifying pass
    spec = mini.registry.dataset("mnist").file(IMAGES)
    assert hashlib.sha256(payload).hexdigest() == spec.payload_sha256
    assert verify_file(stored, spec).method == "payload"  # and it still verifies, without decompressing
    assert (cache / "downloads" / "mnist" / LABELS).read_bytes() == mini.files["mnist"][LABELS].read_bytes()
    assert _leftovers(cache) == []
    assert server.requests == []


# ---------------------------------------------------------------------------
# The progress bar: the bytes being transferred, shown where a person watches
# ---------------------------------------------------------------------------


class _RecordedBars:
    """Stands in for tqdm.auto.tqdm: records each bar's description, total and what it counted."""

    def __init__(self):
        self.bars: list[dict] = []

    def __call__(self, *, total=None, desc=None, **kwargs):
        bar = {"desc": desc, "total": total, "n": 0}
        self.bars.append(bar)
        recorder = self

        class Bar:
            def update(self, n):
                bar["n"] += n

            def close(self):
                recorder.closed = True

        return Bar()


def test_the_progress_bar_counts_the_bytes_transferred_not_the_decompressed_size(served, cache, monkeypatch):
    import tqdm.auto

    server, mini = served
    bars = _RecordedBars()
    monkeypatch.setattr(tqdm.auto, "tqdm", bars)
    monkeypatch.setenv("MNISTFAMILY_PROGRESS", "1")
    mf.load("mnist", "train", registry=mini.registry, data_dir=cache)
    spec = mini.registry.dataset("mnist")
    # each bar ends at 100 %: its total is the published (compressed) size, which is what arrives;
    # the miniature's labels are one of the files whose decompressed size differs (68 vs 66 bytes)
    assert {b["desc"]: (b["total"], b["n"]) for b in bars.bars} == {
        name: (spec.file(name).size, spec.file(name).size) for name in spec.splits["train"].files()}
    assert any(spec.file(n).payload_size != spec.file(n).size for n in spec.splits["train"].files())


def test_a_notebook_gets_a_progress_bar_without_any_setting(served, cache, monkeypatch):
    import sys
    import tqdm.auto
    import types

    server, mini = served
    bars = _RecordedBars()
    monkeypatch.setattr(tqdm.auto, "tqdm", bars)
    fake = types.ModuleType("IPython")

    class ZMQInteractiveShell:  # the class name a Jupyter kernel's shell has
        pass

    fake.get_ipython = lambda: ZMQInteractiveShell()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    _load(mini, cache)
    assert sorted(b["desc"] for b in bars.bars) == sorted(mini.registry.dataset("mnist").splits["test"].files())
    monkeypatch.setenv("MNISTFAMILY_PROGRESS", "0")  # still the user's to turn off
    bars.bars.clear()
    shutil.rmtree(cache)
    _load(mini, cache)
    assert bars.bars == []


def test_a_plain_script_without_a_terminal_shows_no_progress_bar(served, cache, monkeypatch):
    import tqdm.auto

    server, mini = served
    bars = _RecordedBars()
    monkeypatch.setattr(tqdm.auto, "tqdm", bars)
    _load(mini, cache)  # pytest captures stderr: no terminal, no notebook
    assert bars.bars == []


# ---------------------------------------------------------------------------
# ISA-L (the ``fast`` extra): its own exception is a damaged file like any other
# ---------------------------------------------------------------------------


def _damaged_for_isal(data: bytes) -> bytes:
    """``data`` (a gzip file) with one byte flipped where ISA-L raises its own IsalError."""
    isal_lib = pytest.importorskip("isal.igzip_lib")
    from isal import igzip

    for offset in range(12, len(data) - 8):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        try:
            igzip.decompress(bytes(damaged))
        except isal_lib.IsalError:
            return bytes(damaged)
        except Exception:  # noqa: BLE001 - another kind of damage: look further
            continue
    pytest.fail("no single flipped byte made ISA-L raise IsalError")


def test_with_isal_a_damaged_gzip_on_a_mirror_falls_back_to_the_next_location(served, cache, monkeypatch):
    server, mini = served
    good = mini.files["mnist"][IMAGES]
    bad_mirror = Path(server.root) / "bad" / "mnist"
    bad_mirror.mkdir(parents=True)
    (bad_mirror / IMAGES).write_bytes(_damaged_for_isal(good.read_bytes()))
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/bad")
    ds = _load(mini, cache)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.count(f"bad/mnist/{IMAGES}") == 1 and server.count(f"mnist/{IMAGES}") == 1


def test_with_isal_verify_repair_refetches_a_damaged_cached_gzip(served, cache):
    server, mini = served
    _load(mini, cache)
    cached = cache / "downloads" / "mnist" / IMAGES
    cached.write_bytes(_damaged_for_isal(cached.read_bytes()))
    problems = mf.verify("mnist", registry=mini.registry, data_dir=cache, repair=True)
    assert [(p.path, p.kind) for p in problems] == [(str(cached), "download")]
    assert problems[0].repair == f"deleted and fetched again: {cached} is verified"
    assert mf.verify("mnist", registry=mini.registry, data_dir=cache) == []


# ---------------------------------------------------------------------------
# Back-ends that are not installed: one clear hint
# ---------------------------------------------------------------------------


def test_a_source_on_a_protocol_whose_package_is_missing_gets_one_install_hint(served, cache):
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    server, mini = served
    with pytest.raises(DownloadError, match=r"source='gs://bucket/mnist' cannot be read: the gs:// protocol needs "
                                            r"the package gcsfs, which is not installed .*: pip install gcsfs") as caught:
        _load(mini, cache, source="gs://bucket/mnist")
    assert str(caught.value).count("gcsfs") == 3  # said once (package, fsspec's words, pip), not per name variant
    assert server.requests == []


def test_a_mirror_on_a_protocol_whose_package_is_missing_is_skipped_with_the_hint(served, cache, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", "gs://bucket")
    ds = _load(mini, cache)  # the next location serves it
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    server.add_fault(f"mnist/{LABELS}", Fault.status(404))
    shutil.rmtree(cache)
    with pytest.raises(DownloadError, match=r"gs://bucket/mnist/t10k-labels-idx1-ubyte.gz: the gs:// protocol needs "
                                            r"the package gcsfs.*pip install gcsfs"):
        _load(mini, cache)


def test_a_source_on_a_protocol_nobody_knows_is_one_clear_error(served, cache):
    server, mini = served
    with pytest.raises(DownloadError, match=r"source='nosuchproto://bucket' cannot be read: the nosuchproto:// "
                                            r"protocol no fsspec back-end knows the protocol nosuchproto://"):
        _load(mini, cache, source="nosuchproto://bucket")
    assert server.requests == []


# ---------------------------------------------------------------------------
# The low-speed limit on file systems other than HTTP, and range reads
# ---------------------------------------------------------------------------


def test_a_slow_network_file_system_is_given_up_by_the_low_speed_limit(served, cache, monkeypatch):
    import time

    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    server, mini = served

    class SlowFile:
        def __init__(self, data):
            self._data, self.size = data, len(data)

        def read(self, n=-1):
            time.sleep(0.05)
            chunk, self._data = self._data[:10], self._data[10:]  # 200 bytes/s
            return chunk

        def close(self):
            pass

    class SlowFileSystem(MemoryFileSystem):
        protocol = "slowmem"

        @classmethod
        def _strip_protocol(cls, path):
            return super()._strip_protocol(path.replace("slowmem://", "memory://", 1))

        def _open(self, path, mode="rb", **kwargs):
            return SlowFile(super()._open(path, mode, **kwargs).read())

    fsspec.register_implementation("slowmem", SlowFileSystem, clobber=True)
    fs = fsspec.filesystem("slowmem")
    for name, path in mini.files["mnist"].items():
        fs.pipe(f"/slow-source/{name}", path.read_bytes())
    monkeypatch.setenv("MNISTFAMILY_SPEED_LIMIT", "1000")
    monkeypatch.setenv("MNISTFAMILY_SPEED_TIME", "0.3")
    try:
        with pytest.raises(DownloadError, match=r"slowmem://slow-source/t10k-.*: too slow: .* bytes in 0.3 s"):
            _load(mini, cache, source="slowmem://slow-source")
    finally:
        fs.rm("/slow-source", recursive=True)


def _range_file(server, path):
    from mnistfamily.fetch.locations import Location
    from mnistfamily.fetch.transfer import open_random_access

    from mnistfamily.config import FetchSettings

    return open_random_access(Location(server.url_for(path), "mirror"), FetchSettings())


def test_range_reads_refused_or_cut_short_are_the_location_s_failure(served):
    from mnistfamily.fetch.transfer import TransferFailed

    server, mini = served
    path = f"mnist/{IMAGES}"
    data = mini.files["mnist"][IMAGES].read_bytes()
    with _range_file(server, path) as f:  # the length is asked first, then every read is a range
        f.seek(100)
        assert f.read(50) == data[100:150] and f.seek(0, 2) == len(data)
    server.allow_ranges = False
    with pytest.raises(TransferFailed, match=r"the server does not answer range requests \(HTTP 200"):
        _range_file(server, path)
    server.allow_ranges = True
    server.add_fault(path, Fault.status(206, headers=(("Content-Range", "bytes 0-0/*"),), times=1))
    with pytest.raises(TransferFailed, match=r"the server does not say how long the file is \(Content-Range "
                                             r"'bytes 0-0/\*'\)"):
        _range_file(server, path)
    server.add_fault(path, Fault.status(206, headers=(("Content-Range", f"bytes 5-5/{len(data)}"),)))
    with pytest.raises(TransferFailed, match=r"the server answered a range request for bytes 0-0 with "
                                             r"Content-Range 'bytes 5-5/"):
        _range_file(server, path)
    server.clear_faults()
    with _range_file(server, path) as f:
        server.add_fault(path, Fault.reset(at=10))
        with pytest.raises(TransferFailed, match="the body was cut short"):
            f.read(100)


def test_a_range_answer_without_a_byte_is_cut_short(served, monkeypatch):
    from mnistfamily.fetch import http
    from mnistfamily.fetch.transfer import TransferFailed

    server, mini = served
    with _range_file(server, f"mnist/{IMAGES}") as f:
        monkeypatch.setattr(http.HttpAnswer, "read", lambda self, n: b"")  # a 206 whose body is empty
        with pytest.raises(TransferFailed, match=r"cut short \(a range of [0-9,]+ bytes at 0 came back empty\)"):
            f.read(100)


def test_a_cache_folder_where_no_temporary_area_can_be_made_is_a_cache_error(served, cache, monkeypatch):
    import errno

    from mnistfamily import safe_write
    from mnistfamily.errors import CacheError

    server, mini = served
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self.name.startswith(safe_write.TEMP_PREFIX):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(CacheError, match=r"cannot write into .*downloads/mnist \(Read-only file system\)"):
        _load(mini, cache)
    assert server.requests == []  # refused before any request
