"""Helpers for tests, ours and our users': miniature datasets and a loopback HTTP server.

>>> from mnistfamily.testing import write_miniatures, serve_directory   # doctest: +SKIP
>>> with serve_directory(folder) as server:                              # doctest: +SKIP
...     mini = write_miniatures(folder, server.url, names=["mnist"])
...     ds = mf.load("mnist", split="train", registry=mini.registry, data_dir=cache)
"""

from .miniatures import Miniatures, write_miniatures
from .server import Fault, LoopbackServer, serve_directory

__all__ = ["Fault", "LoopbackServer", "Miniatures", "serve_directory", "write_miniatures"]
