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
