"""embedlab.intervals against references: scipy's Student-t interval and a bootstrap written by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from embedlab._checks import ArgumentError
from embedlab.intervals import bootstrap_ci, compare, mean_interval, paired_difference, seed_spread

RNG = np.random.default_rng(2021)


def t_interval_differences(fn, values, level: float) -> list[str]:
    """fn(values, level) against scipy.stats.t.interval around the mean with the standard error."""
    v = np.asarray(values, dtype=np.float64)
    low, high = scipy.stats.t.interval(level, v.size - 1, loc=v.mean(), scale=scipy.stats.sem(v))
    m, lo, hi = fn(values, level)
    problems = []
    if not np.isclose(m, v.mean(), rtol=1e-14, atol=0):
        problems.append("mean")
    if not (np.isclose(lo, low, rtol=1e-12, atol=1e-15) and np.isclose(hi, high, rtol=1e-12, atol=1e-15)):
        problems.append(f"interval ({lo}, {hi}) vs scipy ({low}, {high})")
    return problems


@pytest.mark.parametrize("n", [2, 3, 10, 200])
@pytest.mark.parametrize("level", [0.5, 0.9, 0.95, 0.99])
def test_mean_interval_equals_scipy_t_interval(n, level):
    values = RNG.normal(0.7, 0.05, size=n)
    assert t_interval_differences(mean_interval, values, level) == []


def test_the_t_interval_comparison_catches_a_normal_interval():
    def normal_interval(values, level):  # z instead of t: too narrow for few draws
        v = np.asarray(values)
        half = scipy.stats.norm.ppf(0.5 + level / 2) * v.std(ddof=1) / np.sqrt(v.size)
        return v.mean(), v.mean() - half, v.mean() + half

    def population_sd(values, level):  # ddof=0
        v = np.asarray(values)
        half = scipy.stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std() / np.sqrt(v.size)
        return v.mean(), v.mean() - half, v.mean() + half

    values = RNG.normal(size=5)
    assert t_interval_differences(normal_interval, values, 0.95)
    assert t_interval_differences(population_sd, values, 0.95)


def test_mean_interval_takes_tensors_and_lists():
    values = [0.81, 0.79, 0.84, 0.80]
    assert mean_interval(torch.tensor(values)) == pytest.approx(mean_interval(np.array(values)), rel=1e-6)
    assert mean_interval(values) == mean_interval(np.array(values))
    m, lo, hi = mean_interval([1.0, 1.0, 1.0])
    assert m == lo == hi == 1.0  # no spread, no width


def hand_bootstrap(v: np.ndarray, n_boot: int, seed: int, level: float) -> tuple[float, float, float]:
    """The percentile bootstrap as a textbook writes it: n_boot resamples of the units, in one draw."""
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(v.mean()), float(low), float(high)


@pytest.mark.parametrize("n, n_boot, seed, level", [(10, 2000, 0, 0.95), (57, 500, 3, 0.9), (2, 100, 1, 0.5)])
def test_bootstrap_ci_equals_a_hand_bootstrap(n, n_boot, seed, level):
    v = RNG.exponential(size=n)
    assert bootstrap_ci(v, n_boot=n_boot, seed=seed, level=level) == hand_bootstrap(v, n_boot, seed, level)


def test_the_bootstrap_comparison_catches_a_wrong_quantile():
    v = RNG.exponential(size=40)

    def one_sided(values, n_boot, seed, level):  # level, not (1 + level) / 2, for the upper end
        m, low, _ = hand_bootstrap(values, n_boot, seed, level)
        means = values[np.random.default_rng(seed).integers(0, values.size, (n_boot, values.size))].mean(1)
        return m, low, float(np.quantile(means, level))

    assert one_sided(v, 2000, 0, 0.95) != bootstrap_ci(v, n_boot=2000, seed=0)
    assert hand_bootstrap(v, 2000, 1, 0.95) != bootstrap_ci(v, n_boot=2000, seed=0)  # the seed matters


def test_bootstrap_ci_in_blocks_matches_the_normal_approximation():
    """Many units resampled in blocks: the interval is the mean ± 1.96 standard errors, nearly."""
    v = RNG.normal(3.0, 2.0, size=50_000)
    m, low, high = bootstrap_ci(v, n_boot=400, seed=0)
    se = v.std(ddof=1) / np.sqrt(v.size)
    assert low < m < high
    assert (high - low) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.15)
    assert (m - low) / (high - m) == pytest.approx(1.0, abs=0.3)
    assert bootstrap_ci(v, n_boot=400, seed=0) == (m, low, high)  # the same seed, the same interval


def test_paired_difference_is_the_bootstrap_of_the_differences():
    a, b = RNG.normal(size=30), RNG.normal(size=30)
    assert paired_difference(a, b, seed=4) == bootstrap_ci(a - b, seed=4)
    assert paired_difference(a, b, seed=4) == hand_bootstrap(a - b, 2000, 4, 0.95)


def test_paired_difference_shows_a_tie_when_the_interval_contains_zero():
    difficulty = RNG.normal(0.0, 1.0, size=200)  # shared by both methods on each unit
    a = difficulty + RNG.normal(0.0, 0.05, size=200)
    tied = a + RNG.normal(0.0, 0.05, size=200)
    better = a + 0.05 + RNG.normal(0.0, 0.05, size=200)
    d, low, high = paired_difference(tied, a)
    assert low <= 0 <= high, "no real difference: a tie"
    d, low, high = paired_difference(better, a)
    assert 0 < low < d < high, "0.05 better on every unit: the paired interval excludes 0"
    # Unpaired, the units' difficulty swamps the same difference: the two intervals overlap.
    _, low_better, _ = bootstrap_ci(better)
    _, _, high_a = bootstrap_ci(a)
    assert low_better < high_a
    assert (high - low) < 0.1 * (bootstrap_ci(better)[2] - bootstrap_ci(better)[1])


@pytest.mark.parametrize("fn", [bootstrap_ci, lambda v, **kw: paired_difference(v, np.zeros_like(v), **kw)],
                         ids=["bootstrap_ci", "paired_difference"])
def test_bootstrap_arguments_are_refused_by_name(fn):
    v = np.arange(5.0)
    for level in (0, 1, 95, -0.5, np.nan, True, "0.95"):
        with pytest.raises(ArgumentError, match="^level"):
            fn(v, level=level)
    for n_boot in (0, 10.0, True):
        with pytest.raises(ArgumentError, match="^n_boot"):
            fn(v, n_boot=n_boot)
    with pytest.raises(ArgumentError, match="^seed"):
        fn(v, seed=-1)
    with pytest.raises(ArgumentError, match="^seed"):
        fn(v, seed=1.5)


def test_values_are_refused_by_name():
    with pytest.raises(ArgumentError, match="^values"):
        bootstrap_ci([1.0])
    with pytest.raises(ArgumentError, match="^values"):
        bootstrap_ci([1.0, np.nan, 2.0])
    with pytest.raises(ArgumentError, match="^values"):
        bootstrap_ci(np.ones((3, 2)))
    with pytest.raises(ArgumentError, match="^values"):
        mean_interval([0.5])
    with pytest.raises(ArgumentError, match="^values"):
        mean_interval([0.5, np.inf])
    with pytest.raises(ArgumentError, match="^values"):
        mean_interval([True, False])
    with pytest.raises(ArgumentError, match="^level"):
        mean_interval([0.5, 0.6], level=1.0)
    with pytest.raises(ArgumentError, match="^a and b"):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ArgumentError, match="^b"):
        paired_difference([1.0, 2.0], [1.0, np.nan])
    for builtin in (ValueError, TypeError):
        with pytest.raises(builtin):
            bootstrap_ci([1.0])


def test_one_resampler_serves_the_mean_and_a_word_pair_rho():
    # bootstrap_ci's means and wordsim's rho interval both come from bootstrap_indices: blocks
    # drawn in sequence equal one draw of all resamples from the same seed.
    from embedlab.intervals import bootstrap_indices, percentile_interval

    blocks = list(bootstrap_indices(3000, 5000, 7))  # 4M // 3000 = 1398 rows per block
    assert len(blocks) > 1
    whole = np.random.default_rng(7).integers(0, 3000, size=(5000, 3000))
    assert np.array_equal(np.concatenate(blocks), whole)
    v = np.random.default_rng(1).normal(size=3000)
    m, lo, hi = bootstrap_ci(v, n_boot=5000, seed=7)
    assert (lo, hi) == percentile_interval(v[whole].mean(axis=1), 0.95)
    assert percentile_interval([np.nan, 1.0, 2.0, 3.0], 0.5) == (1.5, 2.5)  # NaN statistics left out


def test_compare_calls_a_difference_inside_its_interval_a_tie():
    difficulty = RNG.normal(0.0, 1.0, size=300)
    base = difficulty + RNG.normal(0.0, 0.05, size=300)
    tied = base + RNG.normal(0.0, 0.05, size=300)
    better = base + 0.05 + RNG.normal(0.0, 0.05, size=300)
    c = compare(tied, base, names=("new", "old"))
    assert c.tie and c.winner is None and c.verdict == "tie"
    assert (c.diff, c.low, c.high) == paired_difference(tied, base)
    c = compare(better, base, names=("new", "old"))
    assert not c.tie and c.winner == "new" and str(c).endswith("new better")
    assert c.n_units == 300 and "(95%, 300 units)" in str(c)
    # A loss: lower is better, so the same positive difference makes the *other* method win.
    c = compare(better, base, names=("new", "old"), higher_is_better=False)
    assert c.winner == "old"
    # A verdict that ignored the interval (sign of the mean only) would call the tie a win: caught.
    sign_only = "new better" if compare(tied, base, names=("new", "old")).diff > 0 else "old better"
    assert sign_only != compare(tied, base, names=("new", "old")).verdict


def test_compare_and_seed_spread_refuse_bad_arguments_by_name():
    v = np.arange(5.0)
    with pytest.raises(ArgumentError, match="^names"):
        compare(v, v, names=("only one",))
    with pytest.raises(ArgumentError, match="^higher_is_better"):
        compare(v, v, higher_is_better="yes")
    with pytest.raises(ArgumentError, match="^a and b"):
        compare(v, v[:3])
    with pytest.raises(ArgumentError, match="^digits"):
        compare(v, v + 1).format(digits=-1)
    with pytest.raises(ArgumentError, match="^values"):
        seed_spread([0.8])


def test_seed_spread_reports_mean_and_range_and_overlap():
    s = seed_spread(np.array([0.79, 0.85, 0.81, 0.83, 0.82]))
    assert (s.low, s.high, s.n_seeds) == (0.79, 0.85, 5)
    assert abs(s.mean - 0.82) < 1e-12
    assert str(s) == "0.82 (0.79-0.85 over 5 seeds)"
    assert s.overlaps(seed_spread([0.84, 0.90]))
    assert not s.overlaps(seed_spread([0.86, 0.90]))
    with pytest.raises(ArgumentError, match="^other"):
        s.overlaps((0.8, 0.9))
