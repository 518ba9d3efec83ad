"""read_parquet treats every shard and dataset card as untrusted input.

The hostile files come from ``harness.fuzz.parquet_seeds`` (the seeds of the
``parquet`` and ``export-card`` fuzz targets): each is refused with a library error naming
the file, never a raw pyarrow, Pillow, numpy or json exception, and the memory bombs are
refused before anything is allocated (measured in a child process with a 3 GiB address-space
limit, so that a regression fails the test instead of the machine).
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pq = pytest.importorskip("pyarrow.parquet")

import mnistfamily as mf  # noqa: E402
from mnistfamily.dataset import Dataset  # noqa: E402
from mnistfamily.errors import MnistFamilyError  # noqa: E402
from mnistfamily.outputs import CorruptExportError, ExportError, export, export_idx, read_parquet  # noqa: E402
from harness.fuzz import TARGETS, run_target  # noqa: E402
from harness.fuzz.parquet_seeds import (BASE_NAME, KINDS, base_shard, hostile_cards, hostile_shards,  # noqa: E402
                                        png_shard, rewrite_shard, write_base_export)

SAMPLE = "mnist/sample"
SHARDS = dict(hostile_shards())
CARDS = dict(hostile_cards())


def write_export(root: Path, card: bytes | None = None) -> Path:
    """The base export (3 raw shards of fuzz/base) under ``root``, with ``card`` as its card if given."""
    return write_base_export(root, card)


def card_of(folder: Path) -> Path:
    """The dataset card of the export folder ``folder``: beside it."""
    return folder.parent / "_mnistfamily" / f"{folder.name}.card.json"


# --------------------------------------------------------------------------- every hostile file: a library error

@pytest.mark.parametrize("case", sorted(SHARDS))
def test_every_hostile_shard_is_refused_with_a_library_error_naming_it(case, tmp_path):
    path = tmp_path / f"{case}.parquet"
    path.write_bytes(SHARDS[case])
    with pytest.raises(CorruptExportError, match=f"{path}: .*(expected|an export|Export it again|not|Upgrade)"):
        read_parquet(path)


@pytest.mark.parametrize("case", sorted(CARDS))
def test_every_hostile_card_is_refused_with_a_library_error_naming_it(case, tmp_path):
    folder = write_export(tmp_path, CARDS[case])
    with pytest.raises(CorruptExportError, match=f"({folder}/|{card_of(folder)})"):
        read_parquet(folder)


def test_the_base_export_of_the_hostile_cases_reads_back(tmp_path):
    """The hostile files differ from a valid export in one thing each: that export itself is fine."""
    back = read_parquet(write_export(tmp_path))["train"]
    assert back.images.shape == (24, 6, 5) and back.metadata["site"].tolist() == list(range(24))
    assert read_parquet(write_export(tmp_path / "again") / "split=train").name == BASE_NAME


def test_a_card_larger_than_any_card_is_refused_before_it_is_read(tmp_path):
    folder = write_export(tmp_path, b" " * (17 << 20) + b"{}")
    with pytest.raises(CorruptExportError, match="fuzz--base.card.json: 17,825,794 bytes; this file is at most"):
        read_parquet(folder)


# --------------------------------------------------------------------------- names that climb out of the lake

def test_a_split_name_climbing_out_of_the_lake_is_refused_and_nothing_is_written_outside(tmp_path):
    sample = mf.load(SAMPLE, "test")  # the cache is in tmp_path/home-cache
    shard = tmp_path / "in" / "part-00000-of-00001.parquet"
    shard.parent.mkdir()
    shard.write_bytes(SHARDS["split-escape"])
    lake = tmp_path / "deep" / "er" / "lake"
    with pytest.raises(CorruptExportError, match=r"'\.\./\.\./\.\./\.\./x/PWNED' is not a split name"):
        export(read_parquet(shard), lake)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home-cache", "in"]  # no PWNED anywhere, no lake

    escaping = Dataset(sample.images[:5], sample.labels[:5], classes=sample.classes, name="mnist",
                       split="../../../../x/PWNED")
    with pytest.raises(ExportError, match="not a split name"):
        export(escaping, lake)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home-cache", "in"]


def test_a_dataset_named_dotdot_cannot_replace_the_parent_folder(tmp_path):
    parent = tmp_path / "parent"
    (parent / "split=test").mkdir(parents=True)
    (parent / "split=test" / "notes.txt").write_text("mine")
    sample = mf.load(SAMPLE, "test")
    dotdot = Dataset(sample.images[:5], sample.labels[:5], classes=sample.classes, name="..", split="test")
    with pytest.raises(ExportError, match="'..' is not a dataset name"):
        export(dotdot, parent / "inner", overwrite=True)
    assert (parent / "split=test" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in parent.iterdir()) == ["split=test"]


def test_split_names_of_an_idx_export_cannot_climb_out(tmp_path):
    sample = mf.load(SAMPLE, "test")
    with pytest.raises(ExportError, match="not a split name"):
        export_idx({"../../escaped": sample}, tmp_path / "idx")
    assert not (tmp_path / "idx").exists() and not list(tmp_path.parent.glob("escaped*"))


def test_names_classes_and_columns_an_export_could_not_read_back_are_refused_when_exporting(tmp_path):
    sample = mf.load(SAMPLE, "test")

    def dataset(**changes):
        fields = dict(classes=sample.classes, name="mine", split="train", metadata={})
        fields.update(changes)
        return Dataset(sample.images[:5], sample.labels[:5], **fields)

    for changes, message in [
        (dict(name="My Data"), "'My Data' is not a dataset name"),
        (dict(split="Train Set"), "'Train Set' is not a split name"),
        (dict(classes=["zero\n"] + sample.classes[1:]), "control characters"),
        (dict(metadata={"bad name": np.zeros(5, np.int32)}), "not a column name"),
        (dict(metadata={"text": np.array(["a"] * 5)}), "numeric columns only"),
    ]:
        with pytest.raises(ExportError, match=message):
            export(dataset(**changes), tmp_path / "lake")
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").iterdir())


# --------------------------------------------------------------------------- card paths

@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_card_shard_paths_outside_the_export_folder_are_never_opened(tmp_path, where):
    folder = write_export(tmp_path / "lake")
    decoy = tmp_path / "decoy.parquet"  # a valid shard outside the export: main read it as if it were inside
    decoy.write_bytes(base_shard("raw", 1))
    card = json.loads(card_of(folder).read_bytes())
    shard = card["splits"]["train"]["shards"][0]
    shard["path"] = "../../decoy.parquet" if where == "relative" else str(decoy)
    shard["size"], shard["sha256"] = decoy.stat().st_size, hashlib.sha256(decoy.read_bytes()).hexdigest()
    card_of(folder).write_text(json.dumps(card))
    with pytest.raises(CorruptExportError, match="inside the export folder"):
        read_parquet(folder)


# --------------------------------------------------------------------------- silent wrong data

def test_single_byte_flips_are_refused_by_the_card_checksum(tmp_path):
    export(SAMPLE, tmp_path, compression="none")
    folder = tmp_path / "mnist--sample"
    shard = folder / "split=test" / "part-00000-of-00001.parquet"
    original = shard.read_bytes()
    rng = random.Random(11)
    for position in sorted(rng.sample(range(len(original)), 40)):
        flipped = bytearray(original)
        flipped[position] ^= 1 << rng.randrange(8)
        shard.write_bytes(bytes(flipped))
        with pytest.raises(CorruptExportError, match=f"{shard}: its sha256 is .*; the dataset card lists"):
            read_parquet(folder)
    # one flip in the pixels, which nothing else would notice: verify=False trades this check for speed
    pixel = original.index(bytes(mf.load(SAMPLE, "test").images[0].reshape(-1)[200:232]))
    flipped = bytearray(original)
    flipped[pixel] ^= 0x40
    shard.write_bytes(bytes(flipped))
    with pytest.raises(CorruptExportError, match="sha256"):
        read_parquet(folder)
    unverified = read_parquet(folder, verify=False)["test"]
    assert (unverified.images != mf.load(SAMPLE, "test").images).sum() == 1


def test_a_card_listing_a_shard_twice_is_refused(tmp_path):
    folder = write_export(tmp_path, CARDS["shard-twice"])
    with pytest.raises(CorruptExportError, match="lists the shard split=train/part-00000-of-00003.parquet twice"):
        read_parquet(folder)


def test_a_shard_whose_image_shape_was_changed_is_refused(tmp_path):
    folder = write_export(tmp_path)
    shard = folder / "split=train" / "part-00000-of-00003.parquet"

    def swapped(described):
        described["image_shape"] = [5, 6]  # same number of pixels: main returned them scrambled
        return described

    shard.write_bytes(rewrite_shard(shard.read_bytes(), metadata=swapped))
    with pytest.raises(CorruptExportError, match="sha256"):
        read_parquet(folder)
    with pytest.raises(CorruptExportError, match="differs from the dataset card's record"):
        read_parquet(folder, verify=False)
    with pytest.raises(CorruptExportError, match="sha256"):
        read_parquet(shard)  # a lone shard inside an export folder is checked against its card


def test_a_lone_shard_that_its_card_does_not_list_is_refused(tmp_path):
    folder = write_export(tmp_path)
    stray = folder / "split=train" / "part-00009-of-00010.parquet"
    stray.write_bytes(base_shard("raw", 0))
    with pytest.raises(MnistFamilyError, match="does not list this shard"):
        read_parquet(stray)


# --------------------------------------------------------------------------- memory bombs, measured

_BOMB = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression fails here, not the machine
    from mnistfamily.outputs import read_parquet
    try:
        read_parquet(sys.argv[1])
        outcome = "read"
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    # VmHWM: this process's own peak (ru_maxrss would carry over the parent's size from before exec)
    with open("/proc/self/status") as status:
        peak = int([line for line in status if line.startswith("VmHWM")][0].split()[1]) * 1024
    print(json.dumps([outcome, peak]))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc/self/status: Linux")
@pytest.mark.parametrize("case, message", [
    ("dtype-void", "dtype 'V2000000000'"),                  # main: 9.8 GB from a 12 KB shard
    ("png-bomb-12000x12000", "a PNG of 12000x12000"),       # main: 2.3 GB from 15 KB
    ("png-shape-100000x100000", "out of bounds"),           # main: asked numpy for 13.6 TiB
    ("shape-huge", "out of bounds"),
    ("row-count-lie", "declares 1,000,000,000,000 rows"),  # main: asked numpy for 7.6 TiB
])
def test_memory_bombs_are_refused_before_anything_is_allocated(tmp_path, case, message):
    path = tmp_path / f"{case}.parquet"
    path.write_bytes(SHARDS[case])
    done = subprocess.run([sys.executable, "-c", _BOMB, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome, peak = json.loads(done.stdout.splitlines()[-1])
    print(f"\n{case}: {len(SHARDS[case]):,} bytes, peak RSS {peak / 2**20:.0f} MiB: {outcome[:120]}")
    assert outcome.startswith("CorruptExportError") and message in outcome, outcome
    assert peak < 200 << 20  # reading a valid 3 KB shard peaks at 81-84 MiB (the interpreter, numpy, pyarrow)


# --------------------------------------------------------------------------- the fuzz targets

@pytest.mark.parametrize("reader", ["parquet", "export-card"])
def test_the_parquet_fuzz_targets_read_their_valid_seeds_and_refuse_the_rest(reader, tmp_path):
    outcomes = [run_target(TARGETS[reader], seed, tmp_path / f"run-{i}") for i, seed in enumerate(TARGETS[reader].seeds())]
    # the valid seeds: three grey exports and one of every other kind and encoding (parquet); one card
    valid = 3 + sum(len(encodings) for encodings in KINDS.values()) if reader == "parquet" else 1
    assert set(outcomes[:valid]) == {"ok"}
    assert set(outcomes[valid:]) == {"CorruptExportError"}


def test_a_read_back_shard_is_exported_inside_the_lake(tmp_path):
    ok = run_target(TARGETS["parquet"], base_shard("png"), tmp_path / "run")
    assert ok == "ok" and (tmp_path / "run" / "cache" / "lake" / "fuzz--base" / "_SUCCESS").exists()


def test_png_images_of_the_declared_size_and_mode_read_back(tmp_path):
    from PIL import Image
    import io

    pixels = np.arange(30, dtype=np.uint8).reshape(6, 5)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    path = tmp_path / "made-by-hand.parquet"
    path.write_bytes(png_shard([buffer.getvalue()] * 3))
    np.testing.assert_array_equal(read_parquet(path).images, np.stack([pixels] * 3))


def test_a_png_stored_once_for_many_rows_is_decoded_once_not_expanded(tmp_path):
    """A dictionary-encoded PNG column (one PNG standing for several rows) reads back, each PNG decoded once."""
    shard = rewrite_shard(base_shard("png"), table=lambda t: t.take([0, 0, 1, 0]), dictionary=True)
    path = tmp_path / "dictionary.parquet"
    path.write_bytes(shard)
    back = read_parquet(path)
    first = read_parquet(write_export(tmp_path / "base") / "split=train").images
    np.testing.assert_array_equal(back.images, first[[0, 0, 1, 0]])


def test_a_shard_whose_column_statistics_make_pyarrow_abort_is_refused_in_a_child_process(tmp_path):
    """pyarrow aborts the interpreter when Python reads this file's column-chunk metadata: read_parquet never does."""
    path = tmp_path / "statistics.parquet"
    path.write_bytes(SHARDS["column-statistics-malformed"])
    done = subprocess.run([sys.executable, "-c", _BOMB, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]  # an abort would be -6 (SIGABRT)
    outcome, _ = json.loads(done.stdout.splitlines()[-1])
    assert outcome.startswith("CorruptExportError") and "Repetition level histogram" in outcome, outcome
