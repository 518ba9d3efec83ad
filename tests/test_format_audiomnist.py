"""AudioMNIST: the WAV reader, the metadata and its quirks, the recordings as samples + offsets, the folds, memory."""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mnistfamily.errors import FormatError
from mnistfamily.formats import audiomnist, audiomnist_meta, wav
from mnistfamily.formats.audiomnist import read_audiomnist, recording_files
from mnistfamily.formats.audiomnist_meta import DIGIT_FOLDS, GENDER_FOLDS, parse_meta
from mnistfamily.formats.sink import MemorySink
from mnistfamily.formats.wav import read_wav, read_wav_header, wav_bytes
from mnistfamily.testing import mini_audiomnist
from mnistfamily.testing.mini_audiomnist import meta_document, write_audiomnist

COLUMNS = ("samples", "offsets", "labels", "speaker", "repetition", "age", "gender", "native_speaker", "accent",
           "origin", "recording_room", "duplicate_of", "index")


@contextlib.contextmanager
def _traced():
    tracemalloc.start()
    found = []
    try:
        yield lambda: found[0]
    finally:
        found.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def _read(folder: Path, **kwargs):
    sink = MemorySink()
    result = read_audiomnist(recording_files(folder / "data"), folder / "data" / "audioMNIST_meta.txt", sink,
                             **kwargs)
    return result, sink


def _check(sink: MemorySink, expected: dict) -> None:
    for key in COLUMNS:
        assert sink.arrays[key].dtype == expected[key].dtype, key
        np.testing.assert_array_equal(sink.arrays[key], expected[key], err_msg=key)
    for split, chosen in expected["folds"].items():
        np.testing.assert_array_equal(sink.arrays[split], chosen, err_msg=split)


# ------------------------------------------------------------------------------------------ the WAV reader


@pytest.mark.parametrize("samples", [
    np.array([0, 1, -1, 32767, -32768], np.int16), np.arange(7, dtype=np.uint8), np.array([1, -2 ** 31], np.int32),
    np.array([0.5, -1.0], np.float32), np.zeros(0, np.int16)])
@pytest.mark.parametrize("extensible", [False, True])
def test_every_whitelisted_pcm_format_reads_back(samples, extensible):
    data = wav_bytes(samples, 48000, extensible=extensible, extra_chunks=[(b"LIST", b"odd"), (b"JUNK", b"")])
    header, read = read_wav(io.BytesIO(data), "x.wav", rates=(48000,))
    assert header.dtype == samples.dtype.newbyteorder("<") and header.frames == len(samples)
    np.testing.assert_array_equal(read, samples)


def test_a_stereo_file_reads_as_frames_when_two_channels_are_allowed():
    samples = np.arange(8, dtype=np.int16).reshape(4, 2)
    header, read = read_wav(io.BytesIO(wav_bytes(samples, 8000)), "s.wav", channels=(2,))
    assert header.channels == 2 and read.shape == (4, 2)
    with pytest.raises(FormatError, match=r"s.wav: 2 channel\(s\); expected 1"):
        read_wav(io.BytesIO(wav_bytes(samples, 8000)), "s.wav")


def _fmt(tag=1, channels=1, rate=48000, byte_rate=96000, align=2, bits=16) -> bytes:
    return struct.pack("<HHIIHH", tag, channels, rate, byte_rate, align, bits)


