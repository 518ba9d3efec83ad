"""Exports for tools that read only keras-style ``.npz`` or IDX files.

``export_npz`` writes ``x_train, y_train, x_test, y_test`` (``x_<split>``/``y_<split>`` for
other splits) and ``classes``, the layout of ``keras.datasets.mnist``'s ``mnist.npz``.
``export_idx`` writes LeCun's layout, ``train-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz`` (``test`` is written ``t10k``, as the MNIST family publishes
it), so a tool that reads MNIST's files reads these; metadata columns go to
``<prefix>-labels-idx2-int.gz`` (one int32 column each, in ``Dataset.metadata`` order, as
QMNIST publishes them) and a non-trivial ``index`` to ``<prefix>-index-idx1-int.gz``.

Both write every file into a marked staging area beside the targets
(``.mnistfamily-tmp-<32 hex>/``, see :mod:`.staging`) and rename (or, on object stores, move)
it into place, and both are reproducible: no timestamps in the zip entries or gzip headers.
On a local disk all of an export's files are written before the first is renamed, so a
full disk leaves the destination as it was; an export holds a lock (``.<name>.lock``
beside the ``.npz``, ``.mnistfamily-idx.lock`` in an IDX folder), and whoever holds it
deletes the staging areas that killed exports of the same target left, and nothing else.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import zipfile
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np

from .errors import ExportError, ExportExistsError, disk_full_error, is_disk_full
from .layout import Destination, basename, inside, parent, redacts_storage_options
from .staging import Staging, clear_leftovers, export_lock

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

    ``x_<split>`` is the examples as loaded (``uint8 (N, H, W)`` for MNIST; colour images, volumes and
    fixed-length signals keep their shape and dtype); ``y_<split>`` is uint8 (up to 256 classes, as in
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
    if destination.local and os.path.isdir(target):
        from .errors import ExportDestinationError

        raise ExportDestinationError(f"{destination.full_url(target)} is a folder; export_npz writes one file. "
                                     "Pass a file name such as mnist.npz.")
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

    _place_all(destination, parent(target), basename(target), [(target, write)], overwrite,
               datasets[0][1].name or "export")
    return destination.full_url(target)


@redacts_storage_options
def export_idx(data: "str | Dataset | Mapping[str, Dataset]", dest: str | os.PathLike[str], *,
               splits: str | Iterable[str] | None = None, compression: str | None = "gz",
               overwrite: bool = False, storage_options: dict | None = None, **load_kwargs: Any) -> list[str]:
    """Write splits as IDX files in a folder (LeCun's names; ``compression`` ``"gz"``, ``"xz"`` or None).

    Per split (``test`` written ``t10k``): ``<p>-images-idx3-ubyte`` (``idx4-ubyte`` for colour
    images and volumes, ``idx2-double`` for MNIST-1D: the rank and IDX type of the examples), ``<p>-labels-idx1-ubyte``
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
        images = ds.images  # MNIST's own name for grey images: images-idx3-ubyte; others say their rank and type
        type_name = _IDX_TYPE_NAMES.get(images.dtype.name, images.dtype.name)
        planned += [(f"{prefix}-images-idx{images.ndim}-{type_name}{suffix}", images),
                    (f"{prefix}-labels-idx1-{label_kind}{suffix}", ds.labels.astype(label_type, copy=False))]
        table = _metadata_table(ds)
        if table is not None:
            planned.append((f"{prefix}-labels-idx2-int{suffix}", table))
        if not np.array_equal(ds.index, np.arange(len(ds))):
            planned.append((f"{prefix}-index-idx1-int{suffix}", ds.index.astype(np.int32)))
    targets = [inside(destination.root, name) for name, _ in planned]
    _place_all(destination, destination.root, "mnistfamily-idx",
               [(target, functools.partial(_write_idx_to, array=array)) for target, (_, array) in zip(targets, planned)],
               overwrite, datasets[0][1].name or "export")
    return [destination.full_url(t) for t in targets]


def _write_idx_to(path: str, *, array: np.ndarray) -> None:
    from ..formats.idx import write_idx

    write_idx(path, array)


def _datasets(data: Any, splits: str | Iterable[str] | None,
              load_kwargs: dict[str, Any]) -> list[tuple[str, "Dataset"]]:
    """``(split name, Dataset)`` pairs; a mapping's keys name its splits (and file names: they are checked)."""
    from ..registry.names import split_name_problem

    if isinstance(data, Mapping):
        wanted = [splits] if isinstance(splits, str) else (list(splits) if splits is not None else list(data))
        missing = [s for s in wanted if s not in data]
        if missing:
            raise ExportError(f"no split {', '.join(map(repr, missing))} among {', '.join(map(str, data))}.")
        for split in wanted:
            problem = split_name_problem(split)
            if problem:
                raise ExportError(f"{problem}; the keys of the mapping name the splits (and the files written).")
        return [(s, _fixed_shape(data[s])) for s in wanted]
    from .parquet import _resolve

    return [(ds.split, _fixed_shape(ds)) for ds in _resolve(data, splits, load_kwargs)[1]]


def _fixed_shape(ds: "Dataset") -> "Dataset":
    """``ds``, when its examples are one array (npz and IDX hold nothing else)."""
    from ..examples import Signals

    if isinstance(ds.examples, Signals):
        raise ExportError(f"{ds.name} [{ds.split}]: signals of varying length are not one array, and .npz and IDX "
                          "files hold arrays. Export to Parquet (a list column per signal), or make them one length "
                          "first (ds.map(mnistfamily.transforms.PadOrCrop(length))).")
    return ds


#: IDX's names of its types, as LeCun's description of the format gives them
_IDX_TYPE_NAMES = {"uint8": "ubyte", "int8": "byte", "int16": "short", "int32": "int", "float32": "float",
                   "float64": "double"}


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


def _place_all(destination: Destination, folder: str, target_name: str,
               planned: list[tuple[str, Callable[[str], None]]], overwrite: bool, dataset: str) -> None:
    """Write every target into one staging area in ``folder``, and rename them into place only once all are written.

    Under the lock of ``folder/target_name`` (local disks): the staging areas that killed exports
    of the same target left are removed first; an existing target without ``overwrite`` is an
    ExportExistsError. A failure while writing (a full disk) changes none of the targets. On
    object stores each file is uploaded into the staging prefix, then moved.
    """
    where = destination.full_url(folder)
    with export_lock(destination, folder, target_name, f"exporting {dataset} to {where}"):
        clear_leftovers(destination, folder, target_name)
        _refuse_existing(destination, [target for target, _ in planned], overwrite)
        for target, _ in planned:
            if destination.local and os.path.isdir(target):
                from .errors import ExportDestinationError

                raise ExportDestinationError(f"{destination.full_url(target)} is a folder; the export writes a "
                                             "file of that name. Move the folder away, or choose another destination.")
        staging = Staging(destination, folder, target_name)
        try:
            if destination.local:
                staged = []
                for target, write in planned:
                    tmp = staging.file(basename(target))  # compression is chosen by the suffix of the name
                    write(tmp)
                    staged.append((tmp, target))
                for tmp, target in staged:
                    os.replace(tmp, target)
            else:
                for target, write in planned:
                    _place_remote(destination, staging, target, write)
        except BaseException as exc:
            if is_disk_full(exc):
                raise disk_full_error(exc, dataset, where) from exc
            raise
        finally:
            staging.remove()


def _place_remote(destination: Destination, staging: Staging, target: str, write: Callable[[str], None]) -> None:
    """Upload through the staging prefix, then move into place (object stores have no rename)."""
    with tempfile.TemporaryDirectory(prefix="mnistfamily-export-") as scratch:
        local = os.path.join(scratch, basename(target))
        write(local)
        remote_tmp = staging.file(basename(target))
        destination.fs.put_file(local, remote_tmp)
        destination.fs.mv(remote_tmp, target)
