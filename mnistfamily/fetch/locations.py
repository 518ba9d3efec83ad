"""Where a file may be found, in the order it is tried.

With ``source=``: that folder or URL only (and its ``<family>/`` subfolder), under the
published name and the common variants (uncompressed; dotted ``train-images.idx3-ubyte``).
Otherwise: ``MNISTFAMILY_MIRROR`` bases, then the registry's mirrors, then the canonical URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import config
from ..registry import DatasetSpec, FileSpec, join_url

LOCAL_PROTOCOLS = {"", "file", "local", "memory"}
_DOTTED = re.compile(r"-(idx\d+-)")


@dataclass(frozen=True)
class Location:
    """A place to fetch a file from: an fsspec URL or a local path, and why it is on the list."""

    url: str
    kind: str  # "source", "env-mirror", "mirror", "canonical"

    @property
    def protocol(self) -> str:
        return protocol_of(self.url)

    @property
    def is_network(self) -> bool:
        return self.protocol not in LOCAL_PROTOCOLS


def protocol_of(url: str) -> str:
    """The fsspec protocol of a URL (``""`` for a plain path)."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", url)
    return match.group(1).lower() if match else ""


def name_variants(name: str) -> list[str]:
    """The published name and the names copies are commonly found under.

    >>> name_variants("train-images-idx3-ubyte.gz")
    ['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte', 'train-images.idx3-ubyte', 'train-images.idx3-ubyte.gz']
    """
    stem = name
    suffix = ""
    for s in (".gz", ".xz"):
        if name.endswith(s):
            stem, suffix = name[: -len(s)], s
    dotted = _DOTTED.sub(r".\1", stem, count=1)
    variants = [name, stem, dotted, dotted + suffix]
    return list(dict.fromkeys(v for v in variants if v))


def expand(location: str) -> str:
    """``~`` expanded in plain paths (URLs are left alone)."""
    import os

    return os.path.expanduser(location) if protocol_of(location) == "" else location


def source_locations(source: str, spec: DatasetSpec, file: FileSpec) -> list[Location]:
    """Candidates inside a user's ``source=`` folder or URL."""
    source = expand(source)
    bases = [source, join_url(source, spec.family)]
    return [Location(join_url(base, variant), "source") for base in bases for variant in name_variants(file.name)]


def remote_locations(spec: DatasetSpec, file: FileSpec) -> list[Location]:
    """Environment mirrors, registry mirrors, then the canonical URL."""
    out = [Location(join_url(join_url(expand(base), spec.family), file.name), "env-mirror")
           for base in config.mirrors()]
    out += [Location(url, "mirror") for url in spec.mirror_urls(file)]
    canonical = spec.canonical_url(file)
    if canonical:
        out.append(Location(canonical, "canonical"))
    return out
