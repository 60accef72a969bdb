"""embedlab.conformal against MAPIE (the same thresholds and sets) and against its own guarantee."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from embedlab._checks import ArgumentError
from embedlab.conformal import (
    _aps_scores,
    _aps_sets,
    conformal_threshold,
    conformity_scores,
    prediction_sets,
    retrieval_sets,
    retrieval_threshold,
    set_coverage,
    set_sizes,
)

mapie_classification = pytest.importorskip("mapie.classification")


class _Fixed(ClassifierMixin, BaseEstimator):
    """A prefit classifier whose input *is* its probabilities: MAPIE then sees exactly our scores."""

    def fit(self, X, y):
        self.classes_ = np.arange(np.asarray(X).shape[1])
        return self

    def predict_proba(self, X):
        return np.asarray(X)

    def predict(self, X):
        return np.asarray(X).argmax(1)


def _world(n, m, K=6, seed=0, scale=2.0):
    """Probabilities from random logits and labels drawn from them (a calibrated model, tie-free)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n + m, K)) * scale
    P = np.exp(logits)
    P /= P.sum(1, keepdims=True)
    y = (P.cumsum(1) > rng.random((n + m, 1))).argmax(1)
    return P[:n], y[:n], P[n:], y[n:]


def _mapie(Pc, yc, Pt, alpha, method, **params):
    clf = mapie_classification.SplitConformalClassifier(
        _Fixed().fit(Pc, yc), confidence_level=1 - alpha, conformity_score=method, prefit=True, random_state=3)
    clf.conformalize(Pc, yc)
    sets = clf.predict_set(Pt, conformity_score_params=params or None)[1][:, :, 0]
    inner = clf._mapie_classifier
    return float(inner.conformity_score_function_.quantiles_[0]), inner.conformity_scores_.ravel(), sets


@pytest.mark.parametrize("n", [30, 97, 500])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2, 0.33])
def test_lac_threshold_and_sets_are_mapies(n, alpha):
    Pc, yc, Pt, _ = _world(n, 300, seed=n)
    q_ref, s_ref, sets_ref = _mapie(Pc, yc, Pt, alpha, "lac")
    s = conformity_scores(Pc, yc, "lac")
    assert np.abs(s - s_ref).max() < 1e-12
    q = conformal_threshold(s, alpha)
    assert abs(q - q_ref) < 1e-12
    assert (prediction_sets(Pt, q, "lac") == sets_ref).all()


@pytest.mark.parametrize("n", [30, 97, 500])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2, 0.33])
def test_aps_threshold_and_sets_are_mapies_plain_and_randomised(n, alpha):
    Pc, yc, Pt, _ = _world(n, 300, seed=n + 1)
    # MAPIE always randomises the calibration scores (u from RandomState(random_state)); so do we, given the same u.
    q_ref, s_ref, sets_ref = _mapie(Pc, yc, Pt, alpha, "aps", include_last_label=True)
    s = _aps_scores(Pc, yc, np.random.RandomState(3).uniform(size=n))
    assert np.abs(s - s_ref).max() < 1e-12
    q = conformal_threshold(s, alpha)
    assert abs(q - q_ref) < 1e-12
    assert (_aps_sets(Pt, q, None) == sets_ref).all()                     # not randomised: include the last class
    assert (prediction_sets(Pt, q, "aps") == sets_ref).all()
    _, _, rand_ref = _mapie(Pc, yc, Pt, alpha, "aps", include_last_label="randomized")
    assert (_aps_sets(Pt, q, np.random.RandomState(3).uniform(size=len(Pt))) == rand_ref).all()


def test_aps_score_is_the_mass_at_or_above_the_true_class_ties_lower_id_first():
    p = np.array([[0.2, 0.5, 0.3], [0.4, 0.3, 0.3]])
    assert np.allclose(conformity_scores(p, [2, 2], "aps"), [0.8, 1.0])
    assert np.allclose(conformity_scores(p, [1, 1], "aps"), [0.5, 0.7])
    assert np.allclose(conformity_scores(p, [0, 0], "lac"), [0.8, 0.6])
    sets = prediction_sets(p, 0.7, "aps")                    # row 1: classes 0 and 1 reach 0.7; class 2 waits
    assert sets.tolist() == [[False, True, True], [True, True, False]]
    g = np.random.default_rng(0)
    u = np.random.default_rng(0).random(2)
    # randomised: minus u times the true class's own probability, one u per row from the generator
    assert np.allclose(conformity_scores(p, [1, 1], "aps", generator=g), np.array([0.5, 0.7]) - u * [0.5, 0.3])


def test_threshold_order_statistic_ties_n1_and_tiny_alpha():
    s = np.array([0.3, 0.1, 0.1, 0.1, 0.9, 0.5, 0.2, 0.7, 0.4])    # n = 9
    assert conformal_threshold(s, 0.5) == 0.3                      # k = ceil(5) = 5th smallest
    assert conformal_threshold(s, 0.1) == 0.9                      # k = ceil(9.0) = 9 (not 10: 0.9's last bit)
    assert conformal_threshold(s, 0.75) == 0.1                     # k = 3, inside the tie
    assert conformal_threshold(s, 0.09) == math.inf                # k = ceil(9.1) = 10 > n
    assert conformal_threshold([0.4], 0.5) == 0.4                  # n = 1: k = ceil(1.0) = 1
    assert conformal_threshold([0.4], 0.49) == math.inf            # n = 1: anything below 1/2 is everything
    P = np.full((3, 4), 0.25)
    for method in ("lac", "aps"):
        assert prediction_sets(P, math.inf, method).all()
        assert prediction_sets(P, math.inf, method, generator=np.random.default_rng(0)).all()
    assert retrieval_threshold([0.2, 0.7], 0.01) == -math.inf
    assert retrieval_sets(np.array([[0.1, -5.0]]), -math.inf).all()


