"""What an export may say about itself: checks on everything read from a shard or a dataset card.

Parquet in a lake is written by other people and other tools, so a shard's schema metadata
and a folder's ``_dataset_card.json`` are untrusted input. Before anything read from them
is used, it passes the checks here:

- names (dataset, split, metadata columns, the card's split keys) pass the same checks as
  registry names (:mod:`mnistfamily.registry.names`), because they become parts of paths
  when the data is exported again; class names are free text, bounded in number and length
  and free of control characters;
- metadata columns have one of the numeric dtypes the exporter writes, never an arbitrary
  numpy dtype (``V2000000000`` asks numpy for 2 GB per row);
- what an example is comes from a short list: an image (two sides, or two sides and at most
  ``MAX_CHANNELS`` channels), a volume (three sides) or a signal (a length, or none when the
  length varies), each side and the whole bounded; its dtype is one of a short list too
  (uint8 or float32 for pictures; uint8, int16, int32, float32 or float64 for signals), never an
  arbitrary numpy dtype;
- a card's shard paths are exactly ``split=<split>/part-NNNNN-of-MMMMM.parquet``: nothing
  absolute, no ``..``, each listed once, a complete set.

Every problem is a :class:`~mnistfamily.outputs.errors.CorruptExportError` naming the file,
what was expected and what was found.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, TypeGuard

from ..registry.names import column_name_problem, dataset_name_problem, split_name_problem
from .errors import CorruptExportError

#: the dtypes of metadata columns an export writes (and reads back): numbers and booleans only
METADATA_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                   "float16", "float32", "float64")
#: bounds on what a split may declare: far above the family (62 classes, names of 67 characters,
#: images of 28x28 to 128x128), far below what would exhaust memory
MAX_CLASSES = 1 << 16
#: label types an export writes, and how many classes each holds (class numbers 0 .. limit - 1)
_LABEL_LIMITS = {"int8": 1 << 7, "int16": 1 << 15, "int32": 1 << 31, "int64": 1 << 63}
MAX_CLASS_NAME_CHARS = 1024
MAX_METADATA_COLUMNS = 256
MAX_IMAGE_SIDE = 1 << 15
MAX_IMAGE_PIXELS = 1 << 26
#: channels of a channels-last image: far above RGBA, far below what a hostile shape would ask
MAX_CHANNELS = 64
#: the kinds of example an export holds, the ranks of their shape and their dtypes
EXAMPLE_RANKS = {"image": (2, 3), "volume": (3,), "signal": (0, 1)}
EXAMPLE_DTYPES = {"image": ("uint8", "float32"), "volume": ("uint8", "float32"),
                  "signal": ("uint8", "int16", "int32", "float32", "float64")}
MAX_SAMPLE_RATE = 10_000_000
#: free-text fields (title, license, citation, homepage) and the list of source files
MAX_TEXT_CHARS = 1 << 20
MAX_SOURCES = 10_000
#: a card lists a few hundred bytes per shard; 16 MiB is some 50,000 shards
MAX_CARD_BYTES = 16 << 20
MAX_SHARDS = 1 << 20
FORMAT = "mnistfamily-parquet"
SHARD_PATH = re.compile(r"split=(?P<split>[^/]+)/part-(?P<number>\d{5,9})-of-(?P<count>\d{5,9})\.parquet", re.ASCII)
SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)

_ADVICE = "Export it again from its source, or get a fresh copy of the export."


def corrupt(where: str, problem: str, advice: str = _ADVICE) -> CorruptExportError:
    """The error for ``problem`` found in the file ``where``."""
    return CorruptExportError(f"{where}: {problem}. {advice}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def class_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a class name (free text, bounded, no control characters), or None."""
    if not isinstance(name, str):
        return f"a class name must be a string, not {type(name).__name__}"
    if len(name) > MAX_CLASS_NAME_CHARS:
        return f"{_shown(name)}: class names may be at most {MAX_CLASS_NAME_CHARS} characters long"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"{_shown(name)}: class names may not contain control characters (NUL, newline, ...)"
    return None


