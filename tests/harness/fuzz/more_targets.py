"""Fuzz targets of the HASYv2, AudioMNIST and 3D MNIST readers, each with its seed corpus.

Each ``fuzz_<format>(data, scratch)`` feeds hostile bytes to its reader exactly as the library
would, writing only under ``scratch/cache`` (and ``scratch/input.bin``), and lets every
:class:`~mnistfamily.errors.MnistFamilyError` through: the contract of
:mod:`tests.harness.fuzz.contract`. :data:`MORE_TARGETS` declares them as
:class:`~tests.harness.fuzz.contract.Target` objects, ready to join ``TARGETS``
(``TARGETS.update(MORE_TARGETS)``), so ``benchmarks/fuzz.py`` and the hypothesis tests
run them with the same mutators.

- ``hasy``: the bytes as ``HASYv2.tar.bz2`` (seeds: miniature archives, compressed and plain,
  in both member orders, plus one full of hostile members);
- ``audiomnist-wav``: the bytes as one recording beside a valid one, read with the metadata;
- ``audiomnist-meta``: the bytes as ``audioMNIST_meta.txt``;
- ``mnist3d``: the bytes as ``full_dataset_vectors.h5``, both splits read (needs h5py: without
  it, the target checks the missing-dependency error and its seeds are empty).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from .contract import Target

__all__ = ["MORE_TARGETS", "fuzz_audiomnist_meta", "fuzz_audiomnist_wav", "fuzz_hasy", "fuzz_mnist3d"]


def _input(data: bytes, scratch: Path) -> Path:
    path = scratch / "input.bin"
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------- HASYv2


@functools.lru_cache(maxsize=None)
def _hasy_seeds() -> tuple[bytes, ...]:
    from mnistfamily.testing.mini_hasy import hasy_archive
    from mnistfamily.testing.mini_png_tar import regular, special, symlink

    png = hasy_archive(count=8, compress=False)[0]
    hostile = [regular("../../etc/x.png", b"x"), symlink("hasy-data/v2-00001.png", "/etc/passwd"),
               special("hasy-data/v2-00002.png"), regular("/abs/symbols.csv", b"symbol_id\n")]
    return (
        hasy_archive(count=8)[0],
        png,
        hasy_archive(count=8, order="pngs-first")[0],
        hasy_archive(count=8, order="labels-in-the-middle", compress=False)[0],
        hasy_archive(count=8, compress=False, extra=hostile)[0],
    )


def fuzz_hasy(data: bytes, scratch: Path) -> None:
    """``read_hasy`` of the bytes as ``HASYv2.tar.bz2``, into a memory sink."""
    from mnistfamily.formats.hasy import read_hasy
    from mnistfamily.formats.sink import MemorySink

    read_hasy(_input(data, scratch), MemorySink())


# --------------------------------------------------------------------------------------- AudioMNIST


@functools.lru_cache(maxsize=None)
def _wav_seeds() -> tuple[bytes, ...]:
    from mnistfamily.formats.wav import wav_bytes

    rng = np.random.default_rng(0)
    noise = rng.integers(-2000, 2000, size=300).astype(np.int16)
    return (
        wav_bytes(noise, 48000),
        wav_bytes(noise, 48000, extra_chunks=[(b"LIST", b"INFOISFT\x0e\x00\x00\x00Lavf57.83.100\x00")]),
        wav_bytes(noise, 48000, extensible=True),
        wav_bytes(noise.astype(np.int32), 48000),
        wav_bytes((noise / 4000).astype(np.float32), 48000),
        wav_bytes(np.zeros(0, np.int16), 48000),
    )


@functools.lru_cache(maxsize=None)
def _meta_seeds() -> tuple[bytes, ...]:
    from mnistfamily.testing.mini_audiomnist import meta_document

    document = meta_document()
    return (
        json.dumps(document, indent=4, sort_keys=True, separators=(", ", ": ")).encode(),
        json.dumps({k: document[k] for k in ("01", "36", "45", "52")}).encode(),
        json.dumps(meta_document(version="57")).encode(),
    )


def _meta_bytes() -> bytes:
    return _meta_seeds()[1]


def fuzz_audiomnist_wav(data: bytes, scratch: Path) -> None:
    """``read_audiomnist`` of the bytes as recording ``01/0_01_1.wav``, beside a valid ``01/0_01_0.wav``."""
    from mnistfamily.formats.audiomnist import read_audiomnist
    from mnistfamily.formats.sink import MemorySink

    folder = scratch / "cache" / "01"
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "0_01_0.wav"
    good.write_bytes(_wav_seeds()[0])
    (folder / "0_01_1.wav").write_bytes(data)
    read_audiomnist({"01/0_01_0.wav": good, "01/0_01_1.wav": folder / "0_01_1.wav"}, _meta_bytes(), MemorySink())


def fuzz_audiomnist_meta(data: bytes, scratch: Path) -> None:
    """``read_audiomnist`` of one valid recording with the bytes as ``audioMNIST_meta.txt``."""
    from mnistfamily.formats.audiomnist import read_audiomnist
    from mnistfamily.formats.sink import MemorySink

    folder = scratch / "cache" / "01"
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "0_01_0.wav"
    good.write_bytes(_wav_seeds()[1])
    read_audiomnist({"01/0_01_0.wav": good}, _input(data, scratch), MemorySink())


# --------------------------------------------------------------------------------------- 3D MNIST


@functools.lru_cache(maxsize=None)
def _mnist3d_seeds() -> tuple[bytes, ...]:
    import tempfile

    try:
        import h5py  # noqa: F401
    except ImportError:
        return ()
    from mnistfamily.testing.mini_mnist3d import write_mnist3d

    seeds = []
    with tempfile.TemporaryDirectory() as folder:
        for i, options in enumerate([None, {"chunks": (2, 4096), "compression": "gzip", "shuffle": True},
                                     {"chunks": (3, 4096), "compression": "lzf", "fletcher32": True}]):
            path = Path(folder) / f"{i}.h5"
            write_mnist3d(path, train=6, test=3, x_dtype=("<f8", "<f4", "|u1")[i], dataset_options=options)
            seeds.append(path.read_bytes())
    return tuple(seeds)


def fuzz_mnist3d(data: bytes, scratch: Path) -> None:
    """``read_mnist3d`` of the bytes as ``full_dataset_vectors.h5``, the train then the test split."""
    from mnistfamily.formats.mnist3d import read_mnist3d
    from mnistfamily.formats.sink import MemorySink

    path = _input(data, scratch)
    for split in ("train", "test"):
        read_mnist3d(path, MemorySink(), split=split)


MORE_TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("hasy", fuzz_hasy, lambda: list(_hasy_seeds()), "HASYv2.tar.bz2 (tar walk, CSV joins, PNGs)"),
    Target("audiomnist-wav", fuzz_audiomnist_wav, lambda: list(_wav_seeds()), "an AudioMNIST recording (WAV)"),
    Target("audiomnist-meta", fuzz_audiomnist_meta, lambda: list(_meta_seeds()), "audioMNIST_meta.txt (JSON)"),
    Target("mnist3d", fuzz_mnist3d, lambda: list(_mnist3d_seeds()), "3D MNIST full_dataset_vectors.h5 (HDF5)"),
]}
