"""Format-exact miniature copies of registry datasets, with known content.

``write_miniatures`` writes, for each dataset, every file its splits read, in the
published format (IDX, gzip or xz chosen by the published file name; members packed into
their zip archive; EMNIST-style transposed images and 1-based labels where the dataset is
published that way), with a few rows per split instead of thousands, and a registry
whose sizes and checksums are those of the miniatures and whose ``base_url`` points where
the files will be served. A miniature knows what the real entry knows: a hash the real
registry lacks is left out of the miniature's too, so the same verification path runs.
Tests then drive the real path (download -> verify -> prepare -> load) and compare the
result with ``expected``.
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Callable

import numpy as np

from ..registry import DatasetSpec, FileSpec, Registry, SplitSpec, get_registry, join_url
from ..registry.dump import dump_registry
from ..registry.formats import FORMATS


@dataclass
class Miniatures:
    """What ``write_miniatures`` made: the files, a registry describing them, expected arrays."""

    folder: Path
    registry_path: Path
    registry: Registry
    files: dict[str, dict[str, Path]] = field(default_factory=dict)  # dataset -> file name -> path
    expected: dict[tuple[str, str], dict] = field(default_factory=dict)  # (dataset, split) -> arrays

    def expect(self, name: str, split: str) -> dict:
        """``{"images", "labels", "index", "metadata"}`` that loading ``name``/``split`` must give."""
        return self.expected[(name, split)]


def write_miniatures(folder: str | Path, base_url: str, *, names: list[str] | None = None,
                     scale: int = 1000, minimum: int = 5, seed: int = 0,
                     source_registry: Registry | None = None) -> Miniatures:
    """Write miniatures of ``names`` (default: every registry dataset) under ``folder``.

    Files land in ``folder/<family>/<published name>`` (the layout mirrors use), and the
    generated registry says they live at ``base_url/<family>/``. Every split keeps its
    structure (row ranges, label tables, index files, archive members) with about
    ``1/scale`` of its rows and at least ``minimum``.

    Examples
    --------
    >>> import tempfile, mnistfamily as mf
    >>> from mnistfamily.testing import write_miniatures
    >>> mini = write_miniatures(tempfile.mkdtemp(), "file:///nowhere", names=["mnist"])
    >>> mini.registry.dataset("mnist").splits["train"].num_examples
    60
    """
    folder = Path(folder)
    registry = source_registry or get_registry()
    rng = np.random.default_rng(seed)
    specs: list[DatasetSpec] = []
    out = Miniatures(folder, folder / "registry.yaml", registry)  # registry replaced below
    # archives are shared by the datasets of a family (EMNIST's six splits, one gzip.zip):
    # members are collected first and each archive is written once, with all of them
    archives: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
    chosen = _with_bases(registry, names or registry.names())
    variants = [n for n in chosen if registry.dataset(n).base is not None]
    for name in [n for n in chosen if n not in variants]:
        spec = registry.dataset(name)
        splits = {s.name: _scaled(s, scale, minimum) for s in spec.splits.values()}
        contents, expected = generator(spec.format)(spec, splits, rng)
        files, paths = _write_files(spec, contents, folder, archives)
        specs.append(replace(spec, files=MappingProxyType(files), splits=MappingProxyType(splits),
                             base_url=join_url(base_url, spec.family) + "/", mirrors=(), packaged=False,
                             source_only=False))
        out.files[name] = paths
        out.expected.update({(name, split): arrays for split, arrays in expected.items()})
    for name in _bases_first(registry, variants):  # derived entries: the base's miniature, transformed
        spec = _scaled_construction(registry.dataset(name), registry, out.expected)
        specs.append(spec)
        out.files[name] = {}
        out.expected.update(_variant_expected(spec, out.expected))
    written = {key: _write_archive(folder / key[0] / key[1], members) for key, members in archives.items()}
    kept = {spec.name for spec in specs}
    # a miniature of some datasets only refers to what it holds (sizes, joins)
    specs = [replace(spec, sizes=MappingProxyType({k: v for k, v in spec.sizes.items() if v in kept}),
                     joins=MappingProxyType({k: v for k, v in spec.joins.items()  # the shipped lists stay
                                             if all(t.partition(":")[0] in (*kept, "cleanlab") for t in v.values())}))
             for spec in specs]
    for i, spec in enumerate(specs):
        files = dict(spec.files)
        for (family, archive), (path, data) in written.items():
            if family == spec.family and archive in files:
                files[archive] = _described(spec.file(archive), data, None)
                out.files[spec.name][archive] = path
        specs[i] = replace(spec, files=MappingProxyType(files))
    out.registry_path.write_text(dump_registry(specs), encoding="utf-8")
    out.registry = Registry.from_files([out.registry_path])
    return out


def _with_bases(registry: Registry, names: list[str]) -> list[str]:
    """``names`` plus every base a derived entry among them needs."""
    out = list(dict.fromkeys(names))
    for name in out:  # grows while iterating: bases of bases
        base = registry.dataset(name).base
        if base is not None and base not in out:
            out.append(base)
    return out


def _bases_first(registry: Registry, variants: list[str]) -> list[str]:
    ordered: list[str] = []

    def visit(name: str) -> None:
        base = registry.dataset(name).base
        if base in variants and base not in ordered:
            visit(base)
        if name not in ordered:
            ordered.append(name)

    for name in variants:
        visit(name)
    return ordered


def _variant_expected(spec: DatasetSpec, expected: dict) -> dict:
    """What loading a derived miniature must give: the base's expected arrays, transformed."""
    from ..examples import Signals
    from ..prepare.variant import chain_spec
    from ..transforms import from_spec

    if spec.environments is not None:
        return _environments_expected(spec, expected)
    transform = from_spec(chain_spec(spec))
    out = {}
    for (name, split), arrays in list(expected.items()):
        if name == spec.base:
            examples = arrays["images"]  # Signals of varying length are not one array
            batch = examples if isinstance(examples, Signals) else np.asarray(examples)
            images = transform(batch, index=arrays["index"])  # type: ignore[arg-type]  # signal transforms take Signals
            out[(spec.name, split)] = {**arrays, "images": images}
    return out


