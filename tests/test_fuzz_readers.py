"""Every reader of untrusted bytes against mutants and hand-made hostile files.

The property: whatever the bytes, a reader returns or raises a ``MnistFamilyError``; it
never allocates or decompresses far beyond what the file can hold, and writes nothing
outside the cache. Mutation tests are bounded hypothesis runs over the targets of
``harness.fuzz`` (``benchmarks/fuzz.py`` runs the same targets for minutes);
the explicit tests below pin each protection with a measured bound, so removing a check
makes one of them fail.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import pickle
import random
import tarfile
import time
import tracemalloc
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mnistfamily as mf
from mnistfamily.errors import FormatError, MnistFamilyError, RegistryError
from mnistfamily.formats.idx import read_idx
from harness import fuzz
from harness.fuzz import TARGETS, mutate, run_target
from harness.fuzz.more_targets import MORE_TARGETS

MiB = 1 << 20
#: examples per reader in the mutation property: bounded so the whole file stays ~15 s
EXAMPLES = {"idx": 120, "zip": 80, "npz": 40, "mat": 30, "png-tar": 30, "png": 40, "mnist1d": 60,
            "registry": 80, "parquet": 40, "export-card": 40, "svhn-mat": 30, "cifar-bin": 30, "usps-libsvm": 30,
            "bsds500": 30, "mnist-m-release": 30}
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def peak_of(fn, *args, **kwargs):
    """(result or raised exception, tracemalloc peak in bytes) of ``fn(*args)``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        try:
            outcome = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - returned for the caller to assert on
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _scratch(tmp_path: Path) -> Path:
    folder = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    return folder


# --------------------------------------------------------------------------- mutation properties

#: HASYv2's, AudioMNIST's and 3D MNIST's targets have their own mutation budget (test_fuzz_more_readers.py)
MUTATED_HERE = sorted(set(TARGETS) - set(MORE_TARGETS))


def test_every_target_is_mutated_here_or_in_the_more_readers_file():
    assert set(MUTATED_HERE) == set(EXAMPLES) and set(TARGETS) == set(EXAMPLES) | set(MORE_TARGETS)


@pytest.mark.parametrize("reader", MUTATED_HERE)
def test_every_reader_raises_only_library_errors_on_mutants(reader, tmp_path):
    target = TARGETS[reader]
    seeds = target.seeds()

    @settings(max_examples=EXAMPLES[reader], **FUZZ)
    @given(which=st.integers(0, len(seeds) - 1), salt=st.integers(0, 2**32 - 1))
    def check(which, salt):
        data = mutate(seeds[which], random.Random(salt), seeds)
        run_target(target, data, _scratch(tmp_path))  # raises UnexpectedOutcome on a broken contract

    check()


@pytest.mark.parametrize("reader", sorted(TARGETS))
def test_every_seed_is_read_or_refused_with_a_library_error(reader, tmp_path):
    for data in TARGETS[reader].seeds():
        assert run_target(TARGETS[reader], data, _scratch(tmp_path)) in (
            "ok", "FormatError", "ChecksumError", "RegistryError", "CorruptExportError")


