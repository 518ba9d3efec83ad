"""Shared fixtures: no request leaves the machine, and every test gets its own cache."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkAccessError(AssertionError):
    """A test tried to reach a non-loopback address."""


def _guarded_connect(self, address):
    if not _is_local(address):
        raise NetworkAccessError(f"test tried to connect to {address!r}: only 127.0.0.1 is allowed")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_local(address):
        raise NetworkAccessError(f"test tried to connect to {address!r}: only 127.0.0.1 is allowed")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name not in (None, "localhost") and not _is_local((name, 0)):
        raise NetworkAccessError(f"test tried to resolve {name!r}: only loopback hosts are allowed")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any connection (or name lookup) to an address that is not loopback."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """Each test: its own cache root, no user mirrors or registries, fast retries."""
    monkeypatch.setenv("MNISTFAMILY_HOME", str(tmp_path / "home-cache"))
    for name in ("MNISTFAMILY_MIRROR", "MNISTFAMILY_OFFLINE", "MNISTFAMILY_REGISTRY",
                 "MNISTFAMILY_ALLOW_UNVERIFIED", "MNISTFAMILY_PROGRESS", "MNISTFAMILY_RETRIES",
                 "MNISTFAMILY_CONNECT_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MNISTFAMILY_BACKOFF", "0.01")
    monkeypatch.setenv("MNISTFAMILY_READ_TIMEOUT", "5")


@pytest.fixture
def realdata() -> Path:
    """The folder of real published files; tests using it are skipped when it is not set."""
    folder = os.environ.get("MNISTFAMILY_REALDATA")
    if not folder or not Path(folder).is_dir():
        pytest.skip("MNISTFAMILY_REALDATA is not set to the folder of real files")
    return Path(folder)


@pytest.fixture
def cache(tmp_path) -> Path:
    """An empty cache root for ``data_dir=``."""
    return tmp_path / "cache"


@pytest.fixture
def served(tmp_path):
    """A loopback server holding miniatures of MNIST: ``(server, miniatures)``.

    Test files that serve other datasets define their own ``served``, which takes precedence.
    """
    from mnistfamily.testing import serve_directory, write_miniatures

    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url, names=["mnist"])


@pytest.fixture
def docs_example(monkeypatch):
    """Run the ``# engine: <name>`` example of docs/parquet-and-lakes.md in a folder: ``run(name, folder, **names)``.

    The engine one-liners in the docs are the code the tests run; ``names`` are what earlier
    examples of the page defined (``export``, ``np``, ...). Returns the example's namespace.
    """
    import re

    page = Path(__file__).resolve().parent.parent / "docs" / "parquet-and-lakes.md"
    examples = {match.group(1): match.group(2) for match in re.finditer(
        r"```python\n# engine: ([\w-]+)\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)}

    def run(name: str, folder: Path, **names):
        monkeypatch.chdir(folder)
        namespace = {"__name__": "__main__", **names}
        exec(compile(examples[name], f"{page}:# engine: {name}", "exec"), namespace)
        return namespace

    return run
