"""A JSON form of validated registries, so ``load()`` does not import or run the YAML parser.

Two kinds of compiled file:

- The built-in registry's, ``builtin.json`` beside this module, shipped in the package and
  written by ``python -m mnistfamily.registry.compiled``. It records the blake2 of the
  registry.yaml it was compiled from; when the YAML differs (someone edited it), the file is
  ignored and the YAML parsed. A test keeps it in sync, so even the very first load on a
  fresh machine parses no YAML.
- ``load`` keeps one file per set of registry files (the built-in one plus user files)
  under ``<cache root>/registry/``, keyed by the files' paths, sizes and modification times
  and the library version. Any change to a registry file gives a new key; a stale or
  unreadable compiled file is simply ignored.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import MappingProxyType

from ..log import logger
from .schema import DatasetSpec, EnvironmentsSpec, FileSpec, SplitSpec
COMPILED_FORMAT = 8  # 7: derived datasets may deal environments; 8: example kinds, sample rates


def compiled_path(folder: Path, stats: tuple) -> Path:
    """The compiled file for registry files with these ``(path, mtime_ns, size)`` stats."""
    from .._version import __version__

    blob = json.dumps([COMPILED_FORMAT, __version__, list(stats)]).encode()
    try:  # the C module itself: hashlib would also load OpenSSL, which a warm load does not need
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover
        from hashlib import blake2b
    return folder / f"{blake2b(blob, digest_size=10).hexdigest()}.json"


#: the compiled built-in registry, shipped inside the package
BUILTIN_JSON = Path(__file__).with_name("builtin.json")
#: stands for the built-in registry.yaml's path in ``builtin.json`` (which differs per install)
_BUILTIN_ORIGIN = "<builtin registry.yaml>"


def _blake2(data: bytes) -> str:
    try:  # the C module itself: hashlib would also load OpenSSL, which a warm load does not need
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover
        from hashlib import blake2b
    return blake2b(data, digest_size=16).hexdigest()


def to_json(specs: dict[str, DatasetSpec], *, extra: dict | None = None) -> str:
    out = {}
    for name, spec in specs.items():
        fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
        fields["sizes"] = dict(spec.sizes)
        fields["joins"] = {k: dict(v) for k, v in spec.joins.items()}
        fields["environments"] = None if spec.environments is None else spec.environments.to_dict()
        fields["files"] = {k: dataclasses.asdict(v) for k, v in spec.files.items()}
        fields["splits"] = {k: {"name": v.name, "num_examples": v.num_examples, "inputs": dict(v.inputs),
                                "options": dict(v.options), "description": v.description}
                            for k, v in spec.splits.items()}
        out[name] = fields
    return json.dumps({"format": COMPILED_FORMAT, **(extra or {}), "datasets": out})


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
    if fields.get("environments") is not None:
        fields["environments"] = EnvironmentsSpec.from_dict(fields["environments"])
    return DatasetSpec(**fields, files=MappingProxyType(files), splits=MappingProxyType(splits))


def from_json(text: str) -> dict[str, dict]:
    """The compiled fields of every dataset, by name; specs are built from them on demand."""
    document = json.loads(text)
    if document.get("format") != COMPILED_FORMAT:
        raise ValueError("compiled registry of another format")
    return dict(document["datasets"])


def builtin_json_text(yaml_path: Path) -> str:
    """The text of ``builtin.json`` for the built-in registry at ``yaml_path``."""
    from . import Registry

    data = yaml_path.read_bytes()
    specs = Registry.from_files([yaml_path]).specs()  # every check a user registry gets
    specs = {name: dataclasses.replace(spec, origin=_BUILTIN_ORIGIN) for name, spec in specs.items()}
    return to_json(specs, extra={"source_blake2": _blake2(data)}) + "\n"


def read_builtin(yaml_path: Path) -> dict[str, dict] | None:
    """The built-in registry's compiled fields, or None when ``builtin.json`` is missing or stale."""
    try:
        document = json.loads(BUILTIN_JSON.read_text(encoding="utf-8"))
        if document.get("format") != COMPILED_FORMAT or document.get("source_blake2") != _blake2(
                yaml_path.read_bytes()):
            logger("mnistfamily.registry").debug("%s is stale: parsing %s", BUILTIN_JSON, yaml_path)
            return None
        datasets = dict(document["datasets"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger("mnistfamily.registry").debug("ignoring %s: %s", BUILTIN_JSON, exc)
        return None
    origin = str(yaml_path)
    for fields in datasets.values():
        fields["origin"] = origin
    return datasets


def read_compiled(path: Path) -> dict[str, dict] | None:
    try:
        return from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger("mnistfamily.registry").debug("ignoring compiled registry %s: %s", path, exc)
        return None


def write_compiled(path: Path, specs: dict[str, DatasetSpec]) -> None:
    """Write atomically; a cache that cannot be written only costs speed, never correctness."""
    from ..safe_write import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, to_json(specs).encode("utf-8"))
    except OSError as exc:
        logger("mnistfamily.registry").debug("could not write compiled registry %s: %s", path, exc)


def main(argv: list[str] | None = None) -> int:
    """``python -m mnistfamily.registry.compiled [--check]``: write or check ``builtin.json``."""
    import argparse

    from . import builtin_registry_path

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="fail if builtin.json is out of date")
    args = parser.parse_args(argv)
    text = builtin_json_text(builtin_registry_path())
    current = BUILTIN_JSON.read_text(encoding="utf-8") if BUILTIN_JSON.exists() else None
    if args.check:
        if current != text:
            print(f"{BUILTIN_JSON} is out of date: run python -m mnistfamily.registry.compiled")
            return 1
        return 0
    if current != text:
        from ..safe_write import atomic_write

        atomic_write(BUILTIN_JSON, text.encode("utf-8"))  # a package never holds half a registry
        print(f"wrote {BUILTIN_JSON}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
