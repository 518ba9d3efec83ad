"""ColoredMNIST's construction, DomainBed's and the IRM paper's: which digits go where, labels, colours.

Both put a spurious colour on MNIST digits (Arjovsky et al. 2019, "Invariant Risk
Minimization"; Gulrajani and Lopez-Paz 2020, DomainBed):

1. the label is binary: 1 for digits 0-4, 0 for digits 5-9;
2. it is flipped with probability 0.25 (label noise: shape alone predicts at most 75 %);
3. the colour is the noisy label, flipped with the environment's probability ``e``;
4. the image has two channels: the digit in channel ``colour``, zeros in the other.

They differ in which digits go where:

- **DomainBed** (``ENVIRONMENTS = ['+90%', '+80%', '-90%']``, ``e = 0.1, 0.2, 0.9``): MNIST train
  and test joined (70,000), shuffled and dealt round-robin into the three environments
  (23,334 / 23,333 / 23,333), full 28x28 images;
- **IRM** (``code/colored_mnist/main.py``): MNIST's first 50,000 training digits shuffled and
  split ``[::2]`` (``e = 0.2``) and ``[1::2]`` (``e = 0.1``), the last 10,000 training digits
  unshuffled as the test environment (``e = 0.9``); images subsampled to 14x14 (``[::2, ::2]``).

The originals draw from torch's and numpy's global generators (IRM's are not seeded); here
one ``numpy.random.default_rng(seed)`` draws, in their order: the shuffle, then per environment
the label noise and then the colour flips. The statistics are the published ones; the
particular digits and flips are ours.

Why this lives with the transforms: the registry entries ``coloredmnist`` and
``coloredmnist/irm`` are prepared from it (``prepare/environments.py``), and
:mod:`mnistfamily.shift.coloredmnist` builds the same environments in memory; the transforms
stage is the one both may import, so there is one construction, not two.
:func:`domainbed_construction` and :func:`irm_construction` return the construction (no images);
:func:`colour_images` assembles the 2-channel images, channels last ``(N, H, W, 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import ShiftError

__all__ = ["Construction", "domainbed_construction", "irm_construction", "colour_images", "construct",
           "DOMAINBED_ENVIRONMENTS", "IRM_ENVIRONMENTS", "LABEL_NOISE", "CLASSES"]

#: DomainBed's environment names and colour-flip probabilities
DOMAINBED_ENVIRONMENTS = {"+90%": 0.1, "+80%": 0.2, "-90%": 0.9}
#: the IRM paper's two training environments and its test environment, in its order
IRM_ENVIRONMENTS = {"train, e=0.2": 0.2, "train, e=0.1": 0.1, "test, e=0.9": 0.9}
#: the probability that the binary label is flipped
LABEL_NOISE = 0.25
#: class names of the binary label: 0 = digits 5-9, 1 = digits 0-4
CLASSES = ("5-9", "0-4")


@dataclass(frozen=True)
class Construction:
    """Which digits go where, and their labels and colours: one row per example placed.

    ``rows`` are positions in the digits the construction was given (for DomainBed, MNIST
    train then test joined); every other array has one value per row.
    """

    names: tuple[str, ...]
    flip_probabilities: tuple[float, ...]
    rows: np.ndarray  # int64 positions in the given digits
    environment: np.ndarray  # int8: index into names
    digit: np.ndarray  # int64: the MNIST digit
    clean_label: np.ndarray  # int8: 1 if digit < 5
    label_noise: np.ndarray  # bool: the label was flipped
    label: np.ndarray  # int8: clean_label ^ label_noise (what the model must predict)
    colour_flip: np.ndarray  # bool: the colour disagrees with the (noisy) label
    colour: np.ndarray  # int8: label ^ colour_flip (the channel holding the digit)

    def of(self, environment: str) -> np.ndarray:
        """The positions (into these arrays) of one environment's examples, in construction order."""
        return np.flatnonzero(self.environment == self.names.index(environment))


