"""Print the registry entries of MedMNIST: 2D, 12 flags x 4 image sizes = 48 datasets; 3D, 6 flags x 2 sizes = 12.

The 2D table below was typed from ``shared/reference/dataset-facts.md`` section 11, the 3D one
from ``shared/reference/dataset-facts-2.md`` section 16; both cite MedMNIST's
``medmnist/info.py`` (v3.0.2) and README: md5 per file and size, split counts, tasks,
channels and label names. File sizes and sha256 are not published by any source we have, so
they stay ``unknown`` (md5 is enough to verify a download). 3D images are volumes
``(D, H, W)`` of 28 or 64 voxels a side, without a channel axis (``example: volume``).

Usage::

    python docs/scripts/gen_medmnist_registry.py            # a complete registry document
    python docs/scripts/gen_medmnist_registry.py --entries  # only the entries, to append under datasets:

Names: ``medmnist/<flag>`` is the 28x28 release, ``medmnist/<flag>-<size>`` the larger
ones (MedMNIST+); ``medmnist3d/<flag>`` and ``medmnist3d/<flag>-64`` the volumes. Every entry
carries the same ``sizes`` map, so ``mf.load("medmnist/pathmnist", size=64)`` and
``mf.load("medmnist3d/organmnist3d", size=64)`` resolve.
"""

from __future__ import annotations

import argparse
import json
from typing import NamedTuple

RECORD = "https://zenodo.org/records/10519652/files/"
HOMEPAGE = "https://github.com/MedMNIST/MedMNIST"
SIZES = (28, 64, 128, 224)
CITATION = """\
J. Yang, R. Shi, D. Wei, Z. Liu, L. Zhao, B. Ke, H. Pfister and B. Ni. MedMNIST v2 - A
large-scale lightweight benchmark for 2D and 3D biomedical image classification. Scientific
Data 10, 41, 2023. doi:10.1038/s41597-022-01721-8.
J. Yang, R. Shi and B. Ni. MedMNIST Classification Decathlon: A Lightweight AutoML Benchmark
for Medical Image Analysis. IEEE ISBI 2021, pp. 191-195.
Please also cite the source dataset of the flag (listed in MedMNIST's README)."""

ORGAN = ["bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver",
         "lung-left", "lung-right", "pancreas", "spleen"]
ORGAN_NOTE = "MedMNIST v2.2.4 removed a few blank images; the counts are those of the current files."


class Flag(NamedTuple):
    flag: str
    title: str
    modality: str
    task: str
    channels: int
    classes: list[str]
    counts: tuple[int, int, int]  # train, val, test
    md5: tuple[str, ...]  # one per size: 28, 64, 128, 224 (3D: 28, 64)
    license: str = "CC BY 4.0"
    note: str = ""

    @property
    def multi_label(self) -> bool:
        return self.task.startswith("multi-label")


