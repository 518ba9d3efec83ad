"""Preview images: a labelled grid with one row per class, as a Pillow image or a PNG file.

Every kind of example has its picture (:mod:`.cells`): grey images as they are, colour
images in colour, volumes as three orthogonal middle slices (or a maximum projection),
signals as line plots or waveforms.

Pillow is imported inside the functions, so ``import mnistfamily`` (and a warm ``load``)
never pays for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .cells import PLOT_HEIGHT, ZERO_LINE, line_plots, pictures
from .drawing import default_font, draw_text, text_width
from .safe_write import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from .dataset import Dataset

__all__ = ["preview_grid", "save_preview", "line_plots", "CELL_GAP", "PLOT_HEIGHT", "ZERO_LINE"]

#: pixels between cells, and around the grid
CELL_GAP = 2
#: grey level of the background, the gaps and cells with no example (cells themselves are black, as in MNIST)
BACKGROUND = 72
#: grey level of the class names
TEXT = 255
#: class names longer than this are shortened with an ellipsis
MAX_LABEL_CHARS = 16
_LABEL_PAD = 4  # pixels left and right of the class names


def preview_grid(dataset: "Dataset", *, per_class: int = 8, scale: int = 2,
                 seed: int | None = 0, volume: str = "slices") -> "Image.Image":
    """A grid of examples: one row per class, the class name at the left.

    Each row shows ``per_class`` examples of its class, upscaled ``scale`` times with
    nearest neighbour, white strokes on black as MNIST stores them. Colour images are shown in
    colour (the picture is then RGB); volumes as their three orthogonal middle slices side by
    side (``volume="max"``: their maximum projection along the depth); signals as plots
    (``PLOT_HEIGHT`` pixels high: a short fixed-length one as a line, one column per point, over
    a dim zero line; recordings as waveforms on one time and amplitude scale). A class with fewer
    examples leaves the rest of its row blank (background grey). Rows follow
    ``dataset.classes``, so a dataset with 62 classes gives 62 rows; select classes first
    (``ds.filter(label=[...])``) for a shorter picture.

    Parameters
    ----------
    dataset
        A :class:`~mnistfamily.Dataset` of any kind of example; images ``uint8``, or floats
        (in 0-1, or stretched from their smallest to their largest value).
    per_class
        Examples per row (at least 1).
    scale
        Integer upscaling factor (at least 1).
    seed
        Seed of the random choice of examples within each class; ``None`` takes the first
        ones in dataset order. Either way a row shows its examples in dataset order.
    volume
        ``"slices"`` or ``"max"``: how a volume is shown.

    Returns
    -------
    PIL.Image.Image
        Mode ``"L"`` (``"RGB"`` for colour images); height ``CELL_GAP + C * (h * scale + CELL_GAP)``
        for ``C`` classes and cells ``h`` pixels high, width
        ``label area + per_class * (w * scale + CELL_GAP)``.

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
    shape = tuple(getattr(dataset.examples, "shape", (len(dataset),)))
    if 0 in shape[1:]:
        raise ValueError(f"{dataset.name or 'the dataset'}: examples of shape {shape[1:]} have nothing to show")

    chosen = _choose(np.asarray(dataset.labels), len(classes), per_class, seed)
    present = chosen >= 0
    if present.any():
        cells = pictures(dataset, chosen[present], volume=volume)  # draw only the examples shown
        chosen = np.where(present, np.cumsum(present).reshape(chosen.shape) - 1, -1)
    else:  # no example of any class: blank cells of the examples' own size
        cells = pictures(dataset, np.zeros(min(1, len(dataset)), np.int64), volume=volume)
    grid = _tile(cells, chosen, scale)

    font = _font(cell_height=cells.shape[1] * scale)
    names = [_shorten(c) for c in classes]
    label_width = max(text_width(font, n) for n in names) + 2 * _LABEL_PAD

    canvas = np.full((grid.shape[0], label_width + grid.shape[1], *grid.shape[2:]), BACKGROUND, dtype=np.uint8)
    canvas[:, label_width:] = grid
    picture = Image.fromarray(canvas)  # 2-D uint8: mode "L"; (h, w, 3): "RGB"

    draw = ImageDraw.Draw(picture)
    row_height = cells.shape[1] * scale + CELL_GAP
    fill: Any = TEXT if picture.mode == "L" else (TEXT,) * 3
    for row, name in enumerate(names):
        middle = CELL_GAP + row * row_height + (row_height - CELL_GAP) / 2
        draw_text(draw, (_LABEL_PAD, middle), name, font, fill=fill)
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
        ``per_class``, ``scale``, ``seed`` and ``volume``, as for :func:`preview_grid`.

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


def _tile(cells: np.ndarray, chosen: np.ndarray, scale: int) -> np.ndarray:
    """The grid of cells (background gaps and margins included), without the label area.

    ``cells`` are ``(n, h, w)`` grey or ``(n, h, w, 3)`` colour pictures; ``chosen`` gives each
    place of the grid its cell (``-1``: blank).
    """
    rows, columns = chosen.shape
    colour = cells.shape[3:]  # () or (3,)
    height, width = cells.shape[1] * scale, cells.shape[2] * scale
    present = chosen >= 0
    placed = np.zeros((rows, columns, cells.shape[1], cells.shape[2], *colour), dtype=np.uint8)
    placed[present] = cells[chosen[present]]
    placed = placed.repeat(scale, axis=2).repeat(scale, axis=3)  # nearest-neighbour upscaling
    placed[~present] = BACKGROUND

    grid = np.full((rows, height + CELL_GAP, columns, width + CELL_GAP, *colour), BACKGROUND, dtype=np.uint8)
    grid[:, CELL_GAP:, :, :width] = np.moveaxis(placed, 1, 2)  # (row, y, column, x[, colour])
    grid = grid.reshape(rows * (height + CELL_GAP), columns * (width + CELL_GAP), *colour)
    bottom = np.full((CELL_GAP, grid.shape[1], *colour), BACKGROUND, dtype=np.uint8)
    return np.concatenate([grid, bottom])


def _font(cell_height: int) -> Any:
    return default_font(max(8, min(24, round(cell_height * 0.45))))


def _shorten(name: str) -> str:
    return name if len(name) <= MAX_LABEL_CHARS else name[: MAX_LABEL_CHARS - 1] + "\u2026"
