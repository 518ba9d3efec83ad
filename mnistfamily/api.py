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
    from .cache_check import VerifyReport
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
        metadata_columns=spec.label_columns + (spec.environments.columns() if spec.environments else ()),
        notes=spec.notes,
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
        ``"train"``, ``"test"``, ... ; ``None`` loads every split into a dict. Split expressions
        as tfds and Hugging Face write them select rows and join splits: ``"train[:90%]"``,
        ``"train[90%:]"``, ``"train[:5000]"``, ``"train+test"`` (see ``mnistfamily.split_expressions``).
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
        other dataset's label file is fetched (with ``source=``, from that folder or its
        ``<family>/`` subfolder, never from the internet); the join checks that the classes agree
        row by row.

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
    if split is not None and ("[" in split or "+" in split):  # "train[:90%]", "train+test": tfds/HF expressions
        from .split_expressions import load_expression

        part = dict(source=source, data_dir=data_dir, download=download, allow_unverified=allow_unverified,
                    storage_options=storage_options, registry=registry, orientation=orientation, metadata=metadata)
        return load_expression(name, split, lambda s: load(name, s, **part),  # type: ignore[arg-type]
                               transform=None if transform is None else lambda x, i: _apply(transform, x, i))
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
        # a split read from files without a checksum is prepared again from source= when one is given:
        # the cache cannot vouch that its copies are the files the caller now points at
        cached = None if source is not None and _unverified_inputs(spec, split_spec) else \
            load_prepared(root, spec, split_spec, orientation)
        if cached is not None:
            _refuse_unverified(spec, split, cached, allow_unverified)
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
    if other_name == "cleanlab":  # a label-error list shipped with the package, not another dataset
        from .label_errors import label_error_columns

        return label_error_columns(other_split, arrays["index"], arrays["labels"], f"{spec.name} [{split}]")
    other = reg.dataset(other_name)
    part = other.splits[other_split]
    file = other.file(part.labels)
    source = fetch_options.pop("source", None)
    try:  # source= replaces mirrors and the internet for the joined file too: it is never retried without
        path, _ = fetch_file(other, file, root=root, source=source, **fetch_options)
    except DownloadError as exc:
        if source is not None:
            exc.args = (f"{spec.name} [{split}]: metadata={join!r} needs {other_name}'s {file.name}, and "
                        "source= is used instead of mirrors and the internet, so put that file in the "
                        f"source folder too (or in its {other.family}/ subfolder), or load it once without "
                        f"source= to cache it. {exc}", *exc.args[1:])
        raise
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
    if spec.environments is not None:
        from .prepare.environments import environment_recipe

        return environment_recipe(spec, split, {s: _recipe(reg, base, base.splits[s], orientation)
                                                for s in spec.environments.source})
    return variant_recipe(spec, split, _recipe(reg, base, base.splits[split.name], orientation))


def _load_variant(reg: Registry, root: Path, spec: DatasetSpec, split: SplitSpec, orientation: str,
                  **options) -> "PreparedEntry":
    from .prepare import read_entry, required_arrays
    from .prepare.variant import prepare_variant, variant_entry

    base_spec = reg.dataset(spec.base or "")
    if spec.environments is not None:  # environments dealt from several base splits
        from .prepare.environments import environment_entry, prepare_environment

        recipes = {s: _recipe(reg, base_spec, base_spec.splits[s], orientation) for s in spec.environments.source}
        entry = read_entry(environment_entry(root, spec, split, recipes), required_arrays(spec))
        if entry is not None:
            return entry
        bases = {s: load(base_spec.name, s, data_dir=root, registry=reg, orientation=orientation, **options)
                 for s in spec.environments.source}
        sources = [{"base": base_spec.name, "split": s} for s in spec.environments.source]
        return prepare_environment(root, spec, split, bases, recipes, sources)
    base_recipe = _recipe(reg, base_spec, base_spec.splits[split.name], orientation)
    entry = read_entry(variant_entry(root, spec, split, base_recipe), required_arrays(spec))
    if entry is not None:
        return entry
    base = load(base_spec.name, split.name, data_dir=root, registry=reg, orientation=orientation, **options)
    sources = [{"base": base_spec.name, "split": split.name}]
    return prepare_variant(root, spec, split, base, base_recipe, sources)


def _unverified_inputs(spec: DatasetSpec, split: SplitSpec) -> list[str]:
    """The files ``split`` reads that the registry has no checksum for (members of an archive are
    trusted through the archive's checksum)."""
    return [name for name in split.files() if not spec.file(name).verifiable and spec.file(name).archive is None]


def _refuse_unverified(spec: DatasetSpec, split: str, entry: "PreparedEntry", allow: bool | None) -> None:
    """A warm load answers like a cold one: arrays made from unverified files need the same opt-in."""
    sources = entry.manifest.get("sources")
    names = [s.get("name") for s in sources if isinstance(s, dict) and s.get("verified") == "unverified"] \
        if isinstance(sources, list) else []
    if names and not config.allow_unverified(allow):
        from .errors import UnverifiedFileError

        raise UnverifiedFileError(
            f"{spec.name} [{split}]: the prepared arrays in {entry.path} were made from "
            f"{', '.join(map(str, names))}, which the registry has no checksum for. Pass allow_unverified=True "
            "(or set MNISTFAMILY_ALLOW_UNVERIFIED=1) to use them anyway, or add the file's sha256 to the registry.")


@_one_retry_budget
def _prepare(root: Path, spec: DatasetSpec, split: SplitSpec, orientation: str,
             **fetch_options) -> "PreparedEntry":
    from .errors import FormatError, OfflineError
    from .fetch import cached_path, fetch_file, missing_files_error
    from .fetch.verify import hash_file
    from .prepare import prepare_split

    paths: dict[str, Path] = {}
    sources: list[dict] = []
    missing: list[OfflineError] = []
    _check_source(root, spec, list(split.files()), fetch_options.get("source"), f"{spec.name} [{split.name}]")
    for file_name in split.files():
        file = spec.file(file_name)
        try:
            path, verification = fetch_file(spec, file, root=root, **fetch_options)
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
        unverified = [str(paths[name]) for name in _unverified_inputs(spec, split) if name in paths]
        if unverified:  # the file nobody could vouch for is the suspect: say where it is and how to replace it
            exc.args = (f"{exc} {', '.join(unverified)} {'was' if len(unverified) == 1 else 'were'} used without "
                        "verification (the registry has no checksum for it). Delete it, run `mnistfamily verify "
                        "--repair`, or pass source= a folder holding the right file: it replaces the cached copy.",
                        *exc.args[1:])
        raise


def _check_source(root: Path, spec: DatasetSpec, names: list[str], source: PathLike | None, what: str) -> None:
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
    _check_source(root, spec, list(names), source, spec.name if split is None else f"{spec.name} [{split}]")
    return [fetch_file(spec, spec.file(f), root=root, source=source, allow_unverified=allow_unverified,
                       storage_options=storage_options)[0] for f in names]


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
    from .cache_check import verify_cache

    reg = get_registry(registry)
    specs = [reg.dataset(name)] if name else list(reg)
    return verify_cache(reg, specs, config.cache_root(data_dir), repair=repair, source=source)
