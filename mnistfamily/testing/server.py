"""A loopback HTTP file server with fault injection, for testing downloads.

The server serves the files below one directory on a loopback address
(``127.0.0.1`` by default) and can be told to misbehave in the ways real
mirrors do: answer with an error status, cut a body short, reset the
connection mid-body, flip a byte, stall, trickle the body or the headers,
send a body that never ends, answer with an HTML error page, lie about the
length (either way), or redirect (possibly in a loop).  It records every GET and HEAD request so
that tests can assert how often a client retried.

Only the standard library is used.

Behaviour in brief
------------------
* Protocol HTTP/1.1 with keep-alive; every response carries a
  ``Content-Length``.  Responses whose body is deliberately incomplete
  (:meth:`Fault.truncate`, :meth:`Fault.wrong_length`) close the connection
  after sending what they send, without a ``Connection: close`` header,
  the way a dying server would.  :meth:`Fault.reset` aborts it instead: a
  TCP RST (``SO_LINGER`` 0) after the bytes it sends.
* Only ``GET`` and ``HEAD`` are implemented; other methods get ``501`` with
  ``Connection: close`` and are not recorded.  A GET or HEAD is recorded
  just before its status line is sent.
* Request paths are percent-decoded, query strings and fragments are
  ignored, leading slashes are stripped and the result is normalised with
  :func:`posixpath.normpath`.  That normalised, root-relative path (for
  example ``"mnist/x.gz"``) is the key used by :meth:`LoopbackServer.add_fault`,
  :meth:`LoopbackServer.count` and :attr:`Request.path`.
* A path is served only if it resolves (symlinks included) to a regular file
  inside the root directory.  Anything else -- ``..`` escapes, absolute paths,
  escaping symlinks, directories, FIFOs, missing files, NUL bytes -- is
  ``404``.  Directories are never listed.
* Files are sent as ``application/octet-stream``.  Error bodies are short
  ``text/plain`` texts.
* Ranges: a single ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` range gives
  ``206`` with ``Content-Range: bytes a-b/total``; an unsatisfiable one gives
  ``416`` with ``Content-Range: bytes */total``.  Several ranges, a
  syntactically invalid range, a unit other than ``bytes`` or a range whose
  last position is before its first are ignored (``200`` with the whole
  body), as RFC 7233 allows.  ``HEAD`` ignores ``Range``.
* The server is quiet: nothing is written to stderr.  Client disconnects are
  ignored; any other exception raised while handling a request is appended
  to :attr:`LoopbackServer.errors` (so a test can assert it stayed empty).

Fault semantics
---------------
* Faults are attached to a path; several faults on one path are consulted in
  the order they were added and the first one that is still active wins.
* ``times=N`` means the fault applies to the first ``N`` *GET* requests of
  that path and is then spent; ``times=None`` (the default) means always.
  A HEAD request sees the same winning fault as a GET would, but does not
  use up any of its ``times``.  So ``Fault.status(503, times=2)`` means
  "the first two GETs answer 503", however many HEADs a client sends.
* On HEAD, :meth:`Fault.status`, :meth:`Fault.html_page`,
  :meth:`Fault.redirect`, :meth:`Fault.wrong_length` and :meth:`Fault.delay`
  take effect (with the headers the GET would have, and no body);
  :meth:`Fault.truncate`, :meth:`Fault.reset`, :meth:`Fault.corrupt` and
  :meth:`Fault.trickle` and :meth:`Fault.endless` only affect bodies, so HEAD answers
  normally while they win.  :meth:`Fault.slow_headers` slows the headers of any
  answer, HEAD included, and is followed by the normal answer.
* An endless body (:meth:`Fault.endless`) ignores ``Range`` and is sent without a
  ``Content-Length``; the connection is closed when the client stops reading.
* Status, HTML-page, redirect and delay faults do not need the file to
  exist; the others give ``404`` for a missing file (and a delay is followed
  by the normal answer, possibly ``404``).
* Range requests combine with body faults: ``truncate(at)`` and ``reset(at)``
  count bytes of the body actually sent, ``corrupt(offset)`` is an offset into the *file*
  (the byte is flipped only if the requested range contains it),
  ``wrong_length(extra)`` adds ``extra`` (possibly negative) to the range's
  length, ``trickle``
  slows the range.  Status, HTML-page and redirect faults ignore ``Range``.

Examples
--------
>>> import pathlib, tempfile, urllib.request
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "hello.bin").write_bytes(b"hello")
>>> with serve_directory(root) as server:
...     with urllib.request.urlopen(server.url_for("hello.bin")) as response:
...         response.read()
b'hello'
"""

