"""Prepare: decode verified files once into memory-mappable arrays.

``prepare_split`` returns the arrays of one split, building the cache entry on first use
(under a lock, so concurrent processes build it once) and memory-mapping it afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..log import logger
from ..registry import DatasetSpec, Registry, SplitSpec
from ..registry.formats import FORMATS
from .entry import PreparedEntry, entry_dir, entry_key, read_entry, verify_entry

if TYPE_CHECKING:
    from .cache import EntryWriter

__all__ = ["prepare_split", "recipe", "recipe_for", "entry_for", "read_entry", "verify_entry", "builder", "PreparedEntry",
           "required_arrays"]


def builder(format_name: str) -> Callable[..., None]:
    """The function that decodes splits published in ``format_name`` (its row of the format table,
    ``mnistfamily.registry.formats.FORMATS``; imported on first use: a warm load never imports a decoder)."""
    import importlib

    row = FORMATS[format_name]
    for module, install in row.requires:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            from ..errors import MissingDependencyError

            raise MissingDependencyError(
                f"reading files of format {format_name!r} needs {module}, which is not installed ({exc}). "
                f"Install it: pip install '{install}'") from None
    module, _, function = row.decoder.partition(":")
    return getattr(importlib.import_module(module), function)


ORIENTATIONS = ("upright", "raw")


def transposes(spec: DatasetSpec, orientation: str) -> bool:
    """Whether preparing ``spec`` in ``orientation`` swaps height and width."""
    if orientation not in ORIENTATIONS:
        from ..errors import ConfigError

        raise ConfigError(f"orientation must be one of {', '.join(ORIENTATIONS)}, not {orientation!r}")
    return spec.orientation == "transposed" and orientation == "upright"


def _whole_dataset(format_name: str) -> bool:
    """Whether a split's arrays depend on every split's settings (MNIST-1D generated: cut from one whole)."""
    row = FORMATS.get(format_name)
    return row is not None and row.whole_dataset


def recipe(spec: DatasetSpec, split: SplitSpec, orientation: str = "upright") -> dict:
    """Everything a split's arrays depend on; hashed into the cache key."""
    files = [spec.file(name).checksum_record() for name in split.files()]
    whole = ({s.name: [s.num_examples, {k: list(v) if isinstance(v, tuple) else v for k, v in s.options.items()}]
              for s in spec.splits.values()} if _whole_dataset(spec.format) else None)
    return {
        "all_splits": whole,
        "dataset": spec.name, "split": split.name, "format": spec.format, "files": files,
        "inputs": dict(split.inputs), "options": {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in split.options.items()},
        "image_shape": list(spec.image_shape), "image_dtype": spec.image_dtype,
        "multi_label": spec.multi_label, "label_columns": list(spec.label_columns),
        "label_column": spec.label_column, "label_offset": spec.label_offset,
        "num_classes": spec.num_classes, "transpose": transposes(spec, orientation),
    }


def recipe_for(reg: Registry, spec: DatasetSpec, split: SplitSpec, orientation: str = "upright") -> dict:
    """The cache recipe of a split, following derived datasets down to their published base."""
    if spec.base is None:
        return recipe(spec, split, orientation)
    from .variant import variant_recipe

    base = reg.dataset(spec.base)
    if spec.environments is not None:
        from .environments import environment_recipe

        return environment_recipe(spec, split, {s: recipe_for(reg, base, base.splits[s], orientation)
                                                for s in spec.environments.source})
    return variant_recipe(spec, split, recipe_for(reg, base, base.splits[split.name], orientation))


def entry_for(root: Path, spec: DatasetSpec, split: SplitSpec, orientation: str = "upright") -> Path:
    """The cache folder that holds (or will hold) a split's arrays."""
    return entry_dir(root, spec.name, split.name, entry_key(recipe(spec, split, orientation)))


def required_arrays(spec: DatasetSpec) -> tuple[str, ...]:
    """The arrays ``load`` reads from every entry of ``spec``: an entry lacking one is damaged."""
    examples = ("samples", "offsets") if spec.varying_length else ("images",)
    return (*examples, "labels", "index", *(f"meta.{column}" for column in spec.label_columns))


def load_prepared(root: Path, spec: DatasetSpec, split: SplitSpec,
                  orientation: str = "upright") -> PreparedEntry | None:
    """The split's arrays if they are already prepared (the warm path); None if absent or damaged."""
    return read_entry(entry_for(root, spec, split, orientation), required_arrays(spec))


def prepare_split(root: Path, spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path],
                  sources: list[dict], orientation: str = "upright") -> PreparedEntry:
    """Decode a split from verified local files into the cache and return its arrays."""
    from .._version import __version__
    from .cache import build_entry

    final = entry_for(root, spec, split, orientation)

    def build(writer: EntryWriter) -> dict:
        logger("mnistfamily.prepare").info("preparing %s [%s] in %s", spec.name, split.name, final)
        builder(spec.format)(spec, split, paths, writer, transpose=transposes(spec, orientation))
        return {"dataset": spec.name, "split": split.name, "library_version": __version__,
                "recipe": recipe(spec, split, orientation), "sources": sources}

    # files without a checksum have no hash in the recipe, so the key cannot tell their copies apart:
    # an entry made from other bytes than the ones verified now is replaced
    used = _unverified_digests(sources)
    outdated = (lambda manifest: _unverified_digests(manifest.get("sources")) != used) if used else None
    return build_entry(final, f"{spec.name} [{split.name}]: the prepared arrays", build, required_arrays(spec),
                       outdated=outdated)


def _unverified_digests(sources: object) -> dict[str, object]:
    """``{file name: sha256 of the copy used}`` for the sources that were used without verification."""
    if not isinstance(sources, list):
        return {}
    return {str(s.get("name")): s.get("found_sha256") for s in sources
            if isinstance(s, dict) and s.get("verified") == "unverified"}
