"""A JSON form of validated registries, so a warm ``load()`` never imports or runs the YAML parser.

``load`` keeps one file per set of registry files under ``<cache root>/registry/``, keyed
by the files' paths, sizes and modification times and the library version. Any change to
a registry file gives a new key; a stale or unreadable compiled file is simply ignored.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from types import MappingProxyType

from .schema import DatasetSpec, FileSpec, SplitSpec



def _log():
    """The module's logger; ``logging`` is imported only when something is logged."""
    import logging

    return logging.getLogger("mnistfamily.registry")
COMPILED_FORMAT = 6


def compiled_path(folder: Path, stats: tuple) -> Path:
    """The compiled file for registry files with these ``(path, mtime_ns, size)`` stats."""
    from .._version import __version__

    blob = json.dumps([COMPILED_FORMAT, __version__, list(stats)]).encode()
    try:  # the C module itself: hashlib would also load OpenSSL, which a warm load does not need
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover
        from hashlib import blake2b
    return folder / f"{blake2b(blob, digest_size=10).hexdigest()}.json"


def to_json(specs: dict[str, DatasetSpec]) -> str:
    out = {}
    for name, spec in specs.items():
        fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
        fields["sizes"] = dict(spec.sizes)
        fields["joins"] = {k: dict(v) for k, v in spec.joins.items()}
        fields["files"] = {k: dataclasses.asdict(v) for k, v in spec.files.items()}
        fields["splits"] = {k: {"name": v.name, "num_examples": v.num_examples, "inputs": dict(v.inputs),
                                "options": dict(v.options), "description": v.description}
                            for k, v in spec.splits.items()}
        out[name] = fields
    return json.dumps({"format": COMPILED_FORMAT, "datasets": out})


def spec_from_fields(fields: dict) -> DatasetSpec:
    """One DatasetSpec from its compiled JSON fields."""
    fields = dict(fields)
    files = {k: FileSpec(**v) for k, v in fields.pop("files").items()}
    splits = {}
    for k, v in fields.pop("splits").items():
        v = dict(v)
        options = {key: tuple(o) if isinstance(o, list) else o for key, o in v.pop("options").items()}
        inputs = MappingProxyType(v.pop("inputs"))
        splits[k] = SplitSpec(**v, inputs=inputs, options=MappingProxyType(options))
    for key in ("classes", "image_shape", "mirrors", "label_columns", "transforms"):
        fields[key] = tuple(fields[key])
    fields["sizes"] = MappingProxyType({int(k): v for k, v in fields["sizes"].items()})
    fields["joins"] = MappingProxyType({k: MappingProxyType(v) for k, v in fields["joins"].items()})
    return DatasetSpec(**fields, files=MappingProxyType(files), splits=MappingProxyType(splits))


def from_json(text: str) -> dict[str, dict]:
    """The compiled fields of every dataset, by name; specs are built from them on demand."""
    document = json.loads(text)
    if document.get("format") != COMPILED_FORMAT:
        raise ValueError("compiled registry of another format")
    return dict(document["datasets"])


def read_compiled(path: Path) -> dict[str, dict] | None:
    try:
        return from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _log().debug("ignoring compiled registry %s: %s", path, exc)
        return None


def write_compiled(path: Path, specs: dict[str, DatasetSpec]) -> None:
    """Write atomically; a cache that cannot be written only costs speed, never correctness."""
    import uuid

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(to_json(specs), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        _log().debug("could not write compiled registry %s: %s", path, exc)
        tmp.unlink(missing_ok=True)
