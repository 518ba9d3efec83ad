"""The small writers go through safe_write: ``write_idx``, the compiled registry, shift's JSON and charts.

Each writes into a marked temporary area beside its target and renames the finished file into
place, so a reader never sees half a file and a killed writer leaves only an area proved ours.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import safe_write


@pytest.fixture
def renames(monkeypatch):
    """Every ``os.replace``: (source, target, whether the source sat in a temporary area of ours)."""
    seen: list[tuple[Path, Path, bool]] = []
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        seen.append((Path(src), Path(dst), safe_write.read_marker(Path(src).parent) is not None))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return seen


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz", "x-idx3-ubyte.xz"])
def test_write_idx_renames_from_a_marked_area_and_leaves_only_the_file(tmp_path, renames, name):
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    user = tmp_path / f".{name}.1234.tmp"  # named like the temporary files of earlier versions: a user's
    user.write_bytes(b"mine")
    target = tmp_path / name
    mf.write_idx(target, array)
    assert [(dst, ours) for _, dst, ours in renames] == [(target, True)]
    np.testing.assert_array_equal(mf.read_idx(target), array)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, user.name])
    assert user.read_bytes() == b"mine"


def test_a_failed_write_idx_keeps_the_old_file_and_leaves_nothing(tmp_path, monkeypatch):
    from mnistfamily.formats import idx

    target = tmp_path / "x-idx1-ubyte.gz"
    mf.write_idx(target, np.arange(5, dtype=np.uint8))
    before = target.read_bytes()

    class Full:
        def __init__(self, raw):
            self.raw = raw

        def write(self, data):
            self.raw.write(b"half")
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    monkeypatch.setattr(idx, "compressor_for", lambda path: (Full, "gzip"))
    with pytest.raises(OSError, match="No space left"):
        mf.write_idx(target, np.arange(7, dtype=np.uint8))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_the_compiled_registry_is_written_from_a_marked_area(tmp_path, renames):
    from mnistfamily.registry import get_registry
    from mnistfamily.registry.compiled import read_compiled, write_compiled

    specs = {"mnist": get_registry().dataset("mnist")}
    path = tmp_path / "registry" / "compiled.json"
    write_compiled(path, specs)
    assert [(dst, ours) for _, dst, ours in renames] == [(path, True)]
    assert set(read_compiled(path) or {}) == {"mnist"}
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_shift_results_and_charts_are_written_from_a_marked_area(tmp_path, renames):
    pytest.importorskip("PIL")
    from mnistfamily.shift.experiment import DomainResult, Result

    rows = [DomainResult("held out", "mnist/sample", "test", 10, 0.9, 0.1, 0.6, 0.98, 0.0),
            DomainResult("other", "mnist/sample", "test", 10, 0.5, 0.5, 0.24, 0.76, -0.4)]
    result = Result("p", "a protocol", "NearestCentroid()", "held out", {"n": 20, "selection": "all"}, rows)
    target = tmp_path / "out" / "result.json"
    result.to_json(target)
    chart = result.plot(tmp_path / "out" / "chart.png")
    assert [(dst, ours) for _, dst, ours in renames] == [(target, True), (chart, True)]
    assert json.loads(target.read_text(encoding="utf-8"))["protocol"] == "p"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["chart.png", "result.json"]
