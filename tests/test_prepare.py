"""The prepared cache: atomic entries, damage detected and rebuilt, a warm path that stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.prepare import entry_for
from mnistfamily.registry import get_registry
from mnistfamily.testing import serve_directory, write_miniatures


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server, write_miniatures(folder, server.url, names=["qmnist"])


def _entry(mini, cache, split="test10k"):
    spec = mini.registry.dataset("qmnist")
    return entry_for(cache, spec, spec.splits[split])


def test_entry_holds_arrays_and_a_manifest_with_provenance(served, cache):
    _, mini = served
    mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    entry = _entry(mini, cache)
    manifest = json.loads((entry / "manifest.json").read_text())
    assert set(manifest["arrays"]) == {"images", "labels", "index"} | {
        f"meta.{c}" for c in mini.registry.dataset("qmnist").label_columns}
    assert manifest["library_version"] == mf.__version__
    assert {s["name"] for s in manifest["sources"]} == {"qmnist-test-images-idx3-ubyte.gz",
                                                          "qmnist-test-labels-idx2-int.gz"}
    assert all(s["verified"] == "published" and len(s["md5"]) == 32 for s in manifest["sources"])
    # a source records the sha256 exactly when the registry (and so its miniature) knows one
    spec = mini.registry.dataset("qmnist")
    assert [("sha256" in s) for s in manifest["sources"]] == [spec.file(s["name"]).sha256 is not None
                                                              for s in manifest["sources"]]
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".tmp-")]


def test_rows_select_the_published_range_and_index_records_it(served, cache):
    _, mini = served
    whole = mf.load("qmnist", "test", registry=mini.registry, data_dir=cache)
    lost = mf.load("qmnist", "test50k", registry=mini.registry, data_dir=cache)
    start, stop = mini.registry.dataset("qmnist").splits["test50k"].rows
    np.testing.assert_array_equal(lost.images, whole.images[start:stop])
    np.testing.assert_array_equal(lost.index, np.arange(start, stop))
    np.testing.assert_array_equal(lost.metadata["writer_id"], whole.metadata["writer_id"][start:stop])


def _edit_manifest(entry, change):
    manifest = json.loads((entry / "manifest.json").read_text())
    change(manifest)
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _rewrite_header(npy, change):
    """Give an .npy file another header, keeping its data bytes as they are."""
    data = npy.read_bytes()
    assert data[6:8] == b"\x01\x00"  # format 1.0: a 2-byte header length after the magic
    offset = 10 + int.from_bytes(data[8:10], "little")
    npy.write_bytes(change(data[:offset]) + data[offset:])


def _fortran_header(header):
    """The same header with fortran_order True: same length, so the file's size does not change."""
    assert b"'fortran_order': False" in header
    return header.replace(b"'fortran_order': False", b"'fortran_order': True ")


def _longer_header(header):
    """A valid header 64 bytes longer, saying the same dtype and shape: the data starts later."""
    return header[:8] + (int.from_bytes(header[8:10], "little") + 64).to_bytes(2, "little") + \
        header[10:-1] + b" " * 64 + b"\n"


