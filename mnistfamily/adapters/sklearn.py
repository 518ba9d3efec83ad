"""``mf.load_bunch(name)``: a scikit-learn ``Bunch`` laid out like ``fetch_openml("mnist_784")``.

``fetch_openml`` returns a ``Bunch`` with ``data`` ``(N, 784)`` float64 (a DataFrame of
``pixel1`` .. ``pixel784`` with ``as_frame=True``), ``target`` holding the class names as
strings (a categorical Series named ``class``), ``feature_names``, ``target_names == ["class"]``,
``frame``, ``categories``, ``DESCR``, ``details`` and ``url``. ``load_bunch`` returns the same
keys, types, shapes and dtypes for any dataset of the family, from the verified files, plus
``index`` (each row's position in its published split). scikit-learn itself is not needed:
the ``Bunch`` is scikit-learn's class when it is installed, else a dict with the same
attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import AdapterError, require
from ._layout import fixed_shape, kind_of

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset


class Bunch(dict):
    """A dict whose keys are also attributes (scikit-learn's ``Bunch``, for when it is not installed)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __dir__(self) -> list[str]:
        return list(self.keys())


def _bunch_class() -> type:
    try:
        from sklearn.utils import Bunch as SklearnBunch  # isinstance checks in user code keep working

        return SklearnBunch
    except ImportError:
        return Bunch


def default_split(name: str, splits: list[str]) -> str:
    """``train+test`` as OpenML's mnist_784 holds it (train rows first), or the only split."""
    if "train" in splits and "test" in splits:
        return "train+test"
    if len(splits) == 1:
        return splits[0]
    raise AdapterError(f"load_bunch({name!r}): {name} has no train and test splits to put together; pass "
                       f"split= one of {', '.join(splits)} (or an expression such as "
                       f"'{splits[0]}+{splits[-1]}')")


def feature_names(dataset: "Dataset") -> list[str]:
    """``pixel1`` .. ``pixelD`` for images (1-based, as OpenML names them), ``voxel1`` .. for volumes,
    ``x1`` .. ``xL`` for signals."""
    size = int(np.prod(fixed_shape(dataset, "feature names", "a table of features").shape[1:], dtype=np.int64))
    prefix = {"signal": "x", "volume": "voxel"}.get(kind_of(dataset, dataset.name or "dataset"), "pixel")
    return [f"{prefix}{i}" for i in range(1, size + 1)]


def describe(dataset: "Dataset") -> str:
    info = dataset.info
    parts = [f"**{dataset.name}** [{dataset.split}]: {len(dataset):,} examples, {len(dataset.classes)} classes"]
    if info is not None:
        parts += [info.title, info.description.strip(), f"License: {info.license}", f"Homepage: {info.homepage}"]
        if info.citation:
            parts.append(f"Please cite:\n{info.citation.strip()}")
    parts.append("Loaded by mnistfamily from the published files, verified against their checksums.")
    return "\n\n".join(p for p in parts if p)


def bunch_from_dataset(dataset: "Dataset", *, return_X_y: bool = False, as_frame: bool = False,
                       dtype: Any = np.float64) -> Any:
    """The ``Bunch`` (or ``(data, target)``) of one Dataset; see :func:`load_bunch`."""
    where = f"load_bunch({dataset.name!r})"
    if getattr(dataset.labels, "ndim", 1) != 1:
        raise AdapterError(f"{where}: {dataset.name} is multi-label (one 0/1 column per class); a fetch_openml "
                           "Bunch has one class per row. Use ds.images and ds.labels directly.")
    data = np.asarray(fixed_shape(dataset, where, "a Bunch")).reshape(len(dataset), -1).astype(dtype)
    names = feature_names(dataset)
    classes = np.array(dataset.classes, dtype=object)
    target = classes[np.asarray(dataset.labels)]
    if return_X_y and not as_frame:
        return data, target
    frame = None
    categories: dict | None = {}  # fetch_openml(as_frame=False): categorical *features*; MNIST has none
    if as_frame:
        pd = require("pandas", "load_bunch(as_frame=True)")
        data = pd.DataFrame(data, columns=names, copy=False)
        target = pd.Series(pd.Categorical.from_codes(np.asarray(dataset.labels), categories=list(dataset.classes)),
                           name="class")
        if return_X_y:
            return data, target
        frame = pd.concat([data, target], axis=1)
        categories = None
    info = dataset.info
    details = {"name": dataset.name, "split": dataset.split, "num_examples": len(dataset),
               "license": getattr(info, "license", ""), "homepage": getattr(info, "homepage", ""),
               "default_target_attribute": "class"}
    return _bunch_class()(data=data, target=target, frame=frame, categories=categories, feature_names=names,
                          target_names=["class"], DESCR=describe(dataset), details=details,
                          url=getattr(info, "homepage", ""), index=np.array(dataset.index))


def load_bunch(name: str, *, split: str | None = None, return_X_y: bool = False, as_frame: bool = False,
               dtype: Any = np.float64, **load_options: Any) -> Any:
    """A dataset as scikit-learn's ``fetch_openml("mnist_784")`` returns MNIST.

    Parameters
    ----------
    name
        Any dataset of the registry.
    split
        A split or split expression; default ``"train+test"`` (train rows first, as OpenML's
        ``mnist_784`` orders them), or the only split.
    return_X_y
        Return ``(data, target)`` instead of the Bunch.
    as_frame
        ``data`` as a pandas DataFrame, ``target`` as a categorical Series and ``frame`` both
        (needs pandas).
    dtype
        Of ``data``: float64 as ``fetch_openml`` gives it; ``np.uint8`` takes an eighth of the memory.
    **load_options
        Passed to :func:`mnistfamily.load` (``source=``, ``data_dir=``, ...).

    Examples
    --------
    >>> import mnistfamily as mf
    >>> X, y = mf.load_bunch("mnist/sample", return_X_y=True)
    >>> X.shape, X.dtype, y[:3]
    ((2000, 784), dtype('float64'), array(['4', '4', '6'], dtype=object))
    """
    from ..api import info, load

    if split is None:
        split = default_split(name, list(info(name, registry=load_options.get("registry")).splits))
    dataset = load(name, split, **load_options)
    return bunch_from_dataset(dataset, return_X_y=return_X_y, as_frame=as_frame, dtype=dtype)
