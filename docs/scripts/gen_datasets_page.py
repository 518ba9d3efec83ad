"""Generate docs/datasets.md from the built-in registry.yaml.

The page lists every dataset (name, title, splits with their sizes, number of classes,
what one example is, license) and, per dataset, every published file with its size, which
checksums the registry knows and where the file is fetched from.

Usage::

    python docs/scripts/gen_datasets_page.py            # (re)write docs/datasets.md
    python docs/scripts/gen_datasets_page.py --check    # exit 1 if docs/datasets.md is stale

Only the built-in registry is read (never ``MNISTFAMILY_REGISTRY``), so the page is the
same on every machine.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from mnistfamily.examples import describe
from mnistfamily.registry import DatasetSpec, FileSpec, Registry, builtin_registry_path

DOCS = Path(__file__).resolve().parent.parent
PAGE = DOCS / "datasets.md"
COMMAND = "python docs/scripts/gen_datasets_page.py"
#: families described on another family's page
SHARED_PAGES = {"dig-mnist": "kannada-mnist", "medmnist3d": "medmnist", "cifar10": "cifar", "cifar100": "cifar"}


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _count(n: int | None) -> str:
    return "unknown" if n is None else f"{n:,}"


def _dataset_page(spec: DatasetSpec) -> str | None:
    """The hand-written page of the dataset's family, relative to docs/, if there is one."""
    page = Path("datasets") / f"{SHARED_PAGES.get(spec.family, spec.family)}.md"
    return page.as_posix() if (DOCS / page).is_file() else None


def _how_verified(spec: DatasetSpec, file: FileSpec) -> str:
    if file.archive and not file.verifiable:
        archive = spec.files.get(file.archive)
        return "through its archive" if archive is not None and archive.verifiable else "**unverified**"
    if file.sha256:
        published = "sha256"
    elif file.md5:
        published = "md5"
    else:
        published = ""
    if published and file.payload_sha256:
        return f"{published}, or content sha256"
    if published:
        return published
    if file.payload_sha256:
        return "content sha256"
    return "**unverified**"


def _known(value: object) -> str:
    return "yes" if value else "unknown"


def _sources(spec: DatasetSpec) -> str:
    if spec.packaged:
        return "shipped inside the package (`mnistfamily/data/`); no download"
    bases = [f"mirror {m}" for m in spec.mirrors]
    if spec.base_url:
        bases.append(f"canonical {spec.base_url}")
    urls = {f.url for f in spec.files.values() if f.url}
    if urls:
        bases.append("per-file URLs for some files")
    return ", then ".join(bases) if bases else "no location in the registry"


def render(registry: Registry) -> str:
    """The Markdown text of the page."""
    specs = list(registry)
    lines = [
        "# Datasets",
        "",
        f"<!-- GENERATED from registry.yaml by docs/scripts/gen_datasets_page.py: do not edit by hand. "
        f"Regenerate with `{COMMAND}`; `{COMMAND} --check` fails when this page is stale. -->",
        "",
        f"*Generated from `registry.yaml`. Regenerate with `{COMMAND}`.*",
        "",
        f"{len(specs)} datasets. Each one loads with `mf.load(name, split)`; `mnistfamily info NAME` prints the",
        "same facts with full checksums and URLs. How files are verified: [cache-and-offline.md](cache-and-offline.md).",
        "",
        "| name | title | splits (examples) | classes | example | license |",
        "|---|---|---|---|---|---|",
    ]
    for spec in specs:
        splits = ", ".join(f"{s.name} {_count(s.num_examples)}" for s in spec.splits.values())
        shape = "×".join(str(d) for d in spec.image_shape) or "varying length"
        if spec.image_dtype != "uint8":
            shape += f" {spec.image_dtype}"
        kind = {"image": "RGB image " if len(spec.image_shape) == 3 and spec.image_shape[2] == 3 else "image ",
                "volume": "volume ", "signal": "signal "}[spec.example]
        page = _dataset_page(spec)
        name = f"[`{spec.name}`]({page})" if page else f"`{spec.name}`"
        lines.append(f"| {name} | {_cell(spec.title)} | {_cell(splits)} | {spec.num_classes} | {kind}{shape} "
                     f"| {_cell(spec.license)} |")
    lines += [
        "",
        "In the file tables, *verified by* says what a copy is checked against: the published file's",
        "sha256 (or md5 where no sha256 is known) and, where the registry has it, the sha256 of the",
        "decompressed content, which also accepts a copy found uncompressed or recompressed.",
        "`unknown` means no source confirms the value; it is never guessed. A file *in* an archive is",
        "read out of it; without a checksum of its own it is trusted *through its archive*, which is",
        "then downloaded and verified whole. Mirrors named in `MNISTFAMILY_MIRROR` are tried before",
        "the locations listed here.",
    ]
    for spec in specs:
        lines += ["", f"## `{spec.name}`", ""]
        page = _dataset_page(spec)
        about = _cell(spec.description or spec.title)
        lines += [f"{about} Details: [{page}]({page})." if page else about, ""]
        lines.append(f"- example: {describe(spec.example, spec.image_shape, spec.image_dtype, spec.sample_rate)}")
        if spec.classes_named_by:
            lines.append(f"- classes: {spec.num_classes}, named by the published `{spec.classes_named_by}` "
                         "(read when a split is loaded)")
        else:
            lines.append(f"- classes: {', '.join(f'`{c}`' for c in spec.classes)}")
        if spec.label_columns:
            lines.append(f"- metadata columns: {', '.join(f'`{c}`' for c in spec.label_columns)} "
                         f"(labels from `{spec.label_column}`)")
        if spec.label_offset:
            lines.append(f"- labels are published from {spec.label_offset}; they load 0-based")
        if spec.orientation != "upright":
            lines.append(f"- images are published {spec.orientation}; they load upright "
                         "(`orientation=\"raw\"` keeps them as published)")
        for split in spec.splits.values():
            rows = f", rows {split.rows[0]:,}–{split.rows[1] - 1:,} of its files" if split.rows else ""
            lines.append(f"- split `{split.name}`: {_count(split.num_examples)} examples{rows}")
        if not spec.files:
            lines += ["- no files: the data is generated", ""]
            continue
        lines += [
            f"- files from: {_sources(spec)}",
            "",
            "| file | bytes | md5 | sha256 | content bytes | content sha256 | verified by |",
            "|---|---|---|---|---|---|---|",
        ]
        for file in spec.files.values():
            name = f"`{file.name}`" + (f" (in `{file.archive}`)" if file.archive else "")
            lines.append(
                f"| {name} | {_count(file.size)} | {_known(file.md5)} | {_known(file.sha256)} "
                f"| {_count(file.payload_size)} | {_known(file.payload_sha256)} | {_how_verified(spec, file)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/datasets.md from registry.yaml.")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the page on disk differs from what would be generated")
    parser.add_argument("--output", type=Path, default=PAGE, help=f"page to write or check (default {PAGE})")
    args = parser.parse_args(argv)

    text = render(Registry.from_files([builtin_registry_path()]))
    if args.check:
        try:
            current = args.output.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"{args.output} does not exist; run `{COMMAND}`", file=sys.stderr)
            return 1
        if current != text:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), "on disk", "generated",
                                        lineterm="", n=1)
            print("\n".join(list(diff)[:40]), file=sys.stderr)
            print(f"{args.output} is stale: run `{COMMAND}`", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
