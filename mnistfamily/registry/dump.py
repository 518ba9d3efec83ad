"""Turning specs back into registry YAML: for generated registries (tests, miniatures, users)."""

from __future__ import annotations

from typing import Any

import yaml

from .schema import DatasetSpec, FileSpec, SplitSpec


def _unknown(value: Any) -> Any:
    return "unknown" if value is None else value


def file_to_dict(file: FileSpec) -> dict[str, Any]:
    """The registry mapping of one file."""
    out: dict[str, Any] = {"size": _unknown(file.size), "md5": _unknown(file.md5), "sha256": _unknown(file.sha256)}
    if file.payload_size is not None or file.payload_sha256 is not None:
        out["payload"] = {"size": _unknown(file.payload_size), "sha256": _unknown(file.payload_sha256)}
    for key in ("url", "archive", "member"):
        if getattr(file, key):
            out[key] = getattr(file, key)
    return out


def split_to_dict(split: SplitSpec) -> dict[str, Any]:
    """The registry mapping of one split."""
    out: dict[str, Any] = {"num_examples": _unknown(split.num_examples), **split.inputs}
    for key, value in split.options.items():
        out[key] = list(value) if isinstance(value, tuple) else value
    if split.description:
        out["description"] = split.description
    return out


def spec_to_dict(spec: DatasetSpec) -> dict[str, Any]:
    """The registry mapping of one dataset (inverse of the loader)."""
    if spec.base is not None:  # a derived entry: only what it sets itself
        derived: dict[str, Any] = {"base": spec.base, "title": spec.title,
                                   "transforms": [dict(t) for t in spec.transforms]}
        if spec.environments is not None:
            derived["environments"] = spec.environments.to_dict()
        if spec.seed is not None:
            derived["seed"] = spec.seed
        for key in ("description", "notes", "homepage", "license", "citation"):
            if getattr(spec, key):
                derived[key] = getattr(spec, key)
        derived["image_shape"] = list(spec.image_shape)
        derived["image_dtype"] = spec.image_dtype
        derived["example"] = spec.example
        if spec.sample_rate is not None:
            derived["sample_rate"] = spec.sample_rate
        return derived
    out: dict[str, Any] = {
        "title": spec.title, "description": spec.description, "homepage": spec.homepage,
        "license": spec.license, "citation": spec.citation, "format": spec.format,
        "classes": list(spec.classes) if not spec.classes_named_by else
        {"count": spec.class_count, "named_by": spec.classes_named_by},
    }
    if spec.image_shape:  # a signal of varying length has none
        out["image_shape"] = list(spec.image_shape)
    if spec.example != ("signal" if len(spec.image_shape) <= 1 else "image"):
        out["example"] = spec.example
    if spec.sample_rate is not None:
        out["sample_rate"] = spec.sample_rate
    if spec.base_url:
        out["base_url"] = spec.base_url
    if spec.mirrors:
        out["mirrors"] = list(spec.mirrors)
    if spec.packaged:
        out["packaged"] = True
    if spec.kaggle:
        out["kaggle"] = spec.kaggle
    if spec.source_only:
        out["source_only"] = True
    if spec.label_columns:
        out["label_columns"] = list(spec.label_columns)
        out["label_column"] = spec.label_column
    if spec.label_offset:
        out["label_offset"] = spec.label_offset
    if spec.orientation != "upright":
        out["orientation"] = spec.orientation
    if spec.image_dtype != "uint8":
        out["image_dtype"] = spec.image_dtype
    if spec.multi_label:
        out["multi_label"] = True
    if spec.sizes:
        out["sizes"] = dict(spec.sizes)
    if spec.joins:
        out["joins"] = {k: dict(v) for k, v in spec.joins.items()}
    if spec.notes:
        out["notes"] = spec.notes
    out["files"] = {name: file_to_dict(f) for name, f in spec.files.items()}
    out["splits"] = {name: split_to_dict(s) for name, s in spec.splits.items()}
    return out


def dump_registry(specs: list[DatasetSpec]) -> str:
    """A complete registry document holding ``specs``."""
    document = {"version": 1, "datasets": {spec.name: spec_to_dict(spec) for spec in specs}}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
