"""The public entry points of the data flow: ``datasets``, ``info``, ``load`` and ``download``.

``load`` walks docs/architecture.md's flow, one step after the other:

1. the registry gives the dataset's spec (:func:`_resolve`);
2. a split expression (``"train[:90%]"``) or ``split=None`` becomes loads of whole splits;
3. the prepared entry is memory-mapped if it exists (the warm path), else every file is
   fetched and verified and the entry prepared (:func:`mnistfamily.build.fetch_and_prepare`),
   or, for a derived dataset, made from its base (:func:`_variant_entry`);
4. the arrays become a :class:`~mnistfamily.Dataset`: the transform applied, the metadata
   columns gathered and joined (:func:`mnistfamily.join.joined_columns`).

``verify`` (the cache's upkeep) lives in :mod:`mnistfamily.cache_check`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, overload

import numpy as np

from . import config
from .config import FetchSettings
from .dataset import Dataset, DatasetInfo
from .examples import Signals
from .registry import DatasetSpec, Registry, SplitSpec, get_registry

if TYPE_CHECKING:
    from .prepare import PreparedEntry

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


def _info(spec: DatasetSpec, report: dict | None = None, classes: tuple[str, ...] | None = None) -> DatasetInfo:
    return DatasetInfo(
        image_dtype=spec.image_dtype, multi_label=spec.multi_label, sizes=dict(spec.sizes),
        report=dict(report or {}), example=spec.example, sample_rate=spec.sample_rate,
        class_count=spec.class_count, classes_named_by=spec.classes_named_by,
        name=spec.name, title=spec.title, description=spec.description, homepage=spec.homepage,
        license=spec.license, citation=spec.citation, classes=spec.classes if classes is None else classes,
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
    # 1. the registry: which dataset, at which size
    root = config.cache_root(data_dir)
    reg, spec = _resolve(name, size, registry, root)
    name = spec.name if size is not None else name
    fetching = FetchSettings(source=source, download=download, allow_unverified=allow_unverified,
                             storage_options=storage_options)
    # 2. many splits, or a split expression: loads of whole splits
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
    # 3. the prepared entry: memory-mapped when it exists, else fetched and prepared
    split_spec = reg.split(name, split)
    entry = _entry(reg, root, spec, split_spec, orientation, fetching)
    # 4. the Dataset
    return _dataset(reg, root, spec, split, entry, transform, metadata, fetching)


def _resolve(name: str, size: int | None, registry: "PathLike | Registry | None",
             root: Path) -> tuple[Registry, DatasetSpec]:
    """The registry and the dataset's spec; ``size`` picks the dataset published at that image size."""
    reg = get_registry(registry, compiled_dir=root / "registry")
    spec = reg.dataset(name)
    if size is not None:
        if size not in spec.sizes:
            from .errors import UnknownNameError

            offered = ", ".join(map(str, spec.sizes)) or "only its own size"
            raise UnknownNameError(f"dataset {name!r} has no size {size!r} (sizes: {offered})")
        spec = reg.dataset(spec.sizes[size])
    return reg, spec


def _entry(reg: Registry, root: Path, spec: DatasetSpec, split: SplitSpec, orientation: str,
           fetching: FetchSettings) -> "PreparedEntry":
    """The split's prepared arrays: the warm path reads them, the cold path fetches and prepares them."""
    from .prepare import load_prepared

    if spec.base is not None:
        return _variant_entry(reg, root, spec, split, orientation, fetching)
    # a split read from files without a checksum is prepared again from source= when one is given:
    # the cache cannot vouch that its copies are the files the caller now points at
    cached = None if fetching.source is not None and _unverified(spec, split) else \
        load_prepared(root, spec, split, orientation)
    if cached is not None:
        _refuse_unverified(spec, split.name, cached, fetching.allow_unverified)
        return cached
    from .build import fetch_and_prepare  # the cold path: imported only when it is taken

    return fetch_and_prepare(root, spec, split, orientation, fetching)


def _unverified(spec: DatasetSpec, split: SplitSpec) -> list[str]:
    from .build import unverified_inputs  # only with source=: the warm path never imports build.py

    return unverified_inputs(spec, split)


