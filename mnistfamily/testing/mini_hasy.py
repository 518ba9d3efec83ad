"""A miniature ``HASYv2.tar.bz2`` in the published layout, with the arrays a reader must return.

The archive has no top-level folder, as the published one: ``hasy-data/v2-NNNNN.png``
(32x32 PNGs, some stored grey and some RGB with equal channels, since the stored mode is
not published), ``hasy-data-labels.csv``, ``symbols.csv`` (CRLF, non-contiguous symbol ids),
``classification-task/fold-K/{train,test}.csv`` with ``../../`` paths, and the files a reader
does not read (``README.txt``, ``hasy_tools.py``, ``verification-task/*.csv``, folders).
Labels rows are not in PNG-number order and the numbers have a gap, so a reader can
assume neither; ``order`` puts the PNGs after the text files, before them, or around the
labels file, to exercise both of a reader's paths. ``expected`` is computed here, from the
generated content, never by a reader.

Examples
--------
>>> from mnistfamily.testing.mini_hasy import hasy_archive
>>> data, expected = hasy_archive(seed=1, count=20)
>>> data[:3], expected["images"].shape, expected["classes"][:2]
(b'BZh', (20, 32, 32), ['A', 'B'])
"""

from __future__ import annotations

import bz2
import io
import tarfile

import numpy as np

__all__ = ["SYMBOLS", "hasy_archive", "hasy_contents", "hasy_members", "symbols_csv", "tar_bytes"]

#: (symbol_id, latex, training_samples, test_samples) of the miniature's classes: real rows of
#: HASY's symbols.csv, ids not contiguous as there
SYMBOLS = [(31, "A", 137, 22), (32, "B", 53, 8), (82, "\\alpha", 2341, 260), (88, "\\sum", 3060, 340),
           (584, "\\with", 181, 21), (993, "\\mathcal{A}", 322, 37), (1400, "\\guillemotleft", 96, 11)]
_MTIME = 1_485_000_000
Member = tuple[tarfile.TarInfo, bytes | None]


