"""affNIST: MATLAB batches read out of zips, upright 40x40 digits, bounded memory, unverified centered files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import FormatError, UnverifiedFileError
from mnistfamily.fetch import UnverifiedFileWarning
from mnistfamily.prepare.cache import EntryWriter
from mnistfamily.prepare.mat_split import build_mat_split, natural_key
from mnistfamily.registry import Registry, get_registry
from mnistfamily.testing import serve_directory, write_miniatures
from mnistfamily.testing.mini_mat import mat_bytes, mat_contents, struct_fields, zip_bytes
from mnistfamily.testing.miniatures import _described

NAMES = ["affnist/transformed", "affnist/centered"]
REGISTRY = get_registry()


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url, names=NAMES, source_registry=REGISTRY)


def _entry(cache: Path, name: str, split: str) -> Path:
    manifests = [p for p in (cache / "prepared" / name).glob(f"{split}@*/manifest.json")]
    assert len(manifests) == 1
    return manifests[0].parent


def _one_dataset(spec, contents: dict, folder: Path, **splits) -> Registry:
    """A registry holding ``spec`` with the given files (written to ``folder``) and splits."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, (data, payload) in contents.items():
        (folder / name).write_bytes(data)
        files[name] = _described(spec.file(name), data, payload)
    return Registry({spec.name: replace(spec, files=files, splits=splits or spec.splits)})


def test_transformed_splits_load_exactly_with_their_transform_columns(served, cache):
    _, mini = served
    loaded = mf.load("affnist/transformed", registry=mini.registry, data_dir=cache)
    assert set(loaded) == {"train", "validation", "test"}
    for split, ds in loaded.items():
        expected = mini.expect("affnist/transformed", split)
        assert ds.images.shape[1:] == (40, 40) and ds.images.dtype == np.uint8
        np.testing.assert_array_equal(ds.images, expected["images"])
        np.testing.assert_array_equal(ds.labels, expected["labels"])
        np.testing.assert_array_equal(ds.index, np.arange(len(ds)))
        assert ds.classes == [str(d) for d in range(10)]
        report = ds.info.report
        assert report["members"] == 12  # the miniature's batches, as 1.mat ... 12.mat
        assert report["class_counts"] == np.bincount(expected["labels"], minlength=10).tolist()
        columns = expected["metadata"]
        assert report["metadata_columns"] == list(columns)
        assert list(ds.metadata) == list(columns)  # exposed on the Dataset too
        entry = _entry(cache, "affnist/transformed", split)
        for column, values in columns.items():
            stored = np.load(entry / f"meta.{column}.npy")
            assert stored.dtype == np.float64
            np.testing.assert_array_equal(stored, values)


def test_batches_are_read_in_natural_numeric_order(served, cache):
    _, mini = served
    with zipfile.ZipFile(mini.files["affnist/transformed"]["test_batches.zip"]) as zf:
        stored = [n for n in zf.namelist() if n.startswith("test_batches/") and n.endswith(".mat")]
    assert stored[:4] == ["test_batches/1.mat", "test_batches/10.mat", "test_batches/11.mat", "test_batches/12.mat"]
    ds = mf.load("affnist/transformed", "test", registry=mini.registry, data_dir=cache)
    np.testing.assert_array_equal(ds.images, mini.expect("affnist/transformed", "test")["images"])
    assert sorted(["10.mat", "9.mat", "32.mat", "1.mat"], key=natural_key) == ["1.mat", "9.mat", "10.mat", "32.mat"]
    assert sorted(["b/2.mat", "a/10.mat", "a/2.mat"], key=natural_key) == ["a/2.mat", "a/10.mat", "b/2.mat"]


def test_centered_files_have_no_checksum_and_need_the_opt_in(served, cache):
    _, mini = served
    spec = REGISTRY.dataset("affnist/centered")
    assert all(f.size is None and not f.verifiable for f in spec.files.values())
    with pytest.raises(UnverifiedFileError, match="no checksum for training.mat.zip.*allow_unverified=True"):
        mf.load("affnist/centered", "train", registry=mini.registry, data_dir=cache)
    with pytest.warns(UnverifiedFileWarning, match="without verification"):
        ds = mf.load("affnist/centered", "train", registry=mini.registry, data_dir=cache, allow_unverified=True)
    np.testing.assert_array_equal(ds.images, mini.expect("affnist/centered", "train")["images"])
    assert ds.info.report["members"] == 1
    sources = json.loads((_entry(cache, "affnist/centered", "train") / "manifest.json").read_text())["sources"]
    assert [s["verified"] for s in sources] == ["unverified"]


