"""K-49 and MedMNIST: NumPy .npz archives read without pickle, bounded by their headers.

Miniatures of the registry entries are served over loopback HTTP and loaded through the
real path; hostile archives go straight to the builder.
"""

from __future__ import annotations

import io
import json
import runpy
import struct
import textwrap
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import DownloadError, FormatError, UnknownNameError
from mnistfamily.prepare.cache import EntryWriter, read_entry
from mnistfamily.prepare.npz_split import build_npz_split
from mnistfamily.registry import Registry, get_registry
from mnistfamily.registry.loader import load_registry_text
from mnistfamily.testing import serve_directory, write_miniatures

ROOT = Path(__file__).resolve().parent.parent
SIZES = (28, 64, 128, 224)
PATH_SIZES = {28: "medmnist/pathmnist", 64: "medmnist/pathmnist-64", 128: "medmnist/pathmnist-128",
              224: "medmnist/pathmnist-224"}
NAMES = ["k49", "medmnist/chestmnist", *PATH_SIZES.values()]
K49_CHARACTERS = ("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわゐゑをんゝ")


def _generator():
    return runpy.run_path(str(ROOT / "docs" / "scripts" / "gen_medmnist_registry.py"))


def _with_sizes(registry: Registry) -> Registry:
    """The registry with MedMNIST's ``sizes`` maps, whether or not its YAML could hold them."""
    specs = {}
    for spec in registry:
        if spec.name in PATH_SIZES.values() and not spec.sizes:
            spec = replace(spec, sizes=dict(PATH_SIZES))
        specs[spec.name] = spec
    return Registry(specs)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    with serve_directory(folder) as server:
        mini = write_miniatures(folder, server.url, names=NAMES)
        yield server, mini, _with_sizes(mini.registry)


# --- the registry entries -------------------------------------------------------------------

def test_k49_entry_is_true_to_the_facts():
    info = mf.info("k49")
    assert info.splits == {"train": 232365, "test": 38547}
    assert "".join(info.classes) == K49_CHARACTERS and len(info.classes) == 49
    assert info.classes[-1] == "\u309d" and info.classes[0] == "\u3042"
    assert "balanced accuracy" in info.notes
    spec = get_registry().dataset("k49")
    assert {f.name: (f.size, f.md5, f.sha256) for f in spec.files.values()} == {
        "k49-train-imgs.npz": (66117696, "7ac088b20481cf51dcd01ceaab89d821", None),
        "k49-train-labels.npz": (164485, "44a8e1b893f81e63ff38d73cad420f7a", None),
        "k49-test-imgs.npz": (10971201, "d352e201d846ce6b94f42c990966f374", None),
        "k49-test-labels.npz": (27450, "4da6f7a62e67a832d5eb1bd85c5ee448", None),
    }


def test_medmnist_entries_are_the_generated_ones():
    """registry.yaml holds exactly what docs/scripts/gen_medmnist_registry.py prints."""
    gen = _generator()
    generated = load_registry_text(gen["registry_text"](with_sizes=False), "generated")
    builtin = {s.name: s for s in get_registry() if s.name.startswith("medmnist/")}
    assert len(generated) == 48 and set(builtin) == set(generated)
    for name, spec in builtin.items():
        expected = generated[name]
        if spec.sizes:  # once the loader reads integer keys, the maps are in the YAML too
            expected = replace(expected, sizes=spec.sizes)
        assert replace(spec, origin="") == replace(expected, origin=""), name


def test_medmnist_facts_spot_checks():
    chest = get_registry().dataset("medmnist/chestmnist-128")
    assert chest.multi_label and len(chest.classes) == 14 and chest.image_shape == (128, 128)
    assert chest.file("chestmnist_128.npz").md5 == "db107e5590b27930b62dbaf558aebee3"
    assert chest.file("chestmnist_128.npz").size is None and chest.file("chestmnist_128.npz").sha256 is None
    path = get_registry().dataset("medmnist/pathmnist-224")
    assert path.image_shape == (224, 224, 3)
    assert path.canonical_url(path.file("pathmnist_224.npz")) == \
        "https://zenodo.org/records/10519652/files/pathmnist_224.npz?download=1"
    assert mf.info("medmnist/tissuemnist").splits == {"train": 165466, "val": 23640, "test": 47280}
    assert mf.info("medmnist/dermamnist-64").license.startswith("CC BY-NC 4.0")
    assert mf.info("medmnist/octmnist").license == "CC BY 4.0"
    assert mf.info("medmnist/retinamnist").classes == ("0", "1", "2", "3", "4")


