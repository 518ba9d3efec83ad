"""Run MNIST-C's own code on real MNIST test digits: the reference outputs our corruptions are checked against.

    python benchmarks/mnist_c_reference.py --reference-code ~/src/mnist-c/corruptions.py --out /tmp/mnist-c-ref
    python benchmarks/mnist_c_compare.py --reference /tmp/mnist-c-ref        # ours against it

The authors' code (google-research/mnist-c ``corruptions.py``, commit bba57e4) is not part of
this repository: pass the path of a copy you have (``--reference-code``). It runs in a
virtualenv with the library versions of its time, which this script creates on first use
(``--venv DIR``, default ``~/.cache/mnistfamily-bench/mnist-c-venv``; or ``--python`` an
interpreter that has them):

    numpy 1.23.5, scipy 1.10.1, scikit-image 0.19.3, opencv-python-headless 4.8.1.78,
    Pillow 9.5.0, Wand 0.6.13 over ImageMagick 6.9 (Debian: apt-get install libmagickwand-dev)

(numpy 1.23 still has ``np.int`` and ``np.float_``, which the reference uses; Python 3.11 has
wheels for all of them.) Each corruption runs on each digit as a PIL image, as MNIST-C did,
after ``np.random.seed(seed + position)``; the random parameters it draws (an angle, a sign, a
row) are replayed from the same seed, so our corruptions can be run with the very same ones.
(``impulse_noise`` alone is not reproducible: scikit-image's ``random_noise`` draws from a fresh
``np.random.default_rng()``.)
The reference module reads a file ``pessimal_noise_matrix`` from the working directory when it
is imported; it runs beside the code when that file is there, else beside a stand-in (that
matrix only serves ``pessimal_noise``, which is not one of the fifteen).

Written to ``--out``:

* ``reference.npz``: ``clean`` (N, 28, 28) uint8 digits, ``index`` their positions in MNIST's
  test split, one float32 (N, 28, 28) array per corruption exactly as the reference returns it
  (0-255), and ``<corruption>.<parameter>`` (N,) for the parameters it drew;
* ``reference.json``: versions, seed, timings and per-corruption statistics (:func:`statistics`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PINNED = ["numpy==1.23.5", "scipy==1.10.1", "scikit-image==0.19.3", "opencv-python-headless==4.8.1.78",
          "Pillow==9.5.0", "Wand==0.6.13", "setuptools<70"]

#: MNIST-C's fifteen corruptions, in its order
CORRUPTIONS = ("shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate", "brightness",
               "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges")

#: how each corruption's randomness is replayed after np.random.seed: the reference's first draws
#: (the order of its calls in corruptions.py), named as mnistfamily's transforms name them
REPLAY = {
    "motion_blur": lambda r: {"degrees": r.uniform(-45, 45)},
    "shear": lambda r: {"sign": float(r.choice([-1, 1], 1)[0])},
    "rotate": lambda r: {"sign": float(r.choice([-1, 1], 1)[0])},
    "translate": lambda r: dict(zip(("dx", "dy"), map(float, r.choice([-1, 1], 2)))),
    "dotted_line": lambda r: dict(zip(("r0", "r1"), map(float, r.randint(low=0, high=27, size=2)))),
    "zigzag": lambda r: {"r0": float(r.randint(low=0, high=27)), "slope": float(r.randint(low=-5, high=5))},
}


def statistics(clean: np.ndarray, corrupted: np.ndarray) -> dict[str, float]:
    """Per-image statistics of a corruption, averaged over the images (numpy only: both venvs use it).

    Images are taken as uint8 (the reference's float output rounded), then per image: Pearson
    correlation with the clean digit (``corr``; images of one value have none and are left
    out, ``flat`` counts them), standard deviation (``std``, grey levels) and the fraction of
    pixels that differ from the clean digit (``changed``); each averaged, with its standard
    deviation across images (``*_sd``).
    """
    y = np.clip(np.rint(np.asarray(corrupted, np.float64)), 0, 255).reshape(len(clean), -1)
    x = np.asarray(clean, np.float64).reshape(len(clean), -1)
    xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    defined = denominator > 0
    corr = (xc * yc).sum(axis=1)[defined] / denominator[defined]
    std = y.std(axis=1)
    changed = (y != x).mean(axis=1)
    return {"images": int(len(x)), "corr": float(corr.mean()), "corr_sd": float(corr.std()),
            "std": float(std.mean()), "std_sd": float(std.std()), "changed": float(changed.mean()),
            "changed_sd": float(changed.std()), "flat": int((~defined).sum())}


def read_test_digits(path: Path, positions: np.ndarray) -> np.ndarray:
    """MNIST test images at ``positions`` from ``t10k-images-idx3-ubyte.gz`` (header checked)."""
    raw = gzip.open(path).read()
    magic, count, rows, cols = np.frombuffer(raw[:16], ">u4")
    if magic != 0x803 or (rows, cols) != (28, 28) or len(raw) != 16 + count * 784:
        sys.exit(f"mnist_c_reference: {path} is not MNIST's t10k images file (magic {magic:#x}, {count} x {rows} x "
                 f"{cols}, {len(raw)} bytes); pass --images the published t10k-images-idx3-ubyte.gz")
    if positions.max() >= count:
        sys.exit(f"mnist_c_reference: asked for test position {positions.max()}, the file has {count} images")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(count, 28, 28)[positions].copy()


# ----------------------------------------------------------------------------------------------
# the child: runs inside the pinned virtualenv


def child(args: argparse.Namespace) -> None:
    import importlib.util
    import pickle

    code = Path(args.reference_code).resolve()
    positions = np.arange(args.start, args.start + args.count)
    clean = read_test_digits(Path(args.images), positions)
    beside = code.parent / "pessimal_noise_matrix"
    with tempfile.TemporaryDirectory() as scratch:
        if beside.is_file():
            os.chdir(code.parent)
            pessimal = "the reference's own"
        else:
            with open(Path(scratch) / "pessimal_noise_matrix", "wb") as f:
                pickle.dump(None, f)  # read at import, used only by pessimal_noise (not one of the fifteen)
            os.chdir(scratch)
            pessimal = "stand-in (None): only pessimal_noise uses it"
        spec = importlib.util.spec_from_file_location("mnist_c_corruptions", code)
        if spec is None or spec.loader is None:
            sys.exit(f"mnist_c_reference: cannot import {code} as a Python module")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ImportError as error:  # Wand raises ImportError when it finds no MagickWand library
            sys.exit(f"mnist_c_reference: importing {code} failed: {error}. The reference needs numpy, scipy, "
                     "scikit-image, opencv, Pillow and Wand over ImageMagick 6 (Debian: apt-get install "
                     f"libmagickwand-dev); this interpreter is {sys.executable}")
    from PIL import Image

    arrays: dict[str, np.ndarray] = {"clean": clean, "index": positions}
    report: dict = {"reference_code": str(code), "pessimal_noise_matrix": pessimal, "seed": args.seed,
                    "seeding": "np.random.seed(seed + test position) before each corruption of each digit",
                    "versions": _versions(), "corruptions": {}}
    for name in CORRUPTIONS:
        function = getattr(module, name)
        outputs, drawn = [], []
        start = time.perf_counter()
        for position, digit in zip(positions, clean):
            np.random.seed(args.seed + int(position))
            if name in REPLAY:
                drawn.append(REPLAY[name](np.random))
                np.random.seed(args.seed + int(position))
            outputs.append(np.asarray(function(Image.fromarray(digit, mode="L")), np.float32))
        seconds = time.perf_counter() - start
        arrays[name] = np.stack(outputs)
        for key in (drawn[0] if drawn else {}):
            arrays[f"{name}.{key}"] = np.array([d[key] for d in drawn], np.float64)
        report["corruptions"][name] = {"seconds": seconds, "statistics": statistics(clean, arrays[name])}
        print(f"  {name:14} {seconds:6.1f} s", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "reference.npz", **arrays)
    (out / "reference.json").write_text(json.dumps(report, indent=1))


def _versions() -> dict[str, str]:
    import cv2
    import PIL
    import scipy
    import skimage
    from wand.version import MAGICK_VERSION
    from wand.version import VERSION as WAND_VERSION

    return {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-image": skimage.__version__, "opencv": cv2.__version__, "Pillow": PIL.__version__,
            "Wand": WAND_VERSION, "ImageMagick": MAGICK_VERSION}


# ----------------------------------------------------------------------------------------------
# the parent: finds or makes the virtualenv, runs the child


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if python.exists():
        return python
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"mnist_c_reference: the pinned numpy 1.23.5 has wheels up to Python 3.11, this is "
                 f"{sys.version.split()[0]}; run this script with python3.11, or make a virtualenv with "
                 f"python3.11 -m venv DIR && DIR/bin/pip install {' '.join(PINNED)} and pass --python DIR/bin/python")
    print(f"mnist_c_reference: creating {venv} with {', '.join(PINNED)}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PINNED], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-code", required=True, help="the authors' corruptions.py (google-research/mnist-c)")
    parser.add_argument("--out", required=True, help="folder for reference.npz and reference.json")
    parser.add_argument("--images", help="MNIST's t10k-images-idx3-ubyte.gz (default: the realdata folder's)")
    parser.add_argument("--start", type=int, default=0, help="first test position (default 0)")
    parser.add_argument("--count", type=int, default=1000, help="digits (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="np.random.seed(seed + position) per digit (default 0)")
    parser.add_argument("--venv", default=str(Path.home() / ".cache" / "mnistfamily-bench" / "mnist-c-venv"),
                        help="virtualenv with the pinned versions (created if missing)")
    parser.add_argument("--python", help="an interpreter that already has the pinned versions (instead of --venv)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not Path(args.reference_code).is_file():
        sys.exit(f"mnist_c_reference: {args.reference_code} does not exist; pass --reference-code the authors' "
                 "corruptions.py (a checkout of google-research/mnist-c at commit bba57e4)")
    if args.images is None:
        root = Path(os.environ.get("MNISTFAMILY_REALDATA", Path(__file__).resolve().parents[2] / "shared" / "realdata"))
        args.images = str(root / "mnist" / "t10k-images-idx3-ubyte.gz")
    if not Path(args.images).is_file():
        sys.exit(f"mnist_c_reference: {args.images} is missing; pass --images MNIST's t10k-images-idx3-ubyte.gz "
                 "or set MNISTFAMILY_REALDATA")
    if args.child:
        child(args)
        return
    python = Path(args.python) if args.python else ensure_venv(Path(args.venv))
    command = [str(python), str(Path(__file__).resolve()), "--child", "--reference-code", args.reference_code,
               "--out", args.out, "--images", args.images, "--start", str(args.start), "--count", str(args.count),
               "--seed", str(args.seed)]
    print(f"mnist_c_reference: {args.count} digits from test position {args.start}, reference {args.reference_code}",
          file=sys.stderr)
    if subprocess.run(command).returncode:
        sys.exit(f"mnist_c_reference: the reference run under {python} failed (its message is above)")
    print(f"mnist_c_reference: wrote {Path(args.out) / 'reference.npz'} and reference.json", file=sys.stderr)


if __name__ == "__main__":
    main()
