"""The HTTP side of the loopback test server: one request handler that answers GET and HEAD
from the served folder, applying the fault a test attached to the path.

:class:`~mnistfamily.testing.server.LoopbackServer` (``server.py``) owns the listening socket,
the fault table and the request log; this module is what answers a request: path
normalisation (:func:`_normalize_key`), ``Range`` parsing, each fault's effect on the status
line, the headers and the body, and the request record (:class:`Request`). Only the standard
library is used. The behaviour is described in ``server.py``'s docstring.
"""

from __future__ import annotations

import errno
import http.server
import os
import posixpath
import re
import socket
import socketserver
import struct
import sys
import urllib.parse
from typing import TYPE_CHECKING, Iterator, List, NamedTuple, Optional, Tuple, Union

from .faults import (
    CorruptFault,
    DelayFault,
    EndlessFault,
    HtmlPageFault,
    RedirectFault,
    ResetFault,
    SlowHeadersFault,
    StatusFault,
    TrickleFault,
    TruncateFault,
    WrongLengthFault,
)

if TYPE_CHECKING:
    from .server import LoopbackServer

__all__ = ["Request"]

_CHUNK = 64 * 1024
_HANDLER_TIMEOUT = 30.0  # seconds an idle keep-alive connection may linger

_DISCONNECT_ERRORS = (
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
    TimeoutError,
    socket.timeout,
)

_HTML_PAGE = (
    "<!DOCTYPE html>\n"
    "<html><head><title>Service Temporarily Unavailable</title></head>\n"
    "<body><h1>Service Temporarily Unavailable</h1>\n"
    "<p>The file you requested is not available right now. "
    "Please try again later.</p></body></html>\n"
)



# --------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------


class Request(NamedTuple):
    """One request received by a :class:`LoopbackServer`.

    Attributes
    ----------
    method : str
        ``"GET"`` or ``"HEAD"``.
    path : str
        Normalised, percent-decoded path relative to the served directory,
        without a leading slash, e.g. ``"mnist/x.gz"``.
    range_header : str or None
        The raw ``Range`` header, if the request had one.
    status : int
        Status code of the answer (``0`` if handling failed before an answer
        was started; see :attr:`LoopbackServer.errors`).

    Notes
    -----
    A request is logged just before its status line is sent, so a client
    that has seen the answer always finds its request in the log.

    Examples
    --------
    >>> Request("GET", "mnist/x.gz", None, 200).status
    200
    """

    method: str
    path: str
    range_header: Optional[str]
    status: int


def _normalize_key(path: str) -> str:
    """Turn a decoded request path or a user-given path into a lookup key."""
    stripped = path.lstrip("/")
    if not stripped:
        return "."
    return posixpath.normpath(stripped)


# --------------------------------------------------------------------------
# Ranges
# --------------------------------------------------------------------------

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def _parse_range(header: Optional[str], size: int) -> Union[None, str, Tuple[int, int]]:
    """Interpret a Range header against a body of `size` bytes.

    Returns ``None`` to ignore the header (serve everything), the string
    ``"unsatisfiable"`` for a 416, or an inclusive ``(first, last)`` pair.
    """
    if header is None or "," in header:
        return None
    match = _RANGE_RE.match(header)
    if match is None:
        return None
    first_text, last_text = match.groups()
    if first_text == "" and last_text == "":
        return None
    if first_text == "":
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - suffix), size - 1)
    first = int(first_text)
    last = int(last_text) if last_text != "" else None
    if last is not None and last < first:
        return None  # syntactically invalid: RFC 7233 says ignore
    if first >= size:
        return "unsatisfiable"
    if last is None or last >= size:
        last = size - 1
    return (first, last)