DAMAGES = {
    "truncate": lambda e: (e / "images.npy").write_bytes((e / "images.npy").read_bytes()[:-50]),
    "delete-array": lambda e: (e / "images.npy").unlink(),
    "bad-manifest": lambda e: (e / "manifest.json").write_text("{not json"),
    "wrong-shape": lambda e: np.save(e / "images.npy", np.zeros((3, 28, 28), np.uint8)),
    # a manifest that is missing, or is JSON but not one we wrote
    "no-manifest": lambda e: (e / "manifest.json").unlink(),
    "arrays-null": lambda e: _edit_manifest(e, lambda m: m.update(arrays=None)),
    "manifest-is-a-list": lambda e: (e / "manifest.json").write_text("[1, 2, 3]"),
    "shape-not-a-list": lambda e: _edit_manifest(e, lambda m: m["arrays"]["images"].update(shape="10x28x28")),
    "dtype-not-a-dtype": lambda e: _edit_manifest(e, lambda m: m["arrays"]["images"].update(dtype="not a dtype")),
    "file-outside-the-entry": lambda e: _edit_manifest(e, lambda m: m["arrays"]["images"].update(
        file="../../../../images.npy")),
    "report-not-an-object": lambda e: _edit_manifest(e, lambda m: m.update(report=[1])),
    "column-missing": lambda e: _edit_manifest(e, lambda m: m["arrays"].pop("meta.writer_id")),
    "deep-json": lambda e: (e / "manifest.json").write_text("[" * 100_000 + "]" * 100_000),
    # headers that disagree with the manifest while the file keeps its size
    "fortran-order": lambda e: _rewrite_header(e / "images.npy", _fortran_header),
    "longer-header": lambda e: _rewrite_header(e / "images.npy", _longer_header),
    "longer-header-same-size": lambda e: (_rewrite_header(e / "images.npy", _longer_header),
                                          (e / "images.npy").write_bytes((e / "images.npy").read_bytes()[:-64])),
    "byte-order": lambda e: _rewrite_header(e / "labels.npy", lambda h: h.replace(b"'<i8'", b"'>i8'")),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_entry_is_detected_and_rebuilt(served, cache, damage):
    server, mini = served
    expected = mini.expect("qmnist", "test10k")
    mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    entry = _entry(mini, cache)
    DAMAGES[damage](entry)
    requests = len(server.requests)
    ds = mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    np.testing.assert_array_equal(ds.images, expected["images"])
    np.testing.assert_array_equal(ds.labels, expected["labels"])
    np.testing.assert_array_equal(ds.metadata["writer_id"], expected["metadata"]["writer_id"])
    assert ds.images.flags.c_contiguous
    assert len(server.requests) == requests  # rebuilt from the verified download, not fetched again
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name, f"{entry.name}.lock"]  # nothing left
    assert mf.verify("qmnist", registry=mini.registry, data_dir=cache) == []


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_verify_repair_never_crashes_on_a_damaged_entry(served, cache, damage):
    _, mini = served
    mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    entry = _entry(mini, cache)
    DAMAGES[damage](entry)
    problems = mf.verify("qmnist", registry=mini.registry, data_dir=cache)
    assert [(p.kind, p.path) for p in problems] == [("prepared", str(entry))]
    repaired = mf.verify("qmnist", registry=mini.registry, data_dir=cache, repair=True)
    assert [p.repair for p in repaired] == [f"deleted and rebuilt: {entry} is verified"]
    assert mf.verify("qmnist", registry=mini.registry, data_dir=cache) == []


def test_a_damaged_entry_holding_files_we_never_write_is_kept_and_named(served, cache):
    from mnistfamily.errors import CacheError

    _, mini = served
    mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    entry = _entry(mini, cache)
    (entry / "manifest.json").unlink()
    (entry / "notes.txt").write_text("my notes")
    with pytest.raises(CacheError, match=r"its folder holds what mnistfamily never writes there \(notes\.txt\)"):
        mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    assert (entry / "notes.txt").read_text() == "my notes"
    problems = mf.verify("qmnist", registry=mini.registry, data_dir=cache, repair=True)
    assert len(problems) == 1 and problems[0].repair.startswith("not repaired: ")
    assert "notes.txt" in problems[0].repair and (entry / "notes.txt").exists()


def test_leftover_temporary_folders_are_never_read(served, cache):
    from mnistfamily import safe_write

    _, mini = served
    entry = _entry(mini, cache)
    entry.parent.mkdir(parents=True)
    half = safe_write.TempArea(entry.parent, entry.name)  # what a killed preparation leaves
    (half.path / entry.name).mkdir()
    (half.path / entry.name / "images.npy").write_bytes(b"half written")
    ds = mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    np.testing.assert_array_equal(ds.images, mini.expect("qmnist", "test10k")["images"])
    assert not half.path.exists()


def test_a_changed_registry_entry_gets_a_new_cache_key(served, cache):
    _, mini = served
    from dataclasses import replace

    from types import MappingProxyType

    spec = mini.registry.dataset("qmnist")
    name = "qmnist-train-images-idx3-ubyte.gz"
    files = {**spec.files, name: replace(spec.files[name], sha256="0" * 64)}
    new_file = replace(spec, files=MappingProxyType(files))
    renamed = replace(spec, classes=tuple(f"digit {c}" for c in spec.classes))
    split = spec.splits["train"]
    assert entry_for(cache, spec, split) != entry_for(cache, new_file, split)
    assert entry_for(cache, spec, split) != entry_for(cache, spec, replace(split, options={"rows": (0, 5)}, num_examples=5))
    # class names are applied at load time: renaming them reuses the decoded arrays
    assert entry_for(cache, spec, split) == entry_for(cache, renamed, split)


