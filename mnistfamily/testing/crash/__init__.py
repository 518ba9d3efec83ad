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

One module per job: :mod:`.invariants` (the checks), :mod:`.worker` (the process that is
killed), :mod:`.zygote` (forking workers and killing them on cue) and :mod:`.campaign`
(where to kill, and what to check after); ``__main__`` runs a worker or the zygote.

>>> from mnistfamily.testing.crash import check_invariants   # doctest: +SKIP
>>> check_invariants(cache, registry_path, expected=..., parquet=dest / "mnist")  # doctest: +SKIP
[]
"""

from .campaign import CampaignReport, run_campaign
from .invariants import array_digest, check_invariants
from .worker import EXIT_EXISTS, PHASES, main, read_phases  # noqa: F401 - EXIT_EXISTS: callers import it
from .zygote import RunResult, Zygote

__all__ = ["check_invariants", "array_digest", "main", "PHASES", "Zygote", "RunResult", "read_phases",
           "run_campaign", "CampaignReport"]
