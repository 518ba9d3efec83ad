"""One fuzz target per reader of untrusted bytes, each with its seed corpus; ``TARGETS`` names them.

A target feeds bytes to its reader the way the library would (through the split builder
where a reader needs a registry spec and a cache writer), inside a scratch folder.
"""

from __future__ import annotations

import functools
import io
import lzma
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .containers import _zip_of, gzip_bomb, idx_bytes, xz_claiming, zip_bomb
from .contract import Target
from .parquet_seeds import card_seeds, run_export_card, run_parquet, shard_seeds
from .image_formats import IMAGE_TARGETS
from .mnistm_targets import MNISTM_TARGETS
from .more_targets import MORE_TARGETS

__all__ = ["TARGETS", "run_export_card", "run_idx", "run_mat", "run_mnist1d", "run_npz", "run_parquet", "run_png",
           "run_png_tar", "run_registry", "run_zip"]


def _input_file(data: bytes, folder: Path, name: str = "input.bin") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _writer(folder: Path):
    from mnistfamily.prepare.cache import EntryWriter

    return EntryWriter(folder / "cache" / "entry")


class _NonSeekable(io.RawIOBase):
    """A stream that cannot seek (a pipe or an HTTP body), so the reader cannot trust sizes."""

    def __init__(self, data: bytes):
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        return self._inner.readinto(buffer)


# --------------------------------------------------------------------------- IDX (raw, .gz, .xz)

_IDX_DTYPES = ("u1", "i1", ">i2", ">i4", ">f4", ">f8")


@functools.lru_cache(maxsize=None)
def _idx_seeds() -> tuple[bytes, ...]:
    rng = np.random.default_rng(0)
    seeds = []
    shapes = [(7,), (3, 4), (2, 5, 3), (2, 1, 2, 3), (0,), (4, 0, 2)]
    for i, code in enumerate(_IDX_DTYPES):
        for j, shape in enumerate(shapes):
            dtype = np.dtype(code)
            array = (rng.integers(-100, 100, size=shape) if dtype.kind != "u" else
                     rng.integers(0, 256, size=shape)).astype(dtype)
            seeds.append(idx_bytes(array, (None, "gzip", "xz")[(i + j) % 3]))
    seeds.append(idx_bytes(np.zeros((1,) * 9, np.uint8)))  # rank 9: "any ndim"
    seeds.append(b"\x00\x00\x08\xff" + b"\x00\x00\x00\x01" * 255 + b"\x07")  # rank 255 (numpy holds 64)
    seeds.append(gzip_bomb(claimed=8 + 1000, real=1 << 20)[:2000])
    # an xz index agreeing with a header on 1 TiB; random bytes so the header is decoded
    # before lzma reaches (and rejects) the forged index
    tib = b"\x00\x00\x08\x02" + (1 << 20).to_bytes(4, "big") * 2
    seeds.append(xz_claiming(tib + rng.bytes(1 << 16), len(tib) + (1 << 40)))
    return tuple(seeds)


def run_idx(data: bytes, folder: Path) -> None:
    """``read_idx`` on a seekable stream, then on a non-seekable one, then a row range."""
    from mnistfamily.formats.idx import read_idx

    read_idx(io.BytesIO(data))
    read_idx(io.BufferedReader(_NonSeekable(data)))  # type: ignore[arg-type]
    read_idx(io.BytesIO(data), rows=(0, 1))


# --------------------------------------------------------------------------- zip members (EMNIST gzip.zip)

_MEMBER = "gzip/emnist-digits-train-labels-idx1-ubyte.gz"


def _member_spec():
    from mnistfamily.registry import FileSpec

    return FileSpec(name="emnist-digits-train-labels-idx1-ubyte.gz", size=None, md5=None, sha256=None,
                    archive="gzip.zip", member=_MEMBER)


@functools.lru_cache(maxsize=None)
def _zip_seeds() -> tuple[bytes, ...]:
    payload = idx_bytes(np.arange(10, dtype=np.uint8), "gzip")
    hostile = [("../escape.gz", b"x"), ("/tmp/absolute.gz", b"x"), ("gzip/evil-link", b"/etc/passwd"),
               ("gzip/", b"")]
    return (
        _zip_of([(_MEMBER, payload)]),
        _zip_of([(_MEMBER, payload)], zipfile.ZIP_STORED),
        _zip_of([*hostile, (_MEMBER, payload)]),
        zip_bomb(_MEMBER, 1 << 16, claimed=1 << 30),
    )


