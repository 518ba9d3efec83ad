"""The compiled forms of the registry: the shipped builtin.json and the per-cache JSON files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import mnistfamily.registry as registry_module
from mnistfamily.registry import Registry, builtin_registry_path, compiled, get_registry


@pytest.fixture(autouse=True)
def _fresh_registry_cache(monkeypatch):
    # every test sees get_registry() as a new process would
    monkeypatch.setattr(registry_module, "_cache", {})


def test_builtin_json_is_in_sync_with_registry_yaml():
    # if this fails: python -m mnistfamily.registry.compiled
    assert compiled.main(["--check"]) == 0


def test_builtin_json_gives_the_same_specs_as_the_yaml():
    from_yaml = Registry.from_files([builtin_registry_path()])
    fields = compiled.read_builtin(builtin_registry_path())
    assert fields is not None
    from_json = Registry(compiled=fields)
    assert from_json.names() == from_yaml.names()
    for name in from_yaml.names():
        assert from_json.dataset(name) == from_yaml.dataset(name), name
        assert from_json.dataset(name).origin == str(builtin_registry_path())


def test_get_registry_uses_builtin_json_without_parsing_yaml(monkeypatch):
    def no_yaml(*_args, **_kwargs):
        raise AssertionError("the YAML was parsed although builtin.json is current")

    monkeypatch.setattr(Registry, "from_files", classmethod(no_yaml))
    assert "mnist" in get_registry()


def test_a_stale_builtin_json_is_ignored_and_the_yaml_parsed(tmp_path, monkeypatch):
    stale = json.loads(compiled.BUILTIN_JSON.read_text(encoding="utf-8"))
    stale["source_blake2"] = "0" * 32  # as if registry.yaml had been edited since
    del stale["datasets"]["mnist"]
    path = tmp_path / "builtin.json"
    path.write_text(json.dumps(stale), encoding="utf-8")
    monkeypatch.setattr(compiled, "BUILTIN_JSON", path)
    assert compiled.read_builtin(builtin_registry_path()) is None
    assert "mnist" in get_registry()  # from the YAML, not from the stale file


def test_an_unreadable_builtin_json_is_ignored(tmp_path, monkeypatch):
    path = tmp_path / "builtin.json"
    path.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(compiled, "BUILTIN_JSON", path)
    assert compiled.read_builtin(builtin_registry_path()) is None
    assert "mnist" in get_registry()


def test_check_reports_an_out_of_date_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "builtin.json"
    path.write_text("{}", encoding="utf-8")
    monkeypatch.setattr(compiled, "BUILTIN_JSON", path)
    assert compiled.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert compiled.main([]) == 0
    assert compiled.main(["--check"]) == 0


def test_a_first_load_on_a_fresh_cache_imports_no_yaml(tmp_path):
    code = ("import sys, mnistfamily as mf\n"
            "ds = mf.load('mnist/sample', 'test')\n"
            "print(len(ds), 'yaml' in sys.modules)")
    env = {**os.environ, "MNISTFAMILY_HOME": str(tmp_path / "fresh")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2000", "False"]
