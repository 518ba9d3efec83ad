"""Preview images: a labelled grid with one row per class, as a Pillow image or a PNG file.

Images ``(N, H, W)`` are shown as they are; one-dimensional examples ``(N, L)`` (MNIST-1D's
sequences) are drawn as small line plots, one per cell.

Pillow is imported inside the functions, so ``import mnistfamily`` (and a warm ``load``)
never pays for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .drawing import default_font, draw_text, text_width
from .safe_write import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from .dataset import Dataset

__all__ = ["preview_grid", "save_preview", "line_plots", "CELL_GAP"]

#: pixels between cells, and around the grid
CELL_GAP = 2
#: grey level of the background, the gaps and cells with no example (cells themselves are black, as in MNIST)
BACKGROUND = 72
#: grey level of the class names
TEXT = 255
#: class names longer than this are shortened with an ellipsis
MAX_LABEL_CHARS = 16
_LABEL_PAD = 4  # pixels left and right of the class names
#: height in pixels (before ``scale``) of the line plot drawn for a one-dimensional example
PLOT_HEIGHT = 28
#: grey level of the zero line behind a line plot
ZERO_LINE = 64


def preview_grid(dataset: "Dataset", *, per_class: int = 8, scale: int = 2,
                 seed: int | None = 0) -> "Image.Image":
    """A greyscale grid of examples: one row per class, the class name at the left.

    Each row shows ``per_class`` examples of its class, upscaled ``scale`` times with
    nearest neighbour, white strokes on black as MNIST stores them. One-dimensional examples
    (``(N, L)``, MNIST-1D) are drawn as line plots ``PLOT_HEIGHT`` pixels high and ``L`` wide,
    all on one vertical scale, over a dim zero line. A class with fewer
    examples leaves the rest of its row blank (background grey). Rows follow
    ``dataset.classes``, so a dataset with 62 classes gives 62 rows; select classes first
    (``ds.filter(label=[...])``) for a shorter picture.

    Parameters
    ----------
    dataset
        A :class:`~mnistfamily.Dataset`: images ``(N, H, W)`` (``uint8``, or floats in 0-1), or
        one-dimensional examples ``(N, L)`` of any numeric type.
    per_class
        Examples per row (at least 1).
    scale
        Integer upscaling factor (at least 1).
    seed
        Seed of the random choice of examples within each class; ``None`` takes the first
        ones in dataset order. Either way a row shows its examples in dataset order.

    Returns
    -------
    PIL.Image.Image
        Mode ``"L"``; height ``CELL_GAP + C * (H * scale + CELL_GAP)`` for ``C`` classes and
        width ``label area + per_class * (W * scale + CELL_GAP)``.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> from mnistfamily.preview import preview_grid
    >>> ds = mf.load("mnist/sample", split="test")
    >>> image = preview_grid(ds, per_class=4, scale=1)
    >>> image.mode, image.height
    ('L', 302)
    """
    from PIL import Image, ImageDraw

    if int(per_class) < 1 or int(scale) < 1:
        raise ValueError(f"per_class and scale must be at least 1, found per_class={per_class}, scale={scale}")
    per_class, scale = int(per_class), int(scale)
    classes = [str(c) for c in dataset.classes]
    if not classes:
        raise ValueError(f"{dataset.name or 'the dataset'} has no classes to preview")
    images = np.asarray(dataset.images) if not isinstance(dataset.images, np.ndarray) else dataset.images
    if images.ndim not in (2, 3) or images.shape[-1] == 0:
        raise ValueError(f"{dataset.name or 'the dataset'}: a preview shows images (N, H, W) or one-dimensional "
                         f"examples (N, L); found an array of shape {images.shape}")

    chosen = _choose(np.asarray(dataset.labels), len(classes), per_class, seed)
    if images.ndim == 2:  # draw only the examples shown, not the whole dataset
        present = chosen >= 0
        images = line_plots(images[chosen[present]], PLOT_HEIGHT)
        chosen = np.where(present, np.cumsum(present).reshape(chosen.shape) - 1, -1)
    cells = _tile(images, chosen, scale)

    font = _font(cell_height=images.shape[1] * scale)
    names = [_shorten(c) for c in classes]
    label_width = max(text_width(font, n) for n in names) + 2 * _LABEL_PAD

    canvas = np.full((cells.shape[0], label_width + cells.shape[1]), BACKGROUND, dtype=np.uint8)
    canvas[:, label_width:] = cells
    picture = Image.fromarray(canvas)  # 2-D uint8: mode "L"

    draw = ImageDraw.Draw(picture)
    row_height = images.shape[1] * scale + CELL_GAP
    for row, name in enumerate(names):
        middle = CELL_GAP + row * row_height + (row_height - CELL_GAP) / 2
        draw_text(draw, (_LABEL_PAD, middle), name, font, fill=TEXT)
    return picture


def save_preview(dataset: "Dataset", path: str | os.PathLike[str], **kw: Any) -> Path:
    """Write :func:`preview_grid` to ``path`` (PNG, or the format its suffix names).

    The image is written in a marked temporary area in the same folder and renamed into
    place (:func:`mnistfamily.safe_write.atomic_write`), so ``path`` holds the old file or the
    complete new one, never half of it.
    Missing parent folders are created.

    Parameters
    ----------
    dataset
        The :class:`~mnistfamily.Dataset` to show.
    path
        Where to write the picture.
    **kw
        ``per_class``, ``scale`` and ``seed``, as for :func:`preview_grid`.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import mnistfamily as mf
    >>> from mnistfamily.preview import save_preview
    >>> ds = mf.load("mnist/sample", split="test")
    >>> out = save_preview(ds, pathlib.Path(tempfile.mkdtemp()) / "digits.png", per_class=6)
    >>> out.name
    'digits.png'
    """
    from PIL import Image

    picture = preview_grid(dataset, **kw)
    target = Path(path)
    image_format = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    target.parent.mkdir(parents=True, exist_ok=True)
    # a marked temporary area beside the target (safe_write): a killed save leaves no half picture,
    # and what a dead process left there is removed by the next save
    atomic_write(target, lambda out: picture.save(out, format=image_format))
    return target


def line_plots(sequences: np.ndarray, height: int = PLOT_HEIGHT) -> np.ndarray:
    """Each row of ``sequences`` ``(N, L)`` drawn as a line plot: ``(N, height, L)`` ``uint8``.

    Column ``i`` shows point ``i``; the line is white (255) on black, consecutive points
    joined by a vertical run so the line has no gaps, and a dim line (``ZERO_LINE``) marks 0
    when 0 is in range. Every plot shares one vertical scale (the smallest and largest value of
    ``sequences``), so amplitudes compare across cells. NaN and infinite values are drawn as 0.

    Examples
    --------
    >>> import numpy as np
    >>> from mnistfamily.preview import line_plots
    >>> plot = line_plots(np.array([[0.0, 1.0, 2.0]]), height=3)
    >>> (plot[0] == 255).astype(int).tolist()   # rising from the bottom row to the top row
    [[0, 1, 1], [1, 1, 0], [1, 0, 0]]
    """
    values = np.nan_to_num(np.asarray(sequences, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    n, length = values.shape
    plots = np.zeros((n, height, length), dtype=np.uint8)
    if n == 0 or length == 0:
        return plots
    low, high = float(values.min()), float(values.max())
    span = high - low if high > low else 1.0
    rows = np.rint((high - values) / span * (height - 1)).astype(np.int64)  # row 0 at the top
    if low <= 0.0 <= high:
        plots[:, int(round((high - 0.0) / span * (height - 1))), :] = ZERO_LINE
    # each column spans from its point to the next one's, so steep slopes stay connected
    following = np.concatenate([rows[:, 1:], rows[:, -1:]], axis=1)
    top, bottom = np.minimum(rows, following), np.maximum(rows, following)
    grid = np.arange(height)[None, :, None]
    plots[(grid >= top[:, None, :]) & (grid <= bottom[:, None, :])] = 255
    return plots


def _choose(labels: np.ndarray, num_classes: int, per_class: int, seed: int | None) -> np.ndarray:
    """Positions of the examples to show: ``(num_classes, per_class)``, ``-1`` where a class runs out."""
    n = len(labels)
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    keep = (labels[order] >= 0) & (labels[order] < num_classes)
    order = order[keep]
    # a stable sort by label keeps each class's examples in `order` (dataset or shuffled order)
    by_class = order[np.argsort(labels[order], kind="stable")]
    counts = np.bincount(labels[by_class], minlength=num_classes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    column = np.arange(per_class)
    present = column[None, :] < counts[:, None]
    positions = np.where(present, starts[:, None] + column[None, :], 0)
    chosen = np.where(present, by_class[positions] if len(by_class) else 0, -1)
    if seed is not None:  # show a random choice in dataset order, blanks last
        chosen = np.sort(np.where(present, chosen, n), axis=1)
        chosen[chosen == n] = -1
    return chosen


def _tile(images: np.ndarray, chosen: np.ndarray, scale: int) -> np.ndarray:
    """The grid of cells (background gaps and margins included), without the label area."""
    rows, columns = chosen.shape
    height, width = images.shape[1] * scale, images.shape[2] * scale
    present = chosen >= 0
    cells = np.zeros((rows, columns, images.shape[1], images.shape[2]), dtype=np.uint8)
    cells[present] = _as_uint8(images[chosen[present]])
    cells = cells.repeat(scale, axis=2).repeat(scale, axis=3)  # nearest-neighbour upscaling
    cells[~present] = BACKGROUND

    grid = np.full((rows, height + CELL_GAP, columns, width + CELL_GAP), BACKGROUND, dtype=np.uint8)
    grid[:, CELL_GAP:, :, :width] = cells.transpose(0, 2, 1, 3)  # (row, y, column, x)
    grid = grid.reshape(rows * (height + CELL_GAP), columns * (width + CELL_GAP))
    bottom = np.full((CELL_GAP, grid.shape[1]), BACKGROUND, dtype=np.uint8)
    return np.concatenate([grid, bottom])


def _as_uint8(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    values = images.astype(np.float64)
    if values.size and np.nanmax(values) <= 1.0:  # a transform's 0-1 floats
        values = values * 255.0
    return np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)


def _font(cell_height: int) -> Any:
    return default_font(max(8, min(24, round(cell_height * 0.45))))


def _shorten(name: str) -> str:
    return name if len(name) <= MAX_LABEL_CHARS else name[: MAX_LABEL_CHARS - 1] + "\u2026"
