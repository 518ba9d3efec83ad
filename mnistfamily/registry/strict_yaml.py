"""YAML read strictly, for every file a user writes (the registry, shift protocols).

The document is composed into nodes (libyaml's C parser where present) and walked by hand, so
that every problem is collected with its path and line instead of raising at the first one:
duplicate keys (which ``yaml.safe_load`` silently resolves to the last), keys that are not
strings, values the safe constructor refuses (``!!python/object`` tags), aliases that expand
without end ("billion laughs") or refer to themselves, and nesting deeper than any file of ours.

Examples
--------
>>> data, problems = load_plain("a: 1\nb: [x, y]\na: 2\n")
>>> data, problems
({'a': 1, 'b': ['x', 'y']}, ['a (line 3): duplicate key (first defined on line 1)'])
"""

from __future__ import annotations

from typing import Any, Callable

import yaml

try:  # libyaml parses several times faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["compose", "load_plain", "Walker", "Abort", "MAX_VALUES", "MAX_DEPTH"]


def compose(text: str) -> yaml.Node | None:
    """The document's node tree (None for an empty one); a syntax error is a ``yaml.YAMLError``."""
    return yaml.compose(text, Loader=_Loader)


def load_plain(text: str, *, merge_keys: bool = False, source: str = "") -> tuple[Any, list[str]]:
    """The document as plain Python values, and every problem found, each with its path and line.

    A value that cannot be built is ``None`` in the result and a problem in the list. Syntax
    errors are raised (``yaml.YAMLError``), as there is no document to walk.
    """
    root = compose(text)
    if root is None:
        return None, []
    walker = Walker(source, merge_keys=merge_keys)
    try:
        value = walker.value(root, "")
    except (Abort, RecursionError):
        value = None
        if not walker.problems:  # pragma: no cover - Abort always notes its problem first
            walker.problems.append("the document is nested too deeply to read")
    return value, walker.problems


#: values the walk may build from one document. Composed YAML shares an aliased node
#: instead of copying it, but turning nodes into values expands every alias: nine levels of
#: ten aliases ("billion laughs") would build 10**9 values. The built-in registry needs
#: about 3,600.
MAX_VALUES = 200_000
#: nesting deeper than this is not a registry (the schema nests five levels)
MAX_DEPTH = 64


#: the tag a mapping or list has when the document gives it none (or spells it out)
#: typed by yaml.Node: plain() looks a node's type up here (mypy refuses type[Node] keys of a narrower dict)
_PLAIN_TAGS: dict[type[yaml.Node], str] = {yaml.MappingNode: "tag:yaml.org,2002:map",
                                           yaml.SequenceNode: "tag:yaml.org,2002:seq"}


class Abort(Exception):
    """The document cannot be walked further (its aliases expand without end)."""


class Walker:
    """Turns composed YAML nodes into Python values, noting problems with their paths."""

    def __init__(self, source: str, *, merge_keys: bool = False):
        self.source = source
        self.merge_keys = merge_keys  # `<<: *anchor` merges (shift protocols); the registry has none
        self.problems: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._budget = MAX_VALUES
        self._active: set[int] = set()  # nodes being turned into values: an alias back to one is a cycle

    def problem(self, path: str, node: yaml.Node | None, message: str) -> None:
        where = f" (line {node.start_mark.line + 1})" if node is not None else ""
        self.problems.append(f"{path}{where}: {message}")

    def value(self, node: yaml.Node, path: str) -> Any:
        """A plain Python value; mappings become ``{key: (value, node)}``-free dicts.

        Aliases are followed with a budget (:data:`MAX_VALUES`) and a cycle check; a scalar
        the safe constructor cannot build (an unknown tag such as ``!!python/object``, a
        date that does not exist) is a problem at its path, never an exception.
        """
        self._budget -= 1
        if self._budget < 0:
            self.problem(path, node, f"the document's aliases expand to more than {MAX_VALUES:,} values "
                                     "(an alias bomb?); write the values out or use fewer nested aliases")
            raise Abort
        if path.count(".") + path.count("[") > MAX_DEPTH:
            self.problem(path, node, f"nested deeper than {MAX_DEPTH} levels")
            return None
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if not self.plain(node, path):
                return None
            if id(node) in self._active:
                self.problem(path, node, "an alias refers to a value that contains it (a cycle)")
                return None
            self._active.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return {k: self.value(v, f"{path}.{k}" if path else k)
                            for k, (v, _) in self.mapping(node, path).items()}
                return [self.value(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
            finally:
                self._active.discard(id(node))
        return self.scalar(node, path)

    def scalar(self, node: yaml.Node, path: str) -> Any:
        """One scalar, built by PyYAML's safe constructor; a value it refuses is a problem."""
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
            # yaml.constructor.ConstructorError for unknown tags; ValueError for 2001-13-45
            detail = str(exc).replace("\n", " ")[:200]
            self.problem(path, node, f"cannot read the value {getattr(node, 'value', '')!r:.80} "
                                     f"({type(exc).__name__}: {detail})")
            return None

    def plain(self, node: yaml.Node, path: str) -> bool:
        """Whether a mapping or list carries YAML's own tag; another (``!!python/object:...``, ``!!omap``) is a problem.

        The safe constructor would refuse such a node, but this walker builds collections
        itself: without this check the tag would be silently dropped.
        """
        plain = _PLAIN_TAGS[type(node)]
        if node.tag == plain:
            return True
        self.problem(path, node, f"the tag {node.tag[:80]!r} is not allowed on {kind(node)}: a registry holds "
                                 "plain YAML mappings, lists and scalars; remove the tag")
        return False

    def mapping(self, node: yaml.Node, path: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (value node, key node); duplicate and non-string keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(path, node, f"expected a mapping, found {kind(node)}")
            return {}
        if not self.plain(node, path):
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merged: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if self.merge_keys and key_node.tag == "tag:yaml.org,2002:merge":
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:  # the first mapping named wins, and keys written here win over all
                    for key, item in self.mapping(source, path).items():
                        merged.setdefault(key, item)
                continue
            # a key is a scalar in every registry: a mapping or list key is refused unbuilt
            key = self.scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else key_node.tag
            if not isinstance(key, str) or not isinstance(key_node, yaml.ScalarNode):
                self.problem(path, key_node, f"keys must be strings, found {key!r}")
                continue
            if key in out:
                first = out[key][1].start_mark.line + 1
                self.problem(f"{path}.{key}" if path else key, key_node,
                             f"duplicate key (first defined on line {first})")
                continue
            out[key] = (value_node, key_node)
        return {**merged, **out}

    def fields(
        self, node: yaml.Node, path: str, allowed: dict[str, bool]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """A mapping whose keys are checked against ``allowed`` (key -> required)."""
        items = self.mapping(node, path)
        if not isinstance(node, yaml.MappingNode):
            return items
        for key, (_, key_node) in items.items():
            if key not in allowed:
                hint = close(key, allowed)
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


def kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.value!r}"


def close(word: str, choices: Any) -> str:
    """'; did you mean X?' for the closest of ``choices``, else the list of them."""
    import difflib

    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {matches[0]!r}?" if matches else f"; allowed: {', '.join(sorted(choices))}"