FLAGS = [
    Flag("pathmnist", "PathMNIST", "colon pathology (H&E-stained tissue patches)", "multi-class", 3,
         ["adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
          "cancer-associated stroma", "colorectal adenocarcinoma epithelium"],
         (89996, 10004, 7180),
         ("a8b06965200029087d5bd730944a56c1", "55aa9c1e0525abe5a6b9d8343a507616",
          "ac42d08fb904d92c244187169d1fd1d9", "2c51a510bcdc9cf8ddb2af93af1eadec")),
    Flag("chestmnist", "ChestMNIST", "chest X-ray", "multi-label (14), binary", 1,
         ["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
          "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"],
         (78468, 11219, 22433),
         ("02c8a6516a18b556561a56cbdd36c4a8", "9de6cd0b934ebb5b7426cfba5efbae16",
          "db107e5590b27930b62dbaf558aebee3", "45bd33e6f06c3e8cdb481c74a89152aa"),
         note="Multi-label: labels are (N, 14) columns of 0/1, one per finding, in the order of classes."),
    Flag("dermamnist", "DermaMNIST", "dermatoscopy (pigmented skin lesions)", "multi-class", 3,
         ["actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
          "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
          "vascular lesions"],
         (7007, 1003, 2005),
         ("0744692d530f8e62ec473284d019b0c7", "b70a2f5635c6199aeaa28c31d7202e1f",
          "2defd784463fa5243564e855ed717de1", "8974907d8e169bef5f5b96bc506ae45d"),
         license="CC BY-NC 4.0 (non-commercial; DermaMNIST only, since MedMNIST v2.2.3)"),
    Flag("octmnist", "OCTMNIST", "retinal optical coherence tomography", "multi-class", 1,
         ["choroidal neovascularization", "diabetic macular edema", "drusen", "normal"],
         (97477, 10832, 1000),
         ("c68d92d5b585d8d81f7112f81e2d0842", "e229e9440236b774d9f0dfef9d07bdaf",
          "0a97e76651ace45c5d943ee3f65b63ae", "abc493b6d529d5de7569faaef2773ba3")),
    Flag("pneumoniamnist", "PneumoniaMNIST", "paediatric chest X-ray", "binary", 1,
         ["normal", "pneumonia"],
         (4708, 524, 624),
         ("28209eda62fecd6e6a2d98b1501bb15f", "8f4eceb4ccffa70c672198ea285246c6",
          "05b46931834c231683c68f40c47b2971", "d6a3c71de1b945ea11211b03746c1fe1")),
    Flag("retinamnist", "RetinaMNIST", "retinal fundus photography", "ordinal regression", 3,
         ["0", "1", "2", "3", "4"],
         (1080, 120, 400),
         ("bd4c0672f1bba3e3a89f0e4e876791e4", "afda852cc34dcda56f86ad2b2457dbcc",
          "e48e916a24454daf90583d4e6efb1a18", "eae7e3b6f3fcbda4ae613ebdcbe35348"),
         note="Ordinal: classes are diabetic retinopathy grades 0-4, in order."),
    Flag("breastmnist", "BreastMNIST", "breast ultrasound", "binary", 1,
         ["malignant", "normal, benign"],
         (546, 78, 156),
         ("750601b1f35ba3300ea97c75c52ff8f6", "742edef2a1fd1524b2efff4bd7ba9364",
          "363e4b3f8d712e9b5de15470a2aaadf1", "b56378a6eefa9fed602bb16d192d4c8b")),
    Flag("bloodmnist", "BloodMNIST", "blood cell microscopy", "multi-class", 3,
         ["basophil", "eosinophil", "erythroblast",
          "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)", "lymphocyte", "monocyte",
          "neutrophil", "platelet"],
         (11959, 1712, 3421),
         ("7053d0359d879ad8a5505303e11de1dc", "2b94928a2ae4916078ca51e05b6b800b",
          "adace1e0ed228fccda1f39692059dd4c", "b718ff6835fcbdb22ba9eacccd7b2601")),
    Flag("tissuemnist", "TissueMNIST", "kidney cortex microscopy", "multi-class", 1,
         ["Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule", "Glomerular endothelial cells",
          "Interstitial endothelial cells", "Leukocytes", "Podocytes", "Proximal Tubule Segments",
          "Thick Ascending Limb"],
         (165466, 23640, 47280),
         ("ebe78ee8b05294063de985d821c1c34b", "123ece2eba09d0aa5d698fda57103344",
          "61b955355d7425a89687b06cca3ce0c2", "b077128c4a949f0a4eb01517f9037b9c")),
    Flag("organamnist", "OrganAMNIST", "abdominal CT, axial view", "multi-class", 1, ORGAN,
         (34561, 6491, 17778),
         ("68e3f8846a6bd62f0c9bf841c0d9eacc", "2dcccc29b88e6da5a01161ef20cda288",
          "eeae80d0a227a8d099027e1b3cfd3b60", "50747347e05c87dd3aaf92c49f9f3170"), note=ORGAN_NOTE),
    Flag("organcmnist", "OrganCMNIST", "abdominal CT, coronal view", "multi-class", 1, ORGAN,
         (12975, 2392, 8216),
         ("b9ceb9546e10131b32923c5bbeaea2b1", "3ce34a8724ea6f548e6db4744d03b6a9",
          "773c1f009daa3fe5d9a2a201b2a7ed94", "050f5e875dc056f6768abf94ec9995d1"), note=ORGAN_NOTE),
    Flag("organsmnist", "OrganSMNIST", "abdominal CT, sagittal view", "multi-class", 1, ORGAN,
         (13932, 2452, 8827),
         ("9ab87b696fb54e2a387ebe992d6ed5f1", "53a6d115339d874c25e309a994ff46d3",
          "ded0c5fa01a95dc4978b956f613e9b8e", "b354719e553fbbb2513d5533f52a4cb1"), note=ORGAN_NOTE),
]


