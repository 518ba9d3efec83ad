"""AudioMNIST (Becker et al.): 30,000 spoken digits, 60 speakers, one WAV file per recording.

The recordings live in the authors' repository (soerenab/AudioMNIST) under ``data/``:
``data/<SS>/<d>_<SS>_<r>.wav`` for speaker ``SS`` (01..60), digit ``d`` (0..9) and repetition
``r`` (0..49), 48 kHz mono, beside ``data/audioMNIST_meta.txt`` (see :mod:`.audiomnist_meta`).
:func:`read_audiomnist` reads any set of them (a fold needs only its speakers) given as a
mapping of names relative to ``data/`` (``"01/0_01_0.wav"``, a ``data/`` prefix allowed) to
local files, or as the folder that holds the speaker folders (:func:`recording_files`).

What it writes into its sink (recordings of different lengths: one flat array + offsets):

=================== ===================== ===========================================================
``samples``         the files' dtype      every recording, one after the other, in example order
                    ``(total,)``          (``int16`` for 16-bit PCM)
``offsets``         int64 ``(N + 1,)``    example ``i`` is ``samples[offsets[i]:offsets[i + 1]]``
``labels``          int64 ``(N,)``        the digit spoken (from the file name)
``speaker``,        int64 ``(N,)``        from the file name
``repetition``
``age``             int64 ``(N,)``        years; -1 where the metadata's age is not one
``gender``,         int64 ``(N,)``        codes into ``AudioResult.names[column]``
``native_speaker``,
``accent``,
``origin``,
``recording_room``
``duplicate_of``    int64 ``(N,)``        the first earlier example with the very same samples, or
                                          -1 (speaker 36's ``3_36_20``/``3_36_29`` are copies of
                                          ``3_36_19``/``3_36_28``, as its ``notes.txt`` says)
``index``           int64 ``(N,)``        0..N-1
``digit-fold<k>-``  int64                 the examples of the paper's speaker-disjoint folds
``train|validate|                         (:data:`.audiomnist_meta.DIGIT_FOLDS`, ``GENDER_FOLDS``)
test``, ``gender-
fold<k>-...``
=================== ===================== ===========================================================

Examples are ordered by speaker, digit and repetition (numerically). Every file is read
with :mod:`.wav` (RIFF chunks checked, 48 kHz mono PCM only); file names are matched against
the published pattern, never used to build a path, and folder walks never follow links.
Two passes: the chunk headers first (the total length is known before anything is
allocated), then the samples, streamed to the sink one recording at a time.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from mnistfamily.formats.audiomnist import read_audiomnist, recording_files
>>> from mnistfamily.formats.sink import MemorySink
>>> from mnistfamily.testing.mini_audiomnist import write_audiomnist
>>> folder = Path(tempfile.mkdtemp())
>>> expected = write_audiomnist(folder, speakers=(1, 45), digits=(0, 7), repetitions=2)
>>> sink = MemorySink()
>>> result = read_audiomnist(recording_files(folder / "data"), folder / "data" / "audioMNIST_meta.txt", sink)
>>> result.num_examples, result.sample_rate, sink.arrays["labels"].tolist()
(8, 48000, [0, 0, 7, 7, 0, 0, 7, 7])
>>> sink.arrays["age"].tolist()[-1], result.quirks["invalid_ages"]
(-1, {'45': '1234'})
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import FormatError
from .audiomnist_meta import DIGIT_FOLDS, GENDER_FOLDS, META_FILE, SpeakerTable, parse_meta
from .sink import Sink
from .wav import WavHeader, read_wav_header

__all__ = ["AudioResult", "CATEGORICAL", "SAMPLE_RATE", "read_audiomnist", "recording_files"]

SAMPLE_RATE = 48_000
#: a recording is at most about a second (the paper's preprocessing requires it); 2 MiB holds
#: 21 s of 16-bit samples at 48 kHz: a larger file is not a recording of one digit
MAX_RECORDING_BYTES = 2 << 20
#: the metadata columns stored as codes, with the speaker field they come from
CATEGORICAL = ("gender", "native_speaker", "accent", "origin", "recording_room")
_NAME = re.compile(r"(?:data/)?(0[1-9]|[1-9][0-9])/([0-9])_(0[1-9]|[1-9][0-9])_(0|[1-9][0-9]?)\.wav")
_AGAIN = "Delete the file and fetch it again."


@dataclass(frozen=True)
class AudioResult:
    """What :func:`read_audiomnist` found besides the arrays it wrote."""

    num_examples: int
    sample_rate: int
    #: the names behind each categorical column's codes (``names["gender"] == ["female", "male"]``)
    names: dict[str, list[str]]
    #: examples in each fold split
    splits: dict[str, int]
    #: quirks of the metadata resolved while reading (see :mod:`.audiomnist_meta`)
    quirks: dict[str, dict[str, str]] = field(default_factory=dict)


def recording_files(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """The recordings under ``folder`` (the repository's ``data/``): ``{"SS/d_SS_r.wav": path}``.

    Only regular files named as published, inside a two-digit speaker folder of the same
    speaker, are listed; links are never followed (a link is not listed), nor is anything
    else (``notes.txt``, the metadata file).
    """
    root = Path(folder)
    found: dict[str, Path] = {}
    with os.scandir(root) as speakers:
        for entry in speakers:
            if not entry.is_dir(follow_symlinks=False) or re.fullmatch(r"[0-9]{2}", entry.name) is None:
                continue
            with os.scandir(entry.path) as files:
                for item in files:
                    name = f"{entry.name}/{item.name}"
                    match = _NAME.fullmatch(name)
                    if match and match[1] == match[3] and item.is_file(follow_symlinks=False):
                        found[name] = Path(item.path)
    return dict(sorted(found.items()))


def read_audiomnist(recordings: Mapping[str, str | os.PathLike[str]], meta: str | os.PathLike[str] | bytes,
                    sink: Sink, *, where: str = "audiomnist") -> AudioResult:
    """Decode ``recordings`` (name -> local file) and the metadata file ``meta`` (a path or its bytes).

    See the module docstring for what is written. Raises
    :class:`~mnistfamily.errors.FormatError` naming the file, for a name that is not a
    published one, a WAV file that is not 48 kHz mono PCM or whose chunks lie about their
    sizes, recordings in different sample formats, or a speaker the metadata does not list.
    """
    table = parse_meta(meta if isinstance(meta, bytes) else _small_file(Path(meta), where),
                       f"{where}: {META_FILE}")
    keys, headers = _headers(recordings, where)
    if not keys:
        raise FormatError(f"{where}: no recording among the {len(recordings):,} files given; expected names like "
                          "01/0_01_0.wav (speaker/digit_speaker_repetition.wav).")
    unknown = sorted({k[0] for k in keys} - set(table.speakers))
    if unknown:
        raise FormatError(f"{where}: {META_FILE} does not list speaker(s) {', '.join(f'{s:02d}' for s in unknown)}, "
                          f"whose recordings were given ({len(table.speakers)} speakers listed). The 60-speaker "
                          "version of the file (AudioMNIST commit ce04129a) lists them all: fetch that one.")
    dtypes = {h.dtype for h in headers.values()}
    if len(dtypes) > 1:
        first = {h.dtype: name for name, h in headers.items()}
        raise FormatError(f"{where}: recordings in different sample formats ({', '.join(f'{d} in {n}' for d, n in first.items())}); "
                          "the published ones share one. Fetch the odd files again.")
    order = sorted(keys)
    names = [keys[k] for k in order]
    lengths = np.array([headers[n].frames for n in names], dtype=np.int64)
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    duplicate_of = _write_samples(recordings, names, headers, dtypes.pop(), int(offsets[-1]), sink, where)
    n = len(names)
    speaker = np.array([k[0] for k in order], dtype=np.int64)
    sink.save("offsets", offsets)
    sink.save("labels", np.array([k[1] for k in order], dtype=np.int64))
    sink.save("speaker", speaker)
    sink.save("repetition", np.array([k[2] for k in order], dtype=np.int64))
    sink.save("age", np.array([table.speakers[s].age for s in speaker], dtype=np.int64))
    names_of: dict[str, list[str]] = {}
    for column in CATEGORICAL:
        names_of[column] = table.names(column)
        code = {name: i for i, name in enumerate(names_of[column])}
        by_speaker = {sid: code[getattr(s, column)] for sid, s in table.speakers.items()}
        sink.save(column, np.array([by_speaker[s] for s in speaker], dtype=np.int64))
    sink.save("duplicate_of", duplicate_of)
    sink.save("index", np.arange(n, dtype=np.int64))
    splits = {}
    for split, members in {**DIGIT_FOLDS, **GENDER_FOLDS}.items():
        chosen = np.flatnonzero(np.isin(speaker, members)).astype(np.int64)
        sink.save(split, chosen)
        splits[split] = len(chosen)
    sink.report.update({"recordings": n, "speakers": len(set(speaker.tolist())),
                        "duplicates": int((duplicate_of >= 0).sum()), **table.quirks})
    return AudioResult(num_examples=n, sample_rate=SAMPLE_RATE, names=names_of, splits=splits, quirks=table.quirks)


def _headers(recordings: Mapping[str, str | os.PathLike[str]], where: str):
    """Each recording's (speaker, digit, repetition) key and checked WAV header; names checked first."""
    keys: dict[tuple[int, int, int], str] = {}
    headers: dict[str, WavHeader] = {}
    for name, path in recordings.items():
        match = _NAME.fullmatch(name)
        if match is None or match[1] != match[3]:
            raise FormatError(f"{where}: {name[:200]!r} is not a recording's name; expected SS/d_SS_r.wav (speaker SS "
                              "twice, digit d, repetition r), as under the repository's data/ folder.")
        key = (int(match[1]), int(match[2]), int(match[4]))
        if key in keys:
            raise FormatError(f"{where}: {name} and {keys[key]} are the same recording; give each once.")
        keys[key] = name
        with _open_recording(Path(path), f"{where}: {name}") as (stream, size):
            headers[name] = read_wav_header(stream, f"{where}: {name}", rates=(SAMPLE_RATE,), channels=(1,),
                                            size=size)
    return keys, headers


def _write_samples(recordings, names: list[str], headers: dict[str, WavHeader], dtype: np.dtype, total: int,
                   sink: Sink, where: str) -> np.ndarray:
    """Stream every recording's samples into ``samples``; return each one's ``duplicate_of``."""
    out = sink.stream("samples", dtype, (total,))
    first_with: dict[bytes, int] = {}
    duplicate_of = np.full(len(names), -1, dtype=np.int64)
    for i, name in enumerate(names):
        header = headers[name]
        with _open_recording(Path(recordings[name]), f"{where}: {name}") as (stream, size):
            again = read_wav_header(stream, f"{where}: {name}", rates=(SAMPLE_RATE,), channels=(1,), size=size)
            if again != header:
                raise FormatError(f"{where}: {name} changed while it was read; read it again when nothing "
                                  "else writes to it.")
            stream.seek(header.data_offset)
            data = stream.read(header.data_size)
        if len(data) != header.data_size:  # pragma: no cover - checked against the file's size
            raise FormatError(f"{where}: {name} ends inside its data chunk. {_AGAIN}")
        digest = hashlib.blake2b(data, digest_size=16).digest()
        duplicate_of[i] = first_with.setdefault(digest, i)
        if duplicate_of[i] == i:
            duplicate_of[i] = -1
        out.write(data)
    out.close()
    return duplicate_of


class _open_recording:
    """A recording opened for reading: a regular file no larger than any published one."""

    def __init__(self, path: Path, where: str):
        self.path, self.where = path, where

    def __enter__(self):
        try:
            # O_NOFOLLOW: a link put in place of a verified file is not followed
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise FormatError(f"{self.where}: cannot open {self.path} ({exc.strerror or exc}); a regular file is "
                              "expected. Fetch it again.") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise FormatError(f"{self.where}: {self.path} is not a regular file. Fetch it again.")
        self.file = os.fdopen(fd, "rb")
        if info.st_size > MAX_RECORDING_BYTES:
            self.file.close()
            raise FormatError(f"{self.where}: {info.st_size:,} bytes; a recording of one spoken digit takes about "
                              f"100 KB (at most {MAX_RECORDING_BYTES:,} are read). {_AGAIN}")
        return self.file, info.st_size

    def __exit__(self, *exc) -> None:
        self.file.close()


def _small_file(path: Path, where: str) -> bytes:
    from .audiomnist_meta import MAX_META_BYTES

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_META_BYTES + 1)
    except OSError as exc:
        raise FormatError(f"{where}: cannot read {path} ({exc.strerror or exc}). Fetch {META_FILE} again.") from None
    return data
