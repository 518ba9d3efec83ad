"""Decoding a split of AudioMNIST (the authors' repository as a tarball) into a cache entry.

The recordings are published inside the repository (``<top>/data/<SS>/<d>_<SS>_<r>.wav``,
``<top>/data/audioMNIST_meta.txt``; GitHub names ``<top>`` after the repository and commit).
The tarball is walked once (:mod:`mnistfamily.formats.tar_stream`, bounded): the metadata file
is kept in memory and the recordings of the split's speakers are written, one at a time, into
a marked temporary area beside the archive under names rebuilt from the published pattern
(never from the member's name itself), then decoded by :func:`~mnistfamily.formats.audiomnist.read_audiomnist`
and the area removed. The split ``all`` reads every speaker; a fold split (``fold:
digit-fold0-train``) only the speakers the paper puts in it.

Samples are stored as float32 on [-1, 1) (16-bit PCM exactly, ``x / 32768``): the bit depth of
the published files is not documented, and float32 holds any PCM the WAV reader accepts. The
dtype the files had is ``report["stored_dtype"]``. Speaker metadata is joined per example as
the columns ``speaker``, ``repetition``, ``age`` (-1 where the published age is not one),
``gender``, ``native_speaker``, ``accent``, ``origin``, ``recording_room`` (codes; names in
``report["code_names"]``) and ``duplicate_of`` (the index of an earlier recording with the very
same samples, or -1). ``index`` is an example's place in the whole dataset, ordered by speaker,
digit and repetition: ``(speaker - 1) * 500 + digit * 50 + repetition``, the same in every split.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..formats.audiomnist import CATEGORICAL, MAX_RECORDING_BYTES, read_audiomnist
from ..formats.audiomnist_meta import DIGIT_FOLDS, GENDER_FOLDS, MAX_META_BYTES, META_FILE, fold_speakers
from ..formats.sink import Sink
from ..formats.tar_stream import member_name, walk_tar
from ..registry import DatasetSpec, SplitSpec
from ..safe_write import remove_dead_leftovers, temp_area
from .sinks import EntrySink

#: the metadata columns of every example, in the order ``ds.metadata`` shows them
METADATA = ("speaker", "repetition", "age", *CATEGORICAL, "duplicate_of")
#: speakers 01..60, digits 0..9, repetitions 0..49 (the published names; anything else is not read)
_RECORDING = re.compile(r"[^/]+/data/(0[1-9]|[1-5][0-9]|60)/([0-9])_(0[1-9]|[1-5][0-9]|60)_([0-9]|[1-4][0-9])\.wav")
_META = re.compile(r"[^/]+/data/" + re.escape(META_FILE))
#: 50 repetitions of each digit by each speaker (the published layout)
REPETITIONS = 50
PER_SPEAKER = 10 * REPETITIONS
#: the repository holds 30,000 recordings and a few hundred other files
MAX_MEMBERS = 100_000
MAX_EXPANDED_BYTES = 8 << 30


def build_audiomnist_split(spec: DatasetSpec, split: SplitSpec, paths: dict[str, Path], sink: Sink,
                           *, transpose: bool = False) -> None:
    """Decode one AudioMNIST split into ``sink``: ``samples`` + ``offsets`` (float32), ``labels``, ``index``, metadata."""
    name = split.inputs["archive"]
    where = f"{spec.name} [{split.name}] {name}"
    fold = split.options.get("fold")
    try:
        speakers = set(fold_speakers(str(fold))) if fold is not None else None
    except ValueError as exc:
        raise FormatError(f"{where}: {exc}. Fix the entry.") from None
    if transpose or spec.image_shape or spec.example != "signal" or spec.image_dtype != "float32":
        raise FormatError(f"{where}: AudioMNIST's recordings are signals of varying length, stored as float32; the "
                          f"registry entry says {spec.example} {spec.image_dtype} {tuple(spec.image_shape)}. "
                          "Fix the entry.")
    archive = paths[name]
    remove_dead_leftovers(archive.parent, f"{archive.name}.recordings")
    with temp_area(archive.parent, f"{archive.name}.recordings") as area:
        files, meta, tops = _extract(archive, area.path, speakers, where)
        if meta is None:
            raise FormatError(f"{where}: no data/{META_FILE} in the archive; the authors' repository has one. "
                              "Delete the file and fetch it again.")
        if len(tops) > 1:
            raise FormatError(f"{where}: recordings under {len(tops)} top folders ({', '.join(sorted(tops)[:3])}); "
                              "GitHub's tarball of a repository has one. Delete the file and fetch it again.")
        entry = EntrySink(sink, metadata=METADATA, drop=(*DIGIT_FOLDS, *GENDER_FOLDS), float_samples=True,
                          hold=("index", "duplicate_of"), capture=("speaker", "labels", "repetition"))
        result = read_audiomnist(files, meta, entry, where=where)
    # an example's index is its place in the whole dataset (speaker, digit, repetition order), the same in
    # every split, so a random placement drawn from (seed, index) does not depend on the split it is read in
    held = entry.held
    index = (held["speaker"] - 1) * PER_SPEAKER + held["labels"] * REPETITIONS + held["repetition"]
    sink.save("index", index)
    first = held["duplicate_of"]
    sink.save("meta.duplicate_of", np.where(first >= 0, index[np.maximum(first, 0)], -1))
    if split.num_examples is not None and result.num_examples != split.num_examples:
        raise FormatError(f"{where}: {result.num_examples:,} recordings; the registry says {split.num_examples:,}. "
                          "Delete the file and fetch it again.")
    sink.report["code_names"] = {column: list(result.names[column]) for column in CATEGORICAL}
    sink.report["sample_rate"] = result.sample_rate


def _extract(archive: Path, folder: Path, speakers: set[int] | None, where: str):
    """Write the wanted recordings under ``folder/<SS>/<d>_<SS>_<r>.wav``; return (files, metadata bytes, top folders)."""
    files: dict[str, Path] = {}
    meta: bytes | None = None
    tops: set[str] = set()

    def want(member) -> int | None:
        name = member_name(member)
        if name is None:
            return None
        if _META.fullmatch(name):
            return MAX_META_BYTES
        match = _RECORDING.fullmatch(name)
        if match is None or match[1] != match[3] or (speakers is not None and int(match[1]) not in speakers):
            return None
        return MAX_RECORDING_BYTES

    with open(archive, "rb") as raw:
        for member, data in walk_tar(raw, where, want, max_members=MAX_MEMBERS, max_bytes=MAX_EXPANDED_BYTES):
            if data is None:
                continue
            name = member_name(member) or ""
            tops.add(name.split("/", 1)[0])
            if _META.fullmatch(name):
                if meta is not None:
                    raise FormatError(f"{where}: {name} is in the archive twice. Delete the file and fetch it again.")
                meta = data
                continue
            match = _RECORDING.fullmatch(name)
            if match is None:  # want() reads only these
                continue
            # the name is rebuilt from the pattern's parts: nothing else of the member's name reaches the disk
            key = f"{match[1]}/{match[2]}_{match[3]}_{match[4]}.wav"
            if key in files:
                raise FormatError(f"{where}: {key} is in the archive twice. Delete the file and fetch it again.")
            target = folder / match[1] / f"{match[2]}_{match[3]}_{match[4]}.wav"
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(data)
            files[key] = target
    return files, meta, tops
