"""The house rules of docs/architecture.md, checked on the source.

Every ``import`` of every module of the package -- module-level ones, the lazy ones inside
functions and those for type checkers alike, since each is still a dependency -- must go from a stage to a stage
the table below lets it import. The few exceptions are declared here with their reason, and
may only be lazy imports. The module map of docs/architecture.md must name every module.

The imports are read with ``ast`` (nothing is imported), so a wrong import fails here even if
no test runs the function that holds it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mnistfamily"

#: the stages, in the order of docs/architecture.md's diagram: (stage, its modules, the stages it may import).
#: A module belongs to the stage whose module prefix is the longest match of its dotted name.
STAGES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("foundation", ("_version", "errors", "config", "log", "lazy", "safe_write", "redaction", "examples"), ()),
    ("registry", ("registry",), ("foundation",)),
    ("formats", ("formats", "mnist1d"), ("foundation",)),
    ("transforms", ("transforms",), ("foundation",)),
    ("fetch", ("fetch",), ("foundation", "registry", "formats")),
    ("prepare", ("prepare",), ("foundation", "registry", "formats", "transforms")),
    ("dataset", ("dataset", "split_expressions"), ("foundation", "transforms")),
    ("load", ("api", "build", "join", "cache_check"), ("foundation", "registry", "formats", "transforms", "fetch", "prepare",
                                      "dataset")),
    ("baselines", ("baselines",), ("foundation",)),
    ("outputs", ("outputs",), ("foundation", "registry", "formats", "dataset", "load")),
    ("pictures", ("preview", "drawing", "cells"), ("foundation", "dataset")),
    ("adapters", ("adapters",), ("foundation", "transforms", "dataset", "load", "outputs", "pictures")),
    ("shift", ("shift",), ("foundation", "registry", "transforms", "dataset", "load", "baselines", "pictures")),
    ("cli", ("cli", "__main__"), ("foundation", "registry", "dataset", "load", "outputs", "pictures", "shift",
                                  "face")),
    ("testing", ("testing",), ("foundation", "registry", "formats", "transforms", "prepare", "dataset")),
    # the package's face: `import mnistfamily` gives the public names, each imported on first use
    ("face", ("",), ("foundation", "dataset", "formats", "load", "outputs", "adapters")),
]

#: imports against the direction, each with the reason it is allowed. Only lazy imports (inside a
#: function) may be excused: importing the module must never run the stage below it.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("dataset", "adapters"): "Dataset's methods of the public contract (ds.batches, ds.to_torch, ds.show, ...) "
                             "hand the split to the adapter that does the work, imported when called",
    ("dataset", "outputs"): "ds.to_parquet() is mf.export(ds, ...), imported when called",
    ("dataset", "load"): "DatasetInfo.show() loads the split it shows, imported when called",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(module: str) -> str:
    """The stage of a dotted module name of the package (``mnistfamily.fetch.http`` -> ``fetch``)."""
    inner = module[len("mnistfamily"):].lstrip(".")
    best, length = "", -1
    for stage, prefixes, _ in STAGES:
        for prefix in prefixes:
            if (inner == prefix or inner.startswith(prefix + ".") or prefix == "") and len(prefix) > length:
                best, length = stage, len(prefix)
    return best


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    lazy: bool


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import of a module of the package in ``path``; ``from . import x`` names the submodule x when
    there is one, else the package itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    # imports that do not run when the module is imported: inside a function, or for type checkers only
    deferred = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                or (isinstance(f, ast.If) and "TYPE_CHECKING" in ast.unparse(f.test))]
    lazy_lines = {n.lineno for f in deferred for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in MODULES else origin for a in node.names]
        for target in targets:
            if target == "mnistfamily" or target.startswith("mnistfamily."):
                while target not in MODULES:  # `import mnistfamily.x.y` of a name: its module
                    target = target.rpartition(".")[0]
                found.append(Import(module, target, node.lineno, node.lineno in lazy_lines))
    return found


ALL_IMPORTS = [i for m, p in MODULES.items() for i in imports_of(m, p)]


def test_every_module_has_a_stage():
    names = {stage for stage, _, _ in STAGES}
    for stage, _, allowed in STAGES:
        assert set(allowed) <= names, f"{stage} may import an undeclared stage: {set(allowed) - names}"
    assert {stage_of(m) for m in MODULES} <= names


@pytest.mark.parametrize("stage", [s for s, _, _ in STAGES])
def test_imports_go_one_way(stage):
    allowed = dict((s, set(a) | {s}) for s, _, a in STAGES)
    wrong = []
    for i in ALL_IMPORTS:
        source, target = stage_of(i.importer), stage_of(i.imported)
        if source != stage or target in allowed[source]:
            continue
        reason = EXCEPTIONS.get((source, target))
        if reason is not None and i.lazy:
            continue
        kind = "a module-level import, which no exception excuses" if reason else "not allowed"
        wrong.append(f"{MODULES[i.importer].relative_to(ROOT)}:{i.line} imports {i.imported} "
                     f"({source} -> {target}: {kind})")
    assert not wrong, "imports against the direction of docs/architecture.md:\n" + "\n".join(wrong)


def test_every_exception_is_still_needed():
    used = {(stage_of(i.importer), stage_of(i.imported)) for i in ALL_IMPORTS}
    stale = [pair for pair in EXCEPTIONS if pair not in used]
    assert not stale, f"declared exceptions no import needs any more: {stale}"


def test_no_module_level_import_cycle():
    """Within a stage too: modules imported at load time form no loop (a loop breaks on whichever runs first)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in ALL_IMPORTS:
        if not i.lazy and i.imported != i.importer:
            graph[i.importer].add(i.imported)
    # a package's __init__ that re-exports its submodules is imported before them anyway: an edge from a
    # submodule back to its own package is how Python imports, not a loop
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import loops: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_rule_catches_a_wrong_import(tmp_path):
    """The checker itself: an import from fetch into the load stage is reported, lazy or not."""
    bad = tmp_path / "mnistfamily" / "fetch" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from ..api import load\n    return load\n", encoding="utf-8")
    found = imports_of("mnistfamily.fetch.bad", bad)
    assert [(i.imported, i.lazy) for i in found] == [("mnistfamily.api", True)]
    assert stage_of("mnistfamily.api") not in dict((s, a) for s, _, a in STAGES)["fetch"]


