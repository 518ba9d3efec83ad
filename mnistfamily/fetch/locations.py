"""Where a file may be found, in the order it is tried.

With ``source=``: that folder or URL only (and its ``<family>/`` subfolder), under the
published name and the common variants (uncompressed; dotted ``train-images.idx3-ubyte``).
Otherwise: ``MNISTFAMILY_MIRROR`` bases, then the registry's mirrors, then the canonical URL.

Also here, because they are about what a location's URL may carry and where it may lead:
:func:`redact` (credentials never leave this layer in a log line or an error) and
:func:`plain_http_refusal` (what is never fetched over an unencrypted transport).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

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

    @property
    def shown(self) -> str:
        """The URL as logs and errors may show it: without user, password or signed query values."""
        return redact(self.url)


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


# ---------------------------------------------------------------------------
# Credentials: never in a log line or an error message
# ---------------------------------------------------------------------------

#: ``scheme://user:password@`` -- the whole userinfo goes: tokens are often passed as the user name
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#@\s'\"<>]+)@")
#: query parameters of presigned URLs and API keys (X-Amz-Signature, sig, token, access_token, ...)
_SECRET_WORDS = ("auth", "token", "secret", "password", "passwd", "pwd", "key", "credential",
                 "signature", "sig", "session", "cookie", "bearer")
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&;](?:[^=&#\s'\"<>]*(?:" + "|".join(_SECRET_WORDS) + r")[^=&#\s'\"<>]*)=)"
    r"(?P<value>[^&#\s'\"<>]+)", re.IGNORECASE)
REDACTED = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL credentials, signed query values and the given secret strings replaced by ``***``.

    >>> redact("http://alice:s3cret@example.org/mnist/x.gz?X-Amz-Signature=abc&v=1: HTTP 403")
    'http://***@example.org/mnist/x.gz?X-Amz-Signature=***&v=1: HTTP 403'
    >>> redact("sent Bearer tok123", secrets=["tok123"])
    'sent Bearer ***'
    """
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    text = _SECRET_QUERY.sub(lambda m: f"{m.group('name')}{REDACTED}", text)
    # longest first, so a secret that contains another is replaced whole
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def secret_values(storage_options: Any) -> list[str]:
    """Every string in ``storage_options`` that may be a credential, to be redacted from messages.

    Values under keys that name a credential (``key``, ``secret``, ``token``, ``password``,
    ``Authorization``, ``session_token``, ...), every header value but a few harmless ones, and
    the user and password of auth objects (``aiohttp.BasicAuth``). Strings shorter than 4
    characters are left out: redacting ``"1"`` everywhere would garble every message.

    >>> sorted(secret_values({"headers": {"Authorization": "Bearer XYZ1"}, "key": "AKIA1", "anon": False}))
    ['AKIA1', 'Bearer XYZ1', 'XYZ1']
    """
    found: list[str] = []
    _collect(storage_options, False, found)
    return [s for s in dict.fromkeys(found) if len(s) >= 4]


_HARMLESS_HEADERS = {"user-agent", "accept", "accept-encoding", "accept-language", "range", "content-type",
                     "connection", "cache-control"}


def _collect(value: Any, sensitive: bool, found: list[str]) -> None:
    if isinstance(value, str):
        if sensitive:
            found.append(value)
            # "Bearer XYZ", "Basic dXNlcjpw": the credential alone may be echoed too
            scheme, _, credential = value.partition(" ")
            if credential and scheme.isalpha():
                found.append(credential.strip())
        return
    if isinstance(value, bytes):
        _collect(value.decode("utf-8", "replace"), sensitive, found)
        return
    if isinstance(value, dict) or hasattr(value, "items"):
        for name, item in value.items():
            lowered = str(name).lower()
            item_sensitive = sensitive or any(word in lowered for word in _SECRET_WORDS)
            if lowered == "headers" and hasattr(item, "items"):
                for header, header_value in item.items():
                    _collect(header_value, str(header).lower() not in _HARMLESS_HEADERS, found)
                continue
            _collect(item, item_sensitive, found)
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        login = getattr(value, "login", None)  # aiohttp.BasicAuth is a namedtuple
        if isinstance(login, str):
            found.append(login)
            found.append(str(getattr(value, "password", "")))
            encode = getattr(value, "encode", None)  # "Basic dXNlcjpwYXNz": the header form
            if callable(encode):
                found.append(str(encode()).partition(" ")[2])
            return
        for item in value:
            _collect(item, sensitive, found)


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@`` part, and that user and password (percent-decoded).

    The credentials travel in an ``Authorization`` header instead, so the URL handed to
    fsspec (which logs URLs at DEBUG level) never carries them.

    >>> split_credentials("https://alice:p%40ss@example.org/x.gz")
    ('https://example.org/x.gz', ('alice', 'p@ss'))
    >>> split_credentials("https://example.org/x.gz")
    ('https://example.org/x.gz', None)
    """
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), (unquote(user), unquote(password))


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
