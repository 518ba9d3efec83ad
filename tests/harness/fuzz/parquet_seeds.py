"""The Parquet fuzz targets: a small valid export, hostile shards and dataset cards, and the two runners.

Every hostile case here was met on a real lake or made by hand to attack ``read_parquet``:
names that climb out of the export folder, dtypes and shapes that ask for terabytes, PNG
bombs and other image formats, footers that lie about their row count, cards that list a
shard twice or ``/etc/passwd``. ``hostile_shards()`` and ``hostile_cards()`` return them as
``(name, bytes)`` pairs; each must be refused with a library error naming the file.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["BASE_NAME", "BASE_SPLIT", "BASE_FOLDER", "CARD_KEY", "KINDS", "base_export", "write_base_export",
           "hostile_cards", "hostile_shards", "kind_dataset", "kind_shard", "lying_row_count", "png_shard",
           "rewrite_shard", "run_export_card", "run_parquet", "card_seeds", "shard_seeds"]

BASE_NAME, BASE_SPLIT = "fuzz/base", "train"
BASE_SHAPE = (6, 5)
#: the dataset folder of the base export, and where its card is, relative to the destination
BASE_FOLDER = "fuzz--base"
CARD_KEY = f"_mnistfamily/{BASE_FOLDER}.card.json"


def _base_dataset():
    from mnistfamily.dataset import Dataset

    rng = np.random.default_rng(0)
    return Dataset(rng.integers(0, 256, (24, *BASE_SHAPE), dtype=np.uint8), np.arange(24) % 3,
                   classes=["a", "b", "c"], index=np.arange(100, 124, dtype=np.int64),
                   metadata={"site": np.arange(24, dtype=np.int32)}, name=BASE_NAME, split=BASE_SPLIT)


@functools.lru_cache(maxsize=None)
def base_export(encoding: str = "raw") -> dict[str, bytes]:
    """The files of a complete export of a 24-row dataset in 3 shards: ``{path relative to DEST: bytes}``.

    The dataset folder's files are ``fuzz--base/...``; its card is :data:`CARD_KEY`.
    """
    from mnistfamily.outputs import export

    with tempfile.TemporaryDirectory(prefix="mnistfamily-fuzz-") as folder:
        export(_base_dataset(), folder, rows_per_shard=10, image_encoding=encoding)
        root = Path(folder)
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and (p.name == "_SUCCESS" or p.suffix in (".parquet", ".json"))
                and not p.name.startswith(".") and p.relative_to(root).parts[0] in (BASE_FOLDER, "_mnistfamily")}


#: one small dataset of every kind of example an export holds besides grey images, and its encodings
KINDS: dict[str, tuple[str, ...]] = {"rgb": ("raw", "png", "tensor"), "float-image": ("raw", "tensor"),
                                     "volume": ("raw", "tensor"), "fixed-signal": ("raw", "tensor"),
                                     "signal": ("raw",)}


def kind_dataset(kind: str):
    """A 12-row Dataset of ``kind`` (see :data:`KINDS`), with a metadata column."""
    from mnistfamily.dataset import Dataset
    from mnistfamily.examples import Signals

    rng = np.random.default_rng(3)
    n = 12
    examples: Any
    example, rate = "image", None
    if kind == "rgb":
        examples = rng.integers(0, 256, (n, 6, 5, 3), dtype=np.uint8)
    elif kind == "float-image":
        examples = rng.random((n, 4, 7, 2), dtype=np.float32)
    elif kind == "volume":
        examples, example = rng.integers(0, 256, (n, 4, 5, 6), dtype=np.uint8), "volume"
    elif kind == "fixed-signal":
        examples, example = rng.standard_normal((n, 40)), "signal"
    else:
        lengths = rng.integers(0, 50, n)
        examples = Signals.from_arrays([rng.integers(-2**15, 2**15, k).astype(np.int16) for k in lengths])
        example, rate = "signal", 48_000
    return Dataset(examples, np.arange(n) % 3, classes=["a", "b", "c"], index=np.arange(50, 50 + n),
                   metadata={"speaker": rng.integers(0, 60, n).astype(np.int16)}, name=f"fuzz/{kind}",
                   split="test", example=example, sample_rate=rate)


@functools.lru_cache(maxsize=None)
def kind_shard(kind: str, encoding: str = "raw") -> bytes:
    """The single shard of an export of :func:`kind_dataset`."""
    from mnistfamily.outputs import export

    with tempfile.TemporaryDirectory(prefix="mnistfamily-fuzz-") as folder:
        export(kind_dataset(kind), folder, image_encoding=encoding)
        return next(Path(folder).rglob("*.parquet")).read_bytes()


def base_shard(encoding: str = "raw", number: int = 0) -> bytes:
    return base_export(encoding)[f"{BASE_FOLDER}/split={BASE_SPLIT}/part-{number:05d}-of-00003.parquet"]


def base_card(encoding: str = "raw") -> dict[str, Any]:
    return json.loads(base_export(encoding)[CARD_KEY])


def write_base_export(root: Path, card: bytes | None = None, encoding: str = "raw") -> Path:
    """The base export under ``root`` (with ``card`` as its card if given); returns its dataset folder."""
    for relative, content in base_export(encoding).items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(card if card is not None and relative == CARD_KEY else content)
    return root / BASE_FOLDER


def _format(described: dict[str, Any], encoding: str | None = None):
    from mnistfamily.outputs.schema import ShardFormat

    return ShardFormat(image_shape=tuple(described["image_shape"]), classes=tuple(described["classes"]),
                       metadata_columns=tuple((n, d) for n, d in described["metadata_columns"]),
                       image_encoding=encoding or described["image_encoding"], compression="zstd",
                       compression_level=1, row_group_rows=1024, schema_metadata=json.dumps(described),
                       example=described.get("example", "image"), image_dtype=described.get("image_dtype", "uint8"))


def rewrite_shard(data: bytes, *, metadata: Callable[[dict], Any] | bytes | None = None,
                  table: Callable[[Any], Any] | None = None, dictionary: bool = False) -> bytes:
    """The shard ``data`` written again with its schema metadata (a function of the parsed JSON,
    or raw bytes) and/or its table replaced; the other writer options are an export's (but every
    column dictionary-encoded with ``dictionary``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    original = pq.read_table(pa.BufferReader(data))
    described = json.loads(original.schema.metadata[b"mnistfamily"])
    new = original if table is None else table(original)
    if metadata is not None:
        raw = metadata if isinstance(metadata, bytes) else json.dumps(metadata(dict(described))).encode()
        new = new.replace_schema_metadata({**(new.schema.metadata or {}), b"mnistfamily": raw})
    options = _format(described).writer_options()
    options["use_dictionary"] = [c for c in options["use_dictionary"] if c in new.schema.names]
    options["write_statistics"] = [c for c in options["write_statistics"] if c in new.schema.names]
    if dictionary:
        options["use_dictionary"] = True
    sink = io.BytesIO()
    pq.write_table(new, sink, **options)
    return sink.getvalue()


