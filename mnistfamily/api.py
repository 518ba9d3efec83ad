"""The public entry points: ``datasets``, ``info``, ``load``, ``download`` and ``verify``.

``load`` walks the data flow of docs/architecture.md: registry -> (warm: memory-map the
prepared entry) or (cold: fetch + verify every file -> prepare) -> Dataset.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ParamSpec, TypeVar, overload

import numpy as np

from . import config
from .dataset import Dataset, DatasetInfo
from .registry import DatasetSpec, Registry, SplitSpec, get_registry

if TYPE_CHECKING:
    from .prepare import PreparedEntry



def _log():
    """The module's logger; ``logging`` is imported only when something is logged."""
    import logging

    return logging.getLogger("mnistfamily")

PathLike = str | os.PathLike[str]


def datasets(*, registry: "PathLike | Registry | None" = None) -> list[str]:
    """Names of every dataset in the registry, sorted.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> "mnist" in mf.datasets()
    True
    """
    return get_registry(registry).names()


def info(name: str, *, registry: "PathLike | Registry | None" = None) -> DatasetInfo:
    """Describe a dataset: splits and sizes, classes, image shape, license, citation, files.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> mf.info("qmnist").metadata_columns[:3]
    ('class', 'hsf_series', 'writer_id')
    """
    return _info(get_registry(registry).dataset(name))


def _info(spec: DatasetSpec, report: dict | None = None) -> DatasetInfo:
    return DatasetInfo(
        image_dtype=spec.image_dtype, multi_label=spec.multi_label, sizes=dict(spec.sizes),
        report=dict(report or {}),
        name=spec.name, title=spec.title, description=spec.description, homepage=spec.homepage,
        license=spec.license, citation=spec.citation, classes=spec.classes,
        image_shape=spec.image_shape, splits={k: s.num_examples for k, s in spec.splits.items()},
        files=tuple(f.checksum_record() for f in spec.files.values()),
        metadata_columns=spec.label_columns, notes=spec.notes,
        urls={f.name: tuple(u for u in [*spec.mirror_urls(f), spec.canonical_url(f)] if u)
              for f in spec.files.values()},
    )


@overload
def load(name: str, split: str, *, source: PathLike | None = ..., data_dir: PathLike | None = ...,
         download: bool = ..., transform: Callable[[np.ndarray], np.ndarray] | None = ...,
         allow_unverified: bool | None = ..., storage_options: dict | None = ...,
         registry: "PathLike | Registry | None" = ..., orientation: str = ..., size: int | None = ...,
         metadata: str | None = ...) -> Dataset: ...


@overload
def load(name: str, split: None = ..., *, source: PathLike | None = ..., data_dir: PathLike | None = ...,
         download: bool = ..., transform: Callable[[np.ndarray], np.ndarray] | None = ...,
         allow_unverified: bool | None = ..., storage_options: dict | None = ...,
         registry: "PathLike | Registry | None" = ..., orientation: str = ..., size: int | None = ...,
         metadata: str | None = ...) -> dict[str, Dataset]: ...


