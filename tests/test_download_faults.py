"""Download faults against the loopback server: each one ends in a retry, a fallback to the
next location, or a DownloadError that lists every location tried with its reason -- and
never in anything but verified files in the cache's download folder.

Retry settings come from the environment (MNISTFAMILY_RETRIES, MNISTFAMILY_BACKOFF,
MNISTFAMILY_READ_TIMEOUT), which the fetch layer reads when a download starts (a
:class:`~mnistfamily.config.FetchSettings` given to ``fetch_file`` overrides them).
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
from mnistfamily.errors import ConfigError, DownloadError, OfflineError
from mnistfamily.testing import Fault, serve_directory, write_miniatures

IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"
CANONICAL = f"mnist/{IMAGES}"          # path of the canonical URL on the server
MIRROR = f"m1/mnist/{IMAGES}"          # path of the same file on an environment mirror
CANONICAL_LABELS = f"mnist/{LABELS}"
RETRIES = 3
READ_TIMEOUT = 0.4                     # seconds of silence inside a body before giving up


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Miniature MNIST served at ``/mnist/`` (the registry's canonical URLs) and at ``/m1/mnist/``."""
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


def _load(mini, cache: Path, **options):
    return mf.load("mnist", "test", registry=mini.registry, data_dir=cache, **options)


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


def test_fetch_settings_override_the_environment_for_one_fetch(served, cache, monkeypatch):
    """``FetchSettings`` carries source, network and retry settings in one object down to the transfer."""
    from mnistfamily.config import FetchSettings
    from mnistfamily.fetch import fetch_file

    server, mini = served
    spec = mini.registry.dataset("mnist")
    labels = spec.file(LABELS)
    server.add_fault(CANONICAL_LABELS, Fault.status(503, times=3))
    monkeypatch.setenv("MNISTFAMILY_RETRIES", "5")  # the settings' own number wins over it
    with pytest.raises(DownloadError, match=r"HTTP 503 \(after 2 attempts\)"):
        fetch_file(spec, labels, root=cache, settings=FetchSettings(retries=2, backoff=0))
    assert server.count(CANONICAL_LABELS) == 2
    path, how = fetch_file(spec, labels, root=cache, settings=FetchSettings(retries=2, backoff=0))
    assert server.count(CANONICAL_LABELS) == 4 and how.method == "published" and path.is_file()
    with pytest.raises(OfflineError, match="download=False was given"):  # no request at all
        fetch_file(spec, spec.file(IMAGES), root=cache, settings=FetchSettings(download=False))
    assert server.count(CANONICAL) == 0


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
    with pytest.raises(DownloadError, match=r"(?s)no location gave a verified copy of t10k-images-idx3-ubyte\.gz.*cut short") as caught:
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
    with pytest.raises(DownloadError, match=r"(?s)no location gave a verified copy.*sent an HTML page") as caught:
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
    with pytest.raises(DownloadError, match=r"(?s)cannot connect to 127\.0\.0\.1:\d+: connection refused") as caught:
        _load(mini, cache)
    message = str(caught.value)
    lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(lines) == 4, message
    # a refused connection is not retried: nothing listens there, a moment later neither
    assert f"{refused}/mnist/{IMAGES}: cannot connect to {refused[len('http://'):]}: connection refused" in lines[0]
    assert "not retried" in lines[0] and "attempts" not in lines[0]
    assert f"{server.url}/{MIRROR}: HTTP 503 (after 3 attempts)" in lines[1]
    assert f"{server.url}/gone/mnist/{IMAGES}: not found" in lines[2]
    assert f"{server.url}/{CANONICAL}: the body was cut short" in lines[3]
    assert "download the file yourself and pass source=" in message
    assert (server.count(MIRROR), server.count(f"gone/mnist/{IMAGES}"), server.count(CANONICAL)) == (3, 1, 3)
    assert_only_verified_files(cache, mini)


# ---------------------------------------------------------------------------
# Leftovers of a killed process
# ---------------------------------------------------------------------------


