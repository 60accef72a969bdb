"""embedlab.bandits: Boltzmann choice frequencies against scipy's softmax (chi-square test),
Thompson's posteriors against scipy.stats.beta, and the regret each policy should have."""

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import beta, chisquare

from embedlab.bandits import Boltzmann, EmbeddingBandit, EpsilonGreedy, Thompson, simulate


def _bandit(k=8, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return EmbeddingBandit(rng.normal(size=(k, d)), rng.normal(size=d), scale=1.0, offset=-1.0)


def test_click_rates_are_logistic_of_the_dot_product():
    b = _bandit()
    np.testing.assert_allclose(b.probs, 1 / (1 + np.exp(-(b.items @ b.user - 1.0))))


def test_boltzmann_samples_from_scipy_softmax():
    counts = np.tile(np.array([[5.0, 3.0, 10.0, 1.0]]), (40_000, 1))
    sums = np.tile(np.array([[2.0, 2.0, 3.0, 1.0]]), (40_000, 1))
    policy = Boltzmann(temperature=0.2)
    expected = softmax((sums / counts)[0] / 0.2)
    np.testing.assert_allclose(policy.probabilities(counts, sums, 0)[0], expected, rtol=1e-12)
    arms = policy.select(counts, sums, 0, np.random.default_rng(0))
    observed = np.bincount(arms, minlength=4)
    assert chisquare(observed, expected * len(arms)).pvalue > 1e-3
    wrong = softmax((sums / counts)[0] * 0.2)  # multiplying by T instead of dividing
    assert chisquare(observed, wrong * len(arms)).pvalue < 1e-6


def test_thompson_picks_each_arm_as_often_as_its_posterior_is_best():
    counts = np.tile(np.array([[10.0, 4.0]]), (50_000, 1))
    sums = np.tile(np.array([[6.0, 3.0]]), (50_000, 1))
    arms = Thompson().select(counts, sums, 0, np.random.default_rng(1))
    # P(theta_1 > theta_0) by scipy's Beta densities, integrated on a grid
    grid = np.linspace(0, 1, 20_001)
    p1_best = np.trapezoid(beta(4, 2).pdf(grid) * beta(7, 5).cdf(grid), grid)
    assert (arms == 1).mean() == pytest.approx(p1_best, abs=0.01)


def test_regret_thompson_sublinear_fixed_temperature_linear():
    b = _bandit()
    ts = simulate(b, Thompson(), 3000, n_runs=20, seed=0).mean(0)
    fixed = simulate(b, Boltzmann(temperature=0.1), 3000, n_runs=20, seed=0).mean(0)
    # Regret over the last third: Thompson's slope shrinks, fixed temperature keeps paying
    slope = lambda r: (r[-1] - r[2000]) / 1000  # noqa: E731
    assert slope(ts) < 0.25 * slope(fixed)
    assert slope(fixed) > 0.5 * fixed[999] / 1000  # about as steep late as early: linear
    greedy = simulate(b, EpsilonGreedy(0.0), 3000, n_runs=20, seed=0)
    assert greedy.shape == (20, 3000) and np.all(np.diff(greedy, axis=1) >= 0)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="temperature"):
        Boltzmann(temperature=0)
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedy(1.5)
    with pytest.raises(ValueError, match="user"):
        EmbeddingBandit(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="horizon"):
        simulate(_bandit(), Thompson(), 0)
    with pytest.raises(ValueError, match="policy"):
        simulate(_bandit(), object(), 10)
    assert EpsilonGreedy(np.float32(0.1)).epsilon == pytest.approx(0.1)