#: exception classes that may live outside errors.py: signals between the functions of one module, never raised
#: to a caller (each is caught and turned into an error of errors.py within its module or stage)
INTERNAL_SIGNALS = {
    "mnistfamily.fetch.failures.TransferFailed": "one failed attempt at a location; becomes a line of DownloadError",
    "mnistfamily.fetch.http._Deadline": "the header deadline of one answer; becomes a TransferFailed",
    "mnistfamily.formats.safe_pickle._Refused": "a pickle opcode refused; becomes a FormatError",
    "mnistfamily.registry.strict_yaml.Abort": "stops walking a YAML file; its problems become a RegistryError or "
                                              "a ProtocolError",
    "mnistfamily.formats.tar_members.HostileTarHeader": "a tar member refused; becomes a FormatError",
    "mnistfamily.formats.audiomnist_meta._Refused": "a duplicate key or a JSON constant in the metadata file; becomes "
                                                    "a FormatError",
    "mnistfamily.prepare.entry.EntryDamage": "why a prepared entry is not used; the entry is rebuilt or reported",
    "mnistfamily.outputs.images.PngError": "a PNG a codec could not read; becomes a CorruptExportError",
}


def test_exceptions_live_in_errors_py():
    """Every exception or warning class a caller may catch is defined in mnistfamily/errors.py."""
    stray = []
    for module, path in MODULES.items():
        if module == "mnistfamily.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    re.search(r"(Error|Exception|Warning|TarError)$", ast.unparse(b)) for b in node.bases):
                name = f"{module}.{node.name}"
                if name not in INTERNAL_SIGNALS:
                    stray.append(name)
    assert not stray, f"exception classes outside mnistfamily/errors.py: {stray}"


def test_the_stages_re_export_the_errors_their_users_catch():
    import mnistfamily.errors as errors
    from mnistfamily import adapters, baselines, outputs, shift, transforms
    from mnistfamily.baselines import logistic

    assert transforms.TransformError is errors.TransformError
    assert outputs.ExportError is errors.ExportError and outputs.ExportWarning is errors.ExportWarning
    assert shift.ProtocolError is errors.ProtocolError
    assert adapters.AdapterError is errors.AdapterError
    assert logistic.ConvergenceWarning is errors.ConvergenceWarning and baselines is not None
    assert issubclass(errors.ExportDiskFullError, (errors.MnistFamilyError, OSError))