def _riff(*chunks: tuple[bytes, bytes], riff_size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(struct.pack("<4sI", cid, len(c)) + c + b"\0" * (len(c) & 1) for cid, c in chunks)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


@pytest.mark.parametrize("data, message", [
    (b"", r"not a WAV file \(expected 'RIFF....WAVE'"),
    (b"RIFX" + bytes(40), r"not a WAV file"),
    (_riff((b"fmt ", _fmt()), (b"data", b"\0\0"), riff_size=1 << 30), r"declares 1,073,741,832 bytes; the file has"),
    (_riff((b"fmt ", _fmt()), (b"data", b"\0\0"))[:-2], r"the RIFF header declares 46 bytes; the file has 44 "
                                                         r"\(truncated\)"),
    (_riff((b"fmt ", _fmt()), (b"data", b"\0\0")).replace(b"data\x02\x00\x00\x00", b"data\x00\x00\x00\x80"),
     r"chunk b'data' at byte 36 declares 2,147,483,648 bytes; only 2 remain in the RIFF chunk"),
    (_riff((b"fmt ", _fmt())) + struct.pack("<4sI", b"data", 1 << 31), r"no 'data' chunk after the fmt chunk"),
    (_riff((b"data", b"\0\0"), (b"fmt ", _fmt())), r"the 'data' chunk comes before any 'fmt ' chunk"),
    (_riff((b"fmt ", _fmt()), (b"fmt ", _fmt()), (b"data", b"")), r"a second 'fmt ' chunk"),
    (_riff((b"fmt ", _fmt())), r"no 'data' chunk after the fmt chunk"),
    (_riff((b"LIST", b"x" * 10)), r"no 'data' chunk and no fmt chunk"),
    (_riff(*[(b"JUNK", b"")] * 70, (b"fmt ", _fmt()), (b"data", b"")), r"in the first 64 chunks"),
    (_riff((b"fmt ", _fmt()[:14]), (b"data", b"")), r"the 'fmt ' chunk is 14 bytes; expected 16 to 40"),
    (_riff((b"fmt ", _fmt(tag=2)), (b"data", b"")), r"format tag 0x0002 of 16 bits per sample"),
    (_riff((b"fmt ", _fmt(bits=24, align=3, byte_rate=144000)), (b"data", b"")), r"integer PCM of 24 bits"),
    (_riff((b"fmt ", _fmt(tag=3, bits=64, align=8, byte_rate=384000)), (b"data", b"")), r"IEEE float of 64 bits"),
    (_riff((b"fmt ", _fmt(tag=0xFFFE) + b"\x16\x00" + bytes(22)), (b"data", b"")), r"WAVE_FORMAT_EXTENSIBLE"),
    (_riff((b"fmt ", _fmt(align=4)), (b"data", b"")), r"declares a block of 4 bytes and 96,000 bytes/s"),
    (_riff((b"fmt ", _fmt(byte_rate=1)), (b"data", b"")), r"declares a block of 2 bytes and 1 bytes/s"),
    (_riff((b"fmt ", _fmt(channels=0, align=0, byte_rate=0)), (b"data", b"")), r"declares 0 channel\(s\)"),
    (_riff((b"fmt ", _fmt()), (b"data", b"\0\0\0")), r"holds 3 bytes, not a whole number of 2-byte frames"),
    (_riff((b"fmt ", _fmt(rate=44100, byte_rate=88200)), (b"data", b"")), r"recorded at 44,100 Hz; expected 48,000"),
])
def test_hostile_wav_files_are_refused_naming_file_chunk_and_sizes(data, message):
    with pytest.raises(FormatError, match=rf"h.wav: .*{message}"):
        read_wav_header(io.BytesIO(data), "h.wav", rates=(48000,))


def test_a_data_chunk_claiming_gigabytes_is_refused_before_anything_is_allocated():
    data = _riff((b"fmt ", _fmt())) + struct.pack("<4sI", b"data", 0xFFFFFFF0)
    data = data[:4] + struct.pack("<I", 0xFFFFFFF0) + data[8:]  # the RIFF size agrees, the file does not
    with _traced() as peak, pytest.raises(FormatError, match=r"declares 4,294,967,288 bytes; the file has 44 "
                                                             r"\(truncated\)"):
        read_wav(io.BytesIO(data), "big.wav")
    assert peak() < 1 << 20


# ------------------------------------------------------------------------------------------ metadata


def test_the_published_quirks_are_resolved_and_reported():
    table = parse_meta(json.dumps(meta_document()).encode(), "meta")
    assert len(table.speakers) == 60
    assert table.speakers[1].age == 30 and table.speakers[45].age == -1
    assert table.quirks["invalid_ages"] == {"45": "1234"}
    assert table.quirks["recording_room_spellings"] == {"VR-Room": "vr-room", "VR-room": "vr-room",
                                                        "vr-romm": "vr-room"}
    assert table.quirks["accent_spellings"] == {"german": "German"}
    assert table.names("recording_room") == ["Kino", "Ruheraum", "library", "vr-room"]
    assert "Egyptian_American?" in table.names("accent")
    assert "Europe, India, Chennai" in table.names("origin")
    assert [s for s, sp in table.speakers.items() if sp.gender == "female"] == list(mini_audiomnist.FEMALE)
    assert [s for s, sp in table.speakers.items() if sp.native_speaker == "yes"] == [19, 41, 60]


def _speaker(**changes) -> dict:
    entry = {"accent": "German", "age": "25", "gender": "male", "native speaker": "no", "origin": "Europe",
             "recordingdate": "17-06-22-11-04-28", "recordingroom": "Kino"}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


@pytest.mark.parametrize("text, message", [
    (b"\xff", r"not UTF-8 text \(byte 0\)"),
    (b"{", r"not valid JSON \(Expecting property name"),
    (b"[]", r"expected a JSON object keyed by speaker"),
    (b"{}", r"expected a JSON object keyed by speaker"),
    (b"[" * 100_000 + b"]" * 100_000, r"nested too deeply|not valid JSON"),
    (b'{"01": {"age": NaN}}', r"NaN is not a value the metadata file holds"),
    (b'{"01": 1, "01": 2}', r"the key '01' appears twice in one object"),
    (json.dumps({"1": _speaker()}).encode(), r"speaker key '1'; expected two digits"),
    (json.dumps({"../01": _speaker()}).encode(), r"speaker key '\.\./01'"),
    (json.dumps({"01": []}).encode(), r"speaker 01: expected an object of fields, found list"),
    (json.dumps({"01": _speaker(gender=None)}).encode(), r"speaker 01 has no 'gender'"),
    (json.dumps({"01": _speaker(gender="x")}).encode(), r"speaker 01's 'gender' is 'x'; expected female or male"),
    (json.dumps({"01": _speaker(**{"native speaker": "maybe"})}).encode(), r"expected no or yes"),
    (json.dumps({"01": _speaker(age=25.5)}).encode(), r"'age' is float 25.5; expected a string or an integer"),
    (json.dumps({"01": _speaker(age=True)}).encode(), r"'age' is bool"),
    (json.dumps({"01": _speaker(accent=["x"])}).encode(), r"'accent' is list"),
    (b" " * (2 << 20), r"2,097,152 bytes; the published metadata file is about 16 KB"),
])
def test_malformed_metadata_is_refused(text, message):
    with pytest.raises(FormatError, match=rf"audioMNIST_meta.txt: .*{message}"):
        parse_meta(text, "audioMNIST_meta.txt")


@pytest.mark.parametrize("age, expected", [(30, 30), ("30", 30), (" 41 ", 41), ("1234", -1), ("0", -1), ("", -1),
                                           ("thirty", -1), (-5, -1)])
def test_ages_read_from_integers_or_strings_and_impossible_ones_are_unknown(age, expected):
    table = parse_meta(json.dumps({"07": _speaker(age=age)}).encode(), "meta")
    assert table.speakers[7].age == expected


def test_the_fold_speakers_are_the_papers():
    # audiomnist/train/splits.py: groups of 12 for the digit task, 6 (3 women, 3 men) for the gender task
    assert DIGIT_FOLDS["digit-fold0-test"] == (5, 13, 18, 22, 26, 32, 33, 42, 45, 51, 52, 60)
    assert DIGIT_FOLDS["digit-fold1-test"] == (1, 6, 7, 16, 19, 23, 28, 34, 35, 46, 53, 56)
    assert DIGIT_FOLDS["digit-fold4-validate"] == (3, 10, 14, 20, 25, 30, 38, 40, 43, 49, 55, 58)
    assert GENDER_FOLDS["gender-fold0-test"] == (7, 23, 38, 58, 59, 60)
    for folds, k, sizes in ((DIGIT_FOLDS, 5, (36, 12, 12)), (GENDER_FOLDS, 4, (12, 6, 6))):
        tests = []
        for fold in range(k):
            task = "digit" if folds is DIGIT_FOLDS else "gender"
            parts = [set(folds[f"{task}-fold{fold}-{p}"]) for p in ("train", "validate", "test")]
            assert tuple(len(p) for p in parts) == sizes
            assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])  # speaker-disjoint
            tests.append(parts[2])
        assert set().union(*tests) == set(range(1, 61)) if k == 5 else len(set().union(*tests)) == 24
    women = set(mini_audiomnist.FEMALE)
    for fold in range(4):
        test = set(GENDER_FOLDS[f"gender-fold{fold}-test"])
        assert len(test & women) == 3
    with pytest.raises(ValueError, match="not an AudioMNIST fold"):
        audiomnist_meta.fold_speakers("digit-fold5-test")


