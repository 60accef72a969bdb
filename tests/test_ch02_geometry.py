"""embedlab.geometry (chapter 2) against scikit-learn, SciPy and NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

from embedlab.geometry import k_occurrence, knn_indices, neighbour_overlap, pca, relative_contrast, skewness


@pytest.fixture
def X() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(300, 12))


def _sklearn_knn(X: np.ndarray, k: int, metric: str) -> np.ndarray:
    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute").fit(X)
    idx = nn.kneighbors(X, return_distance=False)
    # each point is its own nearest neighbour (distance 0); drop it
    return np.array([[j for j in row if j != i][:k] for i, row in enumerate(idx)])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("batch_size", [7, 2048])
def test_knn_indices_match_sklearn(X, metric, batch_size):
    got = knn_indices(X, 5, metric=metric, batch_size=batch_size).numpy()
    np.testing.assert_array_equal(got, _sklearn_knn(X, 5, metric))


def test_knn_dot_matches_numpy(X):
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    ref = np.argsort(-S, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(knn_indices(X, 4, metric="dot", batch_size=50).numpy(), ref)


def test_knn_never_contains_self(X):
    idx = knn_indices(X, 10)
    assert not (idx == torch.arange(len(X))[:, None]).any()


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_k_occurrence_counts_sklearn_lists(X, metric):
    ref = np.bincount(_sklearn_knn(X, 10, metric).ravel(), minlength=len(X))
    got = k_occurrence(X, 10, metric=metric, batch_size=64)
    np.testing.assert_array_equal(got.numpy(), ref)
    assert int(got.sum()) == 10 * len(X)


def test_k_occurrence_hub_on_a_constructed_example():
    # points on a line 0, 1, 2, 3, 10: with k=1 every point's nearest neighbour is known
    X = np.array([[0.0], [1.0], [2.1], [3.3], [10.0]])
    # 0->1, 1->0, 2->1, 3->2, 10->3
    np.testing.assert_array_equal(k_occurrence(X, 1).numpy(), [1, 2, 1, 1, 0])


@pytest.mark.parametrize("bad", [0, 300, 2.0, True])
def test_knn_bad_k(X, bad):
    with pytest.raises(ValueError, match="k must be"):
        knn_indices(X, bad)


def test_knn_bad_metric_and_batch(X):
    with pytest.raises(ValueError, match="metric"):
        knn_indices(X, 3, metric="manhattan")
    with pytest.raises(ValueError, match="batch_size"):
        knn_indices(X, 3, batch_size=0)
    with pytest.raises(ValueError, match="no rows"):
        knn_indices(np.zeros((0, 3)), 1)


def test_skewness_matches_scipy():
    x = np.random.default_rng(1).exponential(size=1000)
    assert skewness(x) == pytest.approx(scipy.stats.skew(x), rel=1e-10)
    assert skewness(torch.tensor([1.0, 2.0, 3.0])) == pytest.approx(0.0, abs=1e-12)


def test_skewness_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        skewness([1.0])
    with pytest.raises(ValueError, match="constant"):
        skewness([2.0, 2.0, 2.0])


def test_relative_contrast_matches_sklearn_distances(X):
    Q, P = X[:20], X[20:]
    D = pairwise_distances(Q, P)
    ref = (D.max(1) - D.min(1)) / D.min(1)
    np.testing.assert_allclose(relative_contrast(Q, P).numpy(), ref, rtol=1e-6)


def test_relative_contrast_bad_input(X):
    with pytest.raises(ValueError, match="coincide"):
        relative_contrast(X[:3], X)
    with pytest.raises(ValueError, match="at least 2"):
        relative_contrast(X[:3], X[3:4])
    with pytest.raises(ValueError, match="d="):
        relative_contrast(X[:3, :5], X[3:])


def test_neighbour_overlap():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    b = np.array([[3, 2, 9], [7, 8, 0]])
    # row 0 shares {2, 3} (2/3), row 1 shares nothing
    assert neighbour_overlap(a, b) == pytest.approx((2 / 3 + 0) / 2)
    assert neighbour_overlap(a, a) == 1.0
    ref = np.mean([len(set(r) & set(s)) / 3 for r, s in zip(a, b)])
    assert neighbour_overlap(a, b) == pytest.approx(ref)


def test_neighbour_overlap_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        neighbour_overlap(np.zeros((2, 3), int), np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="empty"):
        neighbour_overlap(np.zeros((0, 3), int), np.zeros((0, 3), int))


def test_pca_matches_sklearn(X):
    res = pca(X, 4)
    ref = PCA(n_components=4, svd_solver="full").fit(X)
    np.testing.assert_allclose(res.explained_variance_ratio.numpy(), ref.explained_variance_ratio_, rtol=1e-8)
    np.testing.assert_allclose(res.mean.numpy(), ref.mean_, atol=1e-12)
    # components agree up to the sign of each one
    signs = np.sign((res.components.numpy() * ref.components_).sum(1))
    np.testing.assert_allclose(res.components.numpy(), ref.components_ * signs[:, None], atol=1e-8)
    np.testing.assert_allclose(res.projected.numpy(), ref.transform(X) * signs, atol=1e-8)
    np.testing.assert_allclose(res.transform(X[:5]).numpy(), res.projected[:5].numpy(), atol=1e-10)


def test_pca_all_components_preserve_distances(X):
    res = pca(X, X.shape[1])
    np.testing.assert_allclose(pairwise_distances(res.projected.numpy()), pairwise_distances(X), atol=1e-8)
    assert float(res.explained_variance_ratio.sum()) == pytest.approx(1.0)


def test_pca_bad_input(X):
    with pytest.raises(ValueError, match="n_components"):
        pca(X, 13)
    with pytest.raises(ValueError, match="n_components"):
        pca(X, 0)
    with pytest.raises(ValueError, match="identical"):
        pca(np.ones((5, 3)), 2)
    with pytest.raises(ValueError, match="d="):
        pca(X, 2).transform(X[:, :5])


def _exact_knn(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k-NN from float64 differences (no ‖a‖² + ‖b‖² − 2a·b rounding), self excluded."""
    X = np.asarray(X, dtype=np.float64)
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, 1)


