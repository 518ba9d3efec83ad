"""Miniatures of datasets published as NumPy ``.npz`` archives (KMNIST/K-49, MedMNIST).

Each archive is written as ``np.savez_compressed`` writes it, with the keys the registry names, so
several splits share one file when the registry says so (MedMNIST's ``train_images``,
``train_labels``, ``val_images``, ... in one ``.npz``). Labels are stored as the families
publish them: ``(N, 1)`` when they share an archive with their images (MedMNIST),
``(N,)`` in an archive of their own (KMNIST, K-49), ``(N, len(classes))`` of 0/1 for a
multi-label dataset.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from ..registry import DatasetSpec, SplitSpec

DEFAULT_KEY = "arr_0"


def npz_contents(spec: DatasetSpec, splits: dict[str, SplitSpec], rng: np.random.Generator):
    """Published bytes of every ``.npz`` file of ``spec``, and what loading each split must return.

    Returns ``({file name: (bytes, None)}, {split: {"images", "labels", "index", "metadata"}})``,
    like the IDX generator; an ``.npz`` has no decompressed payload of its own.
    """
    published_shape = tuple(spec.image_shape)
    if spec.orientation == "transposed" and len(published_shape) >= 2:
        published_shape = (published_shape[1], published_shape[0], *published_shape[2:])
    dtype = np.dtype(spec.image_dtype)
    arrays: dict[str, dict[str, np.ndarray]] = {}  # file -> key -> array, in the order first met
    expected = {}
    for split in splits.values():
        n = int(split.num_examples or 5)
        images_key = str(split.options.get("images_key", DEFAULT_KEY))
        labels_key = str(split.options.get("labels_key", DEFAULT_KEY))
        images = _array(arrays, split.images, images_key, n, split.name)
        if images is None:
            images = _images(rng, n, published_shape, dtype, spatial=3 if spec.example == "volume" else 2)
            arrays.setdefault(split.images, {})[images_key] = images
        labels = _array(arrays, split.labels, labels_key, n, split.name)
        if labels is None:
            if spec.multi_label:
                labels = rng.integers(0, 2, size=(n, len(spec.classes)), dtype=np.uint8)
            else:
                classes = rng.integers(0, len(spec.classes), size=n) + spec.label_offset
                labels = classes.astype(np.uint8 if classes.max() < 256 and classes.min() >= 0 else np.int64)
                if split.labels == split.images:
                    labels = labels.reshape(n, 1)
            arrays.setdefault(split.labels, {})[labels_key] = labels
        upright = images.swapaxes(1, 2) if spec.orientation == "transposed" else images
        expected[split.name] = {
            "images": np.ascontiguousarray(upright),
            "labels": (labels.astype(np.int64) if spec.multi_label
                       else labels.reshape(n).astype(np.int64) - spec.label_offset),
            "index": np.arange(n, dtype=np.int64),
            "metadata": {},
        }
    published = {name: (_npz_bytes(members), None) for name, members in arrays.items()}
    return published, expected


def _images(rng: np.random.Generator, n: int, shape: tuple[int, ...], dtype: np.dtype, *,
            spatial: int = 2) -> np.ndarray:
    """Random images; large ones are random at about 28x28 and enlarged by pixel repetition.

    MedMNIST's 64/128/224 releases (and its 64x64x64 volumes: ``spatial=3``) would otherwise
    make multi-megabyte miniatures of noise, slow to compress, serve and hash. Enlarged noise
    keeps every image distinct and not symmetric, which is what the tests need to see rows or
    axes in the wrong order.
    """
    axes = min(spatial, len(shape))
    factor = max(1, min(shape[:axes]) // 28) if len(shape) >= 2 else 1
    base = (*(-(-side // factor) for side in shape[:axes]), *shape[axes:])
    if dtype.kind == "u":
        images = rng.integers(0, 256, size=(n, *base), dtype=dtype)
    else:
        images = rng.standard_normal(size=(n, *base)).astype(dtype)
    if factor > 1:
        for axis in range(1, axes + 1):
            images = images.repeat(factor, axis=axis)
        images = images[(slice(None), *(slice(0, side) for side in shape[:axes]))]
    return np.ascontiguousarray(images)


def _array(arrays: dict[str, dict[str, np.ndarray]], file: str, key: str, n: int, split: str) -> np.ndarray | None:
    """An array already generated for another split reading the same file and key."""
    array = arrays.get(file, {}).get(key)
    if array is not None and len(array) != n:
        raise ValueError(f"split {split!r} reads {file}[{key!r}] with {n} rows, another split with {len(array)}")
    return array


def _npz_bytes(members: dict[str, np.ndarray]) -> bytes:
    """What ``np.savez_compressed(file, **members)`` writes (deflated ``<key>.npy`` members).

    Written member by member as NumPy does, but with deflate level 1: a miniature of
    MedMNIST's 224x224 releases takes seconds at the default level.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for key, array in members.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()
