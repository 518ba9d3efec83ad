"""ColoredMNIST, DomainBed's and the IRM paper's, built in memory from loaded MNIST splits.

The construction (the binary label, its 25 % noise, the colour flipped with the environment's
probability, which digits go to which environment, and how ours draws its randomness) is
described and implemented in :mod:`mnistfamily.transforms.coloredmnist`
(:func:`domainbed_construction`, :func:`irm_construction`, :func:`colour_images`), shared with
the registry entries ``coloredmnist`` and ``coloredmnist/irm`` that are prepared from it.
:func:`coloredmnist_environments` builds the same environments in memory (byte for byte what the
entries hold, tested), for experiments with other seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import ShiftError
from ..transforms.coloredmnist import (CLASSES, DOMAINBED_ENVIRONMENTS, IRM_ENVIRONMENTS, LABEL_NOISE, Construction,
                                       colour_images, domainbed_construction, irm_construction)

if TYPE_CHECKING:  # pragma: no cover
    from ..dataset import Dataset

__all__ = ["Construction", "domainbed_construction", "irm_construction", "colour_images",
           "coloredmnist_environments", "DOMAINBED_ENVIRONMENTS", "IRM_ENVIRONMENTS", "LABEL_NOISE", "CLASSES"]


def coloredmnist_environments(train: "Dataset", test: "Dataset | None" = None, *, protocol: str = "domainbed",
                              seed: int = 0, grayscale: bool = False) -> dict[str, "Dataset"]:
    """ColoredMNIST's environments as in-memory Datasets (2-channel images, channels last).

    Parameters
    ----------
    train, test
        MNIST's training and test splits (``mf.load("mnist", ...)``); IRM uses the training
        split only, so ``test`` is not needed there.
    protocol
        ``"domainbed"`` or ``"irm"``.
    seed
        The seed of the shuffle, the label noise and the colour flips.
    grayscale
        The colour-blind model's input instead: the gray digit ``(N, H, W)``, which is what the
        IRM code's ``--grayscale_model`` sees (the sum of the two channels).

    Returns
    -------
    dict[str, Dataset]
        Environment name -> Dataset with the binary ``labels`` (classes ``CLASSES``) and the
        columns ``environment``, ``digit``, ``label_noise``, ``colour``, ``colour_flip``,
        ``source_split`` (0 train, 1 test) and ``source_index``.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily.shift.coloredmnist import coloredmnist_environments
    >>> sample = mf.load("mnist/sample", "test")
    >>> envs = coloredmnist_environments(sample, sample.select(slice(0, 0)), protocol="domainbed")
    >>> {name: ds.images.shape for name, ds in envs.items()}
    {'+90%': (667, 28, 28, 2), '+80%': (667, 28, 28, 2), '-90%': (666, 28, 28, 2)}
    """
    from ..dataset import Dataset

    if protocol == "domainbed":
        if test is None:
            raise ShiftError("DomainBed's ColoredMNIST joins MNIST's train and test splits: pass test=")
        parts = [train, test]
        construction = domainbed_construction(np.concatenate([np.asarray(train.labels), np.asarray(test.labels)]),
                                              seed=seed)
        subsample = 1
    elif protocol == "irm":
        parts = [train]
        construction = irm_construction(np.asarray(train.labels), seed=seed)
        subsample = 2
    else:
        raise ShiftError(f"protocol must be 'domainbed' or 'irm'; found {protocol!r}")
    sizes = np.cumsum([0, *[len(p) for p in parts]])
    out = {}
    for name in construction.names:
        mine = construction.of(name)
        rows = construction.rows[mine]
        source_split = (np.searchsorted(sizes, rows, side="right") - 1).astype(np.int8)
        source_index = rows - sizes[source_split]
        gray = np.empty((len(rows), *parts[0].images.shape[1:]), np.uint8)
        for p, part in enumerate(parts):
            gray[source_split == p] = np.asarray(part.images)[source_index[source_split == p]]
        colour = construction.colour[mine]
        images = gray[:, ::subsample, ::subsample].copy() if grayscale else \
            colour_images(gray, colour, subsample=subsample)
        out[name] = Dataset(images, construction.label[mine].astype(np.int64), classes=list(CLASSES),
                            metadata={"environment": construction.environment[mine],
                                      "digit": construction.digit[mine],
                                      "label_noise": construction.label_noise[mine],
                                      "colour": colour, "colour_flip": construction.colour_flip[mine],
                                      "source_split": source_split, "source_index": source_index},
                            name=f"coloredmnist ({protocol}{', grayscale' if grayscale else ''})", split=name)
    return out