#: MedMNIST 3D: volumes of 28 or 64 voxels a side (MedMNIST3D.available_sizes), one .npz per flag and size
SIZES_3D = (28, 64)
#: OrganMNIST3D's label order differs from the 2D Organ{A,C,S}MNIST's (facts-2, section 16)
ORGAN_3D = ["liver", "kidney-right", "kidney-left", "femur-right", "femur-left", "bladder", "heart", "lung-right",
            "lung-left", "spleen", "pancreas"]
FLAGS_3D = [
    Flag("organmnist3d", "OrganMNIST3D", "abdominal CT", "multi-class", 1, ORGAN_3D, (971, 161, 610),
         ("a0c5a1ff56af4f155c46d46fbb45a2fe", "58a2205adf14a9d0a189cb06dc78bf10"),
         note="Label order differs from the 2D Organ{A,C,S}MNIST (liver is 0 here, bladder 0 there). "
              "MedMNIST v2.2.4 removed a blank volume (train 972 -> 971)."),
    Flag("nodulemnist3d", "NoduleMNIST3D", "chest CT (LIDC-IDRI lung nodules)", "binary", 1,
         ["benign", "malignant"], (1158, 165, 310),
         ("8755a7e9e05a4d9ce80a24c3e7a256f3", "c47c5b7d457bf6332200d2ea6d64ecd8"),
         note="Versions before v2.1.0 had 526 test volumes; their file fails the current md5."),
    Flag("adrenalmnist3d", "AdrenalMNIST3D", "abdominal CT (adrenal glands)", "binary", 1,
         ["normal", "hyperplasia"], (1188, 98, 298),
         ("bbd3c5a5576322bc4cdfea780653b1ce", "17721accfe9fb005146a47d33bc54b2f")),
    Flag("fracturemnist3d", "FractureMNIST3D", "chest CT (RibFrac rib fractures)", "multi-class", 1,
         ["buckle rib fracture", "nondisplaced rib fracture", "displaced rib fracture"], (1027, 103, 240),
         ("6aa7b0143a6b42da40027a9dda61302f", "f01d7e6316aedf4210da0da5b7437b42")),
    Flag("vesselmnist3d", "VesselMNIST3D", "brain MRA (IntrA vessel segments)", "binary", 1,
         ["vessel", "aneurysm"], (1335, 191, 382),
         ("b41fd4f7e7e2feedddb201585ecafa1b", "6bb274a8846e1097066dcd64e2c4520f"),
         note="MedMNIST v2.2.4 removed a blank volume (val 192 -> 191)."),
    Flag("synapsemnist3d", "SynapseMNIST3D", "electron microscopy (rat brain synapses)", "binary", 1,
         ["inhibitory synapse", "excitatory synapse"], (1230, 177, 352),
         ("1235b78a3cd6280881dd7850a78eadb6", "43bd14ebf3af9d3dd072446fedc14d5e")),
]


def dataset_name(flag: str, size: int) -> str:
    family = "medmnist3d" if flag.endswith("3d") else "medmnist"
    return f"{family}/{flag}" if size == 28 else f"{family}/{flag}-{size}"


