"""Download faults against the loopback server: each one ends in a retry, a fallback to the
next location, or a DownloadError that lists every location tried with its reason -- and
never in anything but verified files in the cache's download folder.

Retry settings come from the environment (MNISTFAMILY_RETRIES, MNISTFAMILY_BACKOFF,
MNISTFAMILY_READ_TIMEOUT), which the fetch layer reads when a download starts; the module
overrides that conftest sets are cleared here so the environment is what counts.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import ConfigError, DownloadError
from mnistfamily.fetch import transfer
from mnistfamily.testing import Fault, serve_directory, write_miniatures

IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"
CANONICAL = f"mnist/{IMAGES}"          # path of the canonical URL on the server
MIRROR = f"m1/mnist/{IMAGES}"          # path of the same file on an environment mirror
RETRIES = 3
READ_TIMEOUT = 0.4                     # seconds of silence inside a body before giving up


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Miniature MNIST served at ``/mnist/`` (the registry's canonical URLs) and at ``/m1/mnist/``."""
    for name in ("BACKOFF", "READ_TIMEOUT", "ATTEMPTS", "CONNECT_TIMEOUT"):
        monkeypatch.setattr(transfer, name, None)  # read the environment, as a user's process does
    monkeypatch.setenv("MNISTFAMILY_RETRIES", str(RETRIES))
    monkeypatch.setenv("MNISTFAMILY_BACKOFF", "0.01")
    monkeypatch.setenv("MNISTFAMILY_READ_TIMEOUT", str(READ_TIMEOUT))
    monkeypatch.setenv("MNISTFAMILY_CONNECT_TIMEOUT", "5")
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=["mnist"])
        (folder / "m1" / "mnist").mkdir(parents=True)
        for name, path in mini.files["mnist"].items():
            shutil.copy(path, folder / "m1" / "mnist" / name)
        yield server, mini
        assert server.errors == []


def _load(mini, cache: Path):
    return mf.load("mnist", "test", registry=mini.registry, data_dir=cache)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_only_verified_files(cache: Path, mini) -> None:
    """Every file in ``downloads/`` is a registry file whose bytes hash as expected, or its lock.

    Lock files (``<name>.lock``, empty, kept by filelock) are part of the documented layout;
    anything else -- ``.part`` temporaries, half-written or corrupt copies -- fails.
    """
    downloads = cache / "downloads"
    if not downloads.exists():
        return
    expected = {name: _sha256(path) for name, path in mini.files["mnist"].items()}
    for path in sorted(p for p in downloads.rglob("*") if p.is_file()):
        if path.name.endswith(".lock") and path.name[: -len(".lock")] in expected:
            continue
        assert path.parent == downloads / "mnist" and path.name in expected, f"stray file in the cache: {path}"
        assert _sha256(path) == expected[path.name], f"unverified bytes cached as {path}"


def _port_with_nothing_listening() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # bound, never listened: a connection is refused
    return port


# ---------------------------------------------------------------------------
# 503 bursts: retried while the burst is shorter than the attempts, else the next location
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("burst", [1, RETRIES - 1])
def test_a_503_burst_shorter_than_the_retries_is_retried(served, cache, burst):
    server, mini = served
    server.add_fault(CANONICAL, Fault.status(503, times=burst))
    ds = _load(mini, cache)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.count(CANONICAL) == burst + 1
    assert_only_verified_files(cache, mini)


