"""Strict loading of registry files.

The YAML is composed into nodes (libyaml's C parser where present) and walked by hand so
that every problem carries its path and line: duplicate keys, unknown keys, missing fields,
wrong types, malformed hashes and dangling file references are all collected and raised
together in one :class:`~mnistfamily.errors.RegistryError`.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Callable

import yaml

from ..errors import RegistryError
from .schema import DatasetSpec, FileSpec, SplitSpec

try:  # libyaml parses the registry several times faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

UNKNOWN = "unknown"
_HEX = {"md5": re.compile(r"^[0-9a-f]{32}$"), "sha256": re.compile(r"^[0-9a-f]{64}$")}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?$")
_SPLIT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

#: Split keys each format accepts: key -> (kind, required). Kinds: "file" (a name from the
#: dataset's files), "rows" ([start, stop]), "str". Adding a format = a builder in
#: prepare/ + its keys here.
FORMAT_SPLIT_KEYS: dict[str, dict[str, tuple[str, bool]]] = {
    "idx": {"images": ("file", True), "labels": ("file", True), "index": ("file", False),
            "rows": ("rows", False)},
}
KNOWN_FORMATS = tuple(FORMAT_SPLIT_KEYS)
_ORIENTATIONS = ("upright", "transposed")

_TOP_KEYS = {"version": True, "datasets": True}
_DATASET_KEYS = {
    "title": True, "description": False, "homepage": True, "license": True, "citation": True,
    "format": True, "classes": True, "image_shape": True, "files": True, "splits": True,
    "base_url": False, "mirrors": False, "packaged": False, "label_columns": False,
    "label_column": False, "label_offset": False, "orientation": False, "notes": False,
}
_FILE_KEYS = {"size": True, "md5": True, "sha256": True, "payload": False, "url": False,
              "archive": False, "member": False}
_PAYLOAD_KEYS = {"size": True, "sha256": True}
_SPLIT_COMMON_KEYS = {"num_examples": True, "description": False}


class _Walker:
    """Turns composed YAML nodes into Python values, noting problems with their paths."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def problem(self, path: str, node: yaml.Node | None, message: str) -> None:
        where = f" (line {node.start_mark.line + 1})" if node is not None else ""
        self.problems.append(f"{path}{where}: {message}")

    def value(self, node: yaml.Node, path: str) -> Any:
        """A plain Python value; mappings become ``{key: (value, node)}``-free dicts."""
        if isinstance(node, yaml.MappingNode):
            return {k: self.value(v, f"{path}.{k}") for k, (v, _) in self.mapping(node, path).items()}
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, path: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (value node, key node); duplicate and non-string keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(path, node, f"expected a mapping, found {_kind(node)}")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self._constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                self.problem(path, key_node, f"keys must be strings, found {key!r}")
                continue
            if key in out:
                first = out[key][1].start_mark.line + 1
                self.problem(f"{path}.{key}", key_node, f"duplicate key (first defined on line {first})")
                continue
            out[key] = (value_node, key_node)
        return out

    def fields(
        self, node: yaml.Node, path: str, allowed: dict[str, bool]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """A mapping whose keys are checked against ``allowed`` (key -> required)."""
        items = self.mapping(node, path)
        if not isinstance(node, yaml.MappingNode):
            return items
        for key, (_, key_node) in items.items():
            if key not in allowed:
                hint = _close(key, allowed)
                self.problem(f"{path}.{key}", key_node, f"unknown key{hint}")
        for key, required in allowed.items():
            if required and key not in items:
                self.problem(f"{path}.{key}", node, "missing required field")
        return {k: v for k, v in items.items() if k in allowed}

    def typed(self, items: dict, key: str, path: str, check: Callable[[Any], bool], what: str,
              default: Any = None) -> Any:
        if key not in items:
            return default
        node = items[key][0]
        value = self.value(node, f"{path}.{key}")
        if not check(value):
            self.problem(f"{path}.{key}", node, f"expected {what}, found {value!r}")
            return default
        return value


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.value!r}"


