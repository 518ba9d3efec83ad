"""SIGKILL at random points of download, prepare and export: the cache and exports stay valid.

The kill campaign (``harness.crash.run_campaign``) forks workers from a process
that has done its imports, kills them at seeded points spread over each phase, and checks
``check_invariants`` after every kill; a last run per round must finish with the published
arrays. ``benchmarks/kill_campaign.py`` runs the same campaign with hundreds of kills.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import safe_write
from mnistfamily.outputs import IncompleteExportError, export, read_parquet
from mnistfamily.testing import Fault
from harness.crash import array_digest, check_invariants, read_phases, run_campaign

pytestmark = pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "pidfd_open"),
                                reason="SIGKILL through a pidfd: Linux only")



def test_killed_at_many_points_the_cache_and_the_export_stay_valid(tmp_path):
    report = run_campaign(tmp_path, kills=18, seed=20261126, per_round=3, time_limit=40)
    print(f"\nkill points per phase: {report.kills}; finished before their kill point: "
          f"{report.finished_before_kill}; rounds: {report.rounds}; {report.seconds:.1f} s; "
          f"commits killed with split folders visible: {report.visible_without_success}; "
          f"cache leftovers verify listed: {report.cache_leftovers}")
    assert report.violations == []
    assert report.failures == []
    assert report.total_kills >= 12, report  # the time limit must not have cut the campaign short
    assert report.kills["download"] >= 1 and report.kills["export"] >= 1, report.kills
    assert report.export_leftovers == 0  # the next export deleted what the killed ones left
    assert report.cache_leftovers_after_repair == 0


def test_a_fresh_interpreter_killed_mid_download_then_finishes(served, tmp_path):
    server, mini = served
    for name in mini.files["mnist"]:
        server.add_fault(f"mnist/{name}", Fault.trickle(1024, 0.02))  # ~1 s for the training images
    cache, phases = tmp_path / "cache", tmp_path / "phases"
    argv = [sys.executable, "-m", "harness.crash", "--registry", str(mini.registry_path),
            "--data-dir", str(cache), "--phase-file", str(phases)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not any(p == "download" for p, _ in read_phases(phases)):
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the worker never started downloading"
            time.sleep(0.01)
        time.sleep(0.3)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    downloads = cache / "downloads" / "mnist"
    parts = [*downloads.glob(".*.part"), *safe_write.leftovers(downloads)]
    assert parts, "the kill was meant to land mid-download, leaving a temporary copy"
    assert check_invariants(cache, mini.registry) == []
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    digests = json.loads(done.stdout.splitlines()[-1])
    for split, digest in digests.items():
        expected = mini.expect("mnist", split)
        assert digest == array_digest(expected["images"], expected["labels"])
    # the next download of that file held its lock, so it deleted the killed run's partial file
    assert not any(p.exists() for p in parts)
    assert mf.verify("mnist", registry=mini.registry, data_dir=cache) == []


def test_leftovers_are_deleted_only_when_no_live_process_owns_them(served, tmp_path):
    import fcntl

    _, mini = served
    cache = tmp_path / "cache"
    mf.load("mnist", "test", registry=mini.registry, data_dir=cache)
    downloads = cache / "downloads" / "mnist"
    (entry,) = [p for p in (cache / "prepared" / "mnist").iterdir() if p.is_dir()]
    # what killed writers leave: temporary areas with their owner marker
    stale_download = safe_write.TempArea(downloads, "t10k-images-idx3-ubyte.gz")
    stale_download.file().write_bytes(b"x" * 100)
    stale_entry = safe_write.TempArea(entry.parent, entry.name)
    (stale_entry.path / entry.name).mkdir()
    (stale_entry.path / entry.name / "images.npy").write_bytes(b"half")
    live = safe_write.TempArea(downloads, "train-images-idx3-ubyte.gz")
    live.file().write_bytes(b"y" * 10)
    # what only looks like a leftover: the names older versions used, a user's files
    look_alikes = [downloads / ".t10k-images-idx3-ubyte.gz.0123abcd.part", entry.with_name(f".tmp-{entry.name}-deadbeef"),
                   entry.with_name(f".trash-{entry.name}-00c0ffee"), downloads / f".mnistfamily-tmp-{'0' * 32}"]
    for path in look_alikes:
        if path.suffix == ".part":
            path.write_bytes(b"mine")
        else:
            path.mkdir()
            (path / "notes.txt").write_text("mine")
    with open(downloads / "train-images-idx3-ubyte.gz.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a live download owns its area
        problems = mf.verify("mnist", registry=mini.registry, data_dir=cache)
        assert sorted(p.path for p in problems) == sorted(map(str, [stale_download.path, stale_entry.path]))
        assert all(p.kind == "leftover" and "interrupted" in p for p in problems)
        mf.verify("mnist", registry=mini.registry, data_dir=cache, repair=True)
        assert not stale_download.path.exists() and not stale_entry.path.exists()
        assert live.path.exists()  # in use: kept
    assert [p.path for p in mf.verify("mnist", registry=mini.registry, data_dir=cache)] == [str(live.path)]
    mf.verify("mnist", registry=mini.registry, data_dir=cache, repair=True)
    assert not live.path.exists() and entry.is_dir()
    assert all(path.exists() for path in look_alikes)  # never ours: never listed, never deleted


def test_an_export_deletes_what_killed_exports_left(tmp_path):
    from mnistfamily import safe_write

    export("mnist/sample", tmp_path)
    folder = tmp_path / "mnist--sample"
    dead = []
    for _ in range(2):  # what two killed exports of this folder left: marked staging areas beside it
        area = safe_write.TempArea(tmp_path, "mnist--sample")
        (area.path / "split=test").mkdir()
        (area.path / "split=test" / "part-00000-of-00001.parquet").write_bytes(b"half")
        dead.append(area.path)
    other = safe_write.TempArea(tmp_path, "mnist")  # another dataset's export: not this one's to judge
    (tmp_path / ".mnist--sample.lock").write_bytes(b"")  # a killed export's lock file: free now
    export("mnist/sample", tmp_path, overwrite=True)
    assert not any(p.exists() for p in dead)
    assert other.path.is_dir()
    assert sorted(p.name for p in folder.iterdir()) == ["_SUCCESS", "split=test"]
    assert (tmp_path / ".mnist--sample.lock").read_bytes() == b""  # kept, naming no holder


def test_an_export_killed_while_committing_is_replaced_without_overwrite(tmp_path):
    sample = mf.load("mnist/sample", "test")
    export(sample, tmp_path)
    folder = tmp_path / "mnist--sample"
    # what a kill between the card's rename and _SUCCESS leaves: the card, the split, no _SUCCESS
    (folder / "_SUCCESS").unlink()
    with pytest.raises(IncompleteExportError, match="did not finish"):
        read_parquet(folder)
    export(sample, tmp_path)  # no ExportExistsError: nobody holds the lock, so it is a dead export's
    np.testing.assert_array_equal(read_parquet(folder)["test"].images, sample.images)


def test_reading_an_export_whose_staging_area_is_all_there_is_says_it_did_not_finish(tmp_path):
    from mnistfamily import safe_write

    area = safe_write.TempArea(tmp_path, "mnist--sample")
    (area.path / "split=test").mkdir()
    with pytest.raises(IncompleteExportError, match="did not finish"):
        read_parquet(tmp_path / "mnist--sample")


def test_verify_repair_refetches_rebuilds_and_reports_each_repair(served, tmp_path):
    server, mini = served
    cache = tmp_path / "cache"
    for split in ("train", "test"):
        mf.load("mnist", split, registry=mini.registry, data_dir=cache)
    downloads = cache / "downloads" / "mnist"
    entries = {p.name.split("@")[0]: p for p in (cache / "prepared" / "mnist").iterdir() if p.is_dir()}
    image_file = downloads / "train-images-idx3-ubyte.gz"
    data = bytearray(image_file.read_bytes())
    data[100] ^= 0x01  # one byte of a download
    image_file.write_bytes(bytes(data))
    npy = entries["train"] / "labels.npy"
    data = bytearray(npy.read_bytes())
    data[-1] ^= 0x01  # one byte of a prepared array, same size: only a rehash sees it
    npy.write_bytes(bytes(data))
    manifest = entries["test"] / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:40])  # a truncated manifest
    (downloads / "t10k-labels-idx1-ubyte.gz").unlink()  # a deleted download: not a problem, fetched on use
    (entries["test"] / "index.npy").unlink()
    gets = len(server.requests)

    problems = mf.verify("mnist", registry=mini.registry, data_dir=cache, repair=True)
    by_path = {p.path: p for p in problems}
    assert set(by_path) == {str(image_file), str(entries["train"]), str(entries["test"])}
    assert by_path[str(image_file)].repair == f"deleted and fetched again: {image_file} is verified"
    for split in ("train", "test"):
        assert by_path[str(entries[split])].repair == f"deleted and rebuilt: {entries[split]} is verified"
    assert mf.verify("mnist", registry=mini.registry, data_dir=cache) == []
    assert len(server.requests) - gets == 2  # the damaged image file, and the deleted labels the rebuild needed
    for split in ("train", "test"):
        ds = mf.load("mnist", split, registry=mini.registry, data_dir=cache, download=False)
        np.testing.assert_array_equal(ds.images, mini.expect("mnist", split)["images"])
        np.testing.assert_array_equal(ds.labels, mini.expect("mnist", split)["labels"])
