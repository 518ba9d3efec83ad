"""Signal batches as flat samples + offsets: pad/crop, polyphase resampling, AudioNet's 8 kHz input."""

from __future__ import annotations

import doctest
import tracemalloc

import numpy as np
import pytest
from scipy.signal import resample_poly

from mnistfamily.transforms import signals
from mnistfamily.transforms.base import TransformError
from mnistfamily.transforms.signals import audiomnist_8k, pad_or_crop, resample, signal_lengths


def _batch(lengths, seed=0, dtype=np.int16):
    rng = np.random.default_rng(seed)
    parts = [rng.integers(-3000, 3000, size=n).astype(dtype) for n in lengths]
    offsets = np.zeros(len(parts) + 1, np.int64)
    offsets[1:] = np.cumsum([len(p) for p in parts])
    return (np.concatenate(parts) if parts else np.empty(0, dtype)), offsets, parts


def test_the_doctests_run():
    assert doctest.testmod(signals).failed == 0


@pytest.mark.parametrize("align, short, long", [
    ("start", [1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]),
    ("center", [0, 1, 2, 3, 0, 0], [5, 6, 7, 8, 9, 10]),
    ("end", [0, 0, 0, 1, 2, 3], [6, 7, 8, 9, 10, 11]),
])
def test_pad_or_crop_places_short_and_long_examples(align, short, long):
    samples = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], np.int16)  # [1 2 3] and [4 .. 11]
    out = pad_or_crop(samples, np.array([0, 3, 11]), 6, align=align)
    assert out.dtype == np.int16 and out.tolist() == [short, long]


def test_pad_or_crop_keeps_exact_lengths_and_empty_examples():
    samples, offsets, parts = _batch([5, 0, 5])
    out = pad_or_crop(samples, offsets, 5, fill=-1)
    np.testing.assert_array_equal(out[0], parts[0])
    assert out[1].tolist() == [-1] * 5
    np.testing.assert_array_equal(out[2], parts[2])


def test_random_placement_depends_on_seed_and_index_only_and_reaches_every_place():
    samples, offsets, _ = _batch([3] * 400)
    index = np.arange(1000, 1400)
    out = pad_or_crop(samples, offsets, 8, align="random", seed=3, index=index)
    starts = (out != 0).argmax(axis=1)
    assert set(starts.tolist()) == set(range(6))  # 8 - 3 + 1 places, all reached
    alone = pad_or_crop(samples[30:33], np.array([0, 3]), 8, align="random", seed=3, index=index[10:11])
    np.testing.assert_array_equal(alone[0], out[10])  # the same draw alone as in a batch of 400
    other = pad_or_crop(samples, offsets, 8, align="random", seed=4, index=index)
    assert (other != out).any()
    # cropping a long example picks a window at random too
    long, long_offsets, parts = _batch([20] * 50)
    crops = pad_or_crop(long, long_offsets, 5, align="random", seed=0)
    firsts = [int(np.flatnonzero(parts[i] == crops[i, 0])[0]) for i in range(50)]
    assert all(np.array_equal(parts[i][f:f + 5], crops[i]) for i, f in enumerate(firsts))
    assert len(set(firsts)) > 5