# ------------------------------------------------------------------------------------------ the reader


def test_the_miniature_reads_back_exactly(tmp_path):
    expected = write_audiomnist(tmp_path, speakers=(1, 15, 36, 45, 52, 60), digits=(0, 3, 9), repetitions=30)
    result, sink = _read(tmp_path)
    _check(sink, expected)
    assert result.names == expected["names"] and result.sample_rate == 48000
    assert result.num_examples == 6 * 3 * 30
    # speaker 36's copied recordings are found by their content
    copies = np.flatnonzero(sink.arrays["duplicate_of"] >= 0)
    assert [(int(sink.arrays["speaker"][i]), int(sink.arrays["labels"][i]), int(sink.arrays["repetition"][i]))
            for i in copies] == [(36, 3, 20), (36, 3, 29)]
    assert sink.report["duplicates"] == 2 and sink.report["invalid_ages"] == {"45": "1234"}
    assert result.splits["digit-fold0-test"] == 3 * 90  # speakers 45, 52 and 60 of group E are here
    first, second = sink.arrays["offsets"][:2]
    assert sink.arrays["samples"][first:second].dtype == np.int16


def test_the_doctests_run():
    for module in (audiomnist, audiomnist_meta, wav, mini_audiomnist):
        assert doctest.testmod(module).failed == 0