def test_centered_digits_load_as_upright_mnist_digits_in_a_six_pixel_border(tmp_path, cache):
    """Real MNIST digits, padded by 6 pixels and stored as affNIST stores them, load back upright.

    affNIST keeps one image per column of ``image`` (1600 x N), each column being the image's
    40 rows one after the other (TFDS reads them so). Built that way from real digits, the
    centered set must give back MNIST's digits unchanged inside a blank border, and not
    their transposes.
    """
    sample = mf.load("mnist/sample", "test")
    padded = np.pad(np.asarray(sample.images), ((0, 0), (6, 6), (6, 6)))
    assert padded.shape[1:] == (40, 40)
    struct = struct_fields(padded, np.asarray(sample.labels), 10, None)
    assert struct["image"].shape == (1600, len(sample))
    archive = zip_bytes([("test.mat", mat_bytes({"affNISTdata": struct}))])
    spec = REGISTRY.dataset("affnist/centered")
    registry = _one_dataset(spec, {"test.mat.zip": (archive, None)}, tmp_path / "src",
                            test=replace(spec.splits["test"], num_examples=len(sample)))
    with pytest.warns(UnverifiedFileWarning):
        ds = mf.load("affnist/centered", "test", registry=registry, data_dir=cache, source=tmp_path / "src",
                     allow_unverified=True)
    np.testing.assert_array_equal(ds.images, padded)
    np.testing.assert_array_equal(ds.images[:, 6:34, 6:34], sample.images)
    assert not ds.images[:, :6].any() and not ds.images[:, 34:].any()
    assert not ds.images[:, :, :6].any() and not ds.images[:, :, 34:].any()
    np.testing.assert_array_equal(ds.labels, sample.labels)
    reference = padded.astype(float).mean(0).ravel()
    transposed = padded.transpose(0, 2, 1).astype(float).mean(0).ravel()
    loaded = np.asarray(ds.images, dtype=float).mean(0).ravel()
    assert np.corrcoef(loaded, reference)[0, 1] > 0.999 > np.corrcoef(loaded, transposed)[0, 1]


def test_files_without_the_transform_field_load_without_its_columns(tmp_path, cache):
    spec = REGISTRY.dataset("affnist/transformed")
    splits = {"test": replace(spec.splits["test"], num_examples=40)}
    contents, expected = mat_contents(spec, splits, np.random.default_rng(1), batches=3, with_transform=False)
    registry = _one_dataset(spec, contents, tmp_path / "src", **splits)
    ds = mf.load("affnist/transformed", "test", registry=registry, data_dir=cache, source=tmp_path / "src")
    np.testing.assert_array_equal(ds.images, expected["test"]["images"])
    assert "metadata_columns" not in ds.info.report
    assert not list(_entry(cache, "affnist/transformed", "test").glob("meta.*"))


def test_an_unknown_count_is_found_by_a_first_pass(tmp_path, cache):
    spec = REGISTRY.dataset("affnist/transformed")
    counted = {"validation": replace(spec.splits["validation"], num_examples=37)}
    contents, expected = mat_contents(spec, counted, np.random.default_rng(2), batches=5)
    registry = _one_dataset(spec, contents, tmp_path / "src",
                            validation=replace(spec.splits["validation"], num_examples=None))
    assert mf.info("affnist/transformed", registry=registry).splits == {"validation": None}
    ds = mf.load("affnist/transformed", "validation", registry=registry, data_dir=cache, source=tmp_path / "src")
    assert len(ds) == 37
    np.testing.assert_array_equal(ds.images, expected["validation"]["images"])


