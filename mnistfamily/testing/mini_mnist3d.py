"""A miniature ``full_dataset_vectors.h5`` (3D MNIST) in the published layout, written with h5py.

Four datasets at the root: ``X_train`` (N, 4096), ``y_train`` (N,), ``X_test``, ``y_test``,
as the Kaggle description and the loaders people use give them. The stored dtypes are not
published: by default ``X`` is float64 and ``y`` int64 (what h5py stores for numpy's default
arrays), both overridable. Voxels are sparse values in [0, 1], as a voxelised point cloud's
occupancy is. ``expected`` is computed here from the written values.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from mnistfamily.testing.mini_mnist3d import write_mnist3d   # doctest: +SKIP
>>> expected = write_mnist3d(Path(tempfile.mkdtemp()) / "full_dataset_vectors.h5", train=6, test=2)  # doctest: +SKIP
>>> expected["train"]["images"].shape                           # doctest: +SKIP
(6, 16, 16, 16)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_mnist3d"]


def write_mnist3d(path: Path, *, train: int = 40, test: int = 10, seed: int = 0, x_dtype: str = "<f8",
                  y_dtype: str = "<i8", dataset_options: dict[str, Any] | None = None,
                  extra: dict[str, np.ndarray] | None = None) -> dict:
    """Write the miniature at ``path``; return ``{split: {"images", "labels", "index"}}`` to expect.

    ``dataset_options`` go to h5py's ``create_dataset`` for ``X`` (e.g. ``chunks``,
    ``compression="gzip"``); ``extra`` datasets are written beside the four published ones.
    """
    import h5py

    rng = np.random.default_rng(seed)
    expected = {}
    with h5py.File(path, "w") as f:
        for split, n in (("train", train), ("test", test)):
            voxels = rng.random((n, 4096)) * (rng.random((n, 4096)) < 0.1)  # sparse occupancy in [0, 1)
            labels = rng.integers(0, 10, size=n)
            stored = voxels.astype(x_dtype)
            f.create_dataset(f"X_{split}", data=stored, **(dataset_options or {}))
            f.create_dataset(f"y_{split}", data=labels.astype(y_dtype))
            expected[split] = {"images": stored.astype(np.float32).reshape(n, 16, 16, 16),
                               "labels": labels.astype(np.int64), "index": np.arange(n, dtype=np.int64)}
        for name, value in (extra or {}).items():
            f.create_dataset(name, data=value)
    return expected


def mnist3d_contents(spec, splits: dict, rng: np.random.Generator):
    """The miniature writer of the ``mnist3d-h5`` format (its row of ``registry/formats.py``).

    One ``full_dataset_vectors.h5`` with as many rows in each part as its (scaled) split asks;
    returns ``({file: (bytes, None)}, {split: {"images", "labels", "index", "metadata"}})``.
    """
    import tempfile

    counts = {str(s.options["part"]): int(s.num_examples or 5) for s in splits.values()}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "full_dataset_vectors.h5"
        expected = write_mnist3d(path, train=counts.get("train", 5), test=counts.get("test", 5),
                                 seed=int(rng.integers(1 << 31)), x_dtype="<f4")
        data = path.read_bytes()
    files = {s.inputs["data"]: (data, None) for s in splits.values()}
    return files, {s.name: {**expected[str(s.options["part"])], "metadata": {}} for s in splits.values()}
