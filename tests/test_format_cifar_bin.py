"""CIFAR-10 and CIFAR-100 binary archives (``formats/cifar_bin.py``): records in tar members, two passes.

The miniature (``testing/mini_cifar_bin.py``) is checked byte by byte against the published
record description; then both layouts and splits, members out of order, the cache writer as
the sink, the class names, every hostile archive, memory on a large split and mutants.
"""

from __future__ import annotations

import doctest
import gzip
import io
import lzma
import tarfile
import tracemalloc
import zipfile

import numpy as np
import pytest

from mnistfamily.errors import FormatError
from mnistfamily.formats import cifar_bin, decoded, tar_members
from mnistfamily.formats.cifar_bin import read_cifar_bin
from mnistfamily.formats.sink import MemorySink
from mnistfamily.prepare.cache import EntryWriter
from harness.fuzz.image_formats import IMAGE_TARGETS, run_mutants
from mnistfamily.testing.mini_cifar_bin import CIFAR10_CLASSES, cifar_bin_bytes, cifar_bin_contents, record_bytes

MiB = 1 << 20
TEN = "cifar-10-batches-bin"
NAMES10 = ("batches.meta.txt", "\n".join(CIFAR10_CLASSES).encode() + b"\n")


def read(data: bytes, layout: str = "cifar10", split: str = "test", **kwargs):
    sink = MemorySink()
    decoded = read_cifar_bin(io.BytesIO(data), sink, layout=layout, split=split, where="cifar.tar.gz", **kwargs)
    return decoded, sink


def _one(label: int = 3, *more: int) -> bytes:
    image = np.arange(3072, dtype=np.uint8).reshape(1, 32, 32, 3)
    return record_bytes(image, [np.array([label]), *(np.array([m]) for m in more)])