def domainbed_construction(digits: Sequence[int] | np.ndarray, *, seed: int = 0,
                           label_noise: float = LABEL_NOISE,
                           environments: dict[str, float] | None = None) -> Construction:
    """DomainBed's ColoredMNIST on ``digits`` (MNIST train then test: 70,000 labels).

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily.shift.coloredmnist import domainbed_construction
    >>> c = domainbed_construction(np.arange(70_000) % 10)
    >>> [len(c.of(name)) for name in c.names]
    [23334, 23333, 23333]
    """
    digits = _digits(digits)
    envs = dict(DOMAINBED_ENVIRONMENTS if environments is None else environments)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits))
    deal = [order[i::len(envs)] for i in range(len(envs))]  # DomainBed: shuffled[i::n_envs]
    return _construct(digits, deal, envs, rng, label_noise)


def irm_construction(digits: Sequence[int] | np.ndarray, *, seed: int = 0, label_noise: float = LABEL_NOISE,
                     train_size: int = 50_000, environments: dict[str, float] | None = None) -> Construction:
    """The IRM paper's ColoredMNIST on MNIST's 60,000 training ``digits``.

    The first ``train_size`` digits, shuffled, alternate between the first two environments;
    the rest, in published order, are the third.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily.shift.coloredmnist import irm_construction
    >>> c = irm_construction(np.arange(60_000) % 10)
    >>> [len(c.of(name)) for name in c.names]
    [25000, 25000, 10000]
    """
    digits = _digits(digits)
    envs = dict(IRM_ENVIRONMENTS if environments is None else environments)
    if len(envs) != 3:
        raise ShiftError(f"the IRM construction has two training environments and a test one; found {list(envs)}")
    if not 0 < train_size < len(digits):
        raise ShiftError(f"train_size must leave digits on both sides; found {train_size} of {len(digits)}")
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(train_size)
    deal = [shuffled[0::2], shuffled[1::2], np.arange(train_size, len(digits))]
    return _construct(digits, deal, envs, rng, label_noise)


def colour_images(images: np.ndarray, colour: np.ndarray, *, subsample: int = 1) -> np.ndarray:
    """The 2-channel ColoredMNIST images, channels last: the digit in channel ``colour``, zeros in the other.

    DomainBed and IRM stack the digit twice and zero channel ``1 - colour``; they keep channels
    first ``(N, 2, H, W)`` as torch does (``np.moveaxis(out, -1, 1)`` gives that). ``subsample=2``
    takes every other row and column first, as IRM does (28x28 -> 14x14).

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily.shift.coloredmnist import colour_images
    >>> digits = np.full((2, 4, 4), 200, np.uint8)
    >>> out = colour_images(digits, np.array([0, 1]))
    >>> out.shape, out[0, ..., 0].max(), out[0, ..., 1].max(), out[1, ..., 0].max(), out[1, ..., 1].max()
    ((2, 4, 4, 2), np.uint8(200), np.uint8(0), np.uint8(0), np.uint8(200))
    """
    images = np.asarray(images)
    colour = np.asarray(colour)
    if images.ndim != 3:
        raise ShiftError(f"expected gray images (N, H, W); found shape {images.shape}")
    if colour.shape != (len(images),) or not np.isin(colour, (0, 1)).all():
        raise ShiftError(f"colour must hold one 0 or 1 per image ({len(images)}); found shape {colour.shape} "
                         f"and values {np.unique(colour)[:5].tolist()}")
    if isinstance(subsample, bool) or not isinstance(subsample, (int, np.integer)) or subsample < 1:
        raise ShiftError(f"subsample must be a positive integer; found {subsample!r}")
    images = images[:, ::subsample, ::subsample]
    out = np.zeros((*images.shape, 2), images.dtype)
    rows = np.arange(len(images))
    out[rows, :, :, colour.astype(np.int64)] = images
    return out