def png_shard(blobs: list[bytes], shape: tuple[int, int] = BASE_SHAPE, **changes: Any) -> bytes:
    """A PNG-encoded shard of ``blobs`` (whatever they are) whose metadata declares ``shape``."""
    import pyarrow.parquet as pq

    described = json.loads(_schema_metadata(base_shard("png")))
    described.update(image_shape=list(shape), num_examples=len(blobs), **changes)
    fmt = _format(described, "png")
    schema = fmt.arrow_schema()
    n = len(blobs)
    table = fmt.table(schema, np.arange(n, dtype=np.int64), list(blobs), np.zeros(n, np.int64),
                      {"site": np.zeros(n, np.int32)})
    sink = io.BytesIO()
    pq.write_table(table, sink, **fmt.writer_options())
    return sink.getvalue()


def _schema_metadata(data: bytes) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_schema(pa.BufferReader(data)).metadata[b"mnistfamily"]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def lying_row_count(data: bytes, rows: int) -> bytes:
    """``data`` with every ``num_rows`` of its Thrift footer (file and row groups) changed to ``rows``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    length = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - length:-8]
    old = pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows

    def field(value: int) -> bytes:  # compact protocol: field id +1 after the previous one, type i64 (6)
        return b"\x16" + _varint(value << 1)  # zigzag of a positive number

    new_footer = footer.replace(field(old), field(rows))
    out = data[:-8 - length] + new_footer + len(new_footer).to_bytes(4, "little") + b"PAR1"
    if pq.ParquetFile(pa.BufferReader(out)).metadata.num_rows != rows:  # pragma: no cover - a layout change
        raise AssertionError("could not find the footer's num_rows")
    return out


#: a mutant of a seed shard whose column-chunk size statistics are malformed: pyarrow 26 raises on reading it,
#: but aborts the whole interpreter when Python reads that column's metadata (found by the fuzz target)
_MALFORMED_STATISTICS = (
    "eNq1Vg10U+UZ/tKfENqqaUtCggHaQEOxoU3S9A/r9KZp0hua0qY0f0zLzU2a3PbeNOQmbVMOKkUYLewM+RNBOTpxk84pqDCGns2J"
    "dliObjpxSD0ekR83psJkoNPDuu/7btIW5Owct7N7eu79vvfned/veb/3TZsJh14GZLUys1YmhguxTKxSSNKA8CgkyQWQg+KbSHNz"
    "4av4YNm1gjlvAbABGYhFQARSlmlgxcc5ChHE/WKh7LFbJ0Mk3Vb0Ti9SgWVV2DGtNx2A8ZPjHwOpzUJagEgEAAID42OgDkjE4mni"
    "TMm0adOmT5dk5cy4JSc7O0eZl3/bjNmz5s6ZPUulKphfuqBArZ2nUhVXLdTq9Eajce6CmruqDbWl5UbD+KsgWwJUQCUS5YLx18Fc"
    "CJ4J4dPSMzLF0yTTs7Kh8KAUpInS09My0jMzMzKgxWqoBxm5mXmFekKc30JNU6+cYVjz8JOSeaYDv5M53rk0v9wXHZieJZ+pUM4q"
    "0iwoXniHsaKyqrpmcZ253mJtIG2ty9qcLrfHS/sDHcEQ08nH4j29fYn+tQ+tW/+jDYNDW7Zu277jkZ2P7vrpU3uf/tnPn9k3/MKL"
    "Lx089KvDvz7y2tHX3xj5/bE3R9/903sn3v/zyQ9Onf7kzNlz5z/9y18v/P3Ly/+4cvWrr//5zfgpIEFU3Q2sJ56vkJx4/pPBX/oN"
    "d105NTqYfezl0S22maUbZmaRD/esP7lyh+e5Um1w/5HNR2nZ3uZj7xz8gErMW5yrfvChQNvWLdISw3NZ64bte//Ws7+28OL5V/YU"
    "shy3t+Xq+sOXVeXKNaeXvP3s063NdQNV5a6lpy9Kb589S3G2K/L8o3l22+Xju+wfHih58e6Si417SFN/7g/PbfzDMyTXte+o/8Dy"
    "kXnuta9c+uyBXUXbjEOFt7tX/GR39Ilj3z79lLl78chHo7H9R146tGr95c9tt9eYLyjp7YOK+s1XPoykDx86m72y8PDupS8OXThu"
    "J5+gz92zo7FoyeqzB8T118ZueXb43MCO2scGjtq+cq2b3/61zfht9tiZ3x4vi9+yf6jgs+FhTbxHJX9TNbPkRIPq3OMnB74oyiOv"
    "7vyi0fnWp+wdav7lt7dGj2xWnjladlxueGygwvh57diFb6qHTt05yK0JzdvavKN+jfmktmpOZGeNY9m/LmeNSXRu732D2j0fjSyX"
    "Vkg+GeLnryQjuy+NPby2xL7Bs3H2ukETkfUkSz5w+q3KLy+MvX5k7Uft2r3a96++uX4TvPKF18ZypK6xu99YurHrwqlt95CqR/IX"
    "XDyzp75v0yHH2yP6lzsf/6PliTVfie7bPrjPY95HP1BYlf+DX1wVzyQ6nBuOr5SOHp5XsHyEuPJhE9/c+e7G3T9e0rmbZxbt8l7b"
    "w0jv8W/UHktfUUln9Jy91LXv3e65ywbI0qfWjL5guG3h/S1a5s7iiw9++ZvyrZv8ew6Of5AOvj1/peT+tKaoaCdq0RzZnO80aIFY"
    "D4DQ1rIMmUQ2q1GWJgN5SWVGodDm0CdPNh85S4UBkoHHREZycEzZTQ6M6WQKWCQGEHuOTNeIoqewb0ug7geAQi8fetE3hqkExSJK"
    "IaJuBpqGQf+PCSs3VQCFmKdDAY6SZUFBUZoikwn7A32gAq04KhiQZUBWkdyXiAV4YZ0RoWKhItCIGJalISVL+QJs0ZzGZ/MlKBi2"
    "ysLC9jDFBabaZvBMLADkYqVKyWqACmZRJAbKZFxZjlwsPyKSvybSSGq/1wxXqmSIkjRQu1Cs1AAxlCL0HIxeLJxFOAOOsfMO+cit"
    "mlEROeEmH12o1Cgrwc1d8ZGxp0Fu1myWTvEDSjF0Q17YLU1ZAcRSZZIT7LJNJD8s0gzlat6T/ucyKbWw4AgVvqQ3OYuAPIVYDL9e"
    "JB8WaU7maTblTb1P3wGDnE+FSyWKCzIlz8/yNYfy/9s85S+UycUaifz8DKCsVWRzYYaPdVAcwyYUW9NXqWkmRsWY7rB6cYFarS1Q"
    "0yzF8wEebperKSTwYan6Xvj2UzGKD8SQaUe8v7/MB3dI29Ed5SgsnoK+KEJFV8ah9YRBe08gyguh9FAY6uYCEVjIVGRc1XZ/LBHB"
    "ojgTjlVPygNhutvPhINIFYGfCQUforDDckO1tsBQjfIUqjGBlAJiGV+UiiampKHWlepLdYKODoT5iVy4QIxCp22nu9k4F8Z0LFej"
    "suDA4Vi5QX0vChWOc+2BPoqLsJizcijiu+NRWmAQWfARlsHcxKIUE0buMSbGTkSC0jCP+IGCcJxlVwNFdigeDMKjdlB0QPGqaBWM"
    "19EN1avUHQEqFo9i7FXC8fGqPXVSEotW4xRh76oXj//PD6z6dTwicMzDdYGdFBvH1Ew1hhythg9Q5BAOx1LXYmGsKTbllKHHSNQT"
    "BNFCCM8SgjASpiBhIYggURfEMpPpOn0v+tZP6Btb6oQ9gUQE0dxCpPYNzRC/hpjYY88GnqFcFZwvQVaScO3lnCF/gzPhdduZpYyp"
    "iuTYmMflZ8nO7mAgYevwN7C93lZoW2ez+VyWsLfVVtNYRyCMLq87KPiwNbqA24R9SNYb8jU4WZLpDZKcY1LOsXG/2aMjwzoeYvEe"
    "l4311Qk5uMsdFbS1DWIRjJOz8H5XG4NieBsm5TCebmmdEJs2sDqc0/fwtfeTTIdbX9MhMNmIXlSDM+w1sHGvwRvyGNoISKQdUQ2/"
    "JNJ3T5Smbhn6QD46Kbcj5LeyPT4GcULiWB5DX4gub2JpxKmFZzytJDojI3BgZ9ytmAvoZ+n3ultwTt6wszLA1DAed1OSK28PzelD"
    "/jrMdczHsf1+K+TSxfKBVn2vx23r87ucuutsLTUGr9vWT7lq4ohjO44T6vG5nL2pGpIMziWCa+es6ZpST73A6XV61sc19XitkJME"
    "tun1cTQj1Fsf8hqcHbQhFBJ4NfnsnUGeNJNG4Xx9IQ/n5N2GG2sexP4+KxwtnCURcF6fM9lJxO2txl7hXH0Rj8EZpw1C3QSZnoW8"
    "dXkg725DUw+8WzFfGN9VnysBcdyOJH8olj1Bsno/jhd2xtwGp9Hj0vf6rM5+zE8C2oWbevxuW2fyvvtw7uEmaMPqcD5hR8LjYuMY"
    "M+yI+K19U3nUwTPA/BD/OuQf97v6eHin8H3yuSoidLmDgzEjvoYuwoSujrUFtq/ZjvQc7sTgZD82V5WVoaZsIfGttOKrmWp12Pi4"
    "X5tgDm14z6fsJ0E8qOnhvGhA3Q33bYIT1los6GPGDl0TeBNzBOZrtTBeV1+Hj7PEvDBs6t6bJr/w6YRDpBpv0aAhLGY0VOxodGGT"
    "EDby3IBvmcTH8auT9vB4KHVTam8yO4KpyZX0JydWGIRAZzcJ9xNR04jil/Apf5PjpvExv7TVoqPw1uxB9no0DzHfLZjkhhv5xvWy"
    "VfjhfUni1Sf1LUhZh0tEE+ZJpfAk60feFA/2ktVpRHthvsB69SZNU8cjiLuAoiD5j8IiOhJZREWj3b0FyV/oAkNlKfyFVrLwX9Ub"
    "/oA2G4BmwqH/N+7R4FA="
)


def _footer_with(data: bytes, old: bytes, new: bytes, occurrence: int) -> bytes:
    """``data`` with the ``occurrence``-th ``old`` (from 0) of its Thrift footer replaced by ``new``, as long."""
    length = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - length
    at = -1
    for _ in range(occurrence + 1):
        at = data.index(old, at + 1 if at >= 0 else start)
    return data[:at] + new + data[at + len(new):]


def _image_bytes(kind: str, size: tuple[int, int] = BASE_SHAPE, mode: str = "L", noise: bool = False) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    if noise:
        pixels = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8)
        image = Image.fromarray(pixels, mode="L").convert(mode)
    else:
        image = Image.new(mode, (size[1], size[0]))
    image.save(buffer, format=kind)
    return buffer.getvalue()


def _with(key: str, value: Any) -> Callable[[dict], dict]:
    def change(described: dict) -> dict:
        described[key] = value
        return described
    return change


def _image_as_binary(table: Any) -> Any:
    import pyarrow as pa

    column = table.column("image").cast(pa.binary())
    return table.set_column(table.schema.get_field_index("image"), "image", column)


def _label_as_string(table: Any) -> Any:
    import pyarrow as pa

    column = pa.array([str(v) for v in table.column("label").to_pylist()])
    return table.set_column(table.schema.get_field_index("label"), "label", column)


def _images_with_nulls(table: Any) -> Any:
    import pyarrow as pa

    values = table.column("image").to_pylist()
    values[1] = None
    return table.set_column(table.schema.get_field_index("image"), "image",
                            pa.array(values, type=table.schema.field("image").type))


def _labels_out_of_range(table: Any) -> Any:
    import pyarrow as pa

    labels = pa.array(np.full(table.num_rows, 7, np.int8))
    return table.set_column(table.schema.get_field_index("label"), "label", labels)


@functools.lru_cache(maxsize=None)
def hostile_shards() -> tuple[tuple[str, bytes], ...]:
    """Shards that must each be refused (read on their own, without a card)."""
    raw = base_shard("raw")
    black = _image_bytes("PNG", (12000, 12000))
    cases: list[tuple[str, bytes]] = [
        ("not-parquet", b"PAR1 this is not a parquet file " * 4),
        ("empty", b""),
        ("truncated", raw[:len(raw) // 2]),
        ("no-metadata", rewrite_shard(raw, table=lambda t: t.replace_schema_metadata(None))),
        ("metadata-not-json", rewrite_shard(raw, metadata=b"{not json")),
        ("metadata-list", rewrite_shard(raw, metadata=b"[1, 2]")),
        ("metadata-nested", rewrite_shard(raw, metadata=b"[" * 100_000 + b"]" * 100_000)),
        ("version-string", rewrite_shard(raw, metadata=_with("format_version", "1"))),
        ("version-future", rewrite_shard(raw, metadata=_with("format_version", 99))),
        ("dataset-dotdot", rewrite_shard(raw, metadata=_with("dataset", ".."))),
        ("split-escape", rewrite_shard(raw, metadata=_with("split", "../../../../x/PWNED"))),
        ("classes-not-list", rewrite_shard(raw, metadata=_with("classes", "abc"))),
        ("classes-control", rewrite_shard(raw, metadata=_with("classes", ["a\x00", "b", "c"]))),
        ("classes-too-many", rewrite_shard(raw, metadata=_with("classes", [str(i) for i in range(70_000)]))),
        ("shape-huge", rewrite_shard(raw, metadata=_with("image_shape", [100_000, 100_000]))),
        ("shape-rank", rewrite_shard(raw, metadata=_with("image_shape", [30]))),
        ("shape-strings", rewrite_shard(raw, metadata=_with("image_shape", ["6", 5]))),
        ("encoding-jpeg", rewrite_shard(raw, metadata=_with("image_encoding", "jpeg"))),
        ("dtype-void", rewrite_shard(raw, metadata=_with("metadata_columns", [["site", "V2000000000"]]))),
        ("dtype-object", rewrite_shard(raw, metadata=_with("metadata_columns", [["site", "object"]]))),
        ("column-escape", rewrite_shard(raw, metadata=_with("metadata_columns", [["../x", "int32"]]))),
        ("columns-not-list", rewrite_shard(raw, metadata=_with("metadata_columns", {"site": "int32"}))),
        ("sources-not-list", rewrite_shard(raw, metadata=_with("sources", "x"))),
        ("title-not-text", rewrite_shard(raw, metadata=_with("title", 5))),
        ("image-dtype-uint16", rewrite_shard(raw, metadata=_with("image_dtype", "uint16"))),
        ("column-twice", rewrite_shard(raw, metadata=_with("metadata_columns", [["site", "int32"]] * 2))),
        ("source-record-nested", rewrite_shard(raw, metadata=_with("sources", [{"name": {"nested": 1}}]))),
        ("image-variable-binary", rewrite_shard(raw, table=_image_as_binary)),
        ("label-strings", rewrite_shard(raw, table=_label_as_string)),
        ("column-missing", rewrite_shard(raw, table=lambda t: t.drop_columns(["site"]))),
        ("column-extra", rewrite_shard(raw, table=lambda t: t.append_column("extra", t.column("index")))),
        ("image-nulls", rewrite_shard(raw, table=_images_with_nulls)),
        ("labels-out-of-range", rewrite_shard(raw, table=_labels_out_of_range)),
        ("row-count-lie", lying_row_count(raw, 10**12)),
        ("footer-rows-disagree", _footer_with(raw, b"\x16\x14", b"\x16\x16", 0)),  # file 11 rows, group 10
        ("column-statistics-malformed", zlib.decompress(base64.b64decode("".join(_MALFORMED_STATISTICS)))),
        ("png-bomb-12000x12000", png_shard([black] * 8)),
        ("png-shape-100000x100000", png_shard([black] * 8, (100_000, 100_000))),
        ("png-rgb", png_shard([_image_bytes("PNG", mode="RGB")] * 3)),
        ("png-truncated", png_shard([_image_bytes("PNG", (28, 28), noise=True)[:400]] * 3, (28, 28))),
        ("png-not-an-image", png_shard([b"hello, I am not a picture " * 4] * 3)),
        ("png-rows-past-their-bytes", rewrite_shard(base_shard("png"), table=lambda t: t.take([0] * 5000),
                                                    dictionary=True)),
    ]
    for kind in ("GIF", "BMP", "TIFF", "JPEG"):  # image formats Pillow decodes, that an export never holds
        cases.append((f"png-{kind.lower()}", png_shard([_image_bytes(kind, (28, 28), noise=True)] * 3, (28, 28))))
    # examples other than grey images: shapes, dtypes, kinds and encodings an export never writes
    volume, signal, rgb = kind_shard("volume"), kind_shard("signal"), kind_shard("rgb", "png")
    cases += [
        ("volume-huge", rewrite_shard(volume, metadata=_with("image_shape", [4096, 4096, 4096]))),
        ("volume-rank", rewrite_shard(volume, metadata=_with("image_shape", [4, 30]))),
        ("volume-claims-signal", rewrite_shard(volume, metadata=_with("example", "signal"))),
        ("example-unknown", rewrite_shard(volume, metadata=_with("example", "movie"))),
        ("channels-too-many", rewrite_shard(kind_shard("rgb"), metadata=_with("image_shape", [6, 5, 100_000]))),
        ("volume-dtype-int64", rewrite_shard(volume, metadata=_with("image_dtype", "int64"))),
        ("volume-as-format-2", rewrite_shard(volume, metadata=_with("format_version", 2))),
        ("volume-as-png", rewrite_shard(volume, metadata=_with("image_encoding", "png"))),
        ("signal-dtype-complex", rewrite_shard(signal, metadata=_with("image_dtype", "complex128"))),
        ("signal-dtype-object", rewrite_shard(signal, metadata=_with("image_dtype", "object"))),
        ("signal-rate-negative", rewrite_shard(signal, metadata=_with("sample_rate", -48_000))),
        ("signal-rate-string", rewrite_shard(signal, metadata=_with("sample_rate", "48k"))),
        ("signal-claims-fixed-length", rewrite_shard(signal, metadata=_with("image_shape", [49]))),
        ("signal-as-tensor", rewrite_shard(signal, metadata=_with("image_encoding", "tensor"))),
        ("signal-length-huge", rewrite_shard(kind_shard("fixed-signal"),
                                             metadata=_with("image_shape", [1 << 40]))),
        ("rgb-png-holds-grey", rewrite_shard(rgb, table=lambda t: t.set_column(
            1, "image", pa_struct_of([_image_bytes("PNG", (6, 5), mode="L")] * t.num_rows)))),
    ]
    return tuple(cases)


def pa_struct_of(blobs: list[bytes]) -> Any:
    """A PNG column (``struct<bytes, path>``) holding ``blobs``."""
    import pyarrow as pa

    return pa.StructArray.from_arrays([pa.array(blobs, pa.binary()), pa.nulls(len(blobs), pa.string())],
                                      names=["bytes", "path"])


def _listed_twice(card: dict) -> None:
    """The first shard listed a second time, and the split's row count to match: main returned its rows twice."""
    entry = card["splits"][BASE_SPLIT]
    entry["shards"].insert(1, dict(entry["shards"][0]))
    entry["num_rows"] += entry["shards"][0]["num_rows"]


