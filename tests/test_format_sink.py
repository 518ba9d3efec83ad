"""The sink protocol readers write through: the memory sink checks lengths as the cache writer does."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from mnistfamily.errors import CacheError
from mnistfamily.formats import sink as sink_module
from mnistfamily.formats.sink import ArrayWriter, MemorySink, Sink


def test_the_memory_sink_and_the_cache_writer_are_sinks(tmp_path):
    from mnistfamily.prepare.cache import EntryWriter

    assert isinstance(MemorySink(), Sink)
    with EntryWriter(tmp_path / "entry") as writer:
        assert isinstance(writer, Sink)
        assert isinstance(writer.stream("x", np.uint8, (1,)), ArrayWriter)


def test_streams_create_and_save_hold_what_was_written():
    sink = MemorySink()
    out = sink.stream("a", np.int16, (2, 2))
    out.write(np.array([1, 2], np.int16))
    out.write(memoryview(np.array([3, 4], np.int16).tobytes()))
    out.close()
    grid = sink.create("b", np.float32, (2,))
    grid[1] = 5
    kept = np.arange(3)
    sink.save("c", kept)
    kept[0] = 99  # the sink keeps a copy, as a file would
    assert sink.arrays["a"].tolist() == [[1, 2], [3, 4]]
    assert sink.arrays["b"].tolist() == [0.0, 5.0] and sink.arrays["c"].tolist() == [0, 1, 2]
    empty = sink.stream("d", np.uint8, (0, 32, 32))
    empty.close()
    assert sink.arrays["d"].shape == (0, 32, 32)


def test_a_stream_refuses_too_many_bytes_and_too_few():
    sink = MemorySink()
    out = sink.stream("x", np.uint8, (3,))
    with pytest.raises(CacheError, match=r"x: 4 bytes written for an array of 3; the reader is wrong"):
        out.write(b"abcd")
    out.write(b"ab")
    with pytest.raises(CacheError, match=r"x: 2 bytes written for an array of 3; the reader stopped early"):
        out.close()
    with sink.stream("y", np.uint8, (1,)) as y:
        y.write(b"z")
    assert sink.arrays["y"].tolist() == [ord("z")]


def test_the_examples_run():
    assert doctest.testmod(sink_module).failed == 0
