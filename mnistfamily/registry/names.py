"""What a name may be: datasets, splits, published files and columns.

Names reach the library from the registry, from the command line and from files other people
wrote (a Parquet shard's metadata, an export's dataset card). Several of them become parts of
paths (``prepared/<dataset>/<split>@<key>/``, ``<dest>/<dataset>/split=<split>/``), so every
name, wherever it comes from, passes the same checks here before it is used.

Each ``*_problem`` function returns ``None`` for a good name, or a short sentence saying what is
wrong with it, for the caller to put into an error that names the file it came from.
"""

from __future__ import annotations

import re

#: ``family`` or ``family/variant``: lower-case letters, digits, ``.``, ``_``, ``-``; no leading dot
DATASET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?")
#: a lower-case word: letters, digits, ``_``, ``-``
SPLIT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
#: a column of per-example metadata: an identifier, as Parquet engines and pandas like them
COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: names are for people: long ones are typing mistakes or attacks
MAX_NAME_LENGTH = 128
#: file systems allow 255 bytes per path component
MAX_FILE_NAME_BYTES = 255


def _shown(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 60 else text[:57] + "..."


def dataset_name_problem(name: object) -> str | None:
    """Why ``name`` is not a dataset name (``mnist``, ``emnist/balanced``), or None."""
    if not isinstance(name, str):
        return f"a dataset name must be a string, not {type(name).__name__}"
    if len(name) > MAX_NAME_LENGTH or DATASET_NAME.fullmatch(name) is None:
        return (f"{_shown(name)} is not a dataset name: names are lower-case 'family' or 'family/variant' "
                "(letters, digits, '.', '_', '-'; not starting with '.')")
    return None


def split_name_problem(name: object) -> str | None:
    """Why ``name`` is not a split name (``train``, ``test50k``, ``fold1-train``), or None."""
    if not isinstance(name, str):
        return f"a split name must be a string, not {type(name).__name__}"
    if len(name) > MAX_NAME_LENGTH or SPLIT_NAME.fullmatch(name) is None:
        return f"{_shown(name)} is not a split name: split names are lower-case words (letters, digits, '_', '-')"
    return None


def column_name_problem(name: object) -> str | None:
    """Why ``name`` is not a metadata column name (``writer_id``), or None."""
    if not isinstance(name, str):
        return f"a column name must be a string, not {type(name).__name__}"
    if len(name) > MAX_NAME_LENGTH or COLUMN_NAME.fullmatch(name) is None:
        return f"{_shown(name)} is not a column name: use letters, digits and '_', not starting with a digit"
    return None


def file_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a published file's name (one path component, no control characters), or None."""
    if not isinstance(name, str):
        return f"a file name must be a string, not {type(name).__name__}"
    if name in ("", ".", ".."):
        return f"{_shown(name)} is not a file name"
    if "/" in name or "\\" in name:
        return f"{_shown(name)}: file names may not contain path separators"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"{_shown(name)}: file names may not contain control characters (NUL, newline, ...)"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME_BYTES:
        return f"{_shown(name)}: file names may be at most {MAX_FILE_NAME_BYTES} bytes long"
    return None


#: what a person may type for a registry name besides the name itself: any case, and one ``-``,
#: ``_``, ``.``, ``/`` or space between words (torchvision's ``FashionMNIST``, ``EMNIST-balanced``)
_LOOKUP_CHARS = re.compile(r"[A-Za-z0-9]+(?:[ ._/-][A-Za-z0-9]+)*")
_SEPARATORS = re.compile(r"[ ._/-]")


def lookup_key(name: object) -> str | None:
    """The form two spellings of one dataset name share, or None for text no spelling could be.

    Lower case with the separators dropped, so ``MNIST``, ``FashionMNIST``, ``fashion_mnist``
    and ``EMNIST-Balanced`` meet ``mnist``, ``fashion-mnist`` and ``emnist/balanced``. Control
    characters, anything else outside letters, digits and separators, and separators that do
    not stand between two words (``../mnist``, ``mnist ``) give None: such text is never taken
    for a name.

    >>> lookup_key("FashionMNIST"), lookup_key("emnist/balanced"), lookup_key("mnist\\n")
    ('fashionmnist', 'emnistbalanced', None)
    """
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or _LOOKUP_CHARS.fullmatch(name) is None:
        return None
    return _SEPARATORS.sub("", name.lower()) or None
