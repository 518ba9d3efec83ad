"""The library's loggers, for modules on the warm path: ``logging`` is imported only when something is logged.

A warm ``load`` logs nothing, so it never pays for importing :mod:`logging`.

>>> logger("mnistfamily.prepare").name
'mnistfamily.prepare'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


def logger(name: str = "mnistfamily") -> "logging.Logger":
    """The logger ``name`` (a child of ``mnistfamily``), imported on first use."""
    import logging

    return logging.getLogger(name)