def test_a_subset_of_speakers_reads_with_the_codes_of_the_whole_table(tmp_path):
    write_audiomnist(tmp_path, speakers=(1, 2, 3), digits=(5,), repetitions=2)
    everything, _ = _read(tmp_path)
    files = {k: v for k, v in recording_files(tmp_path / "data").items() if k.startswith("02/")}
    sink = MemorySink()
    some = read_audiomnist(files, tmp_path / "data" / "audioMNIST_meta.txt", sink)
    assert some.num_examples == 2 and some.names == everything.names
    assert sink.arrays["speaker"].tolist() == [2, 2]


def test_only_published_names_are_read_and_links_are_never_followed(tmp_path):
    write_audiomnist(tmp_path, speakers=(1,), digits=(0,), repetitions=2)
    data = tmp_path / "data"
    secret = tmp_path / "secret.wav"
    secret.write_bytes(wav_bytes(np.ones(10, np.int16), 48000))
    (data / "01" / "0_01_2.wav").symlink_to(secret)          # a link named like a recording
    (data / "02").symlink_to(data / "01", target_is_directory=True)  # a linked speaker folder
    (data / "01" / "notes.txt").write_text("x")
    (data / "01" / "0_02_0.wav").write_bytes(b"")             # a speaker not its folder's
    (data / "01" / "0_01_007.wav").write_bytes(b"")           # not the published spelling
    (data / "1").mkdir()
    assert sorted(recording_files(data)) == ["01/0_01_0.wav", "01/0_01_1.wav"]


@pytest.mark.parametrize("name, message", [
    ("../../etc/passwd", r"'\.\./\.\./etc/passwd' is not a recording's name"),
    ("01/0_02_0.wav", r"'01/0_02_0.wav' is not a recording's name; expected SS/d_SS_r.wav"),
    ("01/10_01_0.wav", r"is not a recording's name"),
    ("01/0_01_00.wav", r"is not a recording's name"),
])
def test_names_that_are_not_published_ones_are_refused(tmp_path, name, message):
    write_audiomnist(tmp_path, speakers=(1,), digits=(0,), repetitions=1)
    files = {**recording_files(tmp_path / "data"), name: tmp_path / "data" / "01" / "0_01_0.wav"}
    with pytest.raises(FormatError, match=message):
        read_audiomnist(files, tmp_path / "data" / "audioMNIST_meta.txt", MemorySink())


def test_the_same_recording_twice_is_refused(tmp_path):
    write_audiomnist(tmp_path, speakers=(1,), digits=(0,), repetitions=1)
    path = tmp_path / "data" / "01" / "0_01_0.wav"
    with pytest.raises(FormatError, match=r"data/01/0_01_0.wav and 01/0_01_0.wav are the same recording"):
        read_audiomnist({"01/0_01_0.wav": path, "data/01/0_01_0.wav": path},
                        tmp_path / "data" / "audioMNIST_meta.txt", MemorySink())


def test_a_link_given_in_place_of_a_recording_is_not_opened(tmp_path):
    write_audiomnist(tmp_path, speakers=(1,), digits=(0,), repetitions=1)
    link = tmp_path / "link.wav"
    link.symlink_to(tmp_path / "data" / "01" / "0_01_0.wav")
    with pytest.raises(FormatError, match=r"01/0_01_0.wav: cannot open .*link.wav .*a regular file is expected"):
        read_audiomnist({"01/0_01_0.wav": link}, tmp_path / "data" / "audioMNIST_meta.txt", MemorySink())
    with pytest.raises(FormatError, match=r"is not a regular file"):
        read_audiomnist({"01/0_01_0.wav": tmp_path / "data"}, tmp_path / "data" / "audioMNIST_meta.txt",
                        MemorySink())


