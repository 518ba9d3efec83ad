"""One dataset's export folder: what it holds, whether an export may replace it, and the commit.

**An export replaces only what an export wrote.** Before anything is written, the folder is
inspected under its lock: a split folder, card or ``_SUCCESS`` that the export would replace
must belong to an export of the same dataset (our dataset card for it is beside the folder,
``DEST/_mnistfamily/<dataset>.card.json``, or inside it for exports of format version 1), and
a split folder must hold nothing but shard files. Otherwise the export stops with an
:class:`ExportDestinationError` and touches nothing. Everything else in the folder (a user's
notes, backups, files of another tool) is kept, and named in an :class:`ExportWarning`. A
Delta log (``_delta_log/``) is the Delta table's: an export that would change the folder's
files without a Delta commit is refused (the log would describe files that are gone).

**The commit** moves what the staging area holds into place with renames only, in an order
that keeps the folder recognisable as an export after a kill at any point: ``_SUCCESS`` is set
aside first (readers gating on it now wait), the new card is renamed over the old one (so a
folder with split folders always has our card beside it), each split folder is swapped, a
card of format version 1 inside the folder is set aside, and ``_SUCCESS`` comes back last.
What the folder held is kept in the staging area until then, so a failure (a full disk while
writing ``_SUCCESS``) puts every piece back. Object stores have no rename: each shard is
copied to its final key and the temporary one deleted, so a reader listing the folder
mid-commit can see part of the new shards; readers must gate on ``_SUCCESS`` (as Spark's
committers do), which ``read_parquet`` does.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import ExportDestinationError, ExportExistsError, ExportWarning
from .layout import (CARD_FOLDER, CARD_SUFFIX, LEGACY_CARD, SUCCESS, Destination, basename, card_bytes, folder_name,
                     join, parse_shard_name, split_folder)
from .staging import Staging, clear_leftovers, export_lock, make_local_folder
from .trust import MAX_CARD_BYTES, Card, parse_card

log = logging.getLogger("mnistfamily.outputs")

#: the Delta log of a folder registered as a Delta table (``export(..., table="delta")``)
DELTA_LOG = "_delta_log"


@dataclass
class FolderState:
    """What a dataset folder holds, as far as an export cares."""

    exists: bool = False
    card: Card | None = None          #: our card for this dataset, checked (beside the folder, or inside: v1)
    card_problem: str = ""            #: why a card that is there is not ours ("" when absent or ours)
    legacy_card: bool = False         #: our card of format version 1 is inside the folder (moved on commit)
    delta_log: bool = False           #: the folder holds a Delta log (``_delta_log/``)
    complete: bool = False            #: ``_SUCCESS`` is there
    splits: list[str] = field(default_factory=list)   #: ``split=<s>`` folders present (any s)
    foreign: list[str] = field(default_factory=list)  #: names an export never writes


class DatasetFolder:
    """The folder of one dataset's export, ``DEST/<dataset>``: inspection, commit and roll-back."""

    def __init__(self, dest: Destination, dataset: str):
        self.dest = dest
        self.dataset = dataset
        self.name = folder_name(dataset)
        self.parent = dest.root
        self.base = dest.path(self.name)  # checked to stay inside DEST
        self.card_dir = dest.path(CARD_FOLDER)
        self.card_path = dest.path(CARD_FOLDER, f"{self.name}{CARD_SUFFIX}")
        self.legacy_card = join(self.base, LEGACY_CARD)

    def split_dir(self, split: str) -> str:
        return join(self.base, split_folder(split))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's export lock (local disks) and clear what killed exports of it left."""
        with export_lock(self.dest, self.parent, self.name,
                         f"exporting {self.dataset} to {self.dest.full_url(self.base)}"):
            removed = clear_leftovers(self.dest, self.parent, self.name)
            if removed:
                log.info("removed %d staging area(s) left by interrupted exports: %s", len(removed),
                         ", ".join(removed))
            yield

    def inspect(self) -> FolderState:
        """List the folder (no file is opened but the cards)."""
        dest, state = self.dest, FolderState()
        dest.refresh()
        if dest.local:
            for path, what in ((self.base, "an export folder"), (self.card_dir, "the folder of dataset cards")):
                if os.path.lexists(path) and not os.path.isdir(path):
                    raise ExportDestinationError(f"{dest.full_url(path)} is a file, not {what}. Move it away, or "
                                                 "export to another destination.")
                if os.path.isdir(path) and os.stat(path).st_dev != os.stat(self.parent).st_dev:
                    raise ExportDestinationError(
                        f"{dest.full_url(path)} is on another filesystem than {dest.full_url(self.parent)} (a "
                        "mount point or a symbolic link): an export stages its files beside the dataset folder and "
                        "renames them into place, which works only within one filesystem. Export to the folder's "
                        "real location instead.")
        beside = self._read_card(self.card_path)
        if beside is not None:
            state.card, state.card_problem = beside
        try:
            names = sorted(basename(p) for p in dest.fs.ls(self.base, detail=False))
        except (FileNotFoundError, NotADirectoryError):
            return state
        state.exists = True
        for name in names:
            if name == SUCCESS:
                state.complete = True
            elif name == LEGACY_CARD:
                self._legacy_card_into(state)
            elif name == DELTA_LOG and dest.fs.isdir(join(self.base, name)):
                state.delta_log = True
            elif name.startswith("split=") and dest.fs.isdir(join(self.base, name)):
                state.splits.append(name[len("split="):])
            else:
                state.foreign.append(name)
        return state

    def _read_card(self, path: str) -> tuple[Card | None, str] | None:
        """``(our card, "")`` or ``(None, why it is not ours)``; None when there is no file."""
        from .errors import CorruptExportError

        where = self.dest.full_url(path)
        try:
            data = self.dest.read_small(path, MAX_CARD_BYTES)
            if data is None:
                return None
            card = parse_card(data, where)
        except CorruptExportError as exc:
            return None, str(exc)
        if card.dataset != self.dataset:
            return None, f"{where} is the card of an export of {card.dataset!r}, not of {self.dataset!r}"
        return card, ""

    def _legacy_card_into(self, state: FolderState) -> None:
        """A card inside the folder (format version 1): the card when there is none beside, or a copy to move."""
        found = self._read_card(self.legacy_card)
        if found is None:
            return
        card, problem = found
        if card is not None:
            state.legacy_card = True
            if state.card is None and not state.card_problem:
                state.card = card
        elif state.card is None and not state.card_problem:
            state.card_problem = problem
        else:  # beside our card: whatever it is, it is not ours to replace
            state.foreign.append(LEGACY_CARD)

    def check_replaceable(self, state: FolderState, splits: list[str], overwrite: bool,
                          delta: bool = False) -> list[str]:
        """Raise unless this export may write ``splits`` into the folder; return the splits it replaces.

        ``delta``: the export commits to the folder's Delta log. Warns about what the folder
        holds that an export never writes (kept as it is).
        """
        dest = self.dest
        if state.foreign:
            warnings.warn(f"{dest.full_url(self.base)}: kept {', '.join(state.foreign)}: not written by an export "
                          f"of {self.dataset} (an export never deletes what it did not write).",
                          ExportWarning, stacklevel=4)
        if state.delta_log and not delta:
            raise ExportDestinationError(
                f"{dest.full_url(self.base)} is a Delta table (it holds {DELTA_LOG}/): an export that changes its "
                "files without a Delta commit would leave the table describing files that are gone, so nothing was "
                "written. Pass table='delta' (--table delta) to export with a new Delta commit, or export to "
                "another destination.")
        existing = [s for s in splits if s in state.splits]
        card_name = f"{CARD_FOLDER}/{self.name}{CARD_SUFFIX}"
        touched = [name for name, there in ((SUCCESS, state.complete), (card_name, state.card or state.card_problem))
                   if there] + [split_folder(s) for s in existing]
        if touched and state.card is None:
            why = state.card_problem or f"there is no {card_name} beside it"
            raise ExportDestinationError(
                f"{dest.full_url(self.base)} holds {', '.join(touched)} but is not an export of {self.dataset}: "
                f"{why}. An export replaces only what an export of the same dataset wrote, so nothing was "
                "written. Move that folder away (or delete it if it is yours to delete), or choose another "
                "destination.")
        if existing and not overwrite and (state.complete or not dest.local):
            where = ", ".join(dest.full_url(self.split_dir(s)) for s in existing)
            raise ExportExistsError(f"{self.dataset}: {where} already exist(s): an export is kept unless you pass "
                                    "overwrite=True (--overwrite), which replaces it once the new shards are "
                                    "complete.")
        for split in existing:
            strays = self._strays(split)
            if strays:
                raise ExportDestinationError(
                    f"{dest.full_url(self.split_dir(split))} holds {', '.join(strays[:5])}"
                    f"{' and more' if len(strays) > 5 else ''}, which an export never writes; replacing the split "
                    "would delete it, so nothing was written. Move those files away, then export again.")
        if existing and not overwrite:
            # with the lock held, split folders without _SUCCESS are what a killed export left
            log.warning("%s holds split folder(s) %s but no _SUCCESS: an export that did not finish; replacing "
                        "them", dest.full_url(self.base), ", ".join(existing))
        return existing

    def _strays(self, split: str) -> list[str]:
        """What a split folder holds besides shard files."""
        folder = self.split_dir(split)
        out = []
        for path in self.dest.fs.ls(folder, detail=False):
            name = basename(path)
            if parse_shard_name(name) is None or self.dest.fs.isdir(path):
                out.append(name)
        return out

    def commit(self, staging: Staging, splits: list[str], card: dict[str, Any], state: FolderState) -> None:
        """Move each staged split folder into place; the card before them, ``_SUCCESS`` last."""
        if self.dest.local:
            self._commit_local(staging, splits, card, state)
            return
        dest, fs = self.dest, self.dest.fs
        dest.refresh()
        dest.remove(join(self.base, SUCCESS))  # readers gating on _SUCCESS now wait
        dest.write_bytes(self.card_path, card_bytes(card))  # before any shard: the folder is ours
        for split in splits:
            final, staged = self.split_dir(split), staging.file(split_folder(split))
            if dest.exists(final):
                fs.rm(final, recursive=True)
            for source in sorted(fs.find(staged)):
                fs.mv(source, join(final, source[len(staged):].lstrip("/")))
        if state.legacy_card:
            dest.remove(self.legacy_card)
        dest.write_bytes(join(self.base, SUCCESS), b"")

    def _commit_local(self, staging: Staging, splits: list[str], card: dict[str, Any], state: FolderState) -> None:
        """Renames only, each undone in reverse order if a later step fails."""
        base = self.base
        created = not os.path.isdir(base)
        created_cards = not os.path.isdir(self.card_dir)
        make_local_folder(self.dest, base)
        make_local_folder(self.dest, self.card_dir)
        aside = staging.file(".replaced")  # what the folder held, until _SUCCESS is back
        os.mkdir(aside)
        undo: list[Callable[[], None]] = []
        try:
            success, card_path = join(base, SUCCESS), self.card_path
            if os.path.exists(success):
                os.replace(success, join(aside, SUCCESS))  # readers gating on _SUCCESS now wait
                undo.append(lambda: os.replace(join(aside, SUCCESS), success))
            new_card = staging.file(f"{self.name}{CARD_SUFFIX}")
            self.dest.write_bytes(new_card, card_bytes(card))
            old_card = join(aside, f"{self.name}{CARD_SUFFIX}")
            if os.path.exists(card_path):
                with open(card_path, "rb") as f:
                    self.dest.write_bytes(old_card, f.read())  # a copy: the card is replaced in one rename
                undo.append(lambda: os.replace(old_card, card_path))
            else:
                undo.append(lambda: os.unlink(card_path))
            os.replace(new_card, card_path)
            for split in splits:
                final, staged = self.split_dir(split), staging.file(split_folder(split))
                old = join(aside, split_folder(split))
                if os.path.exists(final):  # overwrite, or a killed export's split: set it aside, atomically
                    os.replace(final, old)
                    undo.append(functools.partial(os.replace, old, final))
                os.replace(staged, final)
                undo.append(functools.partial(os.replace, final, staged))  # then deleted with the area
            if state.legacy_card and os.path.exists(self.legacy_card):  # the card now lives beside the folder
                os.replace(self.legacy_card, join(aside, LEGACY_CARD))
                undo.append(functools.partial(os.replace, join(aside, LEGACY_CARD), self.legacy_card))
            new_success = staging.file(SUCCESS)
            self.dest.write_bytes(new_success, b"")
            os.replace(new_success, success)
        except BaseException:
            self._roll_back(undo, created, created_cards)
            raise

    def _roll_back(self, undo: list[Callable[[], None]], created: bool, created_cards: bool) -> None:
        try:
            for step in reversed(undo):
                step()
            if created:
                os.rmdir(self.base)
            if created_cards:
                with contextlib.suppress(OSError):  # another dataset's card may be there by now
                    os.rmdir(self.card_dir)
            log.warning("the export into %s failed while committing; the folder was put back as it was",
                        self.dest.full_url(self.base))
        except OSError as exc:  # only renames: this fails only if someone else moved our files
            log.warning("could not put %s back as it was (%s); export again", self.dest.full_url(self.base), exc)
