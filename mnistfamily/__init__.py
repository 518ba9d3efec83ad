"""mnistfamily: the MNIST family, one call away, byte-exact and safe.

>>> import mnistfamily as mf
>>> ds = mf.load("mnist/sample", split="test")   # the embedded sample: no download
>>> len(ds), ds.classes[:3]
(2000, ['0', '1', '2'])

Heavy modules (numpy included) load on first use, so ``import mnistfamily`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .lazy import lazy_names

__all__ = [
    "__version__", "datasets", "info", "load", "download", "verify", "read_idx", "write_idx",
    "Dataset", "DatasetInfo", "MnistFamilyError", "export", "read_parquet", "load_data", "load_bunch",
]

_LAZY = {
    "datasets": "api", "info": "api", "load": "api", "download": "api", "verify": "cache_check",
    "read_idx": "formats.idx", "write_idx": "formats.idx",
    "Dataset": "dataset", "DatasetInfo": "dataset",
    "MnistFamilyError": "errors",
    "export": "outputs", "read_parquet": "outputs",
    "load_data": "adapters.keras", "load_bunch": "adapters.sklearn",
}

if TYPE_CHECKING:  # pragma: no cover
    from .api import datasets, download, info, load
    from .cache_check import verify
    from .dataset import Dataset, DatasetInfo
    from .errors import MnistFamilyError
    from .formats.idx import read_idx, write_idx
    from .adapters.keras import load_data
    from .adapters.sklearn import load_bunch
    from .outputs import export, read_parquet


#: subpackages reachable as attributes without an explicit import (``mf.transforms.Deskew``)
_SUBPACKAGES = {"transforms", "baselines", "shift", "testing", "outputs"}


__getattr__, __dir__ = lazy_names(globals(), _LAZY, _SUBPACKAGES)