def test_a_503_burst_as_long_as_the_retries_falls_back_to_the_next_mirror(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1")
    server.add_fault(MIRROR, Fault.status(503, times=RETRIES))
    _load(mini, cache)
    assert server.count(MIRROR) == RETRIES        # every attempt spent on the mirror ...
    assert server.count(CANONICAL) == 1           # ... then the canonical URL served it
    assert_only_verified_files(cache, mini)


def test_the_retry_count_is_read_from_the_environment_when_a_download_starts(served, cache, monkeypatch):
    server, mini = served
    server.add_fault(CANONICAL, Fault.status(503, times=4))
    monkeypatch.setenv("MNISTFAMILY_RETRIES", "2")
    with pytest.raises(DownloadError, match=r"HTTP 503 \(after 2 attempts\)"):
        _load(mini, cache)
    assert server.count(CANONICAL) == 2
    monkeypatch.setenv("MNISTFAMILY_RETRIES", "5")  # the same process, a new setting: it counts
    _load(mini, cache)
    assert server.count(CANONICAL) == 2 + 3
    assert_only_verified_files(cache, mini)


@pytest.mark.parametrize("variable, value", [("MNISTFAMILY_RETRIES", "three"), ("MNISTFAMILY_RETRIES", "0"),
                                             ("MNISTFAMILY_BACKOFF", "-1"), ("MNISTFAMILY_READ_TIMEOUT", "nan")])
def test_a_bad_retry_setting_is_a_config_error_naming_the_variable(served, cache, monkeypatch, variable, value):
    server, mini = served
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=rf"{variable}='{value}': expected .* unset it"):
        _load(mini, cache)
    assert server.count(CANONICAL) == 0
    assert_only_verified_files(cache, mini)


# ---------------------------------------------------------------------------
# Bodies cut short: reset (RST), truncated (FIN), Content-Length overstated
# ---------------------------------------------------------------------------


def test_a_connection_reset_mid_body_is_retried(served, cache, caplog):
    server, mini = served
    server.add_fault(CANONICAL, Fault.reset(at=1000, times=1))
    with caplog.at_level(logging.WARNING, logger="mnistfamily.fetch"):
        ds = _load(mini, cache)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.count(CANONICAL) == 2
    assert any("cut short" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records)
    assert_only_verified_files(cache, mini)


def test_resets_on_every_attempt_end_in_an_error_with_the_reason(served, cache):
    server, mini = served
    server.add_fault(CANONICAL, Fault.reset(at=1000))
    with pytest.raises(DownloadError) as caught:
        _load(mini, cache)
    assert f"{server.url}/{CANONICAL}: the body was cut short" in str(caught.value)
    assert f"(after {RETRIES} attempts)" in str(caught.value)
    assert server.count(CANONICAL) == RETRIES
    assert not (cache / "downloads" / "mnist" / IMAGES).exists()
    assert_only_verified_files(cache, mini)