def run_zip(data: bytes, folder: Path) -> None:
    """``fetch.archive.extract_member`` of the EMNIST-style member, into the scratch cache."""
    from mnistfamily.fetch.archive import extract_member

    target = folder / "cache" / "member.part"
    target.parent.mkdir(exist_ok=True)
    extract_member(io.BytesIO(data), _member_spec(), target, "fuzz: gzip.zip")


# --------------------------------------------------------------------------- registry-backed split builders

def _spec(name: str, splits: "dict[str, int]"):
    from mnistfamily.registry import get_registry
    from mnistfamily.registry.schema import SplitSpec

    spec = get_registry().dataset(name)
    chosen = {k: SplitSpec(name=k, num_examples=n, inputs=spec.splits[k].inputs,
                           options=spec.splits[k].options) for k, n in splits.items()}
    return replace(spec, splits=MappingProxyType(chosen))


def _generated(fmt: str, spec) -> dict[str, bytes]:
    from mnistfamily.testing.miniatures import generator

    published, _ = generator(fmt)(spec, dict(spec.splits), np.random.default_rng(0))
    return {name: data for name, (data, _) in published.items()}


# npz: MedMNIST layout (images and labels in one archive under named keys)
_NPZ = ("medmnist/pneumoniamnist", {"train": 4})


def _npy(array: np.ndarray | None = None, *, header: str | None = None) -> bytes:
    buffer = io.BytesIO()
    if header is None:
        np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
        return buffer.getvalue()
    text = header.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    return b"\x93NUMPY\x01\x00" + (len(text) + pad + 1).to_bytes(2, "little") + text + b" " * pad + b"\n"


@functools.lru_cache(maxsize=None)
def _npz_seeds() -> tuple[bytes, ...]:
    spec = _spec(*_NPZ)
    good = next(iter(_generated("npz", spec).values()))
    images = np.zeros((4, 28, 28), np.uint8)
    labels = np.zeros((4, 1), np.uint8)
    objects = _npy(header="{'descr': '|O', 'fortran_order': False, 'shape': (4, 1), }") + b"\x80\x03N." * 4
    return (
        good,
        _zip_of([("train_images.npy", _npy(images)), ("train_labels.npy", objects)]),
        _zip_of([("train_images.npy", _npy(images)), ("train_labels.npy", _npy(labels))], zipfile.ZIP_STORED),
        _zip_of([("train_images.npy", _npy(images.T)), ("train_labels.npy", _npy(labels))]),  # Fortran order
        _zip_of([("train_images.npy", _npy(header="{'descr': '|u1', 'fortran_order': False, "
                                                "'shape': (-4, -28, 28), }") + bytes(4 * 28 * 28)),
                 ("train_labels.npy", _npy(labels))]),
    )


def run_npz(data: bytes, folder: Path) -> None:
    """The npz split builder (MedMNIST layout: ``train_images``/``train_labels`` in one archive)."""
    from mnistfamily.prepare.npz_split import build_npz_split

    spec = _spec(*_NPZ)
    split = spec.splits["train"]
    path = _input_file(data, folder, "input.bin")
    with _writer(folder) as writer:
        build_npz_split(spec, split, {split.images: path}, writer)


# mat: affNIST batches in a zip
_MAT = ("affnist/transformed", {"train": 6})


