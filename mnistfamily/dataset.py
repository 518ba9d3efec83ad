"""The Dataset a load returns, and the DatasetInfo that describes a registry entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np

from .examples import KINDS, Signals, describe, infer_kind, layout

if TYPE_CHECKING:  # pragma: no cover
    from .adapters.batches import Batches


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about a dataset: splits and sizes, classes, license, files.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> mf.info("mnist").splits["train"]
    60000
    """

    name: str
    title: str
    description: str
    homepage: str
    license: str
    citation: str
    classes: tuple[str, ...]
    image_shape: tuple[int, ...]
    splits: Mapping[str, int | None]  # None: counted when the files are read (notMNIST)
    files: tuple[dict, ...]
    metadata_columns: tuple[str, ...] = ()
    notes: str = ""
    urls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    image_dtype: str = "uint8"
    multi_label: bool = False
    sizes: Mapping[int, str] = field(default_factory=dict)
    #: what preparing this split found (e.g. ``{"skipped_unreadable": 3}``); empty from ``mf.info``
    report: Mapping[str, Any] = field(default_factory=dict)
    #: what one example is: "image" (channels last), "volume" or "signal" (see mnistfamily.examples)
    example: str = "image"
    sample_rate: int | None = None
    #: classes named by the published files: how many, and which file (``classes`` is empty until prepared)
    class_count: int = 0
    classes_named_by: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes) or self.class_count

    def _repr_html_(self) -> str:
        from .adapters.notebook import info_html

        return info_html(self)

    def show(self, split: str | None = None, n: int = 8, classes: Any = None, **load_options: Any) -> Any:
        """Load a split (default ``test``, else the first) and return :meth:`Dataset.show`'s picture.

        >>> mf.info("mnist/sample").show(n=4).mode  # doctest: +SKIP
        'L'
        """
        from .api import load

        if split is None:
            split = "test" if "test" in self.splits else next(iter(self.splits))
        return load(self.name, split, **load_options).show(n, classes)

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.title}"]
        if self.description:
            lines.append(f"  {self.description.strip()}")
        lines.append(f"  example      {describe(self.example, self.image_shape, self.image_dtype, self.sample_rate)}")
        shown = ", ".join(self.classes[:12]) + (", ..." if len(self.classes) > 12 else "")
        if not self.classes and self.classes_named_by:
            shown = f"named by the published {self.classes_named_by} (read when a split is loaded)"
        lines.append(f"  classes      {self.num_classes}: {shown}")
        lines.append("  splits       " + ", ".join(f"{k} ({v:,})" if v is not None else f"{k} (count unknown)"
                                                for k, v in self.splits.items()))
        if self.sizes:
            lines.append("  sizes        " + ", ".join(f"{k} ({v})" for k, v in self.sizes.items()))
        if self.multi_label:
            lines.append("  labels       multi-label: one 0/1 column per class")
        for key, value in self.report.items():
            lines.append(f"  {key:<12} {value}")
        if self.metadata_columns:
            lines.append(f"  metadata     {', '.join(self.metadata_columns)}")
        lines.append(f"  license      {self.license}")
        lines.append(f"  homepage     {self.homepage}")
        if self.notes:
            lines.append(f"  notes        {self.notes.strip()}")
        return "\n".join(lines)


