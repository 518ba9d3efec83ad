"""The exceptions mnistfamily raises.

Every error derives from :class:`MnistFamilyError`; each leaf also derives from the
built-in exception a caller would naturally catch (``ValueError``, ``OSError``,
``KeyError``), so ``except OSError`` keeps working around a failed download.

Messages say four things: what failed, on which dataset/file/URL, what was expected
versus what was found, and what to do next.

Every stage raises the classes defined here (the stages' packages re-export the ones their
users catch: ``mnistfamily.transforms.TransformError``, ``mnistfamily.outputs.ExportError``, ...).
Exceptions that never leave a module (a signal between two of its functions) stay there.
"""

from __future__ import annotations


class MnistFamilyError(Exception):
    """Root of every error raised by mnistfamily."""


class RegistryError(MnistFamilyError, ValueError):
    """The registry file is malformed: every problem is listed, each with its path."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{source}: {len(self.problems)} problem(s) in the registry:\n{lines}\n"
            "Fix these entries (see docs/registry.md for the schema) and try again."
        )


class ConfigError(MnistFamilyError, ValueError):
    """An environment variable or argument has a value the library cannot use."""


class UnknownNameError(MnistFamilyError, KeyError):
    """An unknown dataset or split name; the message offers close matches."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class FormatError(MnistFamilyError, ValueError):
    """A file's bytes are not what its format promises (bad magic, wrong size, truncated)."""


class ChecksumError(MnistFamilyError, ValueError):
    """A file's size or hash differs from the registry's."""


class UnverifiedFileError(MnistFamilyError, ValueError):
    """The registry has no checksum for a file, and unverified files were not allowed."""


class DownloadError(MnistFamilyError, OSError):
    """No location could provide a verified copy of a file; lists every location tried."""


class OfflineError(DownloadError):
    """Files are missing from the cache and offline mode forbids the network.

    ``missing`` names the files (empty when the problem is a network ``source=``).
    """

    def __init__(self, message: str, *, missing: list[str] | None = None, reason: str = ""):
        super().__init__(message)
        self.missing = list(missing or [])
        self.reason = reason


class CacheError(MnistFamilyError, OSError):
    """The cache (downloads or prepared arrays) could not be written or read."""

    @classmethod
    def cannot_write(cls, what: str, folder: object, exc: OSError) -> "CacheError":
        """The error for ``what`` that could not be written into the cache ``folder``.

        A full disk or quota gets its own advice; either way the message says that nothing
        half-written was kept (the callers remove their temporary files before raising it).
        """
        why = exc.strerror or str(exc)
        if is_disk_full(exc):
            advice = ("The disk (or your quota) is full: free some space, or pass data_dir= (or set "
                      "MNISTFAMILY_HOME to) a folder on another disk.")
        else:
            advice = "Check that the cache root is writable, or pass data_dir= another folder."
        error = cls(f"{what}: cannot write into {folder} ({why}); nothing half-written was kept and the "
                    f"rest of the cache is unchanged. {advice}")
        error.errno = exc.errno  # ``except OSError as e: e.errno`` keeps working
        return error


class InsecureTransportError(DownloadError):
    """A file without a checksum could only be fetched over plain http, which is refused.

    Plain (unencrypted) ``http://`` is used only for files the registry has a checksum for;
    the message names each refused URL and says what to do instead.
    """


class MissingDependencyError(MnistFamilyError, ImportError):
    """An optional library (torch, tensorflow, pandas, ...) is needed and not installed; names the extra."""


class LockTimeoutError(MnistFamilyError, TimeoutError):
    """Another process held a lock (a download, a prepared entry, an export) longer than we would wait."""

    @classmethod
    def waited(cls, what: str, lock: object, seconds: float, holder: str) -> "LockTimeoutError":
        """The error after waiting ``seconds`` for ``lock``, held by ``holder`` (see ``safe_write``)."""
        return cls(f"{what}: waited {seconds:g} s for {lock}, held by {holder}. If that process is still "
                   "working, let it finish (its result will be used); if it hangs, stop it. To wait longer, "
                   "set MNISTFAMILY_LOCK_TIMEOUT (seconds).")


