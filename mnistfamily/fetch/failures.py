"""What one failed attempt at a location means: the reason to report, and whether trying again may help.

Every exception a transport can raise (aiohttp's, fsspec's, a back-end's, the operating
system's) ends here as a :class:`TransferFailed`: nothing raw leaves the fetch layer. A
failure is *transient* when the same request may succeed a moment later (a 503, a reset, a
silence longer than the read timeout, a body cut short); anything else -- a 404, a name that
does not resolve, a refused connection, a missing back-end package -- moves on to the next
location at once, because asking again would get the same answer.
"""

from __future__ import annotations

import errno
import os
import socket

_MAX_DETAIL = 300  # characters of an exception's text kept in a failure's reason
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
#: connect() errors that say "nobody is there", not "try again": the host refused, or no route exists
_UNREACHABLE = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}


class TransferFailed(Exception):
    """One attempt failed; ``transient`` says whether trying again may help.

    ``unreachable`` is set when the host itself could not be reached (its name does not resolve,
    or it refuses connections): other locations on the same host would fail the same way.
    """

    def __init__(self, reason: str, transient: bool, unreachable: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.unreachable = unreachable


def _causes(exc: BaseException):
    """``exc``, the OS error aiohttp wraps (``os_error``), and the chain of causes, each once."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [getattr(current, "os_error", None), current.__cause__, current.__context__]


def _no_network(exc: BaseException) -> str | None:
    """The reason, when ``exc`` says the host cannot be reached at all (no retry can help)."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return (f"cannot resolve the host name{_host(exc, port=False)} ({cause.strerror or cause}): no network, "
                    "or a wrong host name; not retried")
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE:
            return (f"cannot connect{_host(exc, port=True)}: {os.strerror(cause.errno).lower()} (nothing listens "
                    "there, or no route leads there); not retried")
    return None


def _host(exc: BaseException, port: bool) -> str:
    """`` to host:port`` (or `` host``) as aiohttp's connection errors know it, else ``""``."""
    host = getattr(exc, "host", None)
    if not isinstance(host, str) or not host:
        return ""
    number = getattr(exc, "port", None)
    if port:
        return f" to {host}:{number}" if isinstance(number, int) else f" to {host}"
    return f" {host}"


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + " ..."  # parser errors quote whole bodies


def classify(exc: BaseException) -> TransferFailed:
    """The :class:`TransferFailed` an exception raised while fetching stands for."""
    if isinstance(exc, TransferFailed):
        return exc
    if isinstance(exc, FileNotFoundError):
        return TransferFailed("not found (404 or no such file)", transient=False)
    if isinstance(exc, ImportError):
        return TransferFailed(missing_package_reason(exc), transient=False)
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
    unreachable = _no_network(exc)
    if unreachable is not None:
        return TransferFailed(unreachable, transient=False, unreachable=True)
    if isinstance(exc, PermissionError):
        return TransferFailed(f"permission denied: {exc}", transient=False)
    text = _short(exc)
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return TransferFailed(f"timed out ({text})", transient=True)
    if "Payload" in name:  # the connection ended (FIN or RST) before the announced length
        return TransferFailed(f"the body was cut short ({name}: {text})", transient=True)
    if isinstance(exc, (ConnectionError, OSError, EOFError)) or "Client" in name:
        return TransferFailed(f"{name}: {text}", transient=True)
    return TransferFailed(f"{name}: {text}", transient=False)


def missing_package_reason(exc: ImportError) -> str:
    """``needs the package s3fs, which is not installed: pip install s3fs`` for a back-end's ImportError."""
    # fsspec raises its own ImportError ("Install s3fs to access S3") from the one naming the module
    package = next((c.name for c in _causes(exc) if isinstance(c, ImportError) and c.name), "")
    said = _short(exc)
    if package:
        return (f"needs the package {package}, which is not installed ({said}): pip install {package}, "
                "or use another location")
    return f"a package this location needs is not installed ({said}); install it, or use another location"
