"""Clustering embeddings: a Gaussian mixture by EM, a von Mises-Fisher mixture, spectral clustering.

Taught in chapter 8. Three models for three kinds of input, which is the point of the chapter:

* :func:`fit_gmm`: a Gaussian mixture fitted by EM, written out (``covariance="full"`` or
  ``"diag"``). It models the vectors themselves, ``x: (N, d)``. The E-step works in logs
  (log-sum-exp), so a point far from every component gets responsibilities, not NaN. Same
  updates as scikit-learn's ``GaussianMixture`` (same ``reg_covar`` and the same tiny
  ``10 * eps`` added to each component's mass), so from the same start both reach the same fit;
* :func:`fit_vmf_mixture`: a mixture of von Mises-Fisher densities for unit vectors, the
  natural "Gaussian" on the sphere (Banerjee et al., 2005): ``p(x | k) ∝ exp(κ_k μ_kᵀx)``;
* :func:`spectral_clustering`: clusters from a *similarity matrix* ``S: (N, N)`` alone
  (Ng, Jordan & Weiss, 2001): the top eigenvectors of ``D^-1/2 A D^-1/2``, rows normalised,
  then k-means.

Responsibilities are posteriors ``p(component | x)``; :func:`bic` scores a fit for model
selection. Adjusted Rand index and NMI come from ``sklearn.metrics`` (never re-implemented).
The von Mises-Fisher density and κ estimation come from :mod:`embedlab.vmf` (chapter 7).

Over 400 lines on purpose: one concept (clustering), with k-means as the shared initialiser.

Everything is NumPy float64; tensors are accepted and converted. The fitting functions take
``threads`` (default 1), the BLAS threads they may use: these problems are small, and on a busy
2-core machine a threaded triangular solve took 14 ms a call against 0.1 ms with one thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.linalg import cho_factor, eigh, solve_triangular
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from embedlab import _checks
from embedlab._checks import ArgumentError
from embedlab._rows import rescaled, topk, unit_rows
from embedlab.vmf import _unit_rows, estimate_kappa, log_normalizer

__all__ = [
    "kmeans",
    "GaussianMixtureFit",
    "gmm_log_joint",
    "responsibilities",
    "fit_gmm",
    "gmm_n_parameters",
    "bic",
    "VMFMixtureFit",
    "fit_vmf_mixture",
    "knn_affinity",
    "spectral_embedding",
    "spectral_clustering",
]

Covariance = Literal["full", "diag"]
_EPS = 10 * np.finfo(np.float64).eps  # scikit-learn adds this to every component's mass


# -- k-means (the initialiser of every model here, and the last step of spectral clustering) ------
def kmeans(
    x, k: int, *, n_init: int = 4, max_iter: int = 100, seed: int = 0, threads: int | None = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding; the best of ``n_init`` starts by inertia.

    x: (N, d)  ->  labels (N,) in 0..k-1, centres (k, d)

    The labels do not depend on the scale of ``x``: it is rescaled by a power of two
    (:func:`embedlab._rows.rescaled`, exact) before fitting, so that ``x * 1e-200`` (whose squared
    distances underflow to 0) and ``x * 1e200`` (overflow to inf) are clustered as ``x`` is;
    the centres are returned in the units of ``x``.
    """
    with threadpool_limits(limits=threads):
        X = _checks.array(x, "x", ndim=2)
        (X,), e = rescaled(X)
        labels, centres = _kmeans(X, k, n_init=n_init, max_iter=max_iter, seed=seed)
        return labels, np.ldexp(centres, e)


