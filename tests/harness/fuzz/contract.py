"""The contract every fuzz target checks: a result or a library error, and no write outside the cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mnistfamily.errors import MnistFamilyError

__all__ = ["Target", "UnexpectedOutcome", "outside_writes", "run_target"]


class UnexpectedOutcome(AssertionError):
    """A target broke the contract: a non-library exception, or a write outside the cache."""


@dataclass(frozen=True)
class Target:
    """One reader under fuzzing.

    ``run(data, folder)`` feeds ``data`` to the reader, using ``folder`` (an empty scratch
    folder) for any file it needs; ``seeds()`` returns the seed corpus (cached).
    """

    name: str
    run: Callable[[bytes, Path], object]
    seeds: Callable[[], list[bytes]]
    description: str


def run_target(target: Target, data: bytes, folder: Path) -> str:
    """Run ``target`` on ``data`` in ``folder``: ``"ok"`` or the library error's class name.

    Raises :class:`UnexpectedOutcome` (chained to the original exception) when anything
    other than a :class:`~mnistfamily.errors.MnistFamilyError` escapes, or when a file
    appears in ``folder`` outside ``folder/cache`` and the input file itself.
    """
    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    try:
        target.run(data, folder)
        outcome = "ok"
    except MnistFamilyError as exc:
        outcome = type(exc).__name__
    except Exception as exc:  # the contract is broken: report with the original traceback
        raise UnexpectedOutcome(f"{target.name}: {type(exc).__name__}: {exc}"[:2000]) from exc
    stray = outside_writes(folder, before)
    if stray:
        raise UnexpectedOutcome(f"{target.name}: files written outside the cache: {stray}")
    return outcome


def outside_writes(folder: Path, before: set[Path]) -> list[str]:
    """Entries of ``folder`` that are new, other than ``cache`` and the input file ``input.bin``."""
    allowed = {folder / "cache", folder / "input.bin"}
    return sorted(str(p) for p in set(folder.iterdir()) - before - allowed)