def symbols_csv(rows: list[tuple[int, str, int, int]] = SYMBOLS) -> bytes:
    """``symbols.csv`` as published: header, one row per class, CRLF line ends."""
    lines = ["symbol_id,latex,training_samples,test_samples"] + [f"{i},{latex},{a},{b}" for i, latex, a, b in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


def hasy_members(*, seed: int = 0, count: int = 40, order: str = "texts-first",
                 modes: tuple[str, ...] = ("L", "RGB"), content: str = "noise",
                 symbols: list[tuple[int, str, int, int]] = SYMBOLS) -> tuple[list[Member], dict]:
    """The members of a miniature archive, in archive order, and the expected arrays.

    ``order``: ``"texts-first"`` (every CSV before the PNGs), ``"pngs-first"`` or
    ``"labels-in-the-middle"`` (half the PNGs, the CSVs, the other half). ``content``:
    ``"noise"`` (every pixel random: any misplaced byte shows) or ``"strokes"`` (dark lines on
    white, which compress as the published PNGs do, about 450 bytes each: for full-size
    benchmarks). ``symbols``: the rows of ``symbols.csv`` (the classes), :data:`SYMBOLS` by default.
    """
    from .mini_png_tar import folder, regular

    rng = np.random.default_rng(seed)
    # PNG numbers: 0..count with one gap, listed in the labels file out of numeric order
    numbers = np.delete(np.arange(count + 1), count // 3)
    rows = rng.permutation(count)  # labels row r describes numbers[rows[r]]
    png_of_row = numbers[rows]
    images = (rng.integers(0, 256, size=(count, 32, 32), dtype=np.uint8) if content == "noise"
              else _strokes(rng, count))
    labels = rng.integers(0, len(symbols), size=count).astype(np.int64)
    used = min(count, len(symbols))
    labels[:used] = np.arange(used)  # every class used at least once (when there are enough images)
    writers = rng.integers(0, 20000, size=count).astype(np.int64)

    def record(r: int, prefix: str = "") -> str:
        symbol_id, latex = symbols[labels[r]][:2]
        return f"{prefix}hasy-data/v2-{png_of_row[r]:05d}.png,{symbol_id},{latex},{writers[r]}"

    header = "path,symbol_id,latex,user_id"
    labels_csv = "\n".join([header, *(record(r) for r in range(count))]) + "\n"
    test_fold = rng.permutation(np.arange(count) % 10)  # each image in exactly one fold's test set
    folds: dict[str, np.ndarray] = {}
    texts: list[Member] = [folder("classification-task")]
    for k in range(1, 11):
        texts.append(folder(f"classification-task/fold-{k}"))
        for part, chosen in (("train", test_fold != k - 1), ("test", test_fold == k - 1)):
            positions = rng.permutation(np.flatnonzero(chosen)).astype(np.int64)
            folds[f"fold{k}-{part}"] = positions
            body = "\n".join([header, *(record(int(r), "../../") for r in positions)]) + "\n"
            texts.append(regular(f"classification-task/fold-{k}/{part}.csv", body.encode()))
    texts += [regular("hasy-data-labels.csv", labels_csv.encode()), regular("symbols.csv", symbols_csv(symbols)),
              regular("README.txt", b"HASYv2 miniature\n"), regular("hasy_tools.py", b"print('not run')\n"),
              folder("verification-task"),
              regular("verification-task/train.csv", f"{header}\nhasy-data/v2-00000.png,31,A,1\n".encode())]
    pngs: list[Member] = [folder("hasy-data")]
    by_number = np.argsort(png_of_row)  # the archive holds PNGs by number
    for i, r in enumerate(by_number):
        pngs.append(regular(f"hasy-data/v2-{png_of_row[r]:05d}.png", _png(images[r], modes[i % len(modes)])))
    if order == "texts-first":
        members = texts + pngs
    elif order == "pngs-first":
        members = pngs + texts
    elif order == "labels-in-the-middle":
        half = len(pngs) // 2
        members = pngs[:half] + texts + pngs[half:]
    else:
        raise ValueError(f"order must be texts-first, pngs-first or labels-in-the-middle, not {order!r}")
    expected = {
        "images": images, "labels": labels, "symbol_id": np.array([symbols[c][0] for c in labels], np.int64),
        "writer_id": writers, "index": np.arange(count, dtype=np.int64), "folds": folds,
        "classes": [row[1] for row in symbols], "class_symbol_ids": [row[0] for row in symbols],
    }
    return members, expected


def hasy_archive(*, seed: int = 0, count: int = 40, order: str = "texts-first", compress: bool = True,
                 extra: list[Member] | None = None, modes: tuple[str, ...] = ("L", "RGB"),
                 content: str = "noise", symbols: list[tuple[int, str, int, int]] = SYMBOLS) -> tuple[bytes, dict]:
    """The bytes of a miniature ``HASYv2.tar.bz2`` (``compress=False``: the plain tar) and what to expect.

    ``extra`` members (hostile ones) are appended after the published ones; ``modes`` and
    ``content`` are :func:`hasy_members`'.
    """
    members, expected = hasy_members(seed=seed, count=count, order=order, modes=modes, content=content,
                                     symbols=symbols)
    data = tar_bytes(members + list(extra or []))
    return (bz2.compress(data, 9) if compress else data), expected


def hasy_contents(spec, splits: dict, rng: np.random.Generator):
    """The miniature writer of the ``hasy-tar`` format (its row of ``registry/formats.py``).

    One archive holding the entry's classes (``symbols.csv`` lists the registry's names, with
    made-up symbol ids) and as many images as the scaled split ``all`` asks; each fold split
    gets the miniature's own fold sizes where the real entry gives a count (``unknown`` stays
    unknown). Expected per split: the fold's rows in its file's order, ``index`` their rows in
    ``hasy-data-labels.csv``, the metadata ``symbol_id`` and ``writer_id``.
    """
    from dataclasses import replace

    whole = [s for s in splits.values() if "fold" not in s.options]
    count = max([int(s.num_examples or 0) for s in whole] + [30])
    symbols = [(1000 + i, name, 1, 1) for i, name in enumerate(spec.classes)]
    archive = next(iter(splits.values())).inputs["archive"]
    data, expected = hasy_archive(seed=int(rng.integers(1 << 31)), count=count, symbols=symbols,
                                  order="labels-in-the-middle")
    out = {}
    for name, split in list(splits.items()):
        fold = split.options.get("fold")
        rows = expected["folds"][fold] if fold is not None else np.arange(count, dtype=np.int64)
        known = spec.splits[name].num_examples is not None
        splits[name] = replace(split, num_examples=len(rows) if known else None)
        out[name] = {"images": expected["images"][rows], "labels": expected["labels"][rows], "index": rows,
                     "metadata": {"symbol_id": expected["symbol_id"][rows], "writer_id": expected["writer_id"][rows]}}
    return {archive: (data, None)}, out


def tar_bytes(members: list[Member]) -> bytes:
    """A plain tar of ``members`` in order (GNU format, as GNU tar writes it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            if info.mtime == 0:
                info.mtime = _MTIME
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _strokes(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` white 32x32 images with three dark line segments each, drawn point by point."""
    images = np.full((count, 32, 32), 255, dtype=np.uint8)
    ends = rng.integers(2, 30, size=(count, 3, 2, 2))  # image, stroke, end, (row, col)
    t = np.linspace(0.0, 1.0, 40)[:, None]
    for i in range(count):
        for a, b in ends[i]:
            points = np.rint(a + (b - a) * t).astype(np.int64)
            images[i, points[:, 0], points[:, 1]] = 0
    return images


def _png(image: np.ndarray, mode: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()
