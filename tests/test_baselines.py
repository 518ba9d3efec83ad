"""Baseline classifiers: exact KNN (ties, votes, chunking, float32 cancellation), nearest
centroid, softmax regression (gradient, accuracy, scikit-learn's objective), the protocol."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

import mnistfamily as mf
from mnistfamily.baselines import KNN, MLP, Classifier, ConvergenceWarning, LogisticRegression, NearestCentroid
from mnistfamily.baselines.knn import vote
from mnistfamily.baselines.logistic import softmax_loss_and_grad


@pytest.fixture
def sample():
    return mf.load("mnist/sample", "test")


@pytest.fixture
def split(sample):
    """The 2,000 embedded MNIST digits in interleaved halves: (Xtrain, ytrain, Xtest, ytest)."""
    train, test = sample.select(slice(0, None, 2)), sample.select(slice(1, None, 2))
    return train.images, train.labels, test.images, test.labels


def brute_force(train: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference neighbours: int64 squared distances, ordered by (distance, training index)."""
    flat = train.reshape(len(train), -1).astype(np.int64)
    sq = np.array([((flat - q.reshape(-1)) ** 2).sum(axis=1) for q in queries])  # a row at a time: small temporaries
    order = np.argsort(sq, axis=1, kind="stable")[:, :k]  # stable: equal distances keep index order
    return np.take_along_axis(sq, order, axis=1), order


# ---------------------------------------------------------------------------------------------- KNN


def test_knn_hand_made_set():
    X = np.array([[0], [10], [20], [30]], dtype=np.uint8)
    knn = KNN().fit(X, ["a", "b", "c", "d"])
    assert knn.predict(np.array([[1], [9], [14], [16], [40]], dtype=np.uint8)).tolist() == ["a", "b", "b", "c", "d"]
    distances, indices = knn.kneighbors(np.array([[14]]), k=3)
    assert distances.tolist() == [[4.0, 6.0, 14.0]] and indices.tolist() == [[1, 2, 0]]
    assert distances.dtype == np.float64 and indices.dtype == np.int64
    assert knn.score(np.array([[1], [29]]), ["a", "c"]) == 0.5


def test_knn_distance_ties_go_to_the_lower_training_index():
    X = np.array([[0, 0], [3, 4], [0, 5], [4, 3], [5, 0]], dtype=np.uint8)
    knn = KNN().fit(X, [0, 1, 2, 3, 4])
    distances, indices = knn.kneighbors(np.array([[0, 0]]), k=5)
    assert distances.tolist() == [[0.0, 5.0, 5.0, 5.0, 5.0]] and indices.tolist() == [[0, 1, 2, 3, 4]]
    # a query halfway between two training points takes the first one, in either order
    line = np.array([[0], [10]], dtype=np.uint8)
    assert KNN().fit(line, ["left", "right"]).predict(np.array([[5]])).tolist() == ["left"]
    assert KNN().fit(line[::-1], ["right", "left"]).predict(np.array([[5]])).tolist() == ["right"]


def test_knn_vote_majority_then_nearest_class():
    # positions on a line; labels A/B
    X = np.array([[0], [2], [3], [20], [21]], dtype=np.uint8)
    y = np.array(["A", "B", "B", "A", "A"])
    query = np.array([[0]])
    assert KNN(k=1).fit(X, y).predict(query).tolist() == ["A"]
    assert KNN(k=2).fit(X, y).predict(query).tolist() == ["A"]   # 1 vs 1: A's member is nearer
    assert KNN(k=3).fit(X, y).predict(query).tolist() == ["B"]   # 2 vs 1: majority beats nearness
    assert KNN(k=5).fit(X, y).predict(query).tolist() == ["A"]   # 3 vs 2
    assert KNN(k=4).fit(X, y).predict(np.array([[3]])).tolist() == ["B"]  # B, B, A, A: tie, B nearer


def test_vote_function_breaks_class_ties_by_position():
    codes = np.array([[2, 1, 1, 2], [0, 1, 2, 3], [3, 3, 0, 0], [1, 0, 0, 2]])
    assert vote(codes, 4).tolist() == [2, 0, 3, 0]


def test_knn_is_the_exact_brute_force_answer(split):
    Xtr, ytr, Xte, _ = split
    queries = Xte[:200]
    want_sq, want_idx = brute_force(Xtr, queries, k=5)
    for dtype in (np.float32, np.float64):
        distances, indices = KNN(k=5, dtype=dtype).fit(Xtr, ytr).kneighbors(queries)
        np.testing.assert_array_equal(indices, want_idx)
        np.testing.assert_array_equal(distances, np.sqrt(want_sq.astype(np.float64)))


