"""Split expressions, as TensorFlow Datasets and Hugging Face ``datasets`` write them.

``mf.load("mnist", split=...)`` accepts, besides a plain split name:

=====================  ======================================================================
``train[:5000]``       the first 5,000 rows; ``train[-5000:]`` the last 5,000
``train[:90%]``        the first 90% (boundaries rounded to the closest row); ``train[90%:]`` the rest
``train[10%:20%]``     any slice, in rows or percent, negative boundaries counting from the end
``train+test``         splits one after another (any parts, e.g. ``train[:10%]+test[:10%]``)
``train[:33%](pct1_dropremainder)``  percent in whole hundredths of the split, as tfds and HF offer
=====================  ======================================================================

The rows keep their ``index`` (position in the published split), so every row stays
traceable to its file. When the parts come from different splits, the result also has a
metadata column ``source_split`` (int8): the position, in ``ds.split.split("+")``, of the part
each row came from. A slice of one split is a view of the memory map; parts put together
are copied into memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from .errors import SplitExpressionError

if TYPE_CHECKING:  # pragma: no cover
    from .dataset import Dataset

_BOUND = r"-?\d+(?:\.\d+)?"
_PART = re.compile(rf"(?P<split>[a-z0-9][a-z0-9_-]*)"
                   rf"(?:\[(?P<start>{_BOUND})?(?P<start_pct>%)?:(?P<stop>{_BOUND})?(?P<stop_pct>%)?\])?"
                   rf"(?:\((?P<rounding>[a-z0-9_]+)\))?")
ROUNDINGS = ("closest", "pct1_dropremainder")


@dataclass(frozen=True)
class SplitPart:
    """One ``+``-separated part: a split and an optional slice of it."""

    split: str
    start: float | None = None
    stop: float | None = None
    start_pct: bool = False
    stop_pct: bool = False
    rounding: str = "closest"

    def rows(self, n: int, expression: str) -> slice:
        """The rows of a split of ``n`` examples that this part selects."""
        return slice(self._boundary(self.start, self.start_pct, n, expression, 0),
                     self._boundary(self.stop, self.stop_pct, n, expression, n))

    def _boundary(self, value: float | None, percent: bool, n: int, expression: str, default: int) -> int:
        if value is None:
            return default
        if percent:
            if not -100 <= value <= 100:
                raise SplitExpressionError(f"split {expression!r}: percent boundaries lie between -100% and 100%, "
                                           f"found {value:g}%")
            if self.rounding == "pct1_dropremainder":
                if value != int(value):
                    raise SplitExpressionError(f"split {expression!r}: pct1_dropremainder takes whole percents, "
                                               f"found {value:g}%")
                rows = int(value) * (n // 100)
            else:
                rows = round(value * n / 100)  # "closest", as tfds and HF round (half to even)
        else:
            if value != int(value):
                raise SplitExpressionError(f"split {expression!r}: row boundaries are whole numbers, found {value:g}; "
                                           "write a percent with '%'")
            rows = int(value)
            if abs(rows) > n:
                raise SplitExpressionError(f"split {expression!r}: boundary {rows} is out of range for the "
                                           f"{n:,} rows of {self.split!r}")
        return rows + n if rows < 0 else rows


def parse(expression: str) -> list[SplitPart]:
    """The parts of a split expression.

    Examples
    --------
    >>> from mnistfamily.split_expressions import parse
    >>> [(p.split, p.start, p.stop, p.stop_pct) for p in parse("train[:90%]+test")]
    [('train', None, 90.0, True), ('test', None, None, False)]
    """
    parts = []
    for text in expression.replace(" ", "").split("+"):
        match = _PART.fullmatch(text)
        if match is None:
            raise SplitExpressionError(
                f"split {expression!r}: cannot read {text!r}. Write a split name, optionally sliced in rows or "
                "percent, parts joined by '+': 'train', 'train[:5000]', 'train[:90%]', 'train[90%:]', 'train+test'")
        rounding = match["rounding"] or "closest"
        if rounding not in ROUNDINGS:
            raise SplitExpressionError(f"split {expression!r}: unknown rounding {rounding!r}; use one of "
                                       f"{', '.join(ROUNDINGS)}")
        parts.append(SplitPart(
            match["split"],
            None if match["start"] is None else float(match["start"]),
            None if match["stop"] is None else float(match["stop"]),
            bool(match["start_pct"]), bool(match["stop_pct"]), rounding))
    return parts


def load_expression(name: str, expression: str, load_split: Callable[[str], "Dataset"],
                    transform: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> "Dataset":
    """The Dataset a split expression names; ``load_split(split)`` loads one plain split.

    ``transform(images, index)`` runs on the selected rows only (not on the whole split).
    """
    from .dataset import Dataset

    parts = parse(expression)
    loaded: dict[str, Dataset] = {}
    pieces = []
    for part in parts:
        if part.split not in loaded:
            loaded[part.split] = load_split(part.split)
        whole = loaded[part.split]
        pieces.append(whole.select(part.rows(len(whole), expression)))
    label = "+".join(_canonical(p) for p in parts)
    if len(pieces) == 1:
        result = pieces[0]
        result = Dataset(result.images, result.labels, classes=result.classes, index=result.index,
                         metadata=result.metadata, name=result.name, split=label, info=result.info,
                         extras=result.extras)
    else:
        result = _concatenate(pieces, parts, label)
    if transform is not None:
        result = Dataset(transform(result.images, result.index), result.labels, classes=result.classes,
                         index=result.index, metadata=result.metadata, name=result.name, split=label,
                         info=result.info, extras=result.extras)
    return result


def _canonical(part: SplitPart) -> str:
    if part.start is None and part.stop is None:
        return part.split

    def bound(value: float | None, percent: bool) -> str:
        return "" if value is None else f"{value:g}{'%' if percent else ''}"

    suffix = f"({part.rounding})" if part.rounding != "closest" else ""
    return f"{part.split}[{bound(part.start, part.start_pct)}:{bound(part.stop, part.stop_pct)}]{suffix}"


def _concatenate(pieces: list["Dataset"], parts: list[SplitPart], label: str) -> "Dataset":
    from .dataset import Dataset

    first = pieces[0]
    for piece in pieces[1:]:
        if piece.images.shape[1:] != first.images.shape[1:] or list(piece.classes) != list(first.classes):
            raise SplitExpressionError(f"split {label!r}: the parts have different image shapes or classes "
                                       "and cannot be put together")
    common = [c for c in first.metadata if all(c in p.metadata for p in pieces)]
    metadata = {c: np.concatenate([np.asarray(p.metadata[c]) for p in pieces]) for c in common}
    if len({p.split for p in parts}) > 1:
        metadata["source_split"] = np.concatenate(
            [np.full(len(piece), i, dtype=np.int8) for i, piece in enumerate(pieces)])
    return Dataset(np.concatenate([np.asarray(p.images) for p in pieces]),
                   np.concatenate([np.asarray(p.labels) for p in pieces]), classes=first.classes,
                   index=np.concatenate([np.asarray(p.index) for p in pieces]), metadata=metadata,
                   name=first.name, split=label, info=first.info, extras=first.extras)
