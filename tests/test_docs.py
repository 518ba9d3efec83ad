"""The docs stay true: the generated datasets page matches the registry, and every example runs."""

import os
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_datasets_page_is_generated_from_the_current_registry():
    result = subprocess.run([sys.executable, str(DOCS / "scripts" / "gen_datasets_page.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, "docs/datasets.md is stale; run python docs/scripts/gen_datasets_page.py\n" \
        + result.stdout[-3000:] + result.stderr[-2000:]


def test_every_python_example_in_the_docs_runs():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNISTFAMILY_") or k == "MNISTFAMILY_REALDATA"}
    result = subprocess.run([sys.executable, str(DOCS / "scripts" / "check_examples.py")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def test_every_test_named_in_the_reliability_report_exists():
    import re

    text = (DOCS / "reliability.md").read_text(encoding="utf-8")
    tests = DOCS.parent / "tests"
    named, missing = 0, []
    for cell in re.findall(r"^\|[^|\n]*\|[^|\n]*\|([^|\n]*)\|", text, flags=re.M):
        current = None  # "file::name", then "::other" for another test of the same file
        for file, name in re.findall(r"`(test_\w+\.py)?::(test_\w+)`", cell):
            current = file or current
            named += 1
            if current is None or not re.search(rf"^def {name}\(", (tests / current).read_text(), flags=re.M):
                missing.append(f"{current}::{name}")
    assert named >= 40
    assert missing == [], f"docs/reliability.md names tests that do not exist: {missing}"