def test_every_pytest_raises_says_which_message_it_expects():
    """A ``pytest.raises`` without ``match=`` passes on any error of the type, the wrong one included."""
    missing = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and ast.unparse(node.func) == "pytest.raises"
                    and not any(k.arg == "match" for k in node.keywords)):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not missing, f"pytest.raises without match=: {', '.join(missing)}"


def test_the_module_map_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in text.splitlines() if line.startswith("| `"))
    named = set(re.findall(r"`([\w/.]+\.py)`", table))
    # a row may name a folder's files as `folder/a.py`, `b.py`: relative names count in that folder
    expanded = set()
    for row in table.splitlines():
        files = re.findall(r"`([\w/.]+\.py)`", row)
        folder = next((f.rpartition("/")[0] for f in files if "/" in f), "")
        expanded |= {f if "/" in f or not folder else f"{folder}/{f}" for f in files}
    missing = []
    for path in MODULES.values():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel not in named | expanded and f"mnistfamily/{rel}" not in named:
            missing.append(rel)
    assert not missing, f"docs/architecture.md's module map does not name: {', '.join(missing)}"


def test_the_diagram_matches_the_table():
    """docs/architecture.md shows each stage with the stages it may import, as this table declares them."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for stage, _, allowed in STAGES:
        line = re.search(rf"^\s*{re.escape(stage)}\s+may import:?\s*(.*)$", text, re.MULTILINE)
        assert line is not None, f"docs/architecture.md does not say what {stage} may import"
        shown = {w for w in re.split(r"[,\s]+", line.group(1).strip()) if w and w != "nothing"}
        assert shown == set(allowed), f"{stage}: the docs say {sorted(shown)}, the table {sorted(allowed)}"


# -- the table of formats -------------------------------------------------------------------------
# A format is one row of mnistfamily/registry/formats.py: data (split keys, kinds of example) and
# dotted paths to its decoder (prepare stage) and miniature writer (testing stage). The registry reads
# the row without importing either; the checks below keep every path pointing into the right stage.

def _format_rows():
    from mnistfamily.registry.formats import FORMATS

    return FORMATS


def _defines(module: str, function: str) -> bool:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function for n in tree.body)


@pytest.mark.parametrize("role, stage", [("decoder", "prepare"), ("miniature", "testing")])
def test_every_format_points_into_the_right_stage(role, stage):
    wrong = []
    for name, row in _format_rows().items():
        module, _, function = getattr(row, role).partition(":")
        if module not in MODULES:
            wrong.append(f"{name}: {role} {getattr(row, role)!r} names no module of the package")
        elif stage_of(module) != stage:
            wrong.append(f"{name}: {role} {module} is in the {stage_of(module)} stage, not {stage}")
        elif not _defines(module, function):
            wrong.append(f"{name}: {role} {module} defines no function {function!r} at its top level")
    assert not wrong, "\n".join(wrong)


def test_the_format_table_is_data_the_registry_reads_without_importing_code():
    """registry/formats.py imports nothing of the package: the registry stage may read it (foundation
    only), and reading it never imports a decoder or a writer."""
    found = [i for i in ALL_IMPORTS if i.importer == "mnistfamily.registry.formats"]
    assert not found, f"registry/formats.py imports {[i.imported for i in found]}"


def test_every_decoder_and_miniature_module_is_a_row_of_the_table():
    """No format outside the table: a decoder module (prepare/*_split.py) or a miniature writer
    (testing/mini_*.py) that no row names would be a format the registry cannot declare."""
    named = {getattr(row, role).partition(":")[0] for row in _format_rows().values()
             for role in ("decoder", "miniature")}
    modules = [m for m in MODULES if re.fullmatch(r"mnistfamily\.prepare\.\w+_split", m)
               or re.fullmatch(r"mnistfamily\.testing\.mini_\w+", m)]
    # a row's module may share helpers with others (mini_png_tar's tar writer): those are imported by a row's module
    used = named | {i.imported for i in ALL_IMPORTS if i.importer in named}
    stray = sorted(set(modules) - used)
    assert not stray, f"modules that look like a format's but no row of registry/formats.py names: {stray}"


def test_no_second_table_of_formats():
    """The loader's split keys, the decoders and the miniature writers come from the one table: no module
    keeps its own dispatch dictionary by format name."""
    stray = []
    for module, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id in ("BUILDERS", "GENERATORS", "FORMAT_SPLIT_KEYS",
                                                                  "WHOLE_DATASET_FORMATS"):
                    stray.append(f"{module}.{target.id}")
    assert not stray, f"tables of formats outside registry/formats.py: {stray}"
