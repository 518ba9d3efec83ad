"""Notebooks: ``print(ds)``, ``ds.show()`` and the HTML a Jupyter cell shows for a Dataset or DatasetInfo.

``show`` returns a Pillow image (Jupyter displays it) drawn by ``preview.preview_grid``: one
row per class, the class name at the left. Colour images are drawn over a grey layout of the
same grid; volumes show their middle slice; signals are plotted, one small line plot per cell.
``_repr_html_`` is a summary table and a grid of the first classes, a few KB of inline PNG.
Every name shown (dataset, classes, columns, license) is HTML-escaped: registry files and
exports are written by other people.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from . import AdapterError
from ._layout import kind_of

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..dataset import Dataset, DatasetInfo

#: classes and examples per class in the HTML grid, and its colours: a few KB of PNG, shown at 2x
HTML_CLASSES = 10
HTML_PER_CLASS = 4
HTML_GREY_LEVELS = 16
HTML_COLOURS = 64
#: size of one plotted signal, in pixels
SIGNAL_CELL = (24, 48)


# -- text ------------------------------------------------------------------------------------------

def _memory(array: Any) -> str:
    kind = "memory-mapped" if isinstance(array, np.memmap) or isinstance(getattr(array, "base", None), np.memmap) \
        else "in memory"
    return f"{array.nbytes / 1e6:,.1f} MB, {kind}"


def _shown_classes(classes: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(str(c) for c in classes[:limit])
    return shown + (", ..." if len(classes) > limit else "")


def summary_rows(dataset: "Dataset") -> list[tuple[str, str]]:
    """(field, value) pairs describing a Dataset: what ``print`` and the HTML table show."""
    rows = [("examples", f"{len(dataset):,}"),
            ("images", f"{dataset.images.dtype} {tuple(dataset.images.shape)} ({_memory(dataset.images)})"),
            ("labels", f"{dataset.labels.dtype} {tuple(dataset.labels.shape)}"),
            ("classes", f"{len(dataset.classes)}: {_shown_classes(dataset.classes)}")]
    if len(dataset.index):
        rows.append(("index", f"{int(np.min(dataset.index)):,} .. {int(np.max(dataset.index)):,} "
                              "(positions in the published split)"))
    if dataset.metadata:
        rows.append(("metadata", ", ".join(dataset.metadata)))
    if dataset.extras:
        rows.append(("extras", ", ".join(dataset.extras)))
    info = dataset.info
    if info is not None:
        if info.license:
            rows.append(("license", info.license))
        if info.homepage:
            rows.append(("homepage", info.homepage))
    return rows


def describe(dataset: "Dataset") -> str:
    """The multi-line text of ``print(ds)``."""
    title = f"{dataset.name or 'Dataset'} [{dataset.split}]" if dataset.split else (dataset.name or "Dataset")
    if dataset.info is not None and dataset.info.title:
        title += f": {dataset.info.title}"
    return "\n".join([title, *(f"  {field:<12} {value}" for field, value in summary_rows(dataset))])


# -- pictures --------------------------------------------------------------------------------------

def _signal_cells(signals: np.ndarray) -> np.ndarray:
    """Each 1-D signal drawn as a small grey line plot, white on black: ``uint8 (N, h, w)``."""
    from PIL import Image, ImageDraw

    height, width = SIGNAL_CELL
    values = np.asarray(signals, dtype=np.float64)
    low, high = np.nanmin(values) if values.size else 0.0, np.nanmax(values) if values.size else 1.0
    span = (high - low) or 1.0
    xs = np.linspace(1, width - 2, values.shape[1]) if values.ndim == 2 and values.shape[1] else np.zeros(0)
    out = np.zeros((len(values), height, width), dtype=np.uint8)
    for i, row in enumerate(values):
        ys = (height - 2) - (np.nan_to_num(row, nan=low) - low) / span * (height - 3)
        canvas = Image.new("L", (width, height), 0)
        ImageDraw.Draw(canvas).line(list(zip(xs.tolist(), ys.tolist())), fill=255, width=1)
        out[i] = np.asarray(canvas)
    return out


def _grey_proxy(dataset: "Dataset", kind: str) -> "Dataset":
    """A Dataset of ``(N, H, W)`` grey pictures standing for each example, for ``preview_grid``."""
    from ..dataset import Dataset

    images = np.asarray(dataset.images)
    if kind == "gray":
        return dataset
    if kind == "volume":
        pictures = images[:, images.shape[1] // 2]
    elif kind == "color":
        if images.shape[-1] >= 3:
            weights = np.array([0.299, 0.587, 0.114], np.float32)
            pictures = np.rint(images[..., :3].astype(np.float32) @ weights).clip(0, 255).astype(np.uint8)
        else:
            pictures = images[..., 0]
    else:
        pictures = _signal_cells(images)
    return Dataset(pictures, dataset.labels, classes=dataset.classes, index=dataset.index, name=dataset.name,
                   split=dataset.split)


def _class_numbers(dataset: "Dataset", classes: Sequence[Any] | None) -> list[int]:
    """The classes to show, as label numbers: all, or the given names or numbers."""
    if classes is None:
        return list(range(len(dataset.classes)))
    wanted = []
    for c in classes:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < len(dataset.classes):
            wanted.append(int(c))
        elif str(c) in dataset.classes:
            wanted.append(dataset.classes.index(str(c)))
        else:
            raise AdapterError(f"{dataset.name or 'Dataset'}.show: no class {c!r}; classes are "
                               f"{_shown_classes(dataset.classes, 20)}")
    return wanted


def _shown_rows(dataset: "Dataset", n: int, classes: Sequence[Any] | None, seed: int | None) -> "Dataset":
    """Only the examples the picture shows (at most ``n`` per class), relabelled to the shown classes.

    Choosing before copying keeps a picture of EMNIST's 814,255 rows as cheap as one of 2,000.
    """
    from ..dataset import Dataset
    from ..preview import _choose

    wanted = _class_numbers(dataset, classes)
    remap = np.full(len(dataset.classes), -1, dtype=np.int64)
    remap[wanted] = np.arange(len(wanted))
    labels = remap[np.asarray(dataset.labels)]
    chosen = _choose(labels, len(wanted), n, seed)
    rows = np.sort(chosen[chosen >= 0])
    return Dataset(np.asarray(dataset.images[rows]), labels[rows], classes=[dataset.classes[w] for w in wanted],
                   index=np.asarray(dataset.index)[rows], name=dataset.name, split=dataset.split)


def show(dataset: "Dataset", n: int = 8, classes: Sequence[Any] | None = None, *, scale: int = 2,
         seed: int | None = 0) -> "Image.Image":
    """A grid of ``n`` examples per class; see :meth:`mnistfamily.Dataset.show`."""
    from ..preview import CELL_GAP, _choose, preview_grid

    where = f"{dataset.name or 'Dataset'}.show"
    if getattr(dataset.labels, "ndim", 1) != 1:
        raise AdapterError(f"{where}: multi-label datasets have no one class per example to lay out by row; "
                           "show a class with ds.select(ds.labels[:, k] == 1).images")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise AdapterError(f"{where}: n (examples per class) must be a positive int, found {n!r}")
    kind = kind_of(dataset.images, where)
    shown = _shown_rows(dataset, int(n), classes, seed)
    picture = preview_grid(_grey_proxy(shown, kind), per_class=int(n), scale=scale, seed=seed)
    images = np.asarray(shown.images)
    if kind != "color" or images.shape[-1] == 1:
        return picture
    # colour: paste the examples over the grey grid, cell by cell (the same choice, the same places)
    height, width = images.shape[1] * scale, images.shape[2] * scale
    chosen = _choose(np.asarray(shown.labels), len(shown.classes), int(n), seed)
    left = picture.width - chosen.shape[1] * (width + CELL_GAP)
    canvas = np.asarray(picture.convert("RGB")).copy()
    for row, column in zip(*np.nonzero(chosen >= 0)):
        cell = images[chosen[row, column], ..., :3].repeat(scale, axis=0).repeat(scale, axis=1)
        top, x = CELL_GAP + row * (height + CELL_GAP), left + column * (width + CELL_GAP)
        canvas[top:top + height, x:x + width] = cell
    from PIL import Image as PILImage

    return PILImage.fromarray(canvas, mode="RGB")


def _png_data_uri(picture: "Image.Image") -> str:
    """A small inline PNG: grey levels (colours) reduced to a 4-bit (6-bit) palette, ~0.6 KB per class row."""
    small = picture.quantize(HTML_GREY_LEVELS if picture.mode == "L" else HTML_COLOURS)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(title: str, rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                    f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='mnistfamily-summary'><caption style='text-align:left'><b>{html.escape(title)}</b>" \
           f"</caption>{cells}</table>"


def dataset_html(dataset: "Dataset") -> str:
    """A summary table and a grid of the first classes (a few KB), for Jupyter."""
    title = f"{dataset.name or 'Dataset'} [{dataset.split}]" if dataset.split else (dataset.name or "Dataset")
    parts = [f"<div class='mnistfamily-dataset'>{_table(title, summary_rows(dataset))}"]
    shown = list(range(min(HTML_CLASSES, len(dataset.classes))))
    try:
        picture = show(dataset, n=HTML_PER_CLASS, classes=shown, scale=1) if len(dataset) else None
    except (AdapterError, ValueError) as exc:  # a kind with no picture: the table still says everything
        parts.append(f"<p>({html.escape(str(exc))})</p>")
        picture = None
    if picture is not None:
        more = f" (first {len(shown)} of {len(dataset.classes)} classes)" if len(shown) < len(dataset.classes) else ""
        parts.append(f"<p style='margin:0.3em 0'>{HTML_PER_CLASS} examples per class{html.escape(more)}:</p>"
                     f"<img class='mnistfamily-grid' src='{_png_data_uri(picture)}' width='{picture.width * 2}' "
                     f"height='{picture.height * 2}' style='image-rendering:pixelated;max-width:none' "
                     f"alt='{html.escape(title, quote=True)}: examples per class'/>")
    parts.append("</div>")
    return "".join(parts)


def info_html(info: "DatasetInfo") -> str:
    """The HTML of a DatasetInfo: what ``print(info)`` says, as a table; the citation folded."""
    splits = ", ".join(f"{k} ({v:,})" if v is not None else f"{k} (count unknown)" for k, v in info.splits.items())
    rows = [("title", info.title), ("image shape", f"{tuple(info.image_shape)} {info.image_dtype}"),
            ("classes", f"{len(info.classes)}: {_shown_classes(info.classes)}"), ("splits", splits)]
    if info.metadata_columns:
        rows.append(("metadata", ", ".join(info.metadata_columns)))
    rows += [("license", info.license), ("homepage", info.homepage)]
    parts = [f"<div class='mnistfamily-info'>{_table(info.name, [(k, v) for k, v in rows if v])}"]
    if info.description:
        parts.append(f"<p>{html.escape(info.description.strip())}</p>")
    if info.citation:
        parts.append(f"<details><summary>citation</summary><pre>{html.escape(info.citation.strip())}</pre></details>")
    parts.append("</div>")
    return "".join(parts)
