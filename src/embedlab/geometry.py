"""Measurements of high-dimensional geometry: neighbours, hubness, distance concentration, PCA.

Taught in chapter 2 (random vectors are nearly orthogonal, distances concentrate, hubs appear;
PCA to look at embeddings in 2-D and what it loses). Chapter 11 (limits of the map) returns to
them and adds:

* :func:`twonn_dimension`: the intrinsic dimension from the ratio of each point's second to first
  neighbour distance (TwoNN, Facco et al. 2017);
* hubness corrections: CSLS (Conneau et al. 2018), ranking by ``2 cos(x, y) − r(x) − r(y)``
  (:func:`csls_topk`, or ``csls=`` in :func:`knn_indices` and :func:`k_occurrence`), and
  mean-centring, the ``n_remove=0`` case of :func:`all_but_the_top` (Mu & Viswanath 2018),
  which also removes the top principal components;
* :func:`neighbour_coherence`: how tightly a point's neighbours agree with each other (lower
  for words whose neighbours are spread over several senses).

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

from embedlab import _checks
from embedlab._checks import ArgumentError
from embedlab._rows import compute_dtype, overlap, unit_rows
from embedlab.similarity import Metric, _as_matrix, pairwise_euclidean, topk

__all__ = [
    "knn_indices",
    "k_occurrence",
    "csls_topk",
    "all_but_the_top",
    "twonn_dimension",
    "neighbour_coherence",
    "skewness",
    "relative_contrast",
    "neighbour_overlap",
    "PCAResult",
    "pca",
]


def knn_indices(
    X, k: int, *, metric: Metric = "euclidean", csls: int | None = None, batch_size: int = 2048
) -> torch.Tensor:
    """The ``k`` nearest neighbours of every row of ``X`` among the other rows.

    X: (n, d) -> (n, k) int64 indices, nearest first; row ``i`` never contains ``i``. This is
    :func:`embedlab.similarity.topk` with ``exclude_self=True``, ``batch_size`` query rows at a time.
    With ``csls=K`` (``metric="cosine"`` only) the neighbours are ranked by CSLS with a neighbourhood
    of ``K`` instead (:func:`csls_topk`), the hubness-corrected score.

    Raises:
        ValueError: if ``k`` is not in ``1..n-1``, on a bad metric, ``csls`` or ``batch_size``, or
            if ``X`` holds NaN or infinite values.
    """
    X = _as_matrix(X, "X")
    n = X.shape[0]
    k = _checks.integer(k, "k", low=1, high=n - 1)  # n - 1 other points
    if metric == "cosine":
        _refuse_zero_rows(X, "X")
    if csls is not None:
        if metric != "cosine":
            raise ArgumentError(f"csls ranks by cosine similarity: pass metric='cosine' with it, got metric={metric!r}")
        return csls_topk(X, X, k, neighbourhood=csls, exclude_self=True, batch_size=batch_size)[1]
    return topk(X, X, k, metric=metric, exclude_self=True, batch_size=batch_size)[1]


def k_occurrence(
    X, k: int, *, metric: Metric = "euclidean", csls: int | None = None, batch_size: int = 2048
) -> torch.Tensor:
    """How often each point appears in the other points' k-nearest-neighbour lists.

    X: (n, d) -> (n,) int64 counts ``N_k`` that sum to ``n * k``. Their mean is always ``k``;
    a right-skewed distribution (a few points with very large ``N_k``, the *hubs*) is the
    hubness of Radovanović et al. (2010). ``csls=K`` counts CSLS neighbour lists instead
    (:func:`knn_indices`), which is how chapter 11 measures what the correction does to hubs.
    """
    idx = knn_indices(X, k, metric=metric, csls=csls, batch_size=batch_size)
    return torch.bincount(idx.reshape(-1), minlength=idx.shape[0])


def _refuse_zero_rows(X: torch.Tensor, name: str) -> None:
    """A zero row has no direction: refused by ``name``. The functions here rank by cosine and have
    no ``zero=`` switch, so the error says what to do here (the messages of ``unit_rows`` and
    ``similarity.topk`` advise passing one, and name their own arguments)."""
    zero = torch.nonzero((X == 0).all(-1)).reshape(-1)
    if zero.numel():
        raise ArgumentError(f"{name} has a zero row at index {zero[:5].tolist()}: a zero vector has no direction, "
                            "so its cosine is undefined; drop such rows first")


def _unit_rows(X: torch.Tensor, name: str) -> torch.Tensor:
    """Unit rows (:func:`embedlab._rows.unit_rows`) in ``X``'s dtype; a zero row refused by ``name``."""
    _refuse_zero_rows(X, name)
    return unit_rows(X, name=name).to(X.dtype)


