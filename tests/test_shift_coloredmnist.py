"""ColoredMNIST's construction (DomainBed's and the IRM paper's), its statistics, and the 2-channel images."""

from __future__ import annotations

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.errors import ShiftError
from mnistfamily.shift.coloredmnist import (CLASSES, DOMAINBED_ENVIRONMENTS, IRM_ENVIRONMENTS, colour_images,
                                            coloredmnist_environments, domainbed_construction, irm_construction)
from mnistfamily.shift.environments import leave_one_environment_out

#: a binomial proportion is within this many standard deviations of its probability
SIGMAS = 4.5


def _close(successes: int, n: int, p: float) -> bool:
    return abs(successes / n - p) <= SIGMAS * np.sqrt(p * (1 - p) / n)


def check_statistics(c, n_total: int) -> None:
    """The construction's published statistics, per environment."""
    assert len(c.rows) == n_total and len(np.unique(c.rows)) == n_total  # disjoint, covering every digit
    np.testing.assert_array_equal(c.clean_label, (c.digit < 5).astype(np.int8))
    np.testing.assert_array_equal(c.label, c.clean_label ^ c.label_noise)
    np.testing.assert_array_equal(c.colour, c.label ^ c.colour_flip)
    for i, (name, e) in enumerate(zip(c.names, c.flip_probabilities)):
        mine = c.of(name)
        assert set(c.environment[mine]) == {i}
        n = len(mine)
        assert _close(int(c.label_noise[mine].sum()), n, 0.25), name  # label noise 25 %
        assert _close(int((c.colour[mine] == c.label[mine]).sum()), n, 1 - e), name  # colour agrees at 1 - e
        # the colour predicts the clean label less well: (1-e)(0.75) + e(0.25)
        assert _close(int((c.colour[mine] == c.clean_label[mine]).sum()), n, 0.75 * (1 - e) + 0.25 * e), name


def test_domainbed_construction_deals_70000_digits_into_three_environments():
    digits = np.arange(70_000) % 10
    c = domainbed_construction(digits, seed=0)
    assert c.names == ("+90%", "+80%", "-90%") and c.flip_probabilities == (0.1, 0.2, 0.9)
    assert [len(c.of(name)) for name in c.names] == [23_334, 23_333, 23_333]
    order = np.random.default_rng(0).permutation(70_000)  # our shuffle, dealt as DomainBed deals: [i::3]
    for i, name in enumerate(c.names):
        np.testing.assert_array_equal(c.rows[c.of(name)], order[i::3])
    np.testing.assert_array_equal(c.digit, digits[c.rows])
    check_statistics(c, 70_000)


def test_the_construction_is_seeded():
    digits = np.arange(70_000) % 10
    a, b, other = (domainbed_construction(digits, seed=s) for s in (3, 3, 4))
    for field in ("rows", "label_noise", "colour_flip"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert not np.array_equal(getattr(a, field), getattr(other, field))


def test_irm_construction_alternates_the_first_50000_and_keeps_the_rest_in_order():
    digits = np.arange(60_000) % 10
    c = irm_construction(digits, seed=0)
    assert c.names == tuple(IRM_ENVIRONMENTS) and c.flip_probabilities == (0.2, 0.1, 0.9)
    first, second, test = (c.rows[c.of(name)] for name in c.names)
    shuffled = np.random.default_rng(0).permutation(50_000)
    np.testing.assert_array_equal(first, shuffled[0::2])
    np.testing.assert_array_equal(second, shuffled[1::2])
    np.testing.assert_array_equal(test, np.arange(50_000, 60_000))
    check_statistics(c, 60_000)


@pytest.mark.parametrize("call, message", [
    (lambda: domainbed_construction(np.array([1, 12])), "expected MNIST digit labels 0-9"),
    (lambda: domainbed_construction(np.zeros((2, 2), np.int64)), "expected MNIST digit labels 0-9"),
    (lambda: domainbed_construction(np.array([], np.int64)), "expected MNIST digit labels 0-9"),
    (lambda: domainbed_construction(np.arange(10), label_noise=1.5), r"probabilities lie in \[0, 1\]"),
    (lambda: domainbed_construction(np.arange(10), environments={"a": -0.1, "b": 0.5}),
     r"probabilities lie in \[0, 1\]"),
    (lambda: irm_construction(np.arange(100) % 10), "train_size must leave digits on both sides"),
    (lambda: irm_construction(np.arange(100) % 10, train_size=50, environments={"a": 0.1, "b": 0.2}),
     "two training environments and a test one"),
])
def test_bad_construction_arguments_are_refused(call, message):
    with pytest.raises(ShiftError, match=message):
        call()


# ----------------------------------------------------------------------------- the images


def test_colour_images_put_the_digit_in_the_colour_channel():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    colour = np.array([0, 1, 1, 0, 1, 0])
    out = colour_images(gray, colour)
    assert out.shape == (6, 28, 28, 2) and out.dtype == np.uint8
    for i, c in enumerate(colour):
        np.testing.assert_array_equal(out[i, ..., c], gray[i])
        assert not out[i, ..., 1 - c].any()
    # DomainBed's own assembly, channels first: stack twice, zero channel 1 - colour
    theirs = np.stack([gray, gray], axis=1).copy()
    theirs[np.arange(6), 1 - colour] = 0
    np.testing.assert_array_equal(np.moveaxis(out, -1, 1), theirs)
    small = colour_images(gray, colour, subsample=2)  # IRM: images[:, ::2, ::2]
    np.testing.assert_array_equal(small[..., 0].sum(axis=-1) + small[..., 1].sum(axis=-1),
                                  gray[:, ::2, ::2].astype(np.int64).sum(axis=-1))
    assert small.shape == (6, 14, 14, 2)


@pytest.mark.parametrize("images, colour, kwargs, message", [
    (np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1]), {}, r"expected gray images \(N, H, W\)"),
    (np.zeros((2, 4, 4), np.uint8), np.array([0, 2]), {}, "colour must hold one 0 or 1 per image"),
    (np.zeros((2, 4, 4), np.uint8), np.array([0]), {}, "colour must hold one 0 or 1 per image"),
    (np.zeros((2, 4, 4), np.uint8), np.array([0, 1]), {"subsample": 0}, "subsample must be a positive integer"),
])
def test_colour_images_refuse_what_they_cannot_colour(images, colour, kwargs, message):
    with pytest.raises(ShiftError, match=message):
        colour_images(images, colour, **kwargs)


