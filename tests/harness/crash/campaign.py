"""The kill campaign: workers killed at seeded points of every phase, invariants checked after each."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistfamily.safe_write import TEMP_PREFIX
from .invariants import array_digest, check_invariants
from .worker import EXIT_EXISTS, PHASES, read_phases
from .zygote import Zygote

__all__ = ["CampaignReport", "run_campaign"]


@dataclass
class CampaignReport:
    """What ``run_campaign`` did and found."""

    kills: dict[str, int]            #: SIGKILLs per phase the worker was in
    finished_before_kill: int        #: runs that ended before their kill point came
    rounds: int
    violations: list[str]            #: invariant violations right after a kill or after a final run
    failures: list[str]              #: final runs that did not finish with the right arrays
    export_leftovers: int            #: export staging areas left after the final runs
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

    import mnistfamily
    from mnistfamily.testing import Fault, serve_directory, write_miniatures

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
            # staging areas of exports (beside the dataset folder in out/, beside the .npz in base/)
            report.export_leftovers += sum(1 for folder in (base / "out", base)
                                           for p in folder.glob(f"{TEMP_PREFIX}*"))
            listed = [p for p in mnistfamily.verify("mnist", data_dir=base / "cache", registry=mini.registry)
                      if p.kind == "leftover"]
            report.cache_leftovers += len(listed)
            mnistfamily.verify("mnist", data_dir=base / "cache", registry=mini.registry, repair=True)
            report.cache_leftovers_after_repair += len(mnistfamily.verify("mnist", data_dir=base / "cache",
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
