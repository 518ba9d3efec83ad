"""Public names imported on first use: the package faces' ``__getattr__`` (PEP 562), written once.

``import mnistfamily`` and ``import mnistfamily.shift`` import none of their heavy modules: a
name is looked up in a table of the submodules that define it and imported when first used.

Examples
--------
>>> namespace = {"__name__": "mnistfamily", "__all__": ["load"]}
>>> getattr_, dir_ = lazy_names(namespace, {"load": "api"})
>>> getattr_("load").__name__, "load" in namespace, dir_()
('load', True, ['__all__', '__name__', 'load'])
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

__all__ = ["lazy_names"]


def lazy_names(namespace: dict[str, Any], table: Mapping[str, str], subpackages: Iterable[str] = ()
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the package whose globals are ``namespace``.

    ``table`` maps a public name to the submodule (relative to the package) that defines it;
    ``subpackages`` are reachable as attributes without an explicit import. A name, once
    imported, is stored in ``namespace``, so the lookup happens once.
    """
    package = namespace["__name__"]
    subpackages = frozenset(subpackages)

    def __getattr__(name: str) -> Any:
        import importlib

        if name in subpackages:
            return importlib.import_module(f".{name}", package)
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())) | subpackages)

    return __getattr__, __dir__
