"""SIGKILL campaign: kill workers at hundreds of points of download, prepare and export.

Each kill is followed by ``harness.crash.check_invariants`` (``tests/harness/crash/``) (downloads verify or
are temporary, visible prepared entries verify, an export has ``_SUCCESS`` and reads back
equal or is refused by ``read_parquet``); each round ends with a run that must finish with
the published arrays. Prints kill points per phase and every violation; exit 1 if any.

    python benchmarks/kill_campaign.py --kills 300 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=300, help="SIGKILLs to deliver (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-round", type=int, default=3, help="kills on one cache before a finishing run")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds slept around each rename/write")
    parser.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harnesses live beside the tests
    from harness.crash import run_campaign

    last = [time.monotonic()]

    def progress(report) -> None:
        if time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            print(f"  {report.total_kills} kills {dict(report.kills)}, {len(report.violations)} violation(s)",
                  file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="mnistfamily-kills-") as workdir:
        report = run_campaign(workdir, kills=args.kills, seed=args.seed, per_round=args.per_round,
                              pause=args.pause, time_limit=args.time_limit, progress=progress)
    print(f"kill campaign: seed {args.seed}, {report.total_kills} kills in {report.rounds} rounds, "
          f"{report.seconds:.0f} s")
    print("kill points per phase: " + ", ".join(f"{p} {n}" for p, n in report.kills.items() if p != "done"))
    print(f"runs that finished before their kill point: {report.finished_before_kill}")
    print(f"kills that left split folders visible without _SUCCESS (gated): {report.visible_without_success}")
    print(f"export leftovers after the finishing runs: {report.export_leftovers}")
    print(f"cache leftovers listed by verify: {report.cache_leftovers}; after verify --repair: "
          f"{report.cache_leftovers_after_repair}")
    print(f"finishing runs that failed: {len(report.failures)}")
    print(f"invariant violations: {len(report.violations)}")
    for line in report.violations + report.failures:
        print(f"  - {line}")
    return 1 if report.violations or report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
