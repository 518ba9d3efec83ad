"""An export never deletes what it did not write, and a destination it cannot use is a clear error.

Leftovers of killed exports are recognised by the marker inside their staging area (see
``mnistfamily.safe_write``), never by a name pattern: a user's ``.tmp-my-backup/`` or
``draft.deadbeef.tmp`` is kept, and named in an ``ExportWarning``. A folder that is not an
export of the dataset is never replaced.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")

import mnistfamily as mf  # noqa: E402
from mnistfamily import safe_write  # noqa: E402
from mnistfamily.outputs import (ExportDestinationError, ExportExistsError, ExportWarning, export,  # noqa: E402
                                export_idx, export_npz, read_parquet)

SAMPLE = "mnist/sample"


def users_files(folder: Path) -> dict[str, str]:
    """The files of the issue's report: a backup, photos and a draft that look like temporary names."""
    files = {".tmp-my-backup/thesis.tex": "years of work", ".old-photos/cat.jpg": "a cat",
             "draft.deadbeef.tmp": "a draft", ".tmp-0123456789abcdef/notes.txt": "an old-style name"}
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return files


def assert_kept(folder: Path, files: dict[str, str]) -> None:
    assert {relative: (folder / relative).read_text() for relative in files} == files


def test_an_export_keeps_and_reports_the_files_it_did_not_write(tmp_path):
    folder = tmp_path / "mnist--sample"
    files = users_files(folder)
    with pytest.warns(ExportWarning, match=r"kept .*\.old-photos.*\.tmp-my-backup.*draft\.deadbeef\.tmp"):
        export(SAMPLE, tmp_path)
    assert_kept(folder, files)
    with pytest.warns(ExportWarning, match="not written by an export of mnist/sample"):
        export(SAMPLE, tmp_path, overwrite=True, rows_per_shard=700)
    assert_kept(folder, files)
    assert len(read_parquet(folder)["test"]) == 2000
    assert not list(tmp_path.glob(".mnistfamily-tmp-*"))


def test_files_beside_the_dataset_folder_are_never_taken_for_leftovers(tmp_path):
    files = users_files(tmp_path)
    unmarked = tmp_path / f".mnistfamily-tmp-{'0' * 32}"  # our naming, but no marker: not provably ours
    unmarked.mkdir()
    (unmarked / "keep.txt").write_text("kept")
    export(SAMPLE, tmp_path)
    export(SAMPLE, tmp_path, overwrite=True)
    assert_kept(tmp_path, files)
    assert (unmarked / "keep.txt").read_text() == "kept"


@pytest.mark.filterwarnings("ignore::mnistfamily.outputs.ExportWarning")  # Spark's part file is named, and kept
@pytest.mark.parametrize("what", ["a split folder", "a _SUCCESS marker", "another tool's card",
                                  "another dataset's card", "another tool's card inside the folder",
                                  "another dataset's card inside the folder"])
def test_an_export_never_replaces_a_folder_that_is_not_an_export(tmp_path, what):
    folder = tmp_path / "mnist--sample"
    folder.mkdir()
    # the card is beside the folder; exports of format version 1 kept it inside
    card_path = folder / "_dataset_card.json" if "inside" in what else tmp_path / "_mnistfamily" / "mnist--sample.card.json"
    card_path.parent.mkdir(exist_ok=True)
    if what == "a split folder":
        (folder / "split=test").mkdir()
        (folder / "split=test" / "results.csv").write_text("mine")
    elif what == "a _SUCCESS marker":  # what Spark leaves in its output folders
        (folder / "_SUCCESS").write_text("")
        (folder / "part-00000-c000.snappy.parquet").write_text("spark's")
    elif what.startswith("another tool's card"):
        card_path.write_text('{"license": "mine"}')
    else:
        export(mf.load(SAMPLE, "test"), tmp_path / "other")
        card = (tmp_path / "other" / "_mnistfamily" / "mnist--sample.card.json").read_text()
        card_path.write_text(card.replace('"dataset": "mnist/sample"', '"dataset": "kmnist"'))
    def files() -> dict[Path, bytes]:  # the dataset folder and the cards beside it
        return {p: p.read_bytes() for where in (folder, tmp_path / "_mnistfamily") for p in where.rglob("*")
                if p.is_file()}

    before = files()
    with pytest.raises(ExportDestinationError, match="is not an export of mnist/sample.*nothing was written"):
        export(SAMPLE, tmp_path, overwrite=True)
    assert files() == before
    assert not list(tmp_path.glob(".mnistfamily-tmp-*"))


