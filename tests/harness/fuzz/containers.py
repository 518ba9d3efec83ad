"""Hostile files built on purpose: IDX bytes, gzip/xz/zip bombs and containers that lie about sizes."""

from __future__ import annotations

import gzip
import io
import lzma
import zipfile

import numpy as np

__all__ = ["gzip_bomb", "idx_bytes", "xz_bomb", "xz_claiming", "zip_bomb"]


def idx_bytes(array: np.ndarray, compression: str | None = None) -> bytes:
    """The bytes of ``array`` as an IDX file, raw or ``"gzip"``/``"xz"`` compressed."""
    from mnistfamily.formats.idx import encode_header

    big = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))
    raw = encode_header(array.dtype, array.shape) + big.tobytes()
    return _compress(raw, compression)


def _compress(raw: bytes, kind: str | None) -> bytes:
    if kind == "gzip":
        return gzip.compress(raw, mtime=0)
    if kind == "xz":
        return lzma.compress(raw, check=lzma.CHECK_CRC64)
    return raw


def gzip_bomb(claimed: int, real: int) -> bytes:
    """A gzip stream of ``real`` zero bytes whose ISIZE trailer claims ``claimed`` bytes."""
    data = bytearray(gzip.compress(bytes(real), compresslevel=9, mtime=0))
    data[-4:] = (claimed % (1 << 32)).to_bytes(4, "little")
    return bytes(data)


def xz_bomb(real: int) -> bytes:
    """An xz stream of ``real`` zero bytes (its index tells the truth; LZMA2 packs zeros ~7000:1)."""
    return lzma.compress(bytes(real), preset=9, check=lzma.CHECK_CRC64)


def xz_claiming(raw: bytes, claimed: int) -> bytes:
    """An xz stream of ``raw`` whose index (with valid CRCs) claims ``claimed`` uncompressed bytes."""
    import zlib

    from mnistfamily.formats.compression import _varint

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    data = lzma.compress(raw, check=lzma.CHECK_CRC64)
    footer = data[-12:]
    index_size = (int.from_bytes(footer[4:8], "little") + 1) * 4
    index = io.BytesIO(data[-12 - index_size:-12][1:])
    records = [(_varint(index), _varint(index)) for _ in range(_varint(index) or 0)]
    body = b"\x00" + varint(len(records)) + b"".join(
        varint(unpadded or 0) + varint(claimed if i == 0 else (size or 0)) for i, (unpadded, size) in enumerate(records))
    body += bytes(-len(body) % 4)
    new_index = body + zlib.crc32(body).to_bytes(4, "little")
    tail = (len(new_index) // 4 - 1).to_bytes(4, "little") + footer[8:10]
    return data[:-12 - index_size] + new_index + zlib.crc32(tail).to_bytes(4, "little") + tail + b"YZ"


def zip_bomb(name: str, real: int, *, claimed: int | None = None, claimed_compressed: int | None = None) -> bytes:
    """A zip with one deflated member of ``real`` zero bytes; optionally lying about its sizes.

    ``claimed`` replaces the uncompressed size and ``claimed_compressed`` the compressed
    size in both the local header and the central directory.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), bytes(real),
                    compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(buffer.getvalue())
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    for offset, field in ((local + 18, claimed_compressed), (local + 22, claimed),
                          (central + 20, claimed_compressed), (central + 24, claimed)):
        if field is not None:
            data[offset:offset + 4] = min(field, 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(data)


def _zip_of(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2019, 1, 1, 0, 0, 0))
            info.compress_type = method
            if name.endswith("-link"):
                info.external_attr = (0o120777 << 16)  # a symbolic link, as Info-ZIP stores one
            zf.writestr(info, data)
    return buffer.getvalue()