@pytest.mark.parametrize("k", [1, 4])
def test_knn_chunk_size_does_not_change_anything(split, k):
    Xtr, ytr, Xte, _ = split
    queries = Xte[:150]
    results = []
    for chunk_size in (1, 7, 1000, None):
        knn = KNN(k=k, chunk_size=chunk_size).fit(Xtr, ytr)
        results.append((knn.kneighbors(queries), knn.predict(queries)))
    (d0, i0), p0 = results[0]
    for (d, i), p in results[1:]:
        np.testing.assert_array_equal(i, i0)
        np.testing.assert_array_equal(d, d0)
        np.testing.assert_array_equal(p, p0)


def test_knn_survives_float32_cancellation():
    """Near-duplicates of a bright image: the float32 expansion |a|^2 - 2a.b + |b|^2 swaps them."""
    rng = np.random.default_rng(7)
    naive_wrong = 0
    for _ in range(40):
        query = rng.integers(180, 256, size=(1, 784)).astype(np.int64)
        train = np.repeat(query, 3, axis=0)
        pixels = rng.choice(784, 4, replace=False)
        train[0, pixels[0]] -= 3                      # squared distance 9
        train[1, pixels[1:3]] -= 2                    # squared distance 8: the nearest
        train[2, pixels[3]] -= 5                      # squared distance 25
        query, train = query.astype(np.uint8), train.astype(np.uint8)
        a, b = query.astype(np.float32), train.astype(np.float32)
        naive = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
        naive_wrong += int(naive.argmin() != 1)
        knn = KNN(k=1).fit(train, [0, 1, 2])
        assert knn.predict(query).tolist() == [1]
        distances, indices = knn.kneighbors(query, k=2)
        assert indices.tolist() == [[1, 0]] and distances.tolist() == [[np.sqrt(8), 3.0]]
    assert naive_wrong > 0, "the naive float32 expansion never failed: this test no longer tests anything"


def test_knn_inputs_images_flat_floats_bools(split):
    Xtr, ytr, Xte, _ = split
    flat = KNN().fit(Xtr.reshape(len(Xtr), -1), ytr).predict(Xte.reshape(len(Xte), -1)[:100])
    images = KNN().fit(Xtr, ytr).predict(Xte[:100])
    scaled = KNN().fit(Xtr / 255.0, ytr).predict(Xte[:100] / 255.0)
    np.testing.assert_array_equal(flat, images)
    np.testing.assert_array_equal(scaled, images)
    binary = KNN().fit(Xtr > 127, ytr).kneighbors(Xte[:5] > 127)[1]
    want = brute_force((Xtr > 127).astype(np.uint8), (Xte[:5] > 127).astype(np.uint8), 1)[1]
    np.testing.assert_array_equal(binary, want)
    assert KNN().fit(Xtr, ytr).predict(Xte[:0]).shape == (0,)


def test_knn_agrees_with_scikit_learn(split):
    neighbors = pytest.importorskip("sklearn.neighbors")
    Xtr, ytr, Xte, yte = split
    flat_tr, flat_te = Xtr.reshape(len(Xtr), -1), Xte.reshape(len(Xte), -1)
    theirs = neighbors.KNeighborsClassifier(n_neighbors=1, algorithm="brute").fit(flat_tr, ytr).predict(flat_te)
    ours = KNN(k=1).fit(Xtr, ytr).predict(Xte)
    np.testing.assert_array_equal(ours, theirs)
    assert isinstance(neighbors.KNeighborsClassifier(), Classifier)


def test_knn_memory_stays_within_the_chunk():
    """Never the whole (test x train) matrix: 4,000 x 6,000 float32 would be 96 MB."""
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(6000, 64), dtype=np.uint8)
    test = rng.integers(0, 256, size=(4000, 64), dtype=np.uint8)
    knn = KNN(chunk_size=100).fit(train, rng.integers(0, 10, 6000))
    tracemalloc.start()
    try:
        knn.predict(test)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16e6, f"predict peaked at {peak / 1e6:.1f} MB"


def test_knn_default_chunk_keeps_the_score_block_near_128_mib(split):
    Xtr, ytr, _, _ = split
    knn = KNN().fit(Xtr, ytr)
    assert knn.chunk_rows(10) == 10
    assert knn.chunk_rows(10**9) == 128 * 2**20 // (1000 * 4)
    assert KNN(chunk_size=7).fit(Xtr, ytr).chunk_rows(100) == 7


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 0}, "k must be a positive integer"),
    ({"k": 2.5}, "k must be a positive integer"),
    ({"metric": "l1"}, "metric 'l1' is not supported"),
    ({"chunk_size": 0}, "chunk_size must be a positive integer"),
    ({"dtype": np.float16}, "dtype must be np.float32 or np.float64"),
])
def test_knn_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KNN(**kwargs)