class UnverifiedFileWarning(UserWarning):
    """A file was used although the registry has no checksum to verify it against."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a "no space left" (or "quota exceeded", "file too large") error, however it was wrapped.

    pyarrow and worker processes re-raise ``ENOSPC`` as an ``OSError`` whose ``errno`` is not
    always set, so the text is checked too.

    >>> import errno
    >>> is_disk_full(OSError(errno.ENOSPC, "No space left on device")), is_disk_full(OSError("Disk quota exceeded"))
    (True, True)
    >>> is_disk_full(PermissionError(errno.EACCES, "Permission denied"))
    False
    """
    import errno

    if not isinstance(exc, OSError):
        return False
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG):
        return True
    text = str(exc).lower()
    return "no space left on device" in text or "disk quota exceeded" in text


# ---------------------------------------------------------------------------
# transforms, split expressions, adapters, shift protocols, baselines
# ---------------------------------------------------------------------------


class ExampleKindError(MnistFamilyError, TypeError):
    """An operation asked of examples of another kind (``ds.images`` of varying-length signals, ...)."""


class TransformError(MnistFamilyError, ValueError):
    """A transform was given input it cannot handle, or a spec that names no valid transform."""


class SplitExpressionError(MnistFamilyError, ValueError):
    """A split expression that does not parse, or that asks for rows the split does not have."""


class AdapterError(MnistFamilyError, ValueError):
    """An adapter was asked for something the Dataset cannot give (a shape, a dtype, an option)."""


class ProtocolError(MnistFamilyError, ValueError):
    """A protocols file is malformed, or a protocol cannot be run; lists every problem found."""

    def __init__(self, source: str, problems: list[str] | tuple[str, ...]):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in the shift protocols:\n{lines}\n"
                         "Fix these entries (the schema is in docs/shift.md) and try again.")


class ShiftError(MnistFamilyError, ValueError):
    """Environments that cannot be evaluated, or a benchmark construction given impossible arguments.

    The message names what was given, what was expected and what to do. It is also a
    ``ValueError``, the built-in a caller checking arguments would catch.

    Examples
    --------
    >>> from mnistfamily.shift.environments import holdout
    >>> from mnistfamily.errors import ShiftError
    >>> try:
    ...     holdout(1)
    ... except ShiftError as error:
    ...     print(error)
    an environment needs at least 2 examples to hold some out; found n=1
    """


class ConvergenceWarning(UserWarning):
    """L-BFGS stopped at ``max_iter`` (or on a line-search failure) before reaching ``tol``."""


# ---------------------------------------------------------------------------
# exports (Parquet, npz, IDX) and reading them back
# ---------------------------------------------------------------------------


class ExportError(MnistFamilyError, ValueError):
    """An export cannot be written, or what was read back is not a complete export."""


class ExportExistsError(ExportError, FileExistsError):
    """The destination already holds an export of the split(s); ``overwrite=True`` replaces it."""


class IncompleteExportError(ExportError, FileNotFoundError):
    """A folder holds no complete export: ``_SUCCESS`` is missing or shards are missing or extra."""


class CorruptExportError(ExportError):
    """A shard or dataset card is not what an export writes: damaged, altered, or written by something else.

    The message names the file, what was expected and what was found. Reading never trusts
    what such a file declares (names, shapes, sizes, row counts) beyond these checks.
    """


class ExportDestinationError(ExportError, OSError):
    """The destination cannot take an export: it is a file, read-only, or holds a folder that is
    not an export (which the export will not replace)."""


class ExportWarning(UserWarning):
    """Something in the destination that the export did not write was kept, and is reported."""


class ExportDiskFullError(ExportError, OSError):
    """The destination ran out of space; the export's temporary files were removed and the
    destination holds what it held before."""


class TableRegistrationError(ExportError):
    """An export could not be registered as an Iceberg or Delta table (its files may be complete).

    The message says whether the export itself finished, and how to register it again
    (``register_iceberg`` / ``register_delta``) once the cause is fixed.
    """