def test_knn_float32_far_from_the_origin_matches_float64():
    # randn + 100 in float32: the old expansion's errors (up to ~1) reordered the neighbours
    X = (np.random.default_rng(3).normal(size=(300, 64)) + 100).astype(np.float32)
    ref_idx, _ = _exact_knn(X, 5)
    for bs in (7, 2048):
        np.testing.assert_array_equal(knn_indices(X, 5, batch_size=bs).numpy(), ref_idx)
    np.testing.assert_array_equal(k_occurrence(X, 5).numpy(), np.bincount(ref_idx.ravel(), minlength=300))


def test_knn_is_similarity_topk(X):
    from embedlab.similarity import topk

    for metric in ("euclidean", "cosine", "dot"):
        _, ref = topk(X, X, 6, metric=metric, exclude_self=True)
        assert torch.equal(knn_indices(X, 6, metric=metric, batch_size=13), ref)


def test_knn_refuses_nan(X):
    Y = X.copy()
    Y[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*rows \[4\]"):
        knn_indices(Y, 3)


def test_relative_contrast_float32_far_from_the_origin():
    rng = np.random.default_rng(4)
    P = (rng.normal(size=(400, 64)) + 100).astype(np.float32)
    Q = (rng.normal(size=(20, 64)) + 100).astype(np.float32)
    D = np.sqrt(((Q.astype(np.float64)[:, None] - P.astype(np.float64)[None]) ** 2).sum(-1))
    ref = (D.max(1) - D.min(1)) / D.min(1)
    np.testing.assert_allclose(relative_contrast(Q, P).numpy(), ref, rtol=1e-5)


# -- issue 21 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_pca_and_skewness_do_not_depend_on_the_scale(X, scale):
    # 1e-200 data once had "no variance" (squares underflow) and 1e200 data NaN components
    ref = pca(X, 3)
    got = pca(X * scale, 3)
    torch.testing.assert_close(got.explained_variance_ratio, ref.explained_variance_ratio, rtol=1e-10, atol=0)
    torch.testing.assert_close(got.components, ref.components, rtol=1e-8, atol=1e-10)
    assert skewness(X[:, 0] * scale) == pytest.approx(skewness(X[:, 0]), rel=1e-10)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_pca_takes_half_precision(X, dtype):
    # "linalg_svd_cpu" is not implemented for Half/BFloat16: computed in float32, returned in dtype
    T = torch.as_tensor(X).to(dtype)
    res = pca(T, 2)
    assert res.projected.dtype == dtype and res.components.dtype == dtype
    ref = pca(T.float(), 2)
    torch.testing.assert_close(res.explained_variance_ratio.float(), ref.explained_variance_ratio, rtol=1e-2, atol=0)
    assert res.transform(T[:3]).dtype == dtype


def test_neighbour_overlap_refuses_masks_and_float_ids_by_name():
    with pytest.raises(ValueError, match="^a must be a matrix of integer ids, got dtype bool"):
        neighbour_overlap(np.ones((2, 3), bool), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="^b must be a matrix of integer ids, got dtype float64"):
        neighbour_overlap(np.ones((2, 3), int), np.ones((2, 3)))
    with pytest.raises(ValueError, match="^x must be an array of real numbers"):
        skewness(np.array([True, False, True]))
