"""Derived datasets: a base dataset's split passed through a transform chain, cached like any other.

A registry entry such as ``mnist/elastic`` names a ``base``, a ``transforms`` chain and a
``seed``. Its prepared entry is keyed by the base's own recipe (and so the base files'
checksums) plus the chain's spec, so changing either builds a new entry. Random transforms
draw per example from ``(seed, index)``: the bytes do not depend on chunk size.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..log import logger  # logging is imported only when something is logged: not on a warm load
from ..registry import DatasetSpec, SplitSpec
from .entry import PreparedEntry, entry_dir, entry_key

if TYPE_CHECKING:
    from .cache import EntryWriter


#: examples per chunk when a variant is built: bounds memory whatever the split size
CHUNK = 8192
#: mnistfamily.transforms.ALGORITHMS_VERSION, repeated here so that computing a cache key does not
#: import the transforms; a test keeps the two equal
TRANSFORMS_VERSION = 2


def chain_spec(spec: DatasetSpec) -> list[dict[str, Any]]:
    """The variant's transform specs with the entry's ``seed`` given to random transforms lacking one."""
    from ..transforms import registered

    classes = registered()
    chain = []
    for item in spec.transforms:
        item = dict(item)
        cls = classes.get(item.get("name", ""))
        takes_seed = cls is not None and "seed" in inspect.signature(cls.__init__).parameters
        if spec.seed is not None and takes_seed and "seed" not in item:
            item["seed"] = spec.seed
        chain.append(item)
    return chain


def variant_recipe(spec: DatasetSpec, split: SplitSpec, base_recipe: dict) -> dict:
    """Everything a variant split depends on: the base's recipe, the chain as written and the seed.

    The chain as written (not as completed by :func:`chain_spec`) keeps the warm path from
    importing the transforms; the completed chain follows from it deterministically.
    """
    return {"dataset": spec.name, "split": split.name, "base": base_recipe,
            "transforms": [dict(t) for t in spec.transforms], "seed": spec.seed,
            "algorithms": TRANSFORMS_VERSION}


def variant_entry(root: Path, spec: DatasetSpec, split: SplitSpec, base_recipe: dict) -> Path:
    return entry_dir(root, spec.name, split.name, entry_key(variant_recipe(spec, split, base_recipe)))


def prepare_variant(root: Path, spec: DatasetSpec, split: SplitSpec, base, base_recipe: dict,
                    sources: list[dict]) -> PreparedEntry:
    """Build (once, under a lock) and return the entry of a variant split from its base Dataset."""
    from .._version import __version__
    from ..transforms import from_spec
    from . import required_arrays
    from .cache import build_entry

    def build(writer: EntryWriter) -> dict:
        transform = from_spec(chain_spec(spec))
        logger("mnistfamily.prepare").info("preparing %s [%s] from %s through %r", spec.name, split.name, spec.base,
                                           transform)
        write_examples(writer, spec, split, transform, base.examples, np.asarray(base.index), base.layout,
                       base._described())
        writer.save("labels", np.asarray(base.labels))
        writer.save("index", np.asarray(base.index))
        for column, values in base.metadata.items():
            writer.save(f"meta.{column}", np.asarray(values))
        # the columns are listed where load finds them (without the list they were written but never read)
        writer.report["metadata_columns"] = list(base.metadata)
        report = getattr(base.info, "report", None) if base.info is not None else None
        if isinstance(report, dict) and "code_names" in report:
            writer.report["code_names"] = report["code_names"]
        return {"dataset": spec.name, "split": split.name, "library_version": __version__,
                "recipe": variant_recipe(spec, split, base_recipe), "sources": sources}

    final = variant_entry(root, spec, split, base_recipe)
    return build_entry(final, f"{spec.name} [{split.name}]: the prepared arrays", build, required_arrays(spec))


def write_examples(writer: "EntryWriter", spec: DatasetSpec, split: SplitSpec, transform: Any, examples: Any,
                   index: np.ndarray, layout: str, described: str) -> None:
    """``transform`` over a base's examples, chunk by chunk, into the entry, checked against the registry.

    Fixed-shape results go straight to a memory-mapped ``images`` array; signals of varying
    length (a chain that resamples) become ``samples`` and ``offsets``. The chain must take the
    base's examples (a rotation refuses volumes) and give what the entry declares: its
    ``example``, ``image_shape`` and ``image_dtype`` (a chain making RGB from grey declares
    ``image_shape: [28, 28, 3]``), so ``info`` never describes other arrays than ``load`` returns.
    """
    from ..examples import Signals
    from ..transforms import apply_in_chunks, check_accepts

    check_accepts(transform, layout, described)
    where = f"{spec.name} [{split.name}]"
    probe = transform(examples[:1], index=index[:1])
    if isinstance(probe, Signals):
        if not spec.varying_length:
            raise _mismatch(where, "signals of varying length", spec)
        signals: Signals = apply_in_chunks(transform, examples, index, chunk_size=CHUNK)
        samples, offsets = signals.compact()
        if samples.dtype != np.dtype(spec.image_dtype):
            raise _mismatch(where, f"signals of {samples.dtype}", spec)
        writer.save("samples", samples)
        writer.save("offsets", offsets)
        return
    if spec.varying_length or tuple(probe.shape[1:]) != tuple(spec.image_shape) \
            or probe.dtype != np.dtype(spec.image_dtype):
        raise _mismatch(where, f"{probe.dtype} examples of shape {tuple(probe.shape[1:])}", spec)
    images = writer.create("images", probe.dtype, (len(examples), *probe.shape[1:]))
    apply_in_chunks(transform, examples, index, chunk_size=CHUNK, out=images)
    del images  # no msync: the rename publishes the pages; a flush only waits for the disk


def _mismatch(where: str, found: str, spec: DatasetSpec) -> Exception:
    from ..errors import TransformError
    from ..examples import describe

    declared = describe(spec.example, spec.image_shape, spec.image_dtype)
    return TransformError(f"{where}: the transform chain gives {found}, but the registry entry declares "
                          f"{declared}. Set the entry's image_shape, image_dtype (and example) to what the chain "
                          "gives, or change the chain.")
