"""EASE (embedlab.ease): the closed form against the constrained least squares it solves."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from embedlab.ease import EASE, choose_ease, fit_ease, select_under_coverage
from embedlab.ranking import evaluate


def _matrix(n_users=30, n_items=8, p=0.35, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = (rng.random((n_users, n_items)) < p).astype(float)
    X[:, -1] = 0.0  # an item nobody chose
    return sp.csr_matrix(X)


def test_closed_form_solves_the_constrained_least_squares_column_by_column():
    """With diag(B) = 0 the objective ‖X − XB‖² + λ‖B‖² splits into one ridge regression per item:
    column j regresses x_j on the *other* items. Solved here by lstsq on the stacked system
    [X_{-j}; √λ I] b = [x_j; 0], independently of the Cholesky route."""
    X = _matrix()
    reg = 2.5
    B = fit_ease(X, reg).weights
    D = X.toarray()
    n = D.shape[1]
    want = np.zeros((n, n))
    for j in range(n):
        others = np.delete(np.arange(n), j)
        A = np.vstack([D[:, others], np.sqrt(reg) * np.eye(n - 1)])
        y = np.concatenate([D[:, j], np.zeros(n - 1)])
        want[others, j] = np.linalg.lstsq(A, y, rcond=None)[0]
    assert np.abs(B - want).max() < 1e-8
    assert np.abs(np.diag(B)).max() == 0.0
    # the item nobody chose has a zero column and a zero row: it predicts and is predicted by nothing
    assert np.abs(B[:, -1]).max() < 1e-12 and np.abs(B[-1]).max() < 1e-12


def test_kkt_the_gradient_vanishes_off_the_diagonal_only():
    """Stationarity of the Lagrangian: the gradient Xᵀ(XB − X) + λB is zero off the diagonal; on
    the diagonal it is the multiplier of the constraint, which is not zero (the constraint binds:
    without it B = I − λP, which copies each item into its own score)."""
    X = _matrix(seed=1)
    reg = 0.7
    B = fit_ease(X, reg).weights
    D = X.toarray()
    G = D.T @ D
    grad = G @ B - G + reg * B
    off = ~np.eye(len(B), dtype=bool)
    assert np.abs(grad[off]).max() < 1e-10
    assert np.abs(np.diag(grad)[:-1]).min() > 1e-3  # the constraint is active (the last item is empty)
    unconstrained = np.linalg.solve(G + reg * np.eye(len(G)), G)
    assert np.diag(unconstrained)[:-1].min() > 0.1  # left to itself, every chosen item scores itself


def test_float32_matches_float64_and_scores_are_history_times_weights():
    X = _matrix(n_users=200, n_items=40, p=0.2, seed=2)
    m64, m32 = fit_ease(X, 10.0), fit_ease(X, 10.0, dtype="float32", threads=1)
    assert m32.weights.dtype == np.float32 and m64.weights.dtype == np.float64
    assert np.abs(m32.weights - m64.weights).max() < 1e-5
    S = m64.scores(X)
    assert np.abs(S - X.toarray() @ m64.weights).max() < 1e-12
    pop = np.asarray(X.sum(0)).ravel()
    assert np.array_equal(m64.popularity, pop)
    corrected = m64.scores(X, beta=0.5)
    assert np.abs(corrected - S / np.maximum(pop, 1) ** 0.5).max() < 1e-12
    assert np.array_equal(fit_ease(X, 10.0, beta=0.5).scores(X), corrected)  # the model's own beta


def test_counts_are_choices_not_weights():
    X = _matrix(seed=3)
    heavy = X.copy()
    heavy.data *= 5.0  # a rating of 5 is one choice, like a rating of 1
    assert np.array_equal(fit_ease(heavy, 1.0).weights, fit_ease(X, 1.0).weights)


def test_choose_ease_takes_the_best_validation_pair_and_reports_every_pair():
    rng = np.random.default_rng(4)
    X = sp.csr_matrix((rng.random((60, 25)) < 0.25).astype(float))
    relevant = [list(rng.choice(np.flatnonzero(X[u].toarray().ravel() == 0), 2, replace=False)) for u in range(60)]
    model, table = choose_ease(X, relevant, regs=[1.0, 30.0], betas=[0.0, 0.5])
    assert set(table) == {(1.0, 0.0), (1.0, 0.5), (30.0, 0.0), (30.0, 0.5)}
    assert table[model.reg, model.beta][0] == max(n for n, _ in table.values())
    again = evaluate(fit_ease(X, model.reg, beta=model.beta).scores(X), relevant, k=10, exclude=X)
    assert float(again.ndcg.mean()) == pytest.approx(table[model.reg, model.beta][0], abs=1e-12)
    assert again.coverage == pytest.approx(table[model.reg, model.beta][1], abs=1e-12)
    assert isinstance(model, EASE)
    assert np.array_equal(model.weights, fit_ease(X, model.reg).weights)  # the fit at the chosen reg


def test_select_under_coverage_takes_the_best_ndcg_among_settings_that_meet_the_constraint():
    table = {"narrow": (0.30, 0.10), "wide": (0.20, 0.50), "wider": (0.10, 0.90), "also wide": (0.20, 0.60)}
    assert select_under_coverage(table) == "narrow"  # no constraint: NDCG alone
    assert select_under_coverage(table, min_coverage=0.4) == "wide"  # the first of two equal NDCGs
    assert select_under_coverage(table, min_coverage=0.55) == "also wide"
    assert select_under_coverage(table, min_coverage=0.5) == "wide"  # the bound itself qualifies
    assert select_under_coverage(table, min_coverage=0.9) == "wider"
    with pytest.raises(ValueError, match=r"min_coverage 0\.95 is out of reach.*0\.900.*wider"):
        select_under_coverage(table, min_coverage=0.95)
    for bad in ({}, [(0.1, 0.2)], {"a": 0.3}, {"a": (0.3, 1.5)}):
        with pytest.raises(ValueError, match="table"):
            select_under_coverage(bad)
    with pytest.raises(ValueError, match="min_coverage"):
        select_under_coverage(table, min_coverage=1.5)


def test_choose_ease_under_a_coverage_constraint_trades_ndcg_for_coverage_or_refuses():
    rng = np.random.default_rng(4)
    # a long tail: item j is chosen with probability falling with j, so popularity carries the NDCG
    p = 0.6 / (1 + np.arange(120)) ** 0.7
    dense = rng.random((80, 120)) < p
    X = sp.csr_matrix(dense.astype(float))
    relevant = []
    for u in range(80):  # two unchosen items per user, popular ones more often
        unseen = np.flatnonzero(~dense[u])
        relevant.append(list(rng.choice(unseen, 2, replace=False, p=p[unseen] / p[unseen].sum())))
    grid = dict(regs=[1.0, 30.0], betas=[0.0, 0.5, 1.0])
    free, table = choose_ease(X, relevant, **grid)
    covs = sorted({c for _, c in table.values()})
    floor = covs[-1] - 1e-9  # only the widest settings qualify
    wide, again = choose_ease(X, relevant, **grid, min_coverage=floor)
    assert table[wide.reg, wide.beta][1] >= floor
    assert table[wide.reg, wide.beta][0] == max(n for n, c in table.values() if c >= floor)
    assert again == table
    # here the constraint changes the choice, to a lower NDCG: the unconstrained pick is narrower
    assert table[free.reg, free.beta][1] < floor and (wide.reg, wide.beta) != (free.reg, free.beta)
    assert table[wide.reg, wide.beta][0] < table[free.reg, free.beta][0]
    assert covs[-1] < 0.99 and len(covs) > 1
    with pytest.raises(ValueError, match="min_coverage .* is out of reach"):
        choose_ease(X, relevant, **grid, min_coverage=covs[-1] + 0.01)


def test_arguments_are_checked_by_name():
    X = _matrix()
    with pytest.raises(ValueError, match="train"):
        fit_ease(X.toarray(), 1.0)
    with pytest.raises(ValueError, match="train"):
        fit_ease(sp.csr_matrix((3, 4)), 1.0)
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="train"):
        fit_ease(bad, 1.0)
    for reg in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="reg"):
            fit_ease(X, reg)
    with pytest.raises(ValueError, match="beta"):
        fit_ease(X, 1.0, beta=-0.1)
    with pytest.raises(ValueError, match="dtype"):
        fit_ease(X, 1.0, dtype="float16")
    with pytest.raises(ValueError, match="threads"):
        fit_ease(X, 1.0, threads=0)
    model = fit_ease(X, 1.0)
    with pytest.raises(ValueError, match="history"):
        model.scores(X[:, :-1])
    with pytest.raises(ValueError, match="beta"):
        model.scores(X, beta=float("inf"))
    with pytest.raises(ValueError, match="regs"):
        choose_ease(X, [[0]] * X.shape[0], regs=[])
    with pytest.raises(ValueError, match="betas"):
        choose_ease(X, [[0]] * X.shape[0], regs=[1.0], betas=[-1.0])
    with pytest.raises(ValueError, match="min_coverage"):
        choose_ease(X, [[0]] * X.shape[0], regs=[1.0], min_coverage=-0.1)
