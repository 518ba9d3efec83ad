"""Crash testing: a worker process to kill, and the invariants the cache and exports must keep.

``check_invariants`` says what must hold at any moment, in particular right after a SIGKILL
in the middle of a download, a preparation or an export; the worker is the process that is
killed, and a campaign kills many of them at seeded points and checks after each kill.

One module per job: :mod:`.invariants` (the checks), :mod:`.worker` (the process that is
killed), :mod:`.zygote` (forking workers and killing them on cue) and :mod:`.campaign`
(where to kill, and what to check after); ``__main__`` runs a worker or the zygote.

>>> from harness.crash import check_invariants   # doctest: +SKIP
>>> check_invariants(cache, registry_path, expected=..., parquet=dest / "mnist")  # doctest: +SKIP
[]
"""

from .campaign import CampaignReport, run_campaign
from .invariants import array_digest, check_invariants
from .worker import EXIT_EXISTS, PHASES, main, read_phases  # noqa: F401 - EXIT_EXISTS: callers import it
from .zygote import RunResult, Zygote

__all__ = ["check_invariants", "array_digest", "main", "PHASES", "Zygote", "RunResult", "read_phases",
           "run_campaign", "CampaignReport"]
