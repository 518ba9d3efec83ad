"""Fuzz targets for every reader of untrusted bytes, their seed corpora, and mutators.

A *target* takes the bytes of one hostile file and feeds them to one reader exactly as the
library would (through the split builder where a reader needs a registry spec and a cache
writer), inside a scratch folder. The contract every target checks is the one in
DESIGN.md, "Never trust a file": whatever the bytes, the reader returns or raises a
subclass of :class:`~mnistfamily.errors.MnistFamilyError`; it never raises anything else,
never allocates or decompresses far more than the file could hold, and never writes a file
outside the scratch folder's cache.

Seeds are well-formed miniatures written by :mod:`mnistfamily.testing`'s own writers (plus
a few hostile hand-made files), so mutations start from inputs that get deep into each
reader. :func:`mutate` applies byte-level mutations and, with some probability, mutates
the payload *inside* a gzip/xz/zip/tar container and packs it again, so the container's
checks (CRC, sizes) pass and the inner format's reader is exercised too.

One module per job: :mod:`.contract` (what a target must do, and the check), :mod:`.containers`
(IDX bytes, bombs and lying containers), :mod:`.targets` (one target and seed corpus per
reader) and :mod:`.mutators`.

Used by ``tests/test_fuzz_*.py`` (bounded hypothesis runs) and ``benchmarks/fuzz.py`` (a
long mutation-fuzzing run). Nothing here is imported by ``mnistfamily.testing`` itself, and
hypothesis is not needed.

Examples
--------
>>> import random, tempfile
>>> from pathlib import Path
>>> from harness.fuzz import TARGETS, mutate, run_target
>>> target = TARGETS["idx"]
>>> seed = target.seeds()[0]
>>> run_target(target, seed, Path(tempfile.mkdtemp()))
'ok'
>>> outcome = run_target(target, mutate(seed, random.Random(0), target.seeds()), Path(tempfile.mkdtemp()))
>>> isinstance(outcome, str)
True
"""

from .containers import gzip_bomb, idx_bytes, xz_bomb, xz_claiming, zip_bomb
from .contract import Target, UnexpectedOutcome, outside_writes, run_target
from .mutators import mutate
from .targets import TARGETS

# names outside __all__ that were reachable as ``fuzz.<name>`` before the split, kept so:
# the tests build hostile inputs from the seeds and helpers (``fuzz._npy``, ``fuzz._MEMBER``, ...)
from .containers import _zip_of  # noqa: F401
from .mutators import mutate_bytes  # noqa: F401
from .targets import (  # noqa: F401
    run_idx, run_mat, run_mnist1d, run_npz, run_png, run_png_tar, run_registry, run_zip,
)
from .targets import (  # noqa: F401
    _MAT, _MEMBER, _MNIST1D, _NPZ, _PNG_TAR, _idx_seeds, _mat_seeds, _member_spec, _mnist1d_seeds, _npy,
    _npz_seeds, _png_seeds, _png_tar_seeds, _registry_seeds, _spec, _zip_seeds,
)

__all__ = [
    "TARGETS", "Target", "UnexpectedOutcome", "idx_bytes", "mutate", "outside_writes", "run_target",
    "zip_bomb", "gzip_bomb", "xz_bomb", "xz_claiming",
]
