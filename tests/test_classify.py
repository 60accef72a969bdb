"""Tests for embedlab.classify (chapter 4's probes) against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedlab.classify import knn_accuracy, linear_probe_accuracy
from embedlab.contrastive import load_digits_split


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def test_knn_matches_sklearn(digits):
    from sklearn.neighbors import KNeighborsClassifier

    Xtr, ytr = digits.train_x.reshape(-1, 64).numpy(), digits.train_y.numpy()
    g = torch.Generator().manual_seed(5)
    Xte = (digits.test_x + 0.3 * torch.rand(digits.test_x.shape, generator=g)).reshape(-1, 64).numpy()
    yte = digits.test_y.numpy()
    for k, metric in [(1, "cosine"), (5, "cosine"), (4, "cosine"), (5, "euclidean")]:
        ref = KNeighborsClassifier(n_neighbors=k, metric=metric, algorithm="brute").fit(Xtr, ytr).score(Xte, yte)
        assert knn_accuracy(Xtr, ytr, Xte, yte, k=k, metric=metric) == pytest.approx(ref, abs=1e-12)


def test_linear_probe():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 10)) * 5
    y = rng.integers(0, 3, size=300)
    X = centres[y] + rng.normal(size=(300, 10))
    assert linear_probe_accuracy(X[:200], y[:200], X[200:], y[200:]) == 1.0
    noise = rng.normal(size=(300, 10))  # no information: near chance (1/3)
    assert linear_probe_accuracy(noise[:200], y[:200], noise[200:], y[200:]) < 0.5
    with pytest.raises(ValueError, match="different dimensions"):
        linear_probe_accuracy(X[:200], y[:200], X[200:, :5], y[200:])
    with pytest.raises(ValueError, match="train_y must have shape"):
        linear_probe_accuracy(X[:200], y[:100], X[200:], y[200:])
    with pytest.raises(ValueError, match="non-empty"):
        knn_accuracy(X[:0], y[:0], X, y)


def _blobs(n: int = 60, seed: int = 0):
    """Three noisy clusters in 4-D: k-NN gets most, not all, of them right."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 4)) * 1.2
    cls = rng.integers(0, 3, n)
    return centres[cls] + rng.normal(size=(n, 4)), cls


@pytest.mark.parametrize(
    "labels",
    [np.array(["cat", "dog", "emu"]), np.array([-1, 1, 3]), np.array([10, 2, 7]), np.array([0.0, 1.0, 2.0])],
    ids=["strings", "negative", "unordered", "integral floats"],
)
def test_knn_compares_labels_as_given_like_sklearn(labels):
    from sklearn.neighbors import KNeighborsClassifier

    X, cls = _blobs()
    y = labels[cls]
    for k, metric in [(5, "cosine"), (4, "euclidean")]:  # k=4 makes ties: the smallest label wins
        ref = KNeighborsClassifier(n_neighbors=k, metric=metric, algorithm="brute").fit(X[:40], y[:40])
        got = knn_accuracy(X[:40], y[:40], X[40:], y[40:], k=k, metric=metric)
        assert got == pytest.approx(ref.score(X[40:], y[40:]), abs=1e-12)
        assert 0.3 < got < 1.0


def test_knn_does_not_truncate_float_labels():
    # Labels 0.5, 1.5, 2.5 once became 0, 1, 2 and then never equalled the test labels: accuracy
    # 0.0. scikit-learn refuses such "continuous" labels; with them encoded as 0, 1, 2 it scores
    # the same vote, which is what ours must give on the labels as they are.
    from sklearn.neighbors import KNeighborsClassifier

    X, cls = _blobs()
    y = np.array([0.5, 1.5, 2.5])[cls]
    ref = KNeighborsClassifier(n_neighbors=5, metric="cosine", algorithm="brute").fit(X[:40], cls[:40])
    expected = ref.score(X[40:], cls[40:])
    assert knn_accuracy(X[:40], y[:40], X[40:], y[40:], k=5) == pytest.approx(expected, abs=1e-12)
    assert expected > 0.5
    assert knn_accuracy(torch.from_numpy(X[:40]), torch.from_numpy(y[:40]), X[40:], y[40:]) == pytest.approx(expected)


def test_knn_label_errors():
    X, cls = _blobs()
    y = cls.astype(float)
    y[3] = np.nan
    with pytest.raises(ValueError, match="train_y contains NaN"):
        knn_accuracy(X, y, X, cls)
    mixed = np.array([1, "a"] * 30, dtype=object)
    with pytest.raises(ValueError, match="train_y must hold labels of one sortable kind"):
        knn_accuracy(X, mixed, X, cls)


# -- prototypes (chapter 8) -----------------------------------------------------------------------
def _proto_blobs(seed=0, n=300, d=6, C=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, size=n)
    return rng.normal(size=(C, d))[y] * 1.5 + rng.normal(size=(n, d)), y


