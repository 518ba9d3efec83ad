"""A miniature of AudioMNIST's ``data/`` folder: WAV recordings and the metadata file, with its quirks.

:func:`write_audiomnist` writes ``<folder>/data/<SS>/<d>_<SS>_<r>.wav`` (48 kHz mono 16-bit PCM,
random lengths, some files with a ``LIST`` chunk before ``data`` as recorders write them)
and ``<folder>/data/audioMNIST_meta.txt`` in the published JSON layout, for all 60 speakers,
with the published quirks: speaker 01's age an integer, speaker 45's ``"1234"``, room
spellings ``Kino``/``Ruheraum``/``library``/``VR-Room``/``VR-room``/``vr-room``/``vr-romm``,
speaker 01's accent ``german`` beside ``German``, the accent ``Egyptian_American?`` and the
origin ``Europe, India, Chennai``. Genders and native speakers are the published ones; ages,
other accents and origins are made up. With speaker 36, digit 3 and 30 repetitions, its
``3_36_20``/``3_36_29`` are copies of ``3_36_19``/``3_36_28`` and ``notes.txt`` says so, as
published. ``meta_version="57"`` writes the older file without speakers 17, 22 and 34.

The returned ``expected`` arrays are computed here from what was written, not by a reader.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from mnistfamily.testing.mini_audiomnist import write_audiomnist
>>> expected = write_audiomnist(Path(tempfile.mkdtemp()), speakers=(2, 36), digits=(3,), repetitions=2)
>>> expected["offsets"].shape, expected["names"]["gender"]
((5,), ['female', 'male'])
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..formats.audiomnist_meta import DIGIT_FOLDS, GENDER_FOLDS
from ..formats.wav import wav_bytes

__all__ = ["FEMALE", "NATIVE", "meta_document", "write_audiomnist"]

RATE = 48_000
#: the published genders and native speakers (facts: the metadata file, 60 speakers)
FEMALE = (12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60)
NATIVE = (19, 41, 60)
_COPIES = {(3, 36, 20): (3, 36, 19), (3, 36, 29): (3, 36, 28)}
_VR_SPELLINGS = {23: "VR-Room", 24: "VR-Room", 25: "VR-Room", 30: "VR-Room", 31: "VR-room", 32: "VR-room",
                 52: "vr-romm"}


def _room(speaker: int) -> str:
    if speaker <= 19:
        return "Kino"
    if speaker <= 22:
        return "Ruheraum"
    if 26 <= speaker <= 28:
        return "library"
    return _VR_SPELLINGS.get(speaker, "vr-room")


def meta_document(seed: int = 0, version: str = "60") -> dict[str, dict[str, object]]:
    """The metadata JSON object of the miniature (see the module docstring)."""
    rng = np.random.default_rng(seed)
    accents = ["German", "Chinese", "Italian", "Spanish"]
    document: dict[str, dict[str, object]] = {}
    for s in range(1, 61):
        if version == "57" and s in (17, 22, 34):
            continue
        age: object = 30 if s == 1 else "1234" if s == 45 else str(int(rng.integers(20, 45)))
        accent = "german" if s == 1 else "Egyptian_American?" if s == 32 else accents[int(rng.integers(0, 4))]
        origin = "Europe, India, Chennai" if s == 15 else f"Europe, Germany, Town{s}"
        document[f"{s:02d}"] = {
            "accent": accent, "age": age, "gender": "female" if s in FEMALE else "male",
            "native speaker": "yes" if s in NATIVE else "no", "origin": origin,
            "recordingdate": f"17-{6 + s // 12:02d}-{1 + s % 28:02d}-11-04-28", "recordingroom": _room(s),
        }
    return document


def _canonical(column: str, value: str) -> str:
    """The name a correct reader keeps for a published value (written out here, not computed)."""
    if column == "recording_room":
        return "vr-room" if value.lower() in ("vr-room", "vr-romm") else value
    if column == "accent":
        return "German" if value == "german" else value
    return value


def write_audiomnist(folder: Path, *, speakers=(1, 2, 36, 45), digits=(0, 3, 9), repetitions: int = 3,
                     seed: int = 0, lengths: tuple[int, int] = (3000, 9000), meta_version: str = "60") -> dict:
    """Write the miniature under ``folder/data`` and return what a reader must produce."""
    rng = np.random.default_rng(seed)
    data = Path(folder) / "data"
    data.mkdir(parents=True, exist_ok=True)
    document = meta_document(seed, meta_version)
    # the published file: json.dumps(indent=4) of Python 2, whose separators leave a space before newlines
    text = json.dumps(document, indent=4, sort_keys=True, separators=(", ", ": "))
    (data / "audioMNIST_meta.txt").write_text(text + "\n", encoding="utf-8")
    recorded: dict[tuple[int, int, int], np.ndarray] = {}
    for s in sorted(speakers):
        (data / f"{s:02d}").mkdir(exist_ok=True)
        for d in sorted(digits):
            for r in range(repetitions):
                key = (d, s, r)
                if key in _COPIES and _COPIES[key] in recorded:
                    samples = recorded[_COPIES[key]]
                else:
                    n = int(rng.integers(lengths[0], lengths[1] + 1))
                    samples = rng.integers(-20000, 20000, size=n).astype(np.int16)
                recorded[key] = samples
                extra = [(b"LIST", b"INFOISFT\x0e\x00\x00\x00Lavf57.83.100\x00")] if (s + d + r) % 7 == 0 else None
                (data / f"{s:02d}" / f"{d}_{s:02d}_{r}.wav").write_bytes(wav_bytes(samples, RATE, extra_chunks=extra))
    if 36 in speakers and 3 in digits and repetitions >= 30:
        (data / "36" / "notes.txt").write_text("TO HAVE 500 RECORDS, 3_19 and 3_28 WERE COPIED\n")
    order = sorted((s, d, r) for (d, s, r) in recorded)
    chunks = [recorded[(d, s, r)] for (s, d, r) in order]
    offsets = np.zeros(len(order) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(c) for c in chunks])
    position = {key: i for i, key in enumerate(order)}
    duplicate_of = np.full(len(order), -1, dtype=np.int64)
    for (d, s, r), (d0, s0, r0) in _COPIES.items():
        if (s, d, r) in position and (s0, d0, r0) in position:
            duplicate_of[position[(s, d, r)]] = position[(s0, d0, r0)]
    speaker = np.array([k[0] for k in order], dtype=np.int64)
    expected: dict = {
        "samples": np.concatenate(chunks) if chunks else np.empty(0, np.int16), "offsets": offsets,
        "labels": np.array([k[1] for k in order], dtype=np.int64), "speaker": speaker,
        "repetition": np.array([k[2] for k in order], dtype=np.int64),
        "duplicate_of": duplicate_of, "index": np.arange(len(order), dtype=np.int64), "names": {},
    }
    expected["folds"] = {split: np.flatnonzero(np.isin(speaker, members)).astype(np.int64)
                         for split, members in {**DIGIT_FOLDS, **GENDER_FOLDS}.items()}
    if not all(f"{s:02d}" in document for s in speakers):
        return expected  # a reader must refuse these recordings: no metadata to expect
    expected["age"] = np.array([-1 if s == 45 else int(document[f"{s:02d}"]["age"]) for s in speaker],  # type: ignore
                               dtype=np.int64)
    fields = {"gender": "gender", "native_speaker": "native speaker", "accent": "accent", "origin": "origin",
              "recording_room": "recordingroom"}
    for column, published in fields.items():
        values = {int(k): _canonical(column, str(v[published])) for k, v in document.items()}
        names = (["female", "male"] if column == "gender" else ["no", "yes"] if column == "native_speaker"
                 else sorted(set(values.values())))
        expected["names"][column] = names
        expected[column] = np.array([names.index(values[s]) for s in speaker], dtype=np.int64)
    return expected


#: the miniature's speakers: every group of the paper's digit folds (A-E) and gender folds (P-S),
#: speaker 45 (age "1234") and speaker 52 (room "vr-romm") among them
CONTENTS_SPEAKERS = (1, 2, 3, 4, 5, 7, 12, 28, 45, 52)
#: the top folder of GitHub's tarball of a repository: <repository>-<commit>
TOP = "AudioMNIST-6a49d8b7miniature"


def audiomnist_contents(spec, splits: dict, rng: np.random.Generator):
    """The miniature writer of the ``audiomnist`` format (its row of ``registry/formats.py``).

    A tarball of the repository as GitHub serves it (``AudioMNIST-<commit>/data/...``, a README
    and code beside), with two digits of one repetition for each of :data:`CONTENTS_SPEAKERS`:
    short recordings (300-900 samples), so every fold split has examples. Split counts are the
    miniature's own wherever the real entry gives one. Expected: the samples as float32
    (``x / 32768``), ``index`` ``(speaker - 1) * 500 + digit * 50 + repetition``, the metadata.
    """
    import io
    import tarfile
    import tempfile
    from dataclasses import replace

    from ..examples import Signals

    seed = int(rng.integers(1 << 31))
    with tempfile.TemporaryDirectory() as folder:
        expected = write_audiomnist(Path(folder), speakers=CONTENTS_SPEAKERS, digits=(0, 7), repetitions=1,
                                    seed=seed, lengths=(300, 900))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            readme = tarfile.TarInfo(f"{TOP}/README.md")
            text = b"# AudioMNIST (miniature)\n"
            readme.size = len(text)
            tar.addfile(readme, io.BytesIO(text))
            for path in sorted(Path(folder).rglob("*")):
                tar.add(path, arcname=f"{TOP}/{path.relative_to(folder).as_posix()}", recursive=False)
        data = buffer.getvalue()
    speaker, digit, repetition = expected["speaker"], expected["labels"], expected["repetition"]
    index = (speaker - 1) * 500 + digit * 50 + repetition
    samples, offsets = expected["samples"], expected["offsets"]
    floats = (samples.astype(np.float64) / 32768).astype(np.float32)
    columns = ("speaker", "repetition", "age", "gender", "native_speaker", "accent", "origin", "recording_room")
    out = {}
    for name, split in list(splits.items()):
        fold = split.options.get("fold")
        members = {**DIGIT_FOLDS, **GENDER_FOLDS}.get(str(fold), CONTENTS_SPEAKERS)
        rows = np.flatnonzero(np.isin(speaker, members))
        known = spec.splits[name].num_examples is not None
        splits[name] = replace(split, num_examples=len(rows) if known else None)
        signals = Signals.from_arrays([floats[offsets[i]:offsets[i + 1]] for i in rows], dtype=np.float32)
        metadata = {column: expected[column][rows] for column in columns}
        metadata["duplicate_of"] = np.full(len(rows), -1, dtype=np.int64)  # no copies in this miniature
        out[name] = {"images": signals, "labels": digit[rows], "index": index[rows], "metadata": metadata,
                     "code_names": expected["names"]}
    return {split.inputs["archive"]: (data, None) for split in splits.values()}, out