def test_a_temporary_area_left_by_a_killed_download_is_removed_by_the_next_one(served, cache):
    from mnistfamily import safe_write

    server, mini = served
    folder = cache / "downloads" / "mnist"
    folder.mkdir(parents=True)
    stale = safe_write.TempArea(folder, IMAGES)  # what a killed download leaves: a marked area
    stale.file().write_bytes(b"half a download")
    # look-alikes that nothing proves ours: an old-style name, a folder with our prefix but no marker
    look_alike = folder / f".{IMAGES}.dead0000.part"
    look_alike.write_bytes(b"not proved ours")
    unmarked = folder / f"{safe_write.TEMP_PREFIX}{'0' * 32}"
    unmarked.mkdir()
    (unmarked / "thesis.tex").write_text("mine")
    unrelated = folder / "notes.txt"
    unrelated.write_text("mine")
    _load(mini, cache)
    assert not stale.path.exists()
    assert look_alike.exists() and (unmarked / "thesis.tex").exists() and unrelated.exists()
    for path in (look_alike, unrelated):
        path.unlink()
    shutil.rmtree(unmarked)
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


# ---------------------------------------------------------------------------
# Bounded in time: the low-speed limit and the header deadline
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["only location", "first of two"])
def test_a_byte_trickle_is_given_up_by_the_low_speed_limit_and_the_next_location_serves(
        served, cache, monkeypatch, layout):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_SPEED_LIMIT", "1000")  # bytes/s ...
    monkeypatch.setenv("MNISTFAMILY_SPEED_TIME", "0.5")    # ... on average over half a second
    faulty = CANONICAL if layout == "only location" else MIRROR
    if layout == "first of two":
        monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1")
    # 10 bytes every 0.05 s: 200 bytes/s, never silent for the 0.4 s read timeout, so only
    # the speed limit can end it (the whole file would take about 40 s)
    server.add_fault(faulty, Fault.trickle(bytes_per_chunk=10, pause=0.05))
    if layout == "only location":
        with pytest.raises(DownloadError, match=rf"{faulty}: too slow: .* bytes in 0.5 s, below the low-speed "
                                                r"limit of 1,000 bytes/s \(MNISTFAMILY_SPEED_LIMIT"):
            _load(mini, cache)
    else:
        ds = _load(mini, cache)
        np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
        assert server.count(CANONICAL) == 1
    assert server.count(faulty) == 1  # not retried there: the same server would be as slow again
    assert_only_verified_files(cache, mini)


@pytest.mark.parametrize("layout", ["only location", "first of two"])
def test_headers_trickled_past_the_header_deadline_are_given_up(served, cache, monkeypatch, layout):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_HEADER_TIMEOUT", "0.5")
    faulty = CANONICAL if layout == "only location" else MIRROR
    if layout == "first of two":
        monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1")
    # one header byte every 0.05 s: never silent for the read timeout, about 6 s for all of them
    server.add_fault(faulty, Fault.slow_headers(bytes_per_chunk=1, pause=0.05))
    if layout == "only location":
        with pytest.raises(DownloadError, match=rf"{faulty}: no complete answer \(status line and headers\) "
                                                r"within 0.5 s \(MNISTFAMILY_HEADER_TIMEOUT\)"):
            _load(mini, cache)
    else:
        _load(mini, cache)
        assert server.count(CANONICAL) == 1
    assert server.count(faulty) == 1
    assert_only_verified_files(cache, mini)


@pytest.mark.parametrize("variable, value", [("MNISTFAMILY_SPEED_LIMIT", "-1"), ("MNISTFAMILY_SPEED_TIME", "0"),
                                             ("MNISTFAMILY_HEADER_TIMEOUT", "soon"),
                                             ("MNISTFAMILY_RETRY_BUDGET", "-2"),
                                             ("MNISTFAMILY_MAX_UNKNOWN_SIZE", "4GB")])
def test_a_bad_limit_setting_is_a_config_error_naming_the_variable(served, cache, monkeypatch, variable, value):
    server, mini = served
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=rf"{variable}='{value}': expected .* unset it"):
        _load(mini, cache)
    assert server.requests == []


