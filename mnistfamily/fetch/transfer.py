"""Copying bytes from a location to a temporary file, with timeouts, retries and progress."""

from __future__ import annotations

import base64
import logging
import os
import random
import sys
import time
from pathlib import Path

from .. import config
from ..errors import CacheError, MnistFamilyError
from ..registry import FileSpec
from .locations import Location, plain_http_refusal, redact, secret_values, split_credentials

log = logging.getLogger("mnistfamily.fetch")

_CHUNK = 1 << 20
# Retry and timeout settings: None reads the environment (MNISTFAMILY_RETRIES, _BACKOFF,
# _CONNECT_TIMEOUT, _READ_TIMEOUT; see config.py) when a download starts, so a variable set
# after import still counts. A program or a test may assign a number here to override it.
#: seconds before a connection attempt is given up
CONNECT_TIMEOUT: float | None = None
#: seconds of silence in the middle of a body before it is given up
READ_TIMEOUT: float | None = None
#: attempts per location for transient failures (5xx, 429, resets, timeouts, short bodies)
ATTEMPTS: int | None = None
#: first backoff in seconds; doubled at each retry, with jitter
BACKOFF: float | None = None
_MAX_DETAIL = 300  # characters of an exception's text kept in a failure's reason
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "Mozilla/5.0 (compatible; mnistfamily; +https://pypi.org/project/mnistfamily/)"


class TransferFailed(Exception):
    """One attempt failed; ``transient`` says whether trying again may help."""

    def __init__(self, reason: str, transient: bool):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def attempts() -> int:
    """Attempts per location: ``ATTEMPTS`` if set, else ``MNISTFAMILY_RETRIES``."""
    return max(int(ATTEMPTS), 1) if ATTEMPTS is not None else config.retries()


def _backoff() -> float:
    return float(BACKOFF) if BACKOFF is not None else config.backoff()


def _timeouts() -> tuple[float, float]:
    """(connect, read) timeouts in seconds: the module overrides if set, else the environment."""
    return (float(CONNECT_TIMEOUT) if CONNECT_TIMEOUT is not None else config.connect_timeout(),
            float(READ_TIMEOUT) if READ_TIMEOUT is not None else config.read_timeout())


def _http_filesystem(storage_options: dict | None, credentials: tuple[str, str] | None = None):
    import aiohttp
    import fsspec

    connect, read = _timeouts()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
    # the user's options are merged into ours, not swapped for them: their headers and client
    # settings win where they overlap, our timeouts and identity encoding stay otherwise
    options = dict(storage_options or {})
    client = dict(options.pop("client_kwargs", {}) or {})
    headers = {"User-Agent": USER_AGENT,
               "Accept-Encoding": "identity",  # the published bytes, not a server's re-encoding
               **dict(client.pop("headers", {}) or {})}
    if credentials is not None and "auth" not in client and not any(k.lower() == "authorization" for k in headers):
        # user:password from the URL travel as a Basic auth header instead (fsspec logs URLs);
        # an Authorization or auth the caller gave explicitly wins
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode("utf-8")).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    client = {"timeout": timeout, **client, "headers": headers}
    return fsspec.filesystem("http", client_kwargs=client, **options)


def _open(location: Location, storage_options: dict | None, size: int | None):
    protocol = location.protocol
    if protocol == "":
        return open(location.url, "rb")
    if protocol in ("http", "https"):
        url, credentials = split_credentials(location.url)
        fs = _http_filesystem(storage_options, credentials)
        # block_size=0: one streamed GET instead of many ranged requests. A known size skips
        # fsspec's HEAD, whose failures it reports as "not found" whatever the status was.
        return fs.open(url, "rb", block_size=0, size=size)
    import fsspec

    fs, path = fsspec.core.url_to_fs(location.url, **(storage_options or {}))
    return fs.open(path, "rb")


def open_random_access(location: Location, storage_options: dict | None, size: int | None):
    """A seekable file object over a location; over HTTP every read is a range request."""
    protocol = location.protocol
    if protocol == "":
        return open(location.url, "rb")
    import fsspec

    if protocol in ("http", "https"):
        url, credentials = split_credentials(location.url)
        fs = _http_filesystem(storage_options, credentials)
        return fs.open(url, "rb", block_size=1 << 20, size=size, cache_type="readahead")
    fs, path = fsspec.core.url_to_fs(location.url, **(storage_options or {}))
    return fs.open(path, "rb")