def csls_topk(
    queries, keys, k: int, *, neighbourhood: int = 10, exclude_self: bool = False, batch_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best keys of each query by cross-domain similarity local scaling (CSLS).

    queries: (q, d), keys: (n, d) -> (scores, indices), each (q, k), best first.

    ``CSLS(x, y) = 2 cos(x, y) − r_keys(x) − r_queries(y)`` (Conneau et al. 2018, who write
    ``r_T`` and ``r_S``): ``r_keys(x)`` is the mean cosine of query ``x`` to its ``neighbourhood``
    nearest keys, ``r_queries(y)`` the mean cosine of key ``y`` to its ``neighbourhood`` nearest
    queries. A hub is a key near to everything; its large ``r_queries`` is subtracted from every
    score it gets, so it stops winning every query. ``r_keys(x)`` is the same for all keys of one
    query and does not change that query's ranking; it makes the scores comparable across queries.
    With ``exclude_self`` the queries are the keys themselves, and a point is neither its own
    neighbour nor in its own neighbourhood. Exact: the search is :func:`embedlab.similarity.topk`.

    Raises:
        ValueError: for a ``neighbourhood`` outside ``1..min(q, n)`` (minus one with
            ``exclude_self``), a zero row (cosine is undefined), or what ``topk`` refuses.
    """
    Q, K = _as_matrix(queries, "queries"), _as_matrix(keys, "keys")
    _checks.flag(exclude_self, "exclude_self")
    if exclude_self and Q.shape[0] != K.shape[0]:
        raise ArgumentError("exclude_self needs the queries to be the keys themselves (q == n)")
    top = min(Q.shape[0], K.shape[0]) - int(exclude_self)
    nb = _checks.integer(neighbourhood, "neighbourhood", low=1, high=top)
    Qu, Ku = _unit_rows(Q, "queries"), _unit_rows(K, "keys")
    excl = bool(exclude_self)
    r_query = topk(Qu, Ku, nb, metric="cosine", exclude_self=excl, batch_size=batch_size)[0].mean(1)  # (q,)
    # r_query: each query's mean cosine to its nearest keys. With exclude_self both sets are one: a
    # key's nearest queries are that point's neighbours.
    r_key = r_query if excl else topk(Ku, Qu, nb, metric="cosine", exclude_self=excl,
                                      batch_size=batch_size)[0].mean(1)  # (n,)
    # 2 cos(x, y) − r_key(y) is one dot product of augmented rows [2x̂, −1] · [ŷ, r_key(y)], so the
    # blockwise exact search ranks by CSLS without forming the (q, n) score matrix.
    Qa = torch.cat([2 * Qu, -torch.ones_like(Qu[:, :1])], 1)  # (q, d + 1)
    Ka = torch.cat([Ku, r_key[:, None].to(Ku.dtype)], 1)  # (n, d + 1)
    scores, idx = topk(Qa, Ka, k, metric="dot", exclude_self=bool(exclude_self), batch_size=batch_size)
    return scores - r_query[:, None], idx


def all_but_the_top(X, n_remove: int = 1, *, reference=None) -> torch.Tensor:
    """Subtract the mean, then the projections on the top ``n_remove`` principal components.

    X: (n, d) -> (n, d). Mu & Viswanath (2018): word vectors share a large common mean and a few
    dominant directions (largely word frequency) that carry little meaning; removing them makes
    the cloud more isotropic, and their rule of thumb is ``n_remove ≈ d / 100``. ``n_remove=0``
    is plain mean-centring. The mean and components are those of ``reference`` (m, d), by default
    ``X`` itself; pass the vocabulary to post-process held-out queries the same way.
    """
    X = _as_matrix(X, "X")
    R = X if reference is None else _as_matrix(reference, "reference").to(X.dtype)
    if R.shape[1] != X.shape[1]:
        raise ArgumentError(f"reference has d={R.shape[1]}, X has d={X.shape[1]}")
    n_remove = _checks.integer(n_remove, "n_remove", low=0, high=min(R.shape[1], R.shape[0]) - 1)
    if n_remove == 0:
        return X - R.mean(0)
    fit = pca(R, n_remove)
    work = compute_dtype(X.dtype)  # float16/bfloat16 in float32, returned in X's dtype
    Xc, C = X.to(work) - fit.mean.to(work), fit.components.to(work)
    return (Xc - (Xc @ C.T) @ C).to(X.dtype)  # (n, d) minus its part in the top components


def twonn_dimension(
    X, *, discard: float = 0.1, method: str = "fit", duplicates: str = "raise", batch_size: int = 2048
) -> float:
    """Intrinsic dimension by TwoNN (Facco, d'Errico, Rodriguez & Laio 2017).

    X: (n, d) -> the estimated dimension ``d̂`` of the manifold the points lie on (not the ``d``
    of the space). For each point the ratio ``μ = r₂ / r₁`` of its second to its first neighbour
    distance follows a Pareto law, ``P(μ ≤ m) = 1 − m^(−d)``, whatever the (locally uniform)
    density: only the dimension is left in it. ``method="fit"`` is the paper's estimator, a line
    through the origin fitted to ``−log(1 − F(μ))`` against ``log μ`` (``F`` the empirical CDF,
    ``i/n`` for the ``i``-th smallest μ, as in scikit-dimension) after dropping the ``discard``
    fraction of largest ratios, which come from points in sparse regions. ``method="mle"`` is the
    maximum-likelihood estimate, ``log μ`` being exponential with rate ``d``, with the same
    ``discard`` fraction treated as censored at the largest kept ratio (with ``discard=0`` it is
    ``n / Σ log μ``).

    ``duplicates``: two identical rows give ``r₁ = 0`` and an infinite ratio; ``"raise"``
    (default) says how many rows are affected, ``"drop"`` keeps one copy of each row first.

    Raises:
        ValueError: on bad arguments, fewer than 3 (distinct) points, duplicates with
            ``duplicates="raise"``, or when every ratio is 1 (a lattice: nothing to fit).
    """
    X = _as_matrix(X, "X")
    discard = _checks.number(discard, "discard", low=0, high=1, high_open=True)
    _checks.choice(method, "method", ("fit", "mle"))
    _checks.choice(duplicates, "duplicates", ("raise", "drop"))
    if duplicates == "drop":
        X = torch.unique(X, dim=0)
    n = X.shape[0]
    if n < 3:
        raise ArgumentError(f"TwoNN needs at least 3 distinct points, got {n}")
    r, idx = topk(X, X, 2, metric="euclidean", exclude_self=True, batch_size=batch_size)  # (n, 2) each
    r = r.to(torch.float64)
    dup = torch.nonzero(r[:, 0] == 0).reshape(-1)
    if dup.numel():
        i = int(dup[0])
        raise ArgumentError(f"{dup.numel()} rows of X have an exact duplicate (row {i} equals row {int(idx[i, 0])}): "
                         "their ratio r2/r1 is infinite. Pass duplicates='drop' to keep one copy of each row")
    log_mu = torch.sort(torch.log(r[:, 1] / r[:, 0])).values  # (n,) ascending
    m = int(n * (1 - float(discard)))  # the smallest m ratios are kept
    if m < 2:
        raise ArgumentError(f"discard={discard} leaves {m} of {n} points; TwoNN needs at least 2")
    x = log_mu[:m]
    if float(x[-1]) == 0:
        raise ArgumentError("every kept point has r2 == r1 (a lattice?): the ratios carry no dimension")
    if method == "fit":
        y = -torch.log1p(-torch.arange(m, dtype=torch.float64) / n)  # −log(1 − F), F = i/n from i = 0
        return float((x @ y) / (x @ x))
    # censored exponential: the n − m discarded ratios are only known to exceed the last kept one
    return float(m / (x.sum() + (n - m) * x[-1]))


def neighbour_coherence(X, k: int = 10, *, batch_size: int = 2048) -> torch.Tensor:
    """Mean pairwise cosine among each point's ``k`` nearest neighbours (by cosine).

    X: (n, d) -> (n,). A word whose neighbours are all about one thing scores high; one whose
    neighbours split between senses ("bank": river words and money words) scores lower. The
    mean over the ``k(k − 1)`` ordered pairs of unit vectors ``u_j`` is
    ``(‖Σ u_j‖² − k) / (k(k − 1))``, so no ``(k, k)`` Gram matrix is formed.
    """
    X = _as_matrix(X, "X")
    k = _checks.integer(k, "k", low=2, high=X.shape[0] - 1)
    idx = knn_indices(X, k, metric="cosine", batch_size=batch_size)  # (n, k)
    U = _unit_rows(X, "X")
    total = torch.zeros_like(U)
    for j in range(k):  # one (n, d) gather at a time, not an (n, k, d) tensor
        total += U[idx[:, j]]
    return ((total * total).sum(-1) - k) / (k * (k - 1))


def skewness(x) -> float:
    """Sample skewness ``E[(x − μ)³] / σ³`` (population moments, like ``scipy.stats.skew``).

    x: (n,) with n >= 2 and not constant.
    """
    t = _checks.tensor(x, "x", finite=True, empty=True).to(torch.float64).reshape(-1)
    if t.numel() < 2:
        raise ArgumentError(f"skewness needs at least 2 values, got {t.numel()}")
    c = t - t.mean()
    # skewness is scale-free: dividing by max |c| first keeps c**3 of 1e200 data from overflowing
    # and of 1e-200 data from underflowing to 0 (which read as "constant")
    c = c / c.abs().max().clamp_min(torch.finfo(torch.float64).tiny)
    m2 = (c**2).mean()
    if m2 == 0:
        raise ArgumentError("skewness is undefined for constant data (zero variance)")
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
        raise ArgumentError("relative contrast needs at least 2 points")
    D = pairwise_euclidean(Q, P)  # (q, n)
    dmin, dmax = D.min(-1).values, D.max(-1).values
    if bool((dmin == 0).any()):
        bad = torch.nonzero(dmin == 0).reshape(-1).tolist()[:5]
        raise ArgumentError(f"queries {bad} coincide with a point (D_min = 0); hold queries out of the points")
    return (dmax - dmin) / dmin


def neighbour_overlap(a, b) -> float:
    """Mean fraction of shared entries between two neighbour lists per row.

    a: (n, k), b: (n, k) integer indices -> a float in [0, 1] (order inside a row is ignored).
    """
    shape_a, shape_b = np.shape(a), np.shape(b)
    if len(shape_a) != 2 or shape_a != shape_b:
        raise ArgumentError(f"a and b must be (n, k) of the same shape, got {tuple(shape_a)} and {tuple(shape_b)}")
    return float(overlap(a, b).mean())  # per row, then the mean over rows


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
            raise ArgumentError(f"X has d={X.shape[1]}, the PCA was fitted with d={self.mean.shape[0]}")
        work = compute_dtype(X.dtype)  # no half-precision matrix product on every CPU
        return ((X.to(work) - self.mean.to(work)) @ self.components.to(work).T).to(X.dtype)


def pca(X, n_components: int) -> PCAResult:
    """PCA by a singular value decomposition of the centred data (what scikit-learn computes).

    X: (n, d) -> :class:`PCAResult` with ``n_components`` components. Signs are fixed so that the
    largest-magnitude entry of every component is positive (the SVD's signs are arbitrary).
    float16/bfloat16 input is computed in float32 (there is no half-precision SVD) and the result
    returned in the input's dtype. The centred data are divided by their largest |entry| before
    the SVD (components and variance ratios do not depend on the scale), so 1e-200 and 1e200
    data give the components of their moderate-size copies instead of "no variance" or NaN.
    """
    X = _as_matrix(X, "X")
    dtype = X.dtype
    X = X.to(compute_dtype(dtype))
    n, d = X.shape
    n_components = _checks.integer(n_components, "n_components", low=1, high=min(n, d))  # min(n, d)
    if n < 2:
        raise ArgumentError("PCA needs at least 2 rows")
    mean = X.mean(0)
    Xc = X - mean
    m = Xc.abs().max()
    scaled = Xc / m if bool(m > 0) else Xc
    _, s, Vh = torch.linalg.svd(scaled, full_matrices=False)  # Vh: (min(n, d), d)
    var = s**2
    total = var.sum()
    if total == 0:
        raise ArgumentError("all rows are identical: there is no variance to explain")
    comps = Vh[:n_components]
    flip = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * flip
    ratio = var[:n_components] / total
    return PCAResult(mean=mean.to(dtype), components=comps.to(dtype), explained_variance_ratio=ratio.to(dtype),
                     projected=(Xc @ comps.T).to(dtype))
