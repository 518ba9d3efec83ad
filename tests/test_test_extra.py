"""The extras of the README's test command install every package the suite skips a test without."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: import name -> the distribution that provides it, where the two differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow"}
#: what a requirement's extra brings along: fsspec[http] is aiohttp, dask[distributed] is distributed
EXTRAS = {"fsspec[http]": {"aiohttp"}, "dask[distributed]": {"distributed"}}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+(\[[a-z,]+\])?", requirement.strip()).group(0)  # type: ignore[union-attr]
        names |= {_normalised(name.split("[")[0]), *EXTRAS.get(name, ())}
    return names


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is in the standard library from Python 3.11")
def test_every_module_a_test_may_skip_without_is_installed_by_the_test_extra():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    command = re.search(r"""pip install "\.\[([a-z,]+)\]" && python -m pytest""", (ROOT / "README.md").read_text())
    assert command, "the README's test command installs the project with its test extras"
    extras = command.group(1).split(",")
    assert "test" in extras
    # CI runs the compression tests a second time with the `fast` extra (ISA-L) installed
    for more in re.findall(r'pip install [^\n]*"\.\[([a-z,]+)\]"', (ROOT / ".ci" / "run").read_text()):
        extras += more.split(",")
    installed = _requirement_names(project["dependencies"])
    for extra in extras:
        installed |= _requirement_names(project["optional-dependencies"][extra])
    skipped_without = set()
    for path in (ROOT / "tests").glob("*.py"):
        for module in re.findall(r"""importorskip\(\s*["']([A-Za-z0-9_.]+)["']""", path.read_text(encoding="utf-8")):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names:  # tomllib: in the standard library from Python 3.11
                continue
            skipped_without.add(_normalised(DISTRIBUTIONS.get(top, top)))
    assert "scikit-learn" in skipped_without  # the baselines' comparisons
    assert skipped_without - installed == set(), "add these to an extra the README's test command installs"
