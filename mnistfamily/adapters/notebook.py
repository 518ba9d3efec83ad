"""Notebooks: ``print(ds)``, ``ds.show()`` and the HTML a Jupyter cell shows for a Dataset or DatasetInfo.

``show`` returns a Pillow image (Jupyter displays it) drawn by ``preview.preview_grid``: one
row per class, the class name at the left; colour images in colour, volumes as their three
orthogonal middle slices, signals as line plots or waveforms.
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

from ..examples import Signals
from . import AdapterError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..dataset import Dataset, DatasetInfo

#: classes and examples per class in the HTML grid, and its colours: a few KB of PNG, shown at 2x
HTML_CLASSES = 10
HTML_PER_CLASS = 4
HTML_GREY_LEVELS = 16
HTML_COLOURS = 64


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
    examples = dataset.examples
    if isinstance(examples, Signals):
        lengths = examples.lengths
        held = (f"{examples.dtype}, {int(lengths.min()) if len(lengths) else 0:,} to "
                f"{int(lengths.max()) if len(lengths) else 0:,} samples ({_memory(examples.samples)})")
    else:
        held = f"{examples.dtype} {tuple(examples.shape)} ({_memory(examples)})"
    kind = {"image": "images", "volume": "volumes", "signal": "signals"}[dataset.example]
    rows = [("examples", f"{len(dataset):,}"), (kind, held)]
    if dataset.sample_rate:
        rows.append(("sample rate", f"{dataset.sample_rate:,} Hz"))
    rows += [("labels", f"{dataset.labels.dtype} {tuple(dataset.labels.shape)}"),
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
    from ..preview import _choose

    wanted = _class_numbers(dataset, classes)
    remap = np.full(len(dataset.classes), -1, dtype=np.int64)
    remap[wanted] = np.arange(len(wanted))
    labels = remap[np.asarray(dataset.labels)]
    chosen = _choose(labels, len(wanted), n, seed)
    rows = np.sort(chosen[chosen >= 0])
    picked = dataset.select(rows)
    picked.labels = labels[rows]
    picked.classes = [dataset.classes[w] for w in wanted]
    return picked


def show(dataset: "Dataset", n: int = 8, classes: Sequence[Any] | None = None, *, scale: int = 2,
         seed: int | None = 0) -> "Image.Image":
    """A grid of ``n`` examples per class; see :meth:`mnistfamily.Dataset.show`."""
    from ..preview import preview_grid

    where = f"{dataset.name or 'Dataset'}.show"
    if getattr(dataset.labels, "ndim", 1) != 1:
        raise AdapterError(f"{where}: multi-label datasets have no one class per example to lay out by row; "
                           "show a class with ds.select(ds.labels[:, k] == 1).images")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise AdapterError(f"{where}: n (examples per class) must be a positive int, found {n!r}")
    return preview_grid(_shown_rows(dataset, int(n), classes, seed), per_class=int(n), scale=scale, seed=seed)


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
    from ..examples import describe as describe_example

    rows = [("title", info.title),
            ("example", describe_example(info.example, info.image_shape, info.image_dtype, info.sample_rate)),
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
