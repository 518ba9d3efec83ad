"""How long a download takes to give up: no network, and slow mirrors, with the default settings.

Nothing leaves the machine. "No network" is simulated by making every name but loopback fail
to resolve (``socket.getaddrinfo`` raises ``gaierror``, as it does without a network); the slow
mirrors are the loopback server of ``mnistfamily.testing`` with a fault, in front of a good
location. Every ``MNISTFAMILY_*`` variable is unset first, so the defaults are what is measured.
Nothing is asserted: the script prints one line per case.

    python benchmarks/bench_download_limits.py            # about 95 s, most of it the slow mirrors
    python benchmarks/bench_download_limits.py --quick    # the no-network cases only
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

for _name in [n for n in os.environ if n.startswith("MNISTFAMILY_")]:
    del os.environ[_name]

import mnistfamily as mf  # noqa: E402
from mnistfamily.testing import Fault, serve_directory, write_miniatures  # noqa: E402

_real_getaddrinfo = socket.getaddrinfo
lookups: list[str] = []
warnings: list[logging.LogRecord] = []


def _no_names(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name == "localhost" or name.startswith("127."):
        return _real_getaddrinfo(host, *args, **kwargs)
    lookups.append(name)
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


class _Count(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            warnings.append(record)


def no_network() -> None:
    socket.getaddrinfo = _no_names
    logging.getLogger("mnistfamily").addHandler(_Count())
    try:
        for label, options in [("load('mnist')", {}),
                               ("load('mnist', source='https://data.example.invalid/mnist')",
                                {"source": "https://data.example.invalid/mnist"})]:
            lookups.clear()
            warnings.clear()
            started = time.monotonic()
            outcome = "loaded"
            try:
                mf.load("mnist", data_dir=tempfile.mkdtemp(), **options)
            except mf.MnistFamilyError as exc:
                outcome = type(exc).__name__
            print(f"no network, {label}: {outcome} after {time.monotonic() - started:.2f} s, "
                  f"{len(lookups)} name lookups, {len(warnings)} warnings", flush=True)
    finally:
        socket.getaddrinfo = _real_getaddrinfo


def slow_mirrors() -> None:
    folder = Path(tempfile.mkdtemp())
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=["mnist"])
        (folder / "slow" / "mnist").mkdir(parents=True)
        for name, path in mini.files["mnist"].items():
            shutil.copy(path, folder / "slow" / "mnist" / name)
        os.environ["MNISTFAMILY_MIRROR"] = f"{server.url}/slow"
        for label, fault in [("a mirror sending its body at 1 byte/s", Fault.trickle(bytes_per_chunk=1, pause=1.0)),
                             ("a mirror sending its headers at 1 byte/s",
                              Fault.slow_headers(bytes_per_chunk=1, pause=1.0))]:
            server.clear_faults()
            server.add_fault("slow/mnist/t10k-images-idx3-ubyte.gz", fault)
            started = time.monotonic()
            mf.load("mnist", "test", registry=mini.registry, data_dir=tempfile.mkdtemp())
            print(f"{label}: served by the next location after {time.monotonic() - started:.1f} s", flush=True)
        del os.environ["MNISTFAMILY_MIRROR"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the no-network cases only")
    args = parser.parse_args()
    no_network()
    if not args.quick:
        slow_mirrors()


if __name__ == "__main__":
    main()
