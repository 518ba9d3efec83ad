"""The public API's type hints hold: mypy checks the whole package (STYLE.md practice 9)."""

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mnistfamily"


def test_mypy_finds_no_errors():
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--no-error-summary", str(PACKAGE)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
