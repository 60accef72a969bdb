"""Chapter 9's automatic exercise check: the reference passes, the usual mistakes fail."""

from __future__ import annotations

import math

import numpy as np

from embedlab.exercises import check
from embedlab.offpolicy import greedy_policy, ips_estimate, simulate_log, softmax_policy


def _dcg(ranked, relevant, k=10, offset=2):
    rel = set(relevant)
    return sum(1 / math.log2(r + offset) for r, item in enumerate(ranked[:k]) if item in rel)


def test_the_solution_passes():
    def good(ranked, relevant):
        return _dcg(ranked, relevant) / sum(1 / math.log2(r + 2) for r in range(min(len(set(relevant)), 10)))

    assert check("ch09.ndcg_at_10", good, quiet=True)


def test_an_ideal_list_not_cut_at_10_fails_on_users_with_many_items():
    def uncut(ranked, relevant):
        return _dcg(ranked, relevant) / sum(1 / math.log2(r + 2) for r in range(len(set(relevant))))

    res = check("ch09.ndcg_at_10", uncut, quiet=True)
    assert not res and "25 relevant items" in res.message


def test_counting_past_position_10_fails():
    def whole_list(ranked, relevant):
        return _dcg(ranked, relevant, k=len(ranked)) / sum(
            1 / math.log2(r + 2) for r in range(min(len(set(relevant)), 10)))

    res = check("ch09.ndcg_at_10", whole_list, quiet=True)
    assert not res and "longer than 10" in res.message


def test_an_off_by_one_discount_fails():
    def shifted(ranked, relevant):
        ideal = sum(1 / math.log2(r + 3) for r in range(min(len(set(relevant)), 10)))
        return _dcg(ranked, relevant, offset=3) / ideal

    assert not check("ch09.ndcg_at_10", shifted, quiet=True)


# --- ch09.ips: the IPS estimator by hand ------------------------------------------------------------

def _weights(propensities, target_probs):
    p, t = np.asarray(propensities, dtype=float), np.asarray(target_probs, dtype=float)
    return np.divide(t, p, out=np.zeros_like(t), where=t > 0)


def test_the_ips_solution_passes_and_matches_the_library():
    def ips(rewards, propensities, target_probs):
        return float(np.mean(_weights(propensities, target_probs) * np.asarray(rewards)))

    assert check("ch09.ips", ips, quiet=True)
    rng = np.random.default_rng(0)
    click_probs = rng.uniform(0, 0.3, (20, 6))
    logger = softmax_policy(rng.normal(size=(20, 6)), 0.7)
    target = greedy_policy(rng.normal(size=(20, 6)))
    log = simulate_log(click_probs, logger, 500, seed=1)
    got = ips(log.rewards, log.propensities, target[log.contexts, log.actions])
    assert abs(got - ips_estimate(log, target).value) < 1e-12


def test_self_normalising_fails_on_uneven_weights():
    def snips(rewards, propensities, target_probs):
        w = _weights(propensities, target_probs)
        with np.errstate(invalid="ignore"):  # 0/0 where the target never agrees
            return float((w * np.asarray(rewards)).sum() / w.sum())

    res = check("ch09.ips", snips, quiet=True)
    assert not res and any("uneven" in f.label for f in res.failures)


def test_forgetting_the_target_probability_fails():
    def no_target(rewards, propensities, target_probs):
        p, t = np.asarray(propensities, dtype=float), np.asarray(target_probs, dtype=float)
        return float(np.mean(np.where(t > 0, np.asarray(rewards) / np.where(p > 0, p, 1.0), 0.0)))

    res = check("ch09.ips", no_target, quiet=True)
    assert not res and res.passed <= 2


def test_multiplying_by_the_propensity_fails():
    def times_p(rewards, propensities, target_probs):
        return float(np.mean(np.asarray(target_probs) * np.asarray(propensities) * np.asarray(rewards)))

    res = check("ch09.ips", times_p, quiet=True)
    assert not res and "uniform log" in res.message


def test_averaging_over_the_matches_only_fails():
    def matches_only(rewards, propensities, target_probs):
        w = _weights(propensities, target_probs)
        return float((w * np.asarray(rewards))[w > 0].mean()) if (w > 0).any() else 0.0

    assert not check("ch09.ips", matches_only, quiet=True)


def test_an_unguarded_division_fails_on_zero_propensities():
    def unguarded(rewards, propensities, target_probs):
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.mean(np.asarray(target_probs) / np.asarray(propensities) * np.asarray(rewards)))

    res = check("ch09.ips", unguarded, quiet=True)
    assert not res and res.passed == res.total - 1 and "stored as 0" in res.message
