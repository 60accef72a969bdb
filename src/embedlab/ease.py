"""EASE: item–item similarity learned as a weight matrix, in closed form (Steck, 2019).

Taught in chapter 9. The co-occurrence counts ``G = XᵀX`` of an implicit-feedback matrix ``X``
(users × items, 1 where a user chose an item) are a statistical map of which items go together.
EASE turns that map into weights with one line of linear algebra: the item–item matrix ``B`` that
best reconstructs each user's row from their other items,

    min_B ‖X − XB‖² + λ‖B‖²   subject to   diag(B) = 0,

has the solution ``B = I − P · diag(1 / diag(P))`` with ``P = (G + λI)⁻¹``. The constraint is the
point: without it ``B = I`` (every item predicts itself) reconstructs ``X`` perfectly and
recommends nothing but what the user already has. A user's scores are ``x_u B``, their history
times the weights; :func:`embedlab.recommend.score_matrix`'s factor models are its low-rank
cousins.

* :func:`fit_ease` solves it (a Cholesky factorisation of the ``n_items × n_items`` Gram matrix,
  in float64 or float32) and returns an :class:`EASE`: the weights, the items' training
  popularity and the correction exponent ``beta``.
* :meth:`EASE.scores` gives ``x_u B / popularity^beta``: dividing by popularity to a power trades a
  little of the popularity the weights carry for coverage of the catalogue (``beta = 0`` is plain
  EASE).
* :func:`choose_ease` picks ``λ`` and ``beta`` on a validation cut, by NDCG@k (one solve per ``λ``;
  ``beta`` only rescales the scores), optionally under a coverage constraint.
* :func:`select_under_coverage` is that rule on its own, for any model's validation table: the
  highest NDCG among the settings whose top-k lists cover at least a given share of the catalogue.
  A deployed recommender usually has such an operating constraint (show a good part of the
  catalogue, not only the hits); choosing by NDCG alone and reading the coverage afterwards answers
  a different question, and the two models of a comparison must be chosen under the same rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from embedlab._checks import ArgumentError, integer, number

__all__ = ["EASE", "fit_ease", "choose_ease", "select_under_coverage"]

_DTYPES = {"float64": np.float64, "float32": np.float32}


def _binary(matrix, name: str):
    """A scipy.sparse (n_users, n_items) matrix as float64 CSR with 1 where the user chose the item."""
    import scipy.sparse as sp

    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise ArgumentError(f"{name} must be a scipy.sparse (n_users, n_items) matrix, got {type(matrix).__name__}")
    m = sp.csr_matrix(matrix, dtype=np.float64)
    if not np.isfinite(m.data).all():
        raise ArgumentError(f"{name} contains NaN or infinite values")
    m.sum_duplicates()
    m.eliminate_zeros()  # a stored zero is not a choice (as in embedlab.ranking)
    m.data[:] = 1.0  # implicit feedback: who chose what, not how much
    return m


@dataclass(frozen=True)
class EASE:
    """A fitted EASE model. ``weights`` is ``B: (n_items, n_items)`` with a zero diagonal;
    ``popularity`` each item's number of training users; ``seconds`` the time of the solve."""

    weights: np.ndarray
    popularity: np.ndarray
    reg: float
    beta: float = 0.0
    seconds: float = field(default=0.0, compare=False)

    def scores(self, history, *, beta: float | None = None) -> np.ndarray:
        """``x_u B / max(popularity, 1)^beta`` for every row of ``history`` (scipy.sparse,
        (n_users, n_items)), as float64. ``beta`` defaults to the model's own. An item nobody chose
        in training has a zero column in ``B`` and scores 0 for everyone."""
        X = _binary(history, "history")
        if X.shape[1] != self.weights.shape[0]:
            raise ArgumentError(f"history must have {self.weights.shape[0]} columns (items), got {X.shape[1]}")
        beta = self.beta if beta is None else number(beta, "beta", low=0)
        S = np.asarray(X @ self.weights, dtype=np.float64)  # (n_users, n_items)
        if beta:
            S /= np.maximum(self.popularity, 1.0) ** beta
        return S


def fit_ease(train, reg: float = 300.0, *, beta: float = 0.0, dtype: str = "float64",
             threads: int | None = None) -> EASE:
    """Fit EASE on ``train`` (scipy.sparse (n_users, n_items); a nonzero is a choice).

    ``reg`` is ``λ``, added to the diagonal of the Gram matrix (it must be > 0: an item nobody chose
    would make ``XᵀX`` singular). ``dtype="float32"`` halves the memory and roughly doubles the
    speed of the solve; chapter 9 checks that it keeps the ranking. ``threads`` caps the BLAS
    threads of the solve (``None``: the library's default); a timing compared with a one-thread
    library needs ``threads=1``. Returns an :class:`EASE`.
    """
    X = _binary(train, "train")
    if X.nnz == 0:
        raise ArgumentError("train has no interactions")
    reg = number(reg, "reg", low=0, low_open=True)
    beta = number(beta, "beta", low=0)
    if dtype not in _DTYPES:
        raise ArgumentError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    if threads is not None:
        threads = integer(threads, "threads", low=1)
    with threadpool_limits(limits=threads):
        B, seconds = _solve(X, reg, _DTYPES[dtype])
    popularity = np.asarray(X.sum(0), dtype=np.float64).ravel()
    return EASE(B, popularity, reg, beta, seconds)


