"""What every MNIST-C corruption shares: to ``[0, 1]`` floats, the corruption, back to the input's kind.

The corruptions themselves live in :mod:`.corruptions` (noises, brightness, stripe, spatter,
and ``mnist_c``), :mod:`.warps`, :mod:`.blurs`, :mod:`.fog`, :mod:`.strokes` and :mod:`.canny`;
each derives from :class:`_Corruption`, or from :class:`_Parametric` when its randomness is a
few numbers per example.
"""

from __future__ import annotations

import abc
from typing import ClassVar, cast

import numpy as np

from .base import Transform, TransformError, as_batch, restore_dtype

class _Corruption(Transform):
    """Shared plumbing: to ``[0, 1]`` floats, the corruption, back to the input's kind.

    A subclass implements ``_corrupt(x, index)``; one whose randomness is a few numbers per
    example (or none) derives from :class:`_Parametric` instead.
    """

    pixels_per_block = 1 << 18
    #: float type of the computation: float64 where the reference's arithmetic is followed to the bit
    #: (uint8 input is then ``x / 255.`` exactly as MNIST-C computes it)
    compute_dtype: ClassVar[type] = np.float32

    def _apply(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        return self._run(images, index, None)

    def parameters(self, index: np.ndarray | range | list[int], shape: tuple[int, int] = (28, 28)
                   ) -> dict[str, np.ndarray]:
        """The random parameters drawn for these examples, one array each (``{}`` if none).

        ``shape`` is the images' ``(H, W)``, for parameters that depend on it (rows of a line).
        Corruptions that draw per-pixel noise (shot and impulse noise, glass blur, fog,
        spatter) have none: their randomness is not a handful of numbers.

        Examples
        --------
        >>> from mnistfamily import transforms as T
        >>> drawn = T.Translate(seed=0).parameters([0, 1, 2])   # the signs of the shift, per example
        >>> sorted(drawn), drawn["dx"].tolist()
        (['dx', 'dy'], [-1.0, 1.0, 1.0])
        """
        return {}

    def with_parameters(self, images: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        """The corruption with these per-example parameters instead of drawn ones.

        Takes the names :meth:`parameters` gives, one value per image: for instance the
        angles another implementation drew, to compare the two image by image.

        Examples
        --------
        >>> import numpy as np
        >>> from mnistfamily import transforms as T
        >>> dot = np.zeros((2, 28, 28), np.uint8); dot[:, 14, 20] = 255
        >>> trail = T.MotionBlur(seed=0).with_parameters(dot, degrees=[0.0, 90.0])
        >>> int((trail[0, 14] > 0).sum()) > 5, int((trail[1, :, 20] > 0).sum()) > 5   # along x, along y
        (True, True)
        """
        name = type(self).__name__
        images = as_batch(images, name)
        if not isinstance(self, _Parametric):
            raise TransformError(f"{name} draws noise for every pixel, not a few parameters per image: "
                                 "with_parameters does not apply; call it with a seed and index instead")
        expected = sorted(self.parameters(np.zeros(0, np.int64), images.shape[1:3]))
        if sorted(parameters) != expected:
            raise TransformError(f"{name}.with_parameters takes {', '.join(expected) or 'no parameters'}, "
                                 f"found {', '.join(sorted(parameters)) or 'none'}")
        values = {}
        for key, value in parameters.items():
            array = np.asarray(value, dtype=np.float64)
            if array.shape != (len(images),):
                raise TransformError(f"{name}.with_parameters: {key} needs one value per image, shape "
                                     f"({len(images)},), found shape {array.shape}")
            values[key] = array
        if not len(images):
            return self(images)  # the output's shape and dtype, learnt as for any empty batch
        return self._run(images, np.arange(len(images), dtype=np.int64), values)

    def _run(self, images: np.ndarray, index: np.ndarray, parameters: dict[str, np.ndarray] | None) -> np.ndarray:
        dtype = self.compute_dtype
        x: np.ndarray = images.astype(dtype)
        if images.dtype == np.uint8:
            if dtype == np.float64:
                x /= 255.0
            else:
                x *= np.float32(1.0 / 255.0)
        if x.ndim == 4:  # each channel as an image of its own, same randomness per example
            n, h, w, c = x.shape
            planes = np.moveaxis(x, 3, 1).reshape(n * c, h, w)
            index = np.repeat(index, c)
            if parameters is not None:
                parameters = {k: np.repeat(v, c) for k, v in parameters.items()}
            y = self._corrupt_planes(planes, index, parameters)
            y = np.moveaxis(y.reshape(n, c, h, w), 1, 3)
        else:
            y = self._corrupt_planes(x, index, parameters)
        y = np.clip(y, 0.0, 1.0)
        if images.dtype == np.uint8:
            y *= 255.0
            return restore_dtype(np.ascontiguousarray(y), images.dtype)
        return np.ascontiguousarray(y, dtype=np.float32)

    def _corrupt_planes(self, x: np.ndarray, index: np.ndarray,
                        parameters: dict[str, np.ndarray] | None) -> np.ndarray:
        """Drawn randomness (``parameters`` None) or given parameters, which only ``with_parameters`` passes."""
        if parameters is None:
            return self._corrupt(x, index)
        return cast("_Parametric", self)._corrupt_with(x, **parameters)  # with_parameters admits _Parametric only

    @abc.abstractmethod
    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The corruption on float images in ``[0, 1]``, one plane per example."""


class _Parametric(_Corruption):
    """A corruption whose randomness is :meth:`parameters` (a few numbers per example, or none)."""

    def _corrupt(self, x: np.ndarray, index: np.ndarray) -> np.ndarray:
        return self._corrupt_with(x, **self.parameters(index, x.shape[1:3]))

    @abc.abstractmethod
    def _corrupt_with(self, x: np.ndarray, **parameters: np.ndarray) -> np.ndarray:
        """The corruption with one value of each parameter per plane of ``x``."""


# ----------------------------------------------------------------------------------------------
# noise