def classes_problem(classes: object) -> str | None:
    """Why ``classes`` is not a list of class names, or None."""
    if not isinstance(classes, (list, tuple)) or not classes:
        return f"classes must be a non-empty list of names; found {_shown(classes)}"
    if len(classes) > MAX_CLASSES:
        return f"{len(classes):,} classes: at most {MAX_CLASSES:,} are allowed"
    for name in classes:
        problem = class_name_problem(name)
        if problem:
            return problem
    return None


def metadata_dtype_problem(column: str, dtype: object) -> str | None:
    """Why a metadata column of ``dtype`` cannot be exported or read back, or None."""
    if dtype not in METADATA_DTYPES:
        return (f"metadata column {column!r} has dtype {_shown(dtype)}; an export holds numeric columns only "
                f"({', '.join(METADATA_DTYPES)})")
    return None


def image_shape_problem(shape: object, example: str = "image") -> str | None:
    """Why ``shape`` is not the shape of one example of kind ``example`` within bounds, or None.

    Images are ``[H, W]`` or ``[H, W, C]``, volumes ``[D, H, W]``, signals ``[L]`` or ``[]``
    (varying length); every side is 1 to ``MAX_IMAGE_SIDE`` (a signal's length and a volume
    too), channels at most ``MAX_CHANNELS``, and one example at most ``MAX_IMAGE_PIXELS`` values.
    """
    if example not in EXAMPLE_RANKS:
        return f"example is {_shown(example)}; expected one of {', '.join(EXAMPLE_RANKS)}"
    ranks = EXAMPLE_RANKS[example]
    meaning = {"image": "[height, width] or [height, width, channels]", "volume": "[depth, height, width]",
               "signal": "[length], or [] for signals of varying length"}[example]
    if (not isinstance(shape, (list, tuple)) or len(shape) not in ranks
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)):
        return f"the shape of one {example} must be {meaning}; found {_shown(shape)}"
    limit = MAX_IMAGE_PIXELS if example == "signal" else MAX_IMAGE_SIDE
    sides = list(shape[:2]) if example == "image" else list(shape)
    if not all(0 < d <= limit for d in sides) or math.prod(shape) > MAX_IMAGE_PIXELS or (
            example == "image" and len(shape) == 3 and not 0 < shape[2] <= MAX_CHANNELS):
        return (f"image_shape {list(shape)} is out of bounds (each side 1 to {limit:,}, at most {MAX_CHANNELS} "
                f"channels, at most {MAX_IMAGE_PIXELS:,} values)")
    return None


def example_dtype_problem(example: str, dtype: object) -> str | None:
    """Why ``dtype`` cannot be the dtype of an example of kind ``example``, or None."""
    allowed = EXAMPLE_DTYPES.get(example, ())
    if dtype not in allowed:
        return f"image_dtype is {_shown(dtype)}; {example}s in an export are {', '.join(allowed) or 'nothing'}"
    return None


def parse_json(data: bytes, where: str, what: str) -> Any:
    """JSON from untrusted bytes: any decoding problem, deep nesting included, is a CorruptExportError."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise corrupt(where, f"{what} is not valid JSON ({reason})") from None


@dataclass(frozen=True)
class SplitDescription:
    """A shard's ``mnistfamily`` schema metadata, checked: what ``read_parquet`` relies on."""

    dataset: str
    split: str
    classes: tuple[str, ...]
    image_shape: tuple[int, ...]  # () for signals of varying length
    image_encoding: str
    metadata_columns: tuple[tuple[str, str], ...]  # (name, dtype name)
    label_dtype: str  # int8/int16/int32/int64: PNG exports wrote the smallest type before they wrote int64
    title: str
    homepage: str
    license: str
    citation: str
    sources: tuple[dict, ...]
    raw: Mapping[str, Any]  # the JSON object as read, for comparisons and ``schema_metadata``
    example: str = "image"
    image_dtype: str = "uint8"
    sample_rate: int | None = None

    def shard_format(self) -> Any:
        """The :class:`~.schema.ShardFormat` whose columns an export of this description writes."""
        from .schema import ShardFormat

        return ShardFormat(image_shape=self.image_shape, classes=self.classes,
                           metadata_columns=self.metadata_columns, image_encoding=self.image_encoding,
                           compression="none", compression_level=None, row_group_rows=1, schema_metadata="",
                           recorded_label_dtype=self.label_dtype, example=self.example,
                           image_dtype=self.image_dtype)


