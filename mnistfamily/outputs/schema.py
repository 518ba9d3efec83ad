"""The Parquet schema of an export, and the conversion of numpy rows to Arrow tables.

Columns, in order:

``index``       int64: the example's position in the published split.
the example     named after its kind (``example``): ``image``, ``volume`` or ``signal``.
                Fixed-shape examples (images ``(H, W)`` or ``(H, W, C)``, volumes ``(D, H, W)``,
                fixed-length signals ``(L,)``), by ``image_encoding``:
                ``raw``: ``fixed_size_binary[bytes of one example]``, its values in C order,
                little-endian (``np.frombuffer(..., dtype).reshape(shape)`` gives it back);
                ``png`` (uint8 images only): ``struct<bytes: binary, path: string>`` holding one
                PNG per image (grey, RGB or RGBA), the layout Hugging Face's ``Image`` feature
                reads (``path`` null); ``tensor``: Arrow's ``fixed_shape_tensor(<dtype>, shape)``
                (stored as a ``fixed_size_list``), which Ray Data and pyarrow give as ``(N, *shape)``.
                Signals of varying length: ``list<dtype>``, one list of samples per example.
``label``       the smallest signed integer holding every class number (int8 up to 128 classes);
                int64 in PNG exports, as Hugging Face's ``ClassLabel`` stores it.
``label_name``  ``dictionary<values=string>``: the class name, the dictionary being ``classes``.
then every metadata column with its own type (QMNIST: int32 ``writer_id``, ``hsf_series``, ...).

The schema metadata holds, under the ``mnistfamily`` key, a JSON object describing the
split (dataset name, classes, what an example is: kind, shape, dtype and sample rate, license,
citation, the checksums of the files it came from, the transform of a variant), identical in
every shard of a split. The footer also carries Spark's own schema (comments, the example's
shape, the class names as a nominal attribute of ``label``) and, in PNG exports, the
``huggingface`` features, so ``datasets`` decodes ``image`` as images and ``label`` as a
``ClassLabel`` with the class names (:mod:`.engines`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

#: the layout of the files this module writes; bump on an incompatible change.
#: 2: the dataset card moved beside the dataset folder; the ``tensor`` image encoding.
#: 3: examples other than uint8 grey images: colour images, volumes, signals (the column named by its kind)
EXPORT_FORMAT_VERSION = 3
METADATA_KEY = b"mnistfamily"
IMAGE_ENCODINGS = ("raw", "png", "tensor")
#: fixed codec levels. zstd 1, not zstd's default 3: on MNIST train it is both smaller
#: (9.84 vs 9.94 MB of pixels) and 2-3x faster; level 5 saves 1.5% more at 4x the time
DEFAULT_LEVELS = {"zstd": 1, "gzip": 6, "brotli": 5}
#: target uncompressed size of a row group: large enough for fast scans, small enough to stream
ROW_GROUP_BYTES = 8 << 20
#: PNG zlib level: Pillow's default, so a PNG is byte for byte what Hugging Face's Image feature writes
PNG_COMPRESS_LEVEL = 6


def label_dtype(num_classes: int) -> np.dtype:
    """The smallest signed integer type holding labels ``0 .. num_classes - 1``."""
    for dtype in (np.int8, np.int16, np.int32):
        if num_classes - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def row_group_rows(row_bytes: int, rows_per_shard: int) -> int:
    """Rows per row group: about ``ROW_GROUP_BYTES`` of examples, a multiple of 1024, fixed by the row size."""
    rows = max(1024, (ROW_GROUP_BYTES // max(1, int(row_bytes))) // 1024 * 1024)
    return max(1, min(rows, rows_per_shard))


def example_row_bytes(example: str, shape: tuple[int, ...], dtype: str, mean_length: float = 0.0) -> int:
    """Bytes of one example (for varying-length signals, of the average one)."""
    itemsize = np.dtype(dtype).itemsize
    if example == "signal" and not shape:
        return max(1, int(mean_length * itemsize))
    return max(1, int(np.prod(shape, dtype=np.int64)) * itemsize)


@dataclass(frozen=True)
class ShardFormat:
    """Everything besides the rows that decides a shard's bytes. Small and picklable."""

    image_shape: tuple[int, ...]
    classes: tuple[str, ...]
    metadata_columns: tuple[tuple[str, str], ...]  # (name, numpy dtype string)
    image_encoding: str
    compression: str
    compression_level: int | None
    row_group_rows: int
    schema_metadata: str  # the JSON stored under the "mnistfamily" key
    #: the label type a reader found recorded (exports before 2026-12 wrote PNG labels as the smallest type)
    recorded_label_dtype: str | None = None
    #: what one example is (image, volume, signal) and its dtype; image_shape is () for varying-length signals
    example: str = "image"
    image_dtype: str = "uint8"

    @property
    def column(self) -> str:
        """The name of the examples' column: the kind of example (``image``, ``volume``, ``signal``)."""
        return self.example

    @property
    def varying(self) -> bool:
        """Signals of varying length: a list column."""
        return self.example == "signal" and not self.image_shape

    @property
    def image_bytes(self) -> int:
        """Bytes of one fixed-shape example."""
        return int(np.prod(self.image_shape)) * np.dtype(self.image_dtype).itemsize

    @property
    def value_type(self) -> "pa.DataType":
        """The Arrow type of one value (pixel, voxel, sample)."""
        import pyarrow as pa

        return pa.from_numpy_dtype(np.dtype(self.image_dtype))

    @property
    def label_dtype(self) -> np.dtype:
        if self.recorded_label_dtype is not None:
            return np.dtype(self.recorded_label_dtype)
        # PNG exports are for Hugging Face, whose ClassLabel is int64 (a ClassLabel on int8 is ignored)
        return np.dtype(np.int64) if self.image_encoding == "png" else label_dtype(len(self.classes))

    def arrow_schema(self) -> "pa.Schema":
        import pyarrow as pa

        from .engines import SPARK_METADATA_KEY, huggingface_features, spark_schema_json

        label_type = pa.from_numpy_dtype(self.label_dtype)
        image_type = self.image_type()
        # nullable like every Arrow default: `datasets` matches its features only on nullable fields
        fields = [
            pa.field("index", pa.int64()),
            pa.field(self.column, image_type),
            pa.field("label", label_type),
            pa.field("label_name", pa.dictionary(label_type, pa.string())),
        ]
        fields += [pa.field(name, pa.from_numpy_dtype(np.dtype(dtype))) for name, dtype in self.metadata_columns]
        metadata = {METADATA_KEY: self.schema_metadata.encode("utf-8")}
        spark = spark_schema_json(image_shape=self.image_shape, image_encoding=self.image_encoding,
                                  classes=self.classes, label_dtype=self.label_dtype.name,
                                  metadata_columns=self.metadata_columns, example=self.example,
                                  image_dtype=self.image_dtype)
        if spark:
            metadata[SPARK_METADATA_KEY] = spark.encode("utf-8")
        hf = huggingface_features(image_encoding=self.image_encoding, label_dtype=self.label_dtype.name,
                                  classes=self.classes, metadata_columns=self.metadata_columns)
        if hf is not None:
            metadata[b"huggingface"] = json.dumps(hf, sort_keys=True).encode()
        return pa.schema(fields, metadata=metadata)

    def image_type(self) -> "pa.DataType":
        """The Arrow type of the examples' column."""
        import pyarrow as pa

        if self.varying:
            return pa.list_(self.value_type)
        if self.image_encoding == "raw":
            return pa.binary(self.image_bytes)
        if self.image_encoding == "tensor":
            return pa.fixed_shape_tensor(self.value_type, [int(d) for d in self.image_shape])
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])

    def writer_options(self) -> dict[str, Any]:
        """Keyword arguments of ``pq.ParquetWriter``: fixed, so the same rows give the same bytes."""
        small = ["label", "label_name", *(name for name, _ in self.metadata_columns)]
        level = self.compression_level
        if level is None:
            level = DEFAULT_LEVELS.get(self.compression)
        # tensor pixels are stored as INT32 (Parquet has no 8-bit type); a dictionary of at most
        # 256 values packs them back to a byte or less: 6.7 % above raw on MNIST train, not 49 %
        dictionary = ([*small, f"{self.column}.list.element"] if self.image_encoding == "tensor"
                      and self.image_dtype == "uint8" else small)
        return {
            "compression": self.compression, "compression_level": level, "version": "2.6",
            "use_dictionary": dictionary, "write_statistics": ["index", *small],
            "data_page_version": "1.0", "store_schema": True, "write_page_index": False,
        }

    def table(self, schema: "pa.Schema", index: np.ndarray, image_column: Any, labels: np.ndarray,
              metadata: Mapping[str, np.ndarray]) -> "pa.Table":
        """An Arrow table of consecutive rows; ``image_column`` is uint8 images or a list of PNG bytes."""
        import pyarrow as pa

        n = len(index)
        dtype = np.dtype(self.image_dtype).newbyteorder("<")  # Parquet and Arrow are little-endian
        if self.varying:
            samples, offsets = image_column.compact()
            if offsets[-1] >= 2**31:
                raise ValueError(f"{int(offsets[-1]):,} samples in one row group: more than a list column holds")
            values = _numeric(np.asarray(samples), dtype)
            image = pa.ListArray.from_arrays(_numeric(offsets, np.dtype(np.int32)), values)
        elif self.image_encoding == "raw":
            pixels = np.ascontiguousarray(image_column, dtype=dtype).reshape(-1).view(np.uint8)
            image = pa.FixedSizeBinaryArray.from_buffers(pa.binary(self.image_bytes), n,
                                                         [None, pa.py_buffer(pixels)])
        elif self.image_encoding == "tensor":
            pixels = np.ascontiguousarray(image_column, dtype=dtype).reshape(-1)
            values = pa.Array.from_buffers(self.value_type, len(pixels), [None, pa.py_buffer(pixels)])
            tensor_type = self.image_type()
            storage = pa.FixedSizeListArray.from_arrays(values, type=tensor_type.storage_type)
            image = pa.ExtensionArray.from_storage(tensor_type, storage)
        else:
            image = pa.StructArray.from_arrays([_binary(image_column, pa.binary()), pa.nulls(n, pa.string())],
                                               names=["bytes", "path"])
        label = _numeric(labels, self.label_dtype)
        label_name = pa.DictionaryArray.from_arrays(label, _binary([c.encode() for c in self.classes], pa.string()))
        columns = [_numeric(index, np.dtype(np.int64)), image, label, label_name]
        columns += [_numeric(metadata[name], np.dtype(dtype)) for name, dtype in self.metadata_columns]
        return pa.Table.from_arrays(columns, schema=schema)


