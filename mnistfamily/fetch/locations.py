"""Where a file may be found, in the order it is tried.

With ``source=``: that folder or URL only (and its ``<family>/`` subfolder), under the
published name and the common variants (uncompressed; dotted ``train-images.idx3-ubyte``).
Otherwise: ``MNISTFAMILY_MIRROR`` bases, then the registry's mirrors, then the canonical URL.

Also here, because it is about where a location's URL may lead: :func:`plain_http_refusal`
(what is never fetched over an unencrypted transport). Credentials in URLs are hidden by
:mod:`mnistfamily.redaction`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..errors import DownloadError
from ..redaction import redact
from ..registry import DatasetSpec, FileSpec, join_url, packaged_data_dir

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

    @property
    def shown(self) -> str:
        """The URL as logs and errors may show it: without user, password or signed query values."""
        return redact(self.url)


def cached_path(root: Path, spec: DatasetSpec, file: FileSpec) -> Path:
    """Where the verified copy of ``file`` lives in the cache (or inside the package)."""
    if spec.packaged:
        return packaged_data_dir() / spec.family / file.name
    return config.downloads_dir(root) / spec.family / file.name


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


#: the folder torchvision keeps a family's raw files in, under its ``root``: ``<root>/<name>/raw/``
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST",
                       "qmnist": "QMNIST", "emnist": "EMNIST"}


def source_folders(source: str, spec: DatasetSpec, file: FileSpec) -> list[str]:
    """The folders of ``source=`` searched for ``file``, in order.

    The folder itself and its ``<family>/`` subfolder; for a member of an archive also the
    ``gzip/`` folder the archive unpacks to (EMNIST); and torchvision's ``<Name>/raw/`` layout
    (``source=`` its root, the ``<Name>`` folder or the ``raw`` folder itself).

    >>> from mnistfamily.registry import get_registry
    >>> spec = get_registry().dataset("emnist/balanced")
    >>> source_folders("data", spec, spec.file("emnist-balanced-test-images-idx3-ubyte.gz"))
    ['data', 'data/emnist', 'data/gzip', 'data/emnist/gzip', 'data/EMNIST/raw', 'data/raw']
    """
    source = expand(source)
    folders = [source, join_url(source, spec.family)]
    if file.archive is not None and file.member and "/" in file.member:
        inner = file.member.rsplit("/", 1)[0]  # "gzip": the folder the archive's members sit in
        folders += [join_url(source, inner), join_url(join_url(source, spec.family), inner)]
    torchvision = TORCHVISION_FOLDERS.get(spec.family)
    if torchvision is not None:
        folders += [join_url(join_url(source, torchvision), "raw"), join_url(source, "raw")]
    return list(dict.fromkeys(folders))


def source_locations(source: str, spec: DatasetSpec, file: FileSpec) -> list[Location]:
    """Candidates inside a user's ``source=`` folder or URL: every folder, every name variant."""
    return [Location(join_url(folder, variant), "source")
            for folder in source_folders(source, spec, file) for variant in name_variants(file.name)]


def check_source_folder(source: str, spec: DatasetSpec, files: list[FileSpec], what: str) -> None:
    """Before anything is copied from a local ``source=``: say at once everything that is wrong.

    A ``source=`` that does not exist, or is a file, and every file of ``files`` that the folder
    does not hold (under any accepted name; for an archive member, nor its archive) or holds only
    in a form that cannot be verified (decompressed, while no checksum of the decompressed
    content is known), are reported together in one :class:`~mnistfamily.errors.DownloadError`
    that lists each file with the names it is accepted under. URLs are left alone: listing a
    remote folder would itself be network traffic.
    """
    import os

    if protocol_of(source) != "" or not files:
        return
    folder = expand(source)
    problems: list[str] = []
    for file in files:
        found, unverifiable = _candidates(folder, spec, file)
        if file.archive is not None and not found:
            found, _ = _candidates(folder, spec, spec.file(file.archive))
        if found:
            continue
        if unverifiable:
            problems.append(f"{file.name}: found {unverifiable[0]} decompressed, but no checksum of its decompressed "
                            f"content is published, so it cannot be verified; provide {_accepted(file, True)}")
        else:
            problems.append(f"{file.name} (or {_accepted(file, False)})")
    if os.path.isdir(folder) and not problems:
        return
    needed = "\n".join(f"  - {p}" for p in problems) if problems else ""
    if not os.path.exists(folder):
        head = f"{what}: source= {folder} does not exist."
    elif not os.path.isdir(folder):
        head = f"{what}: source= {folder} is a file, not a folder."
        if any(os.path.basename(folder) in name_variants(f.name) or os.path.basename(folder) == f.archive
               for f in files):
            head += f" It is one of the files needed: pass the folder that holds it, source={os.path.dirname(folder) or '.'}."
    else:
        searched = ", ".join(source_folders(folder, spec, files[0]))
        head = (f"{what}: {len(problems)} of the {len(files)} files needed cannot be taken from source= {folder} "
                f"(searched {searched}).")
    raise DownloadError(
        f"{head} The files needed:\n{needed}\nPut them in one folder, as published or under one of the names "
        "listed, and pass source= that folder. source= is used instead of mirrors and the internet, so "
        "nothing was downloaded.")


