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
    with pytest.raises(RegistryError, match=r"(?s)5 problem\(s\) in the registry.*duplicate key") as caught:
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
    with pytest.raises(ValueError, match="the file is empty"):
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
    with pytest.raises(KeyError, match="unknown dataset \'nothing-like-it\'"):
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


# --------------------------------------------------------------------------- registry truth
# Values the registry used to mark `unknown`, filled in where two independent sources agree
# (shared/reference/registry-audit.md): a Git LFS copy of EMNIST's gzip/ folder and a mirror's
# hash list for the EMNIST members; torchvision's prototype datasets and the same hash list for
# the QMNIST images.

EMNIST_MEMBERS = {  # member: (size, sha256), as both sources give them
    "emnist-byclass-train-images-idx3-ubyte.gz":
        (173367313, "9e21987f03a6eb8b870187e785883ddad96947299587908f1a7ec2ca0f4be5f0"),
    "emnist-bymerge-test-labels-idx1-ubyte.gz":
        (79351, "8bda1516255683ba9071e141947ca0c91a911176065cdd6259b0b4d8dc5b5f35"),
    "emnist-balanced-train-images-idx3-ubyte.gz":
        (28207740, "74295e75e4e9fa2c102147460ee7eb763653d5132d883a84fb88932bfb8d2db4"),
    "emnist-letters-test-images-idx3-ubyte.gz":
        (5039157, "50f0e93d75b99b463e9760b8345866f22587fa2c2fba472730a5ba09c693412d"),
    "emnist-digits-train-labels-idx1-ubyte.gz":
        (113859, "6638a6ff5fe2eefd9cca2471995b46c82986b8e4b2a70d2f5ce8e05d7edb319e"),
    "emnist-mnist-train-images-idx3-ubyte.gz":
        (14873795, "5f9942f441031c0f1f2e4d162059fd6e19ea808b34c328b6d16cab0ed24c78f2"),
}


def test_every_emnist_member_has_its_own_size_and_sha256():
    registry = get_registry()
    members = {}
    for split in ("byclass", "bymerge", "balanced", "letters", "digits", "mnist"):
        spec = registry.dataset(f"emnist/{split}")
        members.update({f.name: f for f in spec.files.values() if f.archive})
    assert len(members) == 24
    for name, file in members.items():
        # known size and sha256: each split is read member by member, never the 536 MB archive
        assert file.size is not None and file.sha256 is not None, name
    for name, (size, sha256) in EMNIST_MEMBERS.items():
        assert (members[name].size, members[name].sha256) == (size, sha256)
    # one source only (numpyvision) has md5s for the `mnist` split's members: left unknown
    assert all(f.md5 is None for n, f in members.items() if n.startswith("emnist-mnist-"))
    # no source publishes the sha256 of a member's decompressed content
    assert all(f.payload_sha256 is None for f in members.values())


def test_qmnist_image_sha256_where_two_sources_agree():
    files = get_registry().dataset("qmnist").files
    assert files["qmnist-train-images-idx3-ubyte.gz"].sha256 == \
        "9e26a7bf1683614e065d7b76460ccd52807165b3f22561fb782bd9f38c52b51d"
    assert files["qmnist-test-images-idx3-ubyte.gz"].sha256 == \
        "43fc22bf7498b8fc98de98369d72f752d0deabc280a43a7bcc364ab19e57b375"
    assert files["xnist-images-idx3-ubyte.xz"].sha256 is None  # torchvision's prototype only


def test_payload_sizes_follow_from_the_idx_layout_and_the_counts():
    """An IDX payload is its header (4 + 4 per dimension bytes) and N values: sizes no one needs to publish."""
    registry = get_registry()
    checked = set()
    for spec in registry:
        if spec.format != "idx" or spec.label_columns or spec.packaged:
            continue
        for split in spec.splits.values():
            if split.rows or split.num_examples is None:
                continue
            n = split.num_examples
            for name, expected in ((split.images, 16 + n * 28 * 28), (split.labels, 8 + n)):
                file = spec.file(name)
                if file.payload_size is not None:
                    assert file.payload_size == expected, (spec.name, name)
                    checked.add((spec.family, name))
    for family, name in [("fashion-mnist", "train-images-idx3-ubyte.gz"), ("kmnist", "t10k-images-idx3-ubyte.gz"),
                         ("kmnist", "t10k-labels-idx1-ubyte.gz"), ("emnist", "emnist-byclass-train-images-idx3-ubyte.gz"),
                         ("emnist", "emnist-letters-test-labels-idx1-ubyte.gz")]:
        assert (family, name) in checked
    qmnist = registry.dataset("qmnist").files
    assert qmnist["qmnist-train-images-idx3-ubyte.gz"].payload_size == 16 + 60000 * 784
    assert qmnist["xnist-images-idx3-ubyte.xz"].payload_size == 16 + 402953 * 784


