"""AudioMNIST's speaker metadata (``data/audioMNIST_meta.txt``) and the paper's speaker folds.

The metadata file is one JSON object keyed by speaker (``"01"`` .. ``"60"``), each value an
object with ``accent``, ``age``, ``gender``, ``native speaker``, ``origin``,
``recordingdate`` and ``recordingroom``. Its quirks, and what :func:`parse_meta` does:

================================ ==================================================================
speaker 01's ``age`` is the      ages are read from an integer or a string of digits alike
integer 30, the others strings
speaker 45's ``age`` is          an age outside 1..120 is unknown: ``-1``, and the speaker and the
``"1234"``                       published value are listed in ``quirks["invalid_ages"]``
``recordingroom`` spelled        rooms compared without case, ``vr-romm`` read as ``vr-room``, each
``VR-Room``, ``VR-room``,        shown under the spelling most speakers use (ties: the first in
``vr-room``, ``vr-romm``         sorted order); ``quirks["recording_room_spellings"]`` maps every
                                 published spelling to the name kept
speaker 01's accent ``german``,  accents compared without case, each shown under the spelling most
the others' ``German``           speakers use; ``quirks["accent_spellings"]`` maps the others
accent ``"Egyptian_American?"``, kept as published: they are what the authors wrote, and nothing
origins ``"Europe, India,        says what they meant instead
Chennai"``, ``"Europe, Syria,
Damascus"``, ``"Europe,
Spanien, Mallorca"``
an older version lists 57        a recording of a speaker the file does not list is an error that
speakers (no 17, 22, 34)         names the speakers and the version to use
================================ ==================================================================

The folds are the ones of the authors' ``audiomnist/train/splits.py``: five digit-task folds
over groups of 12 speakers (train 36 / validate 12 / test 12) and four gender-task folds over
24 speakers (train 12 / validate 6 / test 6).

Examples
--------
>>> from mnistfamily.formats.audiomnist_meta import parse_meta
>>> table = parse_meta(b'{"01": {"accent": "german", "age": 30, "gender": "male", "native speaker": "no", '
...                    b'"origin": "Europe, Germany, Wuerzburg", "recordingdate": "17-06-22-11-04-28", '
...                    b'"recordingroom": "Kino"}}', "audioMNIST_meta.txt")
>>> speaker = table.speakers[1]
>>> speaker.age, speaker.gender, speaker.recording_room
(30, 'male', 'Kino')
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from ..errors import FormatError

__all__ = ["DIGIT_FOLDS", "GENDER_FOLDS", "META_FILE", "Speaker", "SpeakerTable", "fold_speakers", "parse_meta"]

META_FILE = "audioMNIST_meta.txt"
#: the published file is 15,620 characters; far larger is not it
MAX_META_BYTES = 1 << 20
#: the authors' spelling slip, read as the room it names
ROOM_SPELLINGS = {"vr-romm": "vr-room"}
GENDERS = ("female", "male")
NATIVE = ("no", "yes")
_FIELDS = ("accent", "age", "gender", "native speaker", "origin", "recordingdate", "recordingroom")
_AGAIN = "Delete the file and fetch it again."

#: splits.py's speaker groups for the digit task, and each fold's (train, validate, test) groups
_DIGIT_GROUPS: dict[str, tuple[int, ...]] = {
    "A": (1, 6, 7, 16, 19, 23, 28, 34, 35, 46, 53, 56), "B": (2, 8, 9, 17, 24, 29, 36, 37, 39, 48, 54, 57),
    "C": (3, 10, 14, 20, 25, 30, 38, 40, 43, 49, 55, 58), "D": (4, 11, 12, 15, 21, 27, 31, 41, 44, 47, 50, 59),
    "E": (5, 13, 18, 22, 26, 32, 33, 42, 45, 51, 52, 60),
}
_DIGIT_FOLDS = [("ABC", "D", "E"), ("BCD", "E", "A"), ("CDE", "A", "B"), ("DEA", "B", "C"), ("EAB", "C", "D")]
#: the gender task: 12 women and 12 men, in groups of 3 + 3
_GENDER_GROUPS: dict[str, tuple[int, ...]] = {"P": (7, 23, 38, 58, 59, 60), "Q": (2, 36, 44, 47, 50, 56), "R": (12, 25, 26, 37, 45, 57),
                  "S": (28, 41, 43, 48, 52, 53)}
_GENDER_FOLDS = [("QR", "S", "P"), ("RS", "P", "Q"), ("SP", "Q", "R"), ("PQ", "R", "S")]


def _folds(groups: dict[str, tuple[int, ...]], folds: list[tuple[str, str, str]], task: str):
    out = {}
    for k, parts in enumerate(folds):
        for part, names in zip(("train", "validate", "test"), parts):
            out[f"{task}-fold{k}-{part}"] = tuple(sorted(s for g in names for s in groups[g]))
    return out


#: split name -> the speakers in it, e.g. ``DIGIT_FOLDS["digit-fold0-test"]`` (group E)
DIGIT_FOLDS: dict[str, tuple[int, ...]] = _folds(_DIGIT_GROUPS, _DIGIT_FOLDS, "digit")
GENDER_FOLDS: dict[str, tuple[int, ...]] = _folds(_GENDER_GROUPS, _GENDER_FOLDS, "gender")


def fold_speakers(split: str) -> tuple[int, ...]:
    """The speakers of a fold split (``digit-fold0-train`` .. ``gender-fold3-test``)."""
    try:
        return {**DIGIT_FOLDS, **GENDER_FOLDS}[split]
    except KeyError:
        raise ValueError(f"{split!r} is not an AudioMNIST fold; expected digit-fold0..4-(train|validate|test) or "
                         "gender-fold0..3-(train|validate|test)") from None


@dataclass(frozen=True)
class Speaker:
    """One speaker's metadata, as read (see the module docstring for what was changed)."""

    id: int
    age: int  # -1 when the published value is not an age
    gender: str
    accent: str
    native_speaker: str
    origin: str
    recording_room: str
    recording_date: str


