"""The zygote: a process that has done its imports, forks workers and SIGKILLs them on cue.

:class:`Zygote` is the parent's handle; the zygote process itself runs ``_zygote``
(``python -m harness.crash --zygote``), reading one JSON command a line and
answering with the worker's :class:`RunResult` fields.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .worker import main, read_phases

__all__ = ["RunResult", "Zygote"]


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
        self.process = subprocess.Popen([sys.executable, "-m", "harness.crash", "--zygote"],
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
    from mnistfamily import api, outputs  # noqa: F401
    from mnistfamily.fetch import transfer  # noqa: F401
    from mnistfamily.formats import idx  # noqa: F401
    from mnistfamily.prepare import idx_split  # noqa: F401

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
