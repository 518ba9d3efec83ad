"""Long mutation-fuzzing run over every reader of untrusted bytes (outside the test suite).

    python benchmarks/fuzz.py --minutes 5                      # every reader, time shared equally
    python benchmarks/fuzz.py --minutes 2 --reader idx --reader npz --out fuzz-out
    python benchmarks/fuzz.py --replay fuzz-out/idx-0123abcd.bin --reader idx

The targets, seeds and mutators are those of ``harness.fuzz`` (``tests/harness/fuzz/``, the same the
bounded hypothesis tests use). For each input the harness checks the library's contract:
only ``MnistFamilyError`` subclasses escape, no file appears outside the scratch cache, the
Python heap's peak (tracemalloc) stays below ``--memory-limit`` MiB plus 1,100 times the
input's size (more than deflate can expand it), and no input runs longer than ``--timeout``
seconds. The input being run is kept as ``<reader>-crash-candidate.bin`` until the run ends, so
a crash of the interpreter itself (a segfault in a C extension) leaves its reproducer. A
broken contract is a failure: its input is saved under ``--out`` as
``<reader>-<sha1>.bin`` with ``.txt`` holding the traceback, and the run goes on.

Feedback is coarse but cheap: a mutant whose outcome (error class and the start of its
message, digits removed) was not seen before joins the corpus, so mutation continues from
inputs that reached a new check. Prints per reader: inputs tried, inputs per second, the
distinct outcomes with their counts, and the failures. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import Counter
from pathlib import Path

from mnistfamily.errors import MnistFamilyError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harnesses live beside the tests
from harness.fuzz import TARGETS, Target, UnexpectedOutcome, mutate, run_target


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise _Timeout()


def _signature(exc: BaseException | None, outcome: str) -> str:
    if exc is None:
        return outcome
    text = re.sub(r"\d+", "N", str(exc).split(": ", 1)[-1])[:60]
    return f"{outcome}: {text}"


def _one(target: Target, data: bytes, scratch: Path, timeout: float, memory_limit: int) -> tuple[str, str | None]:
    """(outcome signature, failure description or None)."""
    folder = Path(tempfile.mkdtemp(dir=scratch))
    signal.setitimer(signal.ITIMER_REAL, timeout)
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    failure = None
    signature = "ok"
    try:
        try:
            from harness import fuzz

            folder.mkdir(exist_ok=True)
            target.run(data, folder)
        except MnistFamilyError as exc:
            signature = _signature(exc, type(exc).__name__)
        stray = fuzz.outside_writes(folder, set())
        stray = [s for s in stray if not s.endswith("input.bin")]
        if stray:
            failure = f"files written outside the cache: {stray}"
    except _Timeout:
        failure = f"took longer than {timeout} s"
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - exactly what the contract forbids
        failure = "".join(traceback.format_exception(exc))
        signature = f"FAIL {type(exc).__name__}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        peak = tracemalloc.get_traced_memory()[1] - base
        shutil.rmtree(folder, ignore_errors=True)
    limit = memory_limit + 1100 * len(data)
    if failure is None and peak > limit:
        failure = f"heap peak {peak / 2**20:.1f} MiB above the bound {limit / 2**20:.1f} MiB"
    return signature, failure


def _save(out: Path, reader: str, data: bytes, failure: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{reader}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(failure, encoding="utf-8")
    return path


def fuzz_reader(target: Target, seconds: float, rng: random.Random, scratch: Path, out: Path,
                timeout: float, memory_limit: int) -> dict:
    corpus = list(target.seeds())
    outcomes: Counter[str] = Counter()
    failures: dict[str, Path] = {}
    tried = 0
    start = time.monotonic()
    queue = list(corpus)  # every seed once, unmutated, first
    out.mkdir(parents=True, exist_ok=True)
    current = out / f"{target.name}-crash-candidate.bin"
    while time.monotonic() - start < seconds:
        data = queue.pop() if queue else mutate(rng.choice(corpus), rng, corpus)
        if len(data) > 4 << 20:
            continue
        # a crash of the interpreter (a segfault in a C extension) leaves this file behind:
        # the reproducer no in-process handler could save
        current.write_bytes(data)
        signature, failure = _one(target, data, scratch, timeout, memory_limit)
        tried += 1
        if signature not in outcomes and len(corpus) < 2000:
            corpus.append(data)
        outcomes[signature] += 1
        if failure is not None:
            key = failure.strip().splitlines()[-1][:120]
            if key not in failures:
                failures[key] = _save(out, target.name, data, failure)
    current.unlink(missing_ok=True)
    elapsed = time.monotonic() - start
    return {"reader": target.name, "tried": tried, "seconds": elapsed, "outcomes": outcomes,
            "failures": failures, "corpus": len(corpus)}


def _report(result: dict) -> None:
    classes = Counter()
    for signature, count in result["outcomes"].items():
        classes[signature.split(":", 1)[0]] += count
    print(f"\n== {result['reader']}: {result['tried']:,} inputs in {result['seconds']:.0f} s "
          f"({result['tried'] / max(result['seconds'], 1e-9):.0f}/s), corpus {result['corpus']}, "
          f"{len(result['outcomes'])} distinct outcomes")
    print("   outcome classes: " + ", ".join(f"{k} {v:,}" for k, v in classes.most_common()))
    for signature, count in result["outcomes"].most_common(8):
        print(f"   {count:>7,}  {signature}")
    if result["failures"]:
        print(f"   FAILURES ({len(result['failures'])}):")
        for key, path in result["failures"].items():
            print(f"     {key}\n       reproducer: {path}")
    else:
        print("   failures: none")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="total time, shared by the readers")
    parser.add_argument("--reader", action="append", choices=sorted(TARGETS),
                        help="reader to fuzz (repeatable; default: all)")
    parser.add_argument("--out", type=Path, default=Path("fuzz-out"), help="folder for reproducers")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutation RNG")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one input may take")
    parser.add_argument("--memory-limit", type=int, default=64, help="MiB of heap peak allowed per input "
                        "(plus 1,100 x the input size)")
    parser.add_argument("--replay", type=Path, nargs="*", help="run these saved inputs once and show the outcome")
    args = parser.parse_args(argv)
    readers = args.reader or sorted(TARGETS)
    signal.signal(signal.SIGALRM, _alarm)
    faulthandler.enable()  # a segfault in a C extension prints the Python stack that reached it
    tracemalloc.start()
    scratch = Path(tempfile.mkdtemp(prefix="mnistfamily-fuzz-"))
    try:
        if args.replay:
            status = 0
            for path in args.replay:
                for reader in readers:
                    signature, failure = _one(TARGETS[reader], path.read_bytes(), scratch, args.timeout,
                                              args.memory_limit << 20)
                    print(f"{path} [{reader}]: {signature}")
                    if failure:
                        print(failure)
                        status = 1
            return status
        print(f"fuzzing {', '.join(readers)} for {args.minutes:g} min "
              f"(seed {args.seed}, timeout {args.timeout:g} s, heap bound {args.memory_limit} MiB + 1100 x input)")
        rng = random.Random(args.seed)
        share = args.minutes * 60 / len(readers)
        results = []
        for reader in readers:
            result = fuzz_reader(TARGETS[reader], share, rng, scratch, args.out, args.timeout,
                                 args.memory_limit << 20)
            _report(result)
            results.append(result)
        total = sum(r["tried"] for r in results)
        failed = sum(len(r["failures"]) for r in results)
        print(f"\ntotal: {total:,} inputs, {failed} distinct failure(s)"
              + (f"; reproducers in {args.out}" if failed else ""))
        return 1 if failed else 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