@dataclass(frozen=True)
class SpeakerTable:
    """Every speaker of the metadata file, and the quirks resolved while reading it."""

    speakers: dict[int, Speaker]
    quirks: dict[str, dict[str, str]] = field(default_factory=dict)

    def names(self, column: str) -> list[str]:
        """The names behind a column's integer codes: fixed for gender and native speaker, sorted otherwise."""
        if column == "gender":
            return list(GENDERS)
        if column == "native_speaker":
            return list(NATIVE)
        return sorted({getattr(s, column) for s in self.speakers.values()})


def parse_meta(data: bytes, where: str) -> SpeakerTable:
    """Read ``audioMNIST_meta.txt``: every field checked, the quirks resolved (module docstring)."""
    if len(data) > MAX_META_BYTES:
        raise FormatError(f"{where}: {len(data):,} bytes; the published metadata file is about 16 KB. {_AGAIN}")
    try:
        document = json.loads(data.decode("utf-8-sig"), object_pairs_hook=_unique_keys,
                              parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise FormatError(f"{where}: not UTF-8 text (byte {exc.start:,}). {_AGAIN}") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}). "
                          f"{_AGAIN}") from None
    except RecursionError:
        raise FormatError(f"{where}: JSON nested too deeply to be the metadata file. {_AGAIN}") from None
    except _Refused as exc:
        raise FormatError(f"{where}: {exc}. {_AGAIN}") from None
    if not isinstance(document, dict) or not document:
        raise FormatError(f"{where}: expected a JSON object keyed by speaker (\"01\", \"02\", ...), found "
                          f"{type(document).__name__}. {_AGAIN}")
    raw: dict[int, dict[str, str]] = {}
    invalid_ages: dict[str, str] = {}
    for key, entry in document.items():
        if re.fullmatch(r"[0-9]{2}", key) is None or key == "00":
            raise FormatError(f"{where}: speaker key {key[:40]!r}; expected two digits, \"01\" to \"99\". {_AGAIN}")
        if not isinstance(entry, dict):
            raise FormatError(f"{where}: speaker {key}: expected an object of fields, found "
                              f"{type(entry).__name__}. {_AGAIN}")
        missing = [name for name in _FIELDS if name not in entry]
        if missing:
            raise FormatError(f"{where}: speaker {key} has no {', '.join(repr(m) for m in missing)}; every speaker "
                              f"has {', '.join(_FIELDS)}. {_AGAIN}")
        values = {}
        for name in _FIELDS:
            value = entry[name]
            if name == "age" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise FormatError(f"{where}: speaker {key}'s {name!r} is {type(value).__name__} "
                                  f"{str(value)[:40]}; expected a string{' or an integer' if name == 'age' else ''}. "
                                  f"{_AGAIN}")
            values[name] = value.strip()
        raw[int(key)] = values
    rooms = _spellings([v["recordingroom"] for v in raw.values()], ROOM_SPELLINGS)
    accents = _spellings([v["accent"] for v in raw.values()], {})
    speakers = {}
    for sid, values in raw.items():
        age = _age(values["age"])
        if age < 0:
            invalid_ages[f"{sid:02d}"] = values["age"]
        gender, native = values["gender"].lower(), values["native speaker"].lower()
        for name, value, allowed in (("gender", gender, GENDERS), ("native speaker", native, NATIVE)):
            if value not in allowed:
                raise FormatError(f"{where}: speaker {sid:02d}'s {name!r} is {values[name][:40]!r}; expected "
                                  f"{' or '.join(allowed)}. {_AGAIN}")
        speakers[sid] = Speaker(id=sid, age=age, gender=gender, accent=accents[values["accent"]], native_speaker=native,
                                origin=values["origin"], recording_room=rooms[values["recordingroom"]],
                                recording_date=values["recordingdate"])
    quirks = {"invalid_ages": invalid_ages,
              "recording_room_spellings": {k: v for k, v in sorted(rooms.items()) if k != v},
              "accent_spellings": {k: v for k, v in sorted(accents.items()) if k != v}}
    return SpeakerTable(dict(sorted(speakers.items())), quirks)


def _age(text: str) -> int:
    """An age in years, or -1 when the text is not one (``"1234"``)."""
    if re.fullmatch(r"[0-9]{1,3}", text) is None:
        return -1
    age = int(text)
    return age if 1 <= age <= 120 else -1


def _spellings(spellings: list[str], slips: dict[str, str]) -> dict[str, str]:
    """Each published spelling -> the name kept for it: case ignored, ``slips`` corrected, the commonest shown."""
    def key(spelling: str) -> str:
        folded = spelling.casefold()
        return slips.get(folded, folded)

    groups: dict[str, Counter[str]] = {}
    for spelling in spellings:
        groups.setdefault(key(spelling), Counter())[spelling] += 1
    shown = {k: min(c, key=lambda s: (-c[s], s)) for k, c in groups.items()}
    return {spelling: shown[key(spelling)] for spelling in spellings}


class _Refused(ValueError):
    """What the JSON parser's hooks raise for what the metadata file never holds; becomes a FormatError."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(f"the key {key[:40]!r} appears twice in one object")
        seen[key] = value
    return seen


def _no_constant(name: str) -> object:
    raise _Refused(f"{name} is not a value the metadata file holds")