def construct(options: Mapping[str, Any], seed: int, flips: Mapping[str, float], digits: np.ndarray,
              number: int) -> dict[str, Any]:
    """Environment ``number`` of a registry entry's ``construction: {name: coloredmnist, ...}``.

    ``flips`` maps every environment, in registry order, to its colour-flip probability ``e``;
    ``digits`` are the joined base splits' labels. Returns the environment's ``rows`` in the
    joined base, its ``labels``, its columns (``digit``, ``label_noise``, ``colour``,
    ``colour_flip``) and ``examples``, a function from the rows' gray images to the 2-channel ones.
    The same seed gives the bytes of :func:`mnistfamily.shift.coloredmnist.coloredmnist_environments`.

    Examples
    --------
    >>> import numpy as np
    >>> made = construct({"protocol": "irm", "train_size": 50, "subsample": 2}, 0,
    ...                  {"a": 0.2, "b": 0.1, "c": 0.9}, np.arange(60) % 10, 2)
    >>> made["rows"].tolist()[:3], made["examples"](np.ones((10, 28, 28), np.uint8)).shape
    ([50, 51, 52], (10, 14, 14, 2))
    """
    protocol = options.get("protocol")
    noise = float(options.get("label_noise", LABEL_NOISE))
    if protocol == "irm":
        c = irm_construction(digits, seed=seed, label_noise=noise, train_size=int(options["train_size"]),
                             environments=dict(flips))
    elif protocol == "domainbed":
        c = domainbed_construction(digits, seed=seed, label_noise=noise, environments=dict(flips))
    else:
        raise ShiftError(f"a coloredmnist construction's protocol is 'domainbed' or 'irm'; found {protocol!r}")
    mine = c.of(c.names[number])
    colour = c.colour[mine]
    subsample = int(options.get("subsample", 1))

    def examples(gray: np.ndarray) -> np.ndarray:
        return colour_images(gray, colour, subsample=subsample)

    made: Callable[[np.ndarray], np.ndarray] = examples
    return {"rows": c.rows[mine], "labels": c.label[mine], "digit": c.digit[mine],
            "label_noise": c.label_noise[mine], "colour": colour, "colour_flip": c.colour_flip[mine],
            "examples": made}


def _digits(digits: Sequence[int] | np.ndarray) -> np.ndarray:
    digits = np.asarray(digits)
    if digits.ndim != 1 or not len(digits) or digits.dtype.kind not in "iu" or digits.min() < 0 or digits.max() > 9:
        raise ShiftError(f"expected MNIST digit labels 0-9, one per example; found {digits.dtype} {digits.shape}")
    return digits.astype(np.int64)


def _construct(digits: np.ndarray, deal: list[np.ndarray], envs: dict[str, float], rng: np.random.Generator,
               label_noise: float) -> Construction:
    if not 0 <= label_noise <= 1 or not all(0 <= e <= 1 for e in envs.values()):
        raise ShiftError(f"probabilities lie in [0, 1]; found label_noise={label_noise!r}, environments={envs!r}")
    rows, environment, noise, flip = [], [], [], []
    for i, (part, e) in enumerate(zip(deal, envs.values())):
        rows.append(part.astype(np.int64))
        environment.append(np.full(len(part), i, np.int8))
        noise.append(rng.random(len(part)) < label_noise)  # DomainBed's order: label noise, then colour
        flip.append(rng.random(len(part)) < e)
    all_rows = np.concatenate(rows)
    digit = digits[all_rows]
    clean = (digit < 5).astype(np.int8)
    label_noise_flags = np.concatenate(noise)
    label = clean ^ label_noise_flags.astype(np.int8)
    colour_flip = np.concatenate(flip)
    return Construction(names=tuple(envs), flip_probabilities=tuple(float(e) for e in envs.values()),
                        rows=all_rows, environment=np.concatenate(environment), digit=digit, clean_label=clean,
                        label_noise=label_noise_flags, label=label, colour_flip=colour_flip,
                        colour=label ^ colour_flip.astype(np.int8))
