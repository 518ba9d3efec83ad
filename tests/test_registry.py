"""The registry: the built-in file is valid and true to the facts; bad files are reported in full."""

from __future__ import annotations

import textwrap

import pytest

import mnistfamily as mf
from mnistfamily.errors import RegistryError, UnknownNameError
from mnistfamily.registry import Registry, builtin_registry_path, get_registry
from mnistfamily.registry.dump import dump_registry
from mnistfamily.registry.loader import load_registry_text

GOOD = textwrap.dedent("""\
    version: 1
    datasets:
      tiny:
        title: Tiny
        homepage: https://example.invalid/
        license: MIT
        citation: Nobody, 2026.
        format: idx
        image_shape: [28, 28]
        classes: [a, b]
        base_url: http://127.0.0.1:1/tiny/
        files:
          images-idx3-ubyte.gz: {size: 10, md5: 0123456789abcdef0123456789abcdef, sha256: unknown}
          labels-idx1-ubyte.gz: {size: 10, md5: unknown, sha256: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}
        splits:
          train: {num_examples: 3, images: images-idx3-ubyte.gz, labels: labels-idx1-ubyte.gz}
    """)


def test_builtin_registry_lists_the_core_datasets():
    names = mf.datasets()
    for name in ("mnist", "fashion-mnist", "kmnist", "qmnist", "mnist/sample"):
        assert name in names
    assert names == sorted(names)


def test_builtin_counts_and_splits_match_the_facts():
    assert mf.info("mnist").splits == {"train": 60000, "test": 10000}
    assert mf.info("fashion-mnist").classes[0] == "T-shirt/top"
    qmnist = mf.info("qmnist")
    assert qmnist.splits == {"train": 60000, "test": 60000, "test10k": 10000, "test50k": 50000, "nist": 402953}
    assert qmnist.metadata_columns == ("class", "hsf_series", "writer_id", "digit_index", "nist_class",
                                       "nist_index", "duplicate", "unused")
    spec = get_registry().dataset("qmnist")
    assert spec.splits["test50k"].rows == (10000, 60000)


def test_mirrors_that_answer_come_before_the_canonical_url():
    spec = get_registry().dataset("mnist")
    file = spec.file("train-images-idx3-ubyte.gz")
    urls = [*spec.mirror_urls(file), spec.canonical_url(file)]
    assert urls[0].startswith("https://ossci-datasets.s3.amazonaws.com/")
    assert urls[-1].startswith("http://yann.lecun.com/")


def test_every_builtin_file_can_be_verified_or_says_it_cannot():
    """A file has a hash of its own, or its archive has one, or the notes explain the opt-in."""
    for spec in get_registry():
        for file in spec.files.values():
            owner = spec.file(file.archive) if file.archive else file
            if not (file.verifiable or owner.verifiable):
                # the registry says plainly that nothing is known; loading needs the opt-in
                assert "allow_unverified" in spec.notes, f"{spec.name}: {file.name} has no hash and no note"


def test_a_good_document_loads_and_unknown_values_stay_unknown():
    specs = load_registry_text(GOOD, "good.yaml")
    files = specs["tiny"].files
    assert files["images-idx3-ubyte.gz"].sha256 is None
    assert files["images-idx3-ubyte.gz"].md5 == "0123456789abcdef0123456789abcdef"
    assert files["labels-idx1-ubyte.gz"].sha256.startswith("0123")  # the sha256: prefix is accepted


def test_every_problem_is_reported_at_once_with_its_path_and_line():
    bad = GOOD.replace("title: Tiny", "title: Tiny\n    colour: blue") \
              .replace("    license: MIT\n", "") \
              .replace("md5: 0123456789abcdef0123456789abcdef", "md5: xyz") \
              .replace("labels: labels-idx1-ubyte.gz}", "labels: labels-idx1-ubyte.gz, num_exmples: 3}") \
              .replace("classes: [a, b]", "classes: [a, b]\n    classes: [c]")
    with pytest.raises(RegistryError) as caught:
        load_registry_text(bad, "bad.yaml")
    problems = caught.value.problems
    text = "\n".join(problems)
    assert "datasets.tiny.colour (line 5): unknown key" in text
    assert "datasets.tiny.license" in text and "missing required field" in text
    assert "datasets.tiny.files.images-idx3-ubyte.gz.md5" in text and "malformed md5" in text
    assert "num_exmples" in text and "did you mean 'num_examples'" in text
    assert "datasets.tiny.classes" in text and "duplicate key (first defined on line" in text
    assert len(problems) == 5
    assert str(caught.value).startswith("bad.yaml: 5 problem(s)")


def test_dangling_file_references_and_bad_rows_are_errors():
    bad = GOOD.replace("images: images-idx3-ubyte.gz,", "images: image-idx3-ubyte.gz, rows: [0, 5],")
    with pytest.raises(RegistryError, match=r"which is not in this dataset's files; did you mean") as caught:
        load_registry_text(bad, "bad.yaml")
    assert any("selects 5 rows but num_examples is 3" in p for p in caught.value.problems)


def test_path_separators_in_file_names_are_rejected():
    bad = GOOD.replace("images-idx3-ubyte.gz: {", "../images-idx3-ubyte.gz: {")
    with pytest.raises(RegistryError, match="may not contain path separators"):
        load_registry_text(bad, "bad.yaml")