def test_knn_rejects_bad_inputs():
    X = np.zeros((3, 4), dtype=np.uint8)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        KNN().predict(X)
    with pytest.raises(ValueError, match="only 3 training examples"):
        KNN(k=4).fit(X, [0, 1, 2])
    with pytest.raises(ValueError, match="X has 3 rows but y has 2 labels"):
        KNN().fit(X, [0, 1])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        KNN().fit(X[0], [0])
    with pytest.raises(ValueError, match="NaN or infinity"):
        KNN().fit(np.full((2, 2), np.nan), [0, 1])
    with pytest.raises(ValueError, match="integers, booleans or real floats"):
        KNN().fit(np.zeros((2, 2), dtype=complex), [0, 1])
    knn = KNN().fit(X, [0, 1, 2])
    with pytest.raises(ValueError, match="fitted on 4 features per example but X has 5"):
        knn.predict(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="k must be between 1 and the 3 training examples"):
        knn.kneighbors(X, k=4)
    with pytest.raises(ValueError, match="too large for float32"):
        KNN().fit(np.full((2, 2), 1e30), [0, 1])
    assert KNN(dtype=np.float64).fit(np.full((2, 2), 1e30), [0, 1]).predict(np.full((1, 2), 1e30)).tolist() == [0]
    with pytest.raises(ValueError, match="X has 3 rows but y has shape"):
        knn.score(X, [0, 1])


@pytest.mark.realdata
def test_one_nn_on_mnist_matches_the_published_error(realdata, cache):
    """LeCun et al.: 1-NN, L2, raw pixels, 60,000 -> 10,000: 3.09 % test error."""
    mnist = mf.load("mnist", source=realdata / "mnist-kaggle-layout", data_dir=cache)
    train, test = mnist["train"], mnist["test"]
    predicted = KNN(k=1).fit(train.images, train.labels).predict(test.images)
    errors = int(np.count_nonzero(predicted != test.labels))
    assert 3.04 <= 100 * errors / len(test) <= 3.14, f"{errors} errors"
    assert errors == 309  # the exact neighbours give exactly this (measured; no ties at the first place)


# ---------------------------------------------------------------------------------- nearest centroid


def test_nearest_centroid_means_are_exact(sample):
    model = NearestCentroid().fit(sample.images, sample.labels)
    flat = sample.images.reshape(len(sample), -1).astype(np.float64)
    for c in range(10):
        np.testing.assert_array_equal(model.centroids_[c], flat[sample.labels == c].sum(0) / 200)
    assert model.score(sample.images, sample.labels) > 0.75


def test_nearest_centroid_hand_made_and_ties():
    X = np.array([[0, 0], [2, 0], [10, 10], [12, 10]], dtype=np.uint8)
    model = NearestCentroid().fit(X, ["dot", "dot", "far", "far"])
    assert model.centroids_.tolist() == [[1.0, 0.0], [11.0, 10.0]]
    assert model.predict(np.array([[3, 3], [8, 8], [6, 5]])).tolist() == ["dot", "far", "dot"]  # last: a tie
    assert model.predict(np.zeros((0, 2))).shape == (0,)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        NearestCentroid().predict(X)
    with pytest.raises(ValueError, match="fitted on 2 features"):
        model.predict(np.zeros((1, 3)))


# ------------------------------------------------------------------------------- logistic regression


def test_softmax_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    X = rng.random((30, 6))
    one_hot = np.eye(4)[rng.integers(0, 4, 30)]
    params = rng.normal(size=4 * 7)
    loss, grad = softmax_loss_and_grad(params, X, one_hot, alpha=0.3)
    step = 1e-6
    numeric = np.array([
        (softmax_loss_and_grad(params + step * e, X, one_hot, 0.3)[0]
         - softmax_loss_and_grad(params - step * e, X, one_hot, 0.3)[0]) / (2 * step)
        for e in np.eye(len(params))])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    # and the loss is the plain formula (tiny numbers: the naive form is safe here)
    W = params.reshape(4, 7)
    logits = X @ W[:, :6].T + W[:, 6]
    naive = -np.mean(np.log(np.exp(logits)[one_hot == 1] / np.exp(logits).sum(1))) + 0.15 * (W[:, :6] ** 2).sum()
    assert loss == pytest.approx(naive, rel=1e-12)