def load(
    name: str,
    split: str | None = None,
    *,
    source: PathLike | None = None,
    data_dir: PathLike | None = None,
    download: bool = True,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    allow_unverified: bool | None = None,
    storage_options: dict | None = None,
    registry: "PathLike | Registry | None" = None,
    orientation: str = "upright",
    size: int | None = None,
    metadata: str | None = None,
) -> Dataset | dict[str, Dataset]:
    """Load a dataset split as numpy arrays, downloading and verifying it on first use.

    Parameters
    ----------
    name
        A registry name: ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``, ``"qmnist"``, ...
        (see :func:`datasets`).
    split
        ``"train"``, ``"test"``, ... ; ``None`` loads every split into a dict.
    source
        A folder or fsspec URL holding the raw files, used *instead of* mirrors and the
        internet. Files are found under their published names and common variants
        (uncompressed, ``train-images.idx3-ubyte``), verified and cached like downloads.
    data_dir
        Cache root; default ``MNISTFAMILY_HOME`` or ``~/.cache/mnistfamily``.
    download
        ``False`` forbids network access (as ``MNISTFAMILY_OFFLINE=1`` does).
    transform
        A callable applied to the whole ``(N, H, W)`` image batch after loading.
    allow_unverified
        Use files the registry has no checksum for (with a warning).
    storage_options
        Passed to fsspec for ``source=`` URLs and mirrors (credentials, endpoints).
    registry
        An extra registry file for private datasets.
    orientation
        ``"upright"`` (default): images as MNIST shows digits, whatever the published
        layout; ``"raw"``: exactly as published (EMNIST's files are transposed).
    size
        For datasets published at several image sizes (MedMNIST: 28, 64, 128, 224).
    metadata
        Join per-example metadata another dataset holds for these rows: ``"qmnist"`` gives
        MNIST (and its derived datasets) QMNIST's writer_id, hsf_series and the rest. Only the
        other dataset's label file is fetched; the join checks that the classes agree row by row.

    Returns
    -------
    Dataset or dict[str, Dataset]

    Examples
    --------
    >>> import mnistfamily as mf
    >>> ds = mf.load("mnist/sample", split="test")
    >>> ds.images.shape[1:], ds.images.dtype, ds.labels.dtype
    ((28, 28), dtype('uint8'), dtype('int64'))
    """
    root = config.cache_root(data_dir)
    reg = get_registry(registry, compiled_dir=root / "registry")
    spec = reg.dataset(name)
    if size is not None:
        if size not in spec.sizes:
            from .errors import UnknownNameError

            offered = ", ".join(map(str, spec.sizes)) or "only its own size"
            raise UnknownNameError(f"dataset {name!r} has no size {size!r} (sizes: {offered})")
        name, spec = spec.sizes[size], reg.dataset(spec.sizes[size])
    if split is None:
        return {s: load(name, s, source=source, data_dir=data_dir, download=download, transform=transform,
                        allow_unverified=allow_unverified, storage_options=storage_options, registry=registry,
                        orientation=orientation, metadata=metadata)  # the size is resolved into the name
                for s in spec.splits}
    split_spec = reg.split(name, split)
    from .prepare import load_prepared

    if spec.base is not None:
        entry = _load_variant(reg, root, spec, split_spec, orientation, source=source, download=download,
                              allow_unverified=allow_unverified, storage_options=storage_options)
    else:
        cached = load_prepared(root, spec, split_spec, orientation)
        entry = cached if cached is not None else _prepare(
            root, spec, split_spec, orientation, source=source, download=download,
            allow_unverified=allow_unverified, storage_options=storage_options)
    arrays = entry.arrays
    images = arrays["images"]
    if transform is not None:
        images = _apply(transform, images, arrays["index"])
    # declared label columns (QMNIST), then any the files themselves carried (affNIST's transforms)
    found = entry.manifest.get("report", {}).get("metadata_columns", [])
    columns = {column: arrays[f"meta.{column}"] for column in [*spec.label_columns, *found]}
    extras = {k[len("extra."):]: v for k, v in arrays.items() if k.startswith("extra.")}
    if metadata is not None:
        columns = {**_joined(reg, root, spec, split, metadata, arrays, source=source, download=download,
                             allow_unverified=allow_unverified, storage_options=storage_options), **columns}
    return Dataset(images, arrays["labels"], classes=spec.classes, index=arrays["index"],
                   metadata=columns, name=spec.name, split=split, info=_info(spec, entry.manifest.get("report")),
                   extras=extras)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_retry_budget(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Every download inside ``function`` shares one retry budget (``MNISTFAMILY_RETRY_BUDGET``)."""
    @functools.wraps(function)
    def sharing(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from .fetch import retry_budget  # imported only on a cold path: fetching is about to happen

        with retry_budget():
            return function(*args, **kwargs)
    return sharing


@_one_retry_budget
def _joined(reg: Registry, root: Path, spec: DatasetSpec, split: str, join: str, arrays: dict,
            **fetch_options) -> dict[str, np.ndarray]:
    """Columns another dataset's label table holds for this split's rows (``load(metadata=...)``)."""
    from .errors import DownloadError, FormatError, UnknownNameError
    from .fetch import fetch_file
    from .formats.idx import read_idx

    if join not in spec.joins or split not in spec.joins[join]:
        offered = ", ".join(spec.joins) or "none"
        raise UnknownNameError(f"{spec.name} [{split}] has no metadata {join!r} to join (offered: {offered})")
    other_name, _, other_split = spec.joins[join][split].partition(":")
    other = reg.dataset(other_name)
    part = other.splits[other_split]
    file = other.file(part.labels)
    source = fetch_options.pop("source", None)
    try:  # the user's folder may hold the other dataset's files too (or its <family>/ subfolder) ...
        path, _ = fetch_file(other, file, root=root, source=source, **fetch_options)
    except DownloadError:
        if source is None:
            raise
        path, _ = fetch_file(other, file, root=root, **fetch_options)  # ... else the usual locations
    table = read_idx(path, rows=part.rows)
    if table.ndim != 2 or table.shape[1] != len(other.label_columns):
        raise FormatError(f"{path}: expected a table with columns {', '.join(other.label_columns)}; "
                          f"found shape {table.shape}.")
    positions = np.asarray(arrays["index"])
    if positions.size and positions.max() >= len(table):
        raise FormatError(f"{spec.name} [{split}]: positions up to {positions.max()} but {other_name} "
                          f"[{other_split}] has {len(table)} rows; they do not describe the same examples.")
    rows = table[positions]
    labels = np.asarray(arrays["labels"])
    classes = rows[:, other.label_columns.index(other.label_column)].astype(np.int64) - other.label_offset
    mismatched = int(np.count_nonzero(classes != labels))
    if mismatched:
        raise FormatError(f"{spec.name} [{split}] and {other_name} [{other_split}] disagree on the class of "
                          f"{mismatched} of {len(labels)} rows: they are not aligned, so their metadata "
                          "cannot be joined.")
    return {column: np.ascontiguousarray(rows[:, i]) for i, column in enumerate(other.label_columns)}


def _apply(transform: Callable, images: np.ndarray, index: np.ndarray) -> np.ndarray:
    """A transform over a whole split, in chunks; per-example randomness follows ``index``."""
    import inspect

    try:
        takes_index = "index" in inspect.signature(transform).parameters
    except (TypeError, ValueError):
        takes_index = False
    if not takes_index:  # a plain function of the batch
        return transform(np.asarray(images))
    from .transforms import apply_in_chunks

    return apply_in_chunks(transform, images, index)


def _recipe(reg: Registry, spec: DatasetSpec, split: SplitSpec, orientation: str) -> dict:
    """The cache recipe of a split, following derived datasets down to their published base."""
    from .prepare import recipe
    from .prepare.variant import variant_recipe

    if spec.base is None:
        return recipe(spec, split, orientation)
    base = reg.dataset(spec.base)
    return variant_recipe(spec, split, _recipe(reg, base, base.splits[split.name], orientation))


def _load_variant(reg: Registry, root: Path, spec: DatasetSpec, split: SplitSpec, orientation: str,
                  **options) -> "PreparedEntry":
    from .prepare import read_entry
    from .prepare.variant import prepare_variant, variant_entry

    base_spec = reg.dataset(spec.base or "")
    base_recipe = _recipe(reg, base_spec, base_spec.splits[split.name], orientation)
    entry = read_entry(variant_entry(root, spec, split, base_recipe))
    if entry is not None:
        return entry
    base = load(base_spec.name, split.name, data_dir=root, registry=reg, orientation=orientation, **options)
    sources = [{"base": base_spec.name, "split": split.name}]
    return prepare_variant(root, spec, split, base, base_recipe, sources)


@_one_retry_budget
def _prepare(root: Path, spec: DatasetSpec, split: SplitSpec, orientation: str,
             **fetch_options) -> "PreparedEntry":
    from .errors import OfflineError
    from .fetch import cached_path, fetch_file, missing_files_error
    from .prepare import prepare_split

    paths: dict[str, Path] = {}
    sources: list[dict] = []
    missing: list[OfflineError] = []
    for file_name in split.files():
        file = spec.file(file_name)
        try:
            path, verification = fetch_file(spec, file, root=root, **fetch_options)
        except OfflineError as exc:  # name every missing file at once, not one per attempt
            missing.append(exc)
            continue
        paths[file_name] = path
        sources.append({**file.checksum_record(), "verified": verification.method})
    if len(missing) == 1:
        raise missing[0]
    if missing:
        names = [n for e in missing for n in e.missing]
        if len(names) != len(missing):  # not all are "not cached" errors: report the first as is
            raise missing[0]
        folder = cached_path(root, spec, spec.file(names[0])).parent
        raise missing_files_error(spec, names, folder, missing[0].reason)
    return prepare_split(root, spec, split, paths, sources, orientation)


@_one_retry_budget
def download(name: str, split: str | None = None, *, source: PathLike | None = None,
             data_dir: PathLike | None = None, allow_unverified: bool | None = None,
             storage_options: dict | None = None, registry: "PathLike | Registry | None" = None) -> list[Path]:
    """Fetch and verify the files of a dataset (or one split) into the cache; return their paths.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> paths = mf.download("mnist/sample")
    >>> sorted(p.name for p in paths)[0]
    'mnist-sample-images-idx3-ubyte.gz'
    """
    from .fetch import fetch_file

    reg = get_registry(registry)
    spec = reg.dataset(name)
    splits = [reg.split(name, split)] if split else list(spec.splits.values())
    names = dict.fromkeys(f for s in splits for f in s.files())
    root = config.cache_root(data_dir)
    return [fetch_file(spec, spec.file(f), root=root, source=source, allow_unverified=allow_unverified,
                       storage_options=storage_options)[0] for f in names]


class Problem(str):
    """One thing ``verify`` found wrong: the message (a ``str``), its ``path``, and what repair did.

    ``kind`` is ``"download"`` (a file that no longer matches the registry), ``"prepared"``
    (an entry whose manifest or arrays are damaged) or ``"leftover"`` (a temporary file or
    folder an interrupted run left). ``repair`` is empty unless ``verify(repair=True)`` acted.
    """

    path: str
    kind: str
    repair: str

    def __new__(cls, message: str, path: "PathLike", kind: str) -> "Problem":
        problem = super().__new__(cls, message)
        problem.path, problem.kind, problem.repair = os.fspath(path), kind, ""
        return problem


def verify(name: str | None = None, *, data_dir: PathLike | None = None, repair: bool = False,
           registry: "PathLike | Registry | None" = None, source: PathLike | None = None) -> list[Problem]:
    """Rehash what the cache holds (downloads and prepared arrays); return the problems found.

    Every cached download is checked against the registry (size and sha256/md5, or the
    decompressed content), every prepared array against the CRC-32 in its manifest, and
    temporary files that interrupted runs left behind (``.part`` downloads, ``.tmp-*``
    entries whose lock nobody holds) are listed. With ``repair=True`` damaged downloads
    are fetched again (from ``source=`` when given), damaged prepared entries are deleted and
    rebuilt, and leftovers deleted; each problem's ``repair`` says what was done.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> mf.verify("mnist/sample")
    []
    """
    from .errors import ChecksumError
    from .fetch import cached_path, verify_file
    from .prepare.cache import verify_entry

    reg = get_registry(registry)
    specs = [reg.dataset(name)] if name else list(reg)
    root = config.cache_root(data_dir)
    problems: list[Problem] = []
    seen: set[Path] = set()  # a family's datasets share files (EMNIST): check each once
    for spec in specs:
        for file in spec.files.values():
            path = cached_path(root, spec, file)
            if path in seen or not path.exists():
                continue
            seen.add(path)
            try:
                verify_file(path, file)
            except ChecksumError as exc:
                problem = Problem(str(exc), path, "download")
                if repair:
                    problem.repair = _refetch(spec, file, path, root, source)
                problems.append(problem)
    for spec in specs:
        folder = config.prepared_dir(root) / spec.name
        for split in spec.splits.values():
            for entry in sorted(folder.glob(f"{split.name}-*")):
                if not entry.is_dir():
                    continue
                found = [Problem(text, entry, "prepared") for text in verify_entry(entry)]
                if found and repair:
                    action = _rebuild(reg, root, spec, split, entry, source)
                    for problem in found:
                        problem.repair = action
                problems.extend(found)
    problems.extend(_leftovers(root, specs, repair))
    return problems


def _refetch(spec: DatasetSpec, file, path: Path, root: Path, source: PathLike | None) -> str:
    """Replace a damaged download by a verified copy; say what happened."""
    from .errors import MnistFamilyError
    from .fetch import fetch_file

    if spec.packaged:
        return "not repaired: the file is inside the installed package; reinstall mnistfamily"
    path.unlink(missing_ok=True)
    try:
        fetch_file(spec, file, root=root, source=source)
    except (MnistFamilyError, OSError) as exc:
        return (f"deleted; fetching it again failed ({exc}); the next load fetches it, or pass "
                "source= a folder holding it")
    return f"deleted and fetched again: {path} is verified"


def _rebuild(reg: Registry, root: Path, spec: DatasetSpec, split: SplitSpec, entry: Path,
             source: PathLike | None) -> str:
    """Delete a damaged prepared entry (atomically, under its lock) and build it again if it is current."""
    import shutil
    import uuid

    from filelock import FileLock

    from .errors import MnistFamilyError
    from .prepare import ORIENTATIONS
    from .prepare.cache import entry_dir, entry_key

    with FileLock(str(entry) + ".lock", timeout=3600):  # never under a process building it right now
        trash = entry.with_name(f".trash-{entry.name}-{uuid.uuid4().hex[:8]}")
        try:
            os.replace(entry, trash)  # readers see the whole entry or none
        except FileNotFoundError:
            pass
        shutil.rmtree(trash, ignore_errors=True)
    # the folder name holds the recipe's key: find which orientation made it, if any still does
    for orientation in ORIENTATIONS:
        if entry_dir(root, spec.name, split.name, entry_key(_recipe(reg, spec, split, orientation))) != entry:
            continue
        try:
            load(spec.name, split.name, data_dir=root, registry=reg, orientation=orientation, source=source)
        except (MnistFamilyError, OSError) as exc:
            return f"deleted; rebuilding it failed ({exc}); the next load rebuilds it"
        return f"deleted and rebuilt: {entry} is verified" if not _entry_problems(entry) else \
            "deleted and rebuilt, but the new entry does not verify: check the disk"
    return "deleted (made by another registry or library version: nothing to rebuild)"


def _entry_problems(entry: Path) -> list[str]:
    from .prepare.cache import verify_entry

    return verify_entry(entry)


def _leftovers(root: Path, specs: list[DatasetSpec], repair: bool) -> list[Problem]:
    """Temporary files and folders of interrupted downloads and preparations that nobody owns.

    A ``.part`` download and a ``.tmp-*`` entry are written only under their target's lock
    (``<name>.lock``), so when that lock is free nobody is writing them: they are leftovers
    of a killed process. ``.trash-*`` folders are being deleted, or were when a process died.
    """
    import re
    import shutil

    from filelock import FileLock, Timeout

    from .fetch import cached_path

    candidates: list[tuple[Path, Path | None]] = []  # (leftover, lock of its owner)
    folders = {cached_path(root, s, f).parent for s in specs if not s.packaged for f in s.files.values()}
    from . import safe_write

    for folder in sorted(folders):  # downloads: only temporary areas proved ours by their marker
        for path in safe_write.leftovers(folder):
            record = safe_write.read_marker(path) or {}
            candidates.append((path, safe_write.lock_path(folder / str(record.get("target", "")))))
    entry_tmp = re.compile(r"^\.tmp-(?P<name>.+)-[0-9a-f]{8}$")
    for spec in specs:
        folder = config.prepared_dir(root) / spec.name
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            match = entry_tmp.match(path.name)
            if match and path.is_dir():
                candidates.append((path, folder / f"{match['name']}.lock"))
            elif path.name.startswith(".trash-") and path.is_dir():
                candidates.append((path, None))
    found = []
    for path, lock in candidates:
        try:
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
                else path.stat().st_size
        except OSError:
            continue  # gone meanwhile: its owner finished
        owner = FileLock(str(lock), timeout=0) if lock is not None else None
        try:
            if owner is not None:
                owner.acquire()
        except Timeout:
            continue  # a live process holds the lock: the file is in use
        try:
            what = "download" if path.parent in folders else "prepared entry"
            problem = Problem(f"{path}: leftover of an interrupted {what} ({size:,} bytes)", path, "leftover")
            if repair:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                problem.repair = "deleted"
            found.append(problem)
        finally:
            if owner is not None:
                owner.release()
    return found