def test_environments_in_memory_carry_the_construction_as_columns():
    sample = mf.load("mnist/sample", "test")
    train, test = sample.select(slice(0, 1500)), sample.select(slice(1500, 2000))
    envs = coloredmnist_environments(train, test, seed=0)
    assert list(envs) == list(DOMAINBED_ENVIRONMENTS)
    for i, (name, ds) in enumerate(envs.items()):
        assert ds.classes == list(CLASSES) and ds.images.shape[1:] == (28, 28, 2)
        m = ds.metadata
        assert set(m) == {"environment", "digit", "label_noise", "colour", "colour_flip", "source_split",
                          "source_index"}
        assert set(m["environment"]) == {i}
        source = np.where(m["source_split"][:, None, None] == 0, train.images[np.minimum(m["source_index"], 1499)],
                          test.images[np.minimum(m["source_index"], 499)])
        np.testing.assert_array_equal(ds.images[np.arange(len(ds)), :, :, m["colour"]], source)
        np.testing.assert_array_equal(m["digit"], np.where(m["source_split"] == 0,
                                                           train.labels[np.minimum(m["source_index"], 1499)],
                                                           test.labels[np.minimum(m["source_index"], 499)]))
        np.testing.assert_array_equal(ds.labels, (m["digit"] < 5) ^ m["label_noise"])
    gray = coloredmnist_environments(train, test, seed=0, grayscale=True)
    assert gray["+90%"].images.shape[1:] == (28, 28)
    np.testing.assert_array_equal(gray["+90%"].images, envs["+90%"].images.sum(axis=-1))
    with pytest.raises(ShiftError, match="pass test="):
        coloredmnist_environments(train)
    with pytest.raises(ShiftError, match="protocol must be 'domainbed' or 'irm'"):
        coloredmnist_environments(train, test, protocol="other")


# ----------------------------------------------------------------------------- real data


@pytest.fixture
def mnist(realdata, cache):
    source = realdata / "mnist-kaggle-layout"
    return mf.load("mnist", "train", source=source, data_dir=cache), mf.load("mnist", "test", source=source,
                                                                              data_dir=cache)


@pytest.mark.realdata
def test_construction_statistics_on_real_mnist(realdata, cache):
    train = mf.read_idx(realdata / "mnist" / "train-labels-idx1-ubyte.gz")
    test = mf.read_idx(realdata / "mnist" / "t10k-labels-idx1-ubyte.gz")
    check_statistics(domainbed_construction(np.concatenate([train, test]), seed=0), 70_000)
    irm = irm_construction(train, seed=0)
    check_statistics(irm, 60_000)
    # the binary label is balanced as MNIST's digits are: 0-4 are 51 % of MNIST
    assert abs(irm.clean_label.mean() - (train < 5).mean()) < 1e-12


@pytest.mark.realdata
def test_irm_environments_are_14x14_from_the_training_set(mnist):
    train, _ = mnist
    envs = coloredmnist_environments(train, protocol="irm")
    assert {name: ds.images.shape for name, ds in envs.items()} == {
        "train, e=0.2": (25_000, 14, 14, 2), "train, e=0.1": (25_000, 14, 14, 2), "test, e=0.9": (10_000, 14, 14, 2)}
    test = envs["test, e=0.9"]
    np.testing.assert_array_equal(test.metadata["source_index"], np.arange(50_000, 60_000))
    np.testing.assert_array_equal(test.images.sum(axis=-1), np.asarray(train.images)[50_000:, ::2, ::2])


@pytest.mark.realdata
def test_erm_relies_on_colour_and_a_colour_blind_model_does_not(mnist):
    """DomainBed's ERM: 71.7 / 72.9 / 10.0 (+90%, +80%, -90%); shape alone reaches 75 % at most."""
    from mnistfamily.baselines import MLP

    train, test = mnist
    model = MLP(hidden=(256,), epochs=5, seed=0)
    coloured = leave_one_environment_out(coloredmnist_environments(train, test), model, limit=5000)
    rows = {r.environment: r for r in coloured.rows}
    assert rows["+90%"].accuracy >= 0.65 and rows["+80%"].accuracy >= 0.65, coloured.table()
    assert rows["-90%"].accuracy <= 0.15, coloured.table()
    blind = leave_one_environment_out(coloredmnist_environments(train, test, grayscale=True), model, limit=5000)
    for row in blind.rows:
        assert 0.65 <= row.accuracy <= 0.76, blind.table()
