"""The export stage's error helpers; its exception classes live with every other in :mod:`mnistfamily.errors`."""

from __future__ import annotations

from ..errors import (CorruptExportError, ExportDestinationError, ExportDiskFullError, ExportError,  # noqa: F401
                      ExportExistsError, ExportWarning, IncompleteExportError, MnistFamilyError,
                      TableRegistrationError, is_disk_full)

__all__ = ["ExportError", "ExportExistsError", "IncompleteExportError", "CorruptExportError", "ExportDestinationError",
           "ExportWarning", "ExportDiskFullError", "TableRegistrationError", "is_disk_full", "disk_full_error"]


def disk_full_error(exc: BaseException, dataset: str, where: str) -> ExportDiskFullError:
    """The error to raise instead of ``exc`` once a full disk stopped an export and it was rolled back."""
    return ExportDiskFullError(
        f"{dataset}: the disk holding {where} is full: no space left while writing the export ({exc}). "
        f"The temporary files were removed and {where} holds what it held before. Free some space "
        "there, or export to a destination with more room.")
