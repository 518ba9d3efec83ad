"""Eight processes at once on one cold cache, and eight exports to one destination."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from mnistfamily.outputs import read_parquet
from mnistfamily.testing import Fault
from harness.crash import EXIT_EXISTS, array_digest, check_invariants

PROCESSES = 8



def _workers(mini, cache, *extra: str) -> list[subprocess.CompletedProcess]:
    argv = [sys.executable, "-m", "harness.crash", "--registry", str(mini.registry_path),
            "--data-dir", str(cache), *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(PROCESSES)]
    outs = [p.communicate(timeout=300) for p in procs]
    return [subprocess.CompletedProcess(argv, p.returncode, out, err) for p, (out, err) in zip(procs, outs)]


def _digests(result: subprocess.CompletedProcess) -> dict[str, str]:
    return json.loads(result.stdout.splitlines()[-1])


def _leftovers(folder) -> list:
    return [p for p in folder.rglob("*") if p.name.startswith((".tmp-", ".old-", ".trash-", ".mnistfamily-tmp-"))
            or p.name.endswith((".part", ".tmp"))]


def test_eight_processes_on_a_cold_cache_download_once_and_agree(served, tmp_path):
    server, mini = served
    for name in mini.files["mnist"]:
        server.add_fault(f"mnist/{name}", Fault.delay(0.3))  # every process arrives while the first downloads
    cache = tmp_path / "shared"
    results = _workers(mini, cache)
    assert [r.returncode for r in results] == [0] * PROCESSES, [r.stderr[-2000:] for r in results]
    digests = [_digests(r) for r in results]
    want = {s: array_digest(mini.expect("mnist", s)["images"], mini.expect("mnist", s)["labels"])
            for s in ("train", "test")}
    assert digests == [want] * PROCESSES  # identical arrays in all eight, and the published ones
    for name in mini.files["mnist"]:
        assert server.count(f"mnist/{name}", "GET") == 1, name  # one download per file, not eight
    entries = [p for p in (cache / "prepared" / "mnist").iterdir() if p.is_dir()]
    assert sorted(p.name.split("@")[0] for p in entries) == ["test", "train"]  # one entry per split
    assert _leftovers(cache) == []
    assert check_invariants(cache, mini.registry) == []


def test_eight_exports_to_one_destination(served, tmp_path):
    _, mini = served
    cache, dest = tmp_path / "cache", tmp_path / "lake"
    expected = {s: mini.expect("mnist", s) for s in ("train", "test")}
    # --pause stretches every rename and shard write, so that the eight exports overlap
    results = _workers(mini, cache, "--parquet", str(dest), "--npz", str(tmp_path / "mnist.npz"), "--pause", "0.05")
    assert all(r.returncode in (0, EXIT_EXISTS) for r in results), [r.stderr[-2000:] for r in results]
    # each export has one writer; the others find it complete (they checked under its lock) and keep it.
    # The two exports have separate locks, so the process that wrote the Parquet export need not be the
    # one that wrote the .npz: one that lost the Parquet race can reach the .npz lock first.
    for kind in ("parquet", "npz"):
        writers = [r for r in results if f"exists: {kind}" not in r.stderr]
        assert len(writers) == 1, (kind, [r.stderr[-2000:] for r in results])
    assert all("already exist" in r.stderr for r in results if r.returncode == EXIT_EXISTS)
    assert check_invariants(cache, mini.registry, expected=expected, parquet=dest / "mnist",
                            npz=tmp_path / "mnist.npz") == []
    first = {p.relative_to(dest): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()}

    results = _workers(mini, cache, "--parquet", str(dest), "--overwrite", "--pause", "0.05")  # each replaces it
    assert [r.returncode for r in results] == [0] * PROCESSES, [r.stderr[-2000:] for r in results]
    back = read_parquet(dest / "mnist")
    for split, arrays in expected.items():
        np.testing.assert_array_equal(back[split].images, arrays["images"])
    assert {p.relative_to(dest): p.read_bytes() for p in sorted(dest.rglob("*")) if p.is_file()} == first
    assert _leftovers(dest) == []
    # kept (hidden), naming no holder: the dataset folder's, and the lake README's
    assert sorted(p.name for p in dest.glob(".*.lock")) == [".README.md.lock", ".mnist.lock"]
    assert (dest / ".mnist.lock").read_bytes() == (dest / ".README.md.lock").read_bytes() == b""