def _classify(exc: BaseException) -> TransferFailed:
    if isinstance(exc, TransferFailed):
        return exc
    if isinstance(exc, FileNotFoundError):
        return TransferFailed("not found (404 or no such file)", transient=False)
    name = type(exc).__name__
    if name == "TooManyRedirects":  # before the status check: aiohttp gives it the status of no response
        history = getattr(exc, "history", ()) or ()
        return TransferFailed(f"too many redirects ({len(history)} followed; a redirect loop?): ask the "
                              "mirror's operator, or use another mirror", transient=False)
    status = getattr(exc, "status", None)
    message = getattr(exc, "message", None)
    if isinstance(message, str) and ("Bad status line" in message or "Expected HTTP/" in message
                                     or "Data after" in message):
        # aiohttp's parser failed on bytes past the announced body and calls that a 400 the
        # server never sent: a Content-Length smaller than the body. Trying again gets the same.
        return TransferFailed("the answer broke the HTTP protocol (data after the announced Content-Length: "
                              "a wrong Content-Length?)", transient=False)
    if isinstance(status, int) and status >= 100:
        return TransferFailed(f"HTTP {status}", transient=status in _TRANSIENT_STATUS)
    if isinstance(exc, PermissionError):
        return TransferFailed(f"permission denied: {exc}", transient=False)
    text = str(exc) or name
    if len(text) > _MAX_DETAIL:  # parser errors quote whole bodies
        text = text[:_MAX_DETAIL] + " ..."
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return TransferFailed(f"timed out ({text})", transient=True)
    if "Payload" in name:  # the connection ended (FIN or RST) before the announced length
        return TransferFailed(f"the body was cut short ({name}: {text})", transient=True)
    if isinstance(exc, (ConnectionError, OSError, EOFError)) or "Client" in name:
        return TransferFailed(f"{name}: {text}", transient=True)
    return TransferFailed(f"{name}: {text}", transient=False)


def copy_to(location: Location, target: Path, *, limit: int | None, desc: str,
            storage_options: dict | None = None, file: FileSpec | None = None) -> int:
    """Copy one location into ``target`` (a temporary path), at most ``limit`` bytes.

    Retries transient failures with exponential backoff; raises :class:`TransferFailed`,
    whose reason never shows credentials from the URL or ``storage_options``. Given the
    ``file`` being fetched, a redirect that ends on a plain-http URL is refused for a file
    without a checksum (see :func:`~.locations.plain_http_refusal`).
    """
    tries = attempts()
    delay = _backoff()
    _timeouts()  # a bad setting is a ConfigError now, not a failed attempt at every location
    secrets = secret_values(storage_options)
    for attempt in range(1, tries + 1):
        try:
            return _copy_once(location, target, limit=limit, desc=desc, storage_options=storage_options,
                              file=file)
        except MnistFamilyError:
            target.unlink(missing_ok=True)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
            failure = _classify(exc)
            failure.reason = redact(failure.reason, secrets)
            target.unlink(missing_ok=True)
            if not failure.transient or attempt == tries:
                if attempt > 1:
                    failure.reason += f" (after {attempt} attempts)"
                raise failure from None
            log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)",
                        location.shown, failure.reason, delay, attempt + 1, tries)
            time.sleep(delay * (1 + random.random() * 0.25))
            delay *= 2
    raise AssertionError("unreachable")


def _final_url(src) -> str | None:
    """Where an HTTP answer finally came from, after redirects (fsspec's stream keeps the response)."""
    response = getattr(src, "r", None)
    url = getattr(response, "url", None)
    return None if url is None else str(url)


def _copy_once(location: Location, target: Path, *, limit: int | None, desc: str,
               storage_options: dict | None, file: FileSpec | None = None) -> int:
    if location.protocol == "" and not os.path.isfile(location.url):
        raise TransferFailed("no such file", transient=False)
    src = _open(location, storage_options, limit)
    if file is not None and location.protocol in ("http", "https"):
        final = _final_url(src)
        refusal = plain_http_refusal(final, file) if final else None
        if refusal is not None:  # an https URL redirected to plain http: not one byte is read
            src.close()
            raise TransferFailed(f"redirected to {redact(final or '')}: {refusal}", transient=False)
    bar = _progress(desc, limit) if location.is_network else None
    written = 0
    try:
        with src, open(target, "wb") as out:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if limit is not None and written > limit:
                    raise TransferFailed(
                        f"larger than expected: more than {limit:,} bytes (the registry's size); "
                        "this is not the published file", transient=False)
                try:
                    out.write(chunk)
                except OSError as exc:  # the local disk's failure, not the location's: no retry, no next mirror
                    raise CacheError.cannot_write(desc, target.parent, exc) from None
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return written


def _progress(desc: str, total: int | None):
    if not config.progress_enabled(sys.stderr.isatty()):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, leave=False)
