"""A safe WAV reader: RIFF chunks walked and checked, PCM only, sizes checked before reading.

``scipy.io.wavfile`` trusts a file's chunk sizes (a ``data`` chunk may claim gigabytes) and
reads formats a dataset never holds. Here a WAV file is a ``RIFF``/``WAVE`` container whose
chunks are walked one by one, each declared size checked against the bytes present; it must
hold exactly one ``fmt `` chunk before exactly one ``data`` chunk, and the format must be one
a caller allows:

- integer PCM of 8 (unsigned), 16 or 32 bits, or IEEE float of 32 bits (format tags 1 and 3,
  or ``WAVE_FORMAT_EXTENSIBLE`` naming one of them), little-endian as RIFF is;
- the sample rates and channel counts the caller lists;
- a block alignment and byte rate that agree with the rest, and a ``data`` chunk holding a
  whole number of frames.

:func:`read_wav_header` reads only the chunk headers (a few hundred bytes, whatever the file's
size), so a reader can add up the lengths of 30,000 recordings before allocating one array.
Errors are :class:`~mnistfamily.errors.FormatError` naming the file, the chunk, what was
expected and what was found.

Examples
--------
>>> import io, numpy as np
>>> from mnistfamily.formats.wav import read_wav, wav_bytes
>>> data = wav_bytes(np.array([0, 1000, -1000], np.int16), 48000)
>>> header, samples = read_wav(io.BytesIO(data), "example.wav", rates=(48000,))
>>> header.rate, header.dtype, samples.tolist()
(48000, dtype('int16'), [0, 1000, -1000])
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Collection

import numpy as np

from ..errors import FormatError

__all__ = ["WavHeader", "read_wav", "read_wav_header", "wav_bytes"]

#: a RIFF chunk header: 4-byte id, little-endian uint32 size
_CHUNK = struct.Struct("<4sI")
_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
#: the GUID tail of WAVE_FORMAT_EXTENSIBLE's sub-format (KSDATAFORMAT_SUBTYPE_*)
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
#: (format, bits) -> sample dtype
_DTYPES: dict[tuple[int, int], np.dtype] = {(_PCM, 8): np.dtype("u1"), (_PCM, 16): np.dtype("<i2"), (_PCM, 32): np.dtype("<i4"),
           (_FLOAT, 32): np.dtype("<f4")}
#: a recording's chunks before ``data``: fmt, perhaps LIST/fact/bext/JUNK; more is not a WAV we read
MAX_CHUNKS = 64
_AGAIN = "Delete the file and fetch it again."


@dataclass(frozen=True)
class WavHeader:
    """What a WAV file's chunks declare, checked; ``data_offset``/``data_size`` locate the samples."""

    format_tag: int
    channels: int
    rate: int
    bits: int
    data_offset: int
    data_size: int

    @property
    def dtype(self) -> np.dtype:
        """The samples' numpy dtype (little-endian)."""
        return _DTYPES[(self.format_tag, self.bits)]

    @property
    def frames(self) -> int:
        """Samples per channel."""
        return self.data_size // (self.channels * self.bits // 8)


def read_wav_header(stream: BinaryIO, where: str, *, rates: Collection[int] | None = None,
                    channels: Collection[int] = (1,), size: int | None = None) -> WavHeader:
    """Walk the RIFF chunks of the WAV file in ``stream`` (from position 0) and check its format.

    ``size`` is the file's length (measured when None). ``rates`` and ``channels`` list what
    the caller accepts (``rates=None``: any). Only chunk headers and the ``fmt `` chunk are
    read.
    """
    if size is None:
        size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise FormatError(f"{where}: not a WAV file (expected 'RIFF....WAVE' at the start, found {head[:12]!r}). "
                          f"{_AGAIN}")
    riff_end = 8 + int.from_bytes(head[4:8], "little")
    if riff_end > size:
        raise FormatError(f"{where}: the RIFF header declares {riff_end:,} bytes; the file has {size:,} (truncated). "
                          f"{_AGAIN}")
    position, fmt = 12, None
    for _ in range(MAX_CHUNKS):
        if position + 8 > riff_end:
            break
        stream.seek(position)
        chunk_id, chunk_size = _CHUNK.unpack(stream.read(8))
        body = position + 8
        if body + chunk_size > riff_end:
            raise FormatError(f"{where}: chunk {chunk_id!r} at byte {position:,} declares {chunk_size:,} bytes; only "
                              f"{riff_end - body:,} remain in the RIFF chunk. {_AGAIN}")
        if chunk_id == b"fmt ":
            if fmt is not None:
                raise FormatError(f"{where}: a second 'fmt ' chunk at byte {position:,}; a WAV file has one. {_AGAIN}")
            fmt = _parse_fmt(stream.read(chunk_size) if chunk_size <= 256 else b"", chunk_size, where)
        elif chunk_id == b"data":
            if fmt is None:
                raise FormatError(f"{where}: the 'data' chunk comes before any 'fmt ' chunk. {_AGAIN}")
            header = WavHeader(*fmt, data_offset=body, data_size=chunk_size)
            _check_allowed(header, where, rates, channels)
            block = header.channels * header.bits // 8
            if chunk_size % block:
                raise FormatError(f"{where}: the 'data' chunk holds {chunk_size:,} bytes, not a whole number of "
                                  f"{block}-byte frames. {_AGAIN}")
            return header
        position = body + chunk_size + (chunk_size & 1)  # chunks are padded to an even size
    raise FormatError(f"{where}: no 'data' chunk{' after the fmt chunk' if fmt else ' and no fmt chunk'} in the first "
                      f"{MAX_CHUNKS} chunks. {_AGAIN}")


