"""Run every Python example in the docs, so a page never shows code that does not work.

Usage::

    python docs/scripts/check_examples.py                 # every docs/**/*.md
    python docs/scripts/check_examples.py docs/idx-format.md
    MNISTFAMILY_REALDATA=/path/to/realdata python docs/scripts/check_examples.py

Each page runs in a fresh subprocess, in an empty temporary folder with a temporary ``HOME``
(so the default cache ``~/.cache/mnistfamily`` starts empty) and with every connection to a
non-loopback address refused. The ``python`` blocks of a page run in order and share one
namespace, like cells of a notebook. A block whose first line starts with ``>>>`` is run as
a doctest, so the output it shows is checked too.

An HTML comment on the line before a block changes how it is run:

``<!-- check: skip -->``
    not run (needs the internet, or a cloud bucket).
``<!-- check: realdata -->``
    needs the real published files: run only when ``MNISTFAMILY_REALDATA`` names the folder
    of real files, which then appears in the temporary ``HOME`` as the folders of ``REALDATA_HOME``
    (``~/Downloads/mnist`` holds the uncompressed Kaggle-layout MNIST, ``~/datasets`` the
    real files as ``<family>/<published name>``).
``<!-- check: pytest -->``
    a test module: written to ``test_example.py`` and run with pytest.
``<!-- check: needs torch tensorflow -->``
    needs optional libraries (import names): run only when every one is installed, skipped otherwise.

Exit status 0 when every example that ran passed, 1 otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent

#: folder under the temporary HOME -> folder of MNISTFAMILY_REALDATA it shows
REALDATA_HOME = {
    "Downloads/mnist": "mnist-kaggle-layout",  # MNIST as Kaggle has it: uncompressed, dotted names
    "datasets": ".",                           # <folder>/<family>/<published name>: mnist/, qmnist/, ...
}

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*check:\s*(\w+)((?:\s+[\w.]+)*)\s*-->\s*$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the first code line
    code: str
    mode: str  # "run", "skip", "realdata", "pytest", "needs"
    needs: tuple[str, ...] = ()  # modules a "needs" block imports


def blocks(path: Path) -> list[Block]:
    """The ``python`` blocks of a Markdown page with their check mode."""
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        language, start = match.group(1), i + 1
        j = start
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if language == "python":
            previous = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            mark = _MARK.match(previous.strip())
            out.append(Block(path, start + 1, "\n".join(lines[start:j]) + "\n", mark.group(1) if mark else "run",
                             tuple(mark.group(2).split()) if mark else ()))
        i = j + 1
    return out


_RUNNER = r'''
import doctest, ipaddress, json, socket, sys, traceback

_connect = socket.socket.connect
def _guard(self, address):
    if not isinstance(address, (str, bytes)):
        host = address[0]
        if host != "localhost" and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise OSError(f"docs example tried to reach {address!r}: examples must run offline")
    return _connect(self, address)
socket.socket.connect = _guard

blocks = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
failed = 0
for block in blocks:
    where = f"{block['path']}:{block['line']}"
    code = block["code"]
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, namespace, where, block["path"], block["line"] - 1)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        result = runner.run(test, clear_globs=False)
        namespace.update(test.globs)  # DocTest works on a copy: keep what the block defined
        if result.failed:
            failed += 1
    else:
        try:
            exec(compile(code, where, "exec"), namespace)
        except BaseException:
            failed += 1
            print(f"FAILED {where}", file=sys.stderr)
            traceback.print_exc()
json.dump({"failed": failed}, open(sys.argv[2], "w"))
sys.exit(1 if failed else 0)
'''


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("MNISTFAMILY_") and k != "MNISTFAMILY_REALDATA") and k != "XDG_CACHE_HOME"}
    env["HOME"] = str(home)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_page(path: Path, realdata: Path | None) -> tuple[int, int, int]:
    """Run a page's examples; return (passed, failed, skipped) block counts."""
    page_blocks = blocks(path)
    skipped = [b for b in page_blocks if b.mode == "skip" or (b.mode == "realdata" and realdata is None)
               or (b.mode == "needs" and not all(importlib.util.find_spec(m) for m in b.needs))]
    runnable = [b for b in page_blocks if b not in skipped]
    if not runnable:
        return 0, 0, len(skipped)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="mnistfamily-docs-") as tmp:
        work, home = Path(tmp) / "work", Path(tmp) / "home"
        work.mkdir()
        home.mkdir()
        if realdata is not None:
            for inside, folder in REALDATA_HOME.items():
                (home / inside).parent.mkdir(parents=True, exist_ok=True)
                (home / inside).symlink_to(realdata / folder, target_is_directory=True)
        env = _environment(home)
        script = [b for b in runnable if b.mode != "pytest"]
        if script:
            spec = Path(tmp) / "blocks.json"
            spec.write_text(json.dumps([{"path": str(b.path.relative_to(DOCS.parent)), "line": b.line,
                                         "code": b.code} for b in script]), encoding="utf-8")
            report = Path(tmp) / "report.json"
            subprocess.run([sys.executable, "-c", _RUNNER, str(spec), str(report)], cwd=work, env=env)
            try:
                failures = json.loads(report.read_text(encoding="utf-8"))["failed"]
            except (OSError, ValueError, KeyError):  # the runner itself died
                print(f"FAILED {path.relative_to(DOCS.parent)}: the examples did not run to the end", file=sys.stderr)
                failures = len(script)
            failed += failures
            passed += len(script) - failures
        for n, block in enumerate(b for b in runnable if b.mode == "pytest"):
            test_file = work / f"test_example_{n}.py"
            test_file.write_text(textwrap.dedent(block.code), encoding="utf-8")
            result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file.name],
                                    cwd=work, env=env, capture_output=True, text=True)
            if result.returncode == 0:
                passed += 1
            else:
                failed += 1
                print(f"FAILED {block.path.relative_to(DOCS.parent)}:{block.line} (pytest)\n{result.stdout}"
                      f"{result.stderr}", file=sys.stderr)
    return passed, failed, len(skipped)


def main(argv: list[str]) -> int:
    pages = [Path(a).resolve() for a in argv] or sorted(DOCS.rglob("*.md"))
    folder = os.environ.get("MNISTFAMILY_REALDATA")
    realdata = Path(folder).resolve() if folder and Path(folder).is_dir() else None
    total_failed = 0
    for page in pages:
        passed, failed, skipped = run_page(page, realdata)
        total_failed += failed
        if passed or failed or skipped:
            status = "FAILED" if failed else "ok"
            print(f"{status:6} {page.relative_to(DOCS.parent)}: {passed} passed, {failed} failed, {skipped} skipped")
    if realdata is None:
        print("(blocks marked realdata were skipped: set MNISTFAMILY_REALDATA to run them)")
    return 1 if total_failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