def test_recordings_of_speakers_the_metadata_does_not_list_are_refused_naming_the_version(tmp_path):
    write_audiomnist(tmp_path, speakers=(16, 17, 22), digits=(1,), repetitions=1, meta_version="57")
    with pytest.raises(FormatError, match=r"does not list speaker\(s\) 17, 22, whose recordings were given "
                                          r"\(57 speakers listed\)\. The 60-speaker version .* ce04129a"):
        _read(tmp_path)


def test_a_recording_in_another_format_or_rate_is_refused(tmp_path):
    write_audiomnist(tmp_path, speakers=(1,), digits=(0,), repetitions=3)
    odd = tmp_path / "data" / "01" / "0_01_1.wav"
    odd.write_bytes(wav_bytes(np.zeros(100, np.int32), 48000))
    with pytest.raises(FormatError, match=r"recordings in different sample formats \(.*int16 in .*int32 in 01/0_01_1"):
        _read(tmp_path)
    odd.write_bytes(wav_bytes(np.zeros(100, np.int16), 44100))
    with pytest.raises(FormatError, match=r"01/0_01_1.wav: recorded at 44,100 Hz; expected 48,000 Hz"):
        _read(tmp_path)
    odd.write_bytes(bytes(3 << 20))
    with pytest.raises(FormatError, match=r"01/0_01_1.wav: 3,145,728 bytes; a recording of one spoken digit"):
        _read(tmp_path)


def test_a_recording_that_changes_between_the_two_passes_is_refused(tmp_path, monkeypatch):
    write_audiomnist(tmp_path, speakers=(1,), digits=(0,), repetitions=2)
    target = tmp_path / "data" / "01" / "0_01_1.wav"
    real = audiomnist._headers

    def then_change(*args, **kwargs):
        out = real(*args, **kwargs)
        target.write_bytes(wav_bytes(np.zeros(5, np.int16), 48000))
        return out

    monkeypatch.setattr(audiomnist, "_headers", then_change)
    with pytest.raises(FormatError, match=r"01/0_01_1.wav changed while it was read"):
        _read(tmp_path)


def test_no_recording_and_an_unreadable_metadata_file_are_refused(tmp_path):
    with pytest.raises(FormatError, match=r"no recording among the 0 files given"):
        read_audiomnist({}, json.dumps(meta_document()).encode(), MemorySink())
    with pytest.raises(FormatError, match=r"audiomnist: cannot read .*missing.txt .*Fetch audioMNIST_meta.txt again"):
        read_audiomnist({}, tmp_path / "missing.txt", MemorySink())


def test_memory_stays_at_the_output_plus_one_recording(tmp_path):
    expected = write_audiomnist(tmp_path, speakers=(1, 2, 3, 4), digits=tuple(range(10)), repetitions=10,
                                lengths=(20_000, 48_000))
    output = expected["samples"].nbytes + 13 * 8 * len(expected["labels"])
    with _traced() as peak:
        result, sink = _read(tmp_path)
    assert result.num_examples == 400
    # the sink holds the output (a cache entry would hold it on disk); the reader adds one file at a time
    assert peak() < output + (2 << 20), (peak(), output)


# ------------------------------------------------------------------------------------------ transforms


def test_signal_transforms_run_on_what_the_reader_wrote(tmp_path):
    from mnistfamily.transforms.signals import audiomnist_8k, pad_or_crop

    write_audiomnist(tmp_path, speakers=(3,), digits=(1, 2), repetitions=2, lengths=(20_000, 40_000))
    _, sink = _read(tmp_path)
    fixed = audiomnist_8k(sink.arrays["samples"], sink.arrays["offsets"], index=sink.arrays["index"])
    assert fixed.shape == (4, 8000) and fixed.dtype == np.float32
    padded = pad_or_crop(sink.arrays["samples"], sink.arrays["offsets"], 48_000)
    assert padded.shape == (4, 48_000) and padded.dtype == np.int16
    first = sink.arrays["samples"][: sink.arrays["offsets"][1]]
    np.testing.assert_array_equal(padded[0, : len(first)], first)
