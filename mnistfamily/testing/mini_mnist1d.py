"""Miniatures of MNIST-1D entries: a pickle shaped like the official one, or the generator's rows.

``mnist1d-pickle``: one pickle (protocol 3, as published) per file the splits read, holding
a dict with each split's ``x_key``/``y_key`` arrays of random content plus ``t`` and
``templates``, the extras of the official file. ``mnist1d-generated`` has no files; what
loading must give is the generator's output for the spec's seed and rows.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from types import MappingProxyType

import numpy as np

from ..mnist1d import generate, templates
from ..prepare.mnist1d_split import generated_layout
from ..registry import DatasetSpec, SplitSpec


def mnist1d_pickle_contents(spec: DatasetSpec, splits: dict[str, SplitSpec], rng: np.random.Generator):
    """Published bytes of every pickle the splits read, and what loading each split must return."""
    contents: dict[str, dict] = {}
    expected = {}
    for split in splits.values():
        content = contents.setdefault(split.inputs["data"], {})
        n = int(split.num_examples or 0)
        x_key, y_key = split.options["x_key"], split.options["y_key"]
        if x_key not in content:
            content[x_key] = rng.normal(size=(n, *spec.image_shape)).astype(spec.image_dtype)
        if y_key not in content:
            content[y_key] = rng.integers(0, len(spec.classes), size=n).astype(np.int64) + spec.label_offset
        expected[split.name] = {
            "images": content[x_key], "labels": content[y_key].astype(np.int64) - spec.label_offset,
            "index": np.arange(n, dtype=np.int64), "metadata": {},
        }
    published = {}
    for name, content in contents.items():
        content.setdefault("t", np.linspace(-5.0, 5.0, spec.image_shape[0]))
        content.setdefault("templates", templates())
        published[name] = (pickle.dumps(content, protocol=3), None)  # writing only: reading is restricted
    return published, expected


def mnist1d_generated_contents(spec: DatasetSpec, splits: dict[str, SplitSpec], rng: np.random.Generator):
    """No files; each split must load as its rows of ``generate(num_samples, seed)``."""
    mini = replace(spec, splits=MappingProxyType(dict(splits)))
    sets: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    expected = {}
    for split in splits.values():
        seed, first, total = generated_layout(mini, split)
        if (total, seed) not in sets:
            sets[(total, seed)] = generate(num_samples=total, seed=seed)
        data = sets[(total, seed)]
        stop = first + int(split.num_examples or 0)
        expected[split.name] = {
            "images": data["x"][first:stop], "labels": data["y"][first:stop],
            "index": np.arange(stop - first, dtype=np.int64), "metadata": {},
        }
    return {}, expected
