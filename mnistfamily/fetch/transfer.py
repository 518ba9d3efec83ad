"""Copying bytes from a location to a temporary file, with timeouts, retries and progress."""

from __future__ import annotations

import logging
import os
import random
import shutil
import sys
import time
from pathlib import Path

from .. import config
from .locations import Location

log = logging.getLogger("mnistfamily.fetch")

_CHUNK = 1 << 20
#: seconds before a connection attempt, or a silence in the middle of a body, is given up
CONNECT_TIMEOUT = float(os.environ.get("MNISTFAMILY_CONNECT_TIMEOUT", "30"))
READ_TIMEOUT = float(os.environ.get("MNISTFAMILY_READ_TIMEOUT", "60"))
#: attempts per location for transient failures (5xx, 429, resets, timeouts, short bodies)
ATTEMPTS = int(os.environ.get("MNISTFAMILY_RETRIES", "3"))
#: first backoff in seconds; doubled at each retry, with jitter
BACKOFF = float(os.environ.get("MNISTFAMILY_BACKOFF", "1.0"))
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "Mozilla/5.0 (compatible; mnistfamily; +https://pypi.org/project/mnistfamily/)"


class TransferFailed(Exception):
    """One attempt failed; ``transient`` says whether trying again may help."""

    def __init__(self, reason: str, transient: bool):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def _http_filesystem(storage_options: dict | None):
    import aiohttp
    import fsspec

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
    # the user's options are merged into ours, not swapped for them: their headers and client
    # settings win where they overlap, our timeouts and identity encoding stay otherwise
    options = dict(storage_options or {})
    client = dict(options.pop("client_kwargs", {}) or {})
    headers = {"User-Agent": USER_AGENT,
               "Accept-Encoding": "identity",  # the published bytes, not a server's re-encoding
               **dict(client.pop("headers", {}) or {})}
    client = {"timeout": timeout, **client, "headers": headers}
    return fsspec.filesystem("http", client_kwargs=client, **options)


def _open(location: Location, storage_options: dict | None, size: int | None):
    protocol = location.protocol
    if protocol == "":
        return open(location.url, "rb")
    if protocol in ("http", "https"):
        fs = _http_filesystem(storage_options)
        # block_size=0: one streamed GET instead of many ranged requests. A known size skips
        # fsspec's HEAD, whose failures it reports as "not found" whatever the status was.
        return fs.open(location.url, "rb", block_size=0, size=size)
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
        fs = _http_filesystem(storage_options)
        return fs.open(location.url, "rb", block_size=1 << 20, size=size, cache_type="readahead")
    fs, path = fsspec.core.url_to_fs(location.url, **(storage_options or {}))
    return fs.open(path, "rb")


def _classify(exc: BaseException) -> TransferFailed:
    if isinstance(exc, TransferFailed):
        return exc
    if isinstance(exc, FileNotFoundError):
        return TransferFailed("not found (404 or no such file)", transient=False)
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return TransferFailed(f"HTTP {status}", transient=status in _TRANSIENT_STATUS)
    if isinstance(exc, PermissionError):
        return TransferFailed(f"permission denied: {exc}", transient=False)
    name = type(exc).__name__
    text = str(exc) or name
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return TransferFailed(f"timed out ({text})", transient=True)
    if isinstance(exc, (ConnectionError, OSError, EOFError)) or "Client" in name or "Payload" in name:
        return TransferFailed(f"{name}: {text}", transient=True)
    return TransferFailed(f"{name}: {text}", transient=False)


def copy_to(location: Location, target: Path, *, limit: int | None, desc: str,
            storage_options: dict | None = None) -> int:
    """Copy one location into ``target`` (a temporary path), at most ``limit`` bytes.

    Retries transient failures with exponential backoff; raises :class:`TransferFailed`.
    """
    delay = BACKOFF
    for attempt in range(1, max(ATTEMPTS, 1) + 1):
        try:
            return _copy_once(location, target, limit=limit, desc=desc, storage_options=storage_options)
        except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
            failure = _classify(exc)
            target.unlink(missing_ok=True)
            if not failure.transient or attempt == ATTEMPTS:
                if attempt > 1:
                    failure.reason += f" (after {attempt} attempts)"
                raise failure from None
            log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)",
                        location.url, failure.reason, delay, attempt + 1, ATTEMPTS)
            time.sleep(delay * (1 + random.random() * 0.25))
            delay *= 2
    raise AssertionError("unreachable")


def _copy_once(location: Location, target: Path, *, limit: int | None, desc: str,
               storage_options: dict | None) -> int:
    if location.protocol == "" and not os.path.isfile(location.url):
        raise TransferFailed("no such file", transient=False)
    src = _open(location, storage_options, limit)
    bar = _progress(desc, limit) if location.is_network else None
    written = 0
    try:
        with src, open(target, "wb") as out:
            if location.protocol == "" and limit is None:
                shutil.copyfileobj(src, out, _CHUNK)
                return out.tell()
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if limit is not None and written > limit:
                    raise TransferFailed(
                        f"larger than expected: more than {limit:,} bytes (the registry's size); "
                        "this is not the published file", transient=False)
                out.write(chunk)
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