def _kmeans(X: np.ndarray, k: int, *, n_init: int, max_iter: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    k = _checks.integer(k, "k", low=1, high=X.shape[0])
    n_init, max_iter = _checks.integer(n_init, "n_init", low=1), _checks.integer(max_iter, "max_iter", low=1)
    rng = np.random.default_rng(seed)
    sq = (X**2).sum(1)
    best: tuple[float, np.ndarray | None, np.ndarray | None] = (np.inf, None, None)  # inertia, labels, centres
    for _ in range(n_init):
        centres = [X[rng.integers(X.shape[0])]]
        d2 = ((X - centres[0]) ** 2).sum(1)
        for _ in range(1, k):  # k-means++: next centre with probability ∝ squared distance
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(X), 1 / len(X))
            centres.append(X[rng.choice(len(X), p=p)])
            d2 = np.minimum(d2, ((X - centres[-1]) ** 2).sum(1))
        C = np.array(centres)  # (k, d)
        labels = np.full(len(X), -1)
        for _ in range(max_iter):
            dist = sq[:, None] - 2 * X @ C.T + (C**2).sum(1)[None, :]  # (N, k) squared distances
            new = dist.argmin(1)
            if np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                if (labels == j).any():  # an empty cluster keeps its centre
                    C[j] = X[labels == j].mean(0)
        inertia = dist[np.arange(len(X)), labels].sum()
        if inertia < best[0]:
            best = (inertia, labels.copy(), C.copy())
    # n_init >= 1 and X is finite, so the first start's inertia beats inf unless it overflowed
    assert best[1] is not None and best[2] is not None, "k-means inertia overflowed: no start was kept"
    return best[1], best[2]


# -- Gaussian mixture -----------------------------------------------------------------------------
class _Mixture:
    """What every fitted mixture derives from its ``log_joint(x): (N, K) = log π_k + log p(x | k)``."""

    def log_joint(self, x) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, x) -> np.ndarray:
        """x: (N, d) -> (N, K) responsibilities, the posteriors ``p(k | x)``."""
        return responsibilities(self.log_joint(x))[0]

    def predict(self, x) -> np.ndarray:
        return self.log_joint(x).argmax(1)

    def log_likelihood(self, x) -> float:
        """Total log-likelihood ``Σ_n log p(x_n)`` (not the mean)."""
        return float(logsumexp(self.log_joint(x), axis=1).sum())


