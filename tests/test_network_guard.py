"""The guard itself: a test that tries to leave the machine fails."""

import socket
import urllib.request

import pytest

from conftest import NetworkAccessError


def test_connecting_outside_loopback_fails():
    with pytest.raises(NetworkAccessError, match="only 127.0.0.1"):
        with socket.socket() as s:
            s.connect(("192.0.2.1", 80))
    with pytest.raises(NetworkAccessError, match="only loopback"):
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)


def test_resolving_a_public_name_fails():
    with pytest.raises(NetworkAccessError, match="resolve"):
        urllib.request.urlopen("http://example.com/", timeout=0.1)


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    accepted, peer = server.accept()
    assert peer == client.getsockname()
    accepted.close()
    client.close()
    server.close()