@pytest.mark.parametrize("reader", ["idx", "npz", "mnist1d", "registry", "png-tar"])
@settings(max_examples=25, **FUZZ)
@given(data=st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_library_errors(reader, data, tmp_path):
    run_target(TARGETS[reader], data, _scratch(tmp_path))


_DTYPES = st.sampled_from(["u1", "i1", ">i2", ">i4", ">f4", ">f8"])


@settings(max_examples=80, **FUZZ)
@given(dtype=_DTYPES, shape=st.lists(st.integers(0, 4), min_size=1, max_size=6),
       compression=st.sampled_from([None, "gzip", "xz"]), cut=st.integers(0, 10**6))
def test_idx_of_any_type_and_rank_round_trips_and_any_truncation_is_refused(dtype, shape, compression, cut):
    array = np.arange(int(np.prod(shape)), dtype=np.dtype(dtype)).reshape(shape)
    data = fuzz.idx_bytes(array, compression)
    np.testing.assert_array_equal(read_idx(io.BytesIO(data)), array)
    short = data[:cut % len(data)]
    with pytest.raises(FormatError, match="truncated|cannot decompress|not an IDX|promises|oversized"):
        read_idx(io.BytesIO(short))


# --------------------------------------------------------------------------- IDX, .gz, .xz

def test_gzip_bomb_behind_a_small_header_stops_at_the_header_size():
    # header promises 1,000 bytes and ISIZE agrees; the stream inflates to 64 MiB
    header = bytes([0, 0, 8, 1]) + (1000).to_bytes(4, "big")
    data = bytearray(gzip.compress(header + bytes(64 * MiB), compresslevel=9, mtime=0))
    data[-4:] = (len(header) + 1000).to_bytes(4, "little")
    outcome, peak = peak_of(read_idx, io.BytesIO(bytes(data)))
    assert isinstance(outcome, FormatError) and "oversized" in str(outcome)
    assert peak < 4 * MiB  # GzipFile's buffers, never the 64 MiB


def test_gzip_trailer_agreeing_with_a_header_past_deflates_ratio_is_refused_before_allocating():
    # ISIZE is the size modulo 2**32: a 4 GiB + 8-byte promise matches a trailer of 16
    header = bytes([0, 0, 8, 2]) + (1 << 16).to_bytes(4, "big") * 2
    data = bytearray(gzip.compress(header + bytes(100), mtime=0))
    data[-4:] = ((len(header) + (1 << 32)) % (1 << 32)).to_bytes(4, "little")
    outcome, peak = peak_of(read_idx, io.BytesIO(bytes(data)))
    # refused by the deflate-ratio check, or earlier, when the decompressor checks the forged
    # trailer against the 112 bytes it holds (zlib's gzip reader and ISA-L's check it on the
    # first read: "incorrect length check", "Incorrect length of data produced")
    assert isinstance(outcome, FormatError)
    assert "more than a" in str(outcome) or "incorrect length" in str(outcome).lower()
    assert peak < 4 * MiB


def test_xz_index_agreeing_with_a_terabyte_header_is_refused_before_allocating():
    data = fuzz._idx_seeds()[-1]  # header and forged xz index agree on 1 TiB, 64 KiB of file
    outcome, peak = peak_of(read_idx, io.BytesIO(data))
    assert isinstance(outcome, FormatError)
    assert "more than a 65,616-byte xz file can hold" in str(outcome)
    assert peak < 16 * MiB


@pytest.mark.parametrize("header, message", [
    (b"\x00\x00\x08\xff" + b"\x00\x00\x00\x01" * 255 + b"\x07", "255 dimensions; numpy arrays hold at most 64"),
    (b"\x00\x00\x08\x04" + b"\x00" * 4 + b"\xff" * 12, "larger than any array numpy can address"),
])
def test_idx_headers_numpy_cannot_hold_are_format_errors(header, message):
    with pytest.raises(FormatError, match=message):
        read_idx(io.BytesIO(header))
    with pytest.raises(FormatError, match=message):
        read_idx(io.BytesIO(gzip.compress(header)))


# --------------------------------------------------------------------------- zip members (fetch/archive.py)

def _extract(data: bytes, tmp_path: Path, member: str = fuzz._MEMBER):
    from mnistfamily.fetch.archive import extract_member

    target = tmp_path / "cache" / "member.part"
    target.parent.mkdir(exist_ok=True)
    spec = replace(fuzz._member_spec(), member=member)
    return extract_member(io.BytesIO(data), spec, target, "test: gzip.zip"), target


def test_zip_member_claiming_more_than_deflate_can_give_is_refused_before_writing(tmp_path):
    data = fuzz.zip_bomb(fuzz._MEMBER, 1 << 16, claimed=1 << 31)
    with pytest.raises(FormatError, match="more than the compression can produce"):
        _extract(data, tmp_path)
    assert not (tmp_path / "cache" / "member.part").exists() or \
        (tmp_path / "cache" / "member.part").stat().st_size == 0


def test_zip_member_whose_compressed_bytes_run_past_the_archive_is_refused(tmp_path):
    data = fuzz.zip_bomb(fuzz._MEMBER, 1 << 16, claimed_compressed=1 << 30, claimed=1 << 30)
    with pytest.raises(FormatError, match="past the end of the"):
        _extract(data, tmp_path)


def test_zip_member_that_ends_before_its_declared_size_is_refused(tmp_path):
    honest = fuzz.zip_bomb(fuzz._MEMBER, 1000)
    lying = fuzz.zip_bomb(fuzz._MEMBER, 1000, claimed=2000)
    _extract(honest, tmp_path)
    with pytest.raises(FormatError, match="declares 2,000 bytes but holds 1,000"):
        _extract(lying, tmp_path)


@pytest.mark.parametrize("flag, method, message", [
    (0x1, zipfile.ZIP_DEFLATED, "is encrypted"),
    (0x0, zipfile.ZIP_BZIP2, "zip method 12"),
    (0x0, 99, "zip method 99"),
])
def test_encrypted_or_unknown_method_members_are_format_errors(tmp_path, flag, method, message):
    data = bytearray(fuzz._zip_seeds()[0])
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.index(signature)
        data[at + flag_at:at + flag_at + 2] = flag.to_bytes(2, "little")
        data[at + method_at:at + method_at + 2] = method.to_bytes(2, "little")
    with pytest.raises(FormatError, match=message):
        _extract(bytes(data), tmp_path)


def test_damaged_deflate_data_is_a_format_error_not_zlib_error(tmp_path):
    payload = os.urandom(4096)
    data = bytearray(fuzz._zip_of([(fuzz._MEMBER, payload)]))
    data[60:90] = bytes(30)  # inside the deflate stream of the first member
    with pytest.raises(FormatError, match=r"not a valid zip archive, or member .* is damaged"):
        _extract(bytes(data), tmp_path)


def test_zip_with_traversal_absolute_and_symlink_members_writes_only_the_target(tmp_path):
    escape = tmp_path / "escape.gz"
    absolute = tmp_path / "absolute.gz"
    data = fuzz._zip_of([(f"../{escape.name}", b"x"), (str(absolute), b"x"), ("gzip/evil-link", b"/etc/passwd"),
                         (fuzz._MEMBER, b"payload")])
    cwd = os.getcwd()
    os.chdir(tmp_path / "cache" if (tmp_path / "cache").exists() else tmp_path)
    try:
        for member in (fuzz._MEMBER, f"../{escape.name}", str(absolute), "gzip/evil-link"):
            _, target = _extract(data, tmp_path, member)
            assert target.is_file() and not target.is_symlink()
    finally:
        os.chdir(cwd)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["member.part"]
    assert not escape.exists() and not absolute.exists()
    assert target.read_bytes() == b"/etc/passwd"  # the link's text as bytes, never followed


def _overlapping_zip() -> bytes:
    """Two central-directory entries pointing at one local header (the overlapping-file bomb)."""
    one = fuzz._zip_of([("train_images.npy", fuzz._npy(np.zeros((4, 28, 28), np.uint8))),
                        ("train_labels.npy", fuzz._npy(np.zeros((4, 1), np.uint8)))])
    data = bytearray(one)
    entries = [i for i in range(len(data)) if data[i:i + 4] == b"PK\x01\x02"]
    # the second entry's local header offset := the first's; its sizes := the first's
    first, second = entries
    data[second + 42:second + 46] = data[first + 42:first + 46]
    data[second + 16:second + 28] = data[first + 16:first + 28]
    return bytes(data)


def test_overlapping_zip_entries_are_refused_or_read_within_bounds(tmp_path):
    for reader in ("npz", "mat", "zip"):
        outcome = run_target(TARGETS[reader], _overlapping_zip(), _scratch(tmp_path))
        assert outcome in ("ok", "FormatError")
    outcome, peak = peak_of(run_target, TARGETS["npz"], _overlapping_zip(), _scratch(tmp_path))
    assert outcome == "FormatError" and peak < 8 * MiB


# --------------------------------------------------------------------------- npz

def test_npz_object_arrays_are_refused_without_unpickling(tmp_path):
    with pytest.raises(FormatError, match="array of Python objects.*allow_pickle=False"):
        TARGETS["npz"].run(fuzz._npz_seeds()[1], _scratch(tmp_path))


def test_npz_negative_or_wrapping_shapes_are_format_errors(tmp_path):
    with pytest.raises(FormatError, match="impossible shape"):
        TARGETS["npz"].run(fuzz._npz_seeds()[4], _scratch(tmp_path))
    # int64 product wraps to 784 bytes: (2**62, 4, 784) * 1 byte == 784 (mod 2**64)
    wrapping = fuzz._npy(header="{'descr': '|u1', 'fortran_order': False, 'shape': (4611686018427387905, 4, 28, 7), }")
    data = fuzz._zip_of([("train_images.npy", wrapping + bytes(784)),
                         ("train_labels.npy", fuzz._npy(np.zeros((4, 1), np.uint8)))])
    outcome, peak = peak_of(TARGETS["npz"].run, data, _scratch(tmp_path))
    assert isinstance(outcome, FormatError) and peak < 8 * MiB


def test_npz_header_numpy_cannot_tokenize_is_a_format_error(tmp_path):
    bad = fuzz._npy(header="{'descr': '|u1', 'fortran_order': False, 'shape': (4, 28, 28), ") + bytes(3136)
    bad = bad.replace(b"(4, 28, 28)", b"(4, 28, [2")
    data = fuzz._zip_of([("train_images.npy", bad), ("train_labels.npy", fuzz._npy(np.zeros((4, 1), np.uint8)))])
    with pytest.raises(FormatError, match="not a valid .npy array"):
        TARGETS["npz"].run(data, _scratch(tmp_path))


# --------------------------------------------------------------------------- .mat (affNIST)

def _mat_zip(variables: dict, *, compress: bool = False) -> bytes:
    from scipy.io import savemat

    from mnistfamily.testing.mini_mat import zip_bytes

    buffer = io.BytesIO()
    savemat(buffer, variables, do_compression=compress)
    return zip_bytes([("training_batches/1.mat", buffer.getvalue())])


def test_mat_struct_declaring_huge_dimensions_is_refused_before_loadmat_allocates(tmp_path):
    from mnistfamily.testing.mini_mat import zip_bytes

    good = zipfile.ZipFile(io.BytesIO(fuzz._mat_seeds()[0])).read("training_batches/1.mat")
    data = bytearray(good)
    # the top-level struct's dimensions: 1 x 1 -> 268,435,457 x 1 (8 GiB of records for loadmat)
    dims = data.index(b"\x05\x00\x00\x00\x08\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00")
    data[dims + 8:dims + 12] = (268_435_457).to_bytes(4, "little")
    outcome, peak = peak_of(TARGETS["mat"].run, zip_bytes([("training_batches/1.mat", bytes(data))]),
                            _scratch(tmp_path))
    assert isinstance(outcome, FormatError) and "declares dimensions [268435457, 1]" in str(outcome)
    assert peak < 16 * MiB


def test_mat_compressed_variable_inflating_past_the_split_is_refused(tmp_path):
    from mnistfamily.prepare.mat_split import build_mat_split
    from mnistfamily.prepare.cache import EntryWriter

    spec = fuzz._spec(*fuzz._MAT)
    split = spec.splits["train"]  # 6 examples: a member may hold about 1.1 MB
    path = tmp_path / "in.zip"
    path.write_bytes(_mat_zip({"affNISTdata": {"image": np.zeros((1600, 6000), np.uint8)}}, compress=True))
    assert path.stat().st_size < 100_000
    with EntryWriter(tmp_path / "cache" / "e") as writer:
        outcome, peak = peak_of(build_mat_split, spec, split, {split.inputs["archive"]: path}, writer)
    assert isinstance(outcome, FormatError)
    assert "declares 9,6" in str(outcome) or "inflates to more than" in str(outcome)
    assert peak < 32 * MiB


def test_mat_member_with_an_empty_name_is_skipped_not_an_index_error(tmp_path):
    data = fuzz._zip_of([("", b"x"), ("training_batches/1.mat", b"not a mat")])
    with pytest.raises(FormatError, match="not a readable MATLAB file|Unknown mat"):
        TARGETS["mat"].run(data, _scratch(tmp_path))


# --------------------------------------------------------------------------- tar (notMNIST)

def _tar(members) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, payload in members:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buffer.getvalue()


def test_tar_traversal_links_and_devices_are_skipped_and_nothing_is_written_outside(tmp_path):
    from mnistfamily.prepare.cache import EntryWriter
    from mnistfamily.prepare.png_tar_split import build_png_tar_split
    from mnistfamily.testing.mini_png_tar import png_bytes, regular, special, symlink, tar_gz_bytes

    png = png_bytes(np.full((28, 28), 7, np.uint8))
    absolute = tmp_path / "absolute.png"
    members = [regular("notMNIST_small/A/good.png", png), regular("../escape.png", png),
               regular("notMNIST_small/../../escape2.png", png), regular(str(absolute), png),
               symlink("notMNIST_small/B/link.png", "/etc/passwd"),
               symlink("notMNIST_small/B/hard.png", "notMNIST_small/A/good.png", hard=True),
               special("notMNIST_small/C/dev.png"), special("notMNIST_small/C/blk.png", tarfile.BLKTYPE),
               special("notMNIST_small/C/fifo.png", tarfile.FIFOTYPE)]
    spec = fuzz._spec(*fuzz._PNG_TAR)
    split = replace(spec.splits["test"], num_examples=None)
    path = tmp_path / "in" / "notMNIST_small.tar.gz"
    path.parent.mkdir()
    path.write_bytes(tar_gz_bytes(members))
    spec = replace(spec, files={"notMNIST_small.tar.gz": replace(spec.file("notMNIST_small.tar.gz"), size=None)})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        with EntryWriter(tmp_path / "cache" / "e") as writer:
            build_png_tar_split(spec, split, {"notMNIST_small.tar.gz": path}, writer)
            report = dict(writer.report)
    finally:
        os.chdir(cwd)
    assert report["skipped_unsafe_names"] == 3 and report["skipped_links"] == 2 and report["skipped_special"] == 3
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert [p for p in after if p not in before and p.parts[0] != "cache"] == []
    assert not absolute.exists() and not (tmp_path / "escape.png").exists()


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE])
def test_tar_long_name_or_pax_header_bomb_stops_before_reading_it(tmp_path, kind):
    info = tarfile.TarInfo("././@LongLink")
    info.type, info.size = kind, 200 * MiB
    raw = info.tobuf(format=tarfile.GNU_FORMAT) + bytes(200 * MiB) + bytes(1024)
    data = gzip.compress(raw, compresslevel=6, mtime=0)
    assert len(data) < 300_000
    outcome, peak = peak_of(TARGETS["png-tar"].run, data, _scratch(tmp_path))
    assert isinstance(outcome, FormatError) and "extended header" in str(outcome)
    assert peak < 8 * MiB  # tarfile would otherwise gather all 200 MiB


