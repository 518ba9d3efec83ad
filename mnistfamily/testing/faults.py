"""Faults a :class:`~mnistfamily.testing.server.LoopbackServer` can inject, as frozen dataclasses.

``Fault.status(503, times=2)``, ``Fault.truncate(at=100)``, ... build them; the server decides
how each one changes an answer (see the server module's "Fault semantics").
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

__all__ = [
    "Fault", "StatusFault", "TruncateFault", "CorruptFault", "DelayFault", "TrickleFault",
    "HtmlPageFault", "WrongLengthFault", "RedirectFault", "ResetFault", "SlowHeadersFault", "EndlessFault",
]


def _check_times(times: Optional[int]) -> None:
    if times is None:
        return
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError(f"times must be None or a positive int, got {times!r}")


def _check_nonneg_int(name: str, value: int, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_nonneg_number(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


class Fault:
    """Base class of injectable faults, and factory for all of them.

    Use the static methods (``Fault.status(...)``, ``Fault.truncate(...)``,
    ...) to create faults, and :meth:`LoopbackServer.add_fault` to attach
    them to a path.  Every fault is a small frozen dataclass with a ``times``
    field: the number of GET requests it applies to before it is spent, or
    ``None`` (the default) for "always".  The same fault object may be
    attached to several paths or servers; the count of uses is kept by the
    server, per attachment.

    Examples
    --------
    >>> Fault.status(503, times=2)
    StatusFault(code=503, headers=(), times=2)
    >>> isinstance(Fault.truncate(at=100), Fault)
    True
    """

    __slots__ = ()

    #: How many GETs the fault applies to (None: all); every subclass sets it.
    times: Optional[int]

    #: Whether the fault changes the answer to a HEAD request.
    affects_head = True

    @staticmethod
    def status(
        code: int,
        *,
        times: Optional[int] = None,
        headers: Tuple[Tuple[str, str], ...] = (),
    ) -> "StatusFault":
        """Answer with HTTP status `code` and a short text body.

        Parameters
        ----------
        code : int
            HTTP status code, 200-599 (e.g. 404, 500, 503).  The answer has a
            short ``text/plain`` body, except for 204 and 304, which have
            neither body nor ``Content-Length``.
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.
        headers : tuple of (str, str), optional
            Extra response headers, e.g. ``(("Retry-After", "1"),)``.

        Returns
        -------
        StatusFault

        Examples
        --------
        >>> Fault.status(503, times=2, headers=(("Retry-After", "0"),)).code
        503
        """
        return StatusFault(code=code, headers=tuple(headers), times=times)

    @staticmethod
    def truncate(at: int, *, times: Optional[int] = None) -> "TruncateFault":
        """Send the full ``Content-Length`` but only `at` body bytes, then close.

        Parameters
        ----------
        at : int
            Number of body bytes actually sent (>= 0).  If the body is not
            longer than `at`, it is sent whole (the connection is still
            closed afterwards).
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        TruncateFault

        Examples
        --------
        >>> Fault.truncate(at=100).at
        100
        """
        return TruncateFault(at=at, times=times)

    @staticmethod
    def corrupt(offset: int, *, times: Optional[int] = None) -> "CorruptFault":
        """Send the body with the byte at file `offset` XOR-ed with ``0xFF``.

        Length and headers are unchanged.  If `offset` lies outside the bytes
        being sent (past the end of the file, or outside a requested range),
        the body is sent unchanged.

        Parameters
        ----------
        offset : int
            Zero-based offset into the file (>= 0).
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        CorruptFault

        Examples
        --------
        >>> Fault.corrupt(offset=10).offset
        10
        """
        return CorruptFault(offset=offset, times=times)

    @staticmethod
    def delay(seconds: float, *, times: Optional[int] = None) -> "DelayFault":
        """Sleep `seconds` before answering (GET and HEAD).

        The sleep is cut short when the server stops.

        Parameters
        ----------
        seconds : float
            Delay in seconds (>= 0).
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        DelayFault

        Examples
        --------
        >>> Fault.delay(0.5).seconds
        0.5
        """
        return DelayFault(seconds=seconds, times=times)

    @staticmethod
    def trickle(
        bytes_per_chunk: int = 1024,
        pause: float = 0.01,
        *,
        times: Optional[int] = None,
    ) -> "TrickleFault":
        """Send the body slowly: `bytes_per_chunk` bytes, then `pause` seconds.

        Headers are sent at once; the body arrives complete and correct.

        Parameters
        ----------
        bytes_per_chunk : int, optional
            Bytes written per chunk (>= 1).  Default 1024.
        pause : float, optional
            Seconds slept after each chunk except the last (>= 0).
            Default 0.01.
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        TrickleFault

        Examples
        --------
        >>> Fault.trickle(bytes_per_chunk=1024, pause=0.01).pause
        0.01
        """
        return TrickleFault(bytes_per_chunk=bytes_per_chunk, pause=pause, times=times)

    @staticmethod
    def html_page(*, code: int = 200, times: Optional[int] = None) -> "HtmlPageFault":
        """Answer with an HTML error page (``text/html``) instead of the file.

        This is what captive portals and misconfigured mirrors do: status
        ``200`` (by default) with a body that is not the data.

        Parameters
        ----------
        code : int, optional
            Status code to send with the page.  Default 200.
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        HtmlPageFault

        Examples
        --------
        >>> Fault.html_page().code
        200
        """
        return HtmlPageFault(code=code, times=times)

    @staticmethod
    def wrong_length(extra: int, *, times: Optional[int] = None) -> "WrongLengthFault":
        """Announce a ``Content-Length`` that differs from the body by `extra` bytes.

        With ``extra > 0`` the header overstates the length: the whole (correct)
        body is sent, then the connection is closed, so the client sees a
        premature end of the body.  With ``extra < 0`` the header understates
        it: the whole body is still written, then the connection is closed, so
        a client that trusts the header gets a body ``-extra`` bytes short
        (and the surplus never reaches it as the start of another answer).

        Parameters
        ----------
        extra : int
            How many bytes the header overstates (> 0) or understates (< 0)
            the body by; not 0.  An understatement larger than the body
            announces ``Content-Length: 0``.
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        WrongLengthFault

        Examples
        --------
        >>> Fault.wrong_length(extra=10).extra
        10
        >>> Fault.wrong_length(extra=-10).extra
        -10
        """
        return WrongLengthFault(extra=extra, times=times)

    @staticmethod
    def reset(at: int = 0, *, times: Optional[int] = None) -> "ResetFault":
        """Send the headers and `at` body bytes, then reset the connection (TCP RST).

        The socket is closed with ``SO_LINGER`` set to zero, so the kernel sends
        a RST instead of the orderly FIN a truncated answer ends with: the
        client's next read fails with "connection reset by peer", the way a
        crashing server or a middlebox dropping the flow looks.

        Parameters
        ----------
        at : int, optional
            Number of body bytes sent before the reset (>= 0).  Default 0.
            If the body is not longer than `at`, it is sent whole and the
            connection is still reset.
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        ResetFault

        Examples
        --------
        >>> Fault.reset(at=100).at
        100
        """
        return ResetFault(at=at, times=times)

    @staticmethod
    def redirect(
        target: str, *, code: int = 302, times: Optional[int] = None
    ) -> "RedirectFault":
        """Redirect to another path on the same server.

        The ``Location`` header is the absolute URL of `target` on this
        server (see :meth:`LoopbackServer.url_for`).  Redirecting a path to
        itself makes a redirect loop.

        Parameters
        ----------
        target : str
            Path relative to the served directory, e.g. ``"other/x.gz"``.
        code : int, optional
            One of 301, 302, 303, 307, 308.  Default 302.
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        RedirectFault

        Examples
        --------
        >>> Fault.redirect("mirror/x.gz").target
        'mirror/x.gz'
        """
        return RedirectFault(target=target, code=code, times=times)


    @staticmethod
    def slow_headers(
        bytes_per_chunk: int = 1, pause: float = 0.1, *, times: Optional[int] = None
    ) -> "SlowHeadersFault":
        """Send the status line and headers slowly: `bytes_per_chunk` bytes, then `pause` seconds.

        The body follows at full speed once the headers are out.  A client whose only
        defence is a read timeout (silence) waits as long as the headers take; a header
        deadline gives up.

        Parameters
        ----------
        bytes_per_chunk : int, optional
            Header bytes written per chunk (>= 1).  Default 1.
        pause : float, optional
            Seconds slept after each chunk (>= 0).  Default 0.1.
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        SlowHeadersFault

        Examples
        --------
        >>> Fault.slow_headers(pause=0.5).pause
        0.5
        """
        return SlowHeadersFault(bytes_per_chunk=bytes_per_chunk, pause=pause, times=times)

    @staticmethod
    def endless(
        bytes_per_chunk: int = 65536,
        pause: float = 0.0,
        *,
        give_up_after: Optional[int] = None,
        times: Optional[int] = None,
    ) -> "EndlessFault":
        """Answer 200 with a body that never ends: the file's bytes, then zeros, forever.

        No ``Content-Length`` is sent (the body would end when the connection closes, which
        the server does not do while the client reads), so only a size cap on the client's
        side stops it.  Sending stops when the client goes away or the server stops.

        Parameters
        ----------
        bytes_per_chunk : int, optional
            Bytes written per chunk (>= 1).  Default 65536.
        pause : float, optional
            Seconds slept after each chunk (>= 0).  Default 0.
        give_up_after : int or None, optional
            A safety net for tests: after this many bytes the server closes the connection
            (the body then simply ends), so a client without a cap cannot fill a disk.
            ``None`` (the default): never.
        times : int or None, optional
            Apply to the first `times` GET requests only; ``None``: always.

        Returns
        -------
        EndlessFault

        Examples
        --------
        >>> Fault.endless().bytes_per_chunk
        65536
        """
        return EndlessFault(bytes_per_chunk=bytes_per_chunk, pause=pause, give_up_after=give_up_after,
                            times=times)


@dataclasses.dataclass(frozen=True)
class StatusFault(Fault):
    """Answer with a fixed status code; see :meth:`Fault.status`.

    Examples
    --------
    >>> StatusFault(code=500).times is None
    True
    """

    code: int
    headers: Tuple[Tuple[str, str], ...] = ()
    times: Optional[int] = None

    def __post_init__(self) -> None:
        if isinstance(self.code, bool) or not isinstance(self.code, int) or not (
            200 <= self.code <= 599
        ):
            raise ValueError(f"code must be an HTTP status 200-599, got {self.code!r}")
        for item in self.headers:
            if (
                not isinstance(item, tuple)
                or len(item) != 2
                or not all(isinstance(part, str) for part in item)
            ):
                raise ValueError(f"headers must be (name, value) string pairs, got {item!r}")
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class TruncateFault(Fault):
    """Cut the body short; see :meth:`Fault.truncate`.

    Examples
    --------
    >>> TruncateFault(at=3)
    TruncateFault(at=3, times=None)
    """

    at: int
    times: Optional[int] = None
    affects_head = False

    def __post_init__(self) -> None:
        _check_nonneg_int("at", self.at)
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class CorruptFault(Fault):
    """Flip one byte of the body; see :meth:`Fault.corrupt`.

    Examples
    --------
    >>> CorruptFault(offset=0)
    CorruptFault(offset=0, times=None)
    """

    offset: int
    times: Optional[int] = None
    affects_head = False

    def __post_init__(self) -> None:
        _check_nonneg_int("offset", self.offset)
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class DelayFault(Fault):
    """Sleep before answering; see :meth:`Fault.delay`.

    Examples
    --------
    >>> DelayFault(seconds=0.1)
    DelayFault(seconds=0.1, times=None)
    """

    seconds: float
    times: Optional[int] = None

    def __post_init__(self) -> None:
        _check_nonneg_number("seconds", self.seconds)
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class TrickleFault(Fault):
    """Send the body slowly; see :meth:`Fault.trickle`.

    Examples
    --------
    >>> TrickleFault(bytes_per_chunk=16, pause=0.0)
    TrickleFault(bytes_per_chunk=16, pause=0.0, times=None)
    """

    bytes_per_chunk: int = 1024
    pause: float = 0.01
    times: Optional[int] = None
    affects_head = False

    def __post_init__(self) -> None:
        _check_nonneg_int("bytes_per_chunk", self.bytes_per_chunk, minimum=1)
        _check_nonneg_number("pause", self.pause)
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class HtmlPageFault(Fault):
    """Answer with an HTML error page; see :meth:`Fault.html_page`.

    Examples
    --------
    >>> HtmlPageFault()
    HtmlPageFault(code=200, times=None)
    """

    code: int = 200
    times: Optional[int] = None

    def __post_init__(self) -> None:
        if isinstance(self.code, bool) or not isinstance(self.code, int) or not (
            100 <= self.code <= 599
        ):
            raise ValueError(f"code must be an HTTP status 100-599, got {self.code!r}")
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class WrongLengthFault(Fault):
    """Misstate ``Content-Length``; see :meth:`Fault.wrong_length`.

    Examples
    --------
    >>> WrongLengthFault(extra=1)
    WrongLengthFault(extra=1, times=None)
    """

    extra: int
    times: Optional[int] = None

    def __post_init__(self) -> None:
        if isinstance(self.extra, bool) or not isinstance(self.extra, int) or self.extra == 0:
            raise ValueError(f"extra must be a non-zero int, got {self.extra!r}")
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class RedirectFault(Fault):
    """Redirect to another path; see :meth:`Fault.redirect`.

    Examples
    --------
    >>> RedirectFault(target="a/b.gz")
    RedirectFault(target='a/b.gz', code=302, times=None)
    """

    target: str
    code: int = 302
    times: Optional[int] = None

    def __post_init__(self) -> None:
        if not isinstance(self.target, str):
            raise ValueError(f"target must be a str, got {self.target!r}")
        if self.code not in (301, 302, 303, 307, 308):
            raise ValueError(f"code must be 301, 302, 303, 307 or 308, got {self.code!r}")
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class ResetFault(Fault):
    """Reset the connection part-way through the body; see :meth:`Fault.reset`.

    Examples
    --------
    >>> ResetFault(at=3)
    ResetFault(at=3, times=None)
    """

    at: int = 0
    times: Optional[int] = None
    affects_head = False

    def __post_init__(self) -> None:
        _check_nonneg_int("at", self.at)
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class SlowHeadersFault(Fault):
    """Trickle the status line and headers; see :meth:`Fault.slow_headers`.

    Examples
    --------
    >>> SlowHeadersFault(bytes_per_chunk=2, pause=0.0)
    SlowHeadersFault(bytes_per_chunk=2, pause=0.0, times=None)
    """

    bytes_per_chunk: int = 1
    pause: float = 0.1
    times: Optional[int] = None

    def __post_init__(self) -> None:
        _check_nonneg_int("bytes_per_chunk", self.bytes_per_chunk, minimum=1)
        _check_nonneg_number("pause", self.pause)
        _check_times(self.times)


@dataclasses.dataclass(frozen=True)
class EndlessFault(Fault):
    """Send a body that never ends; see :meth:`Fault.endless`.

    Examples
    --------
    >>> EndlessFault()
    EndlessFault(bytes_per_chunk=65536, pause=0.0, give_up_after=None, times=None)
    """

    bytes_per_chunk: int = 65536
    pause: float = 0.0
    give_up_after: Optional[int] = None
    times: Optional[int] = None
    affects_head = False

    def __post_init__(self) -> None:
        _check_nonneg_int("bytes_per_chunk", self.bytes_per_chunk, minimum=1)
        _check_nonneg_number("pause", self.pause)
        if self.give_up_after is not None:
            _check_nonneg_int("give_up_after", self.give_up_after)
        _check_times(self.times)
