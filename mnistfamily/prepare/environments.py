"""Derived datasets whose splits are environments: base splits joined, shuffled, dealt round-robin.

A registry entry with ``environments:`` (DomainBed's RotatedMNIST) joins the base's ``from``
splits in order (MNIST train then test: rows 0-69,999), permutes the joined rows with
``numpy.random.default_rng(seed).permutation`` and deals them like cards: environment ``i`` of
``k`` takes the permuted rows ``i, i + k, i + 2k, ...`` (DomainBed's ``shuffled[i::k]``), in that
order. Each environment then goes through the entry's own transforms and its own (an angle).

Every environment split carries the columns ``<column>`` (its number, 0-based, in the order the
registry lists the environments), ``source_split`` (position of the base split in ``from``),
``source_index`` (the row's position in that base split) and the environment's constant
``columns``. ``index`` is the row's position in its environment. The cache key holds the base
splits' recipes (and so their files' checksums), the deal and both transform chains.

An entry with a ``construction`` (``registry/constructions.py``: ColoredMNIST) lets it deal
the rows, make their labels and examples and add its columns; the transforms then follow.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol

import numpy as np

from ..registry import DatasetSpec, SplitSpec
from .entry import PreparedEntry, entry_dir, entry_key

if TYPE_CHECKING:  # pragma: no cover
    from ..registry.schema import EnvironmentsSpec
    from .cache import EntryWriter

log = logging.getLogger("mnistfamily.prepare")


class BaseSplit(Protocol):
    """What dealing environments reads of a loaded base split (a :class:`~mnistfamily.Dataset`)."""

    @property
    def images(self) -> np.ndarray: ...
    @property
    def labels(self) -> np.ndarray: ...
    @property
    def index(self) -> np.ndarray: ...
    @property
    def metadata(self) -> Mapping[str, np.ndarray]: ...
    def __len__(self) -> int: ...

#: the columns every environment split carries besides its number and its declared columns
SOURCE_COLUMNS = ("source_split", "source_index")


def deal(environments: "EnvironmentsSpec", sizes: list[int]) -> list[np.ndarray]:
    """Rows of the joined base splits (``sizes`` rows each, in ``from`` order) per environment.

    Examples
    --------
    >>> from mnistfamily.registry import get_registry
    >>> rotated = get_registry().dataset("rotatedmnist").environments
    >>> [len(rows) for rows in deal(rotated, [60_000, 10_000])]
    [11667, 11667, 11667, 11667, 11666, 11666]
    """
    total = int(sum(sizes))
    order = np.random.default_rng(environments.seed).permutation(total)
    k = len(environments.splits)
    return [order[i::k].astype(np.int64) for i in range(k)]


def environment_recipe(spec: DatasetSpec, split: SplitSpec, base_recipes: Mapping[str, dict]) -> dict:
    """Everything an environment split depends on: the base splits' recipes, the deal, both chains."""
    from .variant import TRANSFORMS_VERSION

    assert spec.environments is not None
    return {"dataset": spec.name, "split": split.name, "environments": spec.environments.to_dict(),
            "base": {name: base_recipes[name] for name in spec.environments.source},
            "transforms": [dict(t) for t in spec.transforms], "seed": spec.seed,
            "algorithms": TRANSFORMS_VERSION}


def environment_entry(root: Path, spec: DatasetSpec, split: SplitSpec, base_recipes: Mapping[str, dict]) -> Path:
    return entry_dir(root, spec.name, split.name, entry_key(environment_recipe(spec, split, base_recipes)))


def environment_chain(spec: DatasetSpec, name: str) -> list[dict[str, Any]]:
    """The transform specs one environment goes through: the entry's chain, then its own."""
    from .variant import chain_spec

    assert spec.environments is not None
    own = [dict(t) for t in spec.environments.split(name).transforms]
    return chain_spec(spec) + [_with_seed(t, spec.seed) for t in own]


