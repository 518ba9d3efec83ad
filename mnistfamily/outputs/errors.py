"""The exceptions export and read-back raise (leaves of :class:`~mnistfamily.errors.MnistFamilyError`)."""

from __future__ import annotations

from ..errors import MnistFamilyError


class ExportError(MnistFamilyError, ValueError):
    """An export cannot be written, or what was read back is not a complete export."""


class ExportExistsError(ExportError, FileExistsError):
    """The destination already holds an export of the split(s); ``overwrite=True`` replaces it."""


class IncompleteExportError(ExportError, FileNotFoundError):
    """A folder holds no complete export: ``_SUCCESS`` is missing or shards are missing or extra."""
