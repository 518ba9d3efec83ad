"""Shift protocols as data: a training selection plus named test domains, read from YAML.

The built-in protocols live in ``protocols.yaml`` beside this module; users add their own
in a file of the same shape (docs/shift.md has the schema). Files are read as the registry is
(:mod:`mnistfamily.registry.strict_yaml`: duplicate keys reported, not silently merged; merge
keys ``<<: *anchor`` followed) and validated strictly:
every problem is collected and raised at once in a :class:`ProtocolError` that names the
protocol and the key, e.g. ``writers.domains["students"].writer_fold.side``.

This module needs only PyYAML (plus :mod:`mnistfamily.transforms` to check transform specs);
it never loads data. :mod:`mnistfamily.shift.experiment` does.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import MnistFamilyError, ProtocolError, UnknownNameError
from ..registry.strict_yaml import load_plain

__all__ = ["Protocol", "Selection", "WriterFold", "ProtocolError", "protocols", "get_protocol",
           "load_protocols", "BUILTIN_PROTOCOLS"]

#: the protocols shipped with the package
BUILTIN_PROTOCOLS = Path(__file__).with_name("protocols.yaml")

_VERSION = 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_TOP_KEYS = {"version": True, "protocols": True}
_PROTOCOL_KEYS = {"description": True, "train": True, "in_domain": True, "domains": True}
_SELECTION_KEYS = {"dataset": True, "split": True, "metadata": False, "where": False, "half": False,
                   "writer_fold": False, "transform": False}
_FOLD_KEYS = {"folds": True, "fold": True, "side": True, "seed": False, "column": False}
_HALVES = ("first", "last")
_SIDES = ("train", "test")


@dataclass(frozen=True)
class WriterFold:
    """One side of a writer-disjoint fold (:func:`mnistfamily.shift.splits.writer_folds`).

    ``side="train"`` keeps every fold but ``fold``; ``side="test"`` keeps fold ``fold`` only.
    Two selections that differ only in ``side`` share no writer.
    """

    folds: int
    fold: int
    side: str
    seed: int = 0
    column: str = "writer_id"

    def to_dict(self) -> dict[str, Any]:
        return {"folds": self.folds, "fold": self.fold, "side": self.side, "seed": self.seed,
                "column": self.column}


@dataclass(frozen=True)
class Selection:
    """Which examples a protocol trains or tests on: a split, filtered, then transformed.

    Applied in this order: ``load(dataset, split, metadata=metadata)``; keep the rows whose
    columns match ``where`` (a value or a list of accepted values per column); keep the
    first or last ``half`` of the published split; keep one side of a writer-disjoint fold;
    apply the ``transform`` specs (:func:`mnistfamily.transforms.from_spec`).

    Examples
    --------
    >>> from mnistfamily.shift import protocols
    >>> print(protocols()["writers"].train.describe())
    mnist [train] + qmnist metadata, hsf_series in [0, 1, 2, 3], writer fold 0 of 5 (seed 0): train side
    """

    dataset: str
    split: str
    metadata: str | None = None
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    half: str | None = None
    writer_fold: WriterFold | None = None
    transform: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self.dataset, "split": self.split}
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.where:
            out["where"] = {k: list(v) if len(v) != 1 else v[0] for k, v in self.where.items()}
        if self.half is not None:
            out["half"] = self.half
        if self.writer_fold is not None:
            out["writer_fold"] = self.writer_fold.to_dict()
        if self.transform:
            out["transform"] = [dict(t) for t in self.transform]
        return out

    def describe(self) -> str:
        """One line: dataset, split and every filter, in the order they apply."""
        parts = [f"{self.dataset} [{self.split}]" + (f" + {self.metadata} metadata" if self.metadata else "")]
        for column, values in self.where.items():
            parts.append(f"{column} = {values[0]!r}" if len(values) == 1 else f"{column} in {list(values)!r}")
        if self.half is not None:
            parts.append(f"{self.half} half")
        if self.writer_fold is not None:
            f = self.writer_fold
            by = "" if f.column == "writer_id" else f" by {f.column}"
            parts.append(f"writer fold {f.fold} of {f.folds}{by} (seed {f.seed}): {f.side} side")
        if self.transform:
            parts.append("transform " + ", ".join(str(t.get("name")) for t in self.transform))
        return ", ".join(parts)


@dataclass(frozen=True)
class Protocol:
    """A training selection and named test domains; ``in_domain`` names the reference domain.

    Gaps are reported as ``accuracy(domain) - accuracy(in_domain)``.

    Examples
    --------
    >>> from mnistfamily.shift import protocols
    >>> p = protocols()["writers"]
    >>> p.in_domain, list(p.domains)[:2]
    ('employees, held-out writers', ['employees, held-out writers', 'students'])
    """

    name: str
    description: str
    train: Selection
    in_domain: str
    domains: Mapping[str, Selection]
    #: the file (or "<text>") the protocol was read from
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "train": self.train.to_dict(), "in_domain": self.in_domain,
                "domains": {name: s.to_dict() for name, s in self.domains.items()}}


# ----------------------------------------------------------------------------- public functions


def protocols(path: str | os.PathLike[str] | None = None) -> dict[str, Protocol]:
    """Every protocol by name: the built-in ones, then those of ``path`` (which win on a name clash).

    Parameters
    ----------
    path
        A protocols file of your own (YAML, same schema as the built-in ``protocols.yaml``).

    Returns
    -------
    dict[str, Protocol]
        In file order; ``list(protocols())`` gives the names.

    Examples
    --------
    >>> from mnistfamily.shift import protocols
    >>> list(protocols())[:3]
    ['writers', 'writers-reverse', 'mnist-halves']
    """
    found = dict(_builtin())
    if path is not None:
        found.update(load_protocols(path))
    return found


def get_protocol(name: "str | Protocol", path: str | os.PathLike[str] | None = None) -> Protocol:
    """The protocol called ``name`` (from :func:`protocols`); a :class:`Protocol` is returned as is.

    Examples
    --------
    >>> from mnistfamily.shift import get_protocol
    >>> get_protocol("mnist-halves").in_domain
    'test, first 5,000'
    """
    if isinstance(name, Protocol):
        return name
    known = protocols(path)
    if name not in known:
        close = difflib.get_close_matches(str(name), list(known), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"no shift protocol {name!r}{hint} (known: {', '.join(known)}; "
                               "`mnistfamily shift --list` describes them)")
    return known[name]


def load_protocols(source: str | os.PathLike[str]) -> dict[str, Protocol]:
    """Read and validate a protocols file (a path, or YAML text containing a newline).

    Raises
    ------
    ProtocolError
        Listing every problem, each as ``protocol.key: what is wrong``.

    Examples
    --------
    >>> from mnistfamily.shift import load_protocols
    >>> text = '''
    ... version: 1
    ... protocols:
    ...   students-halves:
    ...     description: Train on the students of the sample's first half, test on its last half.
    ...     train: {dataset: mnist/sample, split: test, where: {hsf_series: 4}, half: first}
    ...     in_domain: last half
    ...     domains:
    ...       last half: {dataset: mnist/sample, split: test, where: {hsf_series: 4}, half: last}
    ... '''
    >>> load_protocols(text)["students-halves"].domains["last half"].half
    'last'
    """
    if isinstance(source, str) and "\n" in source:
        text, where = source, "<text>"
    else:
        path = Path(source)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProtocolError(where, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    return _parse(text, where)


# ----------------------------------------------------------------------------- parsing


@functools.lru_cache(maxsize=1)
def _builtin() -> dict[str, Protocol]:
    return load_protocols(BUILTIN_PROTOCOLS)


def _parse(text: str, source: str) -> dict[str, Protocol]:
    try:  # the registry's strict reader: duplicate keys, bad tags and alias bombs are problems
        data, problems = load_plain(text, merge_keys=True, source=source)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ProtocolError(source, [f"not valid YAML: {exc}"]) from exc
    checker = _Checker()
    checker.problems.extend(problems)
    found = checker.file(data)
    if checker.problems:
        raise ProtocolError(source, checker.problems)
    return {name: Protocol(name=p.name, description=p.description, train=p.train, in_domain=p.in_domain,
                           domains=p.domains, source=source) for name, p in found.items()}


class _Checker:
    """Turns the loaded YAML into Protocols, noting every problem with its path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def keys(self, value: Any, path: str, allowed: dict[str, bool]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(path or "(the file)", f"expected a mapping, found {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.75)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(allowed)})"
                self.problem(_join(path, key), f"unknown key{hint}")
        for key, required in allowed.items():
            if required and key not in value:
                self.problem(_join(path, key), "missing required field")
        return value

    def text(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"expected a non-empty string, found {_kind(value)}")
            return None
        return value

    def integer(self, value: Any, path: str, minimum: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(path, f"expected a whole number of at least {minimum}, found {value!r}")
            return None
        return value

    def file(self, data: Any) -> dict[str, Protocol]:
        top = self.keys(data, "", _TOP_KEYS)
        if top is None:
            return {}
        if "version" in top and (isinstance(top["version"], bool) or top["version"] != _VERSION):
            self.problem("version", f"expected {_VERSION}, found {top['version']!r}")
        entries = top.get("protocols")
        if "protocols" in top and (not isinstance(entries, dict) or not entries):
            self.problem("protocols", f"expected a mapping of protocol names to protocols, found {_kind(entries)}")
            return {}
        out: dict[str, Protocol] = {}
        for name, entry in (entries or {}).items():
            protocol = self.protocol(name, entry)
            if protocol is not None:
                out[name] = protocol
        return out

    def protocol(self, name: Any, entry: Any) -> Protocol | None:
        path = str(name)
        before = len(self.problems)
        if not isinstance(name, str) or not _NAME.match(name):
            self.problem(path, "a protocol name is lower-case letters, digits, '.', '_' and '-' "
                               f"(e.g. 'writers-reverse'), found {name!r}")
        fields = self.keys(entry, path, _PROTOCOL_KEYS)
        if fields is None:
            return None
        description = self.text(fields.get("description"), f"{path}.description") \
            if "description" in fields else None
        train = self.selection(fields["train"], f"{path}.train") if "train" in fields else None
        domains: dict[str, Selection] = {}
        raw_domains = fields.get("domains")
        if "domains" in fields:
            if not isinstance(raw_domains, dict) or not raw_domains:
                self.problem(f"{path}.domains", f"expected a mapping of domain names to selections, "
                                                f"found {_kind(raw_domains)}")
            else:
                for domain, spec in raw_domains.items():
                    domain_path = f"{path}.domains[{str(domain)!r}]"
                    if not isinstance(domain, str) or not domain.strip():
                        self.problem(domain_path, f"a domain name is a non-empty string, found {domain!r}")
                        continue
                    selection = self.selection(spec, domain_path)
                    if selection is not None:
                        domains[domain] = selection
        in_domain = self.text(fields.get("in_domain"), f"{path}.in_domain") if "in_domain" in fields else None
        if in_domain is not None and isinstance(raw_domains, dict) and in_domain not in raw_domains:
            close = difflib.get_close_matches(in_domain, [str(d) for d in raw_domains], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.problem(f"{path}.in_domain", f"{in_domain!r} is not one of the domains "
                                              f"({', '.join(map(repr, raw_domains))}){hint}")
        if len(self.problems) > before or train is None or description is None or in_domain is None:
            return None
        return Protocol(name=name, description=description.strip(), train=train, in_domain=in_domain,
                        domains=domains)

    def selection(self, spec: Any, path: str) -> Selection | None:
        before = len(self.problems)
        fields = self.keys(spec, path, _SELECTION_KEYS)
        if fields is None:
            return None
        dataset = self.text(fields.get("dataset"), f"{path}.dataset") if "dataset" in fields else None
        split = self.text(fields.get("split"), f"{path}.split") if "split" in fields else None
        metadata = self.text(fields["metadata"], f"{path}.metadata") if "metadata" in fields else None
        where = self.where(fields["where"], f"{path}.where") if "where" in fields else {}
        half = fields.get("half")
        if half is not None and half not in _HALVES:
            self.problem(f"{path}.half", f"expected 'first' or 'last', found {half!r}")
        fold = self.writer_fold(fields["writer_fold"], f"{path}.writer_fold") if "writer_fold" in fields else None
        transform = self.transform(fields["transform"], f"{path}.transform") if "transform" in fields else ()
        if len(self.problems) > before or dataset is None or split is None:
            return None
        return Selection(dataset=dataset, split=split, metadata=metadata, where=where or {}, half=half,
                         writer_fold=fold, transform=transform or ())

    def where(self, value: Any, path: str) -> dict[str, tuple[Any, ...]] | None:
        if not isinstance(value, dict) or not value:
            self.problem(path, f"expected a mapping of column names to a value or a list of values, "
                               f"found {_kind(value)}")
            return None
        out: dict[str, tuple[Any, ...]] = {}
        for column, wanted in value.items():
            values = tuple(wanted) if isinstance(wanted, list) else (wanted,)
            bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float, str))]
            if not isinstance(column, str) or not values or bad:
                self.problem(_join(path, column), "expected a number or string, or a non-empty list of them, "
                                                  f"found {wanted!r}")
                continue
            out[column] = values
        return out

    def writer_fold(self, value: Any, path: str) -> WriterFold | None:
        before = len(self.problems)
        fields = self.keys(value, path, _FOLD_KEYS)
        if fields is None:
            return None
        folds = self.integer(fields.get("folds"), f"{path}.folds", 2) if "folds" in fields else None
        fold = self.integer(fields.get("fold"), f"{path}.fold", 0) if "fold" in fields else None
        if folds is not None and fold is not None and fold >= folds:
            self.problem(f"{path}.fold", f"folds are numbered 0 to {folds - 1}, found {fold}")
        side = fields.get("side")
        if "side" in fields and side not in _SIDES:
            self.problem(f"{path}.side", f"expected 'train' (every other fold) or 'test' (this fold), found {side!r}")
        seed = self.integer(fields.get("seed"), f"{path}.seed", 0) if "seed" in fields else 0
        column = self.text(fields.get("column"), f"{path}.column") if "column" in fields else "writer_id"
        if len(self.problems) > before or folds is None or fold is None or seed is None or column is None:
            return None
        return WriterFold(folds=folds, fold=fold, side=str(side), seed=seed, column=column)

    def transform(self, value: Any, path: str) -> tuple[Mapping[str, Any], ...] | None:
        specs = value if isinstance(value, list) else [value]
        if not specs or not all(isinstance(s, dict) for s in specs):
            self.problem(path, "expected a transform spec ({name: ..., ...}) or a list of them, "
                               f"found {_kind(value)}")
            return None
        from ..transforms import from_spec  # numpy: only when a file has transforms

        try:
            from_spec(specs)
        except MnistFamilyError as exc:
            self.problem(path, str(exc))
            return None
        return tuple(specs)


def _join(path: str, key: Any) -> str:
    key = str(key)
    if not path:
        return key
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z0-9_.-]+", key) else f"{path}[{key!r}]"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
