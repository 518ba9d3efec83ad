"""The formats the family is published in: one lazy table, read as data.

Each format is one row of :data:`FORMATS`: the keys its registry splits may use (the registry
loader reads them: a format's keys are checked before any of its code exists on the machine),
the kinds of example it can produce, and dotted ``"module:function"`` paths to its code, each
in the stage it belongs to and imported only on use (as fsspec lists its implementations):

``decoder``    (prepare stage) decodes one split's verified files into a cache entry:
               ``decoder(spec, split, paths, sink, *, transpose)``, writing its arrays into the
               sink (:mod:`mnistfamily.formats.sink`: a cache entry being built, or memory);
``miniature``  (testing stage) writes a format-exact miniature of a registry entry for the
               contract test: ``miniature(spec, splits, rng) -> ({file: (bytes, payload)},
               {split: expected arrays})``;
``fuzz``       the names of its fuzz targets in ``tests/harness/fuzz`` (the harness is not
               part of the package; a test checks every name exists).

Nothing here imports a decoder or a writer: a warm load never pays for them, and the registry
stage imports only the foundation. ``requires`` names the optional packages a decoder needs
and the extra that installs them, so a missing one is reported before decoding starts.
Adding a format is one row here, its decoder, its miniature writer and its fuzz target
(``docs/registry.md``, "Adding a format").

Examples
--------
>>> from mnistfamily.registry.formats import FORMATS
>>> sorted(FORMATS["idx"].split_keys)
['images', 'index', 'labels', 'rows']
>>> FORMATS["npz"].decoder
'mnistfamily.prepare.npz_split:build_npz_split'
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = ["EXAMPLE_KINDS", "FORMATS", "SPLIT_KEY_KINDS", "Format", "split_keys"]

#: what one example of a dataset is (the registry's ``example:``): an image ``(H, W)`` or
#: ``(H, W, C)`` (channels last), a volume ``(D, H, W)``, or a 1-D signal, of fixed length
#: ``(L,)`` or of varying length (no ``image_shape``: stored as flat samples + offsets)
EXAMPLE_KINDS = ("image", "volume", "signal")
#: what a split key's value may be: a file of the dataset, ``[start, stop]`` rows, a string, an integer
SPLIT_KEY_KINDS = ("file", "rows", "str", "int")


@dataclass(frozen=True)
class Format:
    """One published format: its split keys and where its code lives (see the module docstring)."""

    name: str
    #: split key -> (kind, required); kinds are SPLIT_KEY_KINDS
    split_keys: Mapping[str, tuple[str, bool]]
    decoder: str
    miniature: str
    fuzz: tuple[str, ...]
    #: the kinds of example this format's decoder writes (EXAMPLE_KINDS)
    examples: tuple[str, ...] = ("image",)
    #: optional packages the decoder imports: (import name, what to install)
    requires: tuple[tuple[str, str], ...] = ()
    #: a split's arrays depend on every split's settings (generated sets cut from one whole)
    whole_dataset: bool = False
    description: str = ""


def _keys(**keys: tuple[str, bool]) -> Mapping[str, tuple[str, bool]]:
    return MappingProxyType(dict(keys))


FORMATS: Mapping[str, Format] = MappingProxyType({f.name: f for f in [
    Format("idx", _keys(images=("file", True), labels=("file", True), index=("file", False), rows=("rows", False)),
           decoder="mnistfamily.prepare.idx_split:build_idx_split",
           miniature="mnistfamily.testing.mini_idx:idx_contents", fuzz=("idx", "zip"),
           description="IDX files, raw, gzip or xz, alone or as zip members (MNIST, EMNIST, QMNIST, ...)"),
    # NumPy archives read with allow_pickle=False (KMNIST/K-49: key arr_0; MedMNIST: train_images, ...)
    Format("npz", _keys(images=("file", True), labels=("file", True), images_key=("str", False),
                        labels_key=("str", False)),
           decoder="mnistfamily.prepare.npz_split:build_npz_split",
           miniature="mnistfamily.testing.mini_npz:npz_contents", fuzz=("npz",), examples=("image", "volume"),
           description="NumPy .npz archives, one array per key (K-49, MedMNIST 2D and 3D)"),
    # MATLAB files inside a zip (affNIST): the members matching a pattern, in natural order
    Format("mat", _keys(archive=("file", True), members=("str", True), variable=("str", False)),
           decoder="mnistfamily.prepare.mat_split:build_mat_split",
           miniature="mnistfamily.testing.mini_mat:mat_contents", fuzz=("mat",),
           description="MATLAB v5 files in a zip (affNIST)"),
    # one PNG per image inside a tarball, one folder per class (notMNIST)
    Format("png-tar", _keys(archive=("file", True), root=("str", False)),
           decoder="mnistfamily.prepare.png_tar_split:build_png_tar_split",
           miniature="mnistfamily.testing.mini_png_tar:png_tar_contents", fuzz=("png-tar", "png"),
           description="PNG files in a tarball, a folder per class (notMNIST)"),
    # MNIST-1D's frozen pickle, read by a restricted unpickler (numpy arrays only)
    Format("mnist1d-pickle", _keys(data=("file", True), x_key=("str", True), y_key=("str", True)),
           decoder="mnistfamily.prepare.mnist1d_split:build_mnist1d_pickle_split",
           miniature="mnistfamily.testing.mini_mnist1d:mnist1d_pickle_contents", fuzz=("mnist1d",),
           examples=("signal",), description="MNIST-1D's pickle, read by a restricted unpickler"),
    # SVHN's cropped digits: one MATLAB v5 file per split, X streamed as channels-last images
    Format("svhn-mat", _keys(data=("file", True)),
           decoder="mnistfamily.prepare.svhn_split:build_svhn_split",
           miniature="mnistfamily.testing.mini_svhn_mat:svhn_contents", fuzz=("svhn-mat",),
           description="SVHN's .mat files (X 32x32x3xN, y 1..10 with 10 for the digit 0), streamed"),
    # CIFAR's binary version: one tarball for both splits; `part` picks the split's records in it
    Format("cifar-bin", _keys(archive=("file", True), layout=("str", True), part=("str", True)),
           decoder="mnistfamily.prepare.cifar_split:build_cifar_split",
           miniature="mnistfamily.testing.mini_cifar_bin:cifar_contents", fuzz=("cifar-bin",),
           description="CIFAR-10/100 binary tarballs (records of label bytes and RGB planes)"),
    # USPS as LIBSVM publishes it: bzip2'd text, decoded to the entry's image_dtype
    Format("usps-libsvm", _keys(data=("file", True)),
           decoder="mnistfamily.prepare.usps_split:build_usps_split",
           miniature="mnistfamily.testing.mini_usps_libsvm:usps_contents", fuzz=("usps-libsvm",),
           description="USPS's LIBSVM text (bzip2), as uint8 (torchvision's bytes) or float32 (the published values)"),
    # HASYv2's tarball: every image, symbols and the ten folds in one .tar.bz2; `fold` picks a fold's rows
    Format("hasy-tar", _keys(archive=("file", True), fold=("str", False)),
           decoder="mnistfamily.prepare.hasy_split:build_hasy_split",
           miniature="mnistfamily.testing.mini_hasy:hasy_contents", fuzz=("hasy",),
           description="HASYv2's tar.bz2 (PNGs placed by hasy-data-labels.csv, classes from symbols.csv, folds)"),
    # AudioMNIST: the authors' repository as a tarball, WAV recordings of varying length + speaker metadata
    Format("audiomnist", _keys(archive=("file", True), fold=("str", False)),
           decoder="mnistfamily.prepare.audiomnist_split:build_audiomnist_split",
           miniature="mnistfamily.testing.mini_audiomnist:audiomnist_contents",
           fuzz=("audiomnist-wav", "audiomnist-meta"), examples=("signal",),
           description="AudioMNIST's repository tarball (data/<SS>/<d>_<SS>_<r>.wav, audioMNIST_meta.txt)"),
    # 3D MNIST's HDF5 file (Kaggle only): X_train/y_train, X_test/y_test; `part` picks the pair
    Format("mnist3d-h5", _keys(data=("file", True), part=("str", True)),
           decoder="mnistfamily.prepare.mnist3d_split:build_mnist3d_split",
           miniature="mnistfamily.testing.mini_mnist3d:mnist3d_contents", fuzz=("mnist3d",),
           examples=("volume",), requires=(("h5py", "mnistfamily[hdf5]"),),
           description="3D MNIST's full_dataset_vectors.h5 (rows of 4,096 voxels), read with h5py"),
    # MNIST-M by its published recipe: MNIST's IDX files blended with BSDS500 backgrounds, from a seed
    Format("mnist-m-recipe", _keys(images=("file", True), labels=("file", True), backgrounds=("file", True),
                                   seed=("int", True), root=("str", False)),
           decoder="mnistfamily.prepare.mnistm_split:build_mnistm_split",
           miniature="mnistfamily.testing.mini_mnistm:mnistm_contents", fuzz=("bsds500",),
           description="MNIST-M made by the recipe: MNIST digits blended with BSR_bsds500.tgz's photos"),
    # Ganin's released MNIST-M: a tarball of numbered PNGs and a labels file per split
    Format("mnist-m-release", _keys(archive=("file", True), part=("str", True)),
           decoder="mnistfamily.prepare.mnistm_release_split:build_mnistm_release_split",
           miniature="mnistfamily.testing.mini_mnistm_release:release_contents", fuzz=("mnist-m-release",),
           description="Ganin's mnist_m.tar.gz: 32x32 RGB PNGs named by number, labels files"),
    # generated by our implementation of a published procedure: no files, a seed
    Format("mnist1d-generated", _keys(seed=("int", True), first=("int", False)),
           decoder="mnistfamily.prepare.mnist1d_split:build_mnist1d_generated_split",
           miniature="mnistfamily.testing.mini_mnist1d:mnist1d_generated_contents", fuzz=(),
           examples=("signal",), whole_dataset=True,
           description="MNIST-1D generated from a seed by our implementation (no files to fuzz)"),
]})


def split_keys(format_name: str) -> Mapping[str, tuple[str, bool]]:
    """The split keys of ``format_name`` (empty for an unknown format: the loader reports it)."""
    row = FORMATS.get(format_name)
    return row.split_keys if row is not None else MappingProxyType({})