@pytest.mark.parametrize("old, new, message", [
    ("images-idx3-ubyte.gz: {", '"images\\0-idx3-ubyte.gz": {', "may not contain control characters"),
    ("images-idx3-ubyte.gz: {", '"images-idx3-ubyte.gz\\n": {', "may not contain control characters"),
    ("  tiny:", '  "tiny\\n":', "is not a dataset name"),
    ("  tiny:", '  "tiny/../x":', "is not a dataset name"),
    ("train: {", '"train\\n": {', "is not a split name"),
])
def test_control_characters_and_trailing_newlines_in_names_are_rejected(old, new, message):
    """A NUL once escaped as a raw ValueError, and a name ending in a newline was accepted."""
    bad = GOOD.replace(old, new, 1)
    assert bad != GOOD
    with pytest.raises(RegistryError, match=message):
        load_registry_text(bad, "bad.yaml")


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("version: 1\ndatasets: [1, 2]\n", "expected a mapping"),
    ("version: 2\ndatasets: {}\n", "expected version 1"),
    ("version: 1\ndatasets: {a: {title: [unclosed\n", "not valid YAML"),
])
def test_malformed_documents(text, message):
    with pytest.raises(RegistryError, match=message):
        load_registry_text(text, "x.yaml")


def test_registry_error_is_a_value_error():
    with pytest.raises(ValueError):
        load_registry_text("", "x.yaml")


def test_user_registry_from_the_environment_adds_datasets(tmp_path, monkeypatch):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    monkeypatch.setenv("MNISTFAMILY_REGISTRY", str(path))
    assert "tiny" in mf.datasets()
    assert "mnist" in mf.datasets()
    assert mf.info("tiny").classes == ("a", "b")


def test_user_registry_argument_and_name_clash(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    assert "tiny" in mf.datasets(registry=path)
    path.write_text(GOOD.replace("tiny:", "mnist:"))
    with pytest.raises(RegistryError, match="datasets.mnist: already defined in"):
        mf.datasets(registry=path)


def test_unknown_names_get_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'mnist'"):
        mf.info("mnsit")
    with pytest.raises(UnknownNameError, match="did you mean 'test10k'"):
        mf.load("qmnist", split="test10")
    with pytest.raises(KeyError):
        mf.info("nothing-like-it")


def test_dump_round_trips_the_builtin_registry(tmp_path):
    registry = get_registry()
    path = tmp_path / "copy.yaml"
    path.write_text(dump_registry(list(registry)))
    copy = Registry.from_files([path])
    for spec in registry:
        other = copy.dataset(spec.name)
        assert dict(other.files) == dict(spec.files)
        assert dict(other.splits) == dict(spec.splits)
        assert other.classes == spec.classes


def test_builtin_registry_path_exists():
    assert builtin_registry_path().is_file()


def test_load_keeps_a_compiled_registry_that_matches_the_yaml(tmp_path):
    from mnistfamily.registry import _cache, _written
    from mnistfamily.registry.compiled import read_compiled

    mf.load("mnist/sample", "test", data_dir=tmp_path)
    compiled = list((tmp_path / "registry").glob("*.json"))
    assert len(compiled) == 1
    from mnistfamily.registry.compiled import spec_from_fields

    fields = read_compiled(compiled[0])
    assert {name: spec_from_fields(f) for name, f in fields.items()} == {spec.name: spec for spec in get_registry()}
    # a damaged compiled file is ignored, and the YAML is parsed again
    compiled[0].write_text("{broken")
    _cache.clear()
    _written.clear()
    assert mf.load("mnist/sample", "test", data_dir=tmp_path).classes[0] == "0"


def test_editing_a_registry_file_invalidates_its_compiled_form(tmp_path, monkeypatch):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    monkeypatch.setenv("MNISTFAMILY_REGISTRY", str(path))
    first = get_registry(compiled_dir=tmp_path / "compiled")
    path.write_text(GOOD.replace("classes: [a, b]", "classes: [a, b, c]"))
    second = get_registry(compiled_dir=tmp_path / "compiled")
    assert first.dataset("tiny").classes == ("a", "b")
    assert second.dataset("tiny").classes == ("a", "b", "c")
    assert len(list((tmp_path / "compiled").glob("*.json"))) == 2


def test_bad_environment_flags_are_library_errors(monkeypatch):
    from mnistfamily import config
    from mnistfamily.errors import ConfigError

    monkeypatch.setenv("MNISTFAMILY_OFFLINE", "maybe")
    with pytest.raises(ConfigError, match="MNISTFAMILY_OFFLINE='maybe'.*unset it"):
        config.offline()


def test_sizes_map_image_sizes_to_entries(tmp_path):
    doc = GOOD + GOOD.split("datasets:\n", 1)[1].replace("tiny:", "tiny-64:")
    doc = doc.replace("    classes: [a, b]\n", "    classes: [a, b]\n    sizes: {28: tiny, 64: tiny-64}\n", 1)
    path = tmp_path / "sized.yaml"
    path.write_text(doc)
    registry = Registry.from_files([path])
    assert dict(registry.dataset("tiny").sizes) == {28: "tiny", 64: "tiny-64"}
    path.write_text(dump_registry(list(registry)))  # dump writes integer keys; they load back
    assert dict(Registry.from_files([path]).dataset("tiny").sizes) == {28: "tiny", 64: "tiny-64"}
    path.write_text(doc.replace("64: tiny-64}", "64: tiny-128}"))
    with pytest.raises(RegistryError, match="sizes.64: names 'tiny-128', which is not a dataset"):
        Registry.from_files([path])