def describe(raw: object, where: str) -> SplitDescription:
    """Check a shard's schema metadata (already parsed from JSON); a CorruptExportError names what is wrong."""
    from .schema import EXPORT_FORMAT_VERSION, IMAGE_ENCODINGS

    if not isinstance(raw, dict):
        raise corrupt(where, f"its 'mnistfamily' schema metadata must be a JSON object; found {type(raw).__name__}")
    version = raw.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise corrupt(where, f"its schema metadata has format_version {_shown(version)}; expected a whole number")
    if version > EXPORT_FORMAT_VERSION:
        raise CorruptExportError(f"{where}: written in export format version {version}; this mnistfamily reads up "
                                 f"to {EXPORT_FORMAT_VERSION}. Upgrade mnistfamily to read it.")
    problems = []
    problems.append(dataset_name_problem(raw.get("dataset")))
    problems.append(split_name_problem(raw.get("split")))
    problems.append(classes_problem(raw.get("classes")))
    # exports before format 3 hold uint8 grey images and say nothing of the kind of example
    example = raw.get("example", "image") if version >= 3 else "image"
    if version < 3 and ("example" in raw or raw.get("image_dtype", "uint8") != "uint8"):
        problems.append(f"format {version} holds uint8 images only; found example {_shown(raw.get('example'))}, "
                        f"image_dtype {_shown(raw.get('image_dtype'))}")
    shape = raw.get("image_shape")
    problems.append(image_shape_problem(shape, example) if version >= 3 or not isinstance(shape, list)
                    or len(shape) == 2 else f"format {version} holds images [height, width]; found {_shown(shape)}")
    image_dtype = raw.get("image_dtype", "uint8")
    problems.append(example_dtype_problem(example, image_dtype) if example in EXAMPLE_DTYPES else None)
    sample_rate = raw.get("sample_rate")
    if sample_rate is not None and not (isinstance(sample_rate, int) and not isinstance(sample_rate, bool)
                                        and 0 < sample_rate <= MAX_SAMPLE_RATE and example == "signal"):
        problems.append(f"sample_rate is {_shown(sample_rate)}; expected none, or for signals a whole number of "
                        f"samples per second up to {MAX_SAMPLE_RATE:,}")
    encoding = raw.get("image_encoding")
    if encoding not in IMAGE_ENCODINGS:
        problems.append(f"image_encoding is {_shown(encoding)}; expected one of {', '.join(IMAGE_ENCODINGS)}")
    else:
        problems.append(encoding_problem(encoding, example, shape if isinstance(shape, list) else [], image_dtype))
    columns = raw.get("metadata_columns", [])
    problems.append(metadata_columns_problem(columns))
    label = raw.get("label_dtype")
    if label not in _LABEL_LIMITS or (isinstance(raw.get("classes"), list) and len(raw["classes"]) > _LABEL_LIMITS[label]):
        problems.append(f"label_dtype is {_shown(label)}; expected a signed integer type holding every class number")
    for key in ("title", "homepage", "license", "citation"):
        value = raw.get(key, "")
        if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
            problems.append(f"{key} must be a string of at most {MAX_TEXT_CHARS:,} characters; found {_shown(value)}")
    sources = raw.get("sources", [])
    problems.append(_sources_problem(sources))
    found = [p for p in problems if p]
    if found:
        raise corrupt(where, "its schema metadata is not what an export writes: " + "; ".join(found))
    return SplitDescription(
        dataset=raw["dataset"], split=raw["split"], classes=tuple(raw["classes"]),
        image_shape=tuple(int(d) for d in raw["image_shape"]), image_encoding=str(encoding),
        metadata_columns=tuple((name, dtype) for name, dtype in columns), label_dtype=str(label),
        title=raw.get("title", ""), homepage=raw.get("homepage", ""), license=raw.get("license", ""),
        citation=raw.get("citation", ""), sources=tuple(dict(s) for s in sources), raw=raw, example=example,
        image_dtype=str(image_dtype), sample_rate=sample_rate)


