"""The HASYv2, AudioMNIST and 3D MNIST readers under mutation: a result or a library error, nothing else.

A bounded, deterministic share of the fuzzing (hypothesis, ``derandomize=True``); the long run is
``benchmarks/fuzz.py`` with these targets added to ``TARGETS``.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.fuzz.contract import run_target
from harness.fuzz.mutators import mutate
from harness.fuzz.more_targets import MORE_TARGETS

FUZZ = dict(derandomize=True, deadline=None, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
EXAMPLES = {"hasy": 120, "audiomnist-wav": 200, "audiomnist-meta": 200, "mnist3d": 120}


def _seeds(name: str) -> list[bytes]:
    seeds = MORE_TARGETS[name].seeds()
    if not seeds:
        pytest.skip(f"{name}: no seeds here (the hdf5 extra, h5py, is not installed)")
    return seeds


def _scratch(root: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=root))


#: what each seed gives: valid files are read; an int32 or a float32 recording beside the int16 one
#: is refused (the recordings of one dataset share one sample format)
SEED_OUTCOMES = {"audiomnist-wav": ["ok", "ok", "ok", "FormatError", "FormatError", "ok"]}


@pytest.mark.parametrize("name", sorted(MORE_TARGETS))
def test_every_seed_of_the_new_readers_is_read(name, tmp_path):
    seeds = _seeds(name)
    outcomes = [run_target(MORE_TARGETS[name], data, _scratch(tmp_path)) for data in seeds]
    assert outcomes == SEED_OUTCOMES.get(name, ["ok"] * len(seeds))


@pytest.mark.parametrize("name", sorted(MORE_TARGETS))
def test_the_new_readers_raise_only_library_errors_on_mutants(name, tmp_path):
    target = MORE_TARGETS[name]
    seeds = _seeds(name)

    @settings(max_examples=EXAMPLES[name], **FUZZ)
    @given(which=st.integers(0, len(seeds) - 1), salt=st.integers(0, 2**32 - 1))
    def check(which, salt):
        data = mutate(seeds[which], random.Random(salt), seeds)
        run_target(target, data, _scratch(tmp_path))  # raises UnexpectedOutcome on a broken contract

    check()


@pytest.mark.parametrize("name", ["hasy", "audiomnist-wav", "audiomnist-meta"])
@settings(max_examples=25, **FUZZ)
@given(data=st.binary(max_size=512))
def test_arbitrary_bytes_to_the_new_readers_raise_only_library_errors(name, data, tmp_path):
    run_target(MORE_TARGETS[name], data, _scratch(tmp_path))
