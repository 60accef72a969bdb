"""Tests for embedlab.cluster against scikit-learn and scipy (chapter 8)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from embedlab import cluster
from embedlab.cluster import (
    bic,
    fit_gmm,
    fit_vmf_mixture,
    gmm_log_joint,
    gmm_n_parameters,
    kmeans,
    knn_affinity,
    responsibilities,
    spectral_clustering,
    spectral_embedding,
)


@pytest.fixture(scope="module")
def blobs():
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    return PCA(4, random_state=0).fit_transform(load_digits().data[:600])


def _start(X, K, covariance, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(K, 5.0))
    m = X[rng.choice(len(X), K, replace=False)]
    c = np.stack([np.cov(X.T) * (1 + k / 4) for k in range(K)])
    if covariance == "diag":
        c = np.stack([np.diag(ck) for ck in c])
    return w, m, c


def _sklearn(X, K, covariance, start, max_iter):
    from sklearn.mixture import GaussianMixture

    w, m, c = start
    prec = np.linalg.inv(c) if covariance == "full" else 1 / c
    with warnings.catch_warnings():  # max_iter reached on purpose: a fixed number of EM steps on both sides
        warnings.simplefilter("ignore")
        return GaussianMixture(
            K, covariance_type=covariance, weights_init=w, means_init=m, precisions_init=prec, max_iter=max_iter, tol=0
        ).fit(X)


def _assert_same_fit(ours, ref):
    np.testing.assert_allclose(ours.weights, ref.weights_, atol=1e-9)
    np.testing.assert_allclose(ours.means, ref.means_, atol=1e-8)
    np.testing.assert_allclose(ours.covariances, ref.covariances_, atol=1e-7, rtol=1e-8)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_log_likelihood_matches_sklearn_at_the_same_parameters(blobs, covariance):
    ref = _sklearn(blobs, 3, covariance, _start(blobs, 3, covariance), max_iter=5)
    lj = gmm_log_joint(blobs, ref.weights_, ref.means_, ref.covariances_, covariance)  # (N, K)
    resp, log_px = responsibilities(lj)
    np.testing.assert_allclose(log_px, ref.score_samples(blobs), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(resp, ref.predict_proba(blobs), atol=1e-10)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_em_matches_sklearn_from_the_same_start(blobs, covariance):
    start = _start(blobs, 4, covariance)
    ours = fit_gmm(blobs, 4, covariance=covariance, init=start, max_iter=30, tol=0)
    ref = _sklearn(blobs, 4, covariance, start, max_iter=30)
    assert ours.n_iter == ref.n_iter_ == 30
    _assert_same_fit(ours, ref)
    assert all(b >= a - 1e-9 for a, b in zip(ours.history, ours.history[1:]))  # EM never lowers the likelihood
    assert ours.log_likelihood(blobs) == pytest.approx(ref.score(blobs) * len(blobs), rel=1e-12)
    K, d = 4, blobs.shape[1]
    total = ours.log_likelihood(blobs)
    assert bic(total, gmm_n_parameters(K, d, covariance), len(blobs)) == pytest.approx(ref.bic(blobs), rel=1e-12)
    assert gmm_n_parameters(K, d, covariance) == ref._n_parameters()


def test_a_broken_m_step_is_caught(blobs, monkeypatch):
    """The comparison above has teeth: unweighted covariances (a classic EM bug) fail it."""
    start = _start(blobs, 3, "full")
    ref = _sklearn(blobs, 3, "full", start, max_iter=10)
    right = cluster._m_step

    def broken(X, resp, covariance, reg_covar):
        w, m, c = right(X, resp, covariance, reg_covar)
        return w, m, np.stack([np.cov(X.T, bias=True) + reg_covar * np.eye(X.shape[1])] * len(w))

    monkeypatch.setattr(cluster, "_m_step", broken)
    with pytest.raises(AssertionError):
        _assert_same_fit(fit_gmm(blobs, 3, init=start, max_iter=10, tol=0), ref)


def test_responsibilities_survive_far_points_where_naive_exp_fails():
    lj = np.array([[-1000.0, -1001.0], [-5.0, -3.0]])
    resp, log_px = responsibilities(lj)
    np.testing.assert_allclose(resp[0], [1 / (1 + np.exp(-1)), 1 / (1 + np.e)])
    with np.errstate(all="ignore"):
        naive = np.exp(lj) / np.exp(lj).sum(1, keepdims=True)
    assert np.isnan(naive[0]).all()  # why the E-step is in logs
    with pytest.raises(ValueError, match="zero density"):
        responsibilities(np.array([[-np.inf, -np.inf]]))


def test_default_init_recovers_clear_clusters():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 100)
    X = np.array([[0, 0], [8, 0], [0, 8]])[y] + rng.normal(size=(300, 2))
    for cov in ["full", "diag"]:
        fit = fit_gmm(X, 3, covariance=cov)
        assert fit.converged and adjusted_rand_score(y, fit.predict(X)) == 1.0
        np.testing.assert_allclose(fit.predict_proba(X).sum(1), 1.0)
    assert adjusted_rand_score(y, kmeans(X, 3)[0]) == 1.0


def test_bad_input_names_the_argument(blobs):
    with pytest.raises(ValueError, match="covariance"):
        fit_gmm(blobs, 2, covariance="spherical")
    with pytest.raises(ValueError, match="n_components"):
        fit_gmm(blobs, 0)
    with pytest.raises(ValueError, match="n_components"):
        fit_gmm(blobs, np.int64(len(blobs) + 1))
    with pytest.raises(ValueError, match="x contains NaN"):
        fit_gmm(np.full((5, 2), np.nan), 2)
    with pytest.raises(ValueError, match="weights"):
        gmm_log_joint(blobs, [0.5, 0.6], blobs[:2], np.stack([np.eye(4)] * 2))
    with pytest.raises(ValueError, match="positive definite"):
        gmm_log_joint(blobs, [0.5, 0.5], blobs[:2], np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="x rows must be unit vectors"):
        fit_vmf_mixture(blobs, 2)
    with pytest.raises(ValueError, match="symmetric"):
        spectral_embedding(np.array([[0.0, 1.0], [0.0, 0.0]]), 1)
    with pytest.raises(ValueError, match="isolated"):
        spectral_embedding(np.zeros((3, 3)), 1)
    assert fit_gmm(blobs, np.int64(2), max_iter=np.int64(3)).n_iter == 3  # NumPy integers are numbers


def test_vmf_mixture_log_density_matches_scipy_and_recovers_components():
    from scipy.stats import vonmises_fisher

    d = 8
    mus, kappas = np.eye(d)[:3], [30.0, 60.0, 12.0]
    X = np.concatenate([vonmises_fisher(mus[i], kappas[i]).rvs(400, random_state=i) for i in range(3)])
    y = np.repeat(np.arange(3), 400)
    fit = fit_vmf_mixture(X, 3)
    assert fit.converged and adjusted_rand_score(y, fit.predict(X)) > 0.97
    order = np.argmax(fit.means @ mus.T, axis=0)  # fitted component of each true one
    np.testing.assert_allclose(fit.kappas[order], kappas, rtol=0.15)
    np.testing.assert_allclose(fit.weights, 1 / 3, atol=0.02)
    # the mixture's joint log-density is log π_k + scipy's vMF log-density, component by component
    parts = zip(fit.weights, fit.means, fit.kappas)
    ref = np.stack([np.log(w) + vonmises_fisher(m, k).logpdf(X) for w, m, k in parts], 1)
    np.testing.assert_allclose(fit.log_joint(X), ref, rtol=1e-10)
    shared = fit_vmf_mixture(X, 3, shared_kappa=True)
    assert np.ptp(shared.kappas) == 0


def _two_rings_affinity():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [60, 90, 40])
    centres = np.array([[0, 0, 5], [5, 0, 0], [0, 5, 0]])
    X = centres[y] + 0.5 * rng.normal(size=(len(y), 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    A = knn_affinity(X @ X.T, 8) + 1e-3  # a weak link everywhere: one connected graph
    np.fill_diagonal(A, 0.0)
    return A, y


def test_spectral_clustering_matches_sklearn_on_a_clear_case():
    from sklearn.cluster import SpectralClustering

    A, y = _two_rings_affinity()
    ours = spectral_clustering(A, 3)
    ref = SpectralClustering(3, affinity="precomputed", random_state=0).fit_predict(A)
    assert adjusted_rand_score(y, ours) == 1.0 and adjusted_rand_score(ref, ours) == 1.0


def test_spectral_embedding_spans_sklearns_subspace():
    from sklearn.manifold import spectral_embedding as sk_embedding

    A, _ = _two_rings_affinity()
    rng = np.random.default_rng(3)
    A = A + 0.05 * (lambda r: r + r.T)(rng.random(A.shape))  # dense: a well-separated eigengap
    np.fill_diagonal(A, 0.0)  # scikit-learn's Laplacian drops self-loops
    k = 3
    ours = cluster.spectral_embedding(A, k)
    # scikit-learn returns D^-1/2 u (random-walk eigenvectors); ours are u, rows normalised.
    ref = sk_embedding(A, n_components=k, drop_first=False, norm_laplacian=True, random_state=0)
    ref = ref * np.sqrt(A.sum(1))[:, None]
    unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    u_ref, u_ours = np.linalg.qr(ref)[0], np.linalg.qr(ours * np.linalg.norm(ref, axis=1, keepdims=True))[0]
    np.testing.assert_allclose(u_ref @ u_ref.T, u_ours @ u_ours.T, atol=1e-6)  # same subspace
    assert unit.shape == ours.shape
    # a broken variant (the unnormalised adjacency's eigenvectors) spans another subspace
    wrong = np.linalg.eigh(A)[1][:, -k:]
    u_wrong = np.linalg.qr(wrong)[0]
    assert np.abs(u_ref @ u_ref.T - u_wrong @ u_wrong.T).max() > 1e-3


def test_knn_affinity_is_symmetric_and_sparse():
    S = np.array([[1, 0.9, 0.1, 0.0], [0.9, 1, 0.2, 0.1], [0.1, 0.2, 1, 0.8], [0.0, 0.1, 0.8, 1]])
    A = knn_affinity(S, 1)
    np.testing.assert_array_equal(A, A.T)
    np.testing.assert_array_equal(A, [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    with pytest.raises(ValueError, match="k must be"):
        knn_affinity(S, 4)


# -- issue 21: scale, dtypes and argument checks ------------------------------------------------------
def _three_blobs(seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 40)
    return rng.normal(size=(3, 5))[y] * 4 + rng.normal(size=(120, 5)), y


@pytest.mark.parametrize("scale", [1e-200, 1e-30, 1e30, 1e200])
def test_kmeans_labels_do_not_depend_on_the_scale(scale):
    # x * 1e-200 once came back as one cluster: its squared distances underflow to 0, so every
    # point was "nearest" to centre 0. 1e200 overflowed them to inf.
    X, y = _three_blobs()
    labels, centres = kmeans(X, 3)
    assert adjusted_rand_score(labels, y) == 1.0
    got, got_centres = kmeans(X * scale, 3)
    np.testing.assert_array_equal(got, labels)
    np.testing.assert_allclose(got_centres, centres * scale, rtol=1e-12)


def test_kmeans_on_moderate_data_is_unchanged_by_the_rescaling():
    X, _ = _three_blobs(1)
    labels, centres = kmeans(X, 3)
    again, centres2 = kmeans(X * 2.0**40, 3)  # a power of two: the rescaled problem is bit-identical
    np.testing.assert_array_equal(again, labels)
    np.testing.assert_array_equal(centres2, centres * 2.0**40)


def test_cluster_takes_half_precision_tensors_and_numpy_scalars():
    import torch

    X, y = _three_blobs()
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        labels, _ = kmeans(torch.from_numpy(X).to(dtype), np.int64(3), n_init=np.int32(2))
        assert adjusted_rand_score(labels, y) == 1.0
    U = torch.nn.functional.normalize(torch.from_numpy(X), dim=1)
    for dtype in (torch.float16, torch.bfloat16):  # unit rows to the dtype's own rounding
        fit = fit_vmf_mixture(U.to(dtype), 3)
        assert adjusted_rand_score(fit.predict(U.numpy()), y) == 1.0
    assert bic(np.float32(-10.0), np.int64(3), np.int16(100)) == pytest.approx(20 + 3 * np.log(100))


def test_cluster_refuses_bool_and_non_finite_input_by_name():
    X, _ = _three_blobs()
    with pytest.raises(ValueError, match="^x must be an array of real numbers"):
        kmeans(X > 0, 2)
    with pytest.raises(ValueError, match="^x contains NaN"):
        kmeans(np.where(np.eye(120, 5) > 0, np.nan, X), 2)
    with pytest.raises(ValueError, match="^k must be an integer"):
        kmeans(X, True)
    with pytest.raises(ValueError, match="^k must be an integer"):
        kmeans(X, 2.0)
    with pytest.raises(ValueError, match="^total_log_likelihood must be a finite"):
        bic(float("nan"), 3, 100)
    with pytest.raises(ValueError, match="^shared_kappa must be True or False"):
        fit_vmf_mixture(X / np.linalg.norm(X, axis=1, keepdims=True), 2, shared_kappa="yes")
    with pytest.raises(ValueError, match="^tol must be"):
        fit_gmm(X, 2, tol=float("nan"))
    with pytest.raises(ValueError, match="^log_joint contains NaN"):
        responsibilities(np.array([[0.0, np.nan]]))


def test_knn_affinity_breaks_ties_by_the_lower_index():
    S = np.ones((5, 5))  # every off-diagonal similarity ties: each row's k=2 neighbours are the lowest ids
    A = knn_affinity(S, 2)
    want = np.zeros((5, 5))
    for i in range(5):
        for j in [j for j in range(5) if j != i][:2]:
            want[i, j] = 1.0
    np.testing.assert_array_equal(A, (want + want.T) / 2)


def test_rescaled_is_an_exact_power_of_two():
    from embedlab._rows import rescaled

    a, b = np.array([[3.0, -1e-5], [0.25, 7.9]]), np.array([1e-300, -12.0])
    (ra, rb), e = rescaled(a, b)
    assert e == 4 and max(np.abs(ra).max(), np.abs(rb).max()) == 12.0 / 16
    np.testing.assert_array_equal(np.ldexp(ra, e), a)  # bit for bit
    np.testing.assert_array_equal(np.ldexp(rb, e), b)
    (rz,), e = rescaled(np.zeros(3))
    assert e == 0 and not rz.any()
    (tiny,), e = rescaled(np.array([1e-300, 3e-301]))
    assert 0.5 <= np.abs(tiny).max() < 1 and np.ldexp(tiny, e)[1] == 3e-301