def test_medmnist_3d_entries_are_the_generated_ones_and_true_to_the_facts():
    """The six 3D sets at 28 and 64: volumes, the facts' counts and md5, OrganMNIST3D's own label order."""
    gen = _generator()
    generated = load_registry_text(gen["registry_text"](with_sizes=True, three_d=True), "generated")
    builtin = {s.name: s for s in get_registry() if s.name.startswith("medmnist3d/")}
    assert len(generated) == 12 and set(builtin) == set(generated)
    for name, spec in builtin.items():
        assert replace(spec, origin="") == replace(generated[name], origin=""), name
        assert spec.example == "volume" and spec.image_shape in ((28, 28, 28), (64, 64, 64))
    organ = get_registry().dataset("medmnist3d/organmnist3d")
    assert organ.classes[:3] == ("liver", "kidney-right", "kidney-left") and organ.classes[-1] == "pancreas"
    assert get_registry().dataset("medmnist/organamnist").classes[0] == "bladder"  # the 2D order differs
    assert mf.info("medmnist3d/nodulemnist3d").splits == {"train": 1158, "val": 165, "test": 310}
    assert mf.info("medmnist3d/vesselmnist3d").splits["val"] == 191
    synapse = get_registry().dataset("medmnist3d/synapsemnist3d-64")
    assert synapse.file("synapsemnist3d_64.npz").md5 == "43bd14ebf3af9d3dd072446fedc14d5e"
    assert synapse.canonical_url(synapse.file("synapsemnist3d_64.npz")) == \
        "https://zenodo.org/records/10519652/files/synapsemnist3d_64.npz?download=1"
    assert dict(mf.info("medmnist3d/fracturemnist3d").sizes) == {28: "medmnist3d/fracturemnist3d",
                                                                  64: "medmnist3d/fracturemnist3d-64"}


def test_sizes_maps_are_readable_from_yaml():
    specs = load_registry_text(_generator()["registry_text"](with_sizes=True), "generated")
    assert dict(specs["medmnist/pathmnist"].sizes)[224] == "medmnist/pathmnist-224"


# --- K-49 -------------------------------------------------------------------------------------

def test_k49_loads_exactly_and_reports_class_counts(served, cache):
    server, mini, registry = served
    loaded = mf.load("k49", registry=registry, data_dir=cache)
    for split, ds in loaded.items():
        expected = mini.expect("k49", split)
        np.testing.assert_array_equal(ds.images, expected["images"])
        np.testing.assert_array_equal(ds.labels, expected["labels"])
        np.testing.assert_array_equal(ds.index, np.arange(len(ds)))
        assert ds.images.shape[1:] == (28, 28) and ds.labels.dtype == np.int64
        counts = ds.info.report["class_counts"]
        assert counts == np.bincount(ds.labels, minlength=49).tolist() and sum(counts) == len(ds)
    published = np.load(mini.files["k49"]["k49-test-labels.npz"], allow_pickle=False)
    assert published.files == ["arr_0"] and published["arr_0"].shape == (len(loaded["test"]),)


def test_k49_files_are_verified_by_size_and_md5(served, cache):
    server, mini, registry = served
    mf.load("k49", "test", registry=registry, data_dir=cache)
    manifest = json.loads(next((cache / "prepared" / "k49").rglob("manifest.json")).read_text())
    assert {s["name"]: s["verified"] for s in manifest["sources"]} == {
        "k49-test-imgs.npz": "published", "k49-test-labels.npz": "published"}
    assert all("sha256" not in s and "md5" in s for s in manifest["sources"])


# --- MedMNIST ---------------------------------------------------------------------------------

