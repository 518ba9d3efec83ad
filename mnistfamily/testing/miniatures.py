"""Format-exact miniature copies of registry datasets, with known content.

``write_miniatures`` writes, for each dataset, every file its splits read (IDX, gzip or
xz, chosen by the published file name) with a few rows per split instead of thousands,
and a registry whose sizes and checksums are those of the miniatures and whose
``base_url`` points where the files will be served. Tests then drive the real path:
download -> verify -> prepare -> load, and compare the result with ``expected``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..formats.idx import write_idx
from ..registry import DatasetSpec, FileSpec, Registry, SplitSpec, get_registry, join_url
from ..registry.dump import dump_registry


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


def _scaled_rows(split: SplitSpec, scale: int, minimum: int) -> tuple[int, int] | None:
    if split.rows is None:
        return None
    start = math.ceil(split.rows[0] / scale)
    stop = max(start + 1, split.rows[1] // scale)
    return start, stop


def write_miniatures(folder: str | Path, base_url: str, *, names: list[str] | None = None,
                     scale: int = 1000, minimum: int = 5, seed: int = 0,
                     source_registry: Registry | None = None) -> Miniatures:
    """Write miniatures of ``names`` (default: every registry dataset) under ``folder``.

    Files land in ``folder/<family>/<published name>`` (the layout mirrors use), and the
    generated registry says they live at ``base_url/<family>/``. Every split keeps its
    structure (row ranges, label tables, index files) with about ``1/scale`` of its rows
    and at least ``minimum``.

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
    for name in names or registry.names():
        spec = registry.dataset(name)
        mini_spec, files, expected = _miniature(spec, folder, base_url, scale, minimum, rng)
        specs.append(mini_spec)
        out.files[name] = files
        out.expected.update(expected)
    out.registry_path.write_text(dump_registry(specs), encoding="utf-8")
    out.registry = Registry.from_files([out.registry_path])
    return out


def _miniature(spec: DatasetSpec, folder: Path, base_url: str, scale: int, minimum: int,
               rng: np.random.Generator) -> tuple[DatasetSpec, dict[str, Path], dict]:
    splits: dict[str, SplitSpec] = {}
    file_rows: dict[str, int] = {}
    for split in spec.splits.values():
        rows = _scaled_rows(split, scale, minimum)
        n = rows[1] - rows[0] if rows else max(minimum, split.num_examples // scale)
        splits[split.name] = replace(split, num_examples=n, rows=rows)
        for file_name in (split.images, split.labels, split.index_file):
            if file_name:
                file_rows[file_name] = max(file_rows.get(file_name, 0), rows[1] if rows else n)
    # content of each file, shared by the splits that read it
    contents: dict[str, np.ndarray] = {}
    image_files = {s.images for s in splits.values()}
    label_files = {s.labels for s in splits.values()}
    index_files = {s.index_file for s in splits.values() if s.index_file}
    for file_name in image_files:
        n = file_rows[file_name]
        contents[file_name] = rng.integers(0, 256, size=(n, *spec.image_shape), dtype=np.uint8)
    for file_name in label_files:
        n = file_rows[file_name]
        classes = rng.integers(0, len(spec.classes), size=n)
        if spec.label_columns:
            table = rng.integers(0, 10, size=(n, len(spec.label_columns))).astype(np.int32)
            table[:, spec.label_columns.index(spec.label_column)] = classes
            contents[file_name] = table
        else:
            contents[file_name] = classes.astype(np.uint8)
    for file_name in index_files:
        n = file_rows[file_name]
        contents[file_name] = np.sort(rng.choice(n * 7, size=n, replace=False)).astype(np.int32)

    family_dir = folder / spec.family
    family_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, FileSpec] = {}
    paths: dict[str, Path] = {}
    for file_name, array in contents.items():
        path = family_dir / file_name
        write_idx(path, array)
        data = path.read_bytes()
        payload = _payload_bytes(array)
        files[file_name] = FileSpec(
            name=file_name, size=len(data), md5=hashlib.md5(data).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(), payload_size=len(payload),
            payload_sha256=hashlib.sha256(payload).hexdigest())
        paths[file_name] = path

    expected = {}
    for split in splits.values():
        start, stop = split.rows or (0, split.num_examples)
        labels = contents[split.labels][start:stop]
        metadata = {}
        if spec.label_columns:
            metadata = {c: labels[:, i].astype(np.int32) for i, c in enumerate(spec.label_columns)}
            labels = labels[:, spec.label_columns.index(spec.label_column)]
        index = (contents[split.index_file].astype(np.int64) if split.index_file
                 else np.arange(start, stop, dtype=np.int64))
        expected[(spec.name, split.name)] = {
            "images": contents[split.images][start:stop], "labels": labels.astype(np.int64),
            "index": index, "metadata": metadata,
        }
    mini = replace(spec, files=MappingProxyType(files), splits=MappingProxyType(splits),
                   base_url=join_url(base_url, spec.family) + "/", mirrors=(), packaged=False)
    return mini, paths, expected


def _payload_bytes(array: np.ndarray) -> bytes:
    from ..formats.idx import encode_header

    big = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))
    return encode_header(array.dtype, array.shape) + big.tobytes()
