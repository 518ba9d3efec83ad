"""``mf.verify``: rehash the cache, say what is wrong, and repair it on request.

Three kinds of problem are found:

- a download that no longer matches the registry (its checksums; for a file the registry has
  no checksum for, the facts it does give: the size, and for IDX files the number of
  examples and the image shape in the header);
- a prepared entry whose manifest is missing, damaged or not ours, or whose arrays do not
  match it (header or CRC-32);
- a temporary area (:mod:`mnistfamily.safe_write`) that an interrupted run left: recognised
  only by its marker, never by its name, and only when nobody holds its target's lock.

Repairs take the same locks as the writers, so a repair never races a download or a build.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable

from . import config
from .errors import ChecksumError, LockTimeoutError, MnistFamilyError
from .config import FetchSettings
from .registry import DatasetSpec, FileSpec, Registry, SplitSpec, get_registry

PathLike = str | os.PathLike[str]


class Problem(str):
    """One thing ``verify`` found wrong: the message (a ``str``), its ``path``, and what repair did.

    ``kind`` is ``"download"`` (a file that no longer matches the registry), ``"prepared"``
    (an entry whose manifest or arrays are damaged) or ``"leftover"`` (a temporary area an
    interrupted run left). ``repair`` is empty unless ``verify(repair=True)`` acted.
    """

    path: str
    kind: str
    repair: str

    def __new__(cls, message: str, path: PathLike, kind: str) -> "Problem":
        problem = super().__new__(cls, message)
        problem.path, problem.kind, problem.repair = os.fspath(path), kind, ""
        return problem


class VerifyReport(list[Problem]):
    """The :class:`Problem` list ``verify`` returns, plus ``unverified``: the cached files that the
    registry has no checksum for, which could only be checked against the sizes and counts it gives.

    It compares equal to a plain list, so ``mf.verify(...) == []`` still means "nothing wrong found".
    """

    def __init__(self, problems: Iterable[Problem] = (), unverified: Iterable[str] = ()) -> None:
        super().__init__(problems)
        #: paths of cached files checked without a checksum (whether or not a problem was found)
        self.unverified: list[str] = list(unverified)


def verify(name: str | None = None, *, data_dir: PathLike | None = None, repair: bool = False,
           registry: "PathLike | Registry | None" = None, source: PathLike | None = None) -> "VerifyReport":
    """Rehash what the cache holds (downloads and prepared arrays); return the problems found.

    Every cached download is checked against the registry (size and sha256/md5, or the
    decompressed content; a file the registry has no checksum for against the size and, for
    IDX files, the number of examples and the image shape it gives), every prepared entry's
    manifest and array headers, and every array against the CRC-32 in its manifest.
    Temporary areas that interrupted runs left behind (recognised by their owner marker, and
    only when no live process holds their lock) are listed. With ``repair=True`` damaged
    downloads are fetched again (from ``source=`` when given), damaged prepared entries are
    deleted and rebuilt, and leftovers deleted; each problem's ``repair`` says what was done.

    The result is a list of :class:`~mnistfamily.cache_check.Problem` (each a ``str`` with
    ``path``, ``kind`` and ``repair``); its ``unverified`` attribute lists the cached files that
    could only be checked against sizes and counts, for want of a checksum.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> mf.verify("mnist/sample")
    []
    """
    reg = get_registry(registry)
    specs = [reg.dataset(name)] if name else list(reg)
    return verify_cache(reg, specs, config.cache_root(data_dir), repair=repair, source=source)


def verify_cache(reg: Registry, specs: list[DatasetSpec], root: Path, *, repair: bool,
                 source: PathLike | None) -> VerifyReport:
    """``mf.verify``'s work over ``specs`` in the cache at ``root``."""
    report = VerifyReport()
    _check_downloads(specs, root, repair, source, report)
    _check_prepared(reg, specs, root, repair, source, report)
    report.extend(_leftovers(root, specs, repair))
    return report