def test_medmnist_three_splits_come_from_one_archive(served, cache):
    server, mini, registry = served
    before = server.count("medmnist/pathmnist.npz")
    loaded = mf.load("medmnist/pathmnist", registry=registry, data_dir=cache)
    assert list(loaded) == ["train", "val", "test"]
    for split, ds in loaded.items():
        expected = mini.expect("medmnist/pathmnist", split)
        assert ds.images.shape == (len(expected["images"]), 28, 28, 3)  # RGB: channels last
        np.testing.assert_array_equal(ds.images, expected["images"])
        np.testing.assert_array_equal(ds.labels, expected["labels"])
    assert server.count("medmnist/pathmnist.npz") - before == 1  # fetched once for three splits
    with zipfile.ZipFile(mini.files["medmnist/pathmnist"]["pathmnist.npz"]) as zf:
        assert sorted(zf.namelist()) == sorted(f"{s}_{k}.npy" for s in ("train", "val", "test")
                                               for k in ("images", "labels"))
    published = np.load(mini.files["medmnist/pathmnist"]["pathmnist.npz"], allow_pickle=False)
    assert published["val_labels"].shape == (len(loaded["val"]), 1)  # (N, 1) as published


def test_md5_only_file_of_unknown_size_is_verified_and_a_wrong_copy_refused(served, cache):
    server, mini, registry = served
    spec = registry.dataset("medmnist/chestmnist")
    file = spec.file("chestmnist.npz")
    assert file.size is None and file.sha256 is None and file.md5
    ds = mf.load("medmnist/chestmnist", "test", registry=registry, data_dir=cache)
    manifest = json.loads(next((cache / "prepared").rglob("manifest.json")).read_text())
    assert manifest["sources"][0]["verified"] == "published"
    np.testing.assert_array_equal(ds.labels, mini.expect("medmnist/chestmnist", "test")["labels"])
    served_file = mini.files["medmnist/chestmnist"]["chestmnist.npz"]
    original = served_file.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    served_file.write_bytes(bytes(damaged))
    try:
        with pytest.raises(DownloadError, match=f"expected md5 {file.md5}; found size .*, md5 "):
            mf.load("medmnist/chestmnist", "val", registry=registry, data_dir=cache / "other")
    finally:
        served_file.write_bytes(original)


def test_chestmnist_labels_are_fourteen_zero_one_columns(served, cache):
    server, mini, registry = served
    ds = mf.load("medmnist/chestmnist", "val", registry=registry, data_dir=cache)
    assert ds.labels.shape == (len(ds), 14) and ds.labels.dtype == np.int64
    assert set(np.unique(ds.labels)) <= {0, 1}
    assert ds.classes[0] == "atelectasis" and ds.classes[-1] == "hernia"
    assert ds.info.report["class_counts"] == ds.labels.sum(axis=0).tolist()
    np.testing.assert_array_equal(ds.labels, mini.expect("medmnist/chestmnist", "val")["labels"])


def test_size_selects_the_entry_of_that_size(served, cache):
    server, mini, registry = served
    for size, name in PATH_SIZES.items():
        ds = mf.load("medmnist/pathmnist", "val", size=size, registry=registry, data_dir=cache)
        assert ds.name == name and ds.images.shape[1:] == (size, size, 3)
        np.testing.assert_array_equal(ds.images, mini.expect(name, "val")["images"])
    every = mf.load("medmnist/pathmnist", size=64, registry=registry, data_dir=cache)
    assert {ds.name for ds in every.values()} == {"medmnist/pathmnist-64"}
    assert mf.load("medmnist/pathmnist-224", "test", size=28, registry=registry,
                   data_dir=cache).name == "medmnist/pathmnist"
    with pytest.raises(UnknownNameError, match=r"has no size 32 \(sizes: 28, 64, 128, 224\)"):
        mf.load("medmnist/pathmnist", "train", size=32, registry=registry, data_dir=cache)
    with pytest.raises(UnknownNameError, match="has no size 64"):
        mf.load("k49", "train", size=64, registry=registry, data_dir=cache)


# --- the builder against hostile and unusual archives -----------------------------------------