# --------------------------------------------------------------------------
# HTTP machinery
# --------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mnistfamily-loopback/1"
    timeout = _HANDLER_TIMEOUT
    disable_nagle_algorithm = True  # headers and body are separate writes

    server: "_HTTPServer"
    _recorded: bool
    _key: str
    _range_header: Optional[str]

    # -- plumbing ---------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.owner._register(self)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._unregister(self)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Do not log anything."""

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    # -- helpers ----------------------------------------------------------

    def _request_key(self) -> str:
        target = self.path
        if not target.startswith("/") and "://" in target:
            # absolute-form request target (as sent to proxies)
            target = urllib.parse.urlsplit(target).path or "/"
        target = target.split("#", 1)[0].split("?", 1)[0]
        return _normalize_key(urllib.parse.unquote(target))

    def _start(self, code: int, headers: List[Tuple[str, str]]) -> None:
        # Record before anything is sent, so that a client which has seen
        # the answer always finds its request in the log.
        self._record(code)
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        slow = getattr(self, "_slow_headers", None)
        if slow is None:
            self.end_headers()
            return
        # what end_headers() would add and send at once, sent a few bytes at a time instead
        buffered: List[bytes] = getattr(self, "_headers_buffer", [])
        data = b"".join(buffered) + b"\r\n"
        buffered.clear()
        for first in range(0, len(data), slow.bytes_per_chunk):
            self.wfile.write(data[first: first + slow.bytes_per_chunk])
            self.wfile.flush()
            if self.server.owner._stopping.wait(slow.pause):
                return

    def _simple(
        self,
        code: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        extra: Tuple[Tuple[str, str], ...] = (),
    ) -> None:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        headers.extend(extra)
        self._start(code, headers)
        if not self._head:
            self.wfile.write(body)

    def _text(self, code: int, extra: Tuple[Tuple[str, str], ...] = ()) -> None:
        if code in (204, 304):  # these never have a body (nor a length)
            self._start(code, list(extra))
            return
        phrase = self.responses.get(code, ("",))[0]
        self._simple(code, f"{code} {phrase}\n".encode("utf-8"), extra=extra)

    def _open_file(self, key: str):
        """Open the regular file for `key` below the root, or return None."""
        owner = self.server.owner
        if "\x00" in key or key.startswith("../") or key == "..":
            return None
        root = owner._root_real
        candidate = os.path.realpath(os.path.join(root, key))
        try:
            if os.path.commonpath([candidate, root]) != root or candidate == root:
                return None
        except ValueError:
            return None
        if not os.path.isfile(candidate):
            return None
        try:
            return open(candidate, "rb")
        except OSError:
            return None

    def _record(self, status: int) -> None:
        if not self._recorded:
            self._recorded = True
            self.server.owner._record(
                Request(self.command, self._key, self._range_header, status)
            )

    def _serve(self, head: bool) -> None:
        self._head = head
        self._recorded = False
        self._slow_headers: Optional[SlowHeadersFault] = None
        self._key = self._request_key()
        self._range_header = self.headers.get("Range")
        try:
            self._answer(self._key, head, self._range_header)
        finally:
            self._record(0)  # only if no answer was started (unexpected error)

    def _answer(self, key: str, head: bool, range_header: Optional[str]) -> None:
        owner = self.server.owner
        fault = owner._take_fault(key, consume=not head)
        if fault is not None and head and not fault.affects_head:
            fault = None

        if isinstance(fault, DelayFault):
            owner._stopping.wait(fault.seconds)
            fault = None
        if isinstance(fault, SlowHeadersFault):
            self._slow_headers = fault
            fault = None
        if isinstance(fault, StatusFault):
            self._text(fault.code, extra=fault.headers)
            return
        if isinstance(fault, HtmlPageFault):
            self._simple(fault.code, _HTML_PAGE.encode("utf-8"), "text/html; charset=utf-8")
            return
        if isinstance(fault, RedirectFault):
            location = owner.url_for(fault.target)
            self._text(fault.code, extra=(("Location", location),))
            return

        handle = self._open_file(key)
        if handle is None:
            self._text(404)
            return
        if isinstance(fault, EndlessFault):
            with handle:
                self._send_endless(handle, fault)
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            self._send_file(handle, size, head, range_header, fault)

    def _send_file(self, handle, size: int, head: bool, range_header, fault) -> None:
        allow_ranges = self.server.owner.allow_ranges
        common: List[Tuple[str, str]] = [("Content-Type", "application/octet-stream")]
        if allow_ranges:
            common.append(("Accept-Ranges", "bytes"))

        wanted = None if (head or not allow_ranges) else _parse_range(range_header, size)
        if wanted == "unsatisfiable":
            body = b"416 Range Not Satisfiable\n"
            self._start(
                416,
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("Content-Range", f"bytes */{size}"),
                ]
                + common[1:],
            )
            self.wfile.write(body)
            return
        if wanted is None:
            code, first, last = 200, 0, size - 1
            headers = list(common)
        else:
            assert isinstance(wanted, tuple)  # a str was answered with 416 above
            first, last = wanted
            code = 206
            headers = common + [("Content-Range", f"bytes {first}-{last}/{size}")]
        length = last - first + 1

        announced = length
        if isinstance(fault, WrongLengthFault):
            announced = max(0, length + fault.extra)
        headers.append(("Content-Length", str(announced)))
        self._start(code, headers)
        if head:
            return

        limit = length
        if isinstance(fault, (TruncateFault, ResetFault)):
            limit = min(length, fault.at)
        corrupt_at = fault.offset if isinstance(fault, CorruptFault) else None
        chunk_size = _CHUNK
        pause = 0.0
        if isinstance(fault, TrickleFault):
            chunk_size, pause = fault.bytes_per_chunk, fault.pause

        handle.seek(first)
        for chunk in self._chunks(handle, first, limit, chunk_size, corrupt_at):
            self.wfile.write(chunk)
            if pause:
                self.wfile.flush()
                self.server.owner._stopping.wait(pause)
        if isinstance(fault, ResetFault):
            self._reset_connection()
            return
        if isinstance(fault, (TruncateFault, WrongLengthFault)):
            self.close_connection = True

    def _send_endless(self, handle, fault: EndlessFault) -> None:
        self.close_connection = True
        self._start(200, [("Content-Type", "application/octet-stream"), ("Connection", "close")])
        stopping = self.server.owner._stopping
        zeros = bytes(fault.bytes_per_chunk)
        sent = 0
        while not stopping.is_set() and (fault.give_up_after is None or sent < fault.give_up_after):
            chunk = handle.read(fault.bytes_per_chunk) or zeros
            if fault.give_up_after is not None:
                chunk = chunk[: fault.give_up_after - sent]
            self.wfile.write(chunk)  # raises once the client has gone: a disconnect, not an error
            sent += len(chunk)
            if fault.pause:
                self.wfile.flush()
                stopping.wait(fault.pause)

    def _reset_connection(self) -> None:
        # SO_LINGER on with a zero timeout makes close() discard unsent data and
        # send a RST instead of a FIN. The descriptor is detached and closed here,
        # because socketserver would first shutdown(SHUT_WR) -- an orderly FIN --
        # and the read file still holds a reference that delays a plain close().
        self.close_connection = True
        connection = self.connection
        try:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(connection.detach())
        except OSError:
            pass  # the client went away first: nothing left to reset

    def _chunks(
        self,
        handle,
        position: int,
        remaining: int,
        chunk_size: int,
        corrupt_at: Optional[int],
    ) -> Iterator[bytes]:
        while remaining > 0:
            data = handle.read(min(chunk_size, remaining))
            if not data:
                # The file shrank while we were sending it; stop short and
                # close the connection so the client notices.
                self.close_connection = True
                return
            if corrupt_at is not None and position <= corrupt_at < position + len(data):
                mutable = bytearray(data)
                mutable[corrupt_at - position] ^= 0xFF
                data = bytes(mutable)
            yield data
            position += len(data)
            remaining -= len(data)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() shuts down and joins handlers itself
    allow_reuse_address = False
    request_queue_size = 128  # many clients may connect at once

    owner: "LoopbackServer"

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which may try DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def handle_error(self, request, client_address) -> None:  # noqa: D401
        """Swallow disconnects; record anything else on the owner."""
        exc = sys.exc_info()[1]
        if exc is None or isinstance(exc, _DISCONNECT_ERRORS):
            return
        if isinstance(exc, OSError) and (
            self.owner._stopping.is_set()
            or exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF)
        ):
            return
        self.owner._record_error(exc)


class _HTTP6Server(_HTTPServer):
    address_family = socket.AF_INET6


