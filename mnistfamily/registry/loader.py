"""Strict loading of registry files.

The YAML is composed into nodes and walked by hand (:mod:`.strict_yaml`) so that every
problem carries its path and line: duplicate keys, unknown keys, missing fields,
wrong types, malformed hashes and dangling file references are all collected and raised
together in one :class:`~mnistfamily.errors.RegistryError`.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import yaml

from ..errors import RegistryError
from .formats import EXAMPLE_KINDS, FORMATS, split_keys
from .names import column_name_problem, dataset_name_problem, file_name_problem, split_name_problem
from .schema import DatasetSpec, EnvironmentSpec, EnvironmentsSpec, FileSpec, SplitSpec
from .strict_yaml import Abort as _Abort
from .strict_yaml import Walker as _Walker
from .strict_yaml import close as _close
from .strict_yaml import compose

UNKNOWN = "unknown"
_KAGGLE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}/[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"
_HEX = {"md5": re.compile(r"^[0-9a-f]{32}$"), "sha256": re.compile(r"^[0-9a-f]{64}$")}

#: the formats the registry knows, and the split keys each accepts, from the one table of formats
#: (registry/formats.py): adding a format is a row there, never an edit here
KNOWN_FORMATS = tuple(FORMATS)
_ORIENTATIONS = ("upright", "transposed")
#: the dtypes of an example: images and volumes are uint8 or float32; signals any of these
_IMAGE_DTYPES = ("uint8", "int16", "int32", "float32", "float64")
_PICTURE_DTYPES = ("uint8", "float32")

_TOP_KEYS = {"version": True, "datasets": True}
_DATASET_KEYS = {
    "title": True, "description": False, "homepage": True, "license": True, "citation": True,
    "format": True, "classes": True, "image_shape": False, "files": True, "splits": True,
    "example": False, "sample_rate": False, "base_url": False, "mirrors": False, "packaged": False,
    "kaggle": False, "source_only": False, "label_columns": False,
    "label_column": False, "label_offset": False, "orientation": False, "notes": False,
    "image_dtype": False, "multi_label": False, "sizes": False, "joins": False,
}
_FILE_KEYS = {"size": True, "md5": True, "sha256": True, "payload": False, "url": False,
              "archive": False, "member": False}
_PAYLOAD_KEYS = {"size": True, "sha256": True}
_SPLIT_COMMON_KEYS = {"num_examples": True, "description": False}


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
        root = compose(text)
    except (yaml.YAMLError, RecursionError) as exc:  # RecursionError: the pure-Python parser, deep nesting
        raise RegistryError(source, [f"not valid YAML: {exc}"]) from None
    if root is None:
        raise RegistryError(source, ["the file is empty; expected 'version: 1' and 'datasets:'"])
    try:
        datasets = _walk(walker, root, source)
    except (_Abort, RecursionError):
        if not walker.problems:  # pragma: no cover - _Abort always notes its problem first
            walker.problems.append("registry: the document is nested too deeply to read")
    if walker.problems:
        raise RegistryError(source, walker.problems)
    return datasets


def _walk(walker: _Walker, root: yaml.Node, source: str) -> dict[str, DatasetSpec]:
    top = walker.fields(root, "registry", _TOP_KEYS)
    version = walker.typed(top, "version", "registry", lambda v: v == 1, "version 1")
    datasets: dict[str, DatasetSpec] = {}
    if "datasets" in top:
        for name, (node, key_node) in walker.mapping(top["datasets"][0], "datasets").items():
            problem = dataset_name_problem(name)
            if problem is not None:
                walker.problem(f"datasets.{name!r}", key_node, problem)
            is_variant = isinstance(node, yaml.MappingNode) and any(
                getattr(k, "value", None) == "base" for k, _ in node.value)
            spec = (_variant if is_variant else _dataset)(walker, name, node, source)
            if spec is not None:
                datasets[name] = spec
    del version
    return datasets


_VARIANT_KEYS = {
    "base": True, "title": True, "transforms": False, "description": False, "notes": False, "seed": False,
    "image_shape": False, "image_dtype": False, "homepage": False, "license": False, "citation": False,
    "environments": False, "example": False, "sample_rate": False,
}
_ENVIRONMENTS_KEYS = {"from": True, "seed": True, "splits": True, "column": False, "construction": False}
_ENVIRONMENT_KEYS = {"transforms": False, "columns": False, "description": False}
#: columns every environment split carries besides its own: they cannot be declared again
ENVIRONMENT_COLUMNS = ("source_split", "source_index")


def _is_chain(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in v)


def _variant(w: _Walker, name: str, node: yaml.Node, source: str) -> DatasetSpec | None:
    """A derived dataset: a base entry plus a transform chain (and a seed). The fields it does
    not set are inherited from the base once every registry file is read (Registry.from_files)."""
    path = f"datasets.{name}"
    f = w.fields(node, path, _VARIANT_KEYS)
    before = len(w.problems)
    base = w.typed(f, "base", path, _is_str, "the name of another dataset", "")
    if base == name:
        w.problem(f"{path}.base", f["base"][0], "a dataset cannot be its own base")
    title = w.typed(f, "title", path, _is_str, "a non-empty string", "")
    environments = _environments(w, f["environments"][0], f"{path}.environments") if "environments" in f else None
    chain = w.typed(f, "transforms", path, lambda v: _is_chain(v) and (len(v) > 0 or "environments" in f),
                    "a non-empty list of transform specs, each a mapping with a 'name'", [])
    if "transforms" not in f and "environments" not in f:
        w.problem(f"{path}.transforms", node, "missing required field (a derived dataset needs transforms, "
                                              "environments, or both)")
    seed = w.typed(f, "seed", path, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
    shape = _shape(w, f, path)
    image_dtype = w.typed(f, "image_dtype", path, lambda v: v in _IMAGE_DTYPES,
                          f"one of {', '.join(_IMAGE_DTYPES)}", "")
    # a derived entry says what an example is only when its chain changes it (else the base's, on resolving)
    example = _example(w, f, path, shape) if "example" in f or shape else ""
    sample_rate = _sample_rate(w, f, path)
    text = {k: w.typed(f, k, path, lambda v: isinstance(v, str), "a string", "")
            for k in ("description", "notes", "homepage", "license", "citation")}
    if len(w.problems) > before:
        return None
    return DatasetSpec(
        name=name, title=title, description=text["description"], homepage=text["homepage"],
        license=text["license"], citation=text["citation"].strip(), format="variant", classes=(),
        image_shape=tuple(shape), files=MappingProxyType({}), splits=MappingProxyType({}),
        image_dtype=image_dtype, notes=text["notes"], origin=source, example=example, sample_rate=sample_rate,
        base=base, transforms=tuple(chain), seed=seed, environments=environments)


def _environments(w: _Walker, node: yaml.Node, path: str) -> EnvironmentsSpec | None:
    """``environments: {from: [splits of the base], seed: int, column: name, splits: {name: {...}}}``."""
    f = w.fields(node, path, _ENVIRONMENTS_KEYS)
    before = len(w.problems)
    source = w.typed(f, "from", path, lambda v: isinstance(v, list) and len(v) > 0 and all(_is_str(x) for x in v)
                     and len(set(v)) == len(v), "a non-empty list of the base's split names, each once", [])
    seed = w.typed(f, "seed", path, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                   "a non-negative integer (the seed of the shuffle before dealing)", 0)
    column = w.typed(f, "column", path, lambda v: column_name_problem(v) is None, "a column name", "environment")
    splits: list[EnvironmentSpec] = []
    if "splits" in f:
        items = w.mapping(f["splits"][0], f"{path}.splits")
        if isinstance(f["splits"][0], yaml.MappingNode) and len(items) < 2:
            w.problem(f"{path}.splits", f["splits"][0], "expected at least two environments to deal the rows into")
        for name, (snode, key_node) in items.items():
            where = f"{path}.splits.{name}"
            problem = split_name_problem(name)
            if problem is not None:
                w.problem(where, key_node, problem)
                continue
            sf = w.fields(snode, where, _ENVIRONMENT_KEYS)
            chain = w.typed(sf, "transforms", where, _is_chain,
                            "a list of transform specs, each a mapping with a 'name'", [])
            columns = w.typed(sf, "columns", where, lambda v: isinstance(v, dict) and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v.values()),
                "a mapping of column names to numbers", {})
            for key in columns:
                problem = column_name_problem(key)
                if problem is not None or key in (column, *ENVIRONMENT_COLUMNS):
                    w.problem(f"{where}.columns.{key}", sf["columns"][0],
                              problem or f"{key!r} is a column every environment carries already")
            description = w.typed(sf, "description", where, lambda v: isinstance(v, str), "a string", "")
            splits.append(EnvironmentSpec(name=name, transforms=tuple(chain),
                                          columns=MappingProxyType(dict(columns)), description=description))
    construction = None
    if "construction" in f:
        from .constructions import construction_problems

        construction = w.typed(f, "construction", path, lambda v: isinstance(v, dict), "a mapping with a 'name'",
                               None)
        if construction is not None:
            for key, problem in construction_problems(construction, len(splits), len(source),
                                                      {s.name: s.columns for s in splits}):
                w.problem(f"{path}.construction{'.' + key if key and not key.startswith('(') else ''}",
                          f["construction"][0], problem)
    if len(w.problems) > before:
        return None
    return EnvironmentsSpec(source=tuple(source), seed=seed, splits=tuple(splits), column=column,
                            construction=None if construction is None else MappingProxyType(dict(construction)))


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
    classes, class_count, named_by = _classes(w, f, path)
    shape = _shape(w, f, path)
    image_dtype = w.typed(f, "image_dtype", path, lambda v: v in _IMAGE_DTYPES,
                          f"one of {', '.join(_IMAGE_DTYPES)}", "uint8")
    example = _example(w, f, path, shape)
    sample_rate = _sample_rate(w, f, path)
    _check_example(w, path, node, example, shape, image_dtype, sample_rate, fmt)
    multi_label = w.typed(f, "multi_label", path, lambda v: isinstance(v, bool), "true or false", False)
    sizes = _sizes(w, f, path)
    joins = w.typed(f, "joins", path, lambda v: isinstance(v, dict) and all(
        isinstance(m, dict) and all(isinstance(t, str) and t.count(":") == 1 for t in m.values())
        for m in v.values()), "a mapping: name -> {split: 'dataset:split'}", {})
    base_url = w.typed(f, "base_url", path, _is_str, "a URL")
    mirrors = w.typed(f, "mirrors", path, _is_str_list, "a list of URLs", [])
    packaged = w.typed(f, "packaged", path, lambda v: isinstance(v, bool), "true or false", False)
    kaggle = w.typed(f, "kaggle", path, lambda v: isinstance(v, str) and re.fullmatch(_KAGGLE, v) is not None,
                     "a Kaggle dataset, owner/name")
    source_only = w.typed(f, "source_only", path, lambda v: isinstance(v, bool), "true or false", False)
    if source_only and (base_url or mirrors or packaged or kaggle):
        w.problem(f"{path}.source_only", node, "a dataset read only from source= has no base_url, mirrors, "
                                               "kaggle or packaged files")
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
    if not base_url and not packaged and not kaggle and not source_only and "files" in f \
            and isinstance(f["files"][0], yaml.MappingNode) and f["files"][0].value:
        w.problem(f"{path}.base_url", node, "missing: a base_url (or packaged: true, kaggle: owner/name or "
                                             "source_only: true) says where files live")

    files: dict[str, FileSpec] = {}
    if "files" in f:
        for fname, (fnode, key_node) in w.mapping(f["files"][0], f"{path}.files").items():
            problem = file_name_problem(fname)
            if problem is not None:
                w.problem(f"{path}.files.{fname!r}", key_node, problem)
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
            problem = split_name_problem(sname)
            if problem is not None:
                w.problem(f"{path}.splits.{sname!r}", key_node, problem)
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
        packaged=packaged, kaggle=kaggle, source_only=source_only, label_columns=tuple(label_columns),
        label_column=label_column,
        label_offset=label_offset, orientation=orientation, image_dtype=image_dtype,
        multi_label=multi_label, sizes=MappingProxyType(dict(sizes)), example=example, sample_rate=sample_rate,
        class_count=class_count, classes_named_by=named_by,
        joins=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in joins.items()}),
        notes=notes, origin=source,
    )


def _classes(w: _Walker, f: dict, path: str) -> tuple[list[str], int, str]:
    """``classes``: a list of unique names, or ``{count: N, named_by: FILE}`` when the published files name
    them (CIFAR-100's ``fine_label_names.txt``): ``(names, count, named_by)``."""
    if "classes" in f and isinstance(f["classes"][0], yaml.MappingNode):
        where = f"{path}.classes"
        items = w.fields(f["classes"][0], where, {"count": True, "named_by": True})
        count = w.typed(items, "count", where, lambda v: _is_count(v) and v > 0, "a positive number of classes", 0)
        named_by = w.typed(items, "named_by", where, _is_str, "the published file that names the classes", "")
        return [], count, named_by
    classes = w.typed(f, "classes", path, lambda v: _is_str_list(v) and len(v) > 0,
                      "a non-empty list of strings, or {count: N, named_by: FILE}", [])
    if len(set(classes)) != len(classes):
        w.problem(f"{path}.classes", f["classes"][0], "class names must be unique")
    return classes, 0, ""


def _shape(w: _Walker, f: dict, path: str) -> list[int]:
    """``image_shape``: the shape of one example, 1 to 3 positive integers ([] when absent)."""
    return w.typed(f, "image_shape", path,
                   lambda v: isinstance(v, list) and len(v) in (1, 2, 3) and all(_is_count(x) and x > 0 for x in v),
                   "a list of 1 to 3 positive integers", [])


def _example(w: _Walker, f: dict, path: str, shape: list[int]) -> str:
    """What one example is (``example:``); by default a signal for one number, an image for two or three.

    Three numbers are an image with its channels last ``(H, W, C)`` unless the entry says
    ``example: volume`` (``(D, H, W)``); no ``image_shape`` at all is a signal of varying length.
    """
    default = "signal" if len(shape) <= 1 else "image"
    return w.typed(f, "example", path, lambda v: v in EXAMPLE_KINDS, f"one of {', '.join(EXAMPLE_KINDS)}", default)


def _sample_rate(w: _Walker, f: dict, path: str) -> int | None:
    return w.typed(f, "sample_rate", path, lambda v: _is_count(v) and v > 0, "a positive integer (samples per second)")


#: the ranks of ``image_shape`` each kind of example allows, and what they mean
_RANKS = {"image": ((2, 3), "[height, width] or [height, width, channels]"),
          "volume": ((3,), "[depth, height, width]"),
          "signal": ((0, 1), "[length], or no image_shape when the length varies")}


def example_problems(example: str, shape: "list[int] | tuple[int, ...]", image_dtype: str,
                     sample_rate: int | None) -> list[tuple[str, str]]:
    """``(field, problem)`` for a kind of example that does not fit its shape, dtype or sample rate."""
    if example not in EXAMPLE_KINDS:
        return []  # reported where it was read
    problems = []
    ranks, meaning = _RANKS[example]
    if len(shape) not in ranks:
        found = f"image_shape {list(shape)}" if shape else "no image_shape"
        problems.append(("image_shape", f"an example of kind {example!r} has image_shape {meaning}; found {found}"))
    if example != "signal" and image_dtype not in _PICTURE_DTYPES:
        problems.append(("image_dtype", f"{example}s are {' or '.join(_PICTURE_DTYPES)}, not {image_dtype}"))
    if sample_rate is not None and example != "signal":
        problems.append(("sample_rate", f"only signals have a sample rate; this entry's examples are {example}s"))
    return problems


def _check_example(w: _Walker, path: str, node: yaml.Node, example: str, shape: list[int], image_dtype: str,
                   sample_rate: int | None, fmt: str) -> None:
    """The kind of example against its shape, dtype and sample rate, and against what the format can write."""
    for field, problem in example_problems(example, shape, image_dtype, sample_rate):
        w.problem(f"{path}.{field}", node, problem)
    row = FORMATS.get(fmt)
    if row is not None and example in EXAMPLE_KINDS and example not in row.examples:
        w.problem(f"{path}.example", node, f"format {fmt!r} writes {', '.join(row.examples)} examples, "
                                           f"not {example}s")

def _sizes(w: _Walker, f: dict, path: str) -> dict[int, str]:
    """``sizes: {28: name, 64: name-64}``: integer keys, which the generic walker refuses."""
    if "sizes" not in f:
        return {}
    node = f["sizes"][0]
    if not isinstance(node, yaml.MappingNode):
        w.problem(f"{path}.sizes", node, "expected a mapping of image size to dataset name")
        return {}
    out: dict[int, str] = {}
    for key_node, value_node in node.value:
        key = w.value(key_node, f"{path}.sizes")
        value = w.value(value_node, f"{path}.sizes.{key}")
        if not (_is_count(key) and key > 0) or not _is_str(value):
            w.problem(f"{path}.sizes.{key}", key_node, f"expected a positive size and a dataset name, found {key!r}: {value!r}")
        elif key in out:
            w.problem(f"{path}.sizes.{key}", key_node, "duplicate size")
        else:
            out[key] = value
    return out


def _known(w: _Walker, items: dict, key: str, path: str) -> tuple[yaml.Node, Any] | None:
    """The node and value of ``key``; None when it is absent or the registry says ``unknown``."""
    if key not in items:
        return None
    node = items[key][0]
    value = w.value(node, f"{path}.{key}")
    return None if value == UNKNOWN else (node, value)


def _hash(w: _Walker, items: dict, key: str, path: str) -> str | None:
    """A lower-case hex digest, or None where the registry says ``unknown``."""
    known = _known(w, items, key, path)
    if known is None:
        return None
    node, value = known
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
    """A byte count, or None where the registry says ``unknown``."""
    known = _known(w, items, key, path)
    if known is None:
        return None
    node, value = known
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
    keys = split_keys(fmt)
    allowed = {**_SPLIT_COMMON_KEYS, **{k: required for k, (_, required) in keys.items()}}
    f = w.fields(node, path, allowed)
    num = w.typed(f, "num_examples", path, lambda v: v == UNKNOWN or (_is_count(v) and v > 0),
                  f"a positive integer or '{UNKNOWN}'", 0)
    num = None if num == UNKNOWN else num
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
        elif kind == "int":
            value = w.typed(f, key, path, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
            if value is not None:
                options[key] = value
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
