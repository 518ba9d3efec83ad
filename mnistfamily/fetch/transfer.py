"""Copying bytes from a location to a temporary file: limits, retries, a retry budget, progress.

Limits, from the :class:`~mnistfamily.config.FetchSettings` of the fetch (or the environment, see
:mod:`mnistfamily.config`, for those it leaves ``None``) when a download starts:
a connect timeout, a read timeout (silence), a header deadline and a low-speed limit (see
:mod:`.http`), and a size cap: the registry's size, or ``MNISTFAMILY_MAX_UNKNOWN_SIZE`` for a
file whose size the registry does not know. Transient failures are retried at the same
location with exponential backoff, as long as the retry budget of the current load lasts.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from .. import config
from ..config import FetchSettings
from ..errors import CacheError, MnistFamilyError
from ..registry import FileSpec
from .failures import TransferFailed, classify
from .http import USER_AGENT, BufferedRangeReader, HttpAnswer, Limits, RangeReader, SpeedGuard
from ..redaction import redact, secret_values, split_credentials
from .locations import Location, plain_http_refusal

log = logging.getLogger("mnistfamily.fetch")

_CHUNK = 1 << 20

__all__ = ["TransferFailed", "classify", "copy_to", "open_random_access", "retry_budget", "RetryBudget",
           "missing_backend", "USER_AGENT"]


def _limits(settings: FetchSettings) -> Limits:
    """Every time limit of a transfer; a bad environment setting is a ``ConfigError`` here."""
    return Limits.from_config(*settings.timeouts())


# ---------------------------------------------------------------------------
# The retry budget: one per load, shared by every file and location
# ---------------------------------------------------------------------------


class RetryBudget:
    """How many more retries the current load may spend (``MNISTFAMILY_RETRY_BUDGET``)."""

    def __init__(self, retries: int):
        self.total = self.left = retries

    def take(self) -> bool:
        """Spend one retry if any is left."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True


_BUDGET: contextvars.ContextVar[RetryBudget | None] = contextvars.ContextVar("mnistfamily_retry_budget",
                                                                            default=None)


@contextlib.contextmanager
def retry_budget() -> Iterator[RetryBudget]:
    """Inside this block every download shares one budget of retries.

    Nested blocks share the outermost one. Without any block, each :func:`copy_to` gets a
    budget of its own. When the budget is spent, a transient failure moves on to the next
    location at once instead of being retried.

    >>> with retry_budget() as budget:
    ...     budget.total == budget.left
    True
    """
    current = _BUDGET.get()
    if current is not None:
        yield current
        return
    budget = RetryBudget(config.retry_budget())
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


# ---------------------------------------------------------------------------
# Opening a location
# ---------------------------------------------------------------------------


def missing_backend(protocol: str) -> str | None:
    """Why ``protocol`` cannot be used here (its fsspec back-end is not installed), or None.

    >>> missing_backend("memory") is None
    True
    """
    if protocol in ("", "file", "local", "http", "https"):
        return None
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        from .failures import missing_package_reason

        return missing_package_reason(exc)
    except ValueError:
        return f"no fsspec back-end knows the protocol {protocol}://"
    return None


class _Stream:
    """A readable body: an HTTP answer, a local file or another fsspec file, with what it announced."""

    def __init__(self, handle: Any, url: str, length: int | None, final_url: str | None = None):
        self.handle, self.url, self.length, self.final_url = handle, url, length, final_url

    def read(self, n: int = -1) -> bytes:
        return self.handle.read(n) if n >= 0 else b"".join(iter(lambda: self.handle.read(_CHUNK), b""))

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> "_Stream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open(location: Location, settings: FetchSettings) -> _Stream:
    protocol = location.protocol
    if protocol == "":
        return _Stream(open(location.url, "rb"), location.url, os.path.getsize(location.url))
    if protocol in ("http", "https"):
        url, credentials = split_credentials(location.url)
        answer = HttpAnswer(url, settings.storage_options, credentials, _limits(settings))
        return _Stream(answer, url, answer.content_length, answer.final_url)
    import fsspec

    fs, path = fsspec.core.url_to_fs(location.url, **(settings.storage_options or {}))
    handle = fs.open(path, "rb")
    return _Stream(handle, location.url, getattr(handle, "size", None))


def open_random_access(location: Location, settings: FetchSettings):
    """A seekable file object over a location; over HTTP every read is a bounded range request.

    Over the network, every failure of a read is a :class:`TransferFailed`: whoever parses the
    bytes (``zipfile``) can never mistake a lost connection for a damaged archive.
    """
    protocol = location.protocol
    if protocol == "":
        return open(location.url, "rb")
    try:
        if protocol in ("http", "https"):
            url, credentials = split_credentials(location.url)
            handle = BufferedRangeReader(RangeReader(url, settings.storage_options, credentials, _limits(settings)),
                                         buffer_size=_CHUNK)
        else:
            import fsspec

            fs, path = fsspec.core.url_to_fs(location.url, **(settings.storage_options or {}))
            handle = fs.open(path, "rb")
    except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
        raise classify(exc) from None
    return TransportFile(handle)