SPEC = textwrap.dedent("""\
    version: 1
    datasets:
      toy:
        title: Toy
        homepage: https://example.invalid/
        license: MIT
        citation: Nobody, 2026.
        format: npz
        image_shape: {shape}
        classes: [a, b, c]
        {extra}
        base_url: http://127.0.0.1:1/toy/
        files:
          images.npz: {{size: unknown, md5: 0123456789abcdef0123456789abcdef, sha256: unknown}}
          labels.npz: {{size: unknown, md5: 0123456789abcdef0123456789abcdef, sha256: unknown}}
        splits:
          train: {{num_examples: 4, images: images.npz, labels: labels.npz{keys}}}
    """)


def _spec(shape="[3, 2]", extra="", keys=""):
    return load_registry_text(SPEC.format(shape=shape, extra=extra, keys=keys), "toy.yaml")["toy"]


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _npy(path: Path, array: np.ndarray) -> Path:
    """A bare .npy file under an .npz name."""
    with open(path, "wb") as f:
        np.save(f, array)
    return path


def _build(tmp_path, spec, images: Path, labels: Path, transpose=False):
    split = spec.splits["train"]
    final = tmp_path / "entry"
    with EntryWriter(final) as writer:
        build_npz_split(spec, split, {"images.npz": images, "labels.npz": labels}, writer, transpose=transpose)
        writer.commit({})
    entry = read_entry(final)
    assert entry is not None
    return entry.arrays


IMAGES = np.arange(24, dtype=np.uint8).reshape(4, 3, 2)


def test_plain_arrays_load_and_n_by_1_labels_are_squeezed(tmp_path):
    arrays = _build(tmp_path, _spec(), _npz(tmp_path / "i.npz", arr_0=IMAGES),
                    _npz(tmp_path / "l.npz", arr_0=np.array([[0], [2], [1], [2]], dtype=np.uint8)))
    np.testing.assert_array_equal(arrays["images"], IMAGES)
    assert arrays["labels"].tolist() == [0, 2, 1, 2] and arrays["labels"].dtype == np.int64
    assert arrays["index"].tolist() == [0, 1, 2, 3]


def test_transposed_and_fortran_order_archives(tmp_path):
    spec = _spec(shape="[2, 3]", extra="orientation: transposed")
    published = np.asfortranarray(IMAGES)  # (4, 3, 2): stored with height and width swapped
    labels = _npz(tmp_path / "l.npz", arr_0=np.array([0, 1, 2, 0], dtype=">i4"))
    upright = _build(tmp_path / "a", spec, _npz(tmp_path / "i.npz", arr_0=published), labels, transpose=True)
    np.testing.assert_array_equal(upright["images"], IMAGES.transpose(0, 2, 1))
    _npz(tmp_path / "c.npz", arr_0=IMAGES)
    raw = _build(tmp_path / "b", spec, tmp_path / "c.npz", labels, transpose=False)
    np.testing.assert_array_equal(raw["images"], IMAGES)
    assert upright["labels"].tolist() == [0, 1, 2, 0]


_TRIPPED: list[str] = []


def _trip() -> None:
    _TRIPPED.append("unpickled")


class _Tripwire:
    """Unpickling one of these calls ``_trip``: nothing downloaded may run code."""

    def __reduce__(self):
        return (_trip, ())


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    hostile = tmp_path / "i.npz"
    np.savez(hostile, arr_0=np.array([_Tripwire()] * 4, dtype=object))
    labels = _npz(tmp_path / "l.npz", arr_0=np.zeros(4, np.uint8))
    with pytest.raises(FormatError, match=r"toy \[train\] i.npz \(array 'arr_0'\): holds an array of "
                                          r"Python objects.*allow_pickle=False"):
        _build(tmp_path, _spec(), hostile, labels)
    assert _TRIPPED == []


def test_a_wrong_key_lists_the_keys_present(tmp_path):
    archive = _npz(tmp_path / "i.npz", train_images=IMAGES, train_labels=np.zeros(4, np.uint8))
    with pytest.raises(FormatError, match=r"no array 'arr_0' in the archive; it holds 'train_images', "
                                          r"'train_labels'.*images_key/labels_key"):
        _build(tmp_path, _spec(), archive, archive)


