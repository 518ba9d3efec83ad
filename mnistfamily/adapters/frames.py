"""pandas and Polars: one row per example.

Columns: ``index`` (position in the published split), ``label``, ``label_name`` (categorical,
its categories the class names), every metadata column, then the pixels:

* ``pixels="array"`` (default): one column named after the kind of example (``image``,
  ``volume``, ``signal``) holding each example as an array of its own shape. pandas gets an
  object column of read-only numpy views into the Dataset's arrays (no value is copied;
  ``np.stack(df["image"])`` gives the images back); Polars gets an ``Array(UInt8, (H, W))``
  column (a ``List`` for signals of varying length).
* ``pixels="columns"``: one column per value, ``pixel1`` .. ``pixelD`` as OpenML's ``mnist_784``
  names them (``voxel1`` .. for volumes, ``x1`` .. ``xL`` for signals), in one block of the
  stored dtype; signals of varying length have no such table.

Multi-label datasets (one 0/1 value per class) get ``label`` as an array per row and
``label_name`` as the list of the row's classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import AdapterError, require
from ._layout import fixed_shape
from .sklearn import feature_names

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

PIXELS = ("array", "columns")


def _check_pixels(pixels: str, where: str) -> None:
    if pixels not in PIXELS:
        raise AdapterError(f"{where}: pixels must be 'array' (one image column) or 'columns' (one column per "
                           f"pixel, as mnist_784), found {pixels!r}")


def _object_column(array: Any) -> np.ndarray:
    """An object array whose items are views of ``array``'s rows, or of each signal's samples (no value copied)."""
    from ..examples import Signals

    if isinstance(array, Signals):
        out = np.empty(len(array), dtype=object)
        for i, signal in enumerate(array):
            out[i] = signal
        return out
    plain = np.asarray(array)  # a memmap subclass would run Python code for every row view
    out = np.empty(len(plain), dtype=object)
    out[:] = list(plain) if len(plain) else []
    return out


def _multi_label_names(dataset: "Dataset") -> np.ndarray:
    classes = np.array(dataset.classes, dtype=object)
    out = np.empty(len(dataset), dtype=object)
    out[:] = [list(classes[row.astype(bool)]) for row in np.asarray(dataset.labels)]
    return out


def to_pandas(dataset: "Dataset", *, pixels: str = "array") -> Any:
    """A pandas DataFrame; see :meth:`mnistfamily.Dataset.to_pandas`."""
    where = f"{dataset.name or 'Dataset'}.to_pandas"
    _check_pixels(pixels, where)
    pd = require("pandas", where)
    labels = np.asarray(dataset.labels)
    columns: dict[str, Any] = {"index": np.asarray(dataset.index)}
    if labels.ndim == 1:
        columns["label"] = labels
        columns["label_name"] = pd.Categorical.from_codes(labels, categories=list(dataset.classes))
    else:
        columns["label"] = _object_column(labels)
        columns["label_name"] = _multi_label_names(dataset)
    columns.update({name: np.asarray(values) for name, values in dataset.metadata.items()})
    if pixels == "array":
        columns[dataset.example] = _object_column(dataset.examples)
        return pd.DataFrame(columns, copy=False)
    flat = np.asarray(fixed_shape(dataset, where, "pixels='columns'")).reshape(len(dataset), -1)
    frame = pd.DataFrame(flat, columns=feature_names(dataset), copy=True)  # one block, one copy
    for position, (name, values) in enumerate(columns.items()):
        frame.insert(position, name, values)
    return frame


def _arrow_image_column(images: Any) -> Any:
    """A nested fixed-size-list Arrow array over the images' buffer (no copy when contiguous); a list
    array for signals of varying length."""
    import pyarrow as pa

    from ..examples import Signals

    if isinstance(images, Signals):
        samples, offsets = images.compact()
        flat = pa.Array.from_buffers(pa.from_numpy_dtype(samples.dtype), len(samples), [None, pa.py_buffer(samples)])
        return pa.LargeListArray.from_arrays(pa.array(offsets), flat)
    data = np.ascontiguousarray(images)
    values: Any = pa.Array.from_buffers(pa.from_numpy_dtype(data.dtype), data.size, [None, pa.py_buffer(data)])
    for size in reversed(data.shape[1:]):
        values = pa.FixedSizeListArray.from_arrays(values, size)
    return values


def to_polars(dataset: "Dataset", *, pixels: str = "array") -> Any:
    """A Polars DataFrame; see :meth:`mnistfamily.Dataset.to_polars`."""
    where = f"{dataset.name or 'Dataset'}.to_polars"
    _check_pixels(pixels, where)
    pl = require("polars", where)
    pa = require("pyarrow", where)
    labels = np.asarray(dataset.labels)
    series = [pl.Series("index", np.asarray(dataset.index))]
    if labels.ndim == 1:
        series.append(pl.Series("label", labels))
        names = pa.DictionaryArray.from_arrays(pa.array(labels.astype(np.int32)), pa.array(list(dataset.classes)))
        series.append(pl.from_arrow(names).alias("label_name").cast(pl.Enum(list(dataset.classes))))
    else:
        series.append(pl.Series("label", labels))
        series.append(pl.Series("label_name", list(_multi_label_names(dataset)), dtype=pl.List(pl.String)))
    series += [pl.Series(name, np.asarray(values)) for name, values in dataset.metadata.items()]
    if pixels == "array":
        series.append(pl.from_arrow(_arrow_image_column(dataset.examples)).alias(dataset.example))
        return pl.DataFrame(series)
    flat = np.asarray(fixed_shape(dataset, where, "pixels='columns'")).reshape(len(dataset), -1)
    return pl.DataFrame(series).hstack(pl.from_numpy(flat, schema=feature_names(dataset), orient="row"))
