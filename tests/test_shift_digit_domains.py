"""The digit domain-adaptation protocols (MNIST<->USPS, SVHN->MNIST, MNIST->MNIST-M): the alignment each needs is a
declared transform, they run on miniatures end to end, and MNIST->USPS runs on the real USPS test file."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily import shift
from mnistfamily import transforms as T
from mnistfamily.testing import write_miniatures

DIGIT_PROTOCOLS = ("mnist-usps", "usps-mnist", "svhn-mnist", "mnist-mnistm")


def test_the_alignment_is_declared_in_each_protocol():
    found = {name: shift.get_protocol(name) for name in DIGIT_PROTOCOLS}
    resize28 = ({"name": "Resize", "size": 28},)
    assert found["mnist-usps"].domains["USPS test"].transform == resize28
    assert found["mnist-usps"].train.transform == ()
    assert found["usps-mnist"].train.transform == resize28
    assert found["usps-mnist"].domains["USPS test"].transform == resize28
    assert found["usps-mnist"].domains["MNIST test"].transform == ()
    assert found["mnist-usps"].domains["USPS test, framed as MNIST"].transform == (
        {"name": "Resize", "size": 20}, {"name": "Pad", "padding": 4})
    assert found["usps-mnist"].domains["MNIST test, framed as USPS"].transform == (
        {"name": "CenterCrop", "size": 20}, {"name": "Resize", "size": 28})
    assert found["svhn-mnist"].train.transform == ()
    assert found["svhn-mnist"].domains["MNIST test"].transform == (
        {"name": "Resize", "size": 32}, {"name": "ToChannels", "weights": [1, 1, 1]})
    grey_as_rgb = ({"name": "ToChannels", "weights": [1, 1, 1]},)
    assert found["mnist-mnistm"].train.transform == found["mnist-mnistm"].domains["MNIST test"].transform == grey_as_rgb
    assert found["mnist-mnistm"].domains["MNIST-M test"].transform == ()


def test_without_the_alignment_the_shapes_are_refused(tmp_path):
    """The transforms are what makes the pairs comparable: without them run() says which shapes differ."""
    text = """
version: 1
protocols:
  raw:
    description: USPS as published against MNIST.
    train: {dataset: mnist, split: train}
    in_domain: MNIST test
    domains:
      MNIST test: {dataset: mnist, split: test}
      USPS test: {dataset: usps, split: test}
"""
    folder = tmp_path / "m"
    mini = write_miniatures(folder, "file:///unused", names=["mnist", "usps"])
    protocol = shift.load_protocols(text)["raw"]
    with pytest.raises(shift.ProtocolError, match=r"USPS test.*\(16, 16\).*\(28, 28\).*Resize"):
        shift.run(protocol, "centroid", registry=mini.registry, source=folder, data_dir=tmp_path / "c")


@pytest.mark.parametrize("name", DIGIT_PROTOCOLS)
def test_each_digit_protocol_runs_end_to_end_on_miniatures(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTFAMILY_ALLOW_UNVERIFIED", "1")  # MNIST-M's recipe reads BSR_bsds500.tgz, unverifiable
    folder = tmp_path / "m"
    protocol = shift.get_protocol(name)
    datasets = sorted({protocol.train.dataset, *(d.dataset for d in protocol.domains.values())})
    mini = write_miniatures(folder, "file:///unused", names=datasets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mf.errors.UnverifiedFileWarning)
        result = shift.run(protocol, "knn", registry=mini.registry, source=folder, data_dir=tmp_path / "c")
    assert [r.domain for r in result.rows] == list(protocol.domains)
    for row in result.rows:
        split = protocol.domains[row.domain].split
        assert row.n == mini.registry.dataset(protocol.domains[row.domain].dataset).splits[split].num_examples
        assert 0 <= row.ci_low <= row.accuracy <= row.ci_high <= 1
    assert result.row(protocol.in_domain).gap == 0


def test_the_svhn_alignment_gives_grey_as_rgb_at_32():
    ds = mf.load("mnist/sample", "test").select(slice(0, 50))
    aligned = T.from_spec(list(shift.get_protocol("svhn-mnist").domains["MNIST test"].transform))(ds.images)
    assert aligned.shape == (50, 32, 32, 3) and aligned.dtype == np.uint8
    assert np.array_equal(aligned[..., 0], aligned[..., 1]) and np.array_equal(aligned[..., 0], aligned[..., 2])
    np.testing.assert_array_equal(aligned[..., 0], T.Resize(32)(ds.images))


@pytest.mark.realdata
def test_mnist_to_usps_on_the_real_files(realdata, cache):
    """1-NN trained on all of MNIST, tested on USPS's real test file (2,007 digits) resized to 28x28."""
    mf.load("mnist", "train", source=realdata / "mnist-kaggle-layout", data_dir=cache)
    mf.load("mnist", "test", source=realdata / "mnist-kaggle-layout", data_dir=cache)
    result = shift.run("mnist-usps", "knn", source=realdata, data_dir=cache)
    mnist, usps, framed = result.row("MNIST test"), result.row("USPS test"), result.row("USPS test, framed as MNIST")
    assert mnist.n == 10_000 and round(mnist.accuracy, 4) == 0.9691  # LeCun's 3.09 % error for 1-NN
    assert usps.n == 2_007
    # USPS is a real shift for a nearest neighbour: well above chance, well below MNIST
    assert 0.4 < usps.accuracy < mnist.accuracy - 0.1 and usps.ci_high < mnist.ci_low
    # framed as MNIST (a 4-pixel margin), the same digits are much nearer MNIST's
    assert framed.n == 2_007 and usps.ci_high < framed.ci_low and framed.ci_high < mnist.ci_low
