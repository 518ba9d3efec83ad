"""Crash testing: a worker process to kill, and the invariants the cache and exports must keep.

``check_invariants`` says what must hold at *any* moment, in particular right after a
process was killed with SIGKILL in the middle of a download, a preparation or an export:

- every file in ``downloads/`` verifies against the registry, or is a temporary
  (``.<name>.<8 hex>.part``) or lock file that the next run ignores;
- every prepared entry with a visible name (``<split>-<key>``) has a manifest and passes
  ``verify_entry``; ``.tmp-*`` and ``.trash-*`` folders are never read;
- a Parquet export either has ``_SUCCESS`` and reads back equal to the source, or has no
  ``_SUCCESS`` and ``read_parquet`` refuses it; an ``.npz`` export is absent or complete.

The worker (``python -m mnistfamily.testing.crash ...``) loads a dataset (download +
prepare) and optionally exports it, printing a JSON line of array hashes. It tells its
parent where it is: ``ready`` once its imports are done (so kill times are spread over the
work, not over the interpreter's start), then the phase of each library log record
(``download``, ``prepare``, ``export``) in ``--phase-file``. ``--pause S`` sleeps ``S``
seconds around every rename and array write, so that a kill lands between those steps
as often as inside them, the way ``Fault.trickle`` stretches a download.

>>> from mnistfamily.testing.crash import check_invariants   # doctest: +SKIP
>>> check_invariants(cache, registry_path, expected=..., parquet=dest / "mnist")  # doctest: +SKIP
[]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["check_invariants", "array_digest", "main", "PHASES", "Zygote", "RunResult", "read_phases",
           "run_campaign", "CampaignReport"]

#: the phases a kill is attributed to, in the order a worker goes through them
PHASES = ("start", "download", "prepare", "export", "done")
_PART = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.part$")
_ENTRY = re.compile(r"^(?P<split>.+)-[0-9a-f]{16}$")
#: exit status of a worker whose export found the destination taken (ExportExistsError)
EXIT_EXISTS = 3


def array_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of a split's images and labels (shape, dtype and bytes)."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(images), np.ascontiguousarray(labels)):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def check_invariants(root: str | os.PathLike[str], registry: Any, *,
                     expected: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                     parquet: str | os.PathLike[str] | None = None,
                     npz: str | os.PathLike[str] | None = None) -> list[str]:
    """Every violation of the crash-safety invariants in a cache root and export targets.

    Parameters
    ----------
    root
        The cache root (``data_dir``).
    registry
        A :class:`~mnistfamily.registry.Registry`, or the path of a registry file.
    expected
        ``{split: {"images": ..., "labels": ...}}``: what a complete export must read back as.
    parquet
        A Parquet dataset folder (``DEST/<dataset>``) an export may have been writing.
    npz
        An ``.npz`` file an export may have been writing.

    Returns
    -------
    list[str]
        One line per violation, naming the path; empty when every invariant holds.
    """
    from ..registry import Registry

    if not isinstance(registry, Registry):
        registry = Registry.from_files([Path(registry)])
    root = Path(root)
    violations = _check_downloads(root, registry) + _check_prepared(root)
    if parquet is not None:
        violations += _check_parquet(Path(parquet), expected)
    if npz is not None:
        violations += _check_npz(Path(npz), expected)
    return violations


def _check_downloads(root: Path, registry: Any) -> list[str]:
    from ..errors import ChecksumError
    from ..fetch import verify_file

    files: dict[tuple[str, str], Any] = {}
    for spec in registry:
        for file in spec.files.values():
            files[(spec.family, file.name)] = file
    out = []
    folder = root / "downloads"
    for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
        if path.is_dir() or path.name.endswith(".lock") or _PART.match(path.name):
            continue  # locks and temporary copies: a complete download is never read from them
        relative = path.relative_to(folder)
        file = files.get((relative.parts[0], path.name)) if len(relative.parts) == 2 else None
        if file is None:
            out.append(f"{path}: a visible file in downloads/ that no registry entry names")
            continue
        try:
            verify_file(path, file)
        except ChecksumError as exc:
            out.append(f"{path}: a visible download that does not verify: {exc}")
    return out


def _check_prepared(root: Path) -> list[str]:
    from ..prepare.cache import MANIFEST, read_entry, verify_entry

    out = []
    folder = root / "prepared"
    for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
        if not path.is_dir() or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # .tmp-* and .trash-* folders (and anything inside them) are never read
        if not _ENTRY.match(path.name):
            continue  # a dataset folder (prepared/emnist/balanced), not an entry
        if not (path / MANIFEST).is_file():
            out.append(f"{path}: a visible prepared entry without {MANIFEST}")
            continue
        problems = verify_entry(path)
        if problems:
            out.append(f"{path}: a visible prepared entry that does not verify: {'; '.join(problems)}")
        elif read_entry(path) is None:
            out.append(f"{path}: a visible prepared entry that does not load")
    return out


def _check_parquet(folder: Path, expected: Mapping[str, Mapping[str, np.ndarray]] | None) -> list[str]:
    from ..outputs import IncompleteExportError, read_parquet
    from ..outputs.layout import SUCCESS

    if not (folder / SUCCESS).exists():
        try:
            read_parquet(folder)
        except IncompleteExportError:
            return []  # readers gating on _SUCCESS (read_parquet, Spark) see no export
        except Exception as exc:  # noqa: BLE001 - any other answer is a violation
            return [f"{folder}: no {SUCCESS}, and read_parquet fails with {type(exc).__name__}: {exc}"]
        return [f"{folder}: no {SUCCESS}, yet read_parquet reads it"]
    try:
        back = read_parquet(folder)
    except Exception as exc:  # noqa: BLE001
        return [f"{folder}: {SUCCESS} is there but read_parquet fails: {type(exc).__name__}: {exc}"]
    if not isinstance(back, dict):  # a dataset folder reads back as {split: Dataset}
        return [f"{folder}: read back as one split, not a dataset folder"]
    return _compare(folder, {split: (ds.images, ds.labels) for split, ds in back.items()}, expected)


def _check_npz(path: Path, expected: Mapping[str, Mapping[str, np.ndarray]] | None) -> list[str]:
    if not path.exists():
        return []
    try:
        with np.load(path, allow_pickle=False) as data:
            found = {key[2:]: (data[key], data[f"y_{key[2:]}"]) for key in data.files if key.startswith("x_")}
    except Exception as exc:  # noqa: BLE001
        return [f"{path}: a visible .npz that does not load: {type(exc).__name__}: {exc}"]
    return _compare(path, found, expected)


def _compare(where: Path, found: Mapping[str, tuple[np.ndarray, np.ndarray]],
             expected: Mapping[str, Mapping[str, np.ndarray]] | None) -> list[str]:
    if expected is None:
        return []
    if set(found) != set(expected):
        return [f"{where}: holds splits {sorted(found)}, expected {sorted(expected)}"]
    out = []
    for split, (images, labels) in found.items():
        want = expected[split]
        if array_digest(images, np.asarray(labels, dtype=np.int64)) != array_digest(
                want["images"], np.asarray(want["labels"], dtype=np.int64)):
            out.append(f"{where}: split {split!r} reads back different from the source")
    return out


# ----------------------------------------------------------------------------- the worker


def _phase_logger(path: str) -> None:
    """Append the phase of every library log record to ``path`` (flushed at once: we may be killed)."""
    import logging

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open until killed

    class PhaseHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if record.name.startswith("mnistfamily.fetch"):
                phase = "download"
            elif record.name.startswith("mnistfamily.prepare"):
                phase = "prepare"
            elif record.name.startswith("mnistfamily.outputs") and message.startswith("exporting"):
                phase = "export"
            else:
                return
            stream.write(f"{phase} {time.monotonic():.4f}\n")

    logger = logging.getLogger("mnistfamily")
    logger.setLevel(logging.INFO)
    logger.addHandler(PhaseHandler())
    stream.write(f"start {time.monotonic():.4f}\n")


def _slow_down(pause: float) -> None:
    """Sleep ``pause`` seconds before and after every rename and ``.npy``/shard write."""
    import functools

    from ..outputs import parquet
    from ..prepare import cache

    def around(function):
        @functools.wraps(function)
        def slowed(*args, **kwargs):
            time.sleep(pause)
            try:
                return function(*args, **kwargs)
            finally:
                time.sleep(pause)
        return slowed

    os.replace = around(os.replace)
    os.rename = around(os.rename)
    for name in ("create", "save", "commit"):
        setattr(cache.EntryWriter, name, around(getattr(cache.EntryWriter, name)))
    parquet.write_shard = around(parquet.write_shard)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker: load every split (or ``--splits``), then export; print a JSON line of digests."""
    parser = argparse.ArgumentParser(prog="python -m mnistfamily.testing.crash")
    parser.add_argument("--registry", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--splits", default=None, help="comma-separated (default: all)")
    parser.add_argument("--parquet", default=None, help="export as Parquet into this folder")
    parser.add_argument("--npz", default=None, help="export as .npz to this file")
    parser.add_argument("--rows-per-shard", type=int, default=25)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--phase-file", default=None)
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args(argv)

    import mnistfamily as mf
    from ..outputs import ExportExistsError, export, export_npz
    from ..registry import Registry

    import aiohttp  # noqa: F401 - imported before "ready": kill times should fall on the work
    import fsspec  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    if args.phase_file:
        _phase_logger(args.phase_file)
    if args.pause:
        _slow_down(args.pause)
    registry = Registry.from_files([Path(args.registry)])
    splits = args.splits.split(",") if args.splits else list(registry.dataset(args.dataset).splits)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    digests = {}
    for split in splits:
        ds = mf.load(args.dataset, split, registry=registry, data_dir=args.data_dir)
        digests[split] = array_digest(ds.images, ds.labels)
    taken = False
    try:
        if args.parquet:
            export(args.dataset, args.parquet, splits=splits, registry=registry, data_dir=args.data_dir,
                   rows_per_shard=args.rows_per_shard, overwrite=args.overwrite)
    except ExportExistsError as exc:
        sys.stderr.write(f"{exc}\n")
        taken = True
    try:
        if args.npz:
            export_npz(args.dataset, args.npz, splits=splits, registry=registry, data_dir=args.data_dir,
                       overwrite=args.overwrite)
    except ExportExistsError as exc:
        sys.stderr.write(f"{exc}\n")
        taken = True
    if taken:
        sys.stdout.write(json.dumps(digests) + "\n")
        return EXIT_EXISTS
    if args.phase_file:
        with open(args.phase_file, "a", encoding="utf-8") as f:
            f.write(f"done {time.monotonic():.4f}\n")
    sys.stdout.write(json.dumps(digests) + "\n")
    return 0


def read_phases(path: str | os.PathLike[str]) -> list[tuple[str, float]]:
    """``(phase, time.monotonic())`` records a worker wrote to its ``--phase-file``."""
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        phase, _, stamp = line.partition(" ")
        try:
            out.append((phase, float(stamp)))
        except ValueError:
            continue  # the last line, cut by the kill
    return out


# ----------------------------------------------------------------------------- the zygote


@dataclass(frozen=True)
class RunResult:
    """One worker run: its exit status, whether it was killed, and the phase it was in then."""

    status: int          #: exit code, or minus the signal number
    killed: bool
    phase: str           #: the last phase the worker reached (``done`` when it finished)
    elapsed: float
    stdout: str
    stderr: str

    def digests(self) -> dict[str, str]:
        """The ``{split: digest}`` a finished worker printed."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        raise AssertionError(f"the worker printed no digests; stderr:\n{self.stderr[-3000:]}")


class Zygote:
    """A process that imports everything once, then forks one worker per run and kills it on cue.

    A fresh interpreter costs 1-2 s of imports before the first byte of work; forking from
    a process that has done them puts every kill point on the work itself. The zygote is
    single-threaded when it forks (checked), and it sends SIGKILL itself through a pidfd,
    so a kill can never hit a recycled process id.
    """

    def __init__(self, env: Mapping[str, str] | None = None):
        environment = dict(os.environ if env is None else env)
        environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen([sys.executable, "-m", "mnistfamily.testing.crash", "--zygote"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env=environment)
        line = self._read()
        if line != "ready":
            raise RuntimeError(f"the zygote did not start: {line!r}")

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote exited with status {self.process.wait()}")
        return line.strip()

    def run(self, argv: Sequence[str], *, phase_file: str | os.PathLike[str], kill_phase: str | None = None,
            kill_after: float | None = None) -> RunResult:
        """Run ``main(argv)`` in a forked worker; SIGKILL it ``kill_after`` seconds after it
        reaches ``kill_phase`` (or after it starts, when ``kill_phase`` is None)."""
        assert self.process.stdin is not None
        command = {"argv": [*argv, "--phase-file", os.fspath(phase_file)], "phase_file": os.fspath(phase_file),
                   "kill_phase": kill_phase, "kill_after": kill_after}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self._read())
        phases = read_phases(phase_file)
        return RunResult(answer["status"], answer["killed"], phases[-1][0] if phases else "start",
                         answer["elapsed"], answer["stdout"], answer["stderr"])

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> "Zygote":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass
class CampaignReport:
    """What ``run_campaign`` did and found."""

    kills: dict[str, int]            #: SIGKILLs per phase the worker was in
    finished_before_kill: int        #: runs that ended before their kill point came
    rounds: int
    violations: list[str]            #: invariant violations right after a kill or after a final run
    failures: list[str]              #: final runs that did not finish with the right arrays
    export_leftovers: int            #: temporary export names left after the final runs
    cache_leftovers: int             #: leftovers ``verify`` listed after the final runs
    cache_leftovers_after_repair: int
    seconds: float
    #: kills after which split folders were visible without _SUCCESS (killed while committing)
    visible_without_success: int = 0

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())


def run_campaign(workdir: str | os.PathLike[str], *, kills: int, seed: int = 0, per_round: int = 3,
                 pause: float = 0.02, time_limit: float | None = None, progress: Any = None) -> CampaignReport:
    """Kill workers at ``kills`` points spread over download, prepare and export; check after each.

    Each round starts from an empty cache and export folder; up to ``per_round`` workers are
    killed in turn on what the previous one left, then one runs to the end and must give
    the published arrays and a complete export. Rounds alternate ``overwrite`` on and off.
    A kill point is a phase and an offset into it (seeded ``random.Random``), the offsets
    spanning what that phase took in a calibration run; a fifth of the points are offsets
    from the worker's start instead. ``verify(repair=True)`` then clears the cache's leftovers.
    """
    import random

    from .. import api
    from . import Fault, serve_directory, write_miniatures

    started = time.monotonic()
    workdir = Path(workdir)
    (workdir / "served").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    report = CampaignReport({p: 0 for p in PHASES}, 0, 0, [], [], 0, 0, 0, 0.0)
    with serve_directory(workdir / "served") as server, Zygote() as zygote:
        mini = write_miniatures(workdir / "served", server.url, names=["mnist"])
        for name in mini.files["mnist"]:  # downloads long enough to be killed midway
            server.add_fault(f"mnist/{name}", Fault.trickle(2048, 0.01))
        splits = list(mini.registry.dataset("mnist").splits)
        expected = {split: mini.expect("mnist", split) for split in splits}
        want = {split: array_digest(e["images"], e["labels"]) for split, e in expected.items()}

        def argv(base: Path, overwrite: bool) -> list[str]:
            return ["--registry", str(mini.registry_path), "--data-dir", str(base / "cache"),
                    "--parquet", str(base / "out"), "--npz", str(base / "out.npz"), "--pause", str(pause),
                    *(["--overwrite"] if overwrite else [])]

        calibration = workdir / "calibration"
        result = zygote.run(argv(calibration, False), phase_file=calibration / "phases")
        if result.status != 0:
            raise RuntimeError(f"the calibration run failed:\n{result.stderr}")
        spans = _first_blocks(read_phases(calibration / "phases"))
        while report.total_kills < kills and (time_limit is None or time.monotonic() - started < time_limit):
            report.rounds += 1
            base = workdir / f"round-{report.rounds:04d}"
            overwrite = report.rounds % 2 == 0
            for attempt in range(per_round):
                # in phase order: a warm cache has no download left to kill, so later attempts aim later;
                # one in five is an offset from the worker's start instead, wherever that falls
                phase = "start" if rng.random() < 0.2 else ("download", "prepare", "export")[min(attempt, 2)]
                after = rng.uniform(0.0, spans[phase])
                phases = base / f"phases-{attempt}"
                result = zygote.run(argv(base, overwrite), phase_file=phases,
                                    kill_phase=None if phase == "start" else phase, kill_after=after)
                if result.killed:
                    report.kills[result.phase] += 1
                    folder = base / "out" / "mnist"
                    if not (folder / "_SUCCESS").exists() and folder.is_dir() and any(
                            not p.name.startswith(".") for p in folder.iterdir()):
                        report.visible_without_success += 1
                else:
                    report.finished_before_kill += 1
                    if result.status not in (0, EXIT_EXISTS):
                        report.failures.append(f"{base} run {attempt}: status {result.status}\n{result.stderr}")
                where = f"round {report.rounds}, kill {attempt} ({result.phase} + {after:.3f} s)"
                report.violations += [f"{where}: {v}" for v in check_invariants(
                    base / "cache", mini.registry, expected=expected, parquet=base / "out" / "mnist",
                    npz=base / "out.npz")]
                if progress is not None:
                    progress(report)
                if report.total_kills >= kills:
                    break
            final = zygote.run(argv(base, overwrite), phase_file=base / "phases-final")
            complete = (base / "out" / "mnist" / "_SUCCESS").exists() and (base / "out.npz").exists()
            if final.status not in (0, EXIT_EXISTS) or not complete or final.digests() != want:
                report.failures.append(f"{base}: the run after the kills did not finish: status {final.status}, "
                                       f"complete export {complete}\n{final.stderr[-3000:]}")
            report.violations += [f"round {report.rounds}, final run: {v}" for v in check_invariants(
                base / "cache", mini.registry, expected=expected, parquet=base / "out" / "mnist",
                npz=base / "out.npz")]
            report.export_leftovers += sum(1 for p in (base / "out").rglob("*") if p.name.startswith(".tmp-")
                                           or p.name.startswith(".old-") or p.name.endswith(".tmp"))
            report.export_leftovers += sum(1 for p in base.glob(".tmp-*"))
            listed = [p for p in api.verify("mnist", data_dir=base / "cache", registry=mini.registry)
                      if p.kind == "leftover"]
            report.cache_leftovers += len(listed)
            api.verify("mnist", data_dir=base / "cache", registry=mini.registry, repair=True)
            report.cache_leftovers_after_repair += len(api.verify("mnist", data_dir=base / "cache",
                                                                  registry=mini.registry))
    report.seconds = time.monotonic() - started
    return report


def _first_blocks(records: list[tuple[str, float]]) -> dict[str, float]:
    """Seconds from each phase's first record to the next record of another phase (the whole run for ``start``)."""
    spans = {"start": max(0.1, records[-1][1] - records[0][1])}
    for i, (phase, stamp) in enumerate(records):
        if phase in spans:
            continue
        later = [t for p, t in records[i + 1:] if p != phase]
        spans[phase] = max(0.05, (later[0] if later else records[-1][1]) - stamp)
    for phase in ("download", "prepare", "export"):
        spans.setdefault(phase, 0.1)
    return spans


def _zygote() -> int:
    import select
    import tempfile
    import threading
    import traceback

    import aiohttp  # noqa: F401 - everything a worker imports, imported once here
    import filelock  # noqa: F401
    import fsspec  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import mnistfamily  # noqa: F401
    from .. import api, outputs  # noqa: F401
    from ..fetch import transfer  # noqa: F401
    from ..formats import idx  # noqa: F401
    from ..prepare import idx_split  # noqa: F401

    if threading.active_count() != 1:  # a forked child would inherit locks no thread will release
        raise RuntimeError(f"the zygote runs {threading.active_count()} threads; it must fork single-threaded")
    print("ready", flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                code = main(command["argv"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - reported through stderr and the status
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        killed = _wait_and_kill(pid, command, select)
        _, status = os.waitpid(pid, 0)
        elapsed = time.monotonic() - start
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read().decode("utf-8", "replace")[-20000:])
            stream.close()
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"status": code, "killed": killed, "elapsed": elapsed,
                          "stdout": texts[0], "stderr": texts[1]}), flush=True)
    return 0


def _wait_and_kill(pid: int, command: dict, select: Any) -> bool:
    """Wait for the worker; SIGKILL it once the kill point is reached. True if it was killed."""
    kill_after, kill_phase = command.get("kill_after"), command.get("kill_phase")
    pidfd = os.pidfd_open(pid)
    try:
        reached = time.monotonic() if kill_phase is None else None
        while True:
            if kill_after is None:
                select.select([pidfd], [], [])
                return False
            if reached is None:
                for phase, stamp in read_phases(command["phase_file"]):
                    if phase == kill_phase:
                        reached = stamp  # monotonic clocks agree between processes on one machine
                        break
            wait = 0.005 if reached is None else max(0.0, reached + kill_after - time.monotonic())
            ready, _, _ = select.select([pidfd], [], [], min(wait, 0.005) if reached is None else wait)
            if ready:
                return False  # finished (or died) before the kill point
            if reached is not None and time.monotonic() >= reached + kill_after:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                return True
    finally:
        os.close(pidfd)


if __name__ == "__main__":  # pragma: no cover - run as a child process by the tests
    sys.exit(_zygote() if sys.argv[1:] == ["--zygote"] else main())