class Dataset:
    """The examples, labels and per-example metadata of one split.

    ``examples`` are what the registry says one example is (``example``): images ``(N, H, W)`` or
    ``(N, H, W, C)`` (channels last), volumes ``(N, D, H, W)``, fixed-length signals ``(N, L)``,
    all one array available as ``images``; or signals of varying length, a
    :class:`~mnistfamily.examples.Signals` (``signals[i]`` is one recording, ``sample_rate`` its
    rate), for which ``images`` is an error saying so. ``labels`` is ``int64 (N,)``, 0-based and
    indexing ``classes``; ``index`` is each example's position in the published split and
    survives ``select``/``filter``; ``metadata`` maps column names to ``(N,)`` arrays.
    Arrays from the prepared cache are read-only memory maps.

    Examples
    --------
    >>> import mnistfamily as mf
    >>> ds = mf.load("mnist/sample", split="test")
    >>> image, label = ds[0]
    >>> image.shape, ds.classes[label] == str(label), ds.example
    ((28, 28), True, 'image')
    >>> ds.filter(hsf_series=4).metadata["hsf_series"].max()
    np.int32(4)
    """

    def __init__(self, images: "np.ndarray | Signals", labels: np.ndarray, *, classes: list[str] | tuple[str, ...],
                 index: np.ndarray | None = None, metadata: Mapping[str, np.ndarray] | None = None,
                 name: str = "", split: str = "", info: DatasetInfo | None = None,
                 extras: Mapping[str, np.ndarray] | None = None, example: str | None = None,
                 sample_rate: int | None = None):
        n = len(images)
        self._examples = images
        self.labels = labels
        self.classes = list(classes)
        self.index = np.arange(n, dtype=np.int64) if index is None else index
        self.metadata = dict(metadata or {})
        self.name = name
        self.split = split
        self.info = info
        #: what one example is: "image", "volume" or "signal" (the registry's ``example:``)
        self.example = example or (info.example if info is not None else infer_kind(images))
        #: samples per second of a signal dataset recorded at a known rate (AudioMNIST: 48,000); else None
        self.sample_rate = sample_rate if sample_rate is not None else (info.sample_rate if info is not None
                                                                        else None)
        #: arrays that describe the split as a whole, not per example (MNIST-1D: ``t``, templates)
        self.extras = dict(extras or {})
        self._check_kind()
        for what, array in [("labels", self.labels), ("index", self.index), *self.metadata.items()]:
            if len(array) != n:
                raise ValueError(f"{what} has {len(array)} rows but there are {n} examples")

    def _check_kind(self) -> None:
        ranks = {"image": (3, 4), "volume": (4,), "signal": (1, 2)}
        if self.example not in KINDS:
            raise ValueError(f"example must be one of {', '.join(KINDS)}, found {self.example!r}")
        if isinstance(self._examples, Signals):
            if self.example != "signal":
                raise ValueError(f"varying-length examples (Signals) are signals, not {self.example}s")
        elif np.ndim(self._examples) not in ranks[self.example] or (
                self.example == "signal" and np.ndim(self._examples) != 2):
            shapes = {"image": "(N, H, W) or (N, H, W, C)", "volume": "(N, D, H, W)",
                      "signal": "(N, L), or Signals for varying lengths"}
            raise ValueError(f"{self.example}s are an array {shapes[self.example]}; found shape "
                             f"{tuple(np.shape(self._examples))}")

    # -- the examples -------------------------------------------------------------------------------

    @property
    def examples(self) -> "np.ndarray | Signals":
        """Every example: one array ``(N, *shape)``, or a :class:`~mnistfamily.examples.Signals` when their
        lengths vary."""
        return self._examples

    @property
    def images(self) -> np.ndarray:
        """The examples as one array ``(N, *shape)``: images, volumes, fixed-length signals.

        Signals of varying length are not one array: this is then an
        :class:`~mnistfamily.errors.ExampleKindError` saying what to use instead.
        """
        if isinstance(self._examples, Signals):
            from .errors import ExampleKindError

            raise ExampleKindError(
                f"{self.name or 'this dataset'}{f' [{self.split}]' if self.split else ''} holds "
                f"{len(self):,} signals of different lengths, not one array of images: ds.signals[i] is one, "
                "ds.signals.compact() gives the flat samples and offsets, and "
                "ds.map(mnistfamily.transforms.PadOrCrop(length)) makes them one (N, length) array.")
        return self._examples

    @images.setter
    def images(self, value: "np.ndarray | Signals") -> None:
        self._examples = value

    @property
    def signals(self) -> Signals:
        """The signals, as a :class:`~mnistfamily.examples.Signals`: ``ds.signals[i]`` is example ``i``.

        For fixed-length signals ``(N, L)`` (MNIST-1D) a view of the same array; images and volumes
        are an :class:`~mnistfamily.errors.ExampleKindError`.

        >>> import mnistfamily as mf
        >>> mf.load("mnist/sample", "test").signals  # doctest: +SKIP
        Traceback (most recent call last):
        ExampleKindError: mnist/sample [test] holds images, not signals ...
        """
        examples = self._examples
        if isinstance(examples, Signals):
            return examples
        if self.example != "signal":
            from .errors import ExampleKindError

            raise ExampleKindError(f"{self.name or 'this dataset'}{f' [{self.split}]' if self.split else ''} holds "
                                   f"{self.example}s, not signals: use ds.images, an array "
                                   f"{(len(self), *examples.shape[1:])}.")
        n, length = examples.shape
        flat = np.ascontiguousarray(examples).reshape(-1)
        return Signals(flat, offsets=np.arange(n + 1, dtype=np.int64) * length)

    @property
    def layout(self) -> str:
        """The axes of one example: ``HW``, ``HWC``, ``DHW``, ``L`` (fixed-length signal) or ``signal``.

        Transforms declare the layouts they take (``transform.accepts``)."""
        if isinstance(self._examples, Signals):
            return "signal"
        return layout(self.example, self._examples.shape[1:])

    def __len__(self) -> int:
        return len(self._examples)

    def __getitem__(self, i: Any) -> Any:
        """``ds[i]`` gives ``(image, label)``; a slice, index array or mask gives a Dataset.

        The label is an ``int``, or for multi-label datasets (MedMNIST chestmnist) the row
        of 0/1 values, one per class.
        """
        if isinstance(i, (int, np.integer)):
            label = self.labels[i]
            return self._examples[i], (int(label) if np.ndim(label) == 0 else np.asarray(label))
        return self.select(i)

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        for i in range(len(self)):
            yield self[i]

    def select(self, indices_or_mask: Any) -> "Dataset":
        """A new Dataset with the given rows (positions, a slice, or a boolean mask)."""
        key = indices_or_mask
        if not isinstance(key, slice):
            key = np.asarray(key)
            if key.dtype == bool and key.shape != (len(self),):
                raise ValueError(f"a boolean mask must have shape ({len(self)},), found {key.shape}")
        return Dataset(
            self._examples[key], self.labels[key], classes=self.classes, index=self.index[key],
            metadata={k: v[key] for k, v in self.metadata.items()},
            name=self.name, split=self.split, info=self.info, extras=self.extras, example=self.example,
            sample_rate=self.sample_rate,
        )

    def map(self, transform: Any, *, batch_size: int = 8192) -> "Dataset":
        """A new Dataset whose examples are ``transform`` applied batch by batch.

        Random transforms draw per example from ``(seed, index)``, so the result does not
        depend on ``batch_size``; labels, index and metadata are kept. A transform of
        :mod:`mnistfamily.transforms` says which examples it takes (``transform.accepts``): one
        that does not take this dataset's (a rotation of volumes, an image transform of signals)
        is a :class:`~mnistfamily.errors.TransformError` before anything is computed.

        >>> from mnistfamily import transforms as T
        >>> ds.map(T.ElasticDistortion(alpha=34, sigma=4, seed=0))  # doctest: +SKIP
        """
        from .transforms import apply_in_chunks, check_accepts

        check_accepts(transform, self.layout, self._described())
        examples = apply_in_chunks(transform, self._examples, self.index, chunk_size=batch_size)
        after = getattr(transform, "sample_rate_after", None)
        rate = after(self.sample_rate) if callable(after) else self.sample_rate
        return Dataset(examples, self.labels, classes=self.classes, index=self.index, metadata=self.metadata,
                       name=self.name, split=self.split, info=self.info, extras=self.extras, example=self.example,
                       sample_rate=rate)

    def _described(self) -> str:
        """``mnist [train] (images (N, 28, 28))``: the dataset and its examples, for error messages."""
        if isinstance(self._examples, Signals):
            what = "signals of varying length"
        else:
            what = f"{self.example}s (N, {', '.join(map(str, self._examples.shape[1:]))})"
        return f"{self.name or 'dataset'}{f' [{self.split}]' if self.split else ''} ({what})"

    def to_parquet(self, dest: str, **options: Any) -> Any:
        """Write this split as Parquet shards under ``dest`` (any fsspec URL); see :func:`mnistfamily.export`.

        >>> ds.to_parquet("lake/")  # doctest: +SKIP
        """
        from .outputs import export

        return export(self, dest, **options)

    # -- the last mile into training code: thin wrappers over mnistfamily.adapters ------------------

    def batches(self, batch_size: int, *, shuffle: bool = False, seed: int | None = None, epoch: int = 0,
                drop_last: bool = False, transform: Any = None, dtype: Any = None,
                columns: Any = None, prefetch: int | None = None) -> "Batches":
        """Minibatches ``(images, labels)`` as numpy arrays (fresh and writable, one copy per batch).

        ``shuffle=True`` visits the rows in a permutation that is a pure function of
        ``(seed, epoch)``: epoch ``k`` is the same in any process. A random ``transform``
        (``mnistfamily.transforms``) draws per example from ``(its seed, epoch, index)``, so an
        example's augmentation does not depend on the batch size; epoch 0 equals ``ds.map(t)``.
        ``dtype="float32"`` scales uint8 images to ``[0, 1]`` (after the transform);
        ``columns=["writer_id", ...]`` adds a dict of those columns to each batch;
        ``prefetch`` batches are made ahead in a background thread (default: 2 with a
        transform, 0 without). ``len()`` is the number of batches.

        >>> for images, labels in ds.batches(128, shuffle=True, seed=0, epoch=0, dtype="float32"):
        ...     pass  # doctest: +SKIP
        """
        from .adapters.batches import Batches

        return Batches(self, batch_size, shuffle=shuffle, seed=seed, epoch=epoch, drop_last=drop_last,
                       transform=transform, dtype=dtype, columns=columns, prefetch=prefetch)

    def to_torch(self, transform: Any = None, target_transform: Any = None, *, dtype: Any = "float32",
                 batch_transform: Any = None) -> Any:
        """A map-style ``torch.utils.data.Dataset``: items as torchvision's ``ToTensor`` gives them.

        ``tds[i]`` is a ``(C, H, W)`` float tensor in ``[0, 1]`` (``dtype="uint8"``: as stored)
        and an ``int`` label; ``transform``/``target_transform`` work as in torchvision.
        ``tds.batch_sampler(128, shuffle=True, seed=0)`` hands whole batches to
        ``DataLoader(tds, batch_size=None, sampler=...)``. See docs/training.md.

        >>> loader = DataLoader(ds.to_torch(), batch_size=128, shuffle=True)  # doctest: +SKIP
        """
        from .adapters.torch import TorchDataset

        return TorchDataset(self, transform=transform, target_transform=target_transform, dtype=dtype,
                            batch_transform=batch_transform)

    def to_tf(self, batch_size: int = 32, *, shuffle: bool = False, seed: int | None = None, epoch: int = 0,
              drop_last: bool = False, transform: Any = None, dtype: Any = "float32", prefetch: bool = True) -> Any:
        """A ``tf.data.Dataset`` of ``(images, labels)`` batches, channels last, made from :meth:`batches`.

        Each pass (each Keras epoch) is the next epoch, reshuffled. See docs/training.md.

        >>> model.fit(ds.to_tf(128, shuffle=True, seed=0), epochs=5)  # doctest: +SKIP
        """
        from .adapters.tf import to_tf

        return to_tf(self, batch_size, shuffle=shuffle, seed=seed, epoch=epoch, drop_last=drop_last,
                     transform=transform, dtype=dtype, prefetch=prefetch)

    def to_hf(self, *, workers: int | None = None) -> Any:
        """A Hugging Face ``datasets.Dataset``: ``image`` (an ``Image`` feature), ``label`` (a ``ClassLabel``), ...

        >>> ds.to_hf().features["label"].names[:3]  # doctest: +SKIP
        ['0', '1', '2']
        """
        from .adapters.hf import to_hf

        return to_hf(self, workers=workers)

    def to_pandas(self, *, pixels: str = "array") -> Any:
        """A pandas DataFrame, one row per example: ``index``, ``label``, ``label_name``, metadata, ``image``.

        ``pixels="columns"`` gives ``pixel1`` .. ``pixel784`` instead of ``image``, like ``mnist_784``.

        >>> ds.to_pandas().columns[:3].tolist()  # doctest: +SKIP
        ['index', 'label', 'label_name']
        """
        from .adapters.frames import to_pandas

        return to_pandas(self, pixels=pixels)

    def to_polars(self, *, pixels: str = "array") -> Any:
        """A Polars DataFrame with the columns of :meth:`to_pandas` (``image`` an ``Array`` column)."""
        from .adapters.frames import to_polars

        return to_polars(self, pixels=pixels)

    def train_test_split(self, test_size: float | int, *, seed: int, stratify: bool = True) -> Any:
        """``(train, test)`` Datasets: a validation split, stratified by class, a pure function of ``seed``.

        ``test_size`` is a fraction (rounded up) or a number of rows; both parts keep ``index``.

        >>> train, val = ds.train_test_split(0.1, seed=0)  # doctest: +SKIP
        """
        from .adapters.holdout import train_test_split

        return train_test_split(self, test_size, seed=seed, stratify=stratify)

    def show(self, n: int = 8, classes: Any = None, *, scale: int = 2, seed: int | None = 0) -> Any:
        """A picture (Pillow image) of ``n`` examples per class, one row per class; Jupyter displays it.

        ``classes`` picks classes by name or number. Colour images are shown in colour, volumes by
        their middle slice, signals as small line plots.

        >>> ds.show(n=4, classes=["3", "5"]).size  # doctest: +SKIP
        """
        from .adapters.notebook import show

        return show(self, n, classes, scale=scale, seed=seed)

    def _repr_html_(self) -> str:
        from .adapters.notebook import dataset_html

        return dataset_html(self)

    def __str__(self) -> str:
        from .adapters.notebook import describe

        return describe(self)

    def column(self, name: str) -> np.ndarray:
        """A per-example column: ``label``, ``index`` or a metadata column."""
        if name == "label":
            return self.labels
        if name == "index":
            return self.index
        try:
            return self.metadata[name]
        except KeyError:
            known = ", ".join(["label", "index", *self.metadata]) or "none"
            raise KeyError(f"{self.name or 'dataset'} has no column {name!r}; columns: {known}") from None

    def filter(self, **column_equals: Any) -> "Dataset":
        """Rows where every named column equals the value (or is in the list of values).

        >>> ds.filter(hsf_series=4, label=[3, 5])  # doctest: +SKIP
        """
        mask = np.ones(len(self), dtype=bool)
        for name, wanted in column_equals.items():
            column = self.column(name)
            if column.ndim != 1:
                raise ValueError(f"{self.name or 'dataset'}: column {name!r} has one value per class "
                                 f"(shape {column.shape}); select rows with a mask instead, e.g. "
                                 f"ds.select(ds.{'labels' if name == 'label' else name}[:, k] == 1)")
            if isinstance(wanted, (list, tuple, set, frozenset, np.ndarray)):
                mask &= np.isin(column, list(wanted))
            else:
                mask &= column == wanted
        return self.select(mask)

    def __repr__(self) -> str:
        shown = self.classes if len(self.classes) <= 10 else self.classes[:10] + ["..."]
        meta = f", metadata={list(self.metadata)}" if self.metadata else ""
        examples = self._examples
        held = (f"signals={examples!r}" if isinstance(examples, Signals)
                else f"{'images' if self.example == 'image' else self.example + 's'}={examples.dtype}"
                     f"{tuple(examples.shape)}")
        return (f"Dataset(name={self.name!r}, split={self.split!r}, {held}, classes={len(self.classes)} "
                f"{shown}{meta})")