def test_preparing_holds_about_two_batches_whatever_the_number_of_batches(tmp_path):
    from scipy.io import loadmat  # imported before tracing: the import is not the builder's memory

    del loadmat
    spec = REGISTRY.dataset("affnist/transformed")
    batches, per_batch = 24, 500
    split = replace(spec.splits["train"], num_examples=batches * per_batch)
    contents, expected = mat_contents(spec, {"train": split}, np.random.default_rng(3), batches=batches)
    path = tmp_path / "training_batches.zip"
    path.write_bytes(contents["training_batches.zip"][0])
    with zipfile.ZipFile(path) as zf:
        member = max(i.file_size for i in zf.infolist() if i.filename.startswith("training_batches/"))
    total = batches * per_batch * 1600
    for count in (split.num_examples, None):  # known, and counted by a first pass
        tracemalloc.start()
        try:
            with EntryWriter(tmp_path / f"entry-{count}") as writer:
                build_mat_split(spec, replace(split, num_examples=count), {"training_batches.zip": path}, writer)
                _, peak = tracemalloc.get_traced_memory()
                images = np.load(writer.tmp / "images.npy", mmap_mode="r")
                np.testing.assert_array_equal(images, expected["train"]["images"])
                del images
        finally:
            tracemalloc.stop()
        assert peak < 2.5 * member, f"peak {peak:,} bytes for {member:,}-byte batches"
        assert peak < total / 8


def test_a_warm_load_does_not_import_scipy(served, cache):
    _, mini = served
    mf.load("affnist/transformed", "test", registry=mini.registry, data_dir=cache)
    code = ("import sys, mnistfamily as mf\n"
            "from mnistfamily.registry import Registry\n"
            f"registry = Registry.from_files([{str(mini.registry_path)!r}])\n"
            f"ds = mf.load('affnist/transformed', 'test', registry=registry, data_dir={str(cache)!r}, "
            "download=False)\n"
            "print(len(ds), 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(mini.expect("affnist/transformed", "test")["labels"])), "False"]


def _broken(tmp_path, members, *, num_examples=4, pattern="test_batches/*.mat", raw=None):
    spec = REGISTRY.dataset("affnist/transformed")
    data = raw if raw is not None else zip_bytes(members, resource_fork=False)
    split = replace(spec.splits["test"], num_examples=num_examples,
                    options={**spec.splits["test"].options, "members": pattern})
    return _one_dataset(spec, {"test_batches.zip": (data, None)}, tmp_path / "src", test=split)


#: the 128-byte header of a MATLAB v7.3 file (an HDF5 file underneath)
V73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" ") + bytes(8) + b"\x00\x02" + b"IM"


def _batch(n=4, *, transform_rows=None, **fields):
    images = np.arange(n * 1600, dtype=np.uint8).reshape(n, 40, 40)
    struct = struct_fields(images, np.zeros(n, np.int64), 10,
                           None if transform_rows is None else np.zeros((n, transform_rows)))
    struct.update(fields)
    return struct


@pytest.mark.parametrize("members, options, message", [
    ([("test_batches/1.mat", b"no MATLAB here")], {}, r"'test_batches/1.mat': not a readable MATLAB file"),
    ([("test_batches/1.mat", mat_bytes({"other": _batch()}))], {}, r"holds no variable 'affNISTdata'"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": np.zeros((3, 3))}))], {}, r"should be a MATLAB struct"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": {"label_int": np.zeros((1, 4))}}))], {},
     r"the struct has no field 'image'"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(image=np.zeros((784, 4), np.uint8))}))], {},
     r"image should be 1600 x N .* found shape \(784, 4\)"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(image=np.full((1600, 4), 300.0))}))], {},
     r"holds values from 300.0 to 300.0; expected whole grey levels 0-255"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(label_int=np.array([[0, 1, 10, 2]], np.uint8))}))], {},
     r"label_int holds 10 at column 2; expected a class 0..9"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(label_int=np.full((1, 4), 2.5))}))], {},
     r"label_int holds 2.5 at column 0"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(n=3)}))], {},
     r"hold 3 examples; the registry expects 4"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(n=3)})),
      ("test_batches/2.mat", mat_bytes({"affNISTdata": _batch(n=3)}))], {},
     r"hold more than the 4 examples the registry expects \(at least 6\)"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(n=2, transform_rows=7)})),
      ("test_batches/2.mat", mat_bytes({"affNISTdata": _batch(n=2)}))], {},
     r"the first member has 7 rows of human_readable_transform, member 'test_batches/2.mat' has none"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(transform_rows=100)}))], {},
     r"has 100 rows per image; more than 64"),
    ([("other/1.mat", mat_bytes({"affNISTdata": _batch()}))], {}, r"no member matches 'test_batches/\*.mat' "
                                                                    r"\(the archive holds 'other/1.mat'\)"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch()}))], {"pattern": "test_batches/*.MAT"},
     r"no member matches"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch()}))], {"raw": b"PK but not a zip"},
     r"not a valid zip archive"),
    ([("test_batches/1.mat", V73_HEADER + bytes(512))], {}, r"a MATLAB v7.3 \(HDF5\) file"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": {"image": np.zeros((1600, 0), np.uint8),
                                                      "label_int": np.zeros((1, 0), np.uint8)}}))],
     {"num_examples": None},
     r"hold no example"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": np.zeros((1, 2), [("image", "O"), ("label_int", "O")])}))],
     {}, r"should be a single struct; found a struct array of shape \(1, 2\)"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(image=np.full((1600, 4), 0.0, object))}))], {},
     r"affNISTdata.image holds object, not numbers"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(label_int=np.zeros((2, 2)))}))], {},
     r"label_int should hold one label per image \(1 x 4\); found shape \(2, 2\)"),
    ([("test_batches/1.mat", mat_bytes({"affNISTdata": _batch(human_readable_transform=np.zeros((7, 3)))}))], {},
     r"human_readable_transform should be a numeric K x 4 matrix .* found float64 \(7, 3\)"),
])
def test_malformed_archives_are_clear_errors(tmp_path, cache, members, options, message):
    registry = _broken(tmp_path, members, **options)
    with pytest.raises(FormatError, match=message):
        mf.load("affnist/transformed", "test", registry=registry, data_dir=cache, source=tmp_path / "src")
    assert not list((cache / "prepared").rglob("manifest.json"))  # nothing half-written