class TransportFile:
    """A seekable file over a network location whose failed reads raise :class:`TransferFailed`."""

    def __init__(self, handle: Any):
        self._handle = handle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def read(self, n: int = -1) -> bytes:
        try:
            return self._handle.read(n)
        except TransferFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
            raise classify(exc) from None

    def seek(self, offset: int, whence: int = 0) -> int:  # moves a position, no I/O: its errors are its own
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "TransportFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def copy_to(location: Location, target: Path, *, limit: int | None, desc: str,
            settings: FetchSettings | None = None, file: FileSpec | None = None,
            limit_reason: str = "the registry's size") -> int:
    """Copy one location into ``target`` (a temporary path), at most ``limit`` bytes.

    Retries transient failures with exponential backoff while the retry budget lasts (see
    :func:`retry_budget`); raises :class:`TransferFailed`, whose reason never shows credentials
    from the URL or ``storage_options``. Given the ``file`` being fetched, a redirect that ends
    on a plain-http URL is refused for a file without a checksum (see
    :func:`~.locations.plain_http_refusal`). ``limit_reason`` says where ``limit`` comes from.
    """
    settings = settings or FetchSettings()
    tries = settings.attempts()
    delay = settings.first_backoff()
    _limits(settings)  # a bad setting is a ConfigError now, not a failed attempt at every location
    secrets = secret_values(settings.storage_options)
    with retry_budget() as budget:
        for attempt in range(1, tries + 1):
            try:
                return _copy_once(location, target, limit=limit, desc=desc, settings=settings,
                                  file=file, limit_reason=limit_reason)
            except MnistFamilyError:
                target.unlink(missing_ok=True)
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
                failure = classify(exc)
                failure.reason = redact(failure.reason, secrets)
                target.unlink(missing_ok=True)
                last = not failure.transient or attempt == tries
                if not last and not budget.take():
                    failure.reason += (f" (not retried: the {budget.total} retries of this load are spent, "
                                       "MNISTFAMILY_RETRY_BUDGET)")
                    last = True
                if last:
                    if attempt > 1:
                        failure.reason += f" (after {attempt} attempts)"
                    raise failure from None
                log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)",
                            location.shown, failure.reason, delay, attempt + 1, tries)
                time.sleep(delay * (1 + random.random() * 0.25))
                delay *= 2
    raise AssertionError("unreachable")


def _copy_once(location: Location, target: Path, *, limit: int | None, desc: str,
               settings: FetchSettings, file: FileSpec | None = None,
               limit_reason: str = "the registry's size") -> int:
    if location.protocol == "" and not os.path.isfile(location.url):
        raise TransferFailed("no such file", transient=False)
    src = _open(location, settings)
    if file is not None and src.final_url is not None:
        refusal = plain_http_refusal(src.final_url, file)
        if refusal is not None:  # an https URL redirected to plain http: not one byte is read
            src.close()
            raise TransferFailed(f"redirected to {redact(src.final_url)}: {refusal}", transient=False)
    # HTTP answers watch their own speed (a stalled read is cut short); other network
    # file systems are checked between reads
    guard = SpeedGuard(config.speed_limit(), config.speed_time()) \
        if location.is_network and not isinstance(src.handle, HttpAnswer) else None
    bar = _progress(desc, src.length if src.length is not None else (file.size if file else None)) \
        if location.is_network else None
    written = 0
    try:
        with src, open(target, "wb") as out:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if limit is not None and written > limit:
                    raise _too_large(limit, limit_reason)
                try:
                    out.write(chunk)
                except OSError as exc:  # the local disk's failure, not the location's: no retry, no next mirror
                    raise CacheError.cannot_write(desc, target.parent, exc) from None
                if guard is not None:
                    guard.add(len(chunk))
                    guard.check()
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return written


def _too_large(limit: int, why: str) -> TransferFailed:
    return TransferFailed(f"larger than expected: more than {limit:,} bytes ({why}); "
                          "this is not the published file", transient=False)


def someone_watches(stream: Any = None) -> bool:
    """Whether a person is likely watching: ``stream`` (default stderr) is a terminal, or this is a notebook.

    A Jupyter kernel's stderr is no terminal, yet its output is shown: ``tqdm.auto`` draws a
    notebook widget there.
    """
    stream = sys.stderr if stream is None else stream
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or replaced stream
        pass
    ipython = sys.modules.get("IPython")  # only if the user's session imported it: never imported here
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return type(shell).__name__ == "ZMQInteractiveShell" or "google.colab" in sys.modules


def _progress(desc: str, total: int | None):
    """A progress bar over the bytes being transferred (``total``: their size, when known)."""
    if not config.progress_enabled(someone_watches()):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, leave=False)
