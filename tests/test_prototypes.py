"""Tests for embedlab.prototypes (chapter 8's prototype classifiers, chapter 7's CosineClassifier)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedlab.prototypes import (
    CosineClassifier,
    class_prototypes,
    cosine_prototype_logits,
    few_shot_accuracy,
    gaussian_prototype_layer,
    nearest_centroid_predict,
)


def _proto_blobs(seed=0, n=300, d=6, C=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, size=n)
    return rng.normal(size=(C, d))[y] * 1.5 + rng.normal(size=(n, d)), y


def test_nearest_centroid_matches_sklearn():
    from sklearn.neighbors import NearestCentroid

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
    with pytest.raises(ValueError, match="^test_x has a zero row"):
        nearest_centroid_predict(X, y, np.vstack([X[:2], np.zeros((1, X.shape[1]))]), metric="cosine")
    with pytest.raises(ValueError, match="^prototypes has a zero row"):
        cosine_prototype_logits(X, np.vstack([protos[:1], np.zeros((1, X.shape[1]))]))


def test_gaussian_prototype_layer_is_nearest_centroid_and_bayes():
    from scipy.special import softmax
    from sklearn.metrics.pairwise import euclidean_distances
    from sklearn.neighbors import NearestCentroid

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

    from embedlab.intervals import mean_interval

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


def test_cosine_classifier_shapes_and_scale():
    m = CosineClassifier(4, 3, scale=np.float32(5.0), learn_scale=False)
    x = torch.randn(7, 4)
    z = m(x)
    assert z.shape == (7, 3) and z.abs().max() <= 5.0 + 1e-5  # bias starts at 0: |scale * cos| <= scale
    assert not any(p is m.log_scale for p in m.parameters())
    with pytest.raises(ValueError, match="scale"):
        CosineClassifier(3, 2, scale=0)


# -- issue 21 --------------------------------------------------------------------------------------------
def test_cosine_classifier_refuses_an_infinite_scale_like_cosine_prototype_logits():
    # CosineClassifier(scale=inf) was accepted: log_scale = inf, logits ±inf or NaN, softmax NaN.
    # cosine_prototype_logits refused it; now both use one check, naming `scale`.
    X, _ = _proto_blobs()
    for bad in (float("inf"), np.inf, float("nan"), 0.0, -1.0, True, "10"):
        with pytest.raises(ValueError, match="^scale must be"):
            CosineClassifier(6, 4, scale=bad)
        with pytest.raises(ValueError, match="^scale must be"):
            cosine_prototype_logits(X, X[:4], scale=bad)
    with pytest.raises(ValueError, match="^scale must be at most"):  # exp(log 1e300) is inf in float32
        CosineClassifier(6, 4, scale=np.float64(1e300))
    assert CosineClassifier(6, 4, scale=np.float64(1e30)).scale.item() == pytest.approx(1e30, rel=1e-6)
    assert CosineClassifier(6, 4, scale=np.int64(30), learn_scale=False).scale.item() == pytest.approx(30)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_cosine_classifier_takes_every_float_dtype(dtype):
    torch.manual_seed(0)
    m = CosineClassifier(6, 4, scale=5.0)
    x = torch.randn(8, 6, dtype=torch.float64)
    z = m(x.to(dtype))
    assert z.dtype == dtype
    torch.testing.assert_close(z.double(), m(x.float()).double(), atol=0.05, rtol=0)
    z.float().sum().backward()  # trainable in any dtype
    assert m.weight.grad is not None and m.log_scale.grad is not None
    with pytest.raises(ValueError, match="^x has a zero row"):
        m(torch.zeros(2, 6, dtype=dtype))
    with pytest.raises(ValueError, match="^x must have 6 columns"):
        m(torch.ones(2, 5, dtype=dtype))


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_prototypes_do_not_depend_on_the_scale(scale):
    # 2 x·μ - |μ|² of 1e200 rows overflowed to inf - inf = NaN and argmax took class 0
    X, y = _proto_blobs()
    for metric in ("euclidean", "cosine"):
        np.testing.assert_array_equal(nearest_centroid_predict(X * scale, y, X * scale, metric=metric),
                                      nearest_centroid_predict(X, y, X, metric=metric))
    np.testing.assert_allclose(cosine_prototype_logits(X * scale, X[:4] * scale, scale=3.0),
                               cosine_prototype_logits(X, X[:4], scale=3.0), atol=1e-12)
    acc = few_shot_accuracy(X * scale, y, X * scale, y, shots=3, draws=3, method="centroid")
    np.testing.assert_array_equal(acc, few_shot_accuracy(X, y, X, y, shots=3, draws=3, method="centroid"))


def test_prototypes_refuse_bool_labels_and_features_and_take_numpy_scalars():
    X, y = _proto_blobs()
    with pytest.raises(ValueError, match="^y must be class labels"):
        class_prototypes(X, y > 1)
    with pytest.raises(ValueError, match="^x must be an array of real numbers"):
        class_prototypes(X > 0, y)
    with pytest.raises(ValueError, match="^shots must be an integer"):
        few_shot_accuracy(X, y, X, y, shots=2.0)
    with pytest.raises(ValueError, match="^metric must be"):
        nearest_centroid_predict(X, y, X, metric="dot")
    with pytest.raises(ValueError, match="^variance must be"):
        gaussian_prototype_layer(X[:4], variance=float("inf"))
    acc = few_shot_accuracy(X, y, X, y, shots=np.int64(2), draws=np.int32(2))
    assert acc.shape == (2,)
    W, b = gaussian_prototype_layer(torch.from_numpy(X[:4]).to(torch.bfloat16), variance=np.float32(2.0))
    assert W.shape == (4, 6) and np.isfinite(b).all()
