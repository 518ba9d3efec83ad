"""The last mile: from a :class:`~mnistfamily.Dataset` into training code.

One module per target, each imported only when its ``Dataset`` method (or top-level
function) is called, so ``import mnistfamily`` and a warm ``load`` import none of torch,
tensorflow, pandas, polars, ``datasets`` or Pillow:

=================  ===========================================================================
``batches``        ``ds.batches(...)``: numpy minibatches, shuffled from ``(seed, epoch)``
``torch``          ``ds.to_torch(...)``: a map-style ``torch.utils.data.Dataset`` and a batch sampler
``tf``             ``ds.to_tf(...)``: a ``tf.data.Dataset`` of batches
``keras``          ``mf.load_data(name)``: ``((x_train, y_train), (x_test, y_test))`` as Keras gives them
``sklearn``        ``mf.load_bunch(name)``: a ``Bunch`` laid out like ``fetch_openml("mnist_784")``
``hf``             ``ds.to_hf()``: a Hugging Face ``datasets.Dataset`` with ``Image`` and ``ClassLabel``
``frames``         ``ds.to_pandas()``, ``ds.to_polars()``
``holdout``        ``ds.train_test_split(...)``: a stratified validation split
``notebook``       ``ds.show()``, ``ds._repr_html_()``, ``print(ds)``
=================  ===========================================================================

Adapters sit downstream of ``Dataset`` and never feed back into loading. Optional libraries
are imported on use through :func:`require`, whose error names the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import AdapterError  # noqa: F401 - raised by every adapter, imported from here

#: the extra that installs each optional library (``pip install "mnistfamily[<extra>]"``)
EXTRAS = {
    "torch": "torch", "torchvision": "torch", "tensorflow": "tf", "datasets": "hf", "pyarrow": "hf",
    "pandas": "pandas", "polars": "polars",
}


def require(module: str, what: str) -> ModuleType:
    """Import an optional library, or raise :class:`~mnistfamily.errors.MissingDependencyError`.

    Parameters
    ----------
    module
        The import name (``"torch"``, ``"pandas"``, ...).
    what
        What needs it, for the message (``"Dataset.to_torch"``).

    Examples
    --------
    >>> from mnistfamily.adapters import require
    >>> require("numpy", "this example").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from ..errors import MissingDependencyError

        top = module.split(".")[0]
        extra = EXTRAS.get(top)
        hint = f'pip install "mnistfamily[{extra}]"' if extra else f"pip install {top}"
        raise MissingDependencyError(f"{what} needs {top}, which is not installed ({exc}). Install it: "
                                     f"{hint}") from None