# Arrays are built from buffers, not with pa.array(): that one imports pandas when it is
# installed (1.5 s on first use) only to ask whether a numpy array is a pandas one.

def _numeric(values: np.ndarray, dtype: np.dtype) -> "pa.Array":
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=dtype.newbyteorder("="))
    if data.dtype == np.bool_:  # Arrow packs booleans into bits
        return pa.Array.from_buffers(pa.bool_(), len(data), [None, pa.py_buffer(np.packbits(data, bitorder="little"))])
    return pa.Array.from_buffers(pa.from_numpy_dtype(data.dtype), len(data), [None, pa.py_buffer(data)])


def column_to_numpy(column: Any, out: np.ndarray) -> None:
    """Copy a primitive Arrow (chunked) array without nulls into ``out`` (pandas-free ``to_numpy``)."""
    import pyarrow as pa

    position = 0
    for chunk in getattr(column, "chunks", [column]):
        n = len(chunk)
        if chunk.null_count:
            raise ValueError(f"column of {chunk.type} holds {chunk.null_count} nulls; an export holds none")
        buffer = chunk.buffers()[1]
        if pa.types.is_boolean(chunk.type):
            bits = np.frombuffer(buffer, dtype=np.uint8)
            values = np.unpackbits(bits, bitorder="little", count=chunk.offset + n)[chunk.offset:].astype(bool)
        else:
            dtype = np.dtype(chunk.type.to_pandas_dtype())
            values = np.frombuffer(buffer, dtype=dtype, count=n, offset=chunk.offset * dtype.itemsize)
        out[position:position + n] = values
        position += n


