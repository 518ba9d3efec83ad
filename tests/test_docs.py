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
