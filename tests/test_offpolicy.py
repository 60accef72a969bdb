"""embedlab.offpolicy: IPS, SNIPS, DM and DR equal Open Bandit Pipeline's estimators on the same log; replay
equals a hand count; on a small simulated world whose truth is known, IPS and DR are unbiased under a
softmax logger, replay only under a uniform one, and the error grows as the logger nears greedy. Every
statistical check is also run on a deliberately wrong estimator, which it must reject."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab._checks import ArgumentError
from embedlab.offpolicy import (
    BanditLog,
    dm_estimate,
    dr_estimate,
    greedy_policy,
    ips_estimate,
    policy_value,
    replay_estimate,
    simulate_log,
    snips_estimate,
    softmax_policy,
    uniform_policy,
)

# ------------------------------------------------------------------------------------------------
# A small world: 20 users, 10 items, click rates from a hidden 4-d taste model; the logger ranks by
# a noisier model of the same tastes, the target is greedy on a less noisy one.


def _world():
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(20, 4)), rng.normal(size=(10, 4))
    true = users @ items.T / 2.0
    clicks = 1.0 / (1.0 + np.exp(-(true - 1.5)))
    logger_scores = true + rng.normal(size=true.shape)
    target = greedy_policy(true + rng.normal(scale=0.5, size=true.shape))
    reward_model = np.clip(clicks + rng.normal(scale=0.05, size=clicks.shape), 0, 1)  # a decent q̂
    return clicks, logger_scores, target, reward_model


CLICKS, LOGGER_SCORES, TARGET, Q = _world()
TRUTH = policy_value(CLICKS, TARGET)
N_EVENTS, N_SEEDS = 2000, 100


def _over_seeds(estimator, logging_policy, n_seeds=N_SEEDS):
    return np.array([estimator(simulate_log(CLICKS, logging_policy, N_EVENTS, seed=s)) for s in range(n_seeds)])


def _no_propensity_ips(log, target):
    """Deliberately wrong: IPS without dividing by the propensity."""
    return float(np.mean(target[log.contexts, log.actions] * log.rewards))


def _unbiased(values, truth) -> bool:
    """The mean over seeds is within 4 standard errors of the truth. The seeds are independent logs,
    so the mean is normal to a good approximation; an unbiased estimator leaves it farther than 4
    standard errors with probability 6e-5 (and with fixed seeds the answer never changes)."""
    se = values.std(ddof=1) / np.sqrt(values.size)
    return abs(values.mean() - truth) <= 4 * se


# ------------------------------------------------------------------------------------------------
# Agreement with Open Bandit Pipeline on one log, to floating-point precision


@pytest.fixture(scope="module")
def obp_ope():
    # obp 0.5.7 declares Python < 3.11 and pins 2022 releases: make setup installs it --no-deps (see the Makefile)
    return pytest.importorskip("obp.ope", reason="obp installs --no-deps through make setup (see the Makefile)")


def _random_log(seed=1, n=500, n_contexts=30, n_actions=8):
    rng = np.random.default_rng(seed)
    logging = softmax_policy(rng.normal(size=(n_contexts, n_actions)), 0.7)
    x = rng.integers(0, n_contexts, n)
    a = np.array([rng.choice(n_actions, p=logging[c]) for c in x])
    log = BanditLog(x, a, rng.uniform(0, 1, n), logging[x, a], logging)  # real-valued rewards too
    target = softmax_policy(rng.normal(size=(n_contexts, n_actions)), 0.5)  # a stochastic target
    q = rng.uniform(0, 1, (n_contexts, n_actions))
    return log, target, q


def _obp_inputs(log, target, q=None):
    kw = dict(reward=log.rewards, action=log.actions, pscore=log.propensities,
              action_dist=target[log.contexts][:, :, None])
    if q is not None:
        kw["estimated_rewards_by_reg_model"] = q[log.contexts][:, :, None]
    return kw


def _rel(a, b):
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("max_weight", [None, 2.0])
def test_ips_snips_dm_dr_equal_open_bandit_pipeline(obp_ope, max_weight):
    log, target, q = _random_log()
    lam = np.inf if max_weight is None else max_weight
    ours = {
        "ips": ips_estimate(log, target, max_weight=max_weight).value,
        "dr": dr_estimate(log, target, q, max_weight=max_weight).value,
        "snips": snips_estimate(log, target).value,
        "dm": dm_estimate(log, target, q).value,
    }
    theirs = {
        "ips": obp_ope.InverseProbabilityWeighting(lambda_=lam).estimate_policy_value(**_obp_inputs(log, target)),
        "dr": obp_ope.DoublyRobust(lambda_=lam).estimate_policy_value(**_obp_inputs(log, target, q)),
        "snips": obp_ope.SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**_obp_inputs(log, target)),
        "dm": obp_ope.DirectMethod().estimate_policy_value(action_dist=target[log.contexts][:, :, None],
                                                           estimated_rewards_by_reg_model=q[log.contexts][:, :, None]),
    }
    for name in ours:
        assert _rel(ours[name], theirs[name]) < 1e-12, (name, ours[name], theirs[name])
    if max_weight is not None:  # the clip bites, so this is a test of clipping, not of a no-op
        assert ips_estimate(log, target).value != ours["ips"]
    # the check can fail: IPS without the propensity is far from obp's
    assert _rel(_no_propensity_ips(log, target), theirs["ips"]) > 1e-3


def test_replay_equals_open_bandit_pipeline_on_a_uniform_log(obp_ope):
    rng = np.random.default_rng(2)
    n, n_contexts, n_actions = 600, 15, 5
    logging = uniform_policy(n_contexts, n_actions)
    x, a = rng.integers(0, n_contexts, n), rng.integers(0, n_actions, n)
    log = BanditLog(x, a, rng.integers(0, 2, n).astype(float), logging[x, a], logging)
    target = greedy_policy(rng.normal(size=(n_contexts, n_actions)))
    theirs = obp_ope.ReplayMethod().estimate_policy_value(reward=log.rewards, action=log.actions,
                                                          action_dist=target[x][:, :, None])
    assert _rel(replay_estimate(log, target).value, theirs) < 1e-12


# ------------------------------------------------------------------------------------------------
# Hand computations


def test_replay_equals_a_hand_count():
    # 3 items, uniform log; the target shows item 0 to user 0 and item 2 to user 1
    target = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    log = BanditLog([0, 0, 1, 1, 1, 0], [0, 1, 2, 2, 0, 0], [1.0, 1.0, 0.0, 1.0, 1.0, 0.0], [1 / 3] * 6)
    # matches: events 0 (r=1), 2 (r=0), 3 (r=1), 5 (r=0) -> 2 / 4
    est = replay_estimate(log, target)
    assert est.value == 0.5
    assert np.isclose(est.contributions.mean(), 0.5)


def test_ips_snips_dr_by_hand():
    target = np.array([[0.5, 0.5], [1.0, 0.0]])
    log = BanditLog([0, 1, 1], [1, 0, 1], [1.0, 1.0, 0.0], [0.25, 0.5, 0.5])
    w = np.array([0.5 / 0.25, 1.0 / 0.5, 0.0])  # 2, 2, 0
    r = np.array([1.0, 1.0, 0.0])
    assert ips_estimate(log, target).value == pytest.approx((w * r).mean(), rel=1e-15)  # 4/3
    assert snips_estimate(log, target).value == pytest.approx((w * r).sum() / w.sum(), rel=1e-15)  # 1
    assert ips_estimate(log, target, max_weight=1.5).value == pytest.approx((1.5 + 1.5) / 3, rel=1e-15)
    q = np.array([[0.2, 0.6], [0.3, 0.9]])
    dm = np.array([0.5 * 0.2 + 0.5 * 0.6, 0.3, 0.3])
    dr = dm + w * (r - np.array([0.6, 0.3, 0.9]))
    assert dr_estimate(log, target, q).value == pytest.approx(dr.mean(), rel=1e-15)
    assert dm_estimate(log, target, q).value == pytest.approx(dm.mean(), rel=1e-15)


def test_every_estimate_is_the_mean_of_its_contributions_and_gives_an_interval():
    log, target, q = _random_log()
    for est in (ips_estimate(log, target), snips_estimate(log, target), dr_estimate(log, target, q),
                dm_estimate(log, target, q), replay_estimate(log, greedy_policy(target), check_uniform=False)):
        assert est.contributions.shape == (len(log),)
        assert est.contributions.mean() == pytest.approx(est.value, rel=1e-12, abs=1e-15)
        value, low, high = est.interval(n_boot=300)
        assert value == est.value and low < value < high


def test_the_ratio_estimators_contributions_carry_their_spread_across_logs():
    # the linearised SNIPS terms: their standard error on one log matches the spread over logs
    logger = softmax_policy(LOGGER_SCORES, 1.0)
    ests = [snips_estimate(simulate_log(CLICKS, logger, N_EVENTS, seed=s), TARGET) for s in range(40)]
    one_log_se = np.mean([e.contributions.std(ddof=1) / np.sqrt(N_EVENTS) for e in ests])
    across = np.std([e.value for e in ests], ddof=1)
    assert 0.7 < one_log_se / across < 1.4, (one_log_se, across)


# ------------------------------------------------------------------------------------------------
# The simulator


def test_softmax_greedy_and_uniform_policies():
    s = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, -1.0, 0.5, 0.0]])
    p = softmax_policy(s, 0.5)
    e = np.exp(s / 0.5)
    np.testing.assert_allclose(p, e / e.sum(1, keepdims=True), rtol=1e-14)
    np.testing.assert_array_equal(greedy_policy(s), [[0, 1, 0, 0], [1, 0, 0, 0]])  # tie: the lower id
    np.testing.assert_allclose(softmax_policy(s, 1e-300), [[0, 0.5, 0.5, 0], [1, 0, 0, 0]])  # the greedy limit
    np.testing.assert_array_equal(uniform_policy(2, 4), np.full((2, 4), 0.25))
    with pytest.raises(ArgumentError, match="temperature"):
        softmax_policy(s, 0.0)


def test_simulated_log_follows_the_logging_policy_and_its_seed():
    logger = softmax_policy(LOGGER_SCORES, 1.0)
    log = simulate_log(CLICKS, logger, 40_000, seed=3)
    np.testing.assert_array_equal(log.propensities, logger[log.contexts, log.actions])
    freq = np.zeros_like(logger)
    np.add.at(freq, (log.contexts, log.actions), 1.0)
    expected = logger * np.bincount(log.contexts, minlength=20)[:, None]
    # Pearson's chi-square over 200 cells: mean 199, sd 20; 300 is 5 sd out
    assert ((freq - expected) ** 2 / expected).sum() < 300
    click_rate = log.rewards.mean()
    assert abs(click_rate - policy_value(CLICKS, logger)) < 0.01  # the logger's own value, on policy
    again = simulate_log(CLICKS, logger, 40_000, seed=3)
    np.testing.assert_array_equal(again.actions, log.actions)
    np.testing.assert_array_equal(again.rewards, log.rewards)


def test_policy_value_is_the_exact_expectation():
    w = np.arange(1.0, 21.0)
    brute = sum(w[u] * sum(TARGET[u, a] * CLICKS[u, a] for a in range(10)) for u in range(20)) / w.sum()
    assert policy_value(CLICKS, TARGET, user_weights=w) == pytest.approx(brute, rel=1e-13)


# ------------------------------------------------------------------------------------------------
# Bias over logging seeds: the truth is known


def test_ips_and_dr_are_unbiased_under_a_softmax_logger_and_the_check_rejects_a_wrong_estimator():
    logger = softmax_policy(LOGGER_SCORES, 1.0)
    ips = _over_seeds(lambda log: ips_estimate(log, TARGET).value, logger)
    dr = _over_seeds(lambda log: dr_estimate(log, TARGET, Q).value, logger)
    wrong = _over_seeds(lambda log: _no_propensity_ips(log, TARGET), logger)
    assert _unbiased(ips, TRUTH) and _unbiased(dr, TRUTH)
    assert not _unbiased(wrong, TRUTH)
    # DR with a good reward model is unbiased with less spread than IPS
    assert dr.std() < ips.std()


def test_replay_is_unbiased_on_a_uniform_log_and_biased_on_a_softmax_log():
    uniform = uniform_policy(20, 10)
    on_uniform = _over_seeds(lambda log: replay_estimate(log, TARGET).value, uniform)
    assert _unbiased(on_uniform, TRUTH)
    logger = softmax_policy(LOGGER_SCORES, 0.5)
    on_softmax = _over_seeds(lambda log: replay_estimate(log, TARGET, check_uniform=False).value, logger)
    assert not _unbiased(on_softmax, TRUTH)
    assert on_softmax.mean() - TRUTH > 0.05  # the logger's favourites are the target's too, and they pay
    # and the same check, on a correct estimator over the same non-uniform logs, passes
    assert _unbiased(_over_seeds(lambda log: ips_estimate(log, TARGET).value, logger), TRUTH)


def test_the_error_grows_as_the_logger_nears_greedy():
    # Near greedy (tau = 0.1) the target's items get propensities down to 1e-17: the weights are heavy-
    # tailed, so a few of the 100 logs land far off (IPS stays unbiased in expectation, and useless).
    def rmse(estimator, tau):
        v = _over_seeds(estimator, softmax_policy(LOGGER_SCORES, tau))
        return np.sqrt(((v - TRUTH) ** 2).mean())

    weighted = {"ips": lambda log: ips_estimate(log, TARGET).value,
                "dr": lambda log: dr_estimate(log, TARGET, Q).value,
                "snips": lambda log: snips_estimate(log, TARGET).value}
    for name, estimator in weighted.items():
        explore, greedy = rmse(estimator, 1.0), rmse(estimator, 0.1)
        assert greedy > 3 * explore, (name, greedy, explore)
    # SNIPS keeps the variance down but its bias shows: the logs hardly hold the target's items
    snips = _over_seeds(weighted["snips"], softmax_policy(LOGGER_SCORES, 0.1))
    assert not _unbiased(snips, TRUTH)
    # clipping trades the variance for a bias that also grows as the logger nears greedy
    clipped = _over_seeds(lambda log: ips_estimate(log, TARGET, max_weight=20.0).value,
                          softmax_policy(LOGGER_SCORES, 0.1))
    assert clipped.mean() - TRUTH < -0.1 and clipped.std() < 0.05
    # the check fails for an estimator without weights: the direct method with the true click rates
    dm = lambda log: dm_estimate(log, TARGET, CLICKS).value  # noqa: E731
    assert not rmse(dm, 0.1) > 3 * rmse(dm, 1.0)


# ------------------------------------------------------------------------------------------------
# Argument checks


def test_a_broken_log_is_refused_by_name():
    with pytest.raises(ArgumentError, match="propensities must be in"):
        BanditLog([0, 1], [0, 1], [1.0, 0.0], [0.5, 0.0])  # a logged action the logger could not take
    with pytest.raises(ArgumentError, match="^rewards"):
        BanditLog([0, 1], [0, 1], [1.0], [0.5, 0.5])
    with pytest.raises(ArgumentError, match="propensities must equal logging_policy"):
        BanditLog([0, 1], [0, 1], [1.0, 0.0], [0.5, 0.4], uniform_policy(2, 2))
    with pytest.raises(ArgumentError, match="^actions"):
        BanditLog([0, 1], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5])


def test_a_target_outside_the_logs_support_is_refused_unless_accepted():
    logging = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])  # item 2 is never shown
    log = BanditLog([0, 1], [0, 1], [1.0, 1.0], [0.5, 0.5], logging)
    target = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    for estimator in (ips_estimate, snips_estimate):
        with pytest.raises(ArgumentError, match="target puts probability on actions the logging policy never takes"):
            estimator(log, target)
    with pytest.raises(ArgumentError, match="never takes"):
        dr_estimate(log, target, np.zeros((2, 3)))
    assert ips_estimate(log, target, check_support=False).value == (0 + 1.0 / 0.5) / 2  # context 0 counts as 0
    with pytest.raises(ArgumentError, match="^target must have shape"):
        ips_estimate(log, np.full((2, 2), 0.5))
    with pytest.raises(ArgumentError, match="^target rows must sum to 1"):
        ips_estimate(log, np.full((2, 3), 0.5))


def test_a_target_that_never_agrees_with_the_log():
    log = BanditLog([0, 0], [0, 0], [1.0, 1.0], [0.5, 0.5], uniform_policy(1, 2))
    never = np.array([[0.0, 1.0]])
    assert ips_estimate(log, never).value == 0.0  # IPS: no evidence reads as 0
    for estimator in (snips_estimate, replay_estimate):
        with pytest.raises(ArgumentError, match="0/0"):
            estimator(log, never)


def test_replay_refuses_a_non_uniform_log():
    logger = softmax_policy(LOGGER_SCORES, 1.0)
    log = simulate_log(CLICKS, logger, 200, seed=0)
    with pytest.raises(ArgumentError, match="not uniformly randomised"):
        replay_estimate(log, TARGET)
    replay_estimate(log, TARGET, check_uniform=False)  # on request, to measure its bias
