"""Exports for tools that read only keras-style ``.npz`` or IDX files.

``export_npz`` writes ``x_train, y_train, x_test, y_test`` (``x_<split>``/``y_<split>`` for
other splits) and ``classes``, the layout of ``keras.datasets.mnist``'s ``mnist.npz``.
``export_idx`` writes LeCun's layout, ``train-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz`` (``test`` is written ``t10k``, as the MNIST family publishes
it), so a tool that reads MNIST's files reads these; metadata columns go to
``<prefix>-labels-idx2-int.gz`` (one int32 column each, in ``Dataset.metadata`` order, as
QMNIST publishes them) and a non-trivial ``index`` to ``<prefix>-index-idx1-int.gz``.

Both write every file under a temporary name and rename (or, on object stores, move) it
into place, and both are reproducible: no timestamps in the zip entries or gzip headers.
On a local disk all of an export's files are written before the first is renamed, so a
full disk leaves the destination as it was; an export holds a lock (``.<name>.lock``
beside the ``.npz``, ``.mnistfamily-idx.lock`` in an IDX folder), and whoever holds it
deletes the temporary files a killed export left.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import tempfile
import uuid
import zipfile
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from .errors import ExportError, ExportExistsError, disk_full_error, is_disk_full
from .layout import Destination, basename, join, local_lock, parent, redacts_storage_options

log = logging.getLogger("mnistfamily.outputs")

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

#: a zip entry's timestamp: the earliest a zip can hold, so equal arrays give equal files
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
IDX_COMPRESSIONS = {"gz": ".gz", "xz": ".xz", None: "", "none": ""}


@redacts_storage_options
def export_npz(data: "str | Dataset | Mapping[str, Dataset]", dest: str | os.PathLike[str], *,
               splits: str | Iterable[str] | None = None, compressed: bool = False, overwrite: bool = False,
               storage_options: dict | None = None, **load_kwargs: Any) -> str:
    """Write splits to one keras-style ``.npz``: ``x_train``, ``y_train``, ``x_test``, ``y_test``, ``classes``.

    ``x_<split>`` is ``uint8 (N, H, W)``; ``y_<split>`` is uint8 (up to 256 classes, as in
    keras' ``mnist.npz``; int32 beyond); ``classes`` holds the class names. Reads back with
    ``np.load(path)`` (no pickle needed). Returns the URL written (``file://...`` for a path).

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from mnistfamily.outputs import export_npz
    >>> path = os.path.join(tempfile.mkdtemp(), "sample.npz")
    >>> export_npz("mnist/sample", path)  # doctest: +ELLIPSIS
    'file:///.../sample.npz'
    >>> sorted(np.load(path).files)
    ['classes', 'x_test', 'y_test']
    """
    datasets = _datasets(data, splits, load_kwargs)
    destination = Destination(dest, storage_options)
    target = destination.root
    arrays: list[tuple[str, np.ndarray]] = []
    for split, ds in datasets:
        arrays += [(f"x_{split}", ds.images), (f"y_{split}", ds.labels.astype(_label_type(ds), copy=False))]
    arrays.append(("classes", np.array(datasets[0][1].classes, dtype=str)))
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED

    def write(path: str) -> None:
        with zipfile.ZipFile(path, "w", compression=method, allowZip64=True) as archive:
            for key, array in arrays:
                entry = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
                entry.compress_type = method
                with archive.open(entry, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)

    with _locked(destination, target):
        _refuse_existing(destination, [target], overwrite)
        _place_all(destination, [(target, write, "")], datasets[0][1].name or "export")
    return destination.full_url(target)


@redacts_storage_options
def export_idx(data: "str | Dataset | Mapping[str, Dataset]", dest: str | os.PathLike[str], *,
               splits: str | Iterable[str] | None = None, compression: str | None = "gz",
               overwrite: bool = False, storage_options: dict | None = None, **load_kwargs: Any) -> list[str]:
    """Write splits as IDX files in a folder (LeCun's names; ``compression`` ``"gz"``, ``"xz"`` or None).

    Per split (``test`` written ``t10k``): ``<p>-images-idx3-ubyte``, ``<p>-labels-idx1-ubyte``
    (``-idx1-int`` past 256 classes), ``<p>-labels-idx2-int`` when the split has metadata
    columns, ``<p>-index-idx1-int`` when ``index`` is not ``0..N-1``. ``mf.read_idx`` reads
    each file back to the array exported. Returns the URLs written.

    Examples
    --------
    >>> import tempfile, mnistfamily as mf
    >>> from mnistfamily.outputs import export_idx
    >>> paths = export_idx("mnist/sample", tempfile.mkdtemp())
    >>> [p.rsplit("/", 1)[-1] for p in paths][:2]
    ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
    """
    if compression not in IDX_COMPRESSIONS:
        raise ExportError(f"compression must be 'gz', 'xz' or None; found {compression!r}.")
    suffix = IDX_COMPRESSIONS[compression]
    datasets = _datasets(data, splits, load_kwargs)
    destination = Destination(dest, storage_options)
    planned: list[tuple[str, np.ndarray]] = []
    for split, ds in datasets:
        prefix = "t10k" if split == "test" else split
        label_type = _label_type(ds)
        label_kind = "ubyte" if label_type == np.uint8 else "int"
        planned += [(f"{prefix}-images-idx3-ubyte{suffix}", ds.images),
                    (f"{prefix}-labels-idx1-{label_kind}{suffix}", ds.labels.astype(label_type, copy=False))]
        table = _metadata_table(ds)
        if table is not None:
            planned.append((f"{prefix}-labels-idx2-int{suffix}", table))
        if not np.array_equal(ds.index, np.arange(len(ds))):
            planned.append((f"{prefix}-index-idx1-int{suffix}", ds.index.astype(np.int32)))
    targets = [join(destination.root, name) for name, _ in planned]
    with _locked(destination, join(destination.root, "mnistfamily-idx")):
        _refuse_existing(destination, targets, overwrite)
        _place_all(destination, [(target, functools.partial(_write_idx_to, array=array), name)
                                 for target, (name, array) in zip(targets, planned)],
                   datasets[0][1].name or "export")
    return [destination.full_url(t) for t in targets]


def _write_idx_to(path: str, *, array: np.ndarray) -> None:
    from ..formats.idx import write_idx

    write_idx(path, array)


def _datasets(data: Any, splits: str | Iterable[str] | None,
              load_kwargs: dict[str, Any]) -> list[tuple[str, "Dataset"]]:
    """``(split name, Dataset)`` pairs; a mapping's keys name its splits."""
    if isinstance(data, Mapping):
        wanted = [splits] if isinstance(splits, str) else (list(splits) if splits is not None else list(data))
        missing = [s for s in wanted if s not in data]
        if missing:
            raise ExportError(f"no split {', '.join(map(repr, missing))} among {', '.join(data)}.")
        return [(s, data[s]) for s in wanted]
    from .parquet import _resolve

    return [(ds.split, ds) for ds in _resolve(data, splits, load_kwargs)[1]]


def _label_type(ds: "Dataset") -> np.dtype:
    return np.dtype(np.uint8) if len(ds.classes) <= 256 else np.dtype(np.int32)


def _metadata_table(ds: "Dataset") -> np.ndarray | None:
    """Metadata columns as an ``int32 (N, C)`` table (QMNIST's layout), or None."""
    if not ds.metadata:
        return None
    for name, column in ds.metadata.items():
        if column.dtype.kind not in "iub" or (len(column) and (column.min() < -2**31 or column.max() >= 2**31)):
            raise ExportError(f"{ds.name} [{ds.split}]: metadata column {name!r} ({column.dtype}) does not fit "
                              "IDX's int32; export to Parquet instead, which keeps every column's type.")
    return np.stack([np.asarray(c, dtype=np.int32) for c in ds.metadata.values()], axis=1)


def _refuse_existing(destination: Destination, targets: list[str], overwrite: bool) -> None:
    if overwrite:
        return
    found = [t for t in targets if destination.exists(t)]
    if found:
        raise ExportExistsError(f"{', '.join(destination.full_url(t) for t in found)} already exist(s); pass "
                                "overwrite=True (--overwrite) to replace them.")


@contextlib.contextmanager
def _locked(destination: Destination, path: str) -> Iterator[None]:
    """On a local disk: one export to ``path`` at a time (``.<name>.lock`` beside it).

    Holding the lock proves no live export owns a ``.tmp-<8 hex>-<name>`` file in the
    folder, so those a killed export left are deleted here instead of piling up.
    """
    if not destination.local:
        yield
        return
    with local_lock(path):
        yield


def _remove_leftovers(destination: Destination, target: str, suffix: str) -> None:
    folder = parent(target)
    pattern = re.compile(r"\.tmp-[0-9a-f]{8}-" + re.escape(suffix) + "$")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if pattern.match(name):
            log.info("removing %s, left by an interrupted export", join(folder, name))
            with contextlib.suppress(OSError):
                os.unlink(join(folder, name))


def _place_all(destination: Destination, planned: list[tuple[str, Callable[[str], None], str]],
               dataset: str) -> None:
    """Write every target through a temporary file, and rename them into place only once all are written.

    A failure while writing (a full disk) therefore changes none of the targets; the
    temporary files are deleted. On object stores each file is uploaded and then moved.
    """
    if not destination.local:
        for target, write, suffix in planned:
            _place_remote(destination, target, write, suffix)
        return
    staged: list[tuple[str, str]] = []
    try:
        for target, write, suffix in planned:
            # compression is chosen by the suffix of the name written
            suffix = suffix or basename(target)
            os.makedirs(parent(target), exist_ok=True)
            _remove_leftovers(destination, target, suffix)
            tmp = join(parent(target), f".tmp-{uuid.uuid4().hex[:8]}-{suffix}")
            staged.append((tmp, target))
            write(tmp)
        for tmp, target in staged:
            os.replace(tmp, target)
    except BaseException as exc:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if is_disk_full(exc):
            raise disk_full_error(exc, dataset, destination.full_url(parent(planned[0][0]))) from exc
        raise


def _place_remote(destination: Destination, target: str, write: Callable[[str], None], suffix: str) -> None:
    """Upload through a temporary key, moved into place (object stores have no rename)."""
    suffix = suffix or basename(target)
    with tempfile.TemporaryDirectory(prefix="mnistfamily-export-") as scratch:
        local = os.path.join(scratch, suffix)
        write(local)
        remote_tmp = join(parent(target), f".tmp-{uuid.uuid4().hex[:8]}-{suffix}")
        try:
            destination.fs.put_file(local, remote_tmp)
            destination.fs.mv(remote_tmp, target)
        finally:
            destination.remove(remote_tmp)