def _check_downloads(specs: list[DatasetSpec], root: Path, repair: bool, source: PathLike | None,
                     report: VerifyReport) -> None:
    from .fetch import cached_path, verify_file

    seen: set[Path] = set()  # a family's datasets share files (EMNIST): check each once
    for spec in specs:
        for file in spec.files.values():
            path = cached_path(root, spec, file)
            if path in seen or not path.exists():
                continue
            seen.add(path)
            if not file.verifiable:
                report.unverified.append(str(path))
            try:
                result = verify_file(path, file)
            except ChecksumError as exc:  # for a file without a checksum: a size other than the registry's
                text = str(exc)
            else:
                if result.method != "unverified":
                    continue
                sharing = [s for s in specs if file.name in s.files and cached_path(root, s, s.file(file.name)) == path]
                found = _unverified_problem(sharing, file, path)
                if found is None:
                    continue
                text = found
            problem = Problem(text, path, "download")
            if repair:
                problem.repair = _refetch(spec, file, path, root, source)
            report.append(problem)


def _unverified_problem(specs: list[DatasetSpec], file: FileSpec, path: Path) -> str | None:
    """What is wrong with a file the registry has no checksum for, judged by what it does know.

    ``verify_file`` has already compared its size (when known). For IDX datasets the header is
    read (not the data): the number of rows each split takes from the file, and the image shape.
    """
    from .errors import FormatError
    from .formats.idx import open_idx

    uses = [(spec, split, role) for spec in specs if spec.format == "idx"
            for split in spec.splits.values() for role, name in split.inputs.items() if name == file.name]
    if not uses:
        return None
    intro = f"{path}: the registry has no checksum for {file.name}, so it was checked against what the registry knows"
    try:
        with open_idx(path) as (header, _, _):
            shape = tuple(header.shape)
    except (FormatError, OSError) as exc:
        return f"{intro}: it is not a readable IDX file ({exc}). It is not the published file."
    for spec, split, role in uses:
        wanted = split.rows[1] if split.rows else split.num_examples
        if wanted is not None and (shape[0] < wanted if split.rows else shape[0] != wanted):
            return (f"{intro}: {spec.name} [{split.name}] reads {'the first ' if split.rows else ''}{wanted:,} rows "
                    f"from it, and its header gives {shape[0]:,}. It is not the published file.")
        image = tuple(spec.image_shape[::-1]) if spec.orientation == "transposed" else tuple(spec.image_shape)
        if role == "images" and shape[1:] != image:
            return (f"{intro}: {spec.name} has images of shape {image}, and its header gives {shape[1:]}. "
                    "It is not the published file.")
    return None


def _check_prepared(reg: Registry, specs: list[DatasetSpec], root: Path, repair: bool,
                    source: PathLike | None, report: VerifyReport) -> None:
    from .prepare import required_arrays
    from .prepare.entry import ENTRY_NAME, verify_entry

    for spec in specs:
        folder = config.prepared_dir(root) / spec.name
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            # <split>@<key>: nothing else in the folder is an entry of this dataset (another dataset's
            # folder, an entry of an earlier layout, a temporary area are all named otherwise)
            match = ENTRY_NAME.fullmatch(entry.name)
            if match is None or match["split"] not in spec.splits:
                continue
            found = [Problem(text, entry, "prepared") for text in verify_entry(entry, required_arrays(spec))]
            if found and repair:
                action = _rebuild(reg, root, spec, spec.splits[match["split"]], entry, source)
                for problem in found:
                    problem.repair = action
            report.extend(found)