def test_a_split_folder_holding_more_than_shards_is_not_replaced(tmp_path):
    export(SAMPLE, tmp_path)
    notes = tmp_path / "mnist--sample" / "split=test" / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(ExportDestinationError, match="holds notes.txt, which an export never writes"):
        export(SAMPLE, tmp_path, overwrite=True)
    assert notes.read_text() == "mine"
    assert len(read_parquet(tmp_path / "mnist--sample")["test"]) == 2000


def test_a_destination_that_is_a_file_is_a_library_error(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    with pytest.raises(ExportDestinationError, match="afile is a file, not a folder"):
        export(SAMPLE, afile)
    with pytest.raises(ExportDestinationError, match="is not a folder"):
        export(SAMPLE, afile / "lake")
    with pytest.raises(ExportDestinationError, match="afile is a file, not a folder"):
        export_idx(SAMPLE, afile)
    with pytest.raises(ExportDestinationError, match="afile is a file, not a folder"):
        export_npz(SAMPLE, afile / "sample.npz")
    (tmp_path / "lake" / "mnist--sample").parent.mkdir()
    (tmp_path / "lake" / "mnist--sample").write_text("a file where the dataset folder goes")
    with pytest.raises(ExportDestinationError, match="mnist--sample is a file, not an export folder"):
        export(SAMPLE, tmp_path / "lake")
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(ExportDestinationError, match="folder.npz is a folder"):
        export_npz(SAMPLE, tmp_path / "folder.npz")
    assert afile.read_text() == "not a folder"


@pytest.fixture
def read_only(tmp_path):
    """A read-only tmpfs holding an export, or a skip where mounting is not allowed."""
    folder = tmp_path / f"ro-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        export(SAMPLE, folder / "lake")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_read_only_destination_is_a_library_error(read_only):
    for call in (lambda: export(SAMPLE, read_only / "lake", overwrite=True),
                 lambda: export(SAMPLE, read_only / "new-lake"),
                 lambda: export_npz(SAMPLE, read_only / "sample.npz"),
                 lambda: export_idx(SAMPLE, read_only / "idx")):
        with pytest.raises(ExportDestinationError, match="read-only file system: nothing was written") as caught:
            call()
        assert isinstance(caught.value, OSError) and caught.value.errno == 30  # EROFS
    assert len(read_parquet(read_only / "lake" / "mnist--sample")["test"]) == 2000  # reading needs no write


def test_npz_and_idx_exports_remove_only_their_own_leftovers(tmp_path):
    dead = safe_write.TempArea(tmp_path, "sample.npz")  # a killed export of sample.npz
    (dead.file()).write_bytes(b"half")
    other = safe_write.TempArea(tmp_path, "another.npz")
    mine = tmp_path / ".tmp-deadbeef-sample.npz"  # the old scheme's name, a user's file now
    mine.write_text("kept")
    export_npz(SAMPLE, tmp_path / "sample.npz")
    assert not dead.path.exists() and other.path.exists() and mine.read_text() == "kept"
    with np.load(tmp_path / "sample.npz") as npz:
        assert npz["x_test"].shape == (2000, 28, 28)

    idx = tmp_path / "idx"
    idx.mkdir()
    dead = safe_write.TempArea(idx, "mnistfamily-idx")
    stray = idx / ".tmp-0badc0de-t10k-images-idx3-ubyte.gz"
    stray.write_text("kept")
    export_idx(SAMPLE, idx)
    assert not dead.path.exists() and stray.read_text() == "kept"
    assert sorted(p.name for p in idx.iterdir() if not p.name.startswith(".")) == [
        "t10k-images-idx3-ubyte.gz", "t10k-index-idx1-int.gz", "t10k-labels-idx1-ubyte.gz",
        "t10k-labels-idx2-int.gz"]


def test_on_an_object_store_a_dead_staging_area_is_reported_and_kept():
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/lake-{uuid.uuid4().hex[:8]}"
    token = safe_write.new_token()
    area = f"{root}/{safe_write.area_name(token)}"
    fs.pipe_file(f"{area}/{safe_write.MARKER}", safe_write.owner_record("mnist--sample", token))
    fs.pipe_file(f"{area}/split=test/part-00000-of-00001.parquet", b"half")
    try:
        with pytest.warns(ExportWarning, match=r"a staging area of an export of mnist--sample that did not finish.*"
                                               r"delete it once no export is running"):
            export(SAMPLE, f"memory://{root}")
        assert fs.exists(f"{area}/split=test/part-00000-of-00001.parquet")
        assert len(read_parquet(f"memory://{root}/mnist--sample")["test"]) == 2000
        assert [p for p in fs.ls(root, detail=False) if "mnistfamily-tmp" in p] == [area]  # only the dead one
    finally:
        fs.rm(root, recursive=True)


def test_a_missing_fsspec_driver_is_named_with_its_install_command():
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
        pytest.skip("gcsfs is installed")
    except ImportError:
        pass
    with pytest.raises(ExportDestinationError, match=r"gs:// needs gcsfs.*pip install gcsfs"):
        export(SAMPLE, "gs://bucket/lake")
    with pytest.raises(ExportDestinationError, match=r"pip install gcsfs"):
        read_parquet("gs://bucket/lake/mnist--sample")


def test_the_export_lock_names_no_holder_once_released(tmp_path):
    export(SAMPLE, tmp_path)
    assert (tmp_path / ".mnist--sample.lock").read_bytes() == b""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean destination: nothing to report
        export(SAMPLE, tmp_path, overwrite=True)


def test_pyarrow_is_a_core_dependency_and_the_parquet_extra_still_installs():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    project = pyproject["project"]
    assert any(d.replace(" ", "").startswith("pyarrow>=") for d in project["dependencies"])
    assert project["optional-dependencies"]["parquet"] == []  # kept so `pip install mnistfamily[parquet]` works


def test_a_path_built_from_a_name_that_slipped_through_is_refused():
    from mnistfamily.outputs.layout import inside

    assert inside("/lake", "mnist--sample", "split=test") == "/lake/mnist--sample/split=test"
    for part in ("..", "../x", "/etc", "a//b", "a/./b", "a\\b"):
        with pytest.raises(ExportDestinationError, match="would lead outside /lake"):
            inside("/lake", part)


def test_an_unknown_protocol_is_a_library_error():
    with pytest.raises(ExportDestinationError, match="nosuchproto://x: fsspec cannot open this destination"):
        export(SAMPLE, "nosuchproto://x")


def test_a_card_that_is_a_folder_is_refused(tmp_path):
    from mnistfamily.outputs import CorruptExportError

    export(SAMPLE, tmp_path)
    card = tmp_path / "_mnistfamily" / "mnist--sample.card.json"
    card.unlink()
    card.mkdir()
    with pytest.raises(CorruptExportError, match="mnist--sample.card.json: a folder where a file was expected"):
        read_parquet(tmp_path / "mnist--sample")


def test_an_idx_target_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").mkdir()
    with pytest.raises(ExportDestinationError, match="t10k-images-idx3-ubyte.gz is a folder"):
        export_idx(SAMPLE, tmp_path, overwrite=True)
    assert not (tmp_path / "t10k-labels-idx1-ubyte.gz").exists()


def test_a_multi_label_dataset_is_refused_rather_than_written_wrong(tmp_path):
    from mnistfamily.dataset import Dataset
    from mnistfamily.outputs import ExportError

    images = np.zeros((4, 28, 28), np.uint8)
    labels = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    with pytest.raises(ExportError, match=r"one label per example; found labels of shape \(4, 2\)"):
        export(Dataset(images, labels, classes=["a", "b"], name="multi", split="train"), tmp_path)


def test_a_dataset_folder_on_another_filesystem_is_refused(tmp_path):
    folder = tmp_path / "lake" / "mnist--sample"
    folder.mkdir(parents=True)
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    try:
        with pytest.raises(ExportDestinationError, match="is on another filesystem than .*real location"):
            export(SAMPLE, tmp_path / "lake")
        assert list(folder.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
