"""Where things live and how the library may reach the network.

One place reads configuration: an explicit argument wins, then the environment,
then the default. Nothing here creates a folder; callers create what they write into.

Environment variables
---------------------
MNISTFAMILY_HOME
    Cache root. Default: ``$XDG_CACHE_HOME/mnistfamily`` or ``~/.cache/mnistfamily``.
MNISTFAMILY_MIRROR
    Comma-separated fsspec base URLs tried before the registry's own locations. A mirror
    holds files as ``<base>/<family>/<published file name>``.
MNISTFAMILY_OFFLINE
    ``1`` (or ``true``/``yes``) forbids every network call.
MNISTFAMILY_REGISTRY
    Extra registry files (``os.pathsep``-separated) whose entries are added to the
    built-in ones, for private datasets in the same formats.
MNISTFAMILY_ALLOW_UNVERIFIED
    ``1`` lets files the registry has no checksum for be used, with a warning.
MNISTFAMILY_PROGRESS
    ``1`` forces download progress bars, ``0`` hides them; by default they show where a
    person watches: when stderr is a terminal, or in a Jupyter notebook.
MNISTFAMILY_RETRIES, MNISTFAMILY_BACKOFF, MNISTFAMILY_CONNECT_TIMEOUT, MNISTFAMILY_READ_TIMEOUT
    Attempts per location (default 3), first backoff (1 s), and the two timeouts of a download:
    to connect (30 s) and of silence within an answer (60 s).
MNISTFAMILY_HEADER_TIMEOUT
    Seconds from a request until its status line and headers have all arrived, redirects
    included (default 60); a server trickling its headers is given up after that.
MNISTFAMILY_SPEED_LIMIT, MNISTFAMILY_SPEED_TIME
    The low-speed limit, as curl's ``--speed-limit``/``--speed-time``: a download that
    averages less than SPEED_LIMIT bytes/s over SPEED_TIME seconds is given up and the next
    location tried (defaults 1024 bytes/s over 30 s: slower than any working link, dial-up
    included; ``0`` turns the limit off).
MNISTFAMILY_RETRY_BUDGET
    Retries (beyond each location's first attempt) that one load may spend in all, over every
    file and location (default 10); once spent, a failure moves on to the next location.
MNISTFAMILY_MAX_UNKNOWN_SIZE
    Bytes at most for a file, or its decompressed content, whose size the registry does not
    know (default 4 GiB: 7 times the largest file of the family, affNIST's 609 MB
    ``training_batches.zip``, and 8 times the largest decompressed member, EMNIST ByClass's
    547 MB training images, leaving room for larger entries while keeping a server that never
    stops from filling the disk). Past it the download, or the decompression while verifying,
    stops with an error.
MNISTFAMILY_LOCK_TIMEOUT
    Seconds to wait for another process that is downloading, preparing or exporting the same
    thing (default 3600); then the wait ends with an error naming that process.

The download settings are read when a download starts, so changing them in a running process
takes effect; a value that is not a number (or is out of range) is a ``ConfigError`` naming
the variable.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    from .errors import ConfigError

    raise ConfigError(f"environment variable {name}={value!r}: expected 1/0, true/false, yes/no or on/off; "
                      f"unset it or give one of those values.")


def cache_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: ``data_dir`` if given, else ``MNISTFAMILY_HOME``, else the XDG cache."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    home = os.environ.get("MNISTFAMILY_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mnistfamily"


def downloads_dir(root: Path) -> Path:
    """Verified raw files, as published: ``<root>/downloads/<family>/<file>``."""
    return root / "downloads"


def prepared_dir(root: Path) -> Path:
    """Decoded, memory-mappable arrays: ``<root>/prepared/<dataset>/<split>@<key>/``."""
    return root / "prepared"


def mirrors() -> list[str]:
    """Mirror base URLs from ``MNISTFAMILY_MIRROR``, in order."""
    raw = os.environ.get("MNISTFAMILY_MIRROR", "")
    return [m.strip() for m in raw.split(",") if m.strip()]


def offline() -> bool:
    """True when ``MNISTFAMILY_OFFLINE`` forbids network access."""
    return bool(_env_flag("MNISTFAMILY_OFFLINE"))


def allow_unverified(explicit: bool | None = None) -> bool:
    """Whether files without a registry checksum may be used (argument, then environment)."""
    if explicit is not None:
        return explicit
    return bool(_env_flag("MNISTFAMILY_ALLOW_UNVERIFIED"))


def user_registries() -> list[Path]:
    """Extra registry files named by ``MNISTFAMILY_REGISTRY``."""
    raw = os.environ.get("MNISTFAMILY_REGISTRY", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def progress_enabled(stream_isatty: bool) -> bool:
    """Progress bars: forced by ``MNISTFAMILY_PROGRESS``, else only where a person watches.

    ``stream_isatty``: whether someone watches (stderr is a terminal, or a notebook shows it).
    """
    forced = _env_flag("MNISTFAMILY_PROGRESS")
    return stream_isatty if forced is None else forced


def _env_number(name: str, default: float, *, minimum: float, integer: bool = False,
                unit: str | None = None) -> float:
    """A numeric setting from the environment, checked, so a typo is an error that names it."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:  # NaN fails isfinite
        from .errors import ConfigError

        kind = unit or ("a whole number" if integer else "a number of seconds")
        raise ConfigError(f"environment variable {name}={raw!r}: expected {kind} >= {minimum:g}; "
                          "unset it or give such a value.")
    return value