@functools.lru_cache(maxsize=None)
def _mat_seeds() -> tuple[bytes, ...]:
    from mnistfamily.testing.mini_mat import mat_bytes, mat_contents, zip_bytes

    spec = _spec(*_MAT)
    published, _ = mat_contents(spec, dict(spec.splits), np.random.default_rng(0), batches=2)
    good = next(iter(published.values()))[0]
    compressed = io.BytesIO()
    from scipy.io import savemat

    savemat(compressed, {"affNISTdata": {"image": np.zeros((1600, 6), np.uint8),
                                         "label_int": np.zeros((1, 6), np.uint8)}}, do_compression=True)
    # every structure formats/mat.py accepts, for mutations to start from: a variable whose
    # name and value fit in their tags (small data elements), a cell, a logical, a nested struct
    cells = np.empty(2, dtype=object)
    cells[:] = [np.ones(2), np.zeros((0, 3))]
    varied = mat_bytes({"n": np.array(5, np.uint8),
                        "affNISTdata": {"image": np.zeros((1600, 6), np.uint8), "label_int": np.ones((1, 6)),
                                        "cells": cells, "mask": np.array([True]), "nested": {"x": np.ones(2)}}})
    return (
        good,
        zip_bytes([("training_batches/1.mat", compressed.getvalue())]),
        zip_bytes([("training_batches/1.mat", mat_bytes({"affNISTdata": {"image": np.zeros((3, 2))}}))]),
        zip_bytes([("training_batches/1.mat", varied)]),
    )


def run_mat(data: bytes, folder: Path) -> None:
    """The mat split builder (affNIST ``training_batches/*.mat`` in one zip)."""
    from mnistfamily.prepare.mat_split import build_mat_split

    spec = _spec(*_MAT)
    split = spec.splits["train"]
    path = _input_file(data, folder)
    with _writer(folder) as writer:
        build_mat_split(spec, replace(split, num_examples=None), {split.inputs["archive"]: path}, writer)


# png-tar: notMNIST
_PNG_TAR = ("notmnist/small", {"test": 4})


@functools.lru_cache(maxsize=None)
def _png_tar_seeds() -> tuple[bytes, ...]:
    from mnistfamily.testing.mini_png_tar import png_bytes, regular, special, symlink, tar_gz_bytes

    spec = _spec(*_PNG_TAR)
    good = next(iter(_generated("png-tar", spec).values()))
    png = png_bytes(np.arange(784, dtype=np.uint8).reshape(28, 28))
    hostile = [regular("../escape.png", png), regular("/tmp/absolute.png", png),
               symlink("notMNIST_small/A/link.png", "/etc/passwd"),
               symlink("notMNIST_small/A/hard.png", "notMNIST_small/A/x.png", hard=True),
               special("notMNIST_small/A/dev.png"), special("notMNIST_small/A/fifo.png", tarfile.FIFOTYPE),
               regular("notMNIST_small/A/x.png", png)]
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("notMNIST_small/B/" + "n" * 150 + ".png")
        info.size = len(png)
        tar.addfile(info, io.BytesIO(png))
    return (good, tar_gz_bytes(hostile), plain.getvalue(), lzma.compress(plain.getvalue()))


def run_png_tar(data: bytes, folder: Path) -> None:
    """The png-tar split builder (notMNIST ``notMNIST_small/<letter>/<file>.png`` in a tarball)."""
    from mnistfamily.prepare.png_tar_split import build_png_tar_split

    spec = _spec(*_PNG_TAR)
    split = replace(spec.splits["test"], num_examples=None)
    path = _input_file(data, folder)
    files = dict(spec.files)
    name = split.inputs["archive"]
    files[name] = replace(files[name], size=None)  # the size check would refuse every mutant
    with _writer(folder) as writer:
        build_png_tar_split(replace(spec, files=MappingProxyType(files)), split, {name: path}, writer)


@functools.lru_cache(maxsize=None)
def _png_seeds() -> tuple[bytes, ...]:
    from PIL import Image

    from mnistfamily.testing.mini_png_tar import corrupt_png, png_bytes

    image = np.arange(784, dtype=np.uint8).reshape(28, 28)
    seeds = [png_bytes(image), corrupt_png((28, 28))]
    for mode in ("RGB", "RGBA", "P", "I;16", "1", "LA"):
        buffer = io.BytesIO()
        Image.fromarray(image, mode="L").convert(mode).save(buffer, format="PNG")
        seeds.append(buffer.getvalue())
    return tuple(seeds)


def run_png(data: bytes, folder: Path) -> None:
    """One PNG (the bytes) as the only image of a notMNIST-style tarball."""
    from mnistfamily.testing.mini_png_tar import regular

    info, payload = regular("notMNIST_small/C/glyph.png", data)
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(payload or b""))
    run_png_tar(plain.getvalue(), folder)