def file_name(flag: str, size: int) -> str:
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def entry(f: Flag, size: int, *, with_sizes: bool = True) -> str:
    """The registry entry of one flag at one size, indented under ``datasets:``."""
    name, file = dataset_name(f.flag, size), file_name(f.flag, size)
    volume = f.flag.endswith("3d")
    colour = "grey-level 3D" if volume else "RGB" if f.channels == 3 else "grey-level"
    shape = (f"[{size}, {size}, {size}]" if volume else f"[{size}, {size}, 3]" if f.channels == 3
             else f"[{size}, {size}]")
    total = sum(f.counts)
    train, val, test = f.counts
    sizes = ", ".join(f"{s}: {dataset_name(f.flag, s)}" for s in (SIZES_3D if volume else SIZES))
    dimensions = f"{size}x{size}x{size}" if volume else f"{size}x{size}"
    kind = "volumes" if volume else "images"
    notes = f"Task: {f.task}, {len(f.classes)} {'labels' if f.multi_label else 'classes'}. "
    notes += f.note + " " if f.note else ""
    notes += ("One .npz holds all three splits (keys train_images, train_labels, val_images, ...). "
              f"The {'voxel' if volume else 'image'} dtype is not stated by the source; uint8 is required and a "
              "file that differs fails with a clear error. Not intended for clinical use.")
    lines = [
        f"  {name}:",
        f"    title: {_q(f'{f.title} {dimensions} (MedMNIST v2)')}",
        "    description: >-",
        f"      {f.title} at {dimensions}: {total:,} {colour} {kind} of {f.modality}, "
        f"{f.task} classification.",
        f"    homepage: {HOMEPAGE}",
        f"    license: {_q(f.license)}",
        "    citation: |",
        *[f"      {line}" for line in CITATION.splitlines()],
        f"    notes: {_q(notes)}",
        "    format: npz",
        f"    image_shape: {shape}",
        *(["    example: volume"] if volume else []),
        f"    classes: [{', '.join(_q(c) for c in f.classes)}]",
    ]
    if f.multi_label:
        lines.append("    multi_label: true")
    if with_sizes:
        lines.append(f"    sizes: {{{sizes}}}")
    lines += [
        f"    base_url: {RECORD}",
        "    files:",
        f"      {file}:",
        "        size: unknown",
        f"        md5: {f.md5[(SIZES_3D if volume else SIZES).index(size)]}",
        "        sha256: unknown",
        f"        url: {RECORD}{file}?download=1",
        "    splits:",
    ]
    for split, count in zip(("train", "val", "test"), (train, val, test)):
        lines.append(f"      {split}: {{num_examples: {count}, images: {file}, labels: {file}, "
                     f"images_key: {split}_images, labels_key: {split}_labels}}")
    return "\n".join(lines)


def entries(*, with_sizes: bool = True, three_d: bool = False) -> str:
    """Every MedMNIST 2D entry (``three_d``: 3D entry), separated by blank lines as in registry.yaml."""
    flags, sizes = (FLAGS_3D, SIZES_3D) if three_d else (FLAGS, SIZES)
    return "\n\n".join(entry(f, size, with_sizes=with_sizes) for f in flags for size in sizes) + "\n"


def registry_text(*, with_sizes: bool = True, three_d: bool = False) -> str:
    """A complete registry document holding every MedMNIST 2D entry (``three_d``: 3D entry)."""
    return "version: 1\ndatasets:\n\n" + entries(with_sizes=with_sizes, three_d=three_d)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", action="store_true", help="print only the entries (to append under datasets:)")
    parser.add_argument("--3d", dest="three_d", action="store_true", help="the MedMNIST 3D entries (volumes)")
    parser.add_argument("--no-sizes", action="store_true",
                        help="leave out the sizes: maps (for a registry loader that cannot read integer keys)")
    args = parser.parse_args()
    with_sizes = not args.no_sizes
    print(entries(with_sizes=with_sizes, three_d=args.three_d) if args.entries
          else registry_text(with_sizes=with_sizes, three_d=args.three_d), end="")


if __name__ == "__main__":
    main()
