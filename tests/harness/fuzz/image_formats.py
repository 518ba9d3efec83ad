"""Fuzz targets and seeds for the SVHN ``.mat``, CIFAR binary and USPS LIBSVM readers.

Each target is the reader's own ``fuzz_<format>(data, scratch)`` (next to the reader, in
``mnistfamily/formats/``); the seeds are miniatures in several layouts written by
``mnistfamily.testing``'s writers, plus hand-made hostile files. ``IMAGE_TARGETS`` holds them as
:class:`~.contract.Target` objects, ready to join ``TARGETS``; :func:`run_mutants` runs a target on
mutants of its seeds and counts the outcomes (the command line runs thousands)::

    python tests/harness/fuzz/image_formats.py --mutants 3000
"""

from __future__ import annotations

import functools
import gzip
import io
import random
import struct
import tarfile
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .contract import Target, run_target
from .mutators import mutate

__all__ = ["IMAGE_TARGETS", "run_mutants"]


@functools.lru_cache(maxsize=None)
def _svhn_seeds() -> tuple[bytes, ...]:
    from scipy.io import savemat

    from mnistfamily.testing.mini_svhn_mat import images_for, svhn_mat_bytes, svhn_mat_contents

    layouts: list[dict[str, Any]] = [
        {}, {"compress": False}, {"order": ">"}, {"labels_first": True}, {"label_storage": "f8"},
        {"label_class": "uint8", "compress": False, "order": ">"}]
    seeds = [svhn_mat_contents(3, seed=i, **layout)[0] for i, layout in enumerate(layouts)]
    buffer = io.BytesIO()  # what scipy writes for the same variables
    savemat(buffer, {"X": images_for(0, 0, 2).transpose(1, 2, 3, 0), "y": np.array([[10], [3]], np.uint8)},
            do_compression=True)
    seeds.append(buffer.getvalue())
    # X claiming a billion images inside a small compressed variable
    one = images_for(0, 0, 1)
    seeds.append(svhn_mat_bytes(one, np.array([1]), compress=False).replace(
        struct.pack("<4i", 32, 32, 3, 1), struct.pack("<4i", 32, 32, 3, 1 << 30), 1))
    return tuple(seeds)


@functools.lru_cache(maxsize=None)
def _cifar_seeds() -> tuple[bytes, ...]:
    from mnistfamily.testing.mini_cifar_bin import cifar_bin_bytes, cifar_bin_contents, record_bytes

    seeds = [cifar_bin_contents(layout, seed=0)[0] for layout in ("cifar10", "cifar100")]
    # small ones, and one uncompressed so raw havoc reaches the tar headers
    image = np.zeros((1, 32, 32, 3), np.uint8)
    small10 = [(f"data_batch_{i}.bin", record_bytes(image, [np.array([i])])) for i in range(1, 6)]
    small10 += [("test_batch.bin", record_bytes(image, [np.array([9])])),
                ("batches.meta.txt", b"\n".join(f"c{i}".encode() for i in range(10)) + b"\n")]
    seeds.append(cifar_bin_bytes("cifar-10-batches-bin", small10))
    seeds.append(gzip.decompress(seeds[-1]))
    small100 = [("train.bin", record_bytes(image, [np.array([1]), np.array([2])])),
                ("test.bin", record_bytes(image, [np.array([19]), np.array([99])])),
                ("coarse_label_names.txt", b"\n".join(f"k{i}".encode() for i in range(20))),
                ("fine_label_names.txt", b"\n".join(f"f{i}".encode() for i in range(100)))]
    seeds.append(gzip.decompress(cifar_bin_bytes("cifar-100-binary", small100)))
    # a member header claiming 8 GiB
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = 3073 * (1 << 21)
        tar.addfile(info)
    seeds.append(gzip.compress(plain.getvalue()[:4096], mtime=0))
    return tuple(seeds)


@functools.lru_cache(maxsize=None)
def _usps_seeds() -> tuple[bytes, ...]:
    import bz2

    from mnistfamily.testing.mini_usps_libsvm import usps_libsvm_contents

    text = usps_libsvm_contents(3, seed=0, compress=False)[0]
    return (usps_libsvm_contents(3, seed=1)[0], text, text.replace(b"\n", b"\r\n"),
            bz2.compress(text) + bz2.compress(text),  # two streams, as `cat a.bz2 b.bz2` makes
            bz2.compress(text * 300, 9))


def _run_svhn(data: bytes, folder: Path) -> None:
    """``data`` as an SVHN ``.mat`` file, read from disk into a MemorySink."""
    from mnistfamily.formats.sink import MemorySink
    from mnistfamily.formats.svhn_mat import read_svhn_mat

    path = folder / "input.bin"
    path.write_bytes(data)
    read_svhn_mat(path, MemorySink())


def _run_cifar(data: bytes, folder: Path) -> None:
    """``data`` as both CIFAR archives, each split; the outcome is the first error when none reads."""
    from mnistfamily.errors import MnistFamilyError
    from mnistfamily.formats.cifar_bin import LAYOUTS, read_cifar_bin
    from mnistfamily.formats.sink import MemorySink

    path = folder / "input.bin"
    path.write_bytes(data)
    errors: list[MnistFamilyError] = []
    for layout in LAYOUTS:
        for split in ("test", "train"):
            try:
                read_cifar_bin(path, MemorySink(), layout=layout, split=split)
            except MnistFamilyError as exc:
                errors.append(exc)
    if len(errors) == 4:
        raise errors[0]


def _run_usps(data: bytes, folder: Path) -> None:
    """``data`` as a USPS file, read from disk both ways into a MemorySink."""
    from mnistfamily.formats.sink import MemorySink
    from mnistfamily.formats.usps_libsvm import IMAGE_DTYPES, read_usps_libsvm

    path = folder / "input.bin"
    path.write_bytes(data)
    for image_dtype in IMAGE_DTYPES:
        read_usps_libsvm(path, MemorySink(), image_dtype=image_dtype)


IMAGE_TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("svhn-mat", _run_svhn, lambda: list(_svhn_seeds()), "SVHN .mat (X and y, compressed or not)"),
    Target("cifar-bin", _run_cifar, lambda: list(_cifar_seeds()), "CIFAR-10/100 binary tarballs"),
    Target("usps-libsvm", _run_usps, lambda: list(_usps_seeds()), "USPS LIBSVM text, bzip2 or plain"),
]}


def run_mutants(target: Target, count: int, seed: int = 0, folder: Path | None = None) -> Counter[str]:
    """Run ``target`` on its seeds, then on ``count`` mutants of them: the outcomes counted.

    Raises :class:`~.contract.UnexpectedOutcome` at the first input that breaks the contract.
    """
    rng = random.Random(seed)
    seeds = target.seeds()
    outcomes: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        inputs = list(seeds) + [mutate(rng.choice(seeds), rng, seeds) for _ in range(count)]
        for i, data in enumerate(inputs):
            work = Path(scratch) / str(i)
            outcomes[run_target(target, data, work)] += 1
            shutil.rmtree(work)
    return outcomes


def _main() -> None:
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mutants", type=int, default=1000, help="mutants per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", action="append", choices=sorted(IMAGE_TARGETS))
    args = parser.parse_args()
    for name in args.target or sorted(IMAGE_TARGETS):
        start = time.perf_counter()
        outcomes = run_mutants(IMAGE_TARGETS[name], args.mutants, args.seed)
        print(f"{name}: {sum(outcomes.values()):,} inputs in {time.perf_counter() - start:.0f} s: "
              + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))


if __name__ == "__main__":
    _main()