from __future__ import annotations

import errno
import http.server
import ipaddress
import os
import posixpath
import re
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
from typing import Iterator, List, NamedTuple, Optional, Tuple, Union

from .faults import (
    CorruptFault,
    DelayFault,
    EndlessFault,
    Fault,
    HtmlPageFault,
    RedirectFault,
    ResetFault,
    SlowHeadersFault,
    StatusFault,
    TrickleFault,
    TruncateFault,
    WrongLengthFault,
)

__all__ = [
    "serve_directory",
    "LoopbackServer",
    "Request",
    "Fault",
    "StatusFault",
    "TruncateFault",
    "CorruptFault",
    "DelayFault",
    "TrickleFault",
    "HtmlPageFault",
    "WrongLengthFault",
    "RedirectFault",
    "ResetFault",
    "SlowHeadersFault",
    "EndlessFault",
]

_CHUNK = 64 * 1024
_HANDLER_TIMEOUT = 30.0  # seconds an idle keep-alive connection may linger
_JOIN_TIMEOUT = 2.0  # how long stop() waits for handler threads in total

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

PathLike = Union[str, "os.PathLike[str]"]


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


def _check_loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"host must be a loopback IP address such as '127.0.0.1', got {host!r}"
        ) from None
    if not address.is_loopback:
        raise ValueError(f"refusing to serve on non-loopback address {host!r}")
    return str(address)


# --------------------------------------------------------------------------
# Public server
# --------------------------------------------------------------------------