def test_a_truncated_body_on_every_attempt_falls_back_to_the_next_location(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1")
    server.add_fault(MIRROR, Fault.truncate(at=500))
    _load(mini, cache)
    assert (server.count(MIRROR), server.count(CANONICAL)) == (RETRIES, 1)
    assert_only_verified_files(cache, mini)


def test_an_overstated_content_length_is_a_short_body_and_retried(served, cache):
    server, mini = served
    server.add_fault(CANONICAL, Fault.wrong_length(extra=100, times=1))
    _load(mini, cache)
    assert server.count(CANONICAL) == 2
    assert_only_verified_files(cache, mini)


def test_an_understated_content_length_is_rejected_by_size_and_never_cached(served, cache, monkeypatch):
    server, mini = served
    size = mini.files["mnist"][IMAGES].stat().st_size
    server.add_fault(CANONICAL, Fault.wrong_length(extra=-100))
    # Two outcomes, both a refusal: the client stops at the announced length (a copy 100 bytes
    # short, rejected by size), or its parser sees the surplus first and fails the answer.
    with pytest.raises(DownloadError, match=rf"{CANONICAL}: .*(expected size {size:,} bytes.*found size "
                                            rf"{size - 100:,} bytes|data after the announced Content-Length)"):
        _load(mini, cache)
    assert server.count(CANONICAL) == 1  # neither is retried: the same server would do the same
    assert_only_verified_files(cache, mini)
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1")  # the same fault, another location first
    server.clear_faults()
    server.add_fault(MIRROR, Fault.wrong_length(extra=-100))
    _load(mini, cache)
    assert (server.count(MIRROR), server.count(CANONICAL)) == (1, 2)
    assert_only_verified_files(cache, mini)


# ---------------------------------------------------------------------------
# Not the data: an HTML page with status 200
# ---------------------------------------------------------------------------


def test_an_html_page_with_status_200_is_named_as_such_and_falls_back(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1")
    server.add_fault(MIRROR, Fault.html_page())
    server.add_fault(CANONICAL, Fault.html_page(times=1))
    with pytest.raises(DownloadError) as caught:
        _load(mini, cache)
    for path in (MIRROR, CANONICAL):
        assert f"{server.url}/{path}: the server sent an HTML page" in str(caught.value)
    assert server.count(MIRROR) == 1  # not transient: a page is not retried at the same place
    assert_only_verified_files(cache, mini)
    _load(mini, cache)  # the canonical URL recovered
    assert_only_verified_files(cache, mini)


# ---------------------------------------------------------------------------
# Slow servers: the read timeout is about silence, not about the whole body
# ---------------------------------------------------------------------------


def test_a_trickle_slower_in_total_than_the_timeout_but_never_silent_that_long_succeeds(served, cache):
    server, mini = served
    size = mini.files["mnist"][IMAGES].stat().st_size
    chunk = size // 6 + 1  # six chunks, five pauses of 0.15 s: 0.75 s in all, each gap < 0.4 s
    server.add_fault(CANONICAL, Fault.trickle(bytes_per_chunk=chunk, pause=0.15))
    started = time.monotonic()
    ds = _load(mini, cache)
    assert time.monotonic() - started > READ_TIMEOUT  # the whole body took longer than the timeout
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.count(CANONICAL) == 1
    assert_only_verified_files(cache, mini)


def test_a_trickle_silent_longer_than_the_timeout_is_retried(served, cache, caplog):
    server, mini = served
    server.add_fault(CANONICAL, Fault.trickle(bytes_per_chunk=2048, pause=READ_TIMEOUT * 3, times=1))
    with caplog.at_level(logging.WARNING, logger="mnistfamily.fetch"):
        _load(mini, cache)
    assert server.count(CANONICAL) == 2
    assert any("timed out" in r.getMessage() for r in caplog.records)
    assert_only_verified_files(cache, mini)


def test_a_stall_before_the_answer_longer_than_the_timeout_ends_in_an_error(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_RETRIES", "2")
    server.add_fault(CANONICAL, Fault.delay(READ_TIMEOUT * 4))
    with pytest.raises(DownloadError, match=rf"{CANONICAL}: timed out .*\(after 2 attempts\)"):
        _load(mini, cache)
    assert_only_verified_files(cache, mini)


# ---------------------------------------------------------------------------
# Redirects
# ---------------------------------------------------------------------------


def test_a_redirect_loop_is_not_retried_and_says_so(served, cache):
    server, mini = served
    server.add_fault(CANONICAL, Fault.redirect(CANONICAL))
    with pytest.raises(DownloadError, match=rf"{CANONICAL}: too many redirects .*a redirect loop"):
        _load(mini, cache)
    looped = server.count(CANONICAL)
    assert 2 <= looped <= 11  # one attempt: the client's redirect limit, not RETRIES times it
    assert_only_verified_files(cache, mini)


def test_a_redirect_to_the_file_elsewhere_is_followed(served, cache):
    server, mini = served
    server.add_fault(CANONICAL, Fault.redirect(MIRROR))
    _load(mini, cache)
    assert (server.count(CANONICAL), server.count(MIRROR)) == (1, 1)
    assert_only_verified_files(cache, mini)


# ---------------------------------------------------------------------------
# Every location down
# ---------------------------------------------------------------------------


def test_every_location_down_lists_each_one_with_its_reason(served, cache, monkeypatch):
    server, mini = served
    refused = f"http://127.0.0.1:{_port_with_nothing_listening()}"
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{refused},{server.url}/m1,{server.url}/gone")
    server.add_fault(MIRROR, Fault.status(503))
    server.add_fault(CANONICAL, Fault.reset(at=10))
    with pytest.raises(DownloadError) as caught:
        _load(mini, cache)
    message = str(caught.value)
    lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(lines) == 4, message
    assert f"{refused}/mnist/{IMAGES}: ClientConnectorError" in lines[0] and "after 3 attempts" in lines[0]
    assert f"{server.url}/{MIRROR}: HTTP 503 (after 3 attempts)" in lines[1]
    assert f"{server.url}/gone/mnist/{IMAGES}: not found" in lines[2]
    assert f"{server.url}/{CANONICAL}: the body was cut short" in lines[3]
    assert "download the file yourself and pass source=" in message
    assert (server.count(MIRROR), server.count(f"gone/mnist/{IMAGES}"), server.count(CANONICAL)) == (3, 1, 3)
    assert_only_verified_files(cache, mini)


# ---------------------------------------------------------------------------
# Leftovers of a killed process
# ---------------------------------------------------------------------------


def test_a_part_file_left_by_a_killed_download_is_removed_by_the_next_one(served, cache):
    server, mini = served
    folder = cache / "downloads" / "mnist"
    folder.mkdir(parents=True)
    stale = folder / f".{IMAGES}.dead0000.part"
    stale.write_bytes(b"half a download")
    unrelated = folder / "notes.txt"  # not ours to delete
    unrelated.write_text("mine")
    _load(mini, cache)
    assert not stale.exists() and unrelated.exists()
    unrelated.unlink()
    assert_only_verified_files(cache, mini)


# ---------------------------------------------------------------------------
# The fault matrix: every fault, at the only location and at the first of two
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    make: Callable[[int], Fault]  # file size -> fault
    gets: int                     # GETs the faulty location receives
    reason: str | None            # None: the faulty location itself ends up serving the file


MATRIX = {
    "503 burst of 2": Case(lambda n: Fault.status(503, times=2), 3, None),
    "503 always": Case(lambda n: Fault.status(503), RETRIES, r"HTTP 503 \(after 3 attempts\)"),
    "404": Case(lambda n: Fault.status(404), 1, "not found"),
    "403": Case(lambda n: Fault.status(403), 1, r"HTTP 403"),
    "reset mid-body once": Case(lambda n: Fault.reset(at=n // 2, times=1), 2, None),
    "reset mid-body always": Case(lambda n: Fault.reset(at=n // 2), RETRIES, "the body was cut short"),
    "truncated always": Case(lambda n: Fault.truncate(at=n // 2), RETRIES, "the body was cut short"),
    "html page 200": Case(lambda n: Fault.html_page(), 1, "HTML page"),
    "one byte flipped": Case(lambda n: Fault.corrupt(offset=n // 2), 1, "does not match the registry entry"),
    "content-length +100": Case(lambda n: Fault.wrong_length(extra=100), RETRIES, "the body was cut short"),
    "content-length -100": Case(lambda n: Fault.wrong_length(extra=-100), 1,
                                "(does not match|data after the announced Content-Length)"),
    "redirect loop": Case(lambda n: Fault.redirect("LOOP"), -1, "too many redirects"),
    "trickle under the timeout": Case(lambda n: Fault.trickle(n // 3 + 1, READ_TIMEOUT / 4), 1, None),
    "trickle over the timeout": Case(lambda n: Fault.trickle(n // 2, READ_TIMEOUT * 2, times=1), 2, None),
    # -1: not counted; the server logs a GET when it answers, after the client has given up
    "stall over the timeout": Case(lambda n: Fault.delay(READ_TIMEOUT * 3), -1, "timed out"),
}


@pytest.mark.parametrize("layout", ["only location", "first of two"])
@pytest.mark.parametrize("fault", list(MATRIX))
def test_fault_matrix(served, cache, monkeypatch, fault, layout):
    server, mini = served
    case = MATRIX[fault]
    if fault == "stall over the timeout":
        monkeypatch.setenv("MNISTFAMILY_RETRIES", "2")  # each attempt costs a whole timeout
    faulty = CANONICAL if layout == "only location" else MIRROR
    if layout == "first of two":
        monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1")
    made = case.make(mini.files["mnist"][IMAGES].stat().st_size)
    if fault == "redirect loop":
        made = Fault.redirect(faulty)
    server.add_fault(faulty, made)
    started = time.monotonic()
    if case.reason is not None and layout == "only location":
        with pytest.raises(DownloadError, match=rf"{server.url}/{faulty}: .*{case.reason}"):
            _load(mini, cache)
    else:
        ds = _load(mini, cache)
        np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
        if layout == "first of two":  # served by the mirror itself, or by the next location
            assert server.count(CANONICAL) == (0 if case.reason is None else 1)
    if case.gets >= 0:
        assert server.count(faulty) == case.gets
    assert time.monotonic() - started < 10  # bounded: retries are capped and backoff is short
    assert_only_verified_files(cache, mini)
