"""Helpers shared by the benchmark scripts (not a benchmark itself).

Every fresh-process measurement goes through :func:`spawn`, which runs the current
interpreter (``sys.executable``) on a snippet and returns its wall time, CPU times and
peak RSS (``ru_maxrss`` from ``os.wait4``, so nothing is added to the measured code).
Rounds are interleaved (A B C, A B C, ...) so that drift on a busy machine hits every
row alike; the tables show the best and the median of the rounds.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

#: size of the decoded MNIST train images (60000 x 28 x 28 uint8)
MNIST_TRAIN_IMAGE_BYTES = 60000 * 28 * 28


def realdata_dir() -> Path:
    """The shared real-data folder: ``MNISTFAMILY_REALDATA`` or ``<repo>/../shared/realdata``."""
    env = os.environ.get("MNISTFAMILY_REALDATA")
    return Path(env) if env else REPO.parent / "shared" / "realdata"


def installed(distribution: str, module: str | None = None) -> str | None:
    """The version of an installed distribution, or None. Never imports it."""
    if importlib.util.find_spec(module or distribution) is None:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


#: appended to every child: its peak RSS. ``VmHWM`` belongs to the child's own address space;
#: ``ru_maxrss`` would not do, since Linux carries the parent's high-water mark across fork+exec.
_HWM_SUFFIX = """
import sys as _bench_sys
try:
    with open('/proc/self/status') as _bench_f:
        _bench_sys.stderr.write('\\n__VMHWM_KB__ ' + [_l for _l in _bench_f if _l.startswith('VmHWM')][0].split()[1] + '\\n')
except Exception:
    pass
"""


def use_snapshot(ref: str, dest_root: Path) -> dict[str, str]:
    """Measure the mnistfamily of git ``ref`` instead of the working tree.

    ``git archive ref`` is unpacked under ``dest_root`` and put first on ``PYTHONPATH``, so
    every child imports that copy (registry.yaml included) even where an editable install
    points at the working tree. Returns ``{"ref": ..., "commit": ..., "path": ...}``.
    """
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    dest = Path(dest_root) / f"snapshot-{commit[:12]}"
    if not (dest / "mnistfamily" / "__init__.py").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    precompile(dest / "mnistfamily")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(dest), os.environ.get("PYTHONPATH", "")] if p)
    os.environ["MNISTFAMILY_BENCH_SNAPSHOT"] = commit
    check = subprocess.run([sys.executable, "-c", "import mnistfamily, sys; sys.stdout.write(mnistfamily.__file__)"],
                           capture_output=True, text=True, check=True, cwd=dest_root).stdout
    if not check.startswith(str(dest)):
        raise RuntimeError(f"the snapshot in {dest} is not what children import ({check})")
    return {"ref": ref, "commit": commit, "path": str(dest)}


def precompile(package: Path) -> None:
    """Write the package's ``.pyc`` files, as ``pip install`` does.

    Without them every fresh process compiles mnistfamily from source, which is not what an
    installed copy does (and environments with ``PYTHONDONTWRITEBYTECODE=1`` never write them).
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True,
                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})


def spawn(code: str, *, cwd: str | os.PathLike | None = None, env: dict | None = None,
          args: Iterable[str] = (), check: bool = True) -> dict[str, Any]:
    """Run ``python [args] -c code`` in a fresh process; wall/user/sys seconds and peak RSS.

    stdout and stderr go to temporary files (no pipe back-pressure); the child is reaped
    with ``os.wait4`` for its CPU times. ``maxrss`` is the child's ``VmHWM`` (its own peak
    resident set, file-backed pages it touched included), printed by a two-line epilogue.
    """
    argv = [sys.executable, *args, "-c", code.rstrip() + "\n" + _HWM_SUFFIX]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if check and proc.returncode != 0:
        raise RuntimeError(f"child failed (exit {proc.returncode}):\n{code}\n--- stderr ---\n{stderr[-4000:]}")
    return {
        "wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime,
        "maxrss": _hwm(stderr), "ru_maxrss": usage.ru_maxrss * 1024, "rc": proc.returncode,
        "stdout": stdout, "stderr": stderr,
    }


def _hwm(stderr: str) -> int | None:
    found = re.findall(r"__VMHWM_KB__ (\d+)", stderr)
    return int(found[-1]) * 1024 if found else None


def child_json(result: dict[str, Any]) -> dict[str, Any]:
    """The last JSON line a child printed."""
    for line in reversed(result["stdout"].strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"child printed no JSON:\n{result['stdout']}\n{result['stderr'][-2000:]}")


