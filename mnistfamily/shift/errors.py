"""The error of the shift benchmarks: environments or a construction that cannot be used as asked."""

from __future__ import annotations

from ..errors import MnistFamilyError

__all__ = ["ShiftError"]


class ShiftError(MnistFamilyError, ValueError):
    """Environments that cannot be evaluated, or a benchmark construction given impossible arguments.

    The message names what was given, what was expected and what to do. It is also a
    ``ValueError``, the built-in a caller checking arguments would catch.

    Examples
    --------
    >>> from mnistfamily.shift.environments import holdout
    >>> from mnistfamily.shift.errors import ShiftError
    >>> try:
    ...     holdout(1)
    ... except ShiftError as error:
    ...     print(error)
    an environment needs at least 2 examples to hold some out; found n=1
    """