def test_verify_finds_and_repairs_damage(served, cache):
    _, mini = served
    mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    assert mf.verify("qmnist", registry=mini.registry, data_dir=cache) == []
    images = _entry(mini, cache) / "images.npy"
    data = bytearray(images.read_bytes())
    data[-1] ^= 0xFF  # same size: only a rehash can see it
    images.write_bytes(bytes(data))
    problems = mf.verify("qmnist", registry=mini.registry, data_dir=cache)
    assert len(problems) == 1 and "images.npy" in problems[0]
    download = cache / "downloads" / "qmnist" / "qmnist-test-labels-idx2-int.gz"
    download.write_bytes(b"junk")
    assert len(mf.verify("qmnist", registry=mini.registry, data_dir=cache, repair=True)) == 2
    assert mf.verify("qmnist", registry=mini.registry, data_dir=cache) == []
    ds = mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    np.testing.assert_array_equal(ds.images, mini.expect("qmnist", "test10k")["images"])


def test_nothing_is_created_at_import_or_by_listing(tmp_path):
    home = tmp_path / "never"
    env = {**os.environ, "MNISTFAMILY_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", "import mnistfamily as mf; mf.datasets(); mf.info('qmnist')"],
                   check=True, env=env)
    assert not home.exists()


def test_warm_load_imports_no_heavy_module(tmp_path):
    code = textwrap.dedent("""
        import sys, mnistfamily as mf
        ds = mf.load("mnist/sample", "test")
        ds.images[0].sum()
        heavy = sorted({"fsspec", "aiohttp", "scipy", "pyarrow", "tqdm", "filelock", "PIL", "yaml", "logging",
                        # the cold path's own stages: fetching, building an entry, decoding a format
                        "mnistfamily.fetch", "mnistfamily.build", "mnistfamily.prepare.cache",
                        "mnistfamily.formats.idx"} & set(sys.modules))
        print(",".join(heavy))
    """)
    env = {**os.environ, "MNISTFAMILY_HOME": str(tmp_path / "c"), "PYTHONPATH": os.pathsep.join(sys.path)}
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "filelock" in cold.stdout  # the cold load did prepare under a lock
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert warm.stdout.strip() == ""


def test_warm_load_of_a_derived_entry_imports_no_heavy_module(tmp_path):
    """A derived entry's warm load reads its prepared entry: neither its transforms nor logging are imported."""
    registry = tmp_path / "derived.yaml"
    registry.write_text(textwrap.dedent("""
        version: 1
        datasets:
          sample-inverted:
            base: mnist/sample
            title: the sample, inverted
            transforms: [{name: Invert}]
    """))
    code = textwrap.dedent(f"""
        import sys, mnistfamily as mf
        ds = mf.load("sample-inverted", "test", registry={str(registry)!r})
        ds.images[0].sum()
        heavy = sorted({{"fsspec", "scipy", "pyarrow", "tqdm", "filelock", "PIL", "yaml", "logging",
                        "mnistfamily.transforms", "mnistfamily.prepare.cache"}} & set(sys.modules))
        print(",".join(heavy))
    """)
    env = {**os.environ, "MNISTFAMILY_HOME": str(tmp_path / "c"), "PYTHONPATH": os.pathsep.join(sys.path)}
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "mnistfamily.transforms" in cold.stdout  # the cold load ran the chain
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert warm.stdout.strip() == ""


def test_import_does_not_load_numpy(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", "import sys, mnistfamily; print('numpy' in sys.modules)"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_builtin_dataset_has_a_builder():
    from mnistfamily.prepare import builder

    for spec in get_registry():
        if spec.base is None:  # derived entries are built from their base, not decoded
            assert callable(builder(spec.format))


def test_streamed_arrays_carry_the_crc_of_the_file_as_written(tmp_path):
    from mnistfamily.prepare.cache import EntryWriter, _crc32, read_entry, verify_entry

    images = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.int64)
    final = tmp_path / "entry"
    with EntryWriter(final) as writer:
        with writer.stream("images", np.uint8, images.shape) as out:
            out.write(images[:2])  # in pieces, as a decoder delivers them
            out.write(images[2:])
        writer.save("labels", labels)
        writer.commit({})
    manifest = json.loads((final / "manifest.json").read_text())
    for name in ("images", "labels"):
        assert manifest["arrays"][name]["crc32"] == _crc32(final / f"{name}.npy")
    entry = read_entry(final)
    assert entry is not None
    np.testing.assert_array_equal(entry.arrays["images"], images)
    np.testing.assert_array_equal(entry.arrays["labels"], labels)
    assert verify_entry(final) == []


