"""Measurements of high-dimensional geometry: neighbours, hubness, distance concentration, PCA.

Taught in chapter 2 (random vectors are nearly orthogonal, distances concentrate, hubs appear;
PCA to look at embeddings in 2-D and what it loses). Chapter 11 returns to them.

Conventions as in :mod:`embedlab.similarity`: torch tensors (NumPy arrays and lists are
converted), matrices of ``n`` vectors are ``(n, d)``. Nearest-neighbour lists never contain the
point itself. Neighbour search is :func:`embedlab.similarity.topk`, which works in blocks of query
rows so that ``n`` in the hundreds of thousands fits in memory (a full ``(n, n)`` score matrix is
never built).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from embedlab.similarity import Metric, _as_matrix, pairwise_euclidean, topk

__all__ = [
    "knn_indices",
    "k_occurrence",
    "skewness",
    "relative_contrast",
    "neighbour_overlap",
    "PCAResult",
    "pca",
]


def knn_indices(X, k: int, *, metric: Metric = "euclidean", batch_size: int = 2048) -> torch.Tensor:
    """The ``k`` nearest neighbours of every row of ``X`` among the other rows.

    X: (n, d) -> (n, k) int64 indices, nearest first; row ``i`` never contains ``i``. This is
    :func:`embedlab.similarity.topk` with ``exclude_self=True``, ``batch_size`` query rows at a time.

    Raises:
        ValueError: if ``k`` is not in ``1..n-1``, on a bad metric or ``batch_size``, or if ``X``
            holds NaN or infinite values.
    """
    X = _as_matrix(X, "X")
    n = X.shape[0]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n - 1:
        raise ValueError(f"k must be an integer between 1 and {n - 1} (n - 1 other points), got {k!r}")
    return topk(X, X, k, metric=metric, exclude_self=True, batch_size=batch_size)[1]


def k_occurrence(X, k: int, *, metric: Metric = "euclidean", batch_size: int = 2048) -> torch.Tensor:
    """How often each point appears in the other points' k-nearest-neighbour lists.

    X: (n, d) -> (n,) int64 counts ``N_k`` that sum to ``n * k``. Their mean is always ``k``;
    a right-skewed distribution (a few points with very large ``N_k``, the *hubs*) is the
    hubness of Radovanović et al. (2010).
    """
    idx = knn_indices(X, k, metric=metric, batch_size=batch_size)
    return torch.bincount(idx.reshape(-1), minlength=idx.shape[0])


def skewness(x) -> float:
    """Sample skewness ``E[(x − μ)³] / σ³`` (population moments, like ``scipy.stats.skew``).

    x: (n,) with n >= 2 and not constant.
    """
    t = torch.as_tensor(x).to(torch.float64).reshape(-1)
    if t.numel() < 2:
        raise ValueError(f"skewness needs at least 2 values, got {t.numel()}")
    c = t - t.mean()
    m2 = (c**2).mean()
    if m2 == 0:
        raise ValueError("skewness is undefined for constant data (zero variance)")
    return float((c**3).mean() / m2**1.5)


def relative_contrast(queries, points) -> torch.Tensor:
    """Relative contrast ``(D_max − D_min) / D_min`` of Euclidean distances, per query.

    queries: (q, d), points: (n, d) -> (q,). Beyer et al. (1999): for many data distributions it
    tends to 0 as ``d`` grows, so "nearest" and "farthest" stop meaning much.

    Raises:
        ValueError: if a query coincides with a point (``D_min = 0``) or ``n < 2``.
    """
    Q = _as_matrix(queries, "queries")
    P = _as_matrix(points, "points")
    if P.shape[0] < 2:
        raise ValueError("relative contrast needs at least 2 points")
    D = pairwise_euclidean(Q, P)  # (q, n)
    dmin, dmax = D.min(-1).values, D.max(-1).values
    if bool((dmin == 0).any()):
        bad = torch.nonzero(dmin == 0).reshape(-1).tolist()[:5]
        raise ValueError(f"queries {bad} coincide with a point (D_min = 0); hold queries out of the points")
    return (dmax - dmin) / dmin


def neighbour_overlap(a, b) -> float:
    """Mean fraction of shared entries between two neighbour lists per row.

    a: (n, k), b: (n, k) integer indices -> a float in [0, 1] (order inside a row is ignored).
    """
    A, B = torch.as_tensor(a), torch.as_tensor(b)
    if A.ndim != 2 or A.shape != B.shape:
        raise ValueError(f"a and b must be (n, k) of the same shape, got {tuple(A.shape)} and {tuple(B.shape)}")
    if A.numel() == 0:
        raise ValueError("neighbour lists are empty")
    # (n, k, 1) == (n, 1, k): entry i of a row in a appears somewhere in b's row.
    shared = (A[:, :, None] == B[:, None, :]).any(-1).sum(-1)
    return float(shared.double().mean() / A.shape[1])


@dataclass
class PCAResult:
    """Principal components of a data matrix.

    Attributes:
        mean: (d,) the centre subtracted before projecting.
        components: (c, d) orthonormal rows, largest variance first.
        explained_variance_ratio: (c,) share of the total variance along each component.
        projected: (n, c) the centred data in component coordinates.
    """

    mean: torch.Tensor
    components: torch.Tensor
    explained_variance_ratio: torch.Tensor
    projected: torch.Tensor

    def transform(self, X) -> torch.Tensor:
        """Project new rows: X: (m, d) -> (m, c)."""
        X = _as_matrix(X, "X").to(self.mean.dtype)
        if X.shape[1] != self.mean.shape[0]:
            raise ValueError(f"X has d={X.shape[1]}, the PCA was fitted with d={self.mean.shape[0]}")
        return (X - self.mean) @ self.components.T


def pca(X, n_components: int) -> PCAResult:
    """PCA by a singular value decomposition of the centred data (what scikit-learn computes).

    X: (n, d) -> :class:`PCAResult` with ``n_components`` components. Signs are fixed so that the
    largest-magnitude entry of every component is positive (the SVD's signs are arbitrary).
    """
    X = _as_matrix(X, "X")
    n, d = X.shape
    if not isinstance(n_components, (int, np.integer)) or not 1 <= n_components <= min(n, d):
        raise ValueError(f"n_components must be an integer between 1 and min(n, d) = {min(n, d)}, got {n_components!r}")
    if n < 2:
        raise ValueError("PCA needs at least 2 rows")
    mean = X.mean(0)
    Xc = X - mean
    _, s, Vh = torch.linalg.svd(Xc, full_matrices=False)  # Vh: (min(n, d), d)
    var = s**2
    total = var.sum()
    if total == 0:
        raise ValueError("all rows are identical: there is no variance to explain")
    comps = Vh[:n_components]
    flip = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * flip
    return PCAResult(mean=mean, components=comps, explained_variance_ratio=var[:n_components] / total,
                     projected=Xc @ comps.T)