def test_download_addresses_are_the_current_ones():
    registry = get_registry()
    for split in ("byclass", "bymerge", "balanced", "letters", "digits", "mnist"):
        urls = mf.info(f"emnist/{split}").urls["gzip.zip"]
        # NIST moved the archive in 2024; the old www.itl.nist.gov address no longer serves it
        assert list(urls) == ["https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"], split
    for name in ("kmnist", "k49", "affnist/transformed", "affnist/centered"):
        spec = registry.dataset(name)
        assert spec.base_url and spec.base_url.startswith("https://"), name


# --------------------------------------------------------------------------- other spellings of a name

@pytest.mark.parametrize("typed, name", [
    ("MNIST", "mnist"), ("FashionMNIST", "fashion-mnist"), ("Fashion_MNIST", "fashion-mnist"),
    ("KMNIST", "kmnist"), ("QMNIST", "qmnist"), ("EMNIST-Balanced", "emnist/balanced"),
    ("emnist_letters", "emnist/letters"), ("MNIST-1D", "mnist1d"), ("mnist.sample", "mnist/sample"),
])
def test_case_and_punctuation_variants_name_the_dataset(typed, name):
    assert mf.info(typed).name == name
    assert get_registry().resolve(typed) == name


def test_a_variant_loads_the_same_cache_entry(cache):
    ds = mf.load("MNIST.Sample", "test", data_dir=cache)
    assert ds.name == "mnist/sample"
    assert (cache / "prepared" / "mnist" / "sample").is_dir()


@pytest.mark.parametrize("typed", ["emnist", "EMNIST"])
def test_a_family_name_alone_lists_the_family(typed):
    with pytest.raises(UnknownNameError, match=r"'emnist' is a family of 6 datasets; name one of them: "
                                               r"'emnist/balanced', 'emnist/byclass', .*'emnist/mnist'"):
        mf.load(typed, "train")


def test_typos_are_matched_after_folding_case_and_punctuation():
    with pytest.raises(UnknownNameError, match=r"did you mean 'fashion-mnist'"):
        mf.info("Fashon_MNIST")


@pytest.mark.parametrize("typed", ["mnist\n", "mnist\x00", "MNIST\t", "../mnist", "mnist;rm"])
def test_control_characters_and_other_text_are_never_taken_for_a_name(typed):
    with pytest.raises(UnknownNameError, match="unknown dataset"):
        mf.info(typed)


def test_a_spelling_two_names_share_resolves_to_neither():
    text = GOOD + textwrap.indent(textwrap.dedent("""\
        tiny-one:
          title: Tiny one
          homepage: https://example.invalid/
          license: MIT
          citation: Nobody, 2026.
          format: idx
          image_shape: [28, 28]
          classes: [a, b]
          base_url: http://127.0.0.1:1/tiny/
          files:
            images-idx3-ubyte.gz: {size: 10, md5: 0123456789abcdef0123456789abcdef, sha256: unknown}
          splits:
            train: {num_examples: 3, images: images-idx3-ubyte.gz, labels: images-idx3-ubyte.gz}
        tiny/one:
          title: Tiny one again
          homepage: https://example.invalid/
          license: MIT
          citation: Nobody, 2026.
          format: idx
          image_shape: [28, 28]
          classes: [a, b]
          base_url: http://127.0.0.1:1/tiny/
          files:
            images-idx3-ubyte.gz: {size: 10, md5: 0123456789abcdef0123456789abcdef, sha256: unknown}
          splits:
            train: {num_examples: 3, images: images-idx3-ubyte.gz, labels: images-idx3-ubyte.gz}
        """), "  ")
    registry = Registry(load_registry_text(text, "two.yaml"))
    assert registry.resolve("tiny-one") == "tiny-one" and registry.resolve("tiny/one") == "tiny/one"
    assert registry.resolve("TINY_ONE") is None
    with pytest.raises(UnknownNameError, match="did you mean"):
        registry.dataset("TINY_ONE")