# ---------------------------------------------------------------------------
# Bounded in disk: files and payloads whose size the registry does not know
# ---------------------------------------------------------------------------


def _with_unknown_sizes(mini, names=(IMAGES,)):
    """The miniature registry, with the size of ``names`` (and of their payload) unknown."""
    from dataclasses import replace
    from types import MappingProxyType

    from mnistfamily.registry import Registry

    spec = mini.registry.dataset("mnist")
    files = {n: (replace(f, size=None, payload_size=None) if n in names else f) for n, f in spec.files.items()}
    return Registry({"mnist": replace(spec, files=MappingProxyType(files))})


def test_an_endless_body_of_unknown_size_stops_at_the_cap(served, cache, monkeypatch):
    server, mini = served
    registry = _with_unknown_sizes(mini)
    monkeypatch.setenv("MNISTFAMILY_MAX_UNKNOWN_SIZE", str(1 << 20))
    # never ends while read (the server gives up after 64 MiB, so that a client without a cap
    # fails this test by its message instead of filling the disk)
    server.add_fault(CANONICAL, Fault.endless(bytes_per_chunk=1 << 16, give_up_after=64 << 20))
    with pytest.raises(DownloadError, match=rf"{CANONICAL}: larger than expected: more than 1,048,576 bytes "
                                            r"\(MNISTFAMILY_MAX_UNKNOWN_SIZE, the cap for a file whose size the "
                                            r"registry does not know\)"):
        mf.load("mnist", "test", registry=registry, data_dir=cache)
    assert server.count(CANONICAL) == 1
    assert_only_verified_files(cache, mini)
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1")  # the same fault behind a good mirror
    ds = mf.load("mnist", "test", registry=registry, data_dir=cache)
    np.testing.assert_array_equal(ds.images, mini.expect("mnist", "test")["images"])
    assert server.count(CANONICAL) == 1