class LoopbackServer:
    """An HTTP server for one directory, on a loopback address, with faults.

    The server binds to a free port (port 0) when started and handles each
    connection in a daemon thread.  Use it as a context manager, or call
    :meth:`start` and :meth:`stop`.  A stopped server cannot be restarted.

    Parameters
    ----------
    root : str or os.PathLike
        Directory whose files are served.  Must exist.
    host : str, optional
        Loopback address to bind, default ``"127.0.0.1"``.  Any IPv4 or IPv6
        loopback address is accepted (``"localhost"`` means ``"127.0.0.1"``);
        anything else raises ``ValueError``.

    Attributes
    ----------
    allow_ranges : bool
        When true (the default), ``Range`` is honoured and ``Accept-Ranges:
        bytes`` is announced; when false, ``Range`` is ignored (always ``200``
        with the whole body) and no ``Accept-Ranges`` header is sent.
        May be changed while the server runs.
    errors : list of BaseException
        Unexpected exceptions raised while handling requests (client
        disconnects are not errors).  Should stay empty.

    Raises
    ------
    ValueError
        If `host` is not a loopback address.
    NotADirectoryError
        If `root` is not an existing directory.

    Examples
    --------
    >>> import pathlib, tempfile, urllib.request
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.bin").write_bytes(b"abc")
    >>> server = LoopbackServer(root).start()
    >>> server.add_fault("a.bin", Fault.status(503, times=1))
    >>> try:
    ...     urllib.request.urlopen(server.url_for("a.bin"))
    ... except urllib.error.HTTPError as error:
    ...     error.code
    503
    >>> urllib.request.urlopen(server.url_for("a.bin")).read()
    b'abc'
    >>> server.count("a.bin")
    2
    >>> server.stop()
    """

    def __init__(self, root: PathLike, *, host: str = "127.0.0.1") -> None:
        self._host = _check_loopback(host)
        root_path = os.fspath(root)
        if not os.path.isdir(root_path):
            raise NotADirectoryError(f"not a directory: {root_path!r}")
        self._root = os.path.abspath(root_path)
        self._root_real = os.path.realpath(root_path)
        self.allow_ranges = True
        self.errors: List[BaseException] = []
        self._lock = threading.Lock()
        self._faults: dict = {}  # key -> list of [fault, remaining or None]
        self._requests: List[Request] = []
        self._handlers: set = set()
        self._stopping = threading.Event()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._stopped = False

    # -- lifecycle --------------------------------------------------------

    def start(self) -> "LoopbackServer":
        """Bind a free port and start serving in a daemon thread.

        Returns
        -------
        LoopbackServer
            `self`, so that ``server = LoopbackServer(root).start()`` works.

        Raises
        ------
        RuntimeError
            If the server is already running or has been stopped.

        Examples
        --------
        >>> import tempfile
        >>> server = LoopbackServer(tempfile.mkdtemp()).start()
        >>> server.url.startswith("http://127.0.0.1:")
        True
        >>> server.stop()
        """
        if self._httpd is not None:
            raise RuntimeError("server is already running")
        if self._stopped:
            raise RuntimeError("a stopped LoopbackServer cannot be restarted")
        cls = _HTTP6Server if ":" in self._host else _HTTPServer
        httpd = cls((self._host, 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=self._accept_loop,
            args=(httpd,),
            name=f"mnistfamily-loopback-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and open connections.

        Idempotent.  Delays and trickles in progress are cut short, and
        handler threads are given a short time to finish.

        Examples
        --------
        >>> import tempfile
        >>> server = LoopbackServer(tempfile.mkdtemp()).start()
        >>> server.stop()
        >>> server.stop()  # no-op
        """
        httpd, thread = self._httpd, self._thread
        self._stopped = True
        if httpd is None:
            return
        self._stopping.set()
        # Wake the accept loop, which blocks in select() without a timeout.
        try:
            host, port = httpd.server_address[:2]
            socket.create_connection((str(host), int(port)), timeout=1).close()
        except OSError:
            pass
        if thread is not None:
            thread.join(_JOIN_TIMEOUT)
        httpd.server_close()
        with self._lock:
            handlers = list(self._handlers)
        for handler in handlers:
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + _JOIN_TIMEOUT
        for handler in handlers:
            worker = getattr(handler, "_worker", None)
            if worker is not None and worker is not threading.current_thread():
                worker.join(max(0.0, deadline - time.monotonic()))
        self._httpd = None
        self._thread = None

    def _accept_loop(self, httpd: "_HTTPServer") -> None:
        # Like serve_forever(), but woken by a connection instead of polling,
        # so stop() is immediate and an idle server costs no CPU.
        httpd.timeout = None
        while not self._stopping.is_set():
            httpd.handle_request()

    def __enter__(self) -> "LoopbackServer":
        if self._httpd is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------

    @property
    def root(self) -> str:
        """Absolute path of the served directory.

        Examples
        --------
        >>> import os, tempfile
        >>> os.path.isabs(LoopbackServer(tempfile.mkdtemp()).root)
        True
        """
        return self._root

    @property
    def host(self) -> str:
        """The loopback address the server binds to.

        Examples
        --------
        >>> import tempfile
        >>> LoopbackServer(tempfile.mkdtemp()).host
        '127.0.0.1'
        """
        return self._host

    @property
    def port(self) -> int:
        """The TCP port the server listens on (only while running).

        Raises
        ------
        RuntimeError
            If the server is not running.

        Examples
        --------
        >>> import tempfile
        >>> with serve_directory(tempfile.mkdtemp()) as server:
        ...     server.port > 0
        True
        """
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL, ``"http://127.0.0.1:PORT"``, without a trailing slash.

        Raises
        ------
        RuntimeError
            If the server is not running.

        Examples
        --------
        >>> import tempfile
        >>> with serve_directory(tempfile.mkdtemp()) as server:
        ...     server.url == f"http://127.0.0.1:{server.port}"
        True
        """
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def url_for(self, path: str) -> str:
        """Full URL of `path`, a path relative to the served directory.

        Each path segment is percent-encoded; a leading slash is ignored.

        Parameters
        ----------
        path : str
            Relative path, with ``/`` separators.

        Returns
        -------
        str

        Examples
        --------
        >>> import tempfile
        >>> with serve_directory(tempfile.mkdtemp()) as server:
        ...     server.url_for("mnist/a b.gz") == server.url + "/mnist/a%20b.gz"
        True
        """
        return f"{self.url}/{urllib.parse.quote(path.lstrip('/'), safe='/')}"

    # -- faults -----------------------------------------------------------

    def add_fault(self, path: str, fault: Fault) -> None:
        """Attach `fault` to `path` (relative to the served directory).

        Faults on one path are consulted in the order they were added; the
        first one that is still active (not spent its ``times``) wins.  See
        the module documentation for how faults treat HEAD and ranges.

        Parameters
        ----------
        path : str
            Path relative to the served directory (a leading slash is
            ignored); the file need not exist.
        fault : Fault
            A fault made by one of the ``Fault.*`` factories.

        Examples
        --------
        >>> import tempfile
        >>> with serve_directory(tempfile.mkdtemp()) as server:
        ...     server.add_fault("mnist/x.gz", Fault.status(503, times=2))
        """
        if not isinstance(fault, Fault):
            raise TypeError(f"expected a Fault, got {fault!r}")
        key = _normalize_key(path)
        with self._lock:
            self._faults.setdefault(key, []).append([fault, fault.times])

    def clear_faults(self, path: Optional[str] = None) -> None:
        """Remove the faults of `path`, or of every path if `path` is None.

        Parameters
        ----------
        path : str or None, optional
            Path relative to the served directory.

        Examples
        --------
        >>> import tempfile
        >>> with serve_directory(tempfile.mkdtemp()) as server:
        ...     server.add_fault("x.gz", Fault.status(404))
        ...     server.clear_faults("x.gz")
        """
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(_normalize_key(path), None)

    def _take_fault(self, key: str, consume: bool) -> Optional[Fault]:
        with self._lock:
            for entry in self._faults.get(key, ()):
                fault, remaining = entry
                if remaining is None:
                    return fault
                if remaining > 0:
                    if consume:
                        entry[1] = remaining - 1
                    return fault
        return None

    # -- request log ------------------------------------------------------

    @property
    def requests(self) -> List[Request]:
        """Snapshot (a new list) of the GET/HEAD requests received, in order.

        Examples
        --------
        >>> import tempfile, urllib.request, urllib.error
        >>> with serve_directory(tempfile.mkdtemp()) as server:
        ...     try:
        ...         urllib.request.urlopen(server.url_for("missing"))
        ...     except urllib.error.HTTPError:
        ...         pass
        ...     server.requests
        [Request(method='GET', path='missing', range_header=None, status=404)]
        """
        with self._lock:
            return list(self._requests)

    def count(self, path: str, method: Optional[str] = "GET") -> int:
        """Number of requests received for `path` with `method`.

        Parameters
        ----------
        path : str
            Path relative to the served directory (leading slash ignored).
        method : str or None, optional
            ``"GET"`` (default), ``"HEAD"``, or ``None`` for any method.

        Returns
        -------
        int

        Examples
        --------
        >>> import tempfile
        >>> with serve_directory(tempfile.mkdtemp()) as server:
        ...     server.count("mnist/x.gz", method=None)
        0
        """
        key = _normalize_key(path)
        wanted = None if method is None else method.upper()
        with self._lock:
            return sum(
                1
                for request in self._requests
                if request.path == key and (wanted is None or request.method == wanted)
            )

    def reset_counts(self) -> None:
        """Forget all recorded requests (faults and their use counts stay).

        Examples
        --------
        >>> import tempfile
        >>> with serve_directory(tempfile.mkdtemp()) as server:
        ...     server.reset_counts()
        ...     server.requests
        []
        """
        with self._lock:
            self._requests.clear()

    # -- internals used by the handler -----------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)

    def _register(self, handler: _Handler) -> None:
        handler._worker = threading.current_thread()  # type: ignore[attr-defined]
        with self._lock:
            self._handlers.add(handler)

    def _unregister(self, handler: _Handler) -> None:
        with self._lock:
            self._handlers.discard(handler)

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self._httpd is not None else "not running"
        return f"<LoopbackServer root={self._root!r} {state}>"


def serve_directory(root: PathLike, *, host: str = "127.0.0.1") -> LoopbackServer:
    """Start a :class:`LoopbackServer` serving `root` and return it.

    The returned server is already running; using it as a context manager
    stops it (and closes its sockets) on exit.  Without ``with``, call
    :meth:`LoopbackServer.stop` yourself.

    Parameters
    ----------
    root : str or os.PathLike
        Directory whose files are served.
    host : str, optional
        Loopback address to bind, default ``"127.0.0.1"``.

    Returns
    -------
    LoopbackServer

    Raises
    ------
    ValueError
        If `host` is not a loopback address (nothing is bound).
    NotADirectoryError
        If `root` is not an existing directory.

    Examples
    --------
    >>> import pathlib, tempfile, urllib.request
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "x.bin").write_bytes(b"\\x00\\x01")
    >>> with serve_directory(root) as server:
    ...     server.add_fault("x.bin", Fault.corrupt(offset=1, times=1))
    ...     urllib.request.urlopen(server.url_for("x.bin")).read()
    b'\\x00\\xfe'
    """
    return LoopbackServer(root, host=host).start()