def _environments_expected(spec: DatasetSpec, expected: dict) -> dict:
    """What loading a miniature dealt into environments must give, environment by environment."""
    from ..dataset import Dataset
    from ..prepare.environments import environment_arrays, environment_chain
    from ..transforms import from_spec

    assert spec.environments is not None
    bases = {s: Dataset(expected[(spec.base, s)]["images"], expected[(spec.base, s)]["labels"], classes=spec.classes,
                        index=expected[(spec.base, s)]["index"])
             for s in spec.environments.source}
    out = {}
    for name in spec.environments.names():
        arrays = environment_arrays(spec, name, bases)
        joined = arrays.pop("joined")
        images = from_spec(environment_chain(spec, name))(arrays.pop("images"), index=joined)
        out[(spec.name, name)] = {"images": images, "labels": arrays.pop("labels"),
                                  "index": np.arange(len(joined), dtype=np.int64),
                                  "metadata": {k[len("meta."):]: v for k, v in arrays.items()}}
    return out


def _scaled_construction(spec: DatasetSpec, registry: Registry, expected: dict) -> DatasetSpec:
    """A construction's row counts (IRM's ``train_size``) scaled as its base's miniature split was."""
    env = spec.environments
    if env is None or env.construction is None or "train_size" not in env.construction:
        return spec
    real = registry.dataset(spec.base or "").splits[env.source[0]].num_examples or 1
    mini = len(expected[(spec.base, env.source[0])]["labels"])
    size = max(2, min(mini - 1, round(int(env.construction["train_size"]) * mini / real)))
    construction = MappingProxyType({**env.construction, "train_size": size})
    return replace(spec, environments=replace(env, construction=construction))


def _scaled(split: SplitSpec, scale: int, minimum: int) -> SplitSpec:
    rows = split.rows
    if rows is None:
        return replace(split, num_examples=max(minimum, (split.num_examples or 0) // scale))
    start = math.ceil(rows[0] / scale)
    stop = max(start + 1, rows[1] // scale)
    return replace(split, num_examples=stop - start, options=MappingProxyType({**split.options, "rows": (start, stop)}))


def generator(format_name: str) -> Callable:
    """The miniature writer of a format: its row of the format table (``registry/formats.py``),
    imported on first use. It takes ``(spec, scaled splits, rng)`` and returns
    ``({file: (bytes, payload or None)}, {split: expected arrays})``."""
    import importlib

    module, _, function = FORMATS[format_name].miniature.partition(":")
    return getattr(importlib.import_module(module), function)


def _write_files(spec: DatasetSpec, contents: dict[str, tuple[bytes, bytes | None]], folder: Path,
                 archives: dict[tuple[str, str], list[tuple[str, bytes]]]
                 ) -> tuple[dict[str, FileSpec], dict[str, Path]]:
    family_dir = folder / spec.family
    family_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, FileSpec] = {}
    paths: dict[str, Path] = {}
    for name, (data, payload) in contents.items():
        real = spec.file(name)
        files[name] = _described(real, data, payload)
        if real.archive:
            files.setdefault(real.archive, spec.file(real.archive))  # described once written
            members = archives.setdefault((spec.family, real.archive), [])
            if (real.member or name) not in {m for m, _ in members}:
                members.append((real.member or name, data))
        else:
            (family_dir / name).write_bytes(data)
            paths[name] = family_dir / name
    return files, paths


def _write_archive(path: Path, members: list[tuple[str, bytes]]) -> tuple[Path, bytes]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for member, data in sorted(members):
            info = zipfile.ZipInfo(member, date_time=(2019, 1, 1, 0, 0, 0))  # reproducible bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    data = buffer.getvalue()
    path.write_bytes(data)
    return path, data


def _described(real: FileSpec, data: bytes, payload: bytes | None) -> FileSpec:
    """The miniature's FileSpec: the same fields known as in the real entry, with its own values."""
    def known(value, computed):
        return computed if value is not None else None

    return replace(
        real, size=known(real.size, len(data)), md5=known(real.md5, hashlib.md5(data).hexdigest()),
        sha256=known(real.sha256, hashlib.sha256(data).hexdigest()),
        payload_size=known(real.payload_size, len(payload)) if payload is not None else None,
        payload_sha256=known(real.payload_sha256, hashlib.sha256(payload).hexdigest()) if payload is not None else None,
        url=None)
