"""Miniatures of datasets published as MATLAB ``.mat`` files inside zips (affNIST).

Each split's zip is built here (it is the published top-level file) and holds real ``.mat``
files written by ``scipy.io.savemat`` in affNIST's layout: a struct (the split's
``variable``, default ``affNISTdata``) with ``image`` (``H*W x N`` uint8, one image per
column, each column the image's rows one after the other), ``label_int`` (``1 x N``),
``label_one_of_n`` (``10 x N``) and ``human_readable_transform`` (``K x N`` float64).
*K* = 7 here is a stand-in: the real number of rows is not confirmed.

A split whose archive is named ``<name>.mat.zip`` holds one member ``<name>.mat`` (affNIST's
just_centered zips); any other holds several batches named by the ``members`` pattern with
``*`` replaced by 1, 2, ... (``training_batches/1.mat`` ... ``training_batches/12.mat``),
stored in lexical order (``1, 10, 11, 12, 2, ...``) so that a reader must sort them
naturally, next to a folder entry and a macOS resource fork, as zip tools leave them.
"""

from __future__ import annotations

import fnmatch
import io
import zipfile

import numpy as np

from ..registry import DatasetSpec, SplitSpec

DEFAULT_VARIABLE = "affNISTdata"
TRANSFORM_ROWS = 7  # a stand-in: the real number of rows is not confirmed
MAX_BATCHES = 12  # past 10, lexical and natural order differ
_DATE = (2013, 1, 1, 0, 0, 0)  # fixed member dates: the same bytes every run


def mat_contents(spec: DatasetSpec, splits: dict[str, SplitSpec], rng: np.random.Generator, *,
                 batches: int | None = None, with_transform: bool = True):
    """Published bytes of every zip of ``spec``, and what loading each split must return.

    Returns ``({zip name: (bytes, None)}, {split: {"images", "labels", "index", "metadata",
    "metadata"}})``. ``metadata`` holds the per-example transform parameters, which the
    prepared entry keeps as
    ``meta.human_readable_transform_<i>``. ``batches`` overrides the number of members of a
    batched split; ``with_transform=False`` leaves the transform field out of the struct.
    """
    height, width = (int(s) for s in spec.image_shape)
    published: dict[str, tuple[bytes, None]] = {}
    expected: dict[str, dict] = {}
    for split in splits.values():
        archive = split.inputs["archive"]
        pattern = str(split.options["members"])
        variable = str(split.options.get("variable", DEFAULT_VARIABLE))
        n = int(split.num_examples or 30)
        images = rng.integers(0, 256, size=(n, height, width), dtype=np.uint8)
        labels = rng.integers(0, len(spec.classes), size=n)
        transform = rng.uniform(-20, 20, size=(n, TRANSFORM_ROWS)) if with_transform else None
        names = member_names(archive, pattern, min(n, MAX_BATCHES) if batches is None else batches)
        members = []
        for name, rows in zip(names, np.array_split(np.arange(n), len(names))):
            struct = struct_fields(images[rows], labels[rows], len(spec.classes),
                                   None if transform is None else transform[rows])
            members.append((name, mat_bytes({variable: struct})))
        folders = sorted({m.rsplit("/", 1)[0] + "/" for m in names if "/" in m})
        published[archive] = (zip_bytes(members, folders=folders), None)
        expected[split.name] = {
            "images": images, "labels": labels.astype(np.int64), "index": np.arange(n, dtype=np.int64),
            # the per-example transform parameters become metadata columns of the Dataset
            "metadata": {} if transform is None else
            {f"human_readable_transform_{i}": transform[:, i] for i in range(TRANSFORM_ROWS)},
        }
    return published, expected


def member_names(archive: str, pattern: str, count: int) -> list[str]:
    """Names of the ``.mat`` members of a miniature zip, in natural order."""
    if archive.endswith(".mat.zip"):
        names = [archive[: -len(".zip")]]
    else:
        names = [pattern.replace("*", str(i), 1).replace("*", "") for i in range(1, max(1, count) + 1)]
    for name in names:
        if not fnmatch.fnmatchcase(name, pattern):
            raise ValueError(f"cannot name a member of {archive} that matches {pattern!r} (tried {name!r})")
    return names


def struct_fields(images: np.ndarray, labels: np.ndarray, num_classes: int,
                  transform: np.ndarray | None) -> dict[str, np.ndarray]:
    """affNIST's struct for upright ``images`` (n, H, W): one image per column, rows one after the other."""
    n = len(images)
    fields = {
        "image": np.ascontiguousarray(images.reshape(n, -1).T),
        "label_int": labels.astype(np.uint8).reshape(1, n),
        "label_one_of_n": np.eye(num_classes, dtype=np.uint8)[:, labels.astype(np.int64)],
    }
    if transform is not None:
        fields["human_readable_transform"] = np.ascontiguousarray(transform.T)
    return fields


def mat_bytes(variables: dict) -> bytes:
    """A MATLAB v5 file holding ``variables`` (a dict value is saved as a struct)."""
    from scipy.io import savemat  # imported here: only .mat miniatures need scipy

    buffer = io.BytesIO()
    savemat(buffer, variables, format="5")
    return buffer.getvalue()


def zip_bytes(members: list[tuple[str, bytes]], *, folders: "list[str] | tuple[str, ...]" = (),
              resource_fork: bool = True) -> bytes:
    """A zip of ``members`` stored in lexical name order, with folder entries and a resource fork."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for folder in folders:
            zf.writestr(zipfile.ZipInfo(folder, date_time=_DATE), b"")
        for name, data in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        if resource_fork and members:
            first = sorted(members)[0][0]
            head, _, tail = first.rpartition("/")
            info = zipfile.ZipInfo(f"__MACOSX/{head + '/' if head else ''}._{tail}", date_time=_DATE)
            zf.writestr(info, b"\x00\x05\x16\x07 not a MATLAB file")
    return buffer.getvalue()