def read_wav(stream: BinaryIO, where: str, *, rates: Collection[int] | None = None,
             channels: Collection[int] = (1,)) -> tuple[WavHeader, np.ndarray]:
    """The header and samples (``(frames,)``, or ``(frames, channels)`` when stereo) of a WAV file."""
    header = read_wav_header(stream, where, rates=rates, channels=channels)
    stream.seek(header.data_offset)
    data = stream.read(header.data_size)
    if len(data) != header.data_size:  # pragma: no cover - the size was checked against the file
        raise FormatError(f"{where}: the data chunk ends after {len(data):,} of {header.data_size:,} bytes. {_AGAIN}")
    samples = np.frombuffer(data, dtype=header.dtype)
    if header.channels > 1:
        samples = samples.reshape(-1, header.channels)
    return header, samples


def _parse_fmt(body: bytes, size: int, where: str) -> tuple[int, int, int, int]:
    """``(format_tag, channels, rate, bits)`` of a fmt chunk, every field checked against the others."""
    if size < 16 or size > 256 or len(body) != size:
        raise FormatError(f"{where}: the 'fmt ' chunk is {size:,} bytes; expected 16 to 40. {_AGAIN}")
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE:
        # cbSize (22), valid bits, channel mask, then the sub-format GUID: its first two bytes are the tag
        if size < 40 or int.from_bytes(body[16:18], "little") < 22 or body[26:40] != _GUID_TAIL:
            raise FormatError(f"{where}: a WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk without a PCM or float sub-format. "
                              f"{_AGAIN}")
        tag = int.from_bytes(body[24:26], "little")
    if (tag, bits) not in _DTYPES:
        found = {_PCM: "integer PCM", _FLOAT: "IEEE float"}.get(tag, f"format tag 0x{tag:04x}")
        raise FormatError(f"{where}: {found} of {bits} bits per sample; readable are integer PCM of 8, 16 or 32 bits "
                          "and float of 32 bits. Convert the file (e.g. sox in.wav -b 16 out.wav), or fetch the "
                          "published one again.")
    if channels < 1 or rate < 1:
        raise FormatError(f"{where}: the 'fmt ' chunk declares {channels} channel(s) at {rate:,} Hz. {_AGAIN}")
    block = channels * bits // 8
    if block_align != block or byte_rate != rate * block:
        raise FormatError(f"{where}: the 'fmt ' chunk declares a block of {block_align} bytes and {byte_rate:,} "
                          f"bytes/s; {channels} channel(s) of {bits} bits at {rate:,} Hz make {block} and "
                          f"{rate * block:,}. {_AGAIN}")
    return tag, channels, rate, bits


def _check_allowed(header: WavHeader, where: str, rates: Collection[int] | None, channels: Collection[int]) -> None:
    if rates is not None and header.rate not in rates:
        raise FormatError(f"{where}: recorded at {header.rate:,} Hz; expected "
                          f"{' or '.join(f'{r:,}' for r in sorted(rates))} Hz. {_AGAIN}")
    if header.channels not in channels:
        raise FormatError(f"{where}: {header.channels} channel(s); expected "
                          f"{' or '.join(str(c) for c in sorted(channels))}. {_AGAIN}")


def wav_bytes(samples: np.ndarray, rate: int, *, extra_chunks: list[tuple[bytes, bytes]] | None = None,
              extensible: bool = False) -> bytes:
    """A WAV file of ``samples`` (``(frames,)`` or ``(frames, channels)``; u1, i2, i4 or f4) at ``rate``.

    ``extra_chunks`` (id, body) go between ``fmt `` and ``data``, as LIST chunks do in recorded
    files. Written independently of the reader, for miniatures and tests.
    """
    samples = np.asarray(samples)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    dtype = samples.dtype.newbyteorder("<") if samples.dtype.itemsize > 1 else samples.dtype
    tag = _FLOAT if samples.dtype.kind == "f" else _PCM
    bits = samples.dtype.itemsize * 8
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", _EXTENSIBLE if extensible else tag, channels, rate, rate * block, block, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + tag.to_bytes(2, "little") + _GUID_TAIL
    body = io.BytesIO()
    body.write(b"WAVE" + _CHUNK.pack(b"fmt ", len(fmt)) + fmt)
    for chunk_id, chunk in extra_chunks or []:
        body.write(_CHUNK.pack(chunk_id, len(chunk)) + chunk + b"\0" * (len(chunk) & 1))
    data = np.ascontiguousarray(samples, dtype=dtype).tobytes()
    body.write(_CHUNK.pack(b"data", len(data)) + data + b"\0" * (len(data) & 1))
    payload = body.getvalue()
    return b"RIFF" + len(payload).to_bytes(4, "little") + payload
