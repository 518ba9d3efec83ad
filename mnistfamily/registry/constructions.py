"""Constructions: environments whose labels and examples are made from the base rows by a published recipe.

A registry entry dealt into environments (``environments:``) may name a ``construction``
instead of (or before) transforms: a recipe that decides, from the seed, which base rows go to
which environment, what each row's label becomes, and the example built from it. The table
here is data for the registry stage: a construction's options, the classes its labels index,
the columns it adds and the constant column every environment declares for it. The code is a
dotted ``"module:function"`` path imported only when an entry is prepared (as the format table,
``registry/formats.py``, names decoders).

``coloredmnist``: Arjovsky et al.'s ColoredMNIST (the IRM paper) as DomainBed deals it
(``protocol: domainbed``: every ``from`` row, shuffled, dealt round-robin) or as the IRM code
does (``protocol: irm``: the first ``train_size`` rows shuffled and alternated between the
first two environments, the rest, in published order, the third). The binary label (digits
0-4 -> 1) is flipped with probability ``label_noise``; the colour is that label flipped with the
environment's ``e`` (its declared column); the image is 2 channels, channels last, after taking
every ``subsample``-th row and column (IRM: 2, 28x28 -> 14x14).

Examples
--------
>>> from mnistfamily.registry.constructions import CONSTRUCTIONS, environment_sizes
>>> CONSTRUCTIONS["coloredmnist"].classes
('5-9', '0-4')
>>> environment_sizes({"name": "coloredmnist", "protocol": "irm", "train_size": 50000}, 60000, 3)
[25000, 25000, 10000]
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["CONSTRUCTIONS", "Construction", "construction_problems", "environment_sizes"]


@dataclass(frozen=True)
class Construction:
    """One construction of environments (see the module docstring)."""

    name: str
    #: the class names the constructed labels index (the base's classes no longer apply)
    classes: tuple[str, ...]
    #: the constant column each environment declares: the construction's parameter for it
    environment_column: str
    #: the per-row columns the construction adds to every environment
    columns: tuple[str, ...]
    #: the channels of the examples it makes (channels last)
    channels: int
    #: ``"module:function"`` that prepares an environment's rows (prepare stage, imported on use)
    builder: str
    description: str = ""


CONSTRUCTIONS: Mapping[str, Construction] = MappingProxyType({c.name: c for c in [
    Construction("coloredmnist", classes=("5-9", "0-4"), environment_column="e",
                 columns=("digit", "label_noise", "colour", "colour_flip"), channels=2,
                 builder="mnistfamily.transforms.coloredmnist:construct",
                 description="ColoredMNIST (Arjovsky et al. 2019), dealt as DomainBed or as the IRM code deals it"),
]})

#: how a coloredmnist construction deals the rows
_PROTOCOLS = ("domainbed", "irm")


def construction_problems(data: Any, environments: int, sources: int,
                          declared: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(key, problem)`` pairs for a ``construction:`` mapping; empty when it is sound.

    ``environments`` and ``sources`` count the entry's environments and ``from`` splits;
    ``declared`` maps each environment to its constant columns.
    """
    if not isinstance(data, dict):
        return [("", "expected a mapping with a 'name' (one of " + ", ".join(CONSTRUCTIONS) + ")")]
    row = CONSTRUCTIONS.get(data.get("name"))  # type: ignore[arg-type]
    if row is None:
        return [("name", f"expected one of {', '.join(CONSTRUCTIONS)}; found {data.get('name')!r}")]
    problems = []
    known = {"name", "protocol", "label_noise", "train_size", "subsample"}
    for key in data:
        if key not in known:
            problems.append((str(key), f"unknown key (a {row.name} construction takes {', '.join(sorted(known))})"))
    protocol = data.get("protocol")
    if protocol not in _PROTOCOLS:
        problems.append(("protocol", f"expected one of {', '.join(_PROTOCOLS)}; found {protocol!r}"))
    noise = data.get("label_noise", 0.25)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
        problems.append(("label_noise", f"expected a probability in [0, 1]; found {noise!r}"))
    subsample = data.get("subsample", 1)
    if isinstance(subsample, bool) or not isinstance(subsample, int) or subsample < 1:
        problems.append(("subsample", f"expected a positive integer; found {subsample!r}"))
    if protocol == "irm":
        size = data.get("train_size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
            problems.append(("train_size", f"the irm protocol needs train_size, a number of rows of at least 2; "
                                           f"found {size!r}"))
        if environments != 3 or sources != 1:
            problems.append(("protocol", f"the irm protocol deals one 'from' split into 3 environments (two "
                                         f"training, one test); found {sources} split(s) and {environments} "
                                         "environment(s)"))
    elif "train_size" in data:
        problems.append(("train_size", "only the irm protocol takes train_size"))
    for env, columns in declared.items():
        e = columns.get(row.environment_column)
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 <= e <= 1:
            problems.append((f"({env})", f"environment {env!r} must declare columns: {{{row.environment_column}: "
                                         f"<colour-flip probability in [0, 1]>}}; found {e!r}"))
    return problems


def environment_sizes(data: Mapping[str, Any], total: int, k: int) -> list[int]:
    """The number of rows each of ``k`` environments gets from ``total`` joined base rows."""
    if data.get("protocol") == "irm":
        train = int(data["train_size"])
        return [(train + 1) // 2, train // 2, total - train]
    return [len(range(i, total, k)) for i in range(k)]