def test_a_stream_that_stops_early_or_overflows_never_commits(tmp_path):
    from mnistfamily.errors import CacheError
    from mnistfamily.prepare.cache import EntryWriter

    final = tmp_path / "entry"
    with pytest.raises(CacheError, match="stopped early"):
        with EntryWriter(final) as writer:
            with writer.stream("images", np.uint8, (4, 2)) as out:
                out.write(b"\x00" * 7)
            writer.commit({})
    with pytest.raises(CacheError, match="9 bytes written for an array of 8"):
        with EntryWriter(final) as writer:
            with writer.stream("images", np.uint8, (4, 2)) as out:
                out.write(b"\x00" * 9)
    with pytest.raises(CacheError, match="did not finish"):
        with EntryWriter(final) as writer:
            writer.stream("images", np.uint8, (4, 2)).write(b"\x00" * 8)
            writer.commit({})
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left behind either


def test_a_full_disk_while_preparing_is_a_clear_error_and_leaves_nothing(served, cache, monkeypatch):
    import errno

    from mnistfamily.errors import CacheError
    from mnistfamily.prepare import cache as cache_module

    _, mini = served
    mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)  # a previous entry, kept intact
    before = _entry(mini, cache)
    manifest_before = (before / "manifest.json").read_bytes()

    real_write = cache_module.ArrayStream.write

    def full(self, data):
        if self.written > 0:  # the second chunk of any array finds the disk full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        real_write(self, data)

    monkeypatch.setattr(cache_module.ArrayStream, "write", full)
    monkeypatch.setattr("mnistfamily.prepare.idx_split._CHUNK_BYTES", 784)  # one image per chunk
    with pytest.raises(CacheError, match=r"cannot write into .*\(No space left on device\)") as caught:
        mf.load("qmnist", "test50k", registry=mini.registry, data_dir=cache)
    message = str(caught.value)
    assert "qmnist [test50k]" in message and "No space left on device" in message
    assert "free some space" in message and "data_dir=" in message
    leftovers = [p.name for p in before.parent.iterdir() if p.name.startswith((".tmp-", ".trash-", ".mnistfamily-tmp-"))]
    assert leftovers == []
    assert (before / "manifest.json").read_bytes() == manifest_before
    assert cache_module.verify_entry(before) == []


def test_what_killed_preparations_left_is_removed_by_the_next_one(served, cache):
    from mnistfamily import safe_write

    _, mini = served
    final = _entry(mini, cache)
    final.parent.mkdir(parents=True)
    dead = safe_write.TempArea(final.parent, final.name)  # a killed build of this entry: ours, by its marker
    (dead.path / final.name).mkdir()
    (dead.path / final.name / "images.npy").write_bytes(b"\0" * 100)
    other = safe_write.TempArea(final.parent, "test@0123456789abcdef")  # another entry's: not ours to judge
    # names that only look like temporary folders: a user's, never deleted (nor read)
    look_alikes = [final.with_name(f".tmp-{final.name}-deadbeef"), final.with_name(f".trash-{final.name}-deadbeef"),
                   final.with_name(f".mnistfamily-tmp-{'0' * 32}")]
    for folder in look_alikes:
        folder.mkdir()
        (folder / "thesis.tex").write_text("years of work")
    mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    assert not dead.path.exists()
    assert other.path.exists()
    assert all((folder / "thesis.tex").read_text() == "years of work" for folder in look_alikes)


def _with_user_datasets(mini, names):
    """The miniature registry plus user datasets called ``names``: copies of qmnist under other names."""
    from dataclasses import replace

    from mnistfamily.registry import Registry

    spec = mini.registry.dataset("qmnist")
    return Registry({"qmnist": spec, **{name: replace(spec, name=name) for name in names}})