def test_tar_gnu_sparse_member_is_refused(tmp_path):
    info = tarfile.TarInfo("notMNIST_small/A/sparse.png")
    info.type = tarfile.GNUTYPE_SPARSE
    with pytest.raises(FormatError, match="GNU sparse"):
        TARGETS["png-tar"].run(_tar([(info, None)]), _scratch(tmp_path))


def test_xz_tarball_bomb_is_read_in_bounded_memory(tmp_path):
    info = tarfile.TarInfo("notMNIST_small/A/huge.png")
    info.size = 256 * MiB  # skipped unread (> MAX_PNG_BYTES): streamed past, never held
    data = lzma.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(256 * MiB) + bytes(1024), preset=1)
    outcome, peak = peak_of(TARGETS["png-tar"].run, data, _scratch(tmp_path))
    assert isinstance(outcome, FormatError) and "no readable" in str(outcome)
    assert peak < 16 * MiB


# --------------------------------------------------------------------------- MNIST-1D pickle

def test_pickle_naming_os_system_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    blob = b"\x80\x04cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    with pytest.raises(FormatError, match="os.system, which is refused"):
        TARGETS["mnist1d"].run(blob, _scratch(tmp_path))
    assert not marker.exists()


def test_pickle_length_claiming_gigabytes_is_refused_before_cpython_allocates(tmp_path):
    blob = b"\x80\x04\x8e" + (8 << 30).to_bytes(8, "little") + b"xx."  # BINBYTES8 of 8 GiB, 2 bytes present
    outcome, peak = peak_of(TARGETS["mnist1d"].run, blob, _scratch(tmp_path))
    assert isinstance(outcome, FormatError) and "not a readable pickle" in str(outcome)
    assert peak < 8 * MiB  # CPython's unpickler reserved the full 8 GiB first


