"""Fuzz target of the BSDS500 background reader (MNIST-M's recipe), with its seed corpus.

``fuzz_bsds500(data, scratch)`` reads the bytes as ``BSR_bsds500.tgz`` exactly as preparing
``mnist-m/recipe`` does (:func:`mnistfamily.formats.mnistm.read_backgrounds`) and lets every
:class:`~mnistfamily.errors.MnistFamilyError` through: the contract of
:mod:`tests.harness.fuzz.contract`. Seeds: the miniature archive, and one full of hostile members.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .contract import Target

__all__ = ["BSDS_TARGETS", "fuzz_bsds500"]


@functools.lru_cache(maxsize=None)
def _seeds() -> tuple[bytes, ...]:
    import gzip

    from mnistfamily.testing.mini_mnistm import bsds_archive
    from mnistfamily.testing.mini_png_tar import regular, special, symlink, tar_gz_bytes

    good = bsds_archive(np.random.default_rng(0))[0]
    root = "BSR/BSDS500/data/images/train"
    from mnistfamily.testing.mini_mnistm import jpeg_bytes

    photo = jpeg_bytes(np.full((40, 40, 3), 90, np.uint8))
    hostile = tar_gz_bytes([regular(f"../../{root}/evil.jpg", photo), symlink(f"{root}/link.jpg", "/etc/passwd"),
                            special(f"{root}/device.jpg"), regular(f"/abs/{root}/x.jpg", photo),
                            regular(f"{root}/ok.jpg", photo)])
    return good, gzip.decompress(good), hostile


def fuzz_bsds500(data: bytes, scratch: Path) -> None:
    """``read_backgrounds`` of the bytes as ``BSR_bsds500.tgz``."""
    from mnistfamily.formats.mnistm import read_backgrounds

    path = scratch / "input.bin"
    path.write_bytes(data)
    read_backgrounds(path, "BSR_bsds500.tgz")


BSDS_TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("bsds500", fuzz_bsds500, lambda: list(_seeds()), "BSR_bsds500.tgz (tar walk, JPEG backgrounds)"),
]}