def test_nearest_centroid_matches_sklearn():
    from sklearn.neighbors import NearestCentroid

    from embedlab.classify import class_prototypes, nearest_centroid_predict

    X, y = _proto_blobs()
    Xte, _ = _proto_blobs(seed=1)
    ref = NearestCentroid().fit(X[:200], y[:200])
    np.testing.assert_array_equal(nearest_centroid_predict(X[:200], y[:200], Xte), ref.predict(Xte))
    classes, protos = class_prototypes(X[:200], y[:200])
    np.testing.assert_allclose(protos, ref.centroids_, atol=1e-12)
    np.testing.assert_array_equal(classes, ref.classes_)
    labels = np.array(["a", "b", "c", "d"])[y]  # any sortable labels, as scikit-learn
    ref = NearestCentroid().fit(X, labels).predict(Xte)
    np.testing.assert_array_equal(nearest_centroid_predict(X, labels, Xte), ref)


def test_cosine_prototypes_against_sklearn_cosine_similarity():
    from scipy.special import softmax
    from sklearn.metrics.pairwise import cosine_similarity

    from embedlab.classify import class_prototypes, cosine_prototype_logits, nearest_centroid_predict

    X, y = _proto_blobs()
    classes, protos = class_prototypes(X, y, normalize=True)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(protos, np.stack([U[y == c].mean(0) for c in classes]))
    sims = cosine_similarity(X, protos)  # (N, C)
    np.testing.assert_array_equal(nearest_centroid_predict(X, y, X, metric="cosine"), classes[sims.argmax(1)])
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    logits = cosine_prototype_logits(X, protos, scale=np.float32(7.0), log_prior=np.log(prior))
    np.testing.assert_allclose(softmax(logits, 1), softmax(7.0 * sims + np.log(prior), 1), atol=1e-12)
    with pytest.raises(ValueError, match="scale"):
        cosine_prototype_logits(X, protos, scale=0.0)
    with pytest.raises(ValueError, match="log_prior"):
        cosine_prototype_logits(X, protos, log_prior=np.zeros(3))
    with pytest.raises(ValueError, match="zero row"):
        cosine_prototype_logits(np.zeros((1, 6)), protos)
    # one zero-vector policy (similarity.normalize), and the error names the argument that has the zero row
    with pytest.raises(ValueError, match="^test_x: .*zero row"):
        nearest_centroid_predict(X, y, np.vstack([X[:2], np.zeros((1, X.shape[1]))]), metric="cosine")
    with pytest.raises(ValueError, match="^prototypes: .*zero row"):
        cosine_prototype_logits(X, np.vstack([protos[:1], np.zeros((1, X.shape[1]))]))


def test_gaussian_prototype_layer_is_nearest_centroid_and_bayes():
    from scipy.special import softmax
    from sklearn.metrics.pairwise import euclidean_distances
    from sklearn.neighbors import NearestCentroid

    from embedlab.classify import class_prototypes, gaussian_prototype_layer

    X, y = _proto_blobs()
    _, protos = class_prototypes(X, y)
    W, b = gaussian_prototype_layer(protos)  # equal priors, unit variance
    np.testing.assert_array_equal((X @ W.T + b).argmax(1), NearestCentroid().fit(X, y).predict(X))
    prior, var = np.array([0.1, 0.2, 0.3, 0.4]), 2.5
    W, b = gaussian_prototype_layer(protos, variance=var, priors=prior)
    posterior = softmax(-euclidean_distances(X, protos, squared=True) / (2 * var) + np.log(prior), 1)
    np.testing.assert_allclose(softmax(X @ W.T + b, 1), posterior, atol=1e-12)
    # a wrong bias (log-prior without the norm term) is not Bayes' rule
    assert np.abs(softmax(X @ W.T + np.log(prior), 1) - posterior).max() > 0.1
    with pytest.raises(ValueError, match="priors"):
        gaussian_prototype_layer(protos, priors=[0.5, 0.5, 0.5, -0.5])


def test_few_shot_accuracy_and_interval():
    from scipy import stats

    from embedlab.classify import few_shot_accuracy, mean_interval

    X, y = _proto_blobs(n=400)
    acc = few_shot_accuracy(X[:300], y[:300], X[300:], y[300:], shots=3, draws=8, seed=1)
    assert acc.shape == (8,) and ((0 <= acc) & (acc <= 1)).all() and acc.mean() > 0.6
    again = few_shot_accuracy(X[:300], y[:300], X[300:], y[300:], shots=3, draws=8, seed=1)
    np.testing.assert_array_equal(acc, again)  # seeded
    seen = []
    few_shot_accuracy(X[:300], y[:300], X[300:], y[300:], shots=2, draws=1,
                      method=lambda xs, ys, xt: seen.append(np.bincount(ys)) or np.zeros(len(xt), int))
    np.testing.assert_array_equal(seen[0], [2, 2, 2, 2])  # exactly `shots` per class
    m, lo, hi = mean_interval(acc)
    ref = stats.t.interval(0.95, len(acc) - 1, loc=acc.mean(), scale=stats.sem(acc))
    assert m == pytest.approx(acc.mean()) and (lo, hi) == pytest.approx(ref)
    with pytest.raises(ValueError, match="shots"):
        few_shot_accuracy(X, y, X, y, shots=1000)
    with pytest.raises(ValueError, match="method"):
        few_shot_accuracy(X, y, X, y, shots=1, method="svm")
