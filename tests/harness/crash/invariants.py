"""What must hold in a cache root and export targets at any moment, even right after a SIGKILL.

``check_invariants`` says what must hold at *any* moment, in particular right after a
process was killed with SIGKILL in the middle of a download, a preparation or an export:

- every file in ``downloads/`` verifies against the registry, or is a lock file, a temporary
  (``.<name>.<8 hex>.part``) or inside a temporary area (``.mnistfamily-tmp-<32 hex>/``, see
  :mod:`mnistfamily.safe_write`) that the next run ignores;
- every prepared entry with a visible name (``<split>@<key>``) has a manifest and passes
  ``verify_entry``; temporary areas are never read, and preparing makes no other hidden folder;
- a Parquet export either has ``_SUCCESS`` and reads back equal to the source (every shard
  verified against the card), or has no ``_SUCCESS`` and ``read_parquet`` refuses it; its
  staging areas (``.mnistfamily-tmp-*`` beside it) are never read; an ``.npz`` export is
  absent or complete.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["array_digest", "check_invariants"]

_PART = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.part$")


def array_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of a split's images and labels (shape, dtype and bytes)."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(images), np.ascontiguousarray(labels)):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def check_invariants(root: str | os.PathLike[str], registry: Any, *,
                     expected: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                     parquet: str | os.PathLike[str] | None = None,
                     npz: str | os.PathLike[str] | None = None) -> list[str]:
    """Every violation of the crash-safety invariants in a cache root and export targets.

    Parameters
    ----------
    root
        The cache root (``data_dir``).
    registry
        A :class:`~mnistfamily.registry.Registry`, or the path of a registry file.
    expected
        ``{split: {"images": ..., "labels": ...}}``: what a complete export must read back as.
    parquet
        A Parquet dataset folder (``DEST/<dataset>``) an export may have been writing.
    npz
        An ``.npz`` file an export may have been writing.

    Returns
    -------
    list[str]
        One line per violation, naming the path; empty when every invariant holds.
    """
    from mnistfamily.registry import Registry

    if not isinstance(registry, Registry):
        registry = Registry.from_files([Path(registry)])
    root = Path(root)
    violations = _check_downloads(root, registry) + _check_prepared(root)
    if parquet is not None:
        violations += _check_parquet(Path(parquet), expected)
    if npz is not None:
        violations += _check_npz(Path(npz), expected)
    return violations


def _check_downloads(root: Path, registry: Any) -> list[str]:
    from mnistfamily.errors import ChecksumError
    from mnistfamily.fetch import verify_file

    files: dict[tuple[str, str], Any] = {}
    for spec in registry:
        for file in spec.files.values():
            files[(spec.family, file.name)] = file
    out = []
    folder = root / "downloads"
    for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
        relative = path.relative_to(folder)
        if path.is_dir() or path.name.endswith(".lock") or _PART.match(path.name) or _in_temp_area(relative):
            continue  # locks and temporary copies: a complete download is never read from them
        file = files.get((relative.parts[0], path.name)) if len(relative.parts) == 2 else None
        if file is None:
            out.append(f"{path}: a visible file in downloads/ that no registry entry names")
            continue
        try:
            verify_file(path, file)
        except ChecksumError as exc:
            out.append(f"{path}: a visible download that does not verify: {exc}")
    return out


def _in_temp_area(relative: Path) -> bool:
    from mnistfamily.safe_write import TEMP_PREFIX

    return any(part.startswith(TEMP_PREFIX) for part in relative.parts[:-1])


def _check_prepared(root: Path) -> list[str]:
    from mnistfamily.prepare.entry import ENTRY_NAME, MANIFEST, read_entry, verify_entry
    from mnistfamily.safe_write import TEMP_PREFIX

    out = []
    folder = root / "prepared"
    for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
        relative = path.relative_to(folder)
        if not path.is_dir() or _in_temp_area(relative):
            continue
        if path.name.startswith("."):  # temporary areas are never read; preparing makes no other hidden folder
            if not path.name.startswith(TEMP_PREFIX):
                out.append(f"{path}: a hidden folder in prepared/ that is not a temporary area")
            continue
        if not ENTRY_NAME.fullmatch(path.name):
            continue  # a dataset folder (prepared/emnist/balanced), not an entry
        if not (path / MANIFEST).is_file():
            out.append(f"{path}: a visible prepared entry without {MANIFEST}")
            continue
        problems = verify_entry(path)
        if problems:
            out.append(f"{path}: a visible prepared entry that does not verify: {'; '.join(problems)}")
        elif read_entry(path) is None:
            out.append(f"{path}: a visible prepared entry that does not load")
    return out


def _check_parquet(folder: Path, expected: Mapping[str, Mapping[str, np.ndarray]] | None) -> list[str]:
    from mnistfamily.outputs import IncompleteExportError, read_parquet
    from mnistfamily.outputs.layout import SUCCESS

    if not (folder / SUCCESS).exists():
        try:
            read_parquet(folder)
        except IncompleteExportError:
            return []  # readers gating on _SUCCESS (read_parquet, Spark) see no export
        except Exception as exc:  # noqa: BLE001 - any other answer is a violation
            return [f"{folder}: no {SUCCESS}, and read_parquet fails with {type(exc).__name__}: {exc}"]
        return [f"{folder}: no {SUCCESS}, yet read_parquet reads it"]
    try:
        back = read_parquet(folder)
    except Exception as exc:  # noqa: BLE001
        return [f"{folder}: {SUCCESS} is there but read_parquet fails: {type(exc).__name__}: {exc}"]
    if not isinstance(back, dict):  # a dataset folder reads back as {split: Dataset}
        return [f"{folder}: read back as one split, not a dataset folder"]
    return _compare(folder, {split: (ds.images, ds.labels) for split, ds in back.items()}, expected)


def _check_npz(path: Path, expected: Mapping[str, Mapping[str, np.ndarray]] | None) -> list[str]:
    if not path.exists():
        return []
    try:
        with np.load(path, allow_pickle=False) as data:
            found = {key[2:]: (data[key], data[f"y_{key[2:]}"]) for key in data.files if key.startswith("x_")}
    except Exception as exc:  # noqa: BLE001
        return [f"{path}: a visible .npz that does not load: {type(exc).__name__}: {exc}"]
    return _compare(path, found, expected)


def _compare(where: Path, found: Mapping[str, tuple[np.ndarray, np.ndarray]],
             expected: Mapping[str, Mapping[str, np.ndarray]] | None) -> list[str]:
    if expected is None:
        return []
    if set(found) != set(expected):
        return [f"{where}: holds splits {sorted(found)}, expected {sorted(expected)}"]
    out = []
    for split, (images, labels) in found.items():
        want = expected[split]
        if array_digest(images, np.asarray(labels, dtype=np.int64)) != array_digest(
                want["images"], np.asarray(want["labels"], dtype=np.int64)):
            out.append(f"{where}: split {split!r} reads back different from the source")
    return out