def _candidates(folder: str, spec: DatasetSpec, file: FileSpec) -> tuple[list[str], list[str]]:
    """Paths in ``folder`` that may be ``file``, split into usable ones and ones that cannot be verified."""
    import os

    from ..formats.compression import detect

    usable: list[str] = []
    unverifiable: list[str] = []
    for location in source_locations(folder, spec, file):
        path = location.url
        if not os.path.isfile(path):
            continue
        if not file.verifiable or file.payload_sha256 or os.path.basename(path) == file.name:
            usable.append(path)
            continue
        try:
            with open(path, "rb") as handle:
                kind = detect(handle.read(8))
        except OSError:
            kind = None
        (usable if kind is not None else unverifiable).append(path)
    return usable, unverifiable


def _accepted(file: FileSpec, compressed_only: bool) -> str:
    """What else ``file`` is accepted as: its other names (or only the published file), or its archive."""
    names = [file.name] if compressed_only else name_variants(file.name)[1:]
    if file.archive is not None:
        names.append(f"the archive {file.archive} holding it")
    return " or ".join(names)


def failure_advice(locations: list[Location]) -> str:
    """What to do after no location gave a verified copy: advice that fits where the copies came from.

    >>> failure_advice([Location("/data/x.gz", "source")])[:45]
    'The copies in source= are not the published f'
    """
    if locations and all(loc.kind == "source" for loc in locations):
        if any(loc.is_network for loc in locations):
            return ("Check that source= holds the published files and can be read, or pass source= a local folder "
                    "holding them.")
        return ("The copies in source= are not the published files (damaged, truncated, or another version): "
                "replace them with the files as published, or pass source= a folder that holds those.")
    return ("Check your network or mirrors (MNISTFAMILY_MIRROR), or download the file yourself and "
            "pass source= the folder that holds it.")


def remote_locations(spec: DatasetSpec, file: FileSpec) -> list[Location]:
    """Environment mirrors, registry mirrors, then the canonical URL."""
    out = [Location(join_url(join_url(expand(base), spec.family), file.name), "env-mirror")
           for base in config.mirrors()]
    out += [Location(url, "mirror") for url in spec.mirror_urls(file)]
    canonical = spec.canonical_url(file)
    if canonical:
        out.append(Location(canonical, "canonical"))
    return out


# ---------------------------------------------------------------------------
# Plain http: only with a checksum to verify against
# ---------------------------------------------------------------------------

#: transports without encryption or server authentication: anyone on the path can change the bytes
PLAIN_PROTOCOLS = {"http", "ftp"}


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is ``localhost`` or a loopback address (decided without any lookup).

    >>> is_loopback_url("http://127.0.0.1:8000/x"), is_loopback_url("http://[::1]/x"), is_loopback_url("http://example.org/x")
    (True, True, False)
    """
    import ipaddress
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a name: resolving it here would itself be network traffic


def plain_http_refusal(url: str, file: FileSpec) -> str | None:
    """Why ``url`` must not be used for ``file``, or None when it may be.

    The policy: a plain (unencrypted) ``http://`` or ``ftp://`` URL is used only for a file
    the registry has a checksum for. Over such a transport anyone on the path can change
    the bytes; a sha256 (or md5) catches that, but a file without a checksum -- used only
    with ``allow_unverified=True`` -- would be accepted whatever arrived. Loopback hosts
    (``localhost``, ``127.0.0.0/8``, ``::1``) are exempt: that traffic never leaves the
    machine (local test servers, a proxy on the same host). The answer depends on the URL
    alone, so a refusal comes before any connection or name lookup.

    >>> from mnistfamily.registry import FileSpec
    >>> plain_http_refusal("http://example.org/x.gz", FileSpec("x.gz", None, None, None))[:38]
    'refused: plain http without a checksum'
    >>> plain_http_refusal("https://example.org/x.gz", FileSpec("x.gz", None, None, None)) is None
    True
    """
    if file.verifiable or protocol_of(url) not in PLAIN_PROTOCOLS or is_loopback_url(url):
        return None
    return (f"refused: plain {protocol_of(url)} without a checksum to verify {file.name} against "
            "(anyone on the path could change the bytes). Use an https:// URL or a local source= "
            "folder, or add the file's sha256 to the registry")