def stats(values: list[float]) -> dict[str, Any]:
    """Best, median and worst of repeated measurements, plus the raw values."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values),
            "n": len(values), "values": values}


def paired_ratio(subject: list[float], reference: list[float]) -> float:
    """Median over rounds of subject / reference, both measured in the same round.

    Rows run interleaved, so a round's two measurements are seconds apart and share the
    machine's load at that moment; the per-round ratio cancels much of the interference
    that makes best-of and median-of ratios swing on a busy machine.
    """
    return statistics.median(s / r for s, r in zip(subject, reference))


def interleaved(cases: dict[str, Any], rounds: int, measure, *, warmup: int = 1,
                between=None) -> dict[str, list]:
    """Call ``measure(name, case)`` ``rounds`` times per case, A B C A B C ...

    ``warmup`` uncounted rounds run first (bytecode caches, page cache). ``between(name)``
    runs before every call, outside any timing (e.g. to delete a cache folder).
    """
    out: dict[str, list] = {name: [] for name in cases}
    for r in range(warmup + rounds):
        for name, case in cases.items():
            if between is not None:
                between(name)
            value = measure(name, case)
            if r >= warmup:
                out[name].append(value)
    return out


def wait_for_quiet(max_load: float | None, timeout: float = 60.0) -> float | None:
    """Wait (at most ``timeout`` s) until the 1-minute load average is below ``max_load``.

    Returns the load average when done waiting; prints a note when it gave up.
    """
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    if max_load is None:
        return load
    deadline = time.monotonic() + timeout
    while load >= max_load and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    if load >= max_load:
        print(f"  (load average still {load:.2f} >= {max_load} after {timeout:.0f} s; measuring anyway)")
    return load


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:8.1f} ms" if seconds < 10 else f"{seconds:8.2f} s"


def fmt_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:5.2f}x"


def fmt_mb(nbytes: float | None) -> str:
    return "-" if nbytes is None else f"{nbytes / 1e6:7.1f} MB"


def table(headers: list[str], rows: list[list[Any]], *, title: str | None = None) -> str:
    """A plain-text table, first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))

    parts = []
    if title:
        parts += ["", title, "=" * len(title)]
    parts += [line(cells[0]), "  ".join("-" * w for w in widths)]
    parts += [line(r) for r in cells[1:]]
    return "\n".join(parts)


def verdict(value: float | None, target: float, *, strict: bool = False) -> str:
    """'met' / 'MISSED' against an upper bound (``strict`` for '<' instead of '<=')."""
    if value is None:
        return "n/a"
    ok = value < target if strict else value <= target
    return "met" if ok else "MISSED"


def environment() -> dict[str, Any]:
    """What the figures were measured on."""
    def git(*args):
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    versions = {name: installed(dist, mod) for name, dist, mod in [
        ("numpy", "numpy", None), ("mnistfamily", "mnistfamily", None), ("pyyaml", "pyyaml", "yaml"),
        ("isal", "isal", None), ("idx2numpy", "idx2numpy", None), ("torch", "torch", None),
        ("torchvision", "torchvision", None), ("psutil", "psutil", None)]}
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform(),
        "machine": platform.machine(), "cpus": os.cpu_count(), "loadavg_at_start": load,
        "versions": versions, "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--", "mnistfamily", "registry.yaml")),
        "measured_snapshot": os.environ.get("MNISTFAMILY_BENCH_SNAPSHOT"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "MNISTFAMILY_HOME")
                if k in os.environ},
    }


def save_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` (latest) and a timestamped copy; return the latest path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "environment": environment(), **payload}
    text = json.dumps(payload, indent=1, sort_keys=False, default=str)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS_DIR / f"{name}-{stamp}.json").write_text(text, encoding="utf-8")
    latest = RESULTS_DIR / f"{name}.json"
    latest.write_text(text, encoding="utf-8")
    return latest


def describe_environment() -> str:
    env = environment()
    v = env["versions"]
    parts = [f"python {env['python']} ({env['executable']})", f"{env['cpus']} CPUs",
             f"loadavg {tuple(round(x, 2) for x in env['loadavg_at_start']) if env['loadavg_at_start'] else '?'}"]
    parts += [f"{k} {v[k] or 'not installed'}" for k in ("numpy", "isal", "idx2numpy", "torch", "torchvision")]
    if env["measured_snapshot"]:
        parts.append(f"mnistfamily snapshot of commit {env['measured_snapshot'][:10]}")
    else:
        commit = (env["git_commit"] or "?")[:10] + (" +local changes" if env["git_dirty"] else "")
        parts.append(f"mnistfamily working tree @ {commit}")
    return "; ".join(parts)