def test_a_user_dataset_named_like_an_entry_does_not_break_the_builtin_one(served, cache):
    _, mini = served
    expected = mini.expect("qmnist", "test10k")
    key = _entry(mini, cache).name[-16:]  # the key of qmnist [test10k]'s entry
    # dataset names that read like "<split>-<key>" entries of qmnist: the first is the exact case
    names = [f"qmnist/test10k-{key}", "qmnist/test10k-extra"]
    registry = _with_user_datasets(mini, names)
    for name in names:  # the user's datasets first, so their folders are there before qmnist's entry
        mf.load(name, "test10k", registry=registry, data_dir=cache)
    ds = mf.load("qmnist", "test10k", registry=registry, data_dir=cache)
    np.testing.assert_array_equal(ds.images, expected["images"])
    assert mf.verify("qmnist", registry=registry, data_dir=cache) == []  # their folders are not qmnist's entries
    assert mf.verify(registry=registry, data_dir=cache, repair=True) == []
    for name in [*names, "qmnist"]:
        ds = mf.load(name, "test10k", registry=registry, data_dir=cache, download=False)
        np.testing.assert_array_equal(ds.images, expected["images"])
    folders = {p.name for p in (cache / "prepared" / "qmnist").iterdir() if p.is_dir()}
    assert folders == {f"test10k-{key}", "test10k-extra", _entry(mini, cache).name}


def test_entries_of_an_earlier_layout_are_ignored_and_kept(served, cache):
    _, mini = served
    entry = _entry(mini, cache)
    old = entry.parent / f"test10k-{'0123456789abcdef'}"  # how entries were named before: never deleted
    old.mkdir(parents=True)
    (old / "manifest.json").write_text('{"arrays": null}')
    (old / "images.npy").write_bytes(b"an older version's arrays")
    ds = mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    np.testing.assert_array_equal(ds.images, mini.expect("qmnist", "test10k")["images"])
    assert mf.verify("qmnist", registry=mini.registry, data_dir=cache) == []
    assert mf.verify("qmnist", registry=mini.registry, data_dir=cache, repair=True) == []
    assert (old / "images.npy").read_bytes() == b"an older version's arrays"


def test_a_process_waiting_for_a_preparation_gets_an_error_naming_the_holder(served, cache, monkeypatch):
    import threading

    from mnistfamily.errors import LockTimeoutError

    _, mini = served
    entry = _entry(mini, cache)
    entry.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from mnistfamily.safe_write import locked
            with locked(Path({str(entry)!r}), "preparing qmnist [test10k] (a test holding the lock)"):
                print("held", flush=True)
                time.sleep(60)
        """)], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("MNISTFAMILY_LOCK_TIMEOUT", "0.5")
        outcome: list[BaseException | None] = []

        def load():
            try:
                mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                outcome.append(exc)

        waiter = threading.Thread(target=load, daemon=True)
        waiter.start()
        waiter.join(30)
        assert outcome, "the load was still waiting for the lock after 30 s"
        error = outcome[0]
        assert isinstance(error, LockTimeoutError), error
        message = str(error)
        assert f"process {holder.pid} on host" in message and "a test holding the lock" in message
        assert "qmnist [test10k]" in message and "MNISTFAMILY_LOCK_TIMEOUT" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_file_where_an_entry_belongs_is_kept_and_named(served, cache):
    from mnistfamily.errors import CacheError

    _, mini = served
    entry = _entry(mini, cache)
    entry.parent.mkdir(parents=True)
    entry.write_text("not a folder")
    with pytest.raises(CacheError, match=r"a prepared entry \(a folder\) belongs here, but this is a file, which "
                                         r"mnistfamily never writes, so it was not deleted"):
        mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    assert entry.read_text() == "not a folder"


def test_an_entry_that_cannot_be_removed_is_a_cache_error(served, cache, monkeypatch):
    import errno

    from mnistfamily.errors import CacheError
    from mnistfamily.prepare import cache as cache_module

    _, mini = served
    mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    entry = _entry(mini, cache)
    (entry / "manifest.json").unlink()
    real_replace = os.replace

    def refuse(src, dst, *args, **kwargs):
        if os.fspath(src) == os.fspath(entry):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(src))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(cache_module.os, "replace", refuse)
    with pytest.raises(CacheError, match=r"must be rebuilt, but it cannot be removed \(Permission denied\)"):
        mf.load("qmnist", "test10k", registry=mini.registry, data_dir=cache)
    assert [p.name for p in entry.parent.iterdir() if p.name.startswith(".")] == []  # no area left behind