def _close(word: str, choices: Any) -> str:
    import difflib

    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {matches[0]!r}?" if matches else f"; allowed: {', '.join(sorted(choices))}"


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def load_registry_text(text: str, source: str) -> dict[str, DatasetSpec]:
    """Parse and validate one registry document; raise RegistryError listing every problem."""
    walker = _Walker(source)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise RegistryError(source, [f"not valid YAML: {exc}"]) from None
    if root is None:
        raise RegistryError(source, ["the file is empty; expected 'version: 1' and 'datasets:'"])
    top = walker.fields(root, "registry", _TOP_KEYS)
    version = walker.typed(top, "version", "registry", lambda v: v == 1, "version 1")
    datasets: dict[str, DatasetSpec] = {}
    if "datasets" in top:
        for name, (node, key_node) in walker.mapping(top["datasets"][0], "datasets").items():
            if not _NAME.match(name):
                walker.problem(f"datasets.{name}", key_node,
                               "dataset names are lower-case 'family' or 'family/variant'")
            spec = _dataset(walker, name, node, source)
            if spec is not None:
                datasets[name] = spec
    if walker.problems:
        raise RegistryError(source, walker.problems)
    del version
    return datasets


def _dataset(w: _Walker, name: str, node: yaml.Node, source: str) -> DatasetSpec | None:
    path = f"datasets.{name}"
    f = w.fields(node, path, _DATASET_KEYS)
    before = len(w.problems)
    text = {k: w.typed(f, k, path, _is_str, "a non-empty string", "") for k in
            ("title", "homepage", "license", "citation")}
    description = w.typed(f, "description", path, lambda v: isinstance(v, str), "a string", "")
    notes = w.typed(f, "notes", path, lambda v: isinstance(v, str), "a string", "")
    fmt = w.typed(f, "format", path, lambda v: v in KNOWN_FORMATS,
                  f"one of {', '.join(KNOWN_FORMATS)}", "idx")
    classes = w.typed(f, "classes", path, lambda v: _is_str_list(v) and len(v) > 0,
                      "a non-empty list of strings", [])
    if len(set(classes)) != len(classes):
        w.problem(f"{path}.classes", f["classes"][0], "class names must be unique")
    shape = w.typed(f, "image_shape", path,
                    lambda v: isinstance(v, list) and len(v) in (2, 3) and all(_is_count(x) and x > 0 for x in v),
                    "a list of 2 or 3 positive integers", [])
    base_url = w.typed(f, "base_url", path, _is_str, "a URL")
    mirrors = w.typed(f, "mirrors", path, _is_str_list, "a list of URLs", [])
    packaged = w.typed(f, "packaged", path, lambda v: isinstance(v, bool), "true or false", False)
    label_columns = w.typed(f, "label_columns", path, lambda v: _is_str_list(v) and len(v) > 0,
                            "a non-empty list of column names", [])
    label_column = w.typed(f, "label_column", path, _is_str, "a column name")
    if label_columns and label_column not in label_columns:
        w.problem(f"{path}.label_column", node,
                  f"with label_columns, label_column must name one of them ({', '.join(label_columns)})")
    if label_column and not label_columns:
        w.problem(f"{path}.label_column", node, "label_column needs label_columns")
    label_offset = w.typed(f, "label_offset", path, lambda v: isinstance(v, int) and not isinstance(v, bool),
                           "an integer", 0)
    orientation = w.typed(f, "orientation", path, lambda v: v in _ORIENTATIONS,
                          f"one of {', '.join(_ORIENTATIONS)}", "upright")
    if not base_url and not packaged and "files" in f:
        w.problem(f"{path}.base_url", node, "missing: a base_url (or packaged: true) says where files live")

    files: dict[str, FileSpec] = {}
    if "files" in f:
        for fname, (fnode, key_node) in w.mapping(f["files"][0], f"{path}.files").items():
            if "/" in fname or "\\" in fname or fname in (".", ".."):
                w.problem(f"{path}.files.{fname}", key_node, "file names may not contain path separators")
                continue
            spec = _file(w, f"{path}.files.{fname}", fname, fnode)
            if spec is not None:
                files[fname] = spec
        for fname, fspec in files.items():
            if fspec.archive is not None and fspec.archive not in files:
                w.problem(f"{path}.files.{fname}.archive", node,
                          f"names {fspec.archive!r}, which is not in this dataset's files")
            if (fspec.archive is None) != (fspec.member is None):
                w.problem(f"{path}.files.{fname}", node, "archive and member go together")

    splits: dict[str, SplitSpec] = {}
    if "splits" in f:
        for sname, (snode, key_node) in w.mapping(f["splits"][0], f"{path}.splits").items():
            if not _SPLIT.match(sname):
                w.problem(f"{path}.splits.{sname}", key_node, "split names are lower-case words")
            split = _split(w, f"{path}.splits.{sname}", sname, snode, files, fmt)
            if split is not None:
                splits[sname] = split
        if not splits and isinstance(f["splits"][0], yaml.MappingNode):
            w.problem(f"{path}.splits", f["splits"][0], "a dataset needs at least one split")
    if len(w.problems) > before:
        return None
    return DatasetSpec(
        name=name, title=text["title"], description=description, homepage=text["homepage"],
        license=text["license"], citation=text["citation"].strip(), format=fmt,
        classes=tuple(classes), image_shape=tuple(shape), files=MappingProxyType(files),
        splits=MappingProxyType(splits), base_url=base_url, mirrors=tuple(mirrors),
        packaged=packaged, label_columns=tuple(label_columns), label_column=label_column,
        label_offset=label_offset, orientation=orientation, notes=notes, origin=source,
    )


