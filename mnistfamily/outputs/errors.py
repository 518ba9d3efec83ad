"""The exceptions export and read-back raise (leaves of :class:`~mnistfamily.errors.MnistFamilyError`)."""

from __future__ import annotations

from ..errors import MnistFamilyError


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


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a "no space left" (or "quota exceeded") error, however it was wrapped.

    pyarrow and worker processes re-raise ``ENOSPC`` as an ``OSError`` whose ``errno`` is not
    always set, so the text is checked too.
    """
    import errno

    if not isinstance(exc, OSError):
        return False
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return True
    text = str(exc).lower()
    return "no space left on device" in text or "disk quota exceeded" in text


def disk_full_error(exc: BaseException, dataset: str, where: str) -> ExportDiskFullError:
    """The error to raise instead of ``exc`` once a full disk stopped an export and it was rolled back."""
    return ExportDiskFullError(
        f"{dataset}: the disk holding {where} is full: no space left while writing the export ({exc}). "
        f"The temporary files were removed and {where} holds what it held before. Free some space "
        "there, or export to a destination with more room.")


class TableRegistrationError(ExportError):
    """An export could not be registered as an Iceberg or Delta table (its files may be complete).

    The message says whether the export itself finished, and how to register it again
    (``register_iceberg`` / ``register_delta``) once the cause is fixed.
    """