def _binary(items: list[bytes], type: "pa.DataType") -> "pa.Array":
    import pyarrow as pa

    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum([len(item) for item in items], out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError(f"{offsets[-1]:,} bytes in one row group: more than a binary column holds")
    return pa.Array.from_buffers(type, len(items), [None, pa.py_buffer(offsets.astype(np.int32)),
                                                    pa.py_buffer(b"".join(items))])


def describe_split(*, dataset: str, split: str, num_examples: int, classes: list[str] | tuple[str, ...],
                   image_shape: tuple[int, ...], image_encoding: str, metadata_columns: Mapping[str, str],
                   info: Any, sources: list[dict], transform: Any, example: str = "image",
                   image_dtype: str = "uint8", sample_rate: int | None = None) -> dict[str, Any]:
    """The JSON object stored in every shard's schema metadata (and, per split, in the card)."""
    from .._version import __version__

    return {
        "format": "mnistfamily-parquet", "format_version": EXPORT_FORMAT_VERSION,
        "library_version": __version__,
        "dataset": dataset, "split": split, "num_examples": int(num_examples),
        "title": getattr(info, "title", "") or "", "homepage": getattr(info, "homepage", "") or "",
        "license": getattr(info, "license", "") or "", "citation": getattr(info, "citation", "") or "",
        "classes": list(classes),
        "label_dtype": "int64" if image_encoding == "png" else label_dtype(len(classes)).name,
        "example": example, "image_shape": [int(d) for d in image_shape], "image_dtype": image_dtype,
        "sample_rate": sample_rate, "image_encoding": image_encoding,
        # [name, dtype] pairs: a JSON object would lose the column order under sort_keys
        "metadata_columns": [[name, dtype] for name, dtype in metadata_columns.items()],
        "sources": sources, "transform": transform,
    }