def encoding_problem(encoding: str, example: str, shape: list, image_dtype: object) -> str | None:
    """Why examples of this kind, shape and dtype cannot be written with ``encoding``, or None.

    Signals of varying length are a list column (recorded as ``raw``); PNG holds uint8 images that
    are grey, RGB or RGBA, nothing else.
    """
    if example == "signal" and not shape and encoding != "raw":
        return (f"image_encoding {encoding!r} cannot hold signals of varying length; they are written as a list "
                "column (image_encoding='raw')")
    if encoding == "png" and not (example == "image" and image_dtype == "uint8"
                                  and (len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4)))):
        what = f"{example}s of shape {list(shape)} and dtype {image_dtype}"
        return (f"image_encoding 'png' holds uint8 images that are grey (H, W), RGB or RGBA (H, W, 3|4); these are "
                f"{what}: use image_encoding='raw' or 'tensor'")
    return None


def metadata_columns_problem(columns: object) -> str | None:
    """Why ``columns`` is not a list of ``[name, dtype]`` pairs of metadata columns, or None."""
    if not isinstance(columns, list) or len(columns) > MAX_METADATA_COLUMNS:
        return f"metadata_columns must be a list of at most {MAX_METADATA_COLUMNS} [name, dtype] pairs"
    seen = set()
    for pair in columns:
        if not isinstance(pair, list) or len(pair) != 2:
            return f"metadata_columns holds {_shown(pair)}; expected [name, dtype] pairs"
        name, dtype = pair
        problem = column_name_problem(name) or metadata_dtype_problem(str(name), dtype)
        if problem:
            return problem
        if name in seen or name in ("index", "image", "label", "label_name"):
            return f"metadata column {name!r} is listed twice, or has the name of a built-in column"
        seen.add(name)
    return None


def _sources_problem(sources: object) -> str | None:
    if not isinstance(sources, list) or len(sources) > MAX_SOURCES:
        return f"sources must be a list of at most {MAX_SOURCES:,} records"
    for record in sources:
        if not isinstance(record, dict) or not all(
                isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool)))
                and (not isinstance(v, str) or len(v) <= MAX_TEXT_CHARS) for k, v in record.items()):
            return f"sources holds {_shown(record)}; expected records of names and plain values"
    return None


@dataclass(frozen=True)
class ShardEntry:
    """One shard as the card lists it."""

    path: str  # relative to the dataset folder: split=<split>/part-NNNNN-of-MMMMM.parquet
    num_rows: int
    size: int
    sha256: str


@dataclass(frozen=True)
class SplitEntry:
    """One split as the card lists it."""

    num_rows: int
    shards: tuple[ShardEntry, ...]
    schema_metadata: Mapping[str, Any] | None
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class Card:
    """A dataset card, checked."""

    dataset: str
    splits: Mapping[str, SplitEntry]
    raw: Mapping[str, Any]


