"""One dataset's export folder: what it holds, whether an export may replace it, and the commit.

**An export replaces only what an export wrote.** Before anything is written, the folder is
inspected under its lock: a split folder, card or ``_SUCCESS`` that the export would replace
must belong to an export of the same dataset (the folder holds our dataset card for it), and
a split folder must hold nothing but shard files. Otherwise the export stops with an
:class:`ExportDestinationError` and touches nothing. Everything else in the folder (a user's
notes, backups, files of another tool) is kept, and named in an :class:`ExportWarning`.

**The commit** moves what the staging area holds into place with renames only, in an order
that keeps the folder recognisable as an export after a kill at any point: ``_SUCCESS`` is set
aside first (readers gating on it now wait), the new card is renamed over the old one (so a
folder with split folders always has our card), each split folder is swapped, and
``_SUCCESS`` comes back last. What the folder held is kept in the staging area until then,
so a failure (a full disk while writing ``_SUCCESS``) puts every piece back. Object stores
have no rename: each shard is copied to its final key and the temporary one deleted, so a
reader listing the folder mid-commit can see part of the new shards; readers must gate on
``_SUCCESS`` (as Spark's committers do), which ``read_parquet`` does.
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
from .layout import CARD, SUCCESS, Destination, basename, card_bytes, folder_name, join, parse_shard_name, split_folder
from .staging import Staging, clear_leftovers, export_lock, make_local_folder
from .trust import MAX_CARD_BYTES, Card, parse_card

log = logging.getLogger("mnistfamily.outputs")


@dataclass
class FolderState:
    """What a dataset folder holds, as far as an export cares."""

    exists: bool = False
    card: Card | None = None          #: our card for this dataset, checked
    card_problem: str = ""            #: why a card that is there is not ours ("" when absent or ours)
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
        """List the folder (no file is opened but the card)."""
        dest, state = self.dest, FolderState()
        dest.refresh()
        if dest.local:
            if os.path.lexists(self.base) and not os.path.isdir(self.base):
                raise ExportDestinationError(f"{dest.full_url(self.base)} is a file, not an export folder. Move it "
                                             "away, or export to another destination.")
            if os.path.isdir(self.base) and os.stat(self.base).st_dev != os.stat(self.parent).st_dev:
                raise ExportDestinationError(
                    f"{dest.full_url(self.base)} is on another filesystem than {dest.full_url(self.parent)} (a "
                    "mount point or a symbolic link): an export stages its files beside the dataset folder and "
                    "renames them into place, which works only within one filesystem. Export to the folder's "
                    "real location instead.")
        try:
            names = sorted(basename(p) for p in dest.fs.ls(self.base, detail=False))
        except (FileNotFoundError, NotADirectoryError):
            return state
        state.exists = True
        for name in names:
            if name == SUCCESS:
                state.complete = True
            elif name == CARD:
                self._read_card_into(state)
            elif name.startswith("split=") and dest.fs.isdir(join(self.base, name)):
                state.splits.append(name[len("split="):])
            else:
                state.foreign.append(name)
        return state

    def _read_card_into(self, state: FolderState) -> None:
        from .errors import CorruptExportError

        where = self.dest.full_url(join(self.base, CARD))
        try:
            data = self.dest.read_small(join(self.base, CARD), MAX_CARD_BYTES)
            card = parse_card(data, where) if data is not None else None
        except CorruptExportError as exc:
            state.card_problem = str(exc)
            return
        if card is not None and card.dataset != self.dataset:
            state.card_problem = f"{where} is the card of an export of {card.dataset!r}, not of {self.dataset!r}"
        else:
            state.card = card

    def check_replaceable(self, state: FolderState, splits: list[str], overwrite: bool) -> list[str]:
        """Raise unless this export may write ``splits`` into the folder; return the splits it replaces.

        Warns about what the folder holds that an export never writes (kept as it is).
        """
        dest = self.dest
        if state.foreign:
            warnings.warn(f"{dest.full_url(self.base)}: kept {', '.join(state.foreign)}: not written by an export "
                          f"of {self.dataset} (an export never deletes what it did not write).",
                          ExportWarning, stacklevel=4)
        existing = [s for s in splits if s in state.splits]
        touched = [name for name, there in ((SUCCESS, state.complete), (CARD, state.card or state.card_problem))
                   if there] + [split_folder(s) for s in existing]
        if touched and state.card is None:
            why = state.card_problem or f"it holds no {CARD}"
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

    def commit(self, staging: Staging, splits: list[str], card: dict[str, Any]) -> None:
        """Move each staged split folder into place; the card before them, ``_SUCCESS`` last."""
        if self.dest.local:
            self._commit_local(staging, splits, card)
            return
        dest, fs = self.dest, self.dest.fs
        dest.refresh()
        dest.remove(join(self.base, SUCCESS))  # readers gating on _SUCCESS now wait
        dest.write_bytes(join(self.base, CARD), card_bytes(card))  # before any shard: the folder is ours
        for split in splits:
            final, staged = self.split_dir(split), staging.file(split_folder(split))
            if dest.exists(final):
                fs.rm(final, recursive=True)
            for source in sorted(fs.find(staged)):
                fs.mv(source, join(final, source[len(staged):].lstrip("/")))
        dest.write_bytes(join(self.base, SUCCESS), b"")

    def _commit_local(self, staging: Staging, splits: list[str], card: dict[str, Any]) -> None:
        """Renames only, each undone in reverse order if a later step fails."""
        base = self.base
        created = not os.path.isdir(base)
        make_local_folder(self.dest, base)
        aside = staging.file(".replaced")  # what the folder held, until _SUCCESS is back
        os.mkdir(aside)
        undo: list[Callable[[], None]] = []
        try:
            success, card_path = join(base, SUCCESS), join(base, CARD)
            if os.path.exists(success):
                os.replace(success, join(aside, SUCCESS))  # readers gating on _SUCCESS now wait
                undo.append(lambda: os.replace(join(aside, SUCCESS), success))
            new_card = staging.file(CARD)
            self.dest.write_bytes(new_card, card_bytes(card))
            if os.path.exists(card_path):
                with open(card_path, "rb") as f:
                    self.dest.write_bytes(join(aside, CARD), f.read())  # a copy: the card is replaced in one rename
                undo.append(lambda: os.replace(join(aside, CARD), card_path))
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
            new_success = staging.file(SUCCESS)
            self.dest.write_bytes(new_success, b"")
            os.replace(new_success, success)
        except BaseException:
            self._roll_back(undo, created)
            raise

    def _roll_back(self, undo: list[Callable[[], None]], created: bool) -> None:
        try:
            for step in reversed(undo):
                step()
            if created:
                os.rmdir(self.base)
            log.warning("the export into %s failed while committing; the folder was put back as it was",
                        self.dest.full_url(self.base))
        except OSError as exc:  # only renames: this fails only if someone else moved our files
            log.warning("could not put %s back as it was (%s); export again", self.dest.full_url(self.base), exc)