def _variant_entry(reg: Registry, root: Path, spec: DatasetSpec, split: SplitSpec, orientation: str,
                   fetching: FetchSettings) -> "PreparedEntry":
    """A derived dataset's entry: read if prepared, else made from its base split through its transform chain."""
    from .prepare import read_entry, recipe_for, required_arrays
    from .prepare.variant import prepare_variant, variant_entry

    base_spec = reg.dataset(spec.base or "")

    def base_split(name: str) -> Dataset:
        return load(base_spec.name, name, data_dir=root, registry=reg, orientation=orientation,
                    source=fetching.source, download=fetching.download,
                    allow_unverified=fetching.allow_unverified, storage_options=fetching.storage_options)

    if spec.environments is not None:  # environments dealt from several base splits
        from .prepare.environments import environment_entry, prepare_environment

        recipes = {s: recipe_for(reg, base_spec, base_spec.splits[s], orientation) for s in spec.environments.source}
        entry = read_entry(environment_entry(root, spec, split, recipes), required_arrays(spec))
        if entry is not None:
            return entry
        bases = {s: base_split(s) for s in spec.environments.source}
        sources = [{"base": base_spec.name, "split": s} for s in spec.environments.source]
        return prepare_environment(root, spec, split, bases, recipes, sources)
    base_recipe = recipe_for(reg, base_spec, base_spec.splits[split.name], orientation)
    entry = read_entry(variant_entry(root, spec, split, base_recipe), required_arrays(spec))
    if entry is not None:
        return entry
    base = base_split(split.name)
    sources = [{"base": base_spec.name, "split": split.name}]
    return prepare_variant(root, spec, split, base, base_recipe, sources)


def _dataset(reg: Registry, root: Path, spec: DatasetSpec, split: str, entry: "PreparedEntry",
             transform: Callable[[np.ndarray], np.ndarray] | None, metadata: str | None,
             fetching: FetchSettings) -> Dataset:
    """The Dataset of an entry's arrays: transformed images, declared and found metadata, joined columns."""
    arrays = entry.arrays
    examples: "np.ndarray | Signals" = (Signals(arrays["samples"], arrays["offsets"]) if spec.varying_length
                                        else arrays["images"])
    classes = _named_classes(spec, entry.manifest.get("report"), entry.path)
    if transform is not None:
        from .transforms import check_accepts

        probe = Dataset(examples[:0], arrays["labels"][:0], classes=classes, example=spec.example,
                        name=spec.name, split=split)
        check_accepts(transform, probe.layout, probe._described())
        examples = _apply(transform, examples, arrays["index"])
    # declared label columns (QMNIST), then any the files themselves carried (affNIST's transforms)
    found = entry.manifest.get("report", {}).get("metadata_columns", [])
    columns = {column: arrays[f"meta.{column}"] for column in [*spec.label_columns, *found]}
    extras = {k[len("extra."):]: v for k, v in arrays.items() if k.startswith("extra.")}
    if metadata is not None:
        from .join import joined_columns

        columns = {**joined_columns(reg, root, spec, split, metadata, arrays, fetching), **columns}
    return Dataset(examples, arrays["labels"], classes=classes, index=arrays["index"],
                   metadata=columns, name=spec.name, split=split,
                   info=_info(spec, entry.manifest.get("report"), classes),
                   extras=extras, example=spec.example, sample_rate=spec.sample_rate)


def _apply(transform: Callable, images: Any, index: np.ndarray) -> Any:
    """A transform over a whole split, in chunks; per-example randomness follows ``index``."""
    import inspect

    try:
        takes_index = "index" in inspect.signature(transform).parameters
    except (TypeError, ValueError):
        takes_index = False
    if not takes_index:  # a plain function of the batch
        return transform(images if isinstance(images, Signals) else np.asarray(images))
    from .transforms import apply_in_chunks

    return apply_in_chunks(transform, images, index)


def _named_classes(spec: DatasetSpec, report: dict | None, entry: Path | None = None) -> tuple[str, ...]:
    """The class names: the registry's, or for classes the published files name, those the prepared entry
    recorded (``report["classes"]``; none before a split is prepared)."""
    if spec.classes or not spec.classes_named_by:
        return spec.classes
    names = (report or {}).get("classes")
    if entry is None:
        return ()
    if not isinstance(names, list) or len(names) != spec.num_classes or not all(isinstance(n, str) for n in names):
        from .errors import CacheError

        raise CacheError(f"{spec.name}: the prepared entry {entry} does not record the {spec.num_classes} class names "
                         f"{spec.classes_named_by} gives (found {str(names)[:80]}). Delete the entry, or run "
                         "`mnistfamily verify --repair`, and load again.")
    return tuple(names)


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
    from .build import check_source
    from .fetch import fetch_file, retry_budget

    fetching = FetchSettings(source=source, allow_unverified=allow_unverified, storage_options=storage_options)
    reg = get_registry(registry)
    spec = reg.dataset(name)
    splits = [reg.split(name, split)] if split else list(spec.splits.values())
    names = dict.fromkeys(f for s in splits for f in s.files())
    root = config.cache_root(data_dir)
    check_source(root, spec, list(names), source, spec.name if split is None else f"{spec.name} [{split}]")
    with retry_budget():  # every file of the call shares one budget of retries
        return [fetch_file(spec, spec.file(f), root=root, settings=fetching)[0] for f in names]