# MNIST-1D pickle
_MNIST1D = ("mnist1d", {"train": 8, "test": 2})


@functools.lru_cache(maxsize=None)
def _mnist1d_seeds() -> tuple[bytes, ...]:
    import pickle

    spec = _spec(*_MNIST1D)
    good = next(iter(_generated("mnist1d-pickle", spec).values()))
    return (
        good,
        pickle.dumps({"x": np.zeros((8, 40)), "y": np.zeros(8, np.int64)}, protocol=2),
        pickle.dumps({"x": np.zeros((8, 40)), "y": np.array([None] * 8, dtype=object)}, protocol=3),
        b"\x80\x04cos\nsystem\n(S'echo pwned'\ntR.",
        b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b"xx.",  # BINBYTES8 claiming 1 TiB
    )


def run_mnist1d(data: bytes, folder: Path) -> None:
    """The MNIST-1D pickle split builder (restricted unpickler)."""
    from mnistfamily.prepare.mnist1d_split import build_mnist1d_pickle_split

    spec = _spec(*_MNIST1D)
    split = spec.splits["train"]
    path = _input_file(data, folder)
    with _writer(folder) as writer:
        build_mnist1d_pickle_split(spec, split, {split.inputs["data"]: path}, writer)


# registry YAML
@functools.lru_cache(maxsize=None)
def _registry_seeds() -> tuple[bytes, ...]:
    from mnistfamily.registry import get_registry
    from mnistfamily.registry.dump import dump_registry

    registry = get_registry()
    seeds = [dump_registry([registry.dataset(n)]).encode() for n in ("mnist", "notmnist/small", "mnist1d")]
    seeds.append(dump_registry([registry.dataset("mnist"), registry.dataset("mnist/deskewed")]).encode()
                 if "mnist/deskewed" in registry else seeds[0])
    laughs = "version: 1\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    seeds.append((laughs + "datasets:\n  mnist:\n    classes: *a8\n").encode())
    seeds.append(b"version: 1\ndatasets: !!python/object/apply:os.system ['echo pwned']\n")
    seeds.append(b"version: 1\ndatasets: &d\n  mnist: *d\n")
    return tuple(seeds)


def run_registry(data: bytes, folder: Path) -> None:
    """``load_registry_text`` on the bytes decoded as UTF-8 (undecodable bytes replaced)."""
    from mnistfamily.registry.loader import load_registry_text

    load_registry_text(data.decode("utf-8", errors="replace"), "fuzz.yaml")


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("idx", run_idx, lambda: list(_idx_seeds()), "IDX of every type and rank; raw, gzip, xz"),
    Target("zip", run_zip, lambda: list(_zip_seeds()), "zip member extraction (EMNIST gzip.zip)"),
    Target("npz", run_npz, lambda: list(_npz_seeds()), ".npz split builder (MedMNIST layout)"),
    Target("mat", run_mat, lambda: list(_mat_seeds()), ".mat members of a zip (affNIST)"),
    Target("png-tar", run_png_tar, lambda: list(_png_tar_seeds()), "PNG tarball (notMNIST)"),
    Target("png", run_png, lambda: list(_png_seeds()), "one PNG inside a notMNIST tarball"),
    Target("mnist1d", run_mnist1d, lambda: list(_mnist1d_seeds()), "MNIST-1D pickle (restricted unpickler)"),
    Target("registry", run_registry, lambda: list(_registry_seeds()), "registry YAML (strict loader)"),
    Target("parquet", run_parquet, shard_seeds, "a Parquet shard read back, then exported again"),
    Target("export-card", run_export_card, card_seeds, "the dataset card of an export folder"),
]}
TARGETS.update(IMAGE_TARGETS)  # SVHN's .mat, CIFAR's binary tarballs, USPS's LIBSVM text
TARGETS.update(MORE_TARGETS)  # HASYv2's tar.bz2, AudioMNIST's recordings and metadata, 3D MNIST's HDF5
TARGETS.update(MNISTM_TARGETS)  # MNIST-M: BSDS500's tarball (the recipe's backgrounds), Ganin's mnist_m.tar.gz
