"""TensorFlow and Keras, for real: to_tf is ds.batches channels-last; load_data is keras.datasets' layout."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.adapters import AdapterError

pytestmark = pytest.mark.slow


@pytest.fixture
def sample():
    return mf.load("mnist/sample", "test")


def _with_tensorflow(code: str, tmp_path) -> None:
    """Run ``code`` in a fresh interpreter: TensorFlow and torch in one process crash (segfault) on import."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.pathsep.join(sys.path),
           "MNISTFAMILY_HOME": str(tmp_path / "home-cache")}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert result.stdout.strip().endswith("ok"), result.stdout[-3000:]


def test_to_tf_yields_the_batches_channels_last_and_reshuffles_each_pass(tmp_path):
    _with_tensorflow("""
        import numpy as np, tensorflow as tf, mnistfamily as mf
        small = mf.load("mnist/sample", "test")[:500]
        pipeline = small.to_tf(128, shuffle=True, seed=0)
        assert pipeline.cardinality().numpy() == 4
        spec_images, spec_labels = pipeline.element_spec
        assert spec_images.shape.as_list() == [None, 28, 28, 1] and spec_images.dtype == tf.float32
        assert spec_labels.dtype == tf.int64
        for epoch in (0, 1):  # each pass over the dataset is the next epoch, as Keras' fit iterates it
            got = [(x.numpy(), y.numpy()) for x, y in pipeline]
            expected = list(small.batches(128, shuffle=True, seed=0, epoch=epoch, dtype="float32"))
            assert len(got) == len(expected)
            for (x, y), (images, labels) in zip(got, expected):
                np.testing.assert_array_equal(x[..., 0], images)
                np.testing.assert_array_equal(y, labels)
        print("ok")
    """, tmp_path)


def test_to_tf_augments_uint8_and_trains_a_keras_model(tmp_path):
    _with_tensorflow("""
        import numpy as np, tensorflow as tf, keras, mnistfamily as mf
        from mnistfamily import transforms as T
        small = mf.load("mnist/sample", "test")[:256]
        elastic = T.ElasticDistortion(alpha=34, sigma=4, seed=0)
        x, _ = next(iter(small.to_tf(64, transform=elastic, dtype="uint8")))
        assert x.dtype == tf.uint8
        np.testing.assert_array_equal(x.numpy()[..., 0], small.map(elastic).images[:64])
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(small.to_tf(64, shuffle=True, seed=0), epochs=2, verbose=0, shuffle=False)
        assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
        print("ok")
    """, tmp_path)


def test_to_tf_refuses_bad_arguments_before_tensorflow_is_imported(sample):
    with pytest.raises(AdapterError, match="seed must be a non-negative int"):
        sample.to_tf(32, shuffle=True)
    with pytest.raises(AdapterError, match="dtype must be None"):
        sample.to_tf(32, dtype="int8")


def test_load_data_equals_keras_fashion_mnist_on_the_same_files(tmp_path, cache):
    """keras.datasets.fashion_mnist.load_data() reads the same four gzip files from its cache."""
    if importlib.util.find_spec("keras") is None:  # not imported here: Keras brings TensorFlow, which crashes torch
        pytest.skip("keras is not installed")
    from mnistfamily.testing import write_miniatures

    mini = write_miniatures(tmp_path / "files", "file:///nowhere", names=["fashion-mnist"])
    keras_files = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    keras_files.mkdir(parents=True)
    for path in mini.files["fashion-mnist"].values():
        shutil.copy(path, keras_files / path.name)
    out = tmp_path / "keras.npz"
    code = ("import numpy as np, sys\nfrom keras.datasets import fashion_mnist\n"
            "(a, b), (c, d) = fashion_mnist.load_data()\n"
            "np.savez(sys.argv[1], x_train=a, y_train=b, x_test=c, y_test=d)\n")
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras-home"), "KERAS_BACKEND": "numpy",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", code, str(out)], env=env, check=True, capture_output=True, timeout=300)
    theirs = np.load(out)
    (x_train, y_train), (x_test, y_test) = mf.load_data("fashion-mnist", registry=mini.registry, data_dir=cache,
                                                        source=tmp_path / "files" / "fashion-mnist")
    for name, ours in {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}.items():
        assert ours.dtype == theirs[name].dtype and ours.shape == theirs[name].shape, name
        np.testing.assert_array_equal(ours, theirs[name])
        assert ours.flags.writeable and not isinstance(ours, np.memmap)


@pytest.mark.realdata
def test_load_data_mnist_has_keras_shapes_and_dtypes(realdata, cache):
    (x_train, y_train), (x_test, y_test) = mf.load_data("mnist", source=realdata / "mnist-kaggle-layout",
                                                        data_dir=cache)
    # what keras.datasets.mnist.load_data() documents and returns
    assert (x_train.shape, x_train.dtype, y_train.shape, y_train.dtype) == ((60000, 28, 28), np.uint8, (60000,), np.uint8)
    assert (x_test.shape, x_test.dtype, y_test.shape, y_test.dtype) == ((10000, 28, 28), np.uint8, (10000,), np.uint8)
    assert json.dumps(np.bincount(y_test).tolist()) == "[980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]"


def test_load_data_needs_train_and_test_splits():
    with pytest.raises(AdapterError, match="has no train split .*mf.load\\('mnist/sample', split=...\\)"):
        mf.load_data("mnist/sample")
