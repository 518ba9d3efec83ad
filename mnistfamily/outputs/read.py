"""``read_parquet``: an export back to Dataset(s), bit for bit, without the source files.

Classes, image shape, license, citation and source checksums come from the shards'
schema metadata, and the list of shards from the dataset card, so a copy of the export
on another machine (or in a bucket) reads back alone. The card is beside the dataset folder
(``DEST/_mnistfamily/<dataset>.card.json``), or inside it in exports of format version 1
(``DEST/<dataset>/_dataset_card.json``), which are read as they are. A dataset folder is read
only when its ``_SUCCESS`` marker exists; its shards must be exactly those the card lists,
each with the size and sha256 the card records (unless ``verify=False``).

Everything read from the folder is untrusted (see :mod:`.trust` and :mod:`.decode`): card
shard paths must be ``split=<split>/part-NNNNN-of-MMMMM.parquet`` inside the folder, names
pass the registry's checks, and nothing a file declares is allocated before it is checked
against the bytes present.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable

from .. import safe_write
from .decode import ShardRef, read_split
from .errors import ExportError, IncompleteExportError
from .layout import (CARD_FOLDER, CARD_SUFFIX, LEGACY_CARD, SUCCESS, Destination, basename, card_path, inside,
                     join, parent, parse_shard_name, redacts_storage_options)
from .trust import MAX_CARD_BYTES, Card, SplitEntry, corrupt, describe, parse_card, parse_json

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset


@redacts_storage_options
def read_parquet(path_or_url: str | os.PathLike[str], *, splits: str | Iterable[str] | None = None,
                 verify: bool = True, storage_options: dict | None = None) -> "Dataset | dict[str, Dataset]":
    """Read an export back: a dataset folder gives ``{split: Dataset}``, a split folder or a shard a Dataset.

    Parameters
    ----------
    path_or_url
        ``DEST/<dataset>`` (every split, or ``splits``), ``DEST/<dataset>/split=train``, or
        one ``part-*.parquet`` file; any fsspec URL (``s3://...``, ``memory://...``).
    splits
        With a dataset folder: only these splits.
    verify
        Check each shard's size and sha256 against the dataset card before reading it (the
        default; about 20 ms per 10 MB shard). ``verify=False`` skips the hash, for speed over
        safety; the card's sizes and every structural check still apply. A split folder copied
        without its card, or a lone shard, has nothing to verify against.
    storage_options
        fsspec options (credentials, endpoint).

    Returns
    -------
    Dataset or dict[str, Dataset]
        Images, labels (int64), index, classes and metadata columns exactly as exported.

    Raises
    ------
    IncompleteExportError
        No ``_SUCCESS``, or shards missing: the export did not finish.
    CorruptExportError
        A shard or the card is not what an export writes (changed, damaged, hostile).

    Examples
    --------
    >>> import tempfile, mnistfamily as mf
    >>> from mnistfamily.outputs import export, read_parquet
    >>> result = export("mnist/sample", tempfile.mkdtemp())
    >>> ds = read_parquet(result.path)["test"]
    >>> (ds.images == mf.load("mnist/sample", "test").images).all()
    np.True_
    """
    dest = Destination(path_or_url, storage_options)
    fs, root = dest.fs, dest.root
    where = dest.full_url(root)
    if not fs.exists(root):
        _refuse_unfinished(dest, root)
        raise IncompleteExportError(f"{where}: nothing there. Pass the folder `export` wrote "
                                    "(DEST/<dataset>), one of its split=<split> folders, or a shard.")
    if fs.isfile(root):
        return _read_one_shard(dest, root, verify)
    name = basename(root)
    if name.startswith("split="):
        split = name[len("split="):]
        folder = parent(root)
        found = _read_card(dest, folder)
        if found is None:  # a split folder copied on its own: its shard names tell whether it is whole
            return read_split(dest, [ShardRef(p) for p in _listed_shards(dest, root)], where)
        card, card_url = found
        _require_success(dest, folder)
        entry = card.splits.get(split)
        if entry is None:
            raise IncompleteExportError(f"{where}: the dataset card {card_url} lists no split {split!r} (it lists "
                                        f"{', '.join(card.splits) or 'none'}).")
        return read_split(dest, _card_shards(dest, folder, split, entry), where, entry, verify)
    found = _read_card(dest, root)
    if found is None:
        _refuse_unfinished(dest, root)
        names = [basename(p) for p in fs.ls(root, detail=False)]
        if not names:  # what an export killed between creating the folder and renaming its card leaves
            raise IncompleteExportError(f"{where}: an empty folder, no {SUCCESS}: an export did not finish, or "
                                        "nothing was exported here. Export again.")
        beside = dest.full_url(card_path(parent(root), basename(root)))
        if any(n.startswith("split=") for n in names) and SUCCESS in names:
            raise ExportError(f"{where}: a complete export (split folders and {SUCCESS}) but no dataset card: it "
                              f"belongs at {beside}, beside the folder. The folder was probably copied without it: "
                              "copy the card too, or read its split folders one by one "
                              f"(read_parquet('{where}/split=<split>')), which checks their shards' structure but "
                              "has no checksums to verify them against.")
        if any(n.startswith("split=") for n in names):
            raise IncompleteExportError(f"{where}: split folders but no dataset card ({beside}) and no {SUCCESS}: "
                                        "the export did not finish (or is still running). Export again.")
        held = _exports_in(dest, root, names)
        hint = f" It holds the export(s) {', '.join(held)}: pass one of those folders." if held else ""
        raise ExportError(f"{where}: not an mnistfamily export (no dataset card at {beside}).{hint}")
    card = found[0]
    _require_success(dest, root)
    available = list(card.splits)
    wanted = [splits] if isinstance(splits, str) else (list(splits) if splits is not None else available)
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise ExportError(f"{where}: no split {', '.join(map(repr, unknown))}; the export holds "
                          f"{', '.join(available) or 'none'}.")
    return {split: read_split(dest, _card_shards(dest, root, split, card.splits[split]),
                              join(where, f"split={split}"), card.splits[split], verify)
            for split in wanted}


def _read_card(dest: Destination, folder: str) -> tuple[Card, str] | None:
    """The card of the dataset folder ``folder`` and its URL: beside it, or inside it (format version 1)."""
    if basename(folder) in ("", "/", ".", ".."):
        return None
    for path in (card_path(parent(folder), basename(folder)), join(folder, LEGACY_CARD)):
        data = dest.read_small(path, MAX_CARD_BYTES)
        if data is not None:
            return parse_card(data, dest.full_url(path)), dest.full_url(path)
    return None


def _exports_in(dest: Destination, root: str, names: list[str]) -> list[str]:
    """The dataset folders of a lake root (``root``), by their cards: for a hint."""
    held: set[str] = set()
    if CARD_FOLDER in names:
        try:
            cards = [basename(p) for p in dest.fs.ls(join(root, CARD_FOLDER), detail=False)]
        except (FileNotFoundError, NotADirectoryError):
            cards = []
        held.update(c[:-len(CARD_SUFFIX)] for c in cards if c.endswith(CARD_SUFFIX) and c[:-len(CARD_SUFFIX)] in names)
    held.update(n for n in names if dest.exists(join(root, n, LEGACY_CARD)))
    return sorted(held)


def _read_one_shard(dest: Destination, path: str, verify: bool) -> "Dataset":
    """A lone shard; checked against the card when it sits in an export folder that has one."""
    split_dir = parent(path)
    entry = None
    if basename(split_dir).startswith("split="):
        found = _read_card(dest, parent(split_dir))
        if found is not None:
            card = found[0]
            relative = f"{basename(split_dir)}/{basename(path)}"
            listed = [s for e in card.splits.values() for s in e.shards if s.path == relative]
            if not listed:
                raise IncompleteExportError(f"{dest.full_url(path)}: the dataset card beside it does not list this "
                                            "shard: it is not part of that export (a leftover, or copied in).")
            entry = listed[0]
    return read_split(dest, [ShardRef(path, entry)], dest.full_url(path), None, verify)


def _require_success(dest: Destination, folder: str) -> None:
    if not dest.exists(join(folder, SUCCESS)):
        raise IncompleteExportError(f"{dest.full_url(folder)}: no {SUCCESS} marker: the export did not finish "
                                    "or is being written right now. Wait for it, or export again.")


def _refuse_unfinished(dest: Destination, folder: str) -> None:
    """An export of this folder is being staged (or was killed) beside it: say so."""
    if not dest.local:
        return
    from pathlib import Path

    if safe_write.leftovers(Path(parent(folder)), basename(folder)):
        raise IncompleteExportError(f"{dest.full_url(folder)}: an export of it is being written right now, or did "
                                    f"not finish (its staging area is in {dest.full_url(parent(folder))}); there is "
                                    f"no {SUCCESS}. Wait for it, or export again (which removes what a killed "
                                    "export left).")


def _card_shards(dest: Destination, folder: str, split: str, entry: SplitEntry) -> list[ShardRef]:
    refs = [ShardRef(inside(folder, shard.path), shard) for shard in entry.shards]
    missing = [ref.path for ref in refs if not dest.exists(ref.path)]
    if missing:
        raise IncompleteExportError(f"{dest.full_url(folder)}: split {split!r} is missing "
                                    f"{', '.join(map(basename, missing))} that the card lists. Export again.")
    return refs


def _listed_shards(dest: Destination, folder: str) -> list[str]:
    names = sorted(basename(p) for p in dest.fs.ls(folder, detail=False))
    found = {n: parsed for n in names if (parsed := parse_shard_name(n)) is not None}
    counts = {count for _, count in found.values()}
    numbers = sorted(number for number, _ in found.values())
    if len(counts) != 1 or len(numbers) != next(iter(counts)) or numbers != list(range(len(numbers))):
        shown = ", ".join(list(found)[:10]) + (", ..." if len(found) > 10 else "")
        raise IncompleteExportError(f"{dest.full_url(folder)}: the shards are not a complete set "
                                    f"(found {shown or 'none'}). Export again.")
    return [join(folder, n) for n in sorted(found, key=lambda n: found[n][0])]


def schema_metadata(path_or_url: str | os.PathLike[str], *, storage_options: dict | None = None) -> dict[str, Any]:
    """The ``mnistfamily`` JSON of one shard's schema (dataset, classes, sources, ...), checked."""
    import pyarrow.parquet as pq

    from .schema import METADATA_KEY

    dest = Destination(path_or_url, storage_options)
    where = dest.full_url(dest.root)
    try:
        with dest.fs.open(dest.root, "rb") as f:
            schema = pq.read_schema(f)
    except FileNotFoundError:
        raise IncompleteExportError(f"{where}: no such shard.") from None
    except Exception as exc:  # pyarrow's errors on a file that is not Parquet
        raise corrupt(where, f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})") from None
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise corrupt(where, "not an mnistfamily export (its Parquet schema has no 'mnistfamily' metadata)",
                      "Read it with pyarrow, Polars or DuckDB instead.")
    return dict(describe(parse_json(raw, where, "its 'mnistfamily' schema metadata"), where).raw)
