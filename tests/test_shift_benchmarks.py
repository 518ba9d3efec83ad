"""`mnistfamily shift` on the benchmarks: rotatedmnist, coloredmnist, label-errors."""

from __future__ import annotations

import argparse
import json

import pytest

from mnistfamily.errors import UnknownNameError
from mnistfamily.shift.benchmarks import BENCHMARKS, benchmarks, run_benchmark
from mnistfamily.cli.shift import add_shift_command


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mnistfamily")
    add_shift_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.run(args)


def test_benchmarks_are_the_environment_datasets_and_the_named_ones():
    found = benchmarks()
    assert list(found) == ["coloredmnist", "coloredmnist/irm", "rotatedmnist", "rotatedmnist/bilinear", *BENCHMARKS]
    assert "environments 0, 15, 30, 45, 60, 75" in found["rotatedmnist"]
    assert "environments plus90, plus80, minus90" in found["coloredmnist"]
    assert "train on train-e20, train-e10, test on test-e90" in found["coloredmnist/irm"]
    with pytest.raises(UnknownNameError, match="no benchmark 'rotated' .*benchmarks: coloredmnist, coloredmnist/irm, rotatedmnist"):
        run_benchmark("rotated", "knn")


def test_cli_lists_benchmarks_and_refuses_options_that_do_not_apply(capsys):
    assert _cli(["shift", "--list"]) == 0
    out = capsys.readouterr().out
    assert "benchmarks" in out and "coloredmnist/irm" in out and "label-errors" in out
    assert _cli(["shift", "writers", "--grayscale"]) == 2
    assert "--grayscale and --test-env apply to the environment benchmarks" in capsys.readouterr().err
    assert _cli(["shift", "rotatedmnist", "--grayscale"]) == 2
    assert "--grayscale applies to coloredmnist and coloredmnist/irm, not 'rotatedmnist'" in capsys.readouterr().err
    assert _cli(["shift", "label-errors", "--limit", "10"]) == 2
    assert "--limit and --test-env do not apply" in capsys.readouterr().err
    assert _cli(["shift", "rotated-mnist"]) == 2
    assert "benchmarks: coloredmnist, coloredmnist/irm, rotatedmnist, rotatedmnist/bilinear" in capsys.readouterr().err


@pytest.mark.realdata
def test_cli_runs_rotatedmnist_coloredmnist_and_the_label_error_report(realdata, cache, tmp_path, capsys):
    source = ["--source", str(realdata / "mnist-kaggle-layout"), "--data-dir", str(cache)]
    json_path, png_path = tmp_path / "r.json", tmp_path / "r.png"
    assert _cli(["shift", "rotatedmnist", "--model", "centroid", "--limit", "600", "--json", str(json_path),
                 "--plot", str(png_path), *source]) == 0
    out = capsys.readouterr().out
    assert "rotatedmnist: NearestCentroid()" in out and "average" in out and "480" in out
    record = json.loads(json_path.read_text())
    assert [r["environment"] for r in record["rows"]] == ["0", "15", "30", "45", "60", "75"]
    assert png_path.stat().st_size > 1000
    assert _cli(["shift", "rotatedmnist/bilinear", "--model", "centroid", "--limit", "300", "--test-env", "75",
                 "--trial-seed", "1", *source]) == 0
    out = capsys.readouterr().out
    assert "trial seed 1" in out and "\n75 " in out and "\n0 " not in out
    assert _cli(["shift", "rotatedmnist", "--test-env", "90", "--limit", "300", *source]) == 2
    assert "test environments ['90'] are not among 0, 15, 30, 45, 60, 75" in capsys.readouterr().err
    assert _cli(["shift", "coloredmnist", "--model", "centroid", "--limit", "600", "--grayscale", *source]) == 0
    out = capsys.readouterr().out
    assert "coloredmnist (grayscale model)" in out and "minus90" in out
    assert _cli(["shift", "coloredmnist/irm", "--model", "centroid", "--limit", "600", *source]) == 0
    out = capsys.readouterr().out
    assert "\ntest-e90 " in out and "\ntrain-e20 " not in out  # IRM trains on the first two only
    assert _cli(["shift", "label-errors", "--model", "centroid", *source]) == 0
    out = capsys.readouterr().out
    assert "on the 15 confirmed label errors" in out and "without confirmed errors" in out and "9,985" in out


@pytest.mark.realdata
def test_the_label_error_report_is_wired_into_mnistfamily(realdata, cache, capsys):
    from mnistfamily.cli import main

    assert main(["shift", "label-errors", "--model", "centroid", "--source", str(realdata / "mnist-kaggle-layout"),
                 "--data-dir", str(cache)]) == 0
    assert "label errors of mnist [test]: NearestCentroid()" in capsys.readouterr().out


@pytest.mark.parametrize("module", [
    "mnistfamily.shift.environments", "mnistfamily.shift.coloredmnist", "mnistfamily.shift.label_errors",
    "mnistfamily.shift.benchmarks", "mnistfamily.shift.chart",
    "mnistfamily.registry.label_errors", "mnistfamily.prepare.environments", "mnistfamily.baselines.mlp",
    "mnistfamily.transforms.rotation", "mnistfamily.transforms.coloredmnist", "mnistfamily.registry.constructions",
])
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)  # examples may write results; keep them here
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, report=True)
    assert result.attempted > 0 and result.failed == 0, f"{result.failed} example(s) of {module} failed"