def retries() -> int:
    """Attempts per location for transient download failures (``MNISTFAMILY_RETRIES``, default 3)."""
    return int(_env_number("MNISTFAMILY_RETRIES", 3, minimum=1, integer=True))


def backoff() -> float:
    """Seconds before the first retry, doubled at each one (``MNISTFAMILY_BACKOFF``, default 1)."""
    return _env_number("MNISTFAMILY_BACKOFF", 1.0, minimum=0)


def connect_timeout() -> float:
    """Seconds to establish a connection (``MNISTFAMILY_CONNECT_TIMEOUT``, default 30)."""
    return _env_number("MNISTFAMILY_CONNECT_TIMEOUT", 30.0, minimum=0.001)


def read_timeout() -> float:
    """Seconds of silence within a body before giving up (``MNISTFAMILY_READ_TIMEOUT``, default 60)."""
    return _env_number("MNISTFAMILY_READ_TIMEOUT", 60.0, minimum=0.001)


def header_timeout() -> float:
    """Seconds from a request to its complete headers (``MNISTFAMILY_HEADER_TIMEOUT``, default 60)."""
    return _env_number("MNISTFAMILY_HEADER_TIMEOUT", 60.0, minimum=0.001)


def speed_limit() -> float:
    """Bytes/s below which a download is too slow (``MNISTFAMILY_SPEED_LIMIT``, default 1024; 0: no limit)."""
    return _env_number("MNISTFAMILY_SPEED_LIMIT", 1024.0, minimum=0, unit="a number of bytes per second")


def speed_time() -> float:
    """Seconds over which the low-speed limit is averaged (``MNISTFAMILY_SPEED_TIME``, default 30)."""
    return _env_number("MNISTFAMILY_SPEED_TIME", 30.0, minimum=0.001)


def retry_budget() -> int:
    """Retries one load may spend over all its files and locations (``MNISTFAMILY_RETRY_BUDGET``, default 10)."""
    return int(_env_number("MNISTFAMILY_RETRY_BUDGET", 10, minimum=0, integer=True))


#: the default of MNISTFAMILY_MAX_UNKNOWN_SIZE: 4 GiB (see the module docstring for why)
MAX_UNKNOWN_SIZE = 4 << 30


def max_unknown_size() -> int:
    """Bytes at most for a file or payload of unknown size (``MNISTFAMILY_MAX_UNKNOWN_SIZE``, default 4 GiB)."""
    return int(_env_number("MNISTFAMILY_MAX_UNKNOWN_SIZE", MAX_UNKNOWN_SIZE, minimum=1, integer=True,
                           unit="a whole number of bytes"))


def lock_timeout() -> float:
    """Seconds to wait for another process's lock (``MNISTFAMILY_LOCK_TIMEOUT``, default 3600)."""
    return _env_number("MNISTFAMILY_LOCK_TIMEOUT", 3600.0, minimum=0)


# ---------------------------------------------------------------------------
# The settings of a fetch, in one object
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchSettings:
    """Where files may come from and how long a transfer may take, in one object.

    ``mf.load``, ``mf.download`` and ``mf.verify(repair=True)`` build one from their keywords
    and hand it down to every file they fetch, as Hugging Face ``datasets`` hands a
    ``DownloadConfig`` down. A setting left ``None`` is read from the environment when a
    download starts, so a variable set after import still counts.

    Parameters
    ----------
    source
        A folder or fsspec URL holding the raw files, used *instead of* mirrors and the internet.
    download
        ``False`` forbids network access (as ``MNISTFAMILY_OFFLINE=1`` does).
    allow_unverified
        Use files the registry has no checksum for; ``None``: ``MNISTFAMILY_ALLOW_UNVERIFIED``.
    storage_options
        fsspec options of ``source=`` URLs and mirrors (credentials, endpoints).
    retries
        Attempts per location for transient failures; ``None``: ``MNISTFAMILY_RETRIES``.
    backoff
        Seconds before the first retry, doubled at each one; ``None``: ``MNISTFAMILY_BACKOFF``.
    connect_timeout, read_timeout
        Seconds to connect, and of silence within a body; ``None``: ``MNISTFAMILY_CONNECT_TIMEOUT``,
        ``MNISTFAMILY_READ_TIMEOUT``.

    Examples
    --------
    >>> from mnistfamily.config import FetchSettings
    >>> settings = FetchSettings(source="~/mnist", retries=2)
    >>> settings.attempts(), settings.download
    (2, True)
    >>> settings.replace(source=None).source is None
    True
    """

    source: str | os.PathLike[str] | None = None
    download: bool = True
    allow_unverified: bool | None = None
    storage_options: dict[str, Any] | None = None
    retries: int | None = None
    backoff: float | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None

    def replace(self, **changes: Any) -> "FetchSettings":
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def unverified_allowed(self) -> bool:
        """Whether files without a registry checksum may be used (this setting, then the environment)."""
        return allow_unverified(self.allow_unverified)

    def attempts(self) -> int:
        """Attempts per location for transient failures (at least 1)."""
        return max(int(self.retries), 1) if self.retries is not None else retries()

    def first_backoff(self) -> float:
        """Seconds before the first retry."""
        return float(self.backoff) if self.backoff is not None else backoff()

    def timeouts(self) -> tuple[float, float]:
        """Seconds to connect, and of silence within a body."""
        return (float(self.connect_timeout) if self.connect_timeout is not None else connect_timeout(),
                float(self.read_timeout) if self.read_timeout is not None else read_timeout())