@dataclass
class GaussianMixtureFit(_Mixture):
    """A fitted mixture: ``weights (K,)``, ``means (K, d)``, ``covariances`` ``(K, d, d)`` (full)
    or ``(K, d)`` (diag); ``history`` is the mean log-likelihood per point before each M-step."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance: Covariance
    n_iter: int
    converged: bool
    history: list[float] = field(default_factory=list)

    def log_joint(self, x) -> np.ndarray:
        """x: (N, d) -> (N, K), ``log π_k + log N(x | μ_k, Σ_k)``."""
        return gmm_log_joint(x, self.weights, self.means, self.covariances, self.covariance)


def gmm_log_joint(x, weights, means, covariances, covariance: Covariance = "full") -> np.ndarray:
    """``log π_k + log N(x_n | μ_k, Σ_k)`` for every point and component.

    x: (N, d), weights: (K,), means: (K, d), covariances: (K, d, d) or (K, d)  ->  (N, K)
    """
    _checks.choice(covariance, "covariance", ("full", "diag"))
    X, M = _checks.array(x, "x", ndim=2), _checks.array(means, "means", ndim=2)
    w = _checks.array(weights, "weights", ndim=1)
    K, d = M.shape
    if X.shape[1] != d:
        raise ArgumentError(f"x has dimension {X.shape[1]} but means have {d}")
    if w.shape != (K,) or (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise ArgumentError(f"weights must be {K} non-negative numbers summing to 1, got {w}")
    cov = _checks.array(covariances, "covariances", ndim=(2, 3))
    want = (K, d, d) if covariance == "full" else (K, d)
    if cov.shape != want:
        raise ArgumentError(f"covariances must have shape {want} for covariance={covariance!r}, got {cov.shape}")
    out = np.empty((X.shape[0], K))
    with np.errstate(divide="ignore"):  # a weight of exactly 0 is log 0 = -inf: never responsible
        logw = np.log(w)
    for k in range(K):
        diff = X - M[k]  # (N, d)
        if covariance == "full":
            try:
                L = cho_factor(cov[k], lower=True)[0]
            except np.linalg.LinAlgError as e:
                raise ArgumentError(f"covariances[{k}] is not positive definite") from e
            # L⁻¹ once (d × d), then one matrix product: z = L⁻¹(x − μ) and |z|² is the Mahalanobis
            # distance. (A triangular solve with N right-hand sides was 100x slower here.)
            L_inv = solve_triangular(L, np.eye(d), lower=True)
            z = diff @ L_inv.T  # (N, d)
            maha, logdet = (z**2).sum(1), 2 * np.log(np.diag(L)).sum()
        else:
            if (cov[k] <= 0).any():
                raise ArgumentError(f"covariances[{k}] must be positive")
            maha, logdet = (diff**2 / cov[k]).sum(1), np.log(cov[k]).sum()
        out[:, k] = logw[k] - 0.5 * (d * np.log(2 * np.pi) + logdet + maha)
    return out


def responsibilities(log_joint) -> tuple[np.ndarray, np.ndarray]:
    """Posteriors from joint log-densities, by log-sum-exp (never ``exp`` first).

    log_joint: (N, K)  ->  responsibilities (N, K) (rows sum to 1), log p(x_n) (N,)
    """
    lj = _checks.array(log_joint, "log_joint", ndim=2, finite=False)
    if np.isnan(lj).any() or np.isposinf(lj).any():
        raise ArgumentError("log_joint contains NaN or +inf: a log-density is finite, or -inf where it is 0")
    log_px = logsumexp(lj, axis=1)  # (N,)
    if not np.isfinite(log_px).all():
        raise ArgumentError("log_joint has a row with no finite entry: the point has zero density under every "
                            "component")
    return np.exp(lj - log_px[:, None]), log_px


def _m_step(X: np.ndarray, resp: np.ndarray, covariance: str, reg_covar: float):
    nk = resp.sum(0) + _EPS  # (K,) soft counts; + eps as scikit-learn does, so an empty component is no 0/0
    means = resp.T @ X / nk[:, None]  # (K, d)
    if covariance == "full":
        cov = np.empty((len(nk), X.shape[1], X.shape[1]))
        for k in range(len(nk)):
            diff = X - means[k]
            cov[k] = (resp[:, k, None] * diff).T @ diff / nk[k] + reg_covar * np.eye(X.shape[1])
    else:
        cov = resp.T @ (X**2) / nk[:, None] - means**2 + reg_covar  # E[x²] − μ², per dimension
    return nk / nk.sum(), means, cov


def fit_gmm(
    x,
    n_components: int,
    *,
    covariance: Covariance = "full",
    max_iter: int = 200,
    tol: float = 1e-6,
    reg_covar: float = 1e-6,
    init: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
    threads: int | None = 1,
) -> GaussianMixtureFit:
    """Fit a Gaussian mixture by expectation-maximisation.

    x: (N, d). ``init = (weights, means, covariances)`` starts EM there (the test passes the same
    start to scikit-learn); otherwise k-means labels give the first responsibilities (hard 0/1)
    and one M-step the first parameters, as scikit-learn's default ``init_params="kmeans"``.
    Stops when the mean log-likelihood per point changes by less than ``tol``. ``reg_covar`` is
    added to every covariance's diagonal so that a component collapsing on few points stays
    invertible.
    """
    with threadpool_limits(limits=threads):
        return _fit_gmm(x, n_components, covariance, max_iter, tol, reg_covar, init, seed)


def _fit_gmm(x, n_components, covariance, max_iter, tol, reg_covar, init, seed) -> GaussianMixtureFit:
    _checks.choice(covariance, "covariance", ("full", "diag"))
    X = _checks.array(x, "x", ndim=2)
    K = _checks.integer(n_components, "n_components", low=1, high=X.shape[0])
    max_iter = _checks.integer(max_iter, "max_iter", low=1)
    tol = _checks.number(tol, "tol", low=0)
    reg_covar = _checks.number(reg_covar, "reg_covar", low=0)
    with np.errstate(over="ignore"):
        too_large = not np.isfinite(np.abs(X).max() ** 2 * X.shape[1])
    if too_large:
        # a covariance is in squared units: it cannot be held in float64 (unlike k-means labels, a
        # Gaussian mixture's parameters are not scale-free)
        raise ArgumentError(f"x is too large for a Gaussian mixture in float64: its squared entries overflow "
                            f"(largest |entry| {np.abs(X).max():.3g}); rescale it")
    if init is None:
        labels, _ = kmeans(X, K, seed=seed)
        weights, means, cov = _m_step(X, np.eye(K)[labels], covariance, reg_covar)
    else:
        if len(init) != 3:
            raise ArgumentError("init must be a tuple (weights, means, covariances)")
        weights, means, cov = (np.array(a, dtype=np.float64) for a in init)
        gmm_log_joint(X[:1], weights, means, cov, covariance)  # validates shapes before the loop
    history, converged = [], False
    for _ in range(max_iter):
        resp, log_px = responsibilities(gmm_log_joint(X, weights, means, cov, covariance))  # E-step
        history.append(float(log_px.mean()))
        weights, means, cov = _m_step(X, resp, covariance, reg_covar)  # M-step
        if len(history) > 1 and abs(history[-1] - history[-2]) < tol:
            converged = True
            break
    return GaussianMixtureFit(weights, means, cov, covariance, len(history), converged, history)


def gmm_n_parameters(n_components: int, dim: int, covariance: Covariance = "full") -> int:
    """Free parameters: K − 1 weights, K·d means, and K·d(d+1)/2 (full) or K·d (diag) variances."""
    _checks.choice(covariance, "covariance", ("full", "diag"))
    K, d = _checks.integer(n_components, "n_components", low=1), _checks.integer(dim, "dim", low=1)
    per_cov = d * (d + 1) // 2 if covariance == "full" else d
    return (K - 1) + K * d + K * per_cov


def bic(total_log_likelihood: float, n_parameters: int, n_points: int) -> float:
    """Bayesian information criterion ``−2 log L + p log N`` (lower is better; Schwarz, 1978)."""
    ll = _checks.number(total_log_likelihood, "total_log_likelihood")
    p, n = _checks.integer(n_parameters, "n_parameters", low=0), _checks.integer(n_points, "n_points", low=1)
    return -2.0 * ll + p * float(np.log(n))


# -- von Mises-Fisher mixture (unit vectors) ------------------------------------------------------
def _vmf_kappas(rbar: np.ndarray, d: int) -> np.ndarray:
    """One κ per component from its mean resultant length (:func:`embedlab.vmf.estimate_kappa`).
    r̄ = 1 (a component on a single point) would be κ = ∞: capped just below."""
    return np.array([estimate_kappa(min(float(r), 1 - 1e-9), d) for r in np.atleast_1d(rbar)])


@dataclass
class VMFMixtureFit(_Mixture):
    """``weights (K,)``, unit ``means (K, d)``, concentrations ``kappas (K,)``."""

    weights: np.ndarray
    means: np.ndarray
    kappas: np.ndarray
    n_iter: int
    converged: bool
    history: list[float] = field(default_factory=list)

    def log_joint(self, x) -> np.ndarray:
        """x: (N, d) unit rows -> (N, K), ``log π_k + log C_d(κ_k) + κ_k μ_kᵀx``."""
        X = _unit_rows(x, "x")
        return np.log(self.weights) + log_normalizer(self.kappas, X.shape[1]) + (X @ self.means.T) * self.kappas


def fit_vmf_mixture(
    x,
    n_components: int,
    *,
    shared_kappa: bool = False,
    max_iter: int = 200,
    tol: float = 1e-6,
    seed: int = 0,
    threads: int | None = 1,
) -> VMFMixtureFit:
    """Fit a mixture of von Mises-Fisher densities to unit vectors by EM (Banerjee et al., 2005).

    x: (N, d) with unit rows. Started from spherical k-means labels (k-means on the unit rows).
    M-step: ``μ_k`` is the direction of ``Σ_n r_nk x_n``, ``κ_k`` solves ``A_d(κ) = r̄_k``; with
    ``shared_kappa`` one κ for all, from the pooled r̄ (the equal-concentration model under which a
    cosine-softmax classifier is exactly Bayes' rule, chapter 8).
    """
    with threadpool_limits(limits=threads):
        return _fit_vmf_mixture(x, n_components, shared_kappa, max_iter, tol, seed)


def _fit_vmf_mixture(x, n_components, shared_kappa, max_iter, tol, seed) -> VMFMixtureFit:
    X = _unit_rows(x, "x")  # (N, d) with d >= 2
    N, d = X.shape
    K = _checks.integer(n_components, "n_components", low=1, high=N)
    max_iter = _checks.integer(max_iter, "max_iter", low=1)
    tol = _checks.number(tol, "tol", low=0)
    _checks.flag(shared_kappa, "shared_kappa")
    labels, _ = kmeans(X, K, seed=seed)
    resp = np.eye(K)[labels]

    def m_step(resp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # weights, means, kappas
        nk = resp.sum(0) + _EPS
        sums = resp.T @ X  # (K, d)
        lengths = np.linalg.norm(sums, axis=1)
        means = unit_rows(sums, zero="zero")  # an empty component (a zero sum) keeps a zero mean
        rbar = np.full(K, lengths.sum() / nk.sum()) if shared_kappa else lengths / nk
        return nk / nk.sum(), means, _vmf_kappas(rbar, d)

    fit = VMFMixtureFit(*m_step(resp), n_iter=0, converged=False)
    for n_iter in range(1, max_iter + 1):
        resp, log_px = responsibilities(fit.log_joint(X))
        fit.history.append(float(log_px.mean()))
        fit.weights, fit.means, fit.kappas = m_step(resp)
        fit.n_iter = n_iter
        if len(fit.history) > 1 and abs(fit.history[-1] - fit.history[-2]) < tol:
            fit.converged = True
            break
    return fit


# -- spectral clustering --------------------------------------------------------------------------
def _square(S, name: str) -> np.ndarray:
    A = _checks.array(S, name, ndim=2)
    if A.shape[0] != A.shape[1]:
        raise ArgumentError(f"{name} must be square (N, N), got shape {A.shape}")
    return A


def knn_affinity(S, k: int) -> np.ndarray:
    """A sparse, symmetric, non-negative affinity from a similarity matrix: keep each row's ``k``
    largest off-diagonal similarities as 1 (a k-nearest-neighbour graph), then ``(A + Aᵀ)/2``.

    S: (N, N)  ->  A: (N, N) with entries in {0, 0.5, 1}. Cosines can be negative, and a dense
    matrix of small similarities drowns the cluster structure; the graph keeps only the neighbours.
    """
    S = _square(S, "S")
    k = _checks.integer(k, "k", low=1, high=S.shape[0] - 1)
    s = S.copy()
    np.fill_diagonal(s, -np.inf)
    _, idx = topk(s, k)  # (N, k) the k most similar; equal similarities: the lower index first
    A = np.zeros_like(S)
    A[np.arange(len(S))[:, None], idx] = 1.0
    return (A + A.T) / 2


def spectral_embedding(A, n_components: int) -> np.ndarray:
    """Ng-Jordan-Weiss embedding: top eigenvectors of ``D^-1/2 A D^-1/2``, rows scaled to unit length.

    A: (N, N) symmetric, non-negative affinity  ->  (N, n_components)
    Those eigenvectors are the bottom ones of the normalised Laplacian ``I − D^-1/2 A D^-1/2``.
    scikit-learn's ``spectral_embedding`` (and so its ``SpectralClustering``) returns ``D^-1/2 u``
    instead: the same row directions, but rows not normalised. On chapter 8's digit graph, scaling
    the rows adds 0.05 to 0.08 ARI (the figure moves with the CPU's kernels; the chapter measures
    it, with k-means and starts held fixed), so the difference is the row scaling, not the rest.
    """
    A = _square(A, "A")
    if not np.allclose(A, A.T) or (A < 0).any():
        raise ArgumentError("A must be symmetric and non-negative (an affinity, e.g. knn_affinity(S, k))")
    k = _checks.integer(n_components, "n_components", low=1, high=A.shape[0])
    deg = A.sum(1)
    if (deg <= 0).any():
        raise ArgumentError(f"A has {int((deg <= 0).sum())} isolated point(s) (a row of zeros)")
    inv_sqrt = 1 / np.sqrt(deg)
    M = inv_sqrt[:, None] * A * inv_sqrt[None, :]
    _, vecs = eigh(M, subset_by_index=[len(A) - k, len(A) - 1])  # ascending: the k largest
    U = vecs[:, ::-1]  # (N, k)
    return unit_rows(U, zero="zero")


def spectral_clustering(
    A, n_clusters: int, *, n_init: int = 10, seed: int = 0, threads: int | None = 1
) -> np.ndarray:
    """Cluster the points of an affinity matrix: :func:`spectral_embedding`, then :func:`kmeans`.

    A: (N, N)  ->  labels (N,). Only similarities are used, never the vectors.
    """
    with threadpool_limits(limits=threads):
        U = spectral_embedding(A, n_clusters)
        return kmeans(U, n_clusters, n_init=n_init, seed=seed, threads=threads)[0]
