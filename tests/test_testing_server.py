"""Tests for mnistfamily.testing.server, the loopback HTTP server with faults."""

from __future__ import annotations

import dataclasses
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from mnistfamily.testing.server import (
    Fault,
    LoopbackServer,
    Request,
    serve_directory,
)

DATA = bytes(range(256)) * 20  # 5120 bytes, every byte value present
OTHER = b"the other file\n" * 10
SIZE = len(DATA)


@pytest.fixture
def root(tmp_path):
    """A served directory next to a secret file that must never be served."""
    served = tmp_path / "root"
    (served / "mnist").mkdir(parents=True)
    (served / "sub").mkdir()
    (served / "mnist" / "data.bin").write_bytes(DATA)
    (served / "other.bin").write_bytes(OTHER)
    (served / "with space.bin").write_bytes(b"spaced")
    (served / "empty.bin").write_bytes(b"")
    (tmp_path / "secret.txt").write_bytes(b"TOP SECRET")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "leak.bin").write_bytes(b"LEAK")
    return served


@pytest.fixture
def server(root):
    with serve_directory(root) as srv:
        yield srv
    assert srv.errors == []


def request(server, method, path, headers=None, timeout=5):
    """Send one raw request (path sent verbatim) and return (status, headers, body)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, response.headers, body
    finally:
        conn.close()


def get(server, path, headers=None):
    return request(server, "GET", path, headers)


# ---------------------------------------------------------------------------
# Basics
# ---------------------------------------------------------------------------


def test_url_and_url_for(server):
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert not server.url.endswith("/")
    assert server.url_for("mnist/data.bin") == server.url + "/mnist/data.bin"
    assert server.url_for("/mnist/data.bin") == server.url + "/mnist/data.bin"
    assert server.url_for("with space.bin") == server.url + "/with%20space.bin"


def test_plain_get_is_byte_exact(server):
    with urllib.request.urlopen(server.url_for("mnist/data.bin"), timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["Content-Length"] == str(SIZE)
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert resp.read() == DATA


def test_percent_encoded_name_and_query_string(server):
    with urllib.request.urlopen(server.url_for("with space.bin"), timeout=5) as resp:
        assert resp.read() == b"spaced"
    status, _, body = get(server, "/mnist/data.bin?x=1&y=../../secret.txt#frag")
    assert (status, body) == (200, DATA)
    status, _, body = get(server, "/%6Dnist/data.bin")  # %6D == "m"
    assert (status, body) == (200, DATA)


def test_empty_file(server):
    status, headers, body = get(server, "/empty.bin")
    assert (status, headers["Content-Length"], body) == (200, "0", b"")


def test_head(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("HEAD", "/mnist/data.bin")
        response = conn.getresponse()
        assert response.status == 200
        assert response.headers["Content-Length"] == str(SIZE)
        assert response.headers["Accept-Ranges"] == "bytes"
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.read() == b""
        # No stray body was sent: the same connection serves the next request.
        conn.request("GET", "/other.bin")
        response = conn.getresponse()
        assert response.read() == OTHER
    finally:
        conn.close()


def test_head_ignores_range(server):
    status, headers, body = request(server, "HEAD", "/mnist/data.bin", {"Range": "bytes=0-9"})
    assert status == 200
    assert headers["Content-Length"] == str(SIZE)
    assert "Content-Range" not in headers
    assert body == b""


def test_keep_alive_across_statuses(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        results = []
        for path, headers in [
            ("/mnist/data.bin", {}),
            ("/missing.bin", {}),
            ("/mnist/data.bin", {"Range": "bytes=10-19"}),
            ("/mnist/data.bin", {"Range": f"bytes={SIZE}-"}),
            ("/other.bin", {}),
        ]:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            results.append((response.status, response.read()))
            assert response.headers["Content-Length"] is not None
    finally:
        conn.close()
    assert [status for status, _ in results] == [200, 404, 206, 416, 200]
    assert results[0][1] == DATA
    assert results[2][1] == DATA[10:20]
    assert results[4][1] == OTHER


def test_missing_file_is_404(server):
    with pytest.raises(urllib.error.HTTPError, match="HTTP Error 404") as info:
        urllib.request.urlopen(server.url_for("mnist/nope.gz"), timeout=5)
    assert info.value.code == 404
    status, _, _ = request(server, "HEAD", "/mnist/nope.gz")
    assert status == 404


# ---------------------------------------------------------------------------
# Ranges
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, first, last",
    [
        ("bytes=10-19", 10, 19),
        ("bytes=0-0", 0, 0),
        ("bytes=5000-", 5000, SIZE - 1),
        ("bytes=100-999999", 100, SIZE - 1),
        ("bytes=-10", SIZE - 10, SIZE - 1),
        ("bytes=-999999", 0, SIZE - 1),
    ],
)
def test_single_range(server, spec, first, last):
    status, headers, body = get(server, "/mnist/data.bin", {"Range": spec})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert headers["Content-Length"] == str(last - first + 1)
    assert body == DATA[first : last + 1]


@pytest.mark.parametrize("spec", [f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 9}", "bytes=-0"])
def test_unsatisfiable_range(server, spec):
    status, headers, _ = get(server, "/mnist/data.bin", {"Range": spec})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{SIZE}"


def test_unsatisfiable_range_on_empty_file(server):
    status, headers, _ = get(server, "/empty.bin", {"Range": "bytes=0-0"})
    assert status == 416
    assert headers["Content-Range"] == "bytes */0"


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "bytes=9-3", "items=0-1", "bytes=abc"])
def test_multiple_or_invalid_ranges_give_whole_body(server, spec):
    status, headers, body = get(server, "/mnist/data.bin", {"Range": spec})
    assert status == 200
    assert "Content-Range" not in headers
    assert body == DATA


def test_allow_ranges_false(server):
    server.allow_ranges = False
    status, headers, body = get(server, "/mnist/data.bin", {"Range": "bytes=10-19"})
    assert status == 200
    assert body == DATA
    assert "Accept-Ranges" not in headers
    assert "Content-Range" not in headers
    status, headers, _ = get(server, "/mnist/data.bin", {"Range": f"bytes={SIZE}-"})
    assert status == 200
    status, headers, _ = request(server, "HEAD", "/mnist/data.bin")
    assert status == 200 and "Accept-Ranges" not in headers
    server.allow_ranges = True
    status, _, body = get(server, "/mnist/data.bin", {"Range": "bytes=10-19"})
    assert (status, body) == (206, DATA[10:20])


# ---------------------------------------------------------------------------
# Path safety
# ---------------------------------------------------------------------------


def _traversal_paths(root):
    secret = os.path.join(os.path.dirname(root), "secret.txt")
    return [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub/../../secret.txt",
        "/mnist/%2e%2e/%2e%2e/secret.txt",
        "/" + urllib.parse.quote(secret, safe=""),  # "/%2Ftmp%2F...": absolute once decoded
        "//" + secret.lstrip("/"),
        secret,  # the absolute path sent verbatim as the request target
        "/..%5csecret.txt",
        "/secret.txt%00",
    ]


def test_traversal_attempts_are_404(server, root):
    for path in _traversal_paths(str(root)):
        status, _, body = get(server, path)
        assert status == 404, path
        assert b"SECRET" not in body, path


def test_absolute_form_request_target_cannot_escape(server):
    status, _, body = get(server, f"{server.url}/../secret.txt")
    assert status == 404
    assert b"SECRET" not in body
    status, _, body = get(server, f"{server.url}/other.bin")
    assert (status, body) == (200, OTHER)


def test_symlinks(server, root):
    try:
        os.symlink(os.path.join(os.path.dirname(root), "secret.txt"), root / "escape.txt")
        os.symlink(os.path.join(os.path.dirname(root), "outside"), root / "outdir")
        os.symlink(root / "other.bin", root / "inside.bin")
    except (OSError, NotImplementedError):  # pragma: no cover - platform without symlinks
        pytest.skip("symlinks not supported")
    assert get(server, "/escape.txt")[0] == 404
    assert get(server, "/outdir/leak.bin")[0] == 404
    status, _, body = get(server, "/inside.bin")  # a symlink staying inside is fine
    assert (status, body) == (200, OTHER)


@pytest.mark.parametrize("path", ["/", "/sub", "/sub/", "/mnist", "/."])
def test_directories_are_404_and_never_listed(server, path):
    status, _, body = get(server, path)
    assert status == 404
    assert b"data.bin" not in body


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------


def test_status_fault_with_times_then_recovery(server):
    server.add_fault("mnist/data.bin", Fault.status(503, times=2))
    url = server.url_for("mnist/data.bin")
    for _ in range(2):
        with pytest.raises(urllib.error.HTTPError, match="HTTP Error 503") as info:
            urllib.request.urlopen(url, timeout=5)
        assert info.value.code == 503
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.read() == DATA
    assert [r.status for r in server.requests] == [503, 503, 200]
    assert server.count("mnist/data.bin") == 3


def test_status_fault_always_and_extra_headers(server):
    server.add_fault("mnist/data.bin", Fault.status(404))
    server.add_fault("other.bin", Fault.status(503, headers=(("Retry-After", "7"),)))
    for _ in range(3):
        assert get(server, "/mnist/data.bin")[0] == 404
    status, headers, _ = get(server, "/other.bin")
    assert (status, headers["Retry-After"]) == (503, "7")
    server.add_fault("empty.bin", Fault.status(304, times=1))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:  # a 304 has no body, so the connection stays usable
        conn.request("GET", "/empty.bin")
        response = conn.getresponse()
        assert (response.status, response.read()) == (304, b"")
        conn.request("GET", "/with%20space.bin")
        assert conn.getresponse().read() == b"spaced"
    finally:
        conn.close()


def test_status_fault_on_missing_file(server):
    server.add_fault("nowhere.bin", Fault.status(500, times=1))
    assert get(server, "/nowhere.bin")[0] == 500
    assert get(server, "/nowhere.bin")[0] == 404


def test_head_sees_status_fault_without_consuming_it(server):
    server.add_fault("mnist/data.bin", Fault.status(503, times=1))
    for _ in range(3):
        status, headers, body = request(server, "HEAD", "/mnist/data.bin")
        assert status == 503 and body == b""
        assert headers["Content-Length"] is not None
    assert get(server, "/mnist/data.bin")[0] == 503
    assert request(server, "HEAD", "/mnist/data.bin")[0] == 200
    assert get(server, "/mnist/data.bin")[0] == 200


def test_truncate(server):
    server.add_fault("mnist/data.bin", Fault.truncate(at=100, times=1))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", "/mnist/data.bin")
        response = conn.getresponse()
        assert response.status == 200
        assert response.headers["Content-Length"] == str(SIZE)
        with pytest.raises(http.client.IncompleteRead, match="100 bytes read, 5020 more expected") as info:
            response.read()
    finally:
        conn.close()
    assert info.value.partial == DATA[:100]
    assert info.value.expected == SIZE - 100
    assert get(server, "/mnist/data.bin")[2] == DATA  # times=1: spent


def test_truncate_applies_to_range_body(server):
    server.add_fault("mnist/data.bin", Fault.truncate(at=5))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", "/mnist/data.bin", headers={"Range": "bytes=1000-1099"})
        response = conn.getresponse()
        assert response.status == 206
        assert response.headers["Content-Length"] == "100"
        with pytest.raises(http.client.IncompleteRead, match="5 bytes read, 95 more expected") as info:
            response.read()
    finally:
        conn.close()
    assert info.value.partial == DATA[1000:1005]


def test_truncate_does_not_affect_head(server):
    server.add_fault("mnist/data.bin", Fault.truncate(at=0))
    status, headers, _ = request(server, "HEAD", "/mnist/data.bin")
    assert (status, headers["Content-Length"]) == (200, str(SIZE))


def test_corrupt_flips_exactly_one_byte(server):
    server.add_fault("mnist/data.bin", Fault.corrupt(offset=10, times=1))
    status, headers, body = get(server, "/mnist/data.bin")
    assert status == 200
    assert headers["Content-Length"] == str(SIZE)
    assert len(body) == SIZE
    diffs = [i for i in range(SIZE) if body[i] != DATA[i]]
    assert diffs == [10]
    assert body[10] == DATA[10] ^ 0xFF
    assert get(server, "/mnist/data.bin")[2] == DATA


def test_corrupt_offset_is_a_file_offset_in_ranges(server):
    server.add_fault("mnist/data.bin", Fault.corrupt(offset=4000))
    _, _, body = get(server, "/mnist/data.bin", {"Range": "bytes=3990-4009"})
    expected = bytearray(DATA[3990:4010])
    expected[10] ^= 0xFF
    assert body == bytes(expected)
    _, _, body = get(server, "/mnist/data.bin", {"Range": "bytes=0-99"})
    assert body == DATA[:100]


def test_delay(server):
    server.add_fault("other.bin", Fault.delay(0.15, times=1))
    started = time.monotonic()
    status, _, body = get(server, "/other.bin")
    elapsed = time.monotonic() - started
    assert (status, body) == (200, OTHER)
    assert elapsed >= 0.15


def test_delay_applies_to_head(server):
    server.add_fault("other.bin", Fault.delay(0.1))
    started = time.monotonic()
    status, _, _ = request(server, "HEAD", "/other.bin")
    assert status == 200
    assert time.monotonic() - started >= 0.1


def test_trickle(server):
    server.add_fault("mnist/data.bin", Fault.trickle(bytes_per_chunk=512, pause=0.01))
    started = time.monotonic()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", "/mnist/data.bin")
        response = conn.getresponse()
        pieces = []
        while True:
            piece = response.read1(100000)
            if not piece:
                break
            pieces.append(piece)
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    assert b"".join(pieces) == DATA
    assert len(pieces) > 1  # it really arrived in several pieces
    assert elapsed >= 0.01 * (SIZE // 512 - 1)


def test_slow_headers_arrive_a_few_bytes_at_a_time_then_the_body_whole(server):
    server.add_fault("mnist/data.bin", Fault.slow_headers(bytes_per_chunk=8, pause=0.005))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET /mnist/data.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        pieces = []
        while True:
            piece = sock.recv(100000)
            if not piece:
                break
            pieces.append(piece)
    answer = b"".join(pieces)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == DATA
    assert len(pieces) > len(head) // 8 // 2  # the headers really came in several pieces
    assert request(server, "HEAD", "/mnist/data.bin")[0] == 200  # HEAD too, slowly


def test_endless_body_never_ends_and_has_no_length(server):
    server.add_fault("mnist/data.bin", Fault.endless(bytes_per_chunk=4096))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", "/mnist/data.bin")
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Length") is None
        received = response.read(SIZE + 100_000)  # far more than the file holds, and still coming
    finally:
        conn.close()
    assert received[:SIZE] == DATA and received[SIZE:] == bytes(100_000)
    status, headers, _ = request(server, "HEAD", "/mnist/data.bin")  # HEAD answers normally
    assert status == 200 and headers["Content-Length"] == str(SIZE)


def test_html_page(server):
    server.add_fault("mnist/data.bin", Fault.html_page())
    status, headers, body = get(server, "/mnist/data.bin", {"Range": "bytes=0-9"})
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Content-Length"] == str(len(body))
    assert body.lstrip().lower().startswith(b"<!doctype html")
    assert body != DATA
    status, headers, body = request(server, "HEAD", "/mnist/data.bin")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body == b""


def test_wrong_length(server):
    server.add_fault("mnist/data.bin", Fault.wrong_length(extra=10))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", "/mnist/data.bin")
        response = conn.getresponse()
        assert response.headers["Content-Length"] == str(SIZE + 10)
        with pytest.raises(http.client.IncompleteRead, match="5120 bytes read, 10 more expected") as info:
            response.read()
    finally:
        conn.close()
    assert info.value.partial == DATA
    assert info.value.expected == 10
    status, headers, _ = request(server, "HEAD", "/mnist/data.bin")
    assert (status, headers["Content-Length"]) == (200, str(SIZE + 10))


def test_wrong_length_understated(server):
    server.add_fault("mnist/data.bin", Fault.wrong_length(extra=-100, times=1))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("GET", "/mnist/data.bin")
        response = conn.getresponse()
        assert response.headers["Content-Length"] == str(SIZE - 100)
        assert response.read() == DATA[: SIZE - 100]  # a client trusting the header gets a short body
    finally:
        conn.close()
    assert get(server, "/mnist/data.bin")[2] == DATA  # the surplus never became the next answer
    server.add_fault("other.bin", Fault.wrong_length(extra=-10 * len(OTHER)))
    assert request(server, "HEAD", "/other.bin")[1]["Content-Length"] == "0"


def test_reset_mid_body_is_a_tcp_reset(server):
    server.add_fault("mnist/data.bin", Fault.reset(at=100, times=1))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET /mnist/data.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        with pytest.raises(ConnectionResetError, match="Connection reset by peer"):  # an orderly close would read b"" instead
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
    assert received == b"" or received.startswith(b"HTTP/1.1 200")
    assert get(server, "/mnist/data.bin")[2] == DATA  # times=1: spent
    assert server.count("mnist/data.bin") == 2


def test_reset_does_not_affect_head(server):
    server.add_fault("mnist/data.bin", Fault.reset(at=0))
    status, headers, _ = request(server, "HEAD", "/mnist/data.bin")
    assert (status, headers["Content-Length"]) == (200, str(SIZE))


def test_redirect(server):
    server.add_fault("mnist/data.bin", Fault.redirect("other.bin", times=1))
    status, headers, _ = get(server, "/mnist/data.bin")
    assert status == 302
    assert headers["Location"] == server.url_for("other.bin")
    server.clear_faults()
    server.add_fault("mnist/data.bin", Fault.redirect("other.bin"))
    with urllib.request.urlopen(server.url_for("mnist/data.bin"), timeout=5) as resp:
        assert resp.read() == OTHER
    assert [(r.path, r.status) for r in server.requests[-2:]] == [
        ("mnist/data.bin", 302),
        ("other.bin", 200),
    ]


def test_redirect_loop(server):
    server.add_fault("mnist/data.bin", Fault.redirect("mnist/data.bin"))
    with pytest.raises(urllib.error.HTTPError, match="redirect error that would lead to an infinite loop") as info:
        urllib.request.urlopen(server.url_for("mnist/data.bin"), timeout=5)
    assert info.value.code == 302
    assert server.count("mnist/data.bin") >= 2


def test_faults_apply_in_order_added(server):
    server.add_fault("mnist/data.bin", Fault.status(500, times=1))
    server.add_fault("mnist/data.bin", Fault.status(503, times=2))
    server.add_fault("mnist/data.bin", Fault.corrupt(offset=0, times=1))
    statuses = [get(server, "/mnist/data.bin")[0] for _ in range(3)]
    assert statuses == [500, 503, 503]
    assert get(server, "/mnist/data.bin")[2][0] == DATA[0] ^ 0xFF
    assert get(server, "/mnist/data.bin")[2] == DATA


def test_clear_faults(server):
    server.add_fault("mnist/data.bin", Fault.status(503))
    server.add_fault("other.bin", Fault.status(503))
    server.clear_faults("/mnist/data.bin")
    assert get(server, "/mnist/data.bin")[0] == 200
    assert get(server, "/other.bin")[0] == 503
    server.clear_faults()
    assert get(server, "/other.bin")[0] == 200


def test_fault_objects_are_frozen_and_validated():
    fault = Fault.status(503, times=2)
    assert dataclasses.is_dataclass(fault) and isinstance(fault, Fault)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field \'times\'"):
        fault.times = 3  # type: ignore[misc]
    assert Fault.truncate(at=3).times is None
    for make in [
        lambda: Fault.status(503, times=0),
        lambda: Fault.status(99),
        lambda: Fault.status(100),
        lambda: Fault.truncate(at=-1),
        lambda: Fault.corrupt(offset=-1),
        lambda: Fault.delay(-0.1),
        lambda: Fault.trickle(bytes_per_chunk=0),
        lambda: Fault.wrong_length(extra=0),
        lambda: Fault.reset(at=-1),
        lambda: Fault.redirect("x", code=200),
        lambda: Fault.slow_headers(bytes_per_chunk=0),
        lambda: Fault.slow_headers(pause=-1),
        lambda: Fault.endless(bytes_per_chunk=0),
    ]:
        with pytest.raises(ValueError, match="must be"):
            make()


def test_add_fault_rejects_non_faults(server):
    with pytest.raises(TypeError, match="expected a Fault, got \'503\'"):
        server.add_fault("x", "503")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Request log
# ---------------------------------------------------------------------------


def test_request_counting(server):
    get(server, "/mnist/data.bin")
    get(server, "/mnist/data.bin", {"Range": "bytes=0-9"})
    request(server, "HEAD", "/mnist/data.bin")
    get(server, "/missing.bin")
    assert server.requests == [
        Request("GET", "mnist/data.bin", None, 200),
        Request("GET", "mnist/data.bin", "bytes=0-9", 206),
        Request("HEAD", "mnist/data.bin", None, 200),
        Request("GET", "missing.bin", None, 404),
    ]
    assert server.count("mnist/data.bin") == 2
    assert server.count("/mnist/data.bin", method="HEAD") == 1
    assert server.count("mnist/data.bin", method=None) == 3
    assert server.count("missing.bin") == 1
    assert server.count("other.bin") == 0
    snapshot = server.requests
    snapshot.clear()
    assert len(server.requests) == 4
    server.reset_counts()
    assert server.requests == []
    assert server.count("mnist/data.bin", method=None) == 0


def test_reset_counts_keeps_fault_budget(server):
    server.add_fault("other.bin", Fault.status(503, times=2))
    assert get(server, "/other.bin")[0] == 503
    server.reset_counts()
    assert get(server, "/other.bin")[0] == 503
    assert get(server, "/other.bin")[0] == 200
    assert server.count("other.bin") == 2


def test_concurrent_requests_are_all_recorded(server):
    results = []

    def worker():
        results.append(get(server, "/mnist/data.bin")[2] == DATA)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == [True] * 16
    assert server.count("mnist/data.bin") == 16


# ---------------------------------------------------------------------------
# Lifecycle, host check, quietness
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "8.8.8.8", "192.168.1.10", "example.com", ""])
def test_non_loopback_host_is_refused(root, host):
    with pytest.raises(ValueError, match="loopback"):
        serve_directory(root, host=host)
    with pytest.raises(ValueError, match="loopback"):
        LoopbackServer(root, host=host)


def test_root_must_be_a_directory(root):
    with pytest.raises(NotADirectoryError, match=r"not a directory: .*other\.bin"):
        LoopbackServer(root / "other.bin")
    with pytest.raises(NotADirectoryError, match=r"not a directory: .*does-not-exist"):
        LoopbackServer(root / "does-not-exist")


def test_start_stop_without_context_manager(root):
    server = LoopbackServer(root)
    with pytest.raises(RuntimeError, match="server is not running"):
        server.url  # noqa: B018 - not running yet
    assert server.start() is server
    with pytest.raises(RuntimeError, match="server is already running"):
        server.start()
    port = server.port
    assert get(server, "/other.bin")[2] == OTHER
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(OSError, match="Connection refused"):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError, match="a stopped LoopbackServer cannot be restarted"):
        server.start()
    assert server.errors == []


def test_stop_closes_keep_alive_connections_and_cuts_delays(root):
    server = serve_directory(root)
    idle = http.client.HTTPConnection(server.host, server.port, timeout=5)
    idle.request("GET", "/other.bin")
    assert idle.getresponse().read() == OTHER  # connection now idle, kept alive
    server.add_fault("mnist/data.bin", Fault.delay(30))
    outcome = []

    def slow_client():
        try:
            outcome.append(get(server, "/mnist/data.bin")[0])
        except Exception as exc:  # the server goes away mid-request
            outcome.append(type(exc))

    thread = threading.Thread(target=slow_client)
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    thread.join(5)
    assert not thread.is_alive()
    idle.close()
    assert server.errors == []


def test_quiet_including_client_disconnects(root, capfd):
    with serve_directory(root) as server:
        assert get(server, "/mnist/data.bin")[2] == DATA
        get(server, "/missing.bin")
        get(server, "/../secret.txt")
        request(server, "DELETE", "/other.bin")
        # Hang up in the middle of a trickled body.
        server.add_fault("mnist/data.bin", Fault.trickle(bytes_per_chunk=256, pause=0.01))
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sock.sendall(b"GET /mnist/data.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(100)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # RST
        # Send garbage.
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/x.y\r\n\r\n")
            assert b"400" in sock.recv(1000)
        time.sleep(0.1)
        assert server.count("mnist/data.bin") == 2
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""
    assert server.errors == []


# ---------------------------------------------------------------------------
# fsspec
# ---------------------------------------------------------------------------


@pytest.fixture
def httpfs():
    fsspec = pytest.importorskip("fsspec")
    pytest.importorskip("aiohttp")
    return fsspec.filesystem("http", skip_instance_cache=True)


def test_fsspec_info_and_cat(server, httpfs):
    url = server.url_for("mnist/data.bin")
    info = httpfs.info(url)
    assert info["size"] == SIZE
    assert info["type"] == "file"
    assert httpfs.cat(url) == DATA
    with httpfs.open(url) as handle:
        assert handle.read() == DATA
    assert server.count("mnist/data.bin", method="HEAD") >= 1


def test_fsspec_random_access(server, httpfs):
    url = server.url_for("mnist/data.bin")
    with httpfs.open(url, block_size=256) as handle:
        handle.seek(3000)
        assert handle.read(100) == DATA[3000:3100]
        handle.seek(17)
        assert handle.read(5) == DATA[17:22]
        handle.seek(SIZE - 3)
        assert handle.read(10) == DATA[-3:]
    assert httpfs.cat_file(url, start=1000, end=1010) == DATA[1000:1010]
    ranged = [r for r in server.requests if r.range_header]
    assert ranged and all(r.status == 206 for r in ranged)


def test_fsspec_sees_faults(server, httpfs):
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        httpfs.info(server.url_for("missing.bin"))
    server.add_fault("other.bin", Fault.status(503, times=1))
    with pytest.raises(Exception, match="503"):
        httpfs.cat(server.url_for("other.bin"))
    assert httpfs.cat(server.url_for("other.bin")) == OTHER
    server.add_fault("mnist/data.bin", Fault.truncate(at=10, times=1))
    with pytest.raises(Exception, match="Response payload is not completed"):
        httpfs.cat(server.url_for("mnist/data.bin"))
    assert httpfs.cat(server.url_for("mnist/data.bin")) == DATA
