"""What the image readers (SVHN, CIFAR, USPS) return beside the arrays they wrote into their sink.

Examples
--------
>>> Decoded(3, classes=("cat", "dog"))
Decoded(num_examples=3, classes=('cat', 'dog'), code_names={})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["Decoded"]


@dataclass(frozen=True)
class Decoded:
    """The number of examples written, and the names that go with the codes.

    ``classes`` names the values of ``labels`` when the published files name them (CIFAR's
    names files); empty when they do not and the registry must (SVHN, USPS). ``code_names``
    names the values of coded metadata columns (CIFAR-100: ``{"coarse_label": (...)}``). Facts
    found while decoding go to the sink's ``report``, which the cache keeps in the manifest.
    """

    num_examples: int
    classes: tuple[str, ...] = ()
    code_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