@functools.lru_cache(maxsize=None)
def hostile_cards() -> tuple[tuple[str, bytes], ...]:
    """Dataset cards that must each be refused, beside the base export's (valid) shards."""
    def card(change: Callable[[dict], Any]) -> bytes:
        value = base_card()
        changed = change(value)
        return json.dumps(value if changed is None else changed).encode()

    def shards(change: Callable[[list], Any]) -> Callable[[dict], None]:
        def apply(value: dict) -> None:
            entry = value["splits"][BASE_SPLIT]
            result = change(entry["shards"])
            if result is not None:
                entry["shards"] = result
        return apply

    def first_shard(key: str, new: Any) -> Callable[[dict], None]:
        return shards(lambda listed: listed[0].__setitem__(key, new))

    return (
        ("not-json", b"{this is not json"),
        ("a-list", b"[]"),
        ("a-number", b"42"),
        ("nested", b"[" * 100_000 + b"]" * 100_000),
        ("other-format", card(lambda v: {**v, "format": "spark"})),
        ("version-future", card(lambda v: {**v, "format_version": 99})),
        ("version-string", card(lambda v: {**v, "format_version": "1"})),
        ("split-entry-a-list", card(lambda v: {**v, "splits": {BASE_SPLIT: []}})),
        ("shard-record-a-string", card(shards(lambda listed: ["split=train/part-00000-of-00001.parquet"]))),
        ("dataset-dotdot", card(lambda v: {**v, "dataset": ".."})),
        ("splits-a-list", card(lambda v: {**v, "splits": [BASE_SPLIT]})),
        ("split-escape", card(lambda v: {**v, "splits": {"../x": v["splits"][BASE_SPLIT]}})),
        ("shards-not-list", card(shards(lambda listed: "all"))),
        ("path-traversal", card(first_shard("path", "../../../../etc/passwd"))),
        ("path-absolute", card(first_shard("path", "/etc/passwd"))),
        ("path-other-split", card(first_shard("path", "split=test/part-00000-of-00003.parquet"))),
        ("shard-twice", card(_listed_twice)),
        ("shard-missing", card(shards(lambda listed: listed[:2]))),
        ("num-rows-wrong", card(lambda v: v["splits"][BASE_SPLIT].__setitem__("num_rows", 10**12))),
        ("sha256-not-hex", card(first_shard("sha256", "x" * 64))),
        ("size-negative", card(first_shard("size", -1))),
        ("size-wrong", card(first_shard("size", 1))),
        ("sha256-wrong", card(first_shard("sha256", "0" * 64))),
        ("shard-rows-wrong", card(shards(lambda listed: [{**listed[0], "num_rows": 11}, {**listed[1], "num_rows": 9},
                                                         listed[2]]))),
        ("image-shape-wrong", card(lambda v: v["splits"][BASE_SPLIT]["schema_metadata"].__setitem__(
            "image_shape", [5, 6]))),
        ("schema-metadata-a-list", card(lambda v: v["splits"][BASE_SPLIT].__setitem__("schema_metadata", []))),
    )


