"""Vectorised transforms for image batches: ``t(images, *, index=None) -> images``.

Everything works on whole ``(N, H, W)`` (or ``(N, H, W, C)``) batches with numpy and scipy;
random transforms take an explicit ``seed`` and draw per example from ``(seed, index)``,
so results do not depend on batch size, chunking or threads. Each transform has a readable
``repr`` and a JSON ``spec()``; :func:`from_spec` rebuilds it (a list gives a
:class:`Compose`), so pipelines can live in ``registry.yaml``. See docs/transforms.md.

>>> import mnistfamily as mf
>>> from mnistfamily import transforms as T
>>> ds = mf.load("mnist/sample", "test")
>>> t = T.Compose([T.ElasticDistortion(alpha=34, sigma=4, seed=0), T.Normalize(0.1307, 0.3081)])
>>> t(ds.images, index=ds.index).dtype
dtype('float32')
"""

from __future__ import annotations

from .base import (Compose, Transform, TransformError, apply_in_chunks, check_accepts, from_spec, get_num_threads,
                   registered, set_num_threads)
from .basic import Binarize, CenterCrop, Flip, GaussianNoise, Invert, Normalize, Pad, Rotate90, ToFloat, Transpose
from .blurs import GlassBlur, MotionBlur
from .canny import CannyEdges
from .colour import ToChannels, ToGray
from .corruptions import MNIST_C, Brightness, ImpulseNoise, ShotNoise, Spatter, Stripe, mnist_c
from .fog import Fog
from .geometric import CenterOfMass, Deskew, ElasticDistortion, RandomAffine, Resize, moments
from .mnistify import MNISTify
from .rotation import RotateDegrees
from .signals import AudioNet8k, PadOrCrop, Resample
from .strokes import DottedLine, Zigzag
from .warps import Rotate, Scale, Shear, Translate

#: Bumped whenever a transform's output bytes change for the same spec (a new algorithm, a
#: fixed bug): put it in cache keys beside ``t.spec()`` so stale derived data is not reused.
ALGORITHMS_VERSION = 2

__all__ = [
    "ALGORITHMS_VERSION",
    # protocol
    "Transform", "Compose", "from_spec", "apply_in_chunks", "TransformError", "registered",
    "set_num_threads", "get_num_threads", "check_accepts",
    # basic
    "ToFloat", "Normalize", "Pad", "CenterCrop", "Invert", "Binarize", "Transpose", "Rotate90", "Flip",
    "GaussianNoise", "ToChannels", "ToGray",
    # geometric
    "Resize", "RandomAffine", "ElasticDistortion", "Deskew", "CenterOfMass", "MNISTify", "moments",
    "RotateDegrees",
    # signals (AudioMNIST)
    "PadOrCrop", "Resample", "AudioNet8k",
    # MNIST-C corruptions
    "MNIST_C", "mnist_c", "ShotNoise", "ImpulseNoise", "GlassBlur", "MotionBlur", "Shear", "Scale", "Rotate",
    "Brightness", "Translate", "Stripe", "Fog", "Spatter", "DottedLine", "Zigzag", "CannyEdges",
]