def test_pickle_object_arrays_are_refused(tmp_path):
    with pytest.raises(FormatError, match="object and structured arrays are refused|dtype 'O8'|not a plain"):
        TARGETS["mnist1d"].run(fuzz._mnist1d_seeds()[2], _scratch(tmp_path))


# --------------------------------------------------------------------------- registry YAML

def _registry_error(text: str) -> RegistryError:
    from mnistfamily.registry.loader import load_registry_text

    with pytest.raises(RegistryError, match=r"problem\(s\) in the registry") as info:
        load_registry_text(text, "user.yaml")
    return info.value


def test_billion_laughs_in_registry_yaml_stops_early():
    started = time.perf_counter()
    outcome, peak = peak_of(_registry_error, fuzz._registry_seeds()[4].decode())
    assert "aliases expand to more than 200,000 values" in str(outcome)
    assert time.perf_counter() - started < 10 and peak < 64 * MiB  # 10**9 values otherwise


@pytest.mark.parametrize("text, message", [
    ("version: 1\ndatasets:\n  mnist:\n    title: !!python/object/apply:os.system ['echo pwned']\n",
     "expected a non-empty string"),
    ("version: 1\ndatasets:\n  mnist:\n    title: !!python/name:os.system\n", "could not determine a constructor"),
    ("version: 1\ndatasets:\n  mnist:\n    title: 2001-13-45\n", "month must be in 1..12"),
    ("version: 1\ndatasets:\n  mnist:\n    classes: &c [a, *c]\n", "a cycle"),
    ("version: 1\ndatasets:\n  ? [a, b]\n  : 1\n", "keys must be strings"),
    ("version: 1\ndatasets:\n  mnist:\n    title: !!binary 'A'\n", "cannot read the value"),
])
def test_hostile_registry_yaml_is_a_registry_error(text, message):
    assert message in str(_registry_error(text))


