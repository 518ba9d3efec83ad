"""Credentials never appear in a log record or an error message: they are replaced by ``***``.

What counts as a credential: the ``user:password@`` of a URL, the values of signed query
parameters (``X-Amz-Signature``, ``token``, ...) and every secret string of a call's
``storage_options`` (keys, tokens, passwords, auth headers). :func:`redact` cleans one
message; :func:`redacting` is the block inside which the secrets of one fetch or export are
also cleaned from the records of our loggers and of the filesystem libraries that dump requests
(with their auth headers) at DEBUG level; :func:`split_credentials` takes a URL's credentials
out so that they travel in a header rather than in a URL fsspec would log.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
from typing import Any, Iterable

__all__ = ["REDACTED", "redact", "secret_values", "split_credentials", "redacting", "redact_records"]

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
# Log records
# ---------------------------------------------------------------------------

#: secret strings of the storage_options of fetches in progress, with a count of their users.
#: Global rather than per context: third-party records come from fsspec's event-loop thread.
_ACTIVE_SECRETS: collections.Counter[str] = collections.Counter()
_SECRETS_LOCK = threading.Lock()
#: loggers of the filesystem libraries that dump requests (with their auth headers) at DEBUG level
_THIRD_PARTY_LOGGERS = ("botocore.endpoint", "botocore.auth", "botocore.parsers", "botocore.hooks",
                        "aiobotocore.endpoint", "s3fs", "fsspec", "fsspec.http", "gcsfs", "adlfs",
                        "urllib3.connectionpool", "aiohttp.client")


def _active_secrets() -> list[str]:
    with _SECRETS_LOCK:
        return list(_ACTIVE_SECRETS)


class _RedactingFilter(logging.Filter):
    """Redacts URL credentials and the secrets of fetches in progress from a logger's records."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the logging module's to report
            return True
        cleaned = redact(message, _active_secrets())
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_records(logger: logging.Logger) -> None:
    """Redact URL credentials and the secrets of fetches in progress from ``logger``'s records."""
    if not any(isinstance(f, _RedactingFilter) for f in logger.filters):  # never stacked
        logger.addFilter(_RedactingFilter())


class _Secrets:
    """While a fetch runs: its secrets are redacted from this package's and its filesystems' logs.

    Made by :func:`redacting`.
    """

    def __init__(self, storage_options: dict | None):
        self.values = secret_values(storage_options)

    def __enter__(self) -> "_Secrets":
        if self.values:
            for name in _THIRD_PARTY_LOGGERS:  # a filter only sees records of its own logger
                redact_records(logging.getLogger(name))
            with _SECRETS_LOCK:
                _ACTIVE_SECRETS.update(self.values)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.values:
            with _SECRETS_LOCK:
                _ACTIVE_SECRETS.subtract(self.values)
                for value in [v for v, n in _ACTIVE_SECRETS.items() if n <= 0]:
                    del _ACTIVE_SECRETS[value]


def redacting(storage_options: dict | None) -> _Secrets:
    """A context manager: inside it, the secrets of ``storage_options`` are replaced by ``***`` in the
    records of this package's fetch logger and of the filesystem libraries' request loggers
    (botocore, s3fs, fsspec, aiohttp, ...), which dump auth headers at DEBUG level.

    >>> with redacting({"key": "AKIAEXAMPLE"}) as secrets:
    ...     secrets.values
    ['AKIAEXAMPLE']
    """
    return _Secrets(storage_options)
