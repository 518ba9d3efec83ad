"""Mutators: byte-level havoc, and havoc inside a gzip/xz/zip container repacked so its checks pass."""

from __future__ import annotations

import gzip
import io
import lzma
import random
import zipfile

from .containers import _compress

__all__ = ["mutate", "mutate_bytes"]


_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 20)


def mutate_bytes(data: bytes, rng: random.Random, others: list[bytes] | None = None, rounds: int = 0) -> bytes:
    """Byte-level havoc: bit flips, byte sets, interesting integers, chunk insert/delete/duplicate, truncation, splicing."""
    out = bytearray(data)
    for _ in range(rounds or rng.choice((1, 1, 2, 3, 5, 8))):
        op = rng.randrange(9)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:  # bit flip
            i = min(pos, len(out) - 1)
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1 and out:  # random byte
            out[min(pos, len(out) - 1)] = rng.randrange(256)
        elif op == 2:  # interesting integer, either byte order
            width = rng.choice((1, 2, 4, 8))
            value = rng.choice(_INTERESTING) % (1 << (8 * width))
            out[pos:pos + width] = value.to_bytes(width, rng.choice(("big", "little")))
        elif op == 3 and out:  # delete a chunk
            out[pos:pos + rng.randrange(1, 64)] = b""
        elif op == 4:  # insert random bytes
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32)))
        elif op == 5 and out:  # duplicate a chunk
            start = rng.randrange(len(out))
            out[pos:pos] = out[start:start + rng.randrange(1, 256)]
        elif op == 6 and out:  # truncate
            del out[pos:]
        elif op == 7 and others:  # splice with another seed
            other = rng.choice(others)
            cut = rng.randrange(len(other) + 1)
            out = out[:pos] + other[cut:]
        elif op == 8 and out:  # overwrite a run with one repeated byte
            n = rng.randrange(1, 128)
            out[pos:pos + n] = bytes([rng.choice((0, 0xFF, rng.randrange(256)))]) * n
    return bytes(out)


def _zip_members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [(info, zf.read(info)) for info in zf.infolist()]
    except Exception:  # noqa: BLE001 - not a readable zip: mutate its bytes instead
        return None


def _rezip(members: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as zf:
        warnings.simplefilter("ignore")  # duplicate names are one of the hostile inputs
        for info, payload in members:
            zf.writestr(info, payload)
    return buffer.getvalue()


def mutate(data: bytes, rng: random.Random, others: list[bytes] | None = None) -> bytes:
    """One mutant of ``data``: raw havoc, or havoc inside its container (gzip, xz, zip) repacked.

    Repacking keeps CRCs and sizes consistent, so the mutant gets past the container
    checks and reaches the inner reader; raw havoc tests the container checks themselves.
    """
    from mnistfamily.formats.compression import detect

    kind = detect(data[:8])
    if kind in ("gzip", "xz") and rng.random() < 0.6:
        try:
            inner = gzip.decompress(data) if kind == "gzip" else lzma.decompress(data)
        except Exception:  # noqa: BLE001 - a damaged container: mutate its bytes
            return mutate_bytes(data, rng, others)
        return _compress(mutate(inner, rng, None), kind)
    if kind == "zip" and rng.random() < 0.6:
        members = _zip_members(data)
        if members:
            i = rng.randrange(len(members))
            info, payload = members[i]
            if rng.random() < 0.2:  # hostile names: traversal, absolute, duplicate
                info = zipfile.ZipInfo(rng.choice(("../x", "/abs/x", members[0][0].filename, info.filename + "/")),
                                       date_time=(2019, 1, 1, 0, 0, 0))
                info.compress_type = members[i][0].compress_type
            members[i] = (info, mutate(payload, rng, None))
            return _rezip(members)
    return mutate_bytes(data, rng, others)
