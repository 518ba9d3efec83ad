"""The safe-write recipe: marked temporary areas, atomic replacement, locks that name their holder."""

from __future__ import annotations

import json
import multiprocessing
import os
import time

import pytest

from mnistfamily import safe_write
from mnistfamily.errors import LockTimeoutError


def test_atomic_write_leaves_only_the_target(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    safe_write.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]
    safe_write.atomic_write(target, lambda f: f.write(b"written by a function"))
    assert target.read_bytes() == b"written by a function"


def test_a_failed_write_keeps_the_old_target_and_leaves_nothing(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def fail(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        safe_write.atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_only_marked_areas_are_leftovers(tmp_path):
    with safe_write.temp_area(tmp_path, "target") as area:
        ours = area.path
        record = safe_write.read_marker(ours)
        assert record is not None and record["target"] == "target" and record["pid"] == os.getpid()
        assert safe_write.leftovers(tmp_path) == [ours]
        assert safe_write.leftovers(tmp_path, "other") == []
    assert not ours.exists()

    # a user's folders and files with look-alike names are never ours
    token = "0" * 32
    (tmp_path / f".mnistfamily-tmp-{token}").mkdir()  # no marker, and something in it
    (tmp_path / f".mnistfamily-tmp-{token}" / "notes.txt").write_text("mine")
    forged = tmp_path / f".mnistfamily-tmp-{'1' * 32}"
    forged.mkdir()  # a marker whose token is not the folder's
    (forged / safe_write.MARKER).write_text(json.dumps({"writer": "mnistfamily", "token": "2" * 32,
                                                        "target": "target"}))
    (tmp_path / ".tmp-my-backup").mkdir()
    (tmp_path / ".tmp-my-backup" / "thesis.tex").write_text("years of work")
    (tmp_path / "draft.deadbeef.tmp").write_text("draft")
    junk = tmp_path / f".mnistfamily-tmp-{'3' * 32}"
    junk.mkdir()
    (junk / safe_write.MARKER).write_bytes(b"\xff" * 10)
    assert safe_write.leftovers(tmp_path) == []
    assert safe_write.remove_leftovers(tmp_path, "target") == []
    assert (tmp_path / ".tmp-my-backup" / "thesis.tex").read_text() == "years of work"
    assert (tmp_path / "draft.deadbeef.tmp").exists()


def test_a_dead_writers_area_is_removed_by_the_next_writer(tmp_path):
    area = safe_write.TempArea(tmp_path, "target")  # never committed nor removed: a killed writer
    (area.file()).write_bytes(b"partial")
    with safe_write.locked(tmp_path / "target", "writing target"):
        assert safe_write.remove_leftovers(tmp_path, "target") == [area.path]
    assert not area.path.exists()


def _hold(lock_target: str, ready, release) -> None:
    with safe_write.locked(lock_target, "preparing mnist [train]"):
        ready.set()
        release.wait(30)


def test_a_waiter_that_gives_up_is_told_who_holds_the_lock(tmp_path):
    target = tmp_path / "entry"
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(target), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        with pytest.raises(LockTimeoutError, match=rf"held by process {holder.pid} on host .*preparing mnist "
                                                   r"\[train\].*MNISTFAMILY_LOCK_TIMEOUT"):
            with safe_write.locked(target, "loading mnist [train]", timeout=0.3):
                pass
        assert time.monotonic() - started < 10
    finally:
        release.set()
        holder.join(30)
    with safe_write.locked(target, "loading mnist [train]", timeout=5):  # free again
        pass


def test_the_lock_timeout_comes_from_the_environment(monkeypatch):
    from mnistfamily import config
    from mnistfamily.errors import ConfigError

    monkeypatch.setenv("MNISTFAMILY_LOCK_TIMEOUT", "12.5")
    assert config.lock_timeout() == 12.5
    monkeypatch.setenv("MNISTFAMILY_LOCK_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="MNISTFAMILY_LOCK_TIMEOUT='soon'"):
        config.lock_timeout()


def test_an_empty_area_left_before_its_marker_is_removed_and_nothing_else(tmp_path):
    empty = tmp_path / f".mnistfamily-tmp-{'4' * 32}"  # killed between mkdir and the marker
    empty.mkdir()
    unmarked = tmp_path / f".mnistfamily-tmp-{'5' * 32}"
    unmarked.mkdir()
    (unmarked / "user-file").write_text("not ours to delete")
    with safe_write.locked(tmp_path / "target", "writing target"):
        assert safe_write.remove_leftovers(tmp_path, "target") == [empty]
    assert not empty.exists() and (unmarked / "user-file").exists()


def test_atomic_write_removes_the_areas_of_dead_writers_only(tmp_path):
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=lambda: safe_write.TempArea(tmp_path, "file.json"))  # dies keeping its area
    child.start()
    child.join(30)
    dead = safe_write.leftovers(tmp_path, "file.json")
    assert len(dead) == 1 and safe_write.read_marker(dead[0])["pid"] == child.pid
    alive = safe_write.TempArea(tmp_path, "file.json")  # this process: alive
    safe_write.atomic_write(tmp_path / "file.json", b"{}")
    assert not dead[0].exists() and alive.path.exists()
    alive.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.json"]


def test_a_released_lock_names_no_holder(tmp_path):
    with safe_write.locked(tmp_path / "target", "writing target"):
        assert b"writing target" in safe_write.lock_path(tmp_path / "target").read_bytes()
    assert safe_write.lock_path(tmp_path / "target").read_bytes() == b""
