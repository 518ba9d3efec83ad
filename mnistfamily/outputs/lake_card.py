"""The lake's ``README.md``: a Hugging Face dataset card with one config per exported dataset.

Hugging Face ``datasets`` reads a folder's ``README.md`` for its *configs*: which files make
which split of which dataset. Without it, ``load_dataset`` on a lake calls every split
``train`` and reads files it should not (``_SUCCESS``, other datasets). With it::

    load_dataset("lake/", "mnist--sample")   # splits by name, label as a ClassLabel

Each export rewrites the card from the dataset cards in ``DEST/_mnistfamily/`` (every complete
export in the folder, whoever exported it), so it lists what the folder holds now. Per dataset:
``data_files`` per split (``<folder>/split=<split>/*.parquet``, so neither ``_SUCCESS`` nor a
staging area is read) and the features, with ``label`` a ``ClassLabel`` of the class names.

The card is ours only when it carries our marker line; a ``README.md`` someone else wrote is
kept and the export says so (an :class:`ExportWarning`). On a local disk it is written under a
lock (``DEST/.README.md.lock``) and renamed into place; on object stores it is written whole,
and two exports finishing at once may each list only their own dataset until the next export.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from .. import safe_write
from .engines import readme_features
from .errors import CorruptExportError, ExportWarning
from .layout import CARD_FOLDER, CARD_SUFFIX, SUCCESS, Destination, basename, folder_name, join
from .trust import MAX_CARD_BYTES, Card, describe, parse_card

log = logging.getLogger("mnistfamily.outputs")

README = "README.md"
MARKER = "<!-- mnistfamily lake card: rewritten by every export to this folder; edits are lost -->"
#: a lake card lists a few hundred bytes per dataset; anything larger is not ours and is not read whole
_MAX_README_BYTES = 4 << 20


def update_lake_card(dest: Destination) -> str | None:
    """Rewrite ``DEST/README.md`` from the exports in ``dest``; return its URL, or None when it was kept.

    Never raises for a problem of the card itself: the export it follows is complete, so a
    failure is logged and reported in an :class:`ExportWarning`.
    """
    path = join(dest.root, README)
    try:
        if dest.local:
            with safe_write.locked(Path(dest.root) / f".{README}", f"writing the lake card {dest.full_url(path)}"):
                # with the lock held, an area marked for README.md is a killed writer's, even when
                # the card is already up to date and nothing is written below
                safe_write.remove_leftovers(Path(dest.root), README, why="an interrupted lake card update")
                return _update(dest, path)
        return _update(dest, path)
    except Exception as exc:  # noqa: BLE001 - the export is done; the card is a convenience
        warnings.warn(f"{dest.full_url(path)}: the lake card (Hugging Face configs) was not updated: "
                      f"{type(exc).__name__}: {exc}", ExportWarning, stacklevel=3)
        return None


def clear_lake_card_leftovers(dest: Destination) -> None:
    """Remove what killed writers of the lake card left (local disks; under the card's lock).

    Every export calls it first, so an export that then stops (the split exists, a full disk)
    still cleans up after a card writer that was killed.
    """
    if not dest.local or not Path(dest.root).is_dir():
        return
    try:
        with safe_write.locked(Path(dest.root) / f".{README}", "removing what killed lake card writers left"):
            safe_write.remove_leftovers(Path(dest.root), README, why="an interrupted lake card update")
    except OSError as exc:  # a read-only destination: the export says so itself
        log.debug("lake card leftovers not checked: %s", exc)


def _update(dest: Destination, path: str) -> str | None:
    existing = dest.read_small(path, _MAX_README_BYTES) if dest.exists(path) else None
    if existing is not None and MARKER.encode() not in existing:
        warnings.warn(f"{dest.full_url(path)}: kept, it was not written by mnistfamily; add the configs of "
                      f"mnistfamily's exports to it by hand to load them with datasets.load_dataset (see "
                      "docs/parquet-and-lakes.md).", ExportWarning, stacklevel=4)
        return None
    text = lake_card_text(dest).encode("utf-8")
    if existing == text:
        return dest.full_url(path)
    if dest.local:
        safe_write.atomic_write(Path(path), text)
    else:
        dest.fs.pipe_file(path, text)
    return dest.full_url(path)


def exported_datasets(dest: Destination) -> list[tuple[str, Card]]:
    """``(folder, card)`` of every complete export in ``dest``, by folder name; damaged cards are skipped."""
    cards_folder = join(dest.root, CARD_FOLDER)
    try:
        names = sorted(basename(p) for p in dest.fs.ls(cards_folder, detail=False))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name in names:
        if not name.endswith(CARD_SUFFIX):
            continue
        folder = name[:-len(CARD_SUFFIX)]
        where = dest.full_url(join(cards_folder, name))
        try:
            data = dest.read_small(join(cards_folder, name), MAX_CARD_BYTES)
            card = parse_card(data, where) if data is not None else None
        except CorruptExportError as exc:
            log.warning("the lake card skips %s: %s", where, exc)
            continue
        # the folder name becomes a path in the card: it must be the one the card's dataset is exported to
        if card is None or folder_name(card.dataset) != folder or not dest.exists(join(dest.root, folder, SUCCESS)):
            continue
        out.append((folder, card))
    return out


def lake_card_text(dest: Destination) -> str:
    """The ``README.md`` of a lake: YAML front matter (configs, features) and a table of the datasets."""
    import yaml

    configs: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    rows = []
    datasets = exported_datasets(dest)
    for folder, card in datasets:
        config: dict[str, Any] = {"config_name": folder, "data_files": [
            {"split": split, "path": f"{folder}/split={split}/*.parquet"} for split in card.splits]}
        if len(datasets) == 1:
            config["default"] = True
        configs.append(config)
        features = _features(card, dest)
        if features is not None:  # (no "splits": datasets wants their size as Arrow, which only it knows)
            infos.append({"config_name": folder, "features": features})
        raw = card.raw
        rows.append(f"| `{card.dataset}` | `{folder}` | "
                    + ", ".join(f"{split} ({entry.num_rows:,})" for split, entry in card.splits.items())
                    + f" | {_cell(raw.get('license'))} | {_cell(raw.get('title'))} |")
    meta: dict[str, Any] = {"configs": configs, "dataset_info": infos} if infos else {"configs": configs}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1_000_000) if configs else "configs: []\n"
    table = "\n".join(["| dataset | config | splits (examples) | license | title |",
                       "|---|---|---|---|---|", *rows]) if rows else "No complete export yet."
    return (f"---\n{front}---\n\n{MARKER}\n\n# Datasets exported by mnistfamily\n\n{table}\n\n"
            "Each dataset is a folder of Parquet shards, one Hive partition per split "
            "(`<config>/split=<split>/part-NNNNN-of-MMMMM.parquet`); its dataset card, with every shard's sha256, "
            f"is `{CARD_FOLDER}/<config>{CARD_SUFFIX}`.\n\n"
            "```python\nimport datasets\n\nsplits = datasets.load_dataset(\"<this folder>\", \"<config>\")\n```\n")


def _features(card: Card, dest: Destination) -> list[dict[str, Any]] | None:
    """The dataset's features when every split has the same columns, else None (datasets then infers them)."""
    described = set()
    first = None
    for entry in card.splits.values():
        if entry.schema_metadata is None:
            return None
        try:
            split = describe(dict(entry.schema_metadata), dest.root)
        except CorruptExportError:
            return None
        key = (split.image_encoding, split.image_shape, split.classes, split.metadata_columns, split.example,
               split.image_dtype)
        described.add(key)
        first = split
    if len(described) != 1 or first is None:
        return None
    return readme_features(image_encoding=first.image_encoding, image_shape=first.image_shape,
                           classes=first.classes, metadata_columns=first.metadata_columns, example=first.example,
                           image_dtype=first.image_dtype)


def _cell(text: object) -> str:
    """Free text from a card as one Markdown table cell."""
    value = str(text or "").replace("|", "\\|").replace("\n", " ").strip()
    return value if len(value) <= 120 else value[:117] + "..."
