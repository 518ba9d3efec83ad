"""What other engines read about an export's columns: Spark's footer schema and Hugging Face features.

Every shard's Parquet footer carries, besides mnistfamily's own description:

- ``org.apache.spark.sql.parquet.row.metadata``: the schema as Spark writes it for its own
  files (a ``StructType`` in JSON). Spark reads it instead of converting the Parquet types, so
  the columns keep a ``comment`` (``DESCRIBE`` shows it), ``image`` carries its shape, and
  ``label`` carries the class names as a *nominal attribute* (``ml_attr``): Spark ML's
  ``IndexToString`` turns labels into names without being told them, and classifiers know the
  number of classes even when a selection holds only some of them. The Spark types are exactly
  those Spark would convert the Parquet types to (``uint8`` is ``short``, ...), so nothing is cast.
- ``huggingface`` (PNG exports): the features Hugging Face ``datasets`` decodes the files with
  (``image`` as ``Image``). ``datasets`` uses a feature only when its Arrow type is exactly the
  column's, so ``label`` stays a ``Value`` here (a ``ClassLabel`` is int64); the lake's
  ``README.md`` (:mod:`.lake_card`) declares it a ``ClassLabel``, and ``datasets`` casts it there.

:func:`huggingface_features` and :func:`readme_features` are the one place where the features
of an export are decided; both the footer and the lake card use them.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

#: the key Spark writes (and reads) its own schema under in a Parquet footer
SPARK_METADATA_KEY = b"org.apache.spark.sql.parquet.row.metadata"

#: numpy dtype -> the Spark type Spark converts that column's Parquet type to
_SPARK_TYPES = {"bool": "boolean", "int8": "byte", "int16": "short", "int32": "integer", "int64": "long",
                "uint8": "short", "uint16": "integer", "uint32": "long", "uint64": "decimal(20,0)",
                "float32": "float", "float64": "double"}

COMMENTS = {
    "index": "position of the example in the published split (kept by select and filter)",
    "image/raw": "the {dtype} values of one {kind}, C order, little-endian: reshape the {pixels} bytes to {shape}",
    "image/png": "one PNG of {shape} per example (Hugging Face Image layout: bytes, path)",
    "image/tensor": "the {dtype} values of one {kind} as an Arrow fixed_shape_tensor of shape {shape}",
    "image/list": "the {dtype} samples of one signal (their number varies)",
    "label": "the class number, 0-based: an index into the class names (label_name)",
    "label_name": "the class name of label",
    "metadata": "per-example metadata published with the dataset",
}


def column_comment(column: str, image_encoding: str = "raw", image_shape: Sequence[int] = (),
                   image_dtype: str = "uint8") -> str:
    """The comment of ``column`` (the examples' column, ``image``, ``volume`` or ``signal``, depends on the
    encoding, shape and dtype)."""
    if column in ("image", "volume", "signal"):
        shape = "x".join(str(d) for d in image_shape)
        encoding = "list" if column == "signal" and not image_shape else image_encoding
        size = int(np.prod(image_shape or (0,))) * np.dtype(image_dtype).itemsize
        return COMMENTS[f"image/{encoding}"].format(shape=shape, pixels=size, dtype=image_dtype, kind=column)
    return COMMENTS.get(column, COMMENTS["metadata"])


def spark_schema_json(*, image_shape: Sequence[int], image_encoding: str, classes: Sequence[str],
                      label_dtype: str, metadata_columns: Sequence[tuple[str, str]], example: str = "image",
                      image_dtype: str = "uint8") -> str:
    """The ``StructType`` JSON Spark stores in its Parquet footers, for a shard of this format.

    ``metadata_columns`` are ``(name, numpy dtype string)`` pairs. Returns ``""`` when a column
    has a type Spark does not read (float16): Spark then converts the Parquet types itself.
    """
    shape = [int(d) for d in image_shape]
    values = _SPARK_TYPES[np.dtype(image_dtype).name]
    if example == "signal" and not shape:
        image_type: Any = {"type": "array", "elementType": values, "containsNull": True}
    elif image_encoding == "png":
        image_type = {"type": "struct", "fields": [_spark_field("bytes", "binary"), _spark_field("path", "string")]}
    elif image_encoding == "tensor":
        image_type = {"type": "array", "elementType": values, "containsNull": True}
    else:
        image_type = "binary"
    fields = [
        _spark_field("index", "long", comment=column_comment("index")),
        _spark_field(example, image_type, comment=column_comment(example, image_encoding, shape, image_dtype),
                     image_shape=shape, image_encoding=image_encoding, image_dtype=image_dtype),
        # Spark ML's attribute: "vals" alone (with "num_vals" too, Spark refuses the column)
        _spark_field("label", _SPARK_TYPES[label_dtype], comment=column_comment("label"),
                     ml_attr={"type": "nominal", "name": "label", "vals": list(classes)}),
        _spark_field("label_name", "string", comment=column_comment("label_name")),
    ]
    for name, dtype in metadata_columns:
        spark_type = _SPARK_TYPES.get(np.dtype(dtype).name)
        if spark_type is None:
            return ""
        fields.append(_spark_field(name, spark_type, comment=column_comment(name)))
    return json.dumps({"type": "struct", "fields": fields}, sort_keys=True, ensure_ascii=False)


def _spark_field(name: str, type_: Any, **metadata: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "nullable": True, "metadata": metadata}


def huggingface_features(*, image_encoding: str, label_dtype: str, classes: Sequence[str],
                         metadata_columns: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
    """The ``huggingface`` footer key of a shard (``{"info": {"features": ...}}``), or None.

    Only PNG exports carry one: it makes ``datasets`` decode ``image`` as images. Only fields
    whose Arrow type is exactly the one ``datasets`` gives the feature are listed (it ignores
    the others), so ``label`` is a ``ClassLabel`` with the class names when it is stored as int64
    (as PNG exports store it), and a ``Value`` of its own type otherwise (PNG exports written
    before labels became int64).
    """
    if image_encoding != "png":
        return None
    label: dict[str, Any] = ({"names": list(classes), "_type": "ClassLabel"} if label_dtype == "int64"
                             else {"dtype": label_dtype, "_type": "Value"})
    features: dict[str, Any] = {"index": {"dtype": "int64", "_type": "Value"},
                                "image": {"_type": "Image"},  # PNG exports hold images only
                                "label": label}
    for name, dtype in metadata_columns:
        features[name] = {"dtype": np.dtype(dtype).name, "_type": "Value"}
    return {"info": {"features": features}}


def readme_features(*, image_encoding: str, image_shape: Sequence[int], classes: Sequence[str],
                    metadata_columns: Sequence[tuple[str, str]], example: str = "image",
                    image_dtype: str = "uint8") -> list[dict[str, Any]]:
    """The features of a dataset as a Hugging Face dataset card lists them (``dataset_info.features``).

    ``label`` is a ``ClassLabel`` with the class names (``datasets`` casts the int8/int16 column
    to the int64 a ``ClassLabel`` holds); ``image`` is an ``Image`` for PNG exports, bytes for
    raw ones and a ``uint8`` array of the image's shape for tensor ones.
    """
    dtype = np.dtype(image_dtype).name
    if example == "signal" and not image_shape:
        image: Any = {"sequence": dtype}
    elif image_encoding == "png":
        image = "image"
    elif image_encoding == "tensor" and len(image_shape) == 1:
        image = {"sequence": dtype, "length": int(image_shape[0])}
    elif image_encoding == "tensor":
        image = {f"array{len(image_shape)}_d": {"shape": [int(d) for d in image_shape], "dtype": dtype}}
    else:
        image = "binary"
    features: list[dict[str, Any]] = [
        {"name": "index", "dtype": "int64"},
        {"name": example, "dtype": image},
        {"name": "label", "dtype": {"class_label": {"names": {str(i): name for i, name in enumerate(classes)}}}},
        {"name": "label_name", "dtype": "string"},
    ]
    for name, dtype in metadata_columns:
        features.append({"name": name, "dtype": np.dtype(dtype).name})
    return features