def shard_seeds() -> list[bytes]:
    """Valid shards (raw and PNG) and every hostile one."""
    kinds = [kind_shard(kind, encoding) for kind, encodings in KINDS.items() for encoding in encodings]
    return [base_shard("raw"), base_shard("png"), base_shard("raw", 2), *kinds] + [data for _, data in hostile_shards()]


def card_seeds() -> list[bytes]:
    """The valid card (raw and PNG exports share its shape) and every hostile one."""
    return [base_export("raw")[CARD_KEY]] + [data for _, data in hostile_cards()]


def run_parquet(data: bytes, folder: Path) -> None:
    """``read_parquet`` of the bytes as a lone shard; what it returns is exported again into the cache.

    The export must stay inside ``folder/cache`` whatever names the shard declared.
    """
    from mnistfamily.dataset import Dataset
    from mnistfamily.outputs import export, read_parquet

    path = folder / "input.bin"
    path.write_bytes(data)
    ds = read_parquet(path)
    assert isinstance(ds, Dataset)  # a file reads back as one split
    export(ds, folder / "cache" / "lake")


def run_export_card(data: bytes, folder: Path) -> None:
    """``read_parquet`` of the base export's folder with the bytes as its dataset card."""
    from mnistfamily.outputs import read_parquet

    read_parquet(write_base_export(folder / "cache" / "lake", data))