def _refetch(spec: DatasetSpec, file: FileSpec, path: Path, root: Path, source: PathLike | None) -> str:
    """Replace a damaged download by a verified copy; say what happened."""
    from .fetch import fetch_file
    from .safe_write import locked

    if spec.packaged:
        return "not repaired: the file is inside the installed package; reinstall mnistfamily"
    try:
        with locked(path, f"repairing {path.name}"):  # never under a process fetching it right now
            path.unlink(missing_ok=True)
    except (MnistFamilyError, OSError) as exc:
        return f"not repaired: {exc}"
    try:
        fetch_file(spec, file, root=root,
                   settings=FetchSettings(source=source, allow_unverified=not file.verifiable or None))
    except (MnistFamilyError, OSError) as exc:
        return (f"deleted; fetching it again failed ({exc}); the next load fetches it, or pass "
                "source= a folder holding it")
    return f"deleted and fetched again: {path} is verified" if file.verifiable else \
        f"deleted and fetched again: {path} (no checksum is known: checked by size and counts only on the next verify)"


def _rebuild(reg: Registry, root: Path, spec: DatasetSpec, split: SplitSpec, entry: Path,
             source: PathLike | None) -> str:
    """Delete a damaged prepared entry (atomically, under its lock) and build it again if it is current."""
    from .api import load
    from .prepare import ORIENTATIONS, recipe_for, required_arrays
    from .prepare.cache import discard_entry
    from .prepare.entry import entry_dir, entry_key, verify_entry
    from .safe_write import locked

    try:
        with locked(entry, f"repairing {spec.name} [{split.name}]"):  # never under a process building it
            if entry.is_dir() and not verify_entry(entry, required_arrays(spec)):
                return f"already rebuilt by another process: {entry} is verified"
            discard_entry(entry)
    except (MnistFamilyError, OSError) as exc:
        return f"not repaired: {exc}"
    # the folder name holds the recipe's key: find which orientation made it, if any still does
    for orientation in ORIENTATIONS:
        if entry_dir(root, spec.name, split.name, entry_key(recipe_for(reg, spec, split, orientation))) != entry:
            continue
        try:
            load(spec.name, split.name, data_dir=root, registry=reg, orientation=orientation, source=source)
        except (MnistFamilyError, OSError) as exc:
            return f"deleted; rebuilding it failed ({exc}); the next load rebuilds it"
        return f"deleted and rebuilt: {entry} is verified" if not verify_entry(entry, required_arrays(spec)) else \
            "deleted and rebuilt, but the new entry does not verify: check the disk"
    return "deleted (made by another registry or library version: nothing to rebuild)"


def _leftovers(root: Path, specs: list[DatasetSpec], repair: bool) -> list[Problem]:
    """Temporary areas of interrupted downloads and preparations that nobody owns.

    An area is recognised by its marker only (:func:`mnistfamily.safe_write.leftovers`), never
    by a name pattern, so nothing a user put in the cache is ever listed or deleted. Every
    writer holds its target's lock while its area exists, so an area whose target's lock is
    free belongs to a process that died.
    """
    from .fetch import cached_path
    from .registry.names import file_name_problem
    from .safe_write import leftovers, locked, read_marker

    downloads = {cached_path(root, s, f).parent for s in specs if not s.packaged for f in s.files.values()}
    prepared = {config.prepared_dir(root) / s.name for s in specs}
    found = []
    for folder in sorted(downloads | prepared):
        what = "download" if folder in downloads else "preparation"
        for area in leftovers(folder):
            record = read_marker(area)
            target = record.get("target") if record else None
            if file_name_problem(target) is not None:  # a marker naming no file of this folder: not ours to judge
                continue
            try:
                with locked(folder / str(target), f"checking {area.name}", timeout=0):
                    if read_marker(area) is None:
                        continue  # gone meanwhile: its writer finished
                    size = sum(p.stat().st_size for p in area.rglob("*") if p.is_file() and not p.is_symlink())
                    problem = Problem(f"{area}: leftover of an interrupted {what} of {target} ({size:,} bytes)",
                                      area, "leftover")
                    if repair:
                        shutil.rmtree(area, ignore_errors=True)
                        problem.repair = "deleted"
                    found.append(problem)
            except LockTimeoutError:
                continue  # a live process holds the lock: the area is in use
            except OSError:
                continue  # gone while we looked
    return found