def environment_arrays(spec: DatasetSpec, name: str, bases: Mapping[str, BaseSplit]) -> dict[str, np.ndarray]:
    """The untransformed rows of one environment: images, labels and every column.

    ``bases`` maps each ``from`` split to the loaded base Dataset.
    """
    environments = spec.environments
    assert environments is not None
    parts = [bases[s] for s in environments.source]
    sizes = [len(p) for p in parts]
    number = environments.names().index(name)
    made: dict[str, Any] = {}
    if environments.construction is not None:
        made = _constructed(spec, number, np.concatenate([np.asarray(p.labels) for p in parts]))
        rows = made.pop("rows")
    else:
        rows = deal(environments, sizes)[number]
    starts = np.cumsum([0, *sizes])
    source_split = (np.searchsorted(starts, rows, side="right") - 1).astype(np.int8)
    source_index = rows - starts[source_split]
    images = np.empty((len(rows), *parts[0].images.shape[1:]), parts[0].images.dtype)
    labels = np.empty((len(rows), *np.shape(parts[0].labels)[1:]), np.asarray(parts[0].labels).dtype)
    columns: dict[str, np.ndarray] = {}
    for p, part in enumerate(parts):
        mine = source_split == p
        picked = source_index[mine]
        images[mine] = np.asarray(part.images)[picked]
        labels[mine] = np.asarray(part.labels)[picked]
        for column, values in part.metadata.items():
            values = np.asarray(values)
            out = columns.setdefault(column, np.zeros((len(rows), *values.shape[1:]), values.dtype))
            out[mine] = values[picked]
    columns[environments.column] = np.full(len(rows), number, np.int8)
    columns["source_split"] = source_split
    columns["source_index"] = np.asarray(source_index, np.int64)
    for column, value in environments.split(name).columns.items():
        columns[column] = np.full(len(rows), value, np.int64 if isinstance(value, int) else np.float64)
    if made:  # the construction's labels, examples and columns replace the base rows'
        labels = made.pop("labels").astype(labels.dtype)
        images = made.pop("examples")(images)
        columns.update(made)
    # randomness of transforms follows the row's place in the joined base splits, not in the environment
    return {"images": images, "labels": labels, "joined": rows, **{f"meta.{k}": v for k, v in columns.items()}}


def prepare_environment(root: Path, spec: DatasetSpec, split: SplitSpec, bases: Mapping[str, BaseSplit],
                        base_recipes: Mapping[str, dict], sources: list[dict]) -> PreparedEntry:
    """Build (once, under a lock) and return the entry of one environment split."""
    from .._version import __version__
    from ..transforms import from_spec
    from . import required_arrays
    from .cache import build_entry
    from .variant import write_examples

    def build(writer: "EntryWriter") -> dict:
        arrays = environment_arrays(spec, split.name, bases)
        transform = from_spec(environment_chain(spec, split.name))
        log.info("preparing %s [%s] from %s %s through %r", spec.name, split.name, spec.base,
                 "+".join(spec.environments.source if spec.environments else ()), transform)
        joined = arrays.pop("joined")
        first = bases[spec.environments.source[0]] if spec.environments else None
        write_examples(writer, spec, split, transform, arrays.pop("images"), joined,
                       _layout(spec, first), f"{spec.base} ({getattr(first, 'example', 'image')}s)")
        writer.save("labels", arrays.pop("labels"))
        writer.save("index", np.arange(len(joined), dtype=np.int64))
        for key, values in arrays.items():
            writer.save(key, values)
        # columns beyond the base's label columns: load() reads the ones the report names
        writer.report["metadata_columns"] = [key[len("meta."):] for key in arrays
                                             if key[len("meta."):] not in spec.label_columns]
        return {"dataset": spec.name, "split": split.name, "library_version": __version__,
                "recipe": environment_recipe(spec, split, base_recipes), "sources": sources}

    final = environment_entry(root, spec, split, base_recipes)
    return build_entry(final, f"{spec.name} [{split.name}]: the prepared arrays", build, required_arrays(spec))


def _layout(spec: DatasetSpec, first: Any) -> str:
    """The layout of the examples the chain receives: a construction's channels-last images, else the base's."""
    if spec.environments is not None and spec.environments.construction is not None:
        return "HWC"
    return getattr(first, "layout", "HW")


def _constructed(spec: DatasetSpec, number: int, labels: np.ndarray) -> dict[str, Any]:
    """One environment of a construction: its rows of the joined base, labels, columns, and how to make examples."""
    import importlib

    from ..registry.constructions import CONSTRUCTIONS

    environments = spec.environments
    assert environments is not None and environments.construction is not None
    row = CONSTRUCTIONS[environments.construction["name"]]
    module, _, function = row.builder.partition(":")
    build = getattr(importlib.import_module(module), function)
    parameters = {e.name: e.columns[row.environment_column] for e in environments.splits}
    made: dict[str, Any] = build(dict(environments.construction), environments.seed, parameters, labels, number)
    return made


def _with_seed(item: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """A random transform of an environment without its own seed gets the entry's, as the chain does."""
    import inspect

    from ..transforms import registered

    cls = registered().get(item.get("name", ""))
    if seed is not None and cls is not None and "seed" in inspect.signature(cls.__init__).parameters \
            and "seed" not in item:
        return {**item, "seed": seed}
    return item