def test_softmax_loss_is_stable_for_huge_logits():
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    one_hot = np.eye(2)
    params = np.array([1e4, 0, 0, 0, 1e4, 0])  # logits of 1e4: exp overflows without the shift
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = softmax_loss_and_grad(params, X, one_hot, alpha=0.0)
    assert loss == pytest.approx(0.0, abs=1e-12) and np.isfinite(grad).all()


def test_logistic_regression_beats_85_percent_on_the_sample(split):
    Xtr, ytr, Xte, yte = split
    # tol=1e-3 keeps the test to a few dozen iterations; it scores as the default tol does (0.873)
    model = LogisticRegression(tol=1e-3).fit(Xtr, ytr)
    assert model.score(Xte, yte) > 0.85
    probabilities = model.predict_proba(Xte)
    assert probabilities.shape == (1000, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.classes_[probabilities.argmax(axis=1)], model.predict(Xte))


def test_logistic_regression_is_deterministic_and_takes_any_labels(split):
    Xtr, ytr, _, _ = split
    names = np.array(["zero", "one", "two"])
    keep = ytr < 3
    first = LogisticRegression().fit(Xtr[keep][:150], names[ytr[keep][:150]])
    second = LogisticRegression().fit(Xtr[keep][:150].reshape(150, -1), names[ytr[keep][:150]])
    np.testing.assert_array_equal(first.coef_, second.coef_)
    np.testing.assert_array_equal(first.intercept_, second.intercept_)
    assert sorted(first.classes_.tolist()) == ["one", "two", "zero"]
    assert set(first.predict(Xtr[:20]).tolist()) <= {"zero", "one", "two"}


def test_logistic_regression_scales_pixels_to_unit_range():
    X = np.array([[0], [51], [204], [255]], dtype=np.uint8)
    from_pixels = LogisticRegression(tol=1e-8).fit(X, [0, 0, 1, 1])
    from_floats = LogisticRegression(tol=1e-8).fit(X / 255.0, [0, 0, 1, 1])
    np.testing.assert_allclose(from_pixels.coef_, from_floats.coef_)
    np.testing.assert_allclose(from_pixels.predict_proba(X), from_floats.predict_proba(X / 255.0))


def test_logistic_regression_solves_scikit_learns_objective(sample):
    linear_model = pytest.importorskip("sklearn.linear_model")
    # 7x7 block means of 300 digits: small enough to solve both to a tight tolerance in well under a second
    X = sample.images[:300].reshape(300, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(300, -1) / 255.0
    y = sample.labels[:300]
    ours = LogisticRegression(C=0.5, tol=1e-8).fit(X, y)
    theirs = linear_model.LogisticRegression(C=0.5, tol=1e-10, max_iter=5000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-4)


def test_logistic_regression_errors_and_warnings():
    X = np.array([[0], [255]], dtype=np.uint8)
    with pytest.raises(ValueError, match="single class"):
        LogisticRegression().fit(X, [1, 1])
    with pytest.raises(ValueError, match="C must be a positive number"):
        LogisticRegression(C=0)
    with pytest.raises(ValueError, match="max_iter must be a positive integer"):
        LogisticRegression(max_iter=0)
    with pytest.raises(ValueError, match="tol must be a positive number"):
        LogisticRegression(tol=-1)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        LogisticRegression().predict(X)
    rng = np.random.default_rng(0)
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 L-BFGS iterations"):
        LogisticRegression(max_iter=1).fit(rng.random((40, 5)), rng.integers(0, 3, 40))


# ---------------------------------------------------------------------------------------------- MLP


def test_mlp_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.random((7, 5))
    codes = np.array([0, 1, 2, 1, 0, 2, 2])
    model = MLP(hidden=(4, 3), weight_decay=0.1)
    model.weights_ = [rng.normal(size=s) for s in ((5, 4), (4, 3), (3, 3))]  # float64: exact enough to compare
    model.biases_ = [rng.normal(size=s) for s in (4, 3, 3)]
    loss, grads = model._loss_and_grads(X, codes)
    params = [*model.weights_, *model.biases_]
    for p, g in zip(params, grads):
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            keep = p[i]
            p[i] = keep + 1e-6
            up = model._loss_and_grads(X, codes)[0]
            p[i] = keep - 1e-6
            down = model._loss_and_grads(X, codes)[0]
            p[i] = keep
            numeric[i] = (up - down) / 2e-6
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7)


