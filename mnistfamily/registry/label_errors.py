"""Known label errors of test sets: cleanlab's crowd-validated lists, as per-example columns.

Northcutt, Athalye and Mueller (2021) ran confident learning over test sets and asked five
Mechanical Turk workers about every candidate it found: "is this the given label, the
suggested one, or neither?" (for CIFAR-10 also "both"). Their answers are published as
``mturk/<dataset>_mturk.json`` in cleanlab/label-errors; the package ships MNIST's and CIFAR-10's
files byte for byte (``mnistfamily/data/label-errors/``, see its SOURCE.md) and checks their
sha256 before reading them.

``load("mnist", "test", metadata="label-errors")`` (and ``load("cifar10", "test", ...)``) joins, by each row's position in the test
set (``index``), the columns of :data:`COLUMNS`. A candidate is a **confirmed label error**
when fewer than 3 of the 5 workers chose the given label (the rule that reproduces the 15
human-validated MNIST errors the authors report, and 54 of CIFAR-10's 275 candidates); docs/shift.md
has the details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["LISTS", "COLUMNS", "label_error_columns", "read_list", "is_list"]

#: the lists the package ships: name -> (file in mnistfamily/data/label-errors, its sha256, test-set size)
LISTS: dict[str, tuple[str, str, int]] = {
    "mnist": ("mnist_mturk.json", "448bd00fc9df262c68d50d48709d7fa3d5dc966bc66580e5df20e0dcba6e5612", 10_000),
    "cifar10": ("cifar10_mturk.json", "81b2c16c9eee060d6cc2390f6bbce1e0e7be0a050574be5177c9428f3596b5b5", 10_000),
}
#: the columns a join adds (-1 where a value does not apply: rows that were not candidates, and
#: ``votes_both`` where the workers were not offered "both", as for MNIST)
COLUMNS = ("label_error", "label_error_candidate", "suggested_label", "crowd_label",
           "votes_given", "votes_suggested", "votes_neither", "votes_both")
#: a candidate is a confirmed error when fewer than this many of its 5 workers chose the given label
MAJORITY = 3
#: the folder of the shipped lists
FOLDER = Path(__file__).parent.parent / "data" / "label-errors"
#: a list is small (MNIST's: 29 KB, CIFAR-10's: 88 KB); anything much larger is not one
MAX_BYTES = 1 << 20


def is_list(name: str) -> bool:
    """Whether ``name`` is a list the package ships (``cleanlab:<name>`` join targets)."""
    return name in LISTS


def read_list(name: str) -> list[dict[str, Any]]:
    """The records of a shipped list, checked: ``{"index", "given", "suggested", "given_votes", ...}``.

    Examples
    --------
    >>> from mnistfamily.registry.label_errors import read_list
    >>> records = read_list("mnist")
    >>> len(records), records[0]["index"], records[0]["given"], records[0]["suggested"]
    (100, 247, 4, 6)
    """
    import hashlib
    import json

    from ..errors import FormatError

    if name not in LISTS:  # registries are checked for this; a compiled registry edited by hand is not
        from ..errors import UnknownNameError

        raise UnknownNameError(f"no label-error list {name!r}: the package ships {', '.join(LISTS)}")
    file_name, sha256, size = LISTS[name]
    path = FOLDER / file_name
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read the shipped label-error list ({exc.strerror or exc}); "
                          "reinstall mnistfamily") from exc
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise FormatError(f"{path}: expected cleanlab's published {file_name} (sha256 {sha256}), found "
                          f"{len(data):,} bytes with sha256 {found}: the file was changed. Reinstall mnistfamily.")
    records = []
    for i, raw in enumerate(json.loads(data.decode("utf-8"))):
        try:
            votes = raw["mturk"]
            record = {"index": raw["id"], "given": raw["given_original_label"],
                      "suggested": raw["our_guessed_label"], "given_votes": votes["given"],
                      "suggested_votes": votes["guessed"], "neither_votes": votes["neither"],
                      "both_votes": votes.get("both")}  # CIFAR-10's workers could also answer "both"
        except (KeyError, TypeError) as exc:
            raise FormatError(f"{path}: record {i} lacks {exc}; expected cleanlab's mturk layout") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                   for k, v in record.items() if not (k == "both_votes" and v is None)) \
                or record["index"] >= size:
            raise FormatError(f"{path}: record {i} holds {record}; expected non-negative integers and an "
                              f"index below {size:,}")
        records.append(record)
    return records


def confirmed(record: dict[str, Any]) -> bool:
    """The counting rule: fewer than 3 of the 5 workers chose the given label."""
    return record["given_votes"] < MAJORITY


def crowd_label(record: dict[str, Any]) -> int:
    """The label at least 3 workers chose (given or suggested), or -1 when no label got 3 votes."""
    if record["given_votes"] >= MAJORITY:
        return int(record["given"])
    if record["suggested_votes"] >= MAJORITY:
        return int(record["suggested"])
    return -1


def label_error_columns(name: str, positions: Any, labels: Any, what: str) -> dict[str, Any]:
    """The :data:`COLUMNS` for rows at ``positions`` of the test set, checked against their ``labels``.

    Raises :class:`~mnistfamily.errors.FormatError` when a candidate's given label is not the
    row's label: the rows are then not the test set the list describes.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> ds = mf.load("mnist/sample", "test", metadata="label-errors")
    >>> int(ds.metadata["label_error"].sum()) <= 15, int(ds.metadata["label_error_candidate"].sum()) <= 100
    (True, True)
    """
    import numpy as np

    from ..errors import FormatError

    records = read_list(name)  # first: it checks the name and the file
    positions = np.asarray(positions, dtype=np.int64)
    labels = np.asarray(labels)
    size = LISTS[name][2]
    if positions.size and (positions.min() < 0 or positions.max() >= size):
        raise FormatError(f"{what}: positions up to {positions.max()} but the {name} test set the label-error "
                          f"list describes has {size:,} rows; they do not describe the same examples.")
    table = np.full((size, len(COLUMNS)), -1, np.int64)
    table[:, 0] = 0
    table[:, 1] = 0
    for r in records:
        both = -1 if r["both_votes"] is None else r["both_votes"]
        table[r["index"]] = (int(confirmed(r)), 1, r["suggested"], crowd_label(r), r["given_votes"],
                             r["suggested_votes"], r["neither_votes"], both)
    given = np.full(size, -1, np.int64)
    given[[r["index"] for r in records]] = [r["given"] for r in records]
    rows = table[positions]
    mine = given[positions]
    wrong = int(np.count_nonzero((mine >= 0) & (mine != labels)))
    if wrong:
        raise FormatError(f"{what} and cleanlab's {name} label-error list disagree on the given label of {wrong} "
                          "candidates: the rows are not the test set the list describes, so it cannot be joined.")
    out = {column: np.ascontiguousarray(rows[:, i]) for i, column in enumerate(COLUMNS)}
    out["label_error"] = out["label_error"].astype(np.int8)
    out["label_error_candidate"] = out["label_error_candidate"].astype(np.int8)
    return out
