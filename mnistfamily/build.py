"""A split's first load: every file fetched and verified, then decoded into a prepared entry.

:func:`mnistfamily.load` comes here when no prepared entry exists yet (the cold path). All the
downloads of one load share one retry budget (:func:`one_retry_budget`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ParamSpec, TypeVar

from .config import FetchSettings
from .registry import DatasetSpec, SplitSpec

if TYPE_CHECKING:
    from .prepare import PreparedEntry

PathLike = str | os.PathLike[str]

__all__ = ["fetch_and_prepare", "check_source", "unverified_inputs", "one_retry_budget"]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def one_retry_budget(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Every download inside ``function`` shares one retry budget (``MNISTFAMILY_RETRY_BUDGET``)."""
    @functools.wraps(function)
    def sharing(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from .fetch import retry_budget  # imported only on a cold path: fetching is about to happen

        with retry_budget():
            return function(*args, **kwargs)
    return sharing


@one_retry_budget
def fetch_and_prepare(root: Path, spec: DatasetSpec, split: SplitSpec, orientation: str,
                      fetching: FetchSettings) -> "PreparedEntry":
    """A split's first load: fetch and verify every file it reads, then prepare its entry.

    Every file missing while the network is off limits is named in one error; a format error
    in a file nobody could verify says where that file is and how to replace it.
    """
    from .errors import FormatError, OfflineError
    from .fetch import cached_path, fetch_file, missing_files_error
    from .fetch.verify import hash_file
    from .prepare import prepare_split

    paths: dict[str, Path] = {}
    sources: list[dict] = []
    missing: list[OfflineError] = []
    check_source(root, spec, list(split.files()), fetching.source, f"{spec.name} [{split.name}]")
    for file_name in split.files():
        file = spec.file(file_name)
        try:
            path, verification = fetch_file(spec, file, root=root, settings=fetching)
        except OfflineError as exc:  # name every missing file at once, not one per attempt
            missing.append(exc)
            continue
        paths[file_name] = path
        record = {**file.checksum_record(), "verified": verification.method}
        if verification.method == "unverified":  # what the arrays were made from, since the registry cannot say
            record.update(found_size=path.stat().st_size, found_sha256=hash_file(path, "sha256"))
        sources.append(record)
    if len(missing) == 1:
        raise missing[0]
    if missing:
        names = [n for e in missing for n in e.missing]
        if len(names) != len(missing):  # not all are "not cached" errors: report the first as is
            raise missing[0]
        folder = cached_path(root, spec, spec.file(names[0])).parent
        raise missing_files_error(spec, names, folder, missing[0].reason)
    try:
        return prepare_split(root, spec, split, paths, sources, orientation)
    except FormatError as exc:
        unverified = [str(paths[name]) for name in unverified_inputs(spec, split) if name in paths]
        if unverified:  # the file nobody could vouch for is the suspect: say where it is and how to replace it
            exc.args = (f"{exc} {', '.join(unverified)} {'was' if len(unverified) == 1 else 'were'} used without "
                        "verification (the registry has no checksum for it). Delete it, run `mnistfamily verify "
                        "--repair`, or pass source= a folder holding the right file: it replaces the cached copy.",
                        *exc.args[1:])
        raise


def check_source(root: Path, spec: DatasetSpec, names: list[str], source: PathLike | None, what: str) -> None:
    """With a local ``source=``: every file not yet in the cache must be there; say all that is wrong at once."""
    if source is None:
        return
    from .fetch import cached_path
    from .fetch.locations import check_source_folder

    def cached(file) -> bool:
        return cached_path(root, spec, file).exists() or (
            file.archive is not None and cached_path(root, spec, spec.file(file.archive)).exists())

    needed = [spec.file(n) for n in names if not cached(spec.file(n))]
    check_source_folder(os.fspath(source), spec, needed, what)


def unverified_inputs(spec: DatasetSpec, split: SplitSpec) -> list[str]:
    """The files ``split`` reads that the registry has no checksum for (members of an archive are
    trusted through the archive's checksum)."""
    return [name for name in split.files() if not spec.file(name).verifiable and spec.file(name).archive is None]