def test_a_gzip_bomb_of_unknown_payload_size_stops_decompressing_at_the_cap(served, cache, monkeypatch, tmp_path):
    import gzip

    from mnistfamily.fetch import verify_file

    server, mini = served
    registry = _with_unknown_sizes(mini)
    monkeypatch.setenv("MNISTFAMILY_MAX_UNKNOWN_SIZE", str(1 << 20))
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)  # 64 KiB that inflate to 64 MiB
    (Path(server.root) / CANONICAL).write_bytes(bomb)
    with pytest.raises(DownloadError, match=r"decompressed content of more than 1,048,576 bytes \(stopped there: "
                                            r"MNISTFAMILY_MAX_UNKNOWN_SIZE"):
        mf.load("mnist", "test", registry=registry, data_dir=cache)
    assert_only_verified_files(cache, mini)
    # the verifying pass keeps at most the cap on disk, and nothing once it has refused
    from mnistfamily.errors import ChecksumError
    from mnistfamily.fetch import verify as verify_module

    (tmp_path / "bomb.gz").write_bytes(bomb)
    written: list[int] = []

    class Recording:
        def __init__(self, path, mode="r"):
            self._file = open(path, mode)
            self._kept = str(path).endswith("kept")
            if self._kept:
                written.append(0)

        def write(self, data):
            if self._kept:
                written[-1] += len(data)
            return self._file.write(data)

        def __getattr__(self, name):
            return getattr(self._file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self._file.close()

    monkeypatch.setattr(verify_module, "open", Recording, raising=False)  # verify.py's open() only
    with pytest.raises(ChecksumError, match="more than 1,048,576 bytes"):
        verify_file(tmp_path / "bomb.gz", registry.dataset("mnist").file(IMAGES), keep_payload=tmp_path / "kept")
    assert written and max(written) <= 1 << 20 and not (tmp_path / "kept").exists()


# ---------------------------------------------------------------------------
# No network: names that do not resolve and refused connections move on at once
# ---------------------------------------------------------------------------


@pytest.fixture
def no_name_resolves(monkeypatch):
    """Every name but loopback fails to resolve, as without a network; the lookups are recorded.

    Nothing leaves the machine: the lookup fails before any query (the suite's guard would
    refuse it anyway).
    """
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in ("localhost",) or name.startswith("127.") or name == "::1":
            return real(host, *args, **kwargs)
        asked.append(name)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_without_a_network_the_builtin_mnist_fails_at_once_with_advice_that_fits(cache, no_name_resolves, caplog):
    from mnistfamily.registry import get_registry

    spec = get_registry().dataset("mnist")
    first = spec.file(spec.splits["train"].files()[0])
    hosts = [u.split("/")[2] for u in [*spec.mirror_urls(first), spec.canonical_url(first)]]
    with caplog.at_level(logging.WARNING, logger="mnistfamily.fetch"):
        with pytest.raises(DownloadError, match=r"(?s)no location gave a verified copy.*cannot resolve the host name") as caught:
            mf.load("mnist", data_dir=cache)
    message = str(caught.value)
    lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(lines) == len(hosts) and all("cannot resolve the host name" in line and "not retried" in line
                                            for line in lines), message
    assert "this machine seems to have no network" in message
    assert no_name_resolves == hosts  # one lookup per location: none retried
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


def test_an_unreachable_source_url_is_not_retried(served, cache, no_name_resolves, caplog):
    _, mini = served
    from mnistfamily.fetch.locations import source_locations

    source = "https://files.mnistfamily.invalid/data"
    spec = mini.registry.dataset("mnist")
    variants = len(source_locations(source, spec, spec.file(IMAGES)))  # name variants, in several folders
    with caplog.at_level(logging.WARNING, logger="mnistfamily.fetch"):
        with pytest.raises(DownloadError, match=r"cannot resolve the host name files.mnistfamily.invalid .*not "
                                                rf"retried; {variants - 1} other location\(s\) on that host not "
                                                r"tried") as caught:
            _load(mini, cache, source=source)
    # one lookup: the other name variants are on the same host, which is not there
    assert no_name_resolves == ["files.mnistfamily.invalid"]
    assert len([line for line in str(caught.value).splitlines() if line.startswith("  - ")]) == 1
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


# ---------------------------------------------------------------------------
# The retry budget of one load
# ---------------------------------------------------------------------------


def test_one_load_spends_at_most_its_retry_budget(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_RETRY_BUDGET", "2")
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1,{server.url}/m1")
    server.add_fault(MIRROR, Fault.status(503))
    server.add_fault(CANONICAL, Fault.status(503))
    with pytest.raises(DownloadError, match=r"not retried: the 2 retries of this load are spent, "
                                            r"MNISTFAMILY_RETRY_BUDGET"):
        _load(mini, cache)
    # three attempts at the first location (two retries), then one at each of the others
    assert (server.count(MIRROR), server.count(CANONICAL)) == (3 + 1, 1)


def test_the_retry_budget_is_shared_by_the_files_of_a_load(served, cache, monkeypatch):
    server, mini = served
    monkeypatch.setenv("MNISTFAMILY_RETRY_BUDGET", "2")
    server.add_fault(CANONICAL, Fault.status(503, times=2))
    server.add_fault(f"mnist/{LABELS}", Fault.status(503, times=2))
    with pytest.raises(DownloadError, match="retries of this load are spent"):
        _load(mini, cache)  # each file alone would be served after two retries; both need four
    assert server.count(CANONICAL) + server.count(f"mnist/{LABELS}") == 3 + 1


# ---------------------------------------------------------------------------
# A process that waits for another's download
# ---------------------------------------------------------------------------


def test_a_process_waiting_for_another_s_download_gets_an_error_naming_it(served, tmp_path):
    import json
    import os
    import subprocess
    import sys
    import textwrap

    server, mini = served
    cache = tmp_path / "shared-cache"
    server.add_fault(CANONICAL, Fault.trickle(bytes_per_chunk=64, pause=0.1))  # about 12 s for the images
    code = textwrap.dedent(f"""
        import sys, mnistfamily as mf
        from mnistfamily.registry import Registry
        reg = Registry.from_files([{str(mini.registry_path)!r}])
        try:
            mf.load("mnist", "test", registry=reg, data_dir={str(cache)!r})
        except Exception as exc:
            print(type(exc).__name__, exc)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "MNISTFAMILY_SPEED_LIMIT": "0",
           "MNISTFAMILY_READ_TIMEOUT": "5", "MNISTFAMILY_LOCK_TIMEOUT": "1"}
    first = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        lock = cache / "downloads" / "mnist" / f"{IMAGES}.lock"
        deadline = time.monotonic() + 30
        holder = {}
        while not holder.get("pid"):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first process never took the download's lock"
            time.sleep(0.05)
            try:
                holder = json.loads(lock.read_text() or "{}")
            except (OSError, ValueError):
                holder = {}
        second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    finally:
        first.kill()
        first.communicate()
    assert holder["pid"] == first.pid
    said = second.stdout
    assert said.startswith("LockTimeoutError"), second.stdout + second.stderr
    assert f"held by process {first.pid} on host " in said and f"downloading {IMAGES} (mnist)" in said
    assert "waited 1 s" in said and "MNISTFAMILY_LOCK_TIMEOUT" in said


# ---------------------------------------------------------------------------
# Archive members read by range requests (EMNIST's gzip.zip): transport errors are the location's
# ---------------------------------------------------------------------------

EMNIST_ZIP = "emnist/gzip.zip"


@pytest.fixture
def emnist_served(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTFAMILY_RETRIES", str(RETRIES))
    monkeypatch.setenv("MNISTFAMILY_BACKOFF", "0.01")
    monkeypatch.setenv("MNISTFAMILY_READ_TIMEOUT", str(READ_TIMEOUT))
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=["emnist/balanced"])
        (folder / "m1" / "emnist").mkdir(parents=True)
        shutil.copy(folder / EMNIST_ZIP, folder / "m1" / EMNIST_ZIP)
        yield server, mini
        assert server.errors == []


@pytest.mark.parametrize("fault", [Fault.status(404), Fault.status(403), Fault.status(503), Fault.reset(at=10),
                                   Fault.slow_headers(pause=0.05)],
                         ids=["404", "403", "503", "reset", "slow headers"])
def test_a_mirror_failing_the_archive_s_range_requests_falls_back_to_the_next_location(
        emnist_served, cache, monkeypatch, fault):
    server, mini = emnist_served
    monkeypatch.setenv("MNISTFAMILY_MIRROR", f"{server.url}/m1")
    monkeypatch.setenv("MNISTFAMILY_HEADER_TIMEOUT", "0.5")
    server.add_fault(f"m1/{EMNIST_ZIP}", fault)
    ds = mf.load("emnist/balanced", "test", registry=mini.registry, data_dir=cache)
    np.testing.assert_array_equal(ds.images, mini.expect("emnist/balanced", "test")["images"])
    served_by = [r for r in server.requests if r.path == EMNIST_ZIP]
    assert served_by and all(r.range_header for r in served_by)  # the next location, member by member


def test_without_a_network_an_archive_member_s_error_names_the_cause_not_a_damaged_archive(
        tmp_path, cache, no_name_resolves):
    # the registry's only location is a host that does not resolve, as EMNIST's is without a network
    mini = write_miniatures(tmp_path / "unserved", "https://files.mnistfamily.invalid", names=["emnist/balanced"])
    with pytest.raises(DownloadError, match=r"(?s)cannot resolve the host name files\.mnistfamily\.invalid") as caught:
        mf.load("emnist/balanced", "test", registry=mini.registry, data_dir=cache)
    message = str(caught.value)
    assert f"https://files.mnistfamily.invalid/{EMNIST_ZIP}: cannot resolve the host name" in message
    assert "not a valid zip" not in message and "Delete the archive" not in message, message
    assert "this machine seems to have no network" in message
    assert not (cache / "downloads" / "emnist" / "gzip.zip").exists()