def _lying_npz(path: Path, declared: tuple[int, ...], data: bytes) -> Path:
    """An .npz whose .npy header declares ``declared`` over ``data`` bytes."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False, "shape": declared})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("arr_0.npy", member.getvalue() + data)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _lying_npz(p, (10**9, 3, 2), bytes(24)), r"declares uint8 \(1000000000, 3, 2\).*member holds 24 bytes"),
    (lambda p: _npz(p, arr_0=np.zeros((5, 3, 2), np.uint8)), r"registry says 4 examples, the archive holds 5"),
    (lambda p: _npz(p, arr_0=np.zeros((4, 2, 3), np.uint8)), r"expected uint8 images of shape \(N, 3, 2\)"),
    (lambda p: _npz(p, arr_0=np.zeros((4, 3, 2), np.float32)), r"the .npy header says float32"),
    (lambda p: _npy(p, IMAGES), r"not a NumPy .npz archive \(a zip file\); the file is a single .npy array"),
])
def test_archives_that_lie_are_refused_before_allocating(tmp_path, make, message):
    labels = _npz(tmp_path / "l.npz", arr_0=np.zeros(4, np.uint8))
    with pytest.raises(FormatError, match=message):
        _build(tmp_path, _spec(), make(tmp_path / "i.npz"), labels)


def test_a_member_claiming_more_than_deflate_can_give_is_refused(tmp_path):
    """Header and zip directory agree on 6 MB, from about a hundred compressed bytes."""
    path = _lying_npz(tmp_path / "i.npz", (10**6, 3, 2), bytes(24))
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("arr_0.npy")
        with zf.open(info) as member:
            np.lib.format.read_magic(member)
            np.lib.format.read_array_header_1_0(member)
            header_bytes = member.tell()
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")  # uncompressed size: offset 24 of the central directory entry
    data[central + 24:central + 28] = struct.pack("<I", header_bytes + 6 * 10**6)
    path.write_bytes(bytes(data))
    labels = _npz(tmp_path / "l.npz", arr_0=np.zeros(4, np.uint8))
    with pytest.raises(FormatError, match=r"claims 6,000,\d{3} bytes from \d+ compressed bytes, more than "
                                          "the compression can produce"):
        _build(tmp_path, _spec(), path, labels)


def test_damaged_member_data_fails_its_crc(tmp_path):
    path = _npz(tmp_path / "i.npz", arr_0=IMAGES)  # stored, not compressed: the bytes are visible
    data = bytearray(path.read_bytes())
    start = data.index(bytes(IMAGES.reshape(-1)[:8]))
    data[start + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    labels = _npz(tmp_path / "l.npz", arr_0=np.zeros(4, np.uint8))
    with pytest.raises(FormatError, match="the archive's data is damaged.*CRC"):
        _build(tmp_path, _spec(), path, labels)


@pytest.mark.parametrize("labels, extra, message", [
    (np.array([0, 3, 1, 2], np.uint8), "", r"label 3 at row 1 is outside 0..2 \(3 classes"),
    (np.zeros((4, 2), np.uint8), "", r"expected integer labels of shape \(N,\) or \(N, 1\) with N = 4"),
    (np.zeros(4, np.float64), "", r"the .npy header says float64"),
    (np.array([[0, 1, 1], [1, 0, 2], [0, 0, 0], [1, 1, 1]], np.uint8), "multi_label: true",
     r"multi-label row 1 holds \[1, 0, 2\]; expected only 0 and 1"),
    (np.zeros(4, np.uint8), "multi_label: true", r"shape \(N, 3\) columns of 0/1"),
])
def test_bad_labels_are_refused(tmp_path, labels, extra, message):
    with pytest.raises(FormatError, match=message):
        _build(tmp_path, _spec(extra=extra), _npz(tmp_path / "i.npz", arr_0=IMAGES),
               _npz(tmp_path / "l.npz", arr_0=labels))


def test_multi_label_columns_are_kept(tmp_path):
    columns = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 1]], np.uint8)
    arrays = _build(tmp_path, _spec(extra="multi_label: true"), _npz(tmp_path / "i.npz", arr_0=IMAGES),
                    _npz(tmp_path / "l.npz", arr_0=columns))
    assert arrays["labels"].dtype == np.int64 and arrays["labels"].tolist() == columns.tolist()