def test_two_members_of_one_name_are_refused(tmp_path, cache):
    data = mat_bytes({"affNISTdata": _batch(n=2)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("test_batches/1.mat", data)
        zf.writestr("test_batches/1.mat", data)
    registry = _broken(tmp_path, [], raw=buffer.getvalue())
    with pytest.raises(FormatError, match="two members named 'test_batches/1.mat'"):
        mf.load("affnist/transformed", "test", registry=registry, data_dir=cache, source=tmp_path / "src")


def test_a_member_declaring_more_than_the_split_could_hold_is_not_read(tmp_path, cache):
    data = mat_bytes({"affNISTdata": _batch(n=4)}) + b"\0" * (1 << 20) * 2
    registry = _broken(tmp_path, [("test_batches/1.mat", data)], num_examples=1)
    with pytest.raises(FormatError, match=r"declares 2,\d{3},\d{3} bytes, more than the whole split could take"):
        mf.load("affnist/transformed", "test", registry=registry, data_dir=cache, source=tmp_path / "src")


def test_only_two_dimensional_uint8_images_are_read(tmp_path):
    spec = replace(REGISTRY.dataset("affnist/transformed"), image_shape=(40, 40, 1))
    with EntryWriter(tmp_path / "entry") as writer, pytest.raises(FormatError, match=r"reads uint8 \(H, W\) images"):
        build_mat_split(spec, spec.splits["test"], {"test_batches.zip": tmp_path / "absent.zip"}, writer)


def test_without_scipy_preparing_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.io", None)  # any `from scipy.io import ...` now fails
    spec = REGISTRY.dataset("affnist/transformed")
    split = replace(spec.splits["test"], num_examples=4)
    path = tmp_path / "test_batches.zip"
    path.write_bytes(zip_bytes([("test_batches/1.mat", b"anything")]))
    with EntryWriter(tmp_path / "entry") as writer, pytest.raises(ImportError, match=r"needs scipy.*pip install scipy"):
        build_mat_split(spec, split, {"test_batches.zip": path}, writer)


def test_registry_entries_match_the_facts():
    transformed = mf.info("affnist/transformed", registry=REGISTRY)
    assert transformed.splits == {"train": 1_600_000, "validation": 320_000, "test": 320_000}
    assert transformed.image_shape == (40, 40) and transformed.classes == tuple(str(d) for d in range(10))
    sizes = {f["name"]: f["size"] for f in transformed.files}
    assert sizes == {"training_batches.zip": 608_848_875, "validation_batches.zip": 121_890_491,
                     "test_batches.zip": 121_959_509}
    centered = mf.info("affnist/centered", registry=REGISTRY)
    assert centered.splits == {"train": 50_000, "validation": 10_000, "test": 10_000}
    assert all(set(f) == {"name"} for f in centered.files)  # no size, no hash: unverified
    for info in (transformed, centered):
        assert info.license.startswith("unknown")
        assert "Tijmen Tieleman" in info.citation
        assert all(u.startswith("https://www.cs.toronto.edu/~tijmen/affNIST/32x/") for urls in info.urls.values()
                   for u in urls)