def _tar(members, *, compress: bool = True) -> bytes:
    """A tarball of ``(TarInfo, bytes or None)`` in order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(buffer.getvalue(), mtime=0) if compress else buffer.getvalue()


def _file(name: str, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


# --------------------------------------------------------------------------- the layout

def test_the_miniatures_records_are_the_published_layout():
    # "1 label byte, then 1,024 R, 1,024 G, 1,024 B, each 32x32 row-major" (the authors' page)
    data, expected = cifar_bin_contents("cifar10", seed=4)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        record = tar.extractfile(f"{TEN}/test_batch.bin").read()[:3073]  # type: ignore[union-attr]
        meta = tar.extractfile(f"{TEN}/batches.meta.txt").read()  # type: ignore[union-attr]
    image = expected["test"]["images"][0]
    assert record[0] == expected["test"]["labels"][0]
    for channel, row, column in [(0, 0, 0), (0, 0, 31), (1, 5, 7), (2, 31, 0), (2, 31, 31)]:
        assert record[1 + channel * 1024 + row * 32 + column] == image[row, column, channel]
    assert meta.decode().split() == list(CIFAR10_CLASSES)


@pytest.mark.parametrize("layout", ["cifar10", "cifar100"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_each_split_reads_back_whatever_the_members_order(layout, split):
    data, expected = cifar_bin_contents(layout, seed=1)
    decoded, sink = read(data, layout, split)
    want = expected[split]
    assert decoded.num_examples == len(want["labels"]) and decoded.classes == want["classes"]
    assert sink.arrays["images"].shape == (decoded.num_examples, 32, 32, 3)
    assert sink.arrays["images"].dtype == np.uint8 and sink.arrays["labels"].dtype == np.int64
    for name in ("images", "labels", "index"):
        np.testing.assert_array_equal(sink.arrays[name], want[name])
    if layout == "cifar100":
        np.testing.assert_array_equal(sink.arrays["meta.coarse_label"], want["metadata"]["coarse_label"])
        assert decoded.code_names == {"coarse_label": want["coarse_classes"]}
    else:
        assert decoded.classes == CIFAR10_CLASSES and decoded.code_names == {}


@pytest.mark.parametrize("packing", ["plain", "xz"])
def test_an_uncompressed_or_xz_tarball_reads_the_same(packing):
    data, expected = cifar_bin_contents("cifar10", seed=2)
    plain = gzip.decompress(data)
    _, sink = read(plain if packing == "plain" else lzma.compress(plain), split="train")
    np.testing.assert_array_equal(sink.arrays["images"], expected["train"]["images"])


def test_the_cache_writer_is_a_sink(tmp_path):
    data, expected = cifar_bin_contents("cifar100", seed=3)
    with EntryWriter(tmp_path / "train@0123456789abcdef") as writer:
        read_cifar_bin(io.BytesIO(data), writer, layout="cifar100", split="train", num_examples=23)
        final = writer.commit({"format": "cifar-bin"})
    np.testing.assert_array_equal(np.load(final / "images.npy"), expected["train"]["images"])
    np.testing.assert_array_equal(np.load(final / "meta.coarse_label.npy"),
                                  expected["train"]["metadata"]["coarse_label"])


def test_names_read_from_the_archive_are_checked_against_the_expected_ones():
    data, _ = cifar_bin_contents("cifar10", seed=0)
    assert read(data, classes=CIFAR10_CLASSES)[0].classes == CIFAR10_CLASSES
    swapped = (CIFAR10_CLASSES[1], CIFAR10_CLASSES[0], *CIFAR10_CLASSES[2:])
    with pytest.raises(FormatError, match=r"names its classes \['airplane', 'automobile'.*expected \['automobile'"):
        read(data, classes=swapped)


def test_the_module_examples_run():
    assert doctest.testmod(cifar_bin, optionflags=doctest.ELLIPSIS).failed == 0
    assert doctest.testmod(tar_members).failed == 0
    assert doctest.testmod(decoded).failed == 0


# --------------------------------------------------------------------------- hostile archives

_TEST = f"{TEN}/test_batch.bin"


def _pax_bomb() -> bytes:
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 200 * MiB
    head = info.tobuf(format=tarfile.USTAR_FORMAT)
    return gzip.compress(head + bytes(200 * MiB), compresslevel=1, mtime=0)


def _claiming(size: int, padding: int = 1024) -> bytes:
    """A member header claiming ``size`` bytes, followed by ``padding`` incompressible bytes."""
    info = tarfile.TarInfo(_TEST)
    info.size = size
    return gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + np.random.default_rng(0).bytes(padding), mtime=0)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(_TEST, _one())
    return buffer.getvalue()


@pytest.mark.parametrize("data, message", [
    (b"\x1f\x8b" + bytes(100), r"cifar.tar.gz: the archive is damaged or truncated"),
    (bytes(range(256)) * 4, r"the archive is damaged or truncated"),
    (_zip(), r"a zip archive, not a tarball"),
    (cifar_bin_contents("cifar10")[0][:-5000], r"damaged or truncated|truncated"),
    (_tar([_file(f"{TEN}/batches.meta.txt", NAMES10[1])]), r"no member cifar-10-batches-bin/test_batch.bin"),
    (_tar([_file(_TEST, _one())]), r"no member cifar-10-batches-bin/batches.meta.txt"),
    (_tar([_file(_TEST, _one()[:-1]), _file(f"{TEN}/{NAMES10[0]}", NAMES10[1])]),
     r"member cifar-10-batches-bin/test_batch.bin is 3,072 bytes; expected whole records of 3,073 bytes"),
    (_tar([_file(_TEST, b""), _file(f"{TEN}/{NAMES10[0]}", NAMES10[1])]), r"is 0 bytes; expected whole records"),
    (_tar([_file(_TEST, _one()), _file(f"./{_TEST}", _one()), _file(f"{TEN}/{NAMES10[0]}", NAMES10[1])]),
     r"member cifar-10-batches-bin/test_batch.bin appears twice"),
    (_tar([_link(_TEST, "/etc/passwd"), _file(f"{TEN}/{NAMES10[0]}", NAMES10[1])]),
     r"member cifar-10-batches-bin/test_batch.bin is a link, not a file"),
    # names that climb out or are absolute are never the published member: it is missing
    (_tar([_file(f"../{_TEST}", _one()), _file(f"/{_TEST}", _one()), _file(f"{TEN}/{NAMES10[0]}", NAMES10[1])]),
     r"no member cifar-10-batches-bin/test_batch.bin"),
    (_tar([_file(_TEST, _one(10)), _file(f"{TEN}/{NAMES10[0]}", NAMES10[1])]),
     r"member test_batch.bin, record 0: labels 10; expected 0..9"),
    (_tar([_file(_TEST, _one() + _one(255)), _file(f"{TEN}/{NAMES10[0]}", NAMES10[1])]),
     r"record 1: labels 255; expected 0..9"),
    (_tar([_file(_TEST, _one()), _file(f"{TEN}/{NAMES10[0]}", bytes(70_000))]), r"is 70,000 bytes; a names file takes"),
    (_tar([_file(_TEST, _one()), _file(f"{TEN}/{NAMES10[0]}", b"cat\ndog\n")]),
     r"batches.meta.txt: 2 names \('cat', 'dog'\); expected 10 distinct printable names"),
    (_tar([_file(_TEST, _one()), _file(f"{TEN}/{NAMES10[0]}", b"cat\n" * 10)]), r"10 names .*expected 10 distinct"),
    (_tar([_file(_TEST, _one()), _file(f"{TEN}/{NAMES10[0]}", "\n".join(["chat\u00e9"] * 10).encode())]),
     r"batches.meta.txt: not ASCII text"),
    (_tar([_file(_TEST, _one()), _file(f"{TEN}/{NAMES10[0]}", b"\n".join(b"n%d\x07" % i for i in range(10)))]),
     r"expected 10 distinct printable names"),
    (_claiming(3073 * (1 << 21)), r"declares 6,444,548,096 bytes at offset 512, more than the file's compressed"),
    # 1.5 MB of gzip could expand to 1.5 GB, but no CIFAR tarball holds more than 1 GiB
    (_claiming(3073 * 400_000, padding=1_500_000), r"declares 1,229,200,000 bytes at offset 512, more than"),
    (_pax_bomb(), r"a member is a 209,715,200-byte extended header \(long name or PAX\)"),
], ids=lambda value: value[:40] if isinstance(value, str) else "")
def test_hostile_archives_are_refused_with_a_clear_error(data, message):
    with pytest.raises(FormatError, match=message) as caught:
        read(data)
    assert str(caught.value).startswith("cifar.tar.gz: ") and "fetch it again" in str(caught.value)


@pytest.mark.parametrize("coarse, fine, message", [
    (20, 5, r"record 0: coarse_label 20; expected 0..19"),
    (3, 100, r"record 0: labels 100; expected 0..99"),
])
def test_cifar100_label_bytes_are_checked_in_both_columns(coarse, fine, message):
    names = [("coarse_label_names.txt", b"\n".join(b"k%d" % i for i in range(20))),
             ("fine_label_names.txt", b"\n".join(b"f%d" % i for i in range(100)))]
    data = cifar_bin_bytes("cifar-100-binary", [("test.bin", _one(coarse, fine)), *names])
    with pytest.raises(FormatError, match=message):
        read(data, "cifar100")


def test_unknown_layouts_and_splits_and_counts_are_refused():
    data, _ = cifar_bin_contents("cifar10")
    with pytest.raises(FormatError, match=r"layouts \['cifar10', 'cifar100'\] .* got layout='cifar1000'"):
        read(data, "cifar1000")
    with pytest.raises(FormatError, match=r"split='extra'"):
        read(data, split="extra")
    with pytest.raises(FormatError, match=r"the test split's members hold 9 records; the split has 10,000"):
        read(data, num_examples=10_000)


# --------------------------------------------------------------------------- memory and mutants

def test_a_large_split_is_read_in_bounded_memory(tmp_path):
    n = 10_240  # 31 MB of pixels in two members, stored out of order
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n)
    half = n // 2
    members = [("data_batch_2.bin", record_bytes(images[half:], [labels[half:]])),
               ("data_batch_1.bin", record_bytes(images[:half], [labels[:half]])),
               *[(f"data_batch_{i}.bin", _one(i)) for i in (3, 4, 5)], NAMES10]
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(cifar_bin_bytes(TEN, members, level=1))
    del members
    arrays = (n + 3) * (3072 + 16)
    tracemalloc.start()
    try:
        with EntryWriter(tmp_path / "cache" / "train@0123456789abcdef") as writer:
            read_cifar_bin(path, writer, layout="cifar10", split="train")
            to_disk = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        sink = MemorySink()
        decoded = read_cifar_bin(path, sink, layout="cifar10", split="train")
        in_memory = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decoded.num_examples == n + 3
    np.testing.assert_array_equal(sink.arrays["images"][:n], images)
    np.testing.assert_array_equal(sink.arrays["labels"][n:], [3, 4, 5])
    # into the cache (a memory map) a few chunks; into memory the arrays and a few chunks
    assert to_disk < 24 * MiB < arrays
    assert in_memory < arrays + 24 * MiB


def test_mutants_raise_only_library_errors(tmp_path):
    outcomes = run_mutants(IMAGE_TARGETS["cifar-bin"], 100, seed=12, folder=tmp_path)
    assert outcomes["ok"] >= 4 and sum(outcomes.values()) == 100 + len(IMAGE_TARGETS["cifar-bin"].seeds())