def _hash(w: _Walker, items: dict, key: str, path: str) -> str | None:
    """A lower-case hex digest, or None where the registry says ``unknown``."""
    if key not in items:
        return None
    node = items[key][0]
    value = w.value(node, f"{path}.{key}")
    if value == UNKNOWN:
        return None
    text = str(value).lower()
    if text.startswith(f"{key}:"):
        text = text[len(key) + 1:]
    if not _HEX[key].match(text):
        digits = 32 if key == "md5" else 64
        w.problem(f"{path}.{key}", node,
                  f"malformed {key}: expected {digits} hex digits or '{UNKNOWN}', found {value!r}")
        return None
    return text


def _size(w: _Walker, items: dict, key: str, path: str) -> int | None:
    if key not in items:
        return None
    node = items[key][0]
    value = w.value(node, f"{path}.{key}")
    if value == UNKNOWN:
        return None
    if not _is_count(value):
        w.problem(f"{path}.{key}", node, f"expected a byte count or '{UNKNOWN}', found {value!r}")
        return None
    return value


def _file(w: _Walker, path: str, name: str, node: yaml.Node) -> FileSpec | None:
    f = w.fields(node, path, _FILE_KEYS)
    payload_size = payload_sha256 = None
    if "payload" in f:
        p = w.fields(f["payload"][0], f"{path}.payload", _PAYLOAD_KEYS)
        payload_size = _size(w, p, "size", f"{path}.payload")
        payload_sha256 = _hash(w, p, "sha256", f"{path}.payload")
    return FileSpec(
        name=name, size=_size(w, f, "size", path), md5=_hash(w, f, "md5", path),
        sha256=_hash(w, f, "sha256", path), payload_size=payload_size,
        payload_sha256=payload_sha256, url=w.typed(f, "url", path, _is_str, "a URL"),
        archive=w.typed(f, "archive", path, _is_str, "the name of another file of the dataset"),
        member=w.typed(f, "member", path, _is_member, "a relative path inside the archive"),
    )


def _is_member(v: Any) -> bool:
    """A member name is only ever compared, never used as a path, but must still look sane."""
    return (isinstance(v, str) and bool(v) and not v.startswith(("/", "\\")) and "\0" not in v
            and ".." not in v.replace("\\", "/").split("/"))


def _split(w: _Walker, path: str, name: str, node: yaml.Node, files: dict, fmt: str) -> SplitSpec | None:
    keys = FORMAT_SPLIT_KEYS.get(fmt, {})
    allowed = {**_SPLIT_COMMON_KEYS, **{k: required for k, (_, required) in keys.items()}}
    f = w.fields(node, path, allowed)
    num = w.typed(f, "num_examples", path, lambda v: _is_count(v) and v > 0, "a positive integer", 0)
    inputs: dict[str, str] = {}
    options: dict[str, Any] = {}
    for key, (kind, _) in keys.items():
        if key not in f:
            continue
        if kind == "file":
            value = w.typed(f, key, path, _is_str, "a file name")
            if value is not None and value not in files:
                w.problem(f"{path}.{key}", f[key][0],
                          f"names {value!r}, which is not in this dataset's files{_close(value, files)}")
            elif value is not None:
                inputs[key] = value
        elif kind == "rows":
            rows = w.typed(f, key, path,
                           lambda v: isinstance(v, list) and len(v) == 2 and all(_is_count(x) for x in v)
                           and v[0] < v[1], "[start, stop] with start < stop")
            if rows is not None and num and rows[1] - rows[0] != num:
                w.problem(f"{path}.{key}", f[key][0], f"selects {rows[1] - rows[0]} rows but num_examples is {num}")
            if rows is not None:
                options[key] = tuple(rows)
        else:
            value = w.typed(f, key, path, _is_str, "a string")
            if value is not None:
                options[key] = value
    description = w.typed(f, "description", path, lambda v: isinstance(v, str), "a string", "")
    return SplitSpec(name=name, num_examples=num, inputs=MappingProxyType(inputs),
                     options=MappingProxyType(options), description=description)