@pytest.mark.parametrize("call, message", [
    (lambda: pad_or_crop(np.zeros(4), np.array([0, 4]), 3, align="random"), r"align='random' needs seed="),
    (lambda: pad_or_crop(np.zeros(4), np.array([0, 4]), 3, align="left"), r"align must be one of start, center"),
    (lambda: pad_or_crop(np.zeros(4), np.array([0, 4]), 0), r"length must be a positive int"),
    (lambda: pad_or_crop(np.zeros(4), np.array([0, 4]), 2.5), r"length must be a positive int"),
    (lambda: pad_or_crop(np.zeros((2, 2)), np.array([0, 4]), 2), r"samples must be the flat 1-d array"),
    (lambda: pad_or_crop(np.zeros(4), np.array([0, 5]), 2), r"offsets end at 5 but samples holds 4"),
    (lambda: pad_or_crop(np.zeros(4), np.array([0, 3, 2]), 2), r"never decrease"),
    (lambda: pad_or_crop(np.zeros(4), np.array([-1, 2]), 2), r"start at 0 or later"),
    (lambda: pad_or_crop(np.zeros(4), np.array([0.0, 2.0]), 2), r"1-d integer array"),
    (lambda: pad_or_crop(np.zeros(4), np.array([0, 4]), 2, align="random", seed=0, index=[1, 2]),
     r"index must hold one position per example \(1\)"),
    (lambda: resample(np.zeros(4), np.array([0, 4]), 48000, 0), r"new_rate must be a positive int"),
    (lambda: resample(np.zeros(4), np.array([0, 4]), 44.1, 8000), r"rate must be a positive int"),
])
def test_bad_arguments_are_transform_errors(call, message):
    with pytest.raises(TransformError, match=message):
        call()


@pytest.mark.parametrize("rates", [(48000, 8000), (8000, 48000), (48000, 16000), (44100, 48000)])
def test_resampling_a_batch_equals_resampling_each_example_alone(rates):
    samples, offsets, parts = _batch([47998, 1, 0, 12345, 6, 30001])
    new, new_offsets = resample(samples, offsets, *rates)
    assert new.dtype == np.float32
    from math import gcd

    up, down = rates[1] // gcd(*rates), rates[0] // gcd(*rates)
    for i, part in enumerate(parts):
        alone = resample_poly(part.astype(np.float64), up, down) if len(part) else np.empty(0)
        got = new[new_offsets[i]:new_offsets[i + 1]]
        assert len(got) == -(-len(part) * up // down)
        np.testing.assert_array_equal(got, alone.astype(np.float32))


def test_chunking_does_not_change_the_result(monkeypatch):
    samples, offsets, _ = _batch([3000, 4000, 100, 5000, 2500] * 4)
    whole = resample(samples, offsets, 48000, 8000)
    monkeypatch.setattr(signals, "CHUNK_BYTES", 40_000)  # one or two examples per chunk
    chunked = resample(samples, offsets, 48000, 8000)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_array_equal(whole[1], chunked[1])


def test_resampling_memory_is_the_output_plus_one_chunk(monkeypatch):
    monkeypatch.setattr(signals, "CHUNK_BYTES", 8 << 20)
    samples, offsets, _ = _batch([48000] * 300)  # 28.8 MB of int16 at 48 kHz
    tracemalloc.start()
    try:
        new, _ = resample(samples, offsets, 48000, 8000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # output (9.6 MB float32), one padded chunk of float64 and scipy's working copies of it
    assert peak < new.nbytes + 4 * (8 << 20), peak


def test_audiomnist_8k_gives_8000_samples_at_8khz_as_the_paper_feeds_audionet():
    samples, offsets, parts = _batch([48000, 24000, 60000, 0])
    out = audiomnist_8k(samples, offsets, align="start")
    assert out.shape == (4, 8000) and out.dtype == np.float32
    expected = resample_poly(parts[1].astype(np.float64), 1, 6).astype(np.float32)
    np.testing.assert_array_equal(out[1, :4000], expected)
    assert not out[1, 4000:].any() and not out[3].any()
    np.testing.assert_array_equal(out[2], resample_poly(parts[2].astype(np.float64), 1, 6).astype(np.float32)[:8000])
    randomly = audiomnist_8k(samples, offsets, seed=1)
    np.testing.assert_array_equal(randomly[0], out[0])  # a full second has one place only
    start = int(np.flatnonzero(randomly[1])[0])
    np.testing.assert_array_equal(randomly[1, start:start + 4000], expected)


def test_signal_lengths_are_the_differences_of_the_offsets():
    assert signal_lengths(np.array([0, 3, 3, 10])).tolist() == [3, 0, 7]