def test_user_registry_file_that_is_not_utf8_is_a_registry_error(tmp_path):
    from mnistfamily.registry import Registry

    path = tmp_path / "user.yaml"
    path.write_bytes(b"version: 1\ndatasets: {}\n# \xff\xfe\n")
    # found by fuzzing (fuzz-bugs.md #1), fixed by the registry's owner in db9f917
    with pytest.raises(RegistryError, match="not UTF-8 text"):
        Registry.from_files([path])


def test_library_errors_name_the_file_and_say_what_to_do(tmp_path):
    for reader, data in [("idx", fuzz._idx_seeds()[-1]), ("npz", fuzz._npz_seeds()[1]),
                         ("mnist1d", fuzz._mnist1d_seeds()[3])]:
        with pytest.raises(MnistFamilyError, match=r"input\.bin|<stream>") as info:
            TARGETS[reader].run(data, _scratch(tmp_path))
        text = str(info.value)
        assert ("input.bin" in text or "<stream>" in text) and ("delete" in text.lower() or "download" in text)


def test_public_read_idx_refuses_a_pickle_disguised_as_idx(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(FormatError, match="not an IDX file"):
        mf.read_idx(path)


def test_every_format_that_reads_files_has_its_fuzz_targets():
    """Each row of the format table names its fuzz targets; a format that reads files has at least one."""
    from mnistfamily.registry.formats import FORMATS

    for name, row in FORMATS.items():
        reads_files = any(kind == "file" for kind, _ in row.split_keys.values())
        assert row.fuzz or not reads_files, f"format {name!r} reads files but names no fuzz target"
        missing = [t for t in row.fuzz if t not in TARGETS]
        assert not missing, f"format {name!r} names fuzz targets the harness does not have: {missing}"
