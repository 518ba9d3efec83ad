"""Readers for the formats the family is published in, chosen by content."""

from .idx import IdxHeader, open_idx, read_idx, write_idx

__all__ = ["IdxHeader", "open_idx", "read_idx", "write_idx"]
