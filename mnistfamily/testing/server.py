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

import ipaddress
import os
import socket
import threading
import time
import urllib.parse
from typing import List, Optional, Union

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

from .http_handler import Request, _Handler, _HTTP6Server, _HTTPServer, _normalize_key

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

_JOIN_TIMEOUT = 2.0  # how long stop() waits for handler threads in total

PathLike = Union[str, "os.PathLike[str]"]


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