def _solve(X, reg: float, dtype) -> tuple[np.ndarray, float]:
    from scipy.linalg import lapack

    n_items = X.shape[1]
    start = time.perf_counter()
    G = np.asarray((X.T @ X).toarray(), dtype=dtype)  # co-occurrence counts, (n_items, n_items)
    G[np.diag_indices(n_items)] += reg
    # P = (G + λI)⁻¹ from its Cholesky factor (G + λI is symmetric positive definite for λ > 0), by
    # LAPACK's potri: about n³ operations in all, where solving against the identity would take 7n³/3.
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (G,))
    L, info = potrf(G, lower=True, overwrite_a=True, clean=True)
    if info == 0:
        P, info = potri(L, lower=True, overwrite_c=True)
    if info != 0:  # pragma: no cover - λ > 0 makes the matrix positive definite
        raise np.linalg.LinAlgError(f"the Cholesky inverse failed (LAPACK info {info})")
    P = np.tril(P) + np.tril(P, -1).T  # potri fills the lower triangle only
    B = P / -np.diag(P)  # B_ij = -P_ij / P_jj off the diagonal ...
    B[np.diag_indices(n_items)] = 0.0  # ... and the constraint: no item predicts itself
    return B, time.perf_counter() - start


def select_under_coverage(table, *, min_coverage: float = 0.0):
    """The setting with the highest validation NDCG among those whose coverage reaches ``min_coverage``.

    table: ``{setting: (ndcg, coverage)}`` measured on a validation cut (coverage as a share of the
    catalogue, in [0, 1]). Ties go to the first in the table's order. ``min_coverage = 0`` is the
    unconstrained choice. Where no setting reaches the constraint this refuses, saying how far the
    grid got, rather than quietly returning the closest: a setting that misses the operating
    constraint is not a valid choice, and the grid (or the constraint) has to change.
    """
    min_coverage = number(min_coverage, "min_coverage", low=0, high=1)
    if not isinstance(table, dict) or not table:
        raise ArgumentError("table must be a non-empty dict {setting: (ndcg, coverage)}")
    scores = {}
    for setting, value in table.items():
        if not isinstance(value, tuple) or len(value) != 2:
            raise ArgumentError(f"table must map each setting to (ndcg, coverage), got {value!r} for {setting!r}")
        scores[setting] = (number(value[0], "table ndcg"), number(value[1], "table coverage", low=0, high=1))
    feasible = [s for s, (_, cov) in scores.items() if cov >= min_coverage]
    if not feasible:
        widest = max(scores, key=lambda s: scores[s][1])
        raise ArgumentError(f"min_coverage {min_coverage:g} is out of reach: no setting's validation coverage "
                            f"reaches it (the highest is {scores[widest][1]:.3f}, at {widest!r}); widen the "
                            f"grid toward more coverage or lower the constraint")
    return max(feasible, key=lambda s: scores[s][0])  # max keeps the first of equal NDCGs


def choose_ease(fit, relevant, *, regs, betas=(0.0,), k: int = 10, min_coverage: float = 0.0,
                dtype: str = "float64", threads: int | None = None
                ) -> tuple[EASE, dict[tuple[float, float], tuple[float, float]]]:
    """Choose ``λ`` and ``beta`` on a validation cut: the highest NDCG@``k`` among the pairs whose
    coverage@``k`` is at least ``min_coverage`` (:func:`select_under_coverage`; 0: no constraint).

    fit: the training part (scipy.sparse); relevant: each user's validation items (as for
    :func:`embedlab.ranking.evaluate`); regs, betas: the grids. Each ``λ`` is one solve, each
    ``beta`` a rescaling of its scores, every ranking with the user's ``fit`` items masked. Returns
    the model fitted on ``fit`` at the chosen pair (the first on a tie, in grid order) and the
    validation ``(NDCG, coverage)`` of every pair; refit on the full training set with the chosen
    ``reg`` and ``beta``. Raises ``ArgumentError`` when no pair meets the constraint.
    """
    from embedlab.ranking import coverage, ndcg_at_k, rank_items

    regs = [number(r, "regs", low=0, low_open=True) for r in regs]
    betas = [number(b, "betas", low=0) for b in betas]
    if not regs or not betas:
        raise ArgumentError("regs and betas must each hold at least one value")
    k = integer(k, "k", low=1)
    min_coverage = number(min_coverage, "min_coverage", low=0, high=1)
    table: dict[tuple[float, float], tuple[float, float]] = {}
    models: dict[float, EASE] = {}
    for reg in regs:
        model = fit_ease(fit, reg, dtype=dtype, threads=threads)
        models[reg] = model
        S = model.scores(fit)
        for beta in betas:
            # the top k only (what embedlab.ranking.evaluate ranks for NDCG and coverage, without its MRR)
            top = rank_items(S / np.maximum(model.popularity, 1.0) ** beta, k, exclude=fit)
            table[reg, beta] = (float(ndcg_at_k(top, relevant).mean()), coverage(top, S.shape[1]))
    reg, beta = select_under_coverage(table, min_coverage=min_coverage)
    m = models[reg]
    return EASE(m.weights, m.popularity, reg, beta, m.seconds), table