def test_tied_scores_never_lose_coverage():
    # all calibration scores equal: the threshold is that value, and every tied test score passes
    q = conformal_threshold(np.full(50, 0.25), 0.1)
    assert q == 0.25
    P = np.tile([0.75, 0.25], (10, 1))
    assert set_coverage(prediction_sets(P, q, "lac"), np.zeros(10, dtype=int)) == 1.0


@pytest.mark.parametrize("method,randomised", [("lac", False), ("aps", False), ("aps", True)])
@pytest.mark.parametrize("n,alpha", [(20, 0.1), (49, 0.1), (30, 0.2)])
def test_finite_sample_coverage_band(method, randomised, n, alpha):
    """Mean coverage over many calibration draws is ceil((n+1)(1-alpha))/(n+1), inside [1-a, 1-a+1/(n+1)]."""
    reps, m = 1500, 60
    rng = np.random.default_rng(n)
    covs = []
    for r in range(reps):
        Pc, yc, Pt, yt = _world(n, m, K=5, seed=int(rng.integers(1 << 31)))
        g = np.random.default_rng(r) if randomised else None
        q = conformal_threshold(conformity_scores(Pc, yc, method, generator=g), alpha)
        covs.append(set_coverage(prediction_sets(Pt, q, method, generator=g), yt))
    mean, se = np.mean(covs), np.std(covs) / math.sqrt(reps)
    exact = math.ceil((n + 1) * (1 - alpha)) / (n + 1)
    assert 1 - alpha <= exact <= 1 - alpha + 1 / (n + 1)
    if method == "aps" and not randomised:          # the crossing class is always kept: only the lower bound holds
        assert exact - 4 * se < mean < 1
        return
    assert abs(mean - exact) < 4 * se
    assert 1 - alpha - 4 * se < mean < 1 - alpha + 1 / (n + 1) + 4 * se


def test_retrieval_sets_cover_the_best_answer():
    rng = np.random.default_rng(0)
    reps, n, covs = 400, 40, []
    for _ in range(reps):
        best = rng.normal(size=n + 30)                              # score of each query's best correct candidate
        t = retrieval_threshold(best[:n], 0.2)
        covs.append(np.mean(best[n:] >= t))
    exact = math.ceil((n + 1) * 0.8) / (n + 1)
    assert abs(np.mean(covs) - exact) < 4 * np.std(covs) / math.sqrt(reps)
    S = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.4]])
    assert retrieval_sets(S, 0.35).tolist() == [[True, False, True], [False, False, True]]
    assert set_sizes(retrieval_sets(S, 0.35)).tolist() == [2, 1]


def test_inputs_numpy_scalars_float16_and_tensors():
    Pc, yc, Pt, yt = _world(40, 20, seed=5)
    q = conformal_threshold(conformity_scores(Pc, yc), np.float32(0.1))
    assert q == conformal_threshold(conformity_scores(Pc, yc), 0.1)
    q16 = conformal_threshold(conformity_scores(Pc.astype(np.float16), torch.from_numpy(yc)), 0.1)
    assert abs(q16 - q) < 1e-3
    sets = prediction_sets(torch.from_numpy(Pt).half(), np.float64(q), "aps", generator=np.random.default_rng(0))
    assert sets.shape == Pt.shape and sets.dtype == bool
    assert 0 <= set_coverage(torch.from_numpy(sets), yt) <= 1


@pytest.mark.parametrize("call,name", [
    (lambda: conformal_threshold([0.1, 0.2], 0.0), "alpha"),
    (lambda: conformal_threshold([0.1, 0.2], 1.0), "alpha"),
    (lambda: conformal_threshold([0.1, 0.2], True), "alpha"),
    (lambda: conformal_threshold([], 0.1), "scores"),
    (lambda: conformal_threshold([[0.1]], 0.1), "scores"),
    (lambda: conformal_threshold([0.1, float("nan")], 0.1), "scores"),
    (lambda: conformity_scores([[0.5, 0.5]], [0], "raps"), "method"),
    (lambda: conformity_scores([[0.5, 0.5]], [2]), "labels"),
    (lambda: conformity_scores([[0.5, 0.5]], [0, 1]), "labels"),
    (lambda: conformity_scores([[1.5, -0.5]], [0]), "probs"),
    (lambda: conformity_scores([[0.5, 0.5]], [0], "aps", generator=0), "generator"),
    (lambda: prediction_sets([[0.5, 0.5]], "0.3"), "threshold"),
    (lambda: set_coverage([[1, 0]], [0]), "sets"),
    (lambda: retrieval_threshold([0.1], -0.5), "alpha"),
])
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ArgumentError, match=f"^{name}"):
        call()
