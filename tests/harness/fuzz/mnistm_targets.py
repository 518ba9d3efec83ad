"""Fuzz targets of MNIST-M's readers, each with its seed corpus.

- ``bsds500``: the bytes as ``BSR_bsds500.tgz``, read as preparing ``mnist-m/recipe`` does
  (:func:`mnistfamily.formats.mnistm.read_backgrounds`); seeds: the miniature archive, plain and
  gzip'd, and one full of hostile members;
- ``mnist-m-release``: the bytes as Ganin's ``mnist_m.tar.gz``, its test split of 3 images read
  (:func:`mnistfamily.formats.mnistm_release.read_release`); seeds: a miniature release, plain and
  gzip'd, and one with hostile members beside the good ones.

Each lets every :class:`~mnistfamily.errors.MnistFamilyError` through: the contract of
:mod:`tests.harness.fuzz.contract`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .contract import Target

__all__ = ["MNISTM_TARGETS", "fuzz_bsds500", "fuzz_mnistm_release"]


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


@functools.lru_cache(maxsize=None)
def _release_seeds() -> tuple[bytes, ...]:
    import gzip

    from mnistfamily.testing.mini_mnistm_release import release_members
    from mnistfamily.testing.mini_png_tar import regular, symlink, tar_gz_bytes

    rng = np.random.default_rng(0)
    data = {"test": (rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8), np.array([7, 2, 1])),
            "train": (rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8), np.array([5, 0]))}
    good = tar_gz_bytes(release_members(data, rng))
    hostile = tar_gz_bytes(release_members(data, rng) + [
        regular("../mnist_m/mnist_m_test/00000000.png", b"x"), symlink("mnist_m/mnist_m_test/link.png", "/etc/passwd"),
        regular("/mnist_m/mnist_m_test_labels.txt", b"00000000.png 1\n")])
    return good, gzip.decompress(good), hostile


def fuzz_mnistm_release(data: bytes, scratch: Path) -> None:
    """``read_release`` of the bytes as ``mnist_m.tar.gz``, its test split of 3 images."""
    from mnistfamily.formats.mnistm_release import read_release

    path = scratch / "input.bin"
    path.write_bytes(data)
    read_release(path, "test", 3, np.zeros((3, 32, 32, 3), np.uint8), "mnist_m.tar.gz")


MNISTM_TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("bsds500", fuzz_bsds500, lambda: list(_seeds()), "BSR_bsds500.tgz (tar walk, JPEG backgrounds)"),
    Target("mnist-m-release", fuzz_mnistm_release, lambda: list(_release_seeds()),
           "Ganin's mnist_m.tar.gz (tar walk, numbered PNGs, labels file)"),
]}