def test_mlp_learns_digits_and_is_reproducible_for_a_seed(split):
    Xtr, ytr, Xte, yte = split
    model = MLP(hidden=(128,), epochs=15, seed=3).fit(Xtr, ytr)
    assert model.score(Xte, yte) > 0.85
    again = MLP(hidden=(128,), epochs=15, seed=3).fit(Xtr, ytr)
    for a, b in zip(model.weights_, again.weights_):
        np.testing.assert_array_equal(a, b)
    other = MLP(hidden=(128,), epochs=15, seed=4).fit(Xtr, ytr)
    assert not np.array_equal(model.weights_[0], other.weights_[0])
    losses = [h["loss"] for h in model.history_]
    assert len(losses) == 15 and losses[-1] < losses[0] / 3
    probabilities = model.predict_proba(Xte[:5])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)
    assert model.predict(Xte[:5]).tolist() == model.classes_[probabilities.argmax(axis=1)].tolist()


def test_mlp_keeps_the_epoch_that_validates_best(split):
    Xtr, ytr, Xte, yte = split
    model = MLP(hidden=(64,), epochs=6, seed=0).fit(Xtr[:300], ytr[:300], validation=[(Xte[:200], yte[:200]),
                                                                                  (Xte[200:400], yte[200:400])])
    scores = [h["validation"] for h in model.history_]
    assert model.best_epoch_ == int(np.argmax(scores)) + 1
    assert np.mean([model.score(Xte[:200], yte[:200]), model.score(Xte[200:400], yte[200:400])]) == \
        pytest.approx(max(scores))
    plain = MLP(hidden=(64,), epochs=6, seed=0).fit(Xtr[:300], ytr[:300])
    assert plain.best_epoch_ == 6 and "validation" not in plain.history_[0]


def test_mlp_takes_any_labels_and_any_example_shape(sample):
    two_channels = np.stack([sample.images, np.zeros_like(sample.images)], axis=-1)[:400]  # (N, 28, 28, 2)
    names = np.array(["small" if d < 5 else "large" for d in sample.labels[:400]])
    model = MLP(hidden=(16,), epochs=3).fit(two_channels, names)
    assert model.classes_.tolist() == ["large", "small"] and set(model.predict(two_channels)) <= {"large", "small"}
    assert model.n_features_in_ == 28 * 28 * 2
    floats = MLP(hidden=(), epochs=2).fit(sample.images[:200] / 255.0, sample.labels[:200])  # softmax regression
    assert len(floats.weights_) == 1 and floats.weights_[0].shape == (784, 10)


@pytest.mark.parametrize("kwargs, match", [
    ({"hidden": (0,)}, "hidden must be a list of positive layer widths"),
    ({"hidden": 256}, "hidden must be a list of positive layer widths"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"batch_size": 1.5}, "batch_size must be a positive integer"),
    ({"learning_rate": 0}, "learning_rate must be a positive number"),
    ({"learning_rate": float("nan")}, "learning_rate must be a positive number"),
    ({"weight_decay": -1}, "weight_decay must be a non-negative number"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_mlp_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


def test_mlp_rejects_bad_inputs(sample):
    with pytest.raises(RuntimeError, match="this MLP is not fitted yet"):
        MLP().predict(sample.images[:2])
    with pytest.raises(ValueError, match="a classifier needs at least two"):
        MLP().fit(sample.images[:3], [1, 1, 1])
    model = MLP(hidden=(4,), epochs=1).fit(sample.images[:20], sample.labels[:20])
    with pytest.raises(ValueError, match="MLP was fitted on 784 features per example but X has 4"):
        model.predict(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"MLP \(validation set 0\) was fitted on 784 features"):
        MLP(epochs=1).fit(sample.images[:20], sample.labels[:20], validation=[(np.zeros((2, 3)), [0, 1])])
    with pytest.raises(ValueError, match="validation set 0: X has 2 rows but y has shape"):
        MLP(epochs=1).fit(sample.images[:20], sample.labels[:20], validation=[(sample.images[:2], [0])])


# ------------------------------------------------------------------------------------- the protocol


def test_every_baseline_and_a_plain_object_is_a_classifier():
    class Majority:
        def fit(self, X, y):
            return self

        def predict(self, X):
            return np.zeros(len(X))

    for model in (KNN(), NearestCentroid(), LogisticRegression(), MLP(), Majority()):
        assert isinstance(model, Classifier)
    assert not isinstance(object(), Classifier)


def test_importing_the_baselines_leaves_scipy_alone():
    code = "import sys, mnistfamily.baselines; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
