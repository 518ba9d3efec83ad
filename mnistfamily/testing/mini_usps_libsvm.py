"""Miniatures of USPS as LIBSVM publishes it: bzip2'd text lines ``label 1:v1 ... 256:v256``, known content.

Each line is written as the published files write them: the label 1..10 (the digit plus one),
then the 256 pixels row by row as ``index:value`` with six decimals, a space after each pair
(the published lines end in one), ``\\n`` line ends. Values are drawn as whole millionths in
[-1, 1]; the edges -1 and 1 and every value listed in ``FLOAT32_DEPARTURES`` appear in the first
image, so the exact mapping is exercised.

The expected arrays are computed from the integers drawn, without parsing text: ``float32`` is
``k / 10**6`` rounded to float32; ``uint8`` is the exact ``floor((k + 10**6) * 255 / (2 * 10**6))``
with integers, moved by the six departures the reader documents.
"""

from __future__ import annotations

import bz2

import numpy as np

from ..formats.usps_libsvm import FLOAT32_DEPARTURES

__all__ = ["usps_contents", "usps_libsvm_bytes", "usps_libsvm_contents"]


def usps_libsvm_contents(count: int = 40, seed: int = 0, *, compress: bool = True):
    """The bytes of a miniature USPS file of ``count`` lines, and what each decoding must give.

    Returns ``(bytes, {"uint8": expected, "float32": expected})``, each holding ``images``
    ``(count, 16, 16)``, ``labels`` (0..9, int64) and ``index``.
    """
    rng = np.random.default_rng(seed)
    millionths = rng.integers(-10**6, 10**6 + 1, size=(count, 256), dtype=np.int64)
    special = [-10**6, 10**6, 0] + [round(float(v) * 10**6) for v in FLOAT32_DEPARTURES]
    millionths[0, :len(special)] = special
    digits = rng.integers(0, 10, size=count)
    digits[: min(count, 10)] = np.arange(min(count, 10))
    data = usps_libsvm_bytes(millionths, digits, compress=compress)
    exact = (millionths + 10**6) * 255 // (2 * 10**6)
    for text, (floor, served) in FLOAT32_DEPARTURES.items():
        exact[millionths == round(float(text) * 10**6)] = served
    common = {"labels": digits.astype(np.int64), "index": np.arange(count, dtype=np.int64)}
    return data, {
        "float32": {"images": (millionths / 10**6).astype(np.float32).reshape(count, 16, 16), **common},
        "uint8": {"images": exact.astype(np.uint8).reshape(count, 16, 16), **common},
    }


def usps_libsvm_bytes(millionths: np.ndarray, digits: np.ndarray, *, compress: bool = True) -> bytes:
    """The LIBSVM text of images given as whole millionths ``(N, 256)`` with ``digits`` 0..9, bzip2'd."""
    lines = []
    for row, digit in zip(millionths, digits):
        pairs = " ".join(f"{i}:{_decimal(int(k))}" for i, k in enumerate(row, start=1))
        lines.append(f"{int(digit) + 1} {pairs} \n")
    text = "".join(lines).encode("ascii")
    return bz2.compress(text, 9) if compress else text


def _decimal(k: int) -> str:
    """``k`` millionths with six decimals, from the integer (no float formatting involved)."""
    sign = "-" if k < 0 else ""
    whole, frac = divmod(abs(k), 10**6)
    return f"{sign}{whole}.{frac:06d}"


def usps_contents(spec, splits: dict, rng: np.random.Generator):
    """The miniature writer of the ``usps-libsvm`` format (its row of ``registry/formats.py``).

    One bzip2'd LIBSVM file per split of its (scaled) ``num_examples`` lines. The content is a
    function of the file's name, not of ``rng``: ``usps`` and ``usps/float32`` read the same
    published files, so their miniatures must be the same bytes, decoded two ways (the entry's
    ``image_dtype``).
    """
    import zlib

    published, expected = {}, {}
    for split in splits.values():
        name = split.inputs["data"]
        data, decodings = usps_libsvm_contents(int(split.num_examples or 5), seed=zlib.crc32(name.encode()))
        published[name] = (data, None)
        expected[split.name] = {**decodings[spec.image_dtype], "metadata": {}}
    return published, expected