def parse_card(data: bytes, where: str) -> Card:
    """Check the bytes of a ``_dataset_card.json``; a CorruptExportError says what is wrong."""
    from .schema import EXPORT_FORMAT_VERSION

    if len(data) > MAX_CARD_BYTES:
        raise corrupt(where, f"the card is {len(data):,} bytes; a card is at most {MAX_CARD_BYTES:,}")
    raw = parse_json(data, where, "the dataset card")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = f"a JSON {type(raw).__name__}" if not isinstance(raw, dict) else f"format {_shown(raw.get('format'))}"
        raise corrupt(where, f"not an mnistfamily dataset card (expected a JSON object with format {FORMAT!r}; "
                             f"found {found})")
    version = raw.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version:
        raise corrupt(where, f"format_version is {_shown(version)}; expected a whole number")
    if version > EXPORT_FORMAT_VERSION:
        raise CorruptExportError(f"{where}: written in export format version {version}; this mnistfamily reads up "
                                 f"to {EXPORT_FORMAT_VERSION}. Upgrade mnistfamily to read it.")
    problem = dataset_name_problem(raw.get("dataset"))
    if problem:
        raise corrupt(where, f"the card's dataset: {problem}")
    splits = raw.get("splits")
    if not isinstance(splits, dict):
        raise corrupt(where, f"'splits' must be a JSON object of split names; found {_shown(splits)}")
    entries = {}
    for split, entry in splits.items():
        problem = split_name_problem(split)
        if problem:
            raise corrupt(where, f"the card lists a split whose name is not allowed: {problem}")
        entries[split] = _split_entry(split, entry, where)
    return Card(raw["dataset"], entries, raw)


def _count(value: object) -> TypeGuard[int]:
    """A whole number of at least 0 (JSON's true/false are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _split_entry(split: str, entry: object, where: str) -> SplitEntry:
    if not isinstance(entry, dict):
        raise corrupt(where, f"split {split!r}: expected a JSON object; found {_shown(entry)}")
    shards = entry.get("shards")
    if not isinstance(shards, list) or not shards or len(shards) > MAX_SHARDS:
        raise corrupt(where, f"split {split!r}: 'shards' must be a non-empty list; found {_shown(shards)}")
    out: list[tuple[int, ShardEntry]] = []
    numbers: set[int] = set()
    counts: set[int] = set()
    for shard in shards:
        if not isinstance(shard, dict):
            raise corrupt(where, f"split {split!r}: a shard record must be a JSON object; found {_shown(shard)}")
        path, rows, size, digest = (shard.get(k) for k in ("path", "num_rows", "size", "sha256"))
        match = SHARD_PATH.fullmatch(path) if isinstance(path, str) else None
        if match is None or match.group("split") != split:
            raise corrupt(where, f"split {split!r} lists the shard path {_shown(path)}; a shard path is "
                                 f"'split={split}/part-NNNNN-of-MMMMM.parquet', inside the export folder")
        if not (_count(rows) and _count(size)):
            raise corrupt(where, f"{path}: num_rows and size must be whole numbers; found {_shown(rows)}, "
                                 f"{_shown(size)}")
        if not isinstance(digest, str) or SHA256.fullmatch(digest) is None:
            raise corrupt(where, f"{path}: sha256 must be 64 lower-case hex digits; found {_shown(digest)}")
        number = int(match.group("number"))
        if number in numbers:
            raise corrupt(where, f"split {split!r} lists the shard {path} twice: it would be read twice")
        numbers.add(number)
        counts.add(int(match.group("count")))
        out.append((number, ShardEntry(match.group(0), rows, size, digest)))
    if len(counts) != 1 or numbers != set(range(len(out))) or counts != {len(out)}:
        raise corrupt(where, f"split {split!r} lists {len(out)} shard(s) that are not one complete set "
                             "part-00000-of-N ... part-(N-1)-of-N")
    num_rows = entry.get("num_rows")
    total = sum(s.num_rows for _, s in out)
    if not isinstance(num_rows, int) or isinstance(num_rows, bool) or num_rows != total:
        raise corrupt(where, f"split {split!r}: num_rows is {_shown(num_rows)} but its shards list {total:,} rows")
    described = entry.get("schema_metadata")
    if described is not None and not isinstance(described, dict):
        raise corrupt(where, f"split {split!r}: schema_metadata must be a JSON object; found {_shown(described)}")
    return SplitEntry(num_rows, tuple(s for _, s in sorted(out, key=lambda pair: pair[0])), described, entry)
