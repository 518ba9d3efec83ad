"""The dataset registry: validated specs from registry.yaml plus any user registry files.

The built-in ``registry.yaml`` ships inside the wheel as package data; in a source checkout
it is read from the repository root. User files named by ``registry=`` arguments or the
``MNISTFAMILY_REGISTRY`` environment variable add private datasets in the same formats.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import config
from ..errors import RegistryError, UnknownNameError
from .names import lookup_key
from .schema import DatasetSpec, FileSpec, SplitSpec, join_url

__all__ = [
    "DatasetSpec", "FileSpec", "SplitSpec", "Registry", "builtin_registry_path",
    "get_registry", "join_url",
]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def builtin_registry_path() -> Path:
    """Where the built-in registry.yaml is: inside the package when installed, else the repo root."""
    packaged = _PACKAGE_DIR / "registry.yaml"
    if packaged.is_file():
        return packaged
    return _PACKAGE_DIR.parent / "registry.yaml"


def packaged_data_dir() -> Path:
    """Folder of files that ship inside the package (the embedded sample)."""
    return _PACKAGE_DIR / "data"


class Registry:
    """A read-only collection of :class:`DatasetSpec` with helpful lookups."""

    def __init__(self, specs: dict[str, DatasetSpec] | None = None, *, compiled: dict[str, dict] | None = None):
        # ``compiled``: validated fields from the JSON cache; a spec is built only when asked
        # for, so a warm load builds one dataset's spec, not the whole registry's
        self._specs = dict(specs or {})
        self._compiled = dict(compiled or {})
        self._names = sorted(set(self._specs) | set(self._compiled))
        self._keys: dict[str, list[str]] | None = None  # lookup key -> names, built on the first miss

    def _spec(self, name: str) -> DatasetSpec | None:
        spec = self._specs.get(name)
        if spec is None and name in self._compiled:
            from .compiled import spec_from_fields

            spec = self._specs[name] = spec_from_fields(self._compiled[name])
        return spec

    def specs(self) -> dict[str, DatasetSpec]:
        """Every spec, by name (builds those not built yet)."""
        return {name: self._spec(name) for name in self._names}  # type: ignore[misc]

    @classmethod
    def from_files(cls, paths: list[Path]) -> "Registry":
        """Load and merge registry files; a name defined twice is an error."""
        from .loader import load_registry_text  # PyYAML is imported only when YAML is parsed

        merged: dict[str, DatasetSpec] = {}
        problems: list[str] = []
        for path in paths:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise RegistryError(str(path), [f"cannot read the registry file: {exc.strerror or exc}"]) from None
            except UnicodeDecodeError as exc:
                raise RegistryError(str(path), [f"not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}): "
                                                "save the file as UTF-8"]) from None
            for name, spec in load_registry_text(text, str(path)).items():
                if name in merged:
                    problems.append(f"datasets.{name}: already defined in {merged[name].origin}")
                else:
                    merged[name] = spec
        merged = _resolve_variants(merged, problems)
        for name, spec in merged.items():
            for join, targets in spec.joins.items():
                for split, target in targets.items():
                    other, _, other_split = target.partition(":")
                    if other == "cleanlab":  # a label-error list the package ships (mnistfamily.registry.label_errors)
                        from .label_errors import LISTS

                        if other_split not in LISTS:
                            problems.append(f"datasets.{name}.joins.{join}.{split}: names {target!r}; the "
                                            f"label-error lists are {', '.join(f'cleanlab:{k}' for k in LISTS)}")
                    elif other not in merged or other_split not in merged[other].splits:
                        problems.append(f"datasets.{name}.joins.{join}.{split}: names {target!r}, which is not "
                                        "a dataset split")
            for size, target in spec.sizes.items():
                if target not in merged:
                    problems.append(f"datasets.{name}.sizes.{size}: names {target!r}, which is not a dataset")
        if problems:
            raise RegistryError(", ".join(str(p) for p in paths), problems)
        return cls(merged)

    def names(self) -> list[str]:
        """Every dataset name, sorted."""
        return list(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._specs or name in self._compiled

    def __iter__(self):
        return iter(self.specs().values())

    def __len__(self) -> int:
        return len(self._names)

    def dataset(self, name: str) -> DatasetSpec:
        """The spec called ``name``, also under another spelling of it (``MNIST``, ``FashionMNIST``).

        An unknown name gets an error with the close matches; a family's name alone
        (``emnist``) gets the family's datasets (``emnist/balanced``, ...).
        """
        spec = self._spec(name) if isinstance(name, str) else None
        if spec is None:
            resolved = self.resolve(name)
            spec = self._spec(resolved) if resolved is not None else None
        if spec is None:
            raise UnknownNameError(_unknown_dataset(name, self._names))
        return spec

    def resolve(self, name: object) -> str | None:
        """The registry name ``name`` stands for: itself, or the one name it spells differently.

        Case, ``-``, ``_``, ``.``, ``/`` and spaces do not matter (``FashionMNIST`` is
        ``fashion-mnist``, ``EMNIST_balanced`` is ``emnist/balanced``); a spelling two names
        share resolves to neither. None when nothing matches.

        >>> from mnistfamily.registry import get_registry
        >>> get_registry().resolve("FashionMNIST"), get_registry().resolve("MNIST"), get_registry().resolve("emnist")
        ('fashion-mnist', 'mnist', None)
        """
        if isinstance(name, str) and name in self:
            return name
        key = lookup_key(name)
        if key is None:
            return None
        if self._keys is None:
            keys: dict[str, list[str]] = {}
            for known in self._names:
                keys.setdefault(lookup_key(known) or known, []).append(known)
            self._keys = keys
        matches = self._keys.get(key, [])
        return matches[0] if len(matches) == 1 else None

    def split(self, name: str, split: str) -> SplitSpec:
        """The split ``split`` of dataset ``name``, with close matches on a typo."""
        spec = self.dataset(name)
        try:
            return spec.splits[split]
        except KeyError:
            raise UnknownNameError(
                f"dataset {name!r} has no split {split!r}{_suggest(split, spec.splits)} "
                f"(its splits: {', '.join(spec.splits)})"
            ) from None


def _resolve_variants(specs: dict[str, DatasetSpec], problems: list[str]) -> dict[str, DatasetSpec]:
    """Fill each derived entry with what it inherits from its base (bases first; no cycles)."""
    from dataclasses import replace
    from types import MappingProxyType

    from .loader import example_problems  # only when registry files are parsed

    resolved: dict[str, DatasetSpec] = {}

    def resolve(name: str, trail: tuple[str, ...]) -> DatasetSpec | None:
        if name in resolved:
            return resolved[name]
        spec = specs[name]
        if spec.base is None:
            resolved[name] = spec
            return spec
        if spec.base not in specs:
            problems.append(f"datasets.{name}.base: names {spec.base!r}, which is not a dataset"
                            f"{_suggest(spec.base, specs)}")
            return None
        if spec.base in trail:
            problems.append(f"datasets.{name}.base: a cycle of bases ({' -> '.join((*trail, spec.base))})")
            return None
        base = resolve(spec.base, (*trail, name))
        if base is None:
            return None
        if spec.environments is None:
            splits = {k: SplitSpec(name=k, num_examples=s.num_examples, inputs=MappingProxyType({}),
                                   description=s.description) for k, s in base.splits.items()}
        else:
            splits = _environment_splits(name, spec, base, problems)
        constructed = _constructed_classes(spec)
        resolved[name] = replace(
            spec, classes=constructed or base.classes, class_count=0 if constructed else base.class_count,
            classes_named_by="" if constructed else base.classes_named_by,
            image_shape=spec.image_shape or base.image_shape,
            image_dtype=spec.image_dtype or base.image_dtype, multi_label=base.multi_label,
            example=spec.example or base.example,
            sample_rate=spec.sample_rate if spec.sample_rate is not None else base.sample_rate,
            label_columns=base.label_columns, label_column=base.label_column,
            joins=base.joins if spec.environments is None else MappingProxyType({}),  # joins name base splits
            homepage=spec.homepage or base.homepage, license=spec.license or base.license,
            citation=spec.citation or base.citation, splits=MappingProxyType(splits))
        done = resolved[name]
        for field, problem in example_problems(done.example, done.image_shape, done.image_dtype, done.sample_rate):
            problems.append(f"datasets.{name}.{field}: {problem} (a derived entry sets what its chain changes)")
        return done

    for name in specs:
        resolve(name, ())
    return resolved


def _environment_splits(name: str, spec: DatasetSpec, base: DatasetSpec, problems: list[str]) -> dict[str, SplitSpec]:
    """The splits of a dataset dealt into environments: one per environment, sized by the deal."""
    from types import MappingProxyType

    environments = spec.environments
    assert environments is not None
    missing = [s for s in environments.source if s not in base.splits]
    if missing:
        problems.append(f"datasets.{name}.environments.from: {', '.join(map(repr, missing))} "
                        f"{'is not a split' if len(missing) == 1 else 'are not splits'} of {base.name} "
                        f"(its splits: {', '.join(base.splits)})")
        return {}
    counts = [base.splits[s].num_examples for s in environments.source]
    total = None if any(c is None for c in counts) else sum(c for c in counts if c is not None)
    k = len(environments.splits)
    if environments.construction is not None:  # a construction deals its own way (IRM's ColoredMNIST)
        from .constructions import environment_sizes

        sizes: list[int | None] = list(environment_sizes(environments.construction, total, k)) \
            if total is not None else [None] * k
        if total is not None and min(s for s in sizes if s is not None) < 1:
            problems.append(f"datasets.{name}.environments.construction: its deal leaves an environment empty "
                            f"({sizes} of {total} rows)")
            return {}
    else:  # environment i takes every k-th row of the shuffled whole, starting at row i
        sizes = [None if total is None else len(range(i, total, k)) for i in range(k)]
    return {e.name: SplitSpec(name=e.name, num_examples=sizes[i], inputs=MappingProxyType({}),
                              description=e.description)
            for i, e in enumerate(environments.splits)}


def _constructed_classes(spec: DatasetSpec) -> tuple[str, ...]:
    """The classes a construction's labels index (ColoredMNIST's binary label), or () to inherit the base's."""
    if spec.environments is None or spec.environments.construction is None:
        return ()
    from .constructions import CONSTRUCTIONS

    return CONSTRUCTIONS[spec.environments.construction["name"]].classes


