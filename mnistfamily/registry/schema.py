"""Frozen dataclasses describing datasets, splits and files, as read from registry.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

COMPRESSION_SUFFIXES = (".gz", ".xz")


@dataclass(frozen=True)
class FileSpec:
    """One published file: its name, where it lives, and how to recognise it.

    ``md5``/``sha256``/``size`` describe the file as published; ``payload_sha256`` and
    ``payload_size`` describe its decompressed content, so a copy found uncompressed,
    renamed or recompressed still verifies by content. ``None`` means the value is unknown
    (the registry says ``unknown``); a file with no known hash at all is *unverified*.
    """

    name: str
    size: int | None
    md5: str | None
    sha256: str | None
    payload_size: int | None = None
    payload_sha256: str | None = None
    url: str | None = None  # overrides ``base_url + name`` as the canonical location
    archive: str | None = None  # the file is a member of this other file (a zip) ...
    member: str | None = None  # ... stored under this name inside it (never used as a path)

    @property
    def verifiable(self) -> bool:
        """True when at least one hash is known for the file or its payload."""
        return bool(self.md5 or self.sha256 or self.payload_sha256)

    @property
    def stem(self) -> str:
        """The file name without a compression suffix (``.gz``/``.xz``)."""
        for suffix in COMPRESSION_SUFFIXES:
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.name

    def checksum_record(self) -> dict[str, object]:
        """The known checksums, for manifests and Parquet metadata."""
        record: dict[str, object] = {"name": self.name}
        for key in ("size", "md5", "sha256", "payload_size", "payload_sha256", "archive", "member"):
            value = getattr(self, key)
            if value is not None:
                record[key] = value
        return record


@dataclass(frozen=True)
class SplitSpec:
    """A split: which files it reads, in which role, and the format's options for it.

    ``inputs`` maps a role to a file name of the dataset: ``images``, ``labels`` and
    ``index`` for IDX datasets, other roles for other formats (see
    ``registry/formats.py``). ``options`` holds the format's other settings, such as
    ``rows`` (QMNIST ``test10k`` is rows 0-10,000 of the 60,000-row test files).
    """

    name: str
    num_examples: int | None  # None: not known until the files are read (notMNIST)
    inputs: Mapping[str, str]
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def images(self) -> str:
        return self.inputs.get("images", "")

    @property
    def labels(self) -> str:
        return self.inputs.get("labels", "")

    @property
    def index_file(self) -> str | None:
        return self.inputs.get("index")

    @property
    def rows(self) -> tuple[int, int] | None:
        rows = self.options.get("rows")
        return (int(rows[0]), int(rows[1])) if rows else None

    def files(self) -> tuple[str, ...]:
        """Names of every file this split reads, without repeats."""
        return tuple(dict.fromkeys(self.inputs.values()))


@dataclass(frozen=True)
class EnvironmentSpec:
    """One environment of a derived dataset: its split name, its own transforms, constant columns."""

    name: str
    transforms: tuple[dict, ...] = ()  # applied after the entry's own chain
    columns: Mapping[str, int | float] = field(default_factory=dict)  # the same value on every row
    description: str = ""


@dataclass(frozen=True)
class EnvironmentsSpec:
    """Splits dealt from the base: join ``source`` splits, shuffle with ``seed``, deal round-robin.

    Row ``j`` of the joined base splits (in ``source`` order) goes to environment
    ``position % k`` where ``position`` is its place in the permutation
    ``numpy.random.default_rng(seed).permutation(N)`` and ``k`` the number of environments,
    as DomainBed deals MNIST (``shuffled[i::k]``). ``column`` holds each row's environment number.
    A ``construction`` (``registry/constructions.py``: ColoredMNIST) deals the rows its own way
    and makes each row's label and example before the transforms.
    """

    source: tuple[str, ...]
    seed: int
    splits: tuple[EnvironmentSpec, ...]
    column: str = "environment"
    construction: Mapping[str, Any] | None = None

    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.splits)

    def columns(self) -> tuple[str, ...]:
        """The metadata columns every environment split carries."""
        declared = dict.fromkeys(c for s in self.splits for c in s.columns)
        made: tuple[str, ...] = ()
        if self.construction is not None:
            from .constructions import CONSTRUCTIONS

            made = CONSTRUCTIONS[self.construction["name"]].columns
        return (self.column, "source_split", "source_index", *declared, *made)

    def split(self, name: str) -> EnvironmentSpec:
        return next(s for s in self.splits if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        """The registry mapping (``from``, ``seed``, ``column``, ``splits``), also the cache recipe."""
        splits: dict[str, Any] = {}
        for s in self.splits:
            entry: dict[str, Any] = {}
            if s.transforms:
                entry["transforms"] = [dict(t) for t in s.transforms]
            if s.columns:
                entry["columns"] = dict(s.columns)
            if s.description:
                entry["description"] = s.description
            splits[s.name] = entry
        out = {"from": list(self.source), "seed": self.seed, "column": self.column, "splits": splits}
        if self.construction is not None:
            out["construction"] = dict(self.construction)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EnvironmentsSpec":
        """The inverse of :meth:`to_dict` (for data already validated by the loader)."""
        from types import MappingProxyType

        splits = tuple(EnvironmentSpec(name=name, transforms=tuple(dict(t) for t in s.get("transforms", ())),
                                       columns=MappingProxyType(dict(s.get("columns", {}))),
                                       description=s.get("description", ""))
                       for name, s in data["splits"].items())
        construction = data.get("construction")
        return cls(source=tuple(data["from"]), seed=int(data["seed"]), splits=splits,
                   column=data.get("column", "environment"),
                   construction=None if construction is None else MappingProxyType(dict(construction)))


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset entry of the registry, validated."""

    name: str
    title: str
    description: str
    homepage: str
    license: str
    citation: str
    format: str
    classes: tuple[str, ...]
    image_shape: tuple[int, ...]
    files: Mapping[str, FileSpec]
    splits: Mapping[str, SplitSpec]
    base_url: str | None = None
    mirrors: tuple[str, ...] = ()
    packaged: bool = False
    #: the files are published only on Kaggle, behind a login (``owner/dataset``): mnistfamily cannot
    #: download them, and a load without ``source=`` says how to get them (3D MNIST)
    kaggle: str | None = None
    label_columns: tuple[str, ...] = ()
    label_column: str | None = None
    label_offset: int = 0  # subtracted from published labels (EMNIST letters: 1..26 -> 0..25)
    orientation: str = "upright"  # "transposed": published with height and width swapped
    image_dtype: str = "uint8"  # MNIST-1D's sequences are float64
    #: what one example is: "image" ``(H, W)`` or ``(H, W, C)`` channels last, "volume" ``(D, H, W)``,
    #: "signal" ``(L,)`` or of varying length (``image_shape`` empty); see registry/formats.py
    example: str = "image"
    sample_rate: int | None = None  # samples per second, for signals recorded at a known rate
    #: classes named by the published files (CIFAR-100's fine_label_names.txt): their number, and which file;
    #: ``classes`` is then empty until a split is prepared (the names are in its manifest)
    class_count: int = 0
    classes_named_by: str = ""

    @property
    def num_classes(self) -> int:
        """How many classes: the names listed, or the count declared when the files name them."""
        return len(self.classes) or self.class_count
    multi_label: bool = False  # labels are (N, len(classes)) 0/1 columns (MedMNIST chestmnist)
    sizes: Mapping[int, str] = field(default_factory=dict)  # image size -> dataset name (MedMNIST)
    #: metadata other datasets hold for this one's rows: name -> split -> "dataset:split" whose
    #: label table aligns row for row with this split's published positions (MNIST <- QMNIST)
    joins: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    base: str | None = None  # a derived dataset: this base entry ...
    transforms: tuple[dict, ...] = ()  # ... through this transform chain (specs, see mnistfamily.transforms)
    seed: int | None = None  # ... with this seed for the random transforms that do not set their own
    environments: EnvironmentsSpec | None = None  # ... whose splits are environments dealt from base splits
    #: no stable public URL: the files are read only from ``source=`` (Ganin's MNIST-M)
    source_only: bool = False
    notes: str = ""
    origin: str = field(default="", compare=False)  # the registry file it came from

    @property
    def varying_length(self) -> bool:
        """Examples of different lengths (AudioMNIST), stored as flat samples + offsets."""
        return self.example == "signal" and not self.image_shape

    @property
    def family(self) -> str:
        """The part of the name before any ``/``: the folder used on mirrors and in the cache."""
        return self.name.split("/", 1)[0]

    def file(self, name: str) -> FileSpec:
        """The :class:`FileSpec` called ``name``."""
        return self.files[name]

    def canonical_url(self, file: FileSpec) -> str | None:
        """The file's own URL, or ``base_url`` joined with its name."""
        if file.url:
            return file.url
        if self.base_url:
            return join_url(self.base_url, file.name)
        return None

    def mirror_urls(self, file: FileSpec) -> list[str]:
        """The registry's mirrors for a file, in order."""
        return [join_url(base, file.name) for base in self.mirrors]


def join_url(base: str, name: str) -> str:
    """Join a base URL (or path) and a relative name with exactly one ``/``."""
    return base.rstrip("/") + "/" + name.lstrip("/")
