"""HTTP answers bounded in time: a deadline for the headers, a low-speed limit for the body.

A socket read timeout alone does not bound a download: a server that sends one byte a
second is never silent long enough to trip it, and one that sends its status line and
headers a byte at a time keeps the request open as long as it likes. So every answer gets

- a **header deadline** (``MNISTFAMILY_HEADER_TIMEOUT``): the status line and every header,
  redirects included, must have arrived within that many seconds of the request;
- a **low-speed limit**, like curl's ``--speed-limit``/``--speed-time``
  (``MNISTFAMILY_SPEED_LIMIT`` bytes/s, ``MNISTFAMILY_SPEED_TIME`` seconds): a body that
  delivers less than the limit on average over that window is given up.

Both end in a :class:`~.failures.TransferFailed` that is not transient: the same server would
do the same again, so the next location is tried at once.

The requests go through the aiohttp session of fsspec's ``HTTPFileSystem`` (its event-loop
thread, its ``client_kwargs`` and request options), so ``storage_options`` mean what they
mean to fsspec; only the waiting is ours.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import io
import time
from dataclasses import dataclass
from typing import Any

from .. import config
from .failures import TransferFailed

USER_AGENT = "Mozilla/5.0 (compatible; mnistfamily; +https://pypi.org/project/mnistfamily/)"


@dataclass(frozen=True)
class Limits:
    """The time limits of one transfer, read from the environment when it starts."""

    connect: float
    read: float
    header: float
    speed_limit: float  # bytes per second; 0 turns the low-speed limit off
    speed_time: float

    @classmethod
    def from_config(cls, connect: float | None = None, read: float | None = None) -> "Limits":
        """The configured limits; ``connect`` and ``read`` override the environment when given."""
        return cls(connect=config.connect_timeout() if connect is None else float(connect),
                   read=config.read_timeout() if read is None else float(read),
                   header=config.header_timeout(), speed_limit=config.speed_limit(),
                   speed_time=config.speed_time())


class SpeedGuard:
    """Gives up on a body slower than ``limit`` bytes/s on average over ``window`` seconds.

    Time is counted in consecutive windows from the moment the headers arrived; at the end of
    each window the bytes received in it are compared with ``limit * window``.

    >>> guard = SpeedGuard(limit=0, window=30)  # the limit turned off: never gives up
    >>> guard.add(1); guard.check(); guard.remaining() is None
    True
    """

    def __init__(self, limit: float, window: float):
        self.limit, self.window = limit, window
        self._start = time.monotonic()
        self._bytes = 0

    def remaining(self) -> float | None:
        """Seconds until the current window ends (None when the limit is off)."""
        if self.limit <= 0:
            return None
        return max(self._start + self.window - time.monotonic(), 0.0)

    def add(self, n: int) -> None:
        self._bytes += n

    def check(self) -> None:
        """At the end of a window: give up if it was too slow, else start the next one."""
        if self.limit <= 0 or time.monotonic() < self._start + self.window:
            return
        if self._bytes < self.limit * self.window:
            raise TransferFailed(
                f"too slow: {self._bytes:,} bytes in {self.window:g} s, below the low-speed limit of "
                f"{self.limit:,.0f} bytes/s (MNISTFAMILY_SPEED_LIMIT, MNISTFAMILY_SPEED_TIME); given up on "
                "this location", transient=False)
        self._start, self._bytes = time.monotonic(), 0


def http_filesystem(storage_options: dict | None, credentials: tuple[str, str] | None = None,
                    limits: Limits | None = None):
    """fsspec's ``HTTPFileSystem`` with our timeouts, identity encoding and user agent.

    The user's options are merged into ours, not swapped for them: their headers and client
    settings win where they overlap, our timeouts and identity encoding stay otherwise.
    ``user:password`` taken from a URL travel as a Basic ``Authorization`` header (fsspec logs
    URLs); an ``Authorization`` header or ``auth`` the caller gave explicitly wins.
    """
    import aiohttp
    import fsspec

    limits = limits or Limits.from_config()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=limits.connect, sock_read=limits.read)
    options = dict(storage_options or {})
    client = dict(options.pop("client_kwargs", {}) or {})
    headers = {"User-Agent": USER_AGENT,
               "Accept-Encoding": "identity",  # the published bytes, not a server's re-encoding
               **dict(client.pop("headers", {}) or {})}
    if credentials is not None and "auth" not in client and not any(k.lower() == "authorization" for k in headers):
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode("utf-8")).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    client = {"timeout": timeout, **client, "headers": headers}
    return fsspec.filesystem("http", client_kwargs=client, **options)


class _Deadline(Exception):
    """Our own wait ran out (as opposed to aiohttp's socket timeouts, which are transient)."""


async def _within(awaitable: Any, seconds: float | None) -> Any:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError as exc:
        if type(exc) is asyncio.TimeoutError:  # wait_for's own; aiohttp's are subclasses
            raise _Deadline() from None
        raise


class HttpAnswer:
    """One GET: status and headers within the header deadline, then a body read under the speed guard.

    ``url`` is the URL without credentials (see :func:`~mnistfamily.redaction.split_credentials`). A 404
    raises ``FileNotFoundError``, any other error status aiohttp's ``ClientResponseError``;
    :func:`~.failures.classify` turns both into a reason.
    """

    def __init__(self, url: str, storage_options: dict | None, credentials: tuple[str, str] | None,
                 limits: Limits, headers: dict[str, str] | None = None):
        self.url = url
        self.limits = limits
        fs = http_filesystem(storage_options, credentials, limits)
        self._loop = fs.loop
        request = dict(fs.kwargs)
        if headers:
            request["headers"] = {**dict(request.get("headers") or {}), **headers}

        async def get():
            session = await fs.set_session()
            response = await session.get(fs.encode_url(url), **request).__aenter__()
            if response.status >= 400:
                response.release()
                if response.status == 404:
                    raise FileNotFoundError(url)
                response.raise_for_status()
            return response

        try:
            self.r = self._run(get(), limits.header)
        except _Deadline:
            raise TransferFailed(
                f"no complete answer (status line and headers) within {limits.header:g} s "
                "(MNISTFAMILY_HEADER_TIMEOUT): the server is too slow; given up on this location",
                transient=False) from None
        self._guard = SpeedGuard(limits.speed_limit, limits.speed_time)

    def _run(self, coroutine: Any, seconds: float | None) -> Any:
        """Run ``coroutine`` on fsspec's event loop, waiting at most ``seconds`` (None: no limit)."""
        return asyncio.run_coroutine_threadsafe(_within(coroutine, seconds), self._loop).result()

    @property
    def status(self) -> int:
        return int(self.r.status)

    @property
    def content_length(self) -> int | None:
        """The announced length of the body, if any."""
        return self.r.content_length

    @property
    def final_url(self) -> str:
        """Where the answer finally came from, after redirects."""
        return str(self.r.url)

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body (``b""`` at its end), or :class:`TransferFailed` when too slow."""
        while True:
            self._guard.check()
            remaining = self._guard.remaining()
            try:
                data = self._run(self.r.content.read(n), None if remaining is None else max(remaining, 0.001))
            except _Deadline:
                continue  # the window ended while waiting: check() decides
            self._guard.add(len(data))
            return data

    def close(self) -> None:
        async def close() -> None:
            if self.r.content.at_eof():
                self.r.release()  # read to its end: the connection can serve the next request
            else:
                self.r.close()  # a body left unread (given up, or too long) would block the connection

        try:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is dropped either way
            pass

    def __enter__(self) -> "HttpAnswer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class RangeReader(io.RawIOBase):
    """A seekable file over HTTP: every read is one range request, bounded like :class:`HttpAnswer`.

    Used for archive members (EMNIST's ``gzip.zip``): only the zip's directory and the member's
    bytes cross the network. A server that answers a range request with the whole file (200)
    does not do ranges: that is a :class:`TransferFailed`, and the caller fetches the archive.
    The file's length is asked of the server first (one 1-byte range): a copy whose length
    differs from the registry's is still read where it really ends, so what it holds (or lacks)
    is reported, not an error about a range past its end.
    """

    def __init__(self, url: str, storage_options: dict | None, credentials: tuple[str, str] | None,
                 limits: Limits):
        self.url = url
        self._options, self._credentials, self._limits = storage_options, credentials, limits
        self._pos = 0
        self._size = self._learn_size()

    def _get(self, first: int, last: int) -> HttpAnswer:
        answer = HttpAnswer(self.url, self._options, self._credentials, self._limits,
                            headers={"Range": f"bytes={first}-{last}"})
        announced = str(answer.r.headers.get("Content-Range", ""))
        if answer.status != 206:
            answer.close()
            raise TransferFailed(f"the server does not answer range requests (HTTP {answer.status} to a Range "
                                 "request)", transient=False)
        if not announced.startswith(f"bytes {first}-"):
            answer.close()
            raise TransferFailed(f"the server answered a range request for bytes {first}-{last} with "
                                 f"Content-Range {announced!r}", transient=False)
        return answer

    def _learn_size(self) -> int:
        with self._get(0, 0) as answer:
            announced = str(answer.r.headers.get("Content-Range", ""))
            total = announced.rpartition("/")[2]
            if not total.isdigit():
                raise TransferFailed(f"the server does not say how long the file is (Content-Range "
                                     f"{announced!r})", transient=False)
            return int(total)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:  # as a local file would say (zipfile expects an OSError)
            raise OSError(errno.EINVAL, f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        """One range request for ``buffer``'s length (or what is left of the file); a shorter answer
        gives what it holds, as a raw file may, and the caller asks again for the rest."""
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos)
        if n <= 0:
            return 0
        filled = 0
        with self._get(self._pos, self._pos + n - 1) as answer:
            while filled < n:
                chunk = answer.read(n - filled)
                if not chunk:
                    break
                view[filled: filled + len(chunk)] = chunk
                filled += len(chunk)
        if not filled:
            raise TransferFailed(f"the body was cut short (a range of {n:,} bytes at {self._pos:,} came back "
                                 "empty)", transient=True)
        self._pos += filled
        return filled


class BufferedRangeReader(io.BufferedReader):
    """A :class:`RangeReader` with a 1 MiB read-ahead buffer; ``url`` is the URL without credentials."""

    @property
    def url(self) -> str:
        return self.raw.url  # type: ignore[attr-defined, no-any-return]