def _unknown_dataset(name: object, names: list[str]) -> str:
    """The message for a dataset name that is not in the registry: the family's datasets, or close matches."""
    shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
    key = lookup_key(name)
    if key is not None:
        # a family's name alone ("emnist", torchvision's "EMNIST"): its datasets, not look-alikes
        members = [n for n in names if "/" in n and lookup_key(n.split("/", 1)[0]) == key]
        if members:
            listed = ", ".join(repr(m) for m in members[:12]) + (f" and {len(members) - 12} more"
                                                                  if len(members) > 12 else "")
            return (f"unknown dataset {shown}: {members[0].split('/', 1)[0]!r} is a family of "
                    f"{len(members)} datasets; name one of them: {listed} "
                    "(mnistfamily.datasets() lists every name)")
    if key is not None:  # close matches among the names folded the same way ("Fashon_MNIST")
        folded = {lookup_key(n) or n: n for n in names}
        matches = [folded[m] for m in _close_matches(key, list(folded))]
        close = f": did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""
    else:
        close = _suggest(name, names) if isinstance(name, str) else ""
    return f"unknown dataset {shown}{close} (mnistfamily.datasets() lists every name)"


def _close_matches(word: str, choices: list[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(word, choices, n=3, cutoff=0.5)


def _suggest(word: str, choices) -> str:
    matches = _close_matches(word, list(choices))
    return f": did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""


_cache: dict[tuple, Registry] = {}


def get_registry(extra: "str | os.PathLike[str] | list | Registry | None" = None, *,
                 compiled_dir: Path | None = None) -> Registry:
    """The built-in registry merged with user files (``extra`` and ``MNISTFAMILY_REGISTRY``).

    A :class:`Registry` instance passed as ``extra`` is used as it is, instead of the
    built-in one (tests and private catalogs). Files are parsed once per process and set of
    files; with ``compiled_dir`` (``load`` passes ``<cache root>/registry``) the validated
    result is also kept there as JSON, so later processes skip YAML entirely.
    """
    if isinstance(extra, Registry):
        return extra
    paths = [builtin_registry_path(), *config.user_registries()]
    if extra is not None:
        paths.extend(Path(p) for p in (extra if isinstance(extra, (list, tuple)) else [extra]))
    key = tuple(_stat(p) for p in paths)
    registry = _cache.get(key)
    if registry is None and len(paths) == 1:
        from .compiled import read_builtin  # the shipped compiled form: no YAML, even on a fresh machine

        fields = read_builtin(paths[0])
        if fields is not None:
            registry = _cache[key] = Registry(compiled=fields)
            return registry
    if compiled_dir is None:
        if registry is None:
            registry = _cache[key] = Registry.from_files(paths)
        return registry
    from .compiled import compiled_path, read_compiled, write_compiled

    compiled = compiled_path(compiled_dir, key)
    if registry is None:
        fields = read_compiled(compiled)
        if fields is not None:
            registry = _cache[key] = Registry(compiled=fields)
            _written.add(compiled)
            return registry
        registry = _cache[key] = Registry.from_files(paths)
    if compiled not in _written:
        if not compiled.exists():
            write_compiled(compiled, registry.specs())
        _written.add(compiled)
    return registry


_written: set[Path] = set()


def _stat(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
        return str(path), st.st_mtime_ns, st.st_size
    except OSError:
        return str(path), -1, -1
