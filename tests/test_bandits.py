"""embedlab.bandits: Boltzmann choice frequencies against scipy's softmax (chi-square test),
Thompson's posteriors against scipy.stats.beta, and the regret each policy should have."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.integrate import trapezoid
from scipy.special import softmax
from scipy.stats import beta, chisquare

from embedlab.bandits import Boltzmann, EmbeddingBandit, EpsilonGreedy, Thompson, replay, simulate


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
    # P(theta_1 > theta_0) by scipy's Beta densities, integrated on a grid (scipy's trapezoid: numpy's is
    # np.trapz before numpy 2 and np.trapezoid after, and pyproject.toml allows numpy 1.24)
    grid = np.linspace(0, 1, 20_001)
    p1_best = trapezoid(beta(4, 2).pdf(grid) * beta(7, 5).cdf(grid), grid)
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


# -- replay on logged data (chapter 9) -------------------------------------------------------------
def _hand_log():
    # 3 users, 8 items; items 6 and 7 are last for everybody
    scores = np.array([[0.9, 0.8, 0.1, 0.2, 0.3, 0.0, -1.0, -2.0],
                       [0.1, 0.2, 0.9, 0.8, 0.0, 0.3, -1.0, -2.0],
                       [0.5, 0.0, 0.1, 0.2, 0.9, 0.8, -1.0, -2.0]])
    users = np.array([0, 0, 0, 1, 2, 1, 2])
    items = np.array([0, 1, 0, 5, 4, 2, 0])
    return scores, users, items


def test_greedy_replay_by_hand():
    scores, users, items = _hand_log()
    r = replay(scores, users, items, policy="greedy", k=2)
    # slates, k=2:
    #   user 0 {0, 1}: item 0 hit, accepted -> blocked for user 0
    #   user 0 {1, 4}: item 1 hit -> blocked
    #   user 0 {4, 3}: item 0 was accepted before, so it is not shown again: miss
    #   user 1 {2, 3}: item 5 miss
    #   user 2 {4, 5}: item 4 hit -> blocked
    #   user 1 {2, 3}: item 2 hit
    #   user 2 {5, 0}: item 0 hit
    np.testing.assert_array_equal(r.hits, [True, True, False, False, True, True, True])
    assert (r.shown_items, r.hit_items, r.n_items) == (6, 4, 8)  # items 0..5 shown; 0, 1, 2, 4 hit
    assert r.hit_rate == pytest.approx(5 / 7) and r.coverage == pytest.approx(6 / 8) and r.policy == "greedy"
    # the check can fail: without the block the third event would be a hit
    assert replay(scores, users[2:3], items[2:3], k=2).hits[0]


def _random_log(n_users=20, n_items=40, n_events=300, seed=0):
    rng = np.random.default_rng(seed)
    # distinct scores with gaps of 1 / n_items: no ties, so every policy's top k is unambiguous
    scores = np.stack([rng.permutation(n_items) for _ in range(n_users)]) / n_items
    return scores, rng.integers(0, n_users, n_events), rng.integers(0, n_items, n_events)


@pytest.mark.parametrize("policy", ["greedy", "epsilon", "boltzmann"])
def test_excluded_items_never_appear_even_at_the_top(policy):
    scores, users, items = _random_log()
    n_users, n_items = scores.shape
    scores[:, :3] = 10.0 + np.arange(3)  # items 0, 1, 2 are everybody's best ...
    exclude = sp.csr_matrix(np.tile(np.arange(n_items) < 3, (n_users, 1)))  # ... and excluded
    kw = dict(policy=policy, k=5, epsilon=0.5, temperature=1.0)
    logged = np.arange(len(users)) % 3  # every event asks for an excluded item
    assert not replay(scores, users, logged, exclude=exclude, **kw).hits.any()
    r = replay(scores, users, items, exclude=exclude, **kw)
    assert r.shown_items <= n_items - 3 and not r.hits[items < 3].any() and r.hits.any()
    # the check can fail: without exclude the same log hits, for greedy once per (user, item)
    hits = replay(scores, users, logged, **kw).hits
    assert hits.sum() == len(set(zip(users, logged))) if policy == "greedy" else hits.sum() > 10


def test_stored_zeros_in_exclude_exclude_nothing():
    scores, users, items = _hand_log()
    stored_zero = sp.csr_matrix((np.zeros(1), ([0], [0])), shape=scores.shape)
    assert stored_zero.nnz == 1
    np.testing.assert_array_equal(replay(scores, users, items, k=2, exclude=stored_zero).hits,
                                  replay(scores, users, items, k=2).hits)


def test_an_accepted_item_is_not_shown_to_that_user_again():
    scores, _, _ = _random_log(n_users=2, n_items=10)
    top = int(np.argmax(scores[0]))
    # user 0 accepts their best item, then keeps asking for it; user 1 may still get it
    r = replay(scores, np.array([0, 0, 0, 1]), np.array([top] * 4), k=1)
    assert r.hits[:3].tolist() == [True, False, False]
    assert r.hits[3] == (int(np.argmax(scores[1])) == top)


def test_epsilon_zero_and_cold_boltzmann_equal_greedy():
    scores, users, items = _random_log(seed=1)
    greedy = replay(scores, users, items, policy="greedy", k=5)
    eps0 = replay(scores, users, items, policy="epsilon", k=5, epsilon=0.0, seed=3)
    cold = replay(scores, users, items, policy="boltzmann", k=5, temperature=1e-9, seed=3)
    for r in (eps0, cold):
        np.testing.assert_array_equal(r.hits, greedy.hits)
        assert (r.shown_items, r.hit_items) == (greedy.shown_items, greedy.hit_items)
    assert greedy.hits.sum() > 10  # agreement is not agreement on no hits
    # the check can fail: exploring policies differ
    assert not np.array_equal(replay(scores, users, items, policy="epsilon", k=5, epsilon=0.3).hits, greedy.hits)
    assert not np.array_equal(replay(scores, users, items, policy="boltzmann", k=5, temperature=0.1).hits,
                              greedy.hits)


def test_hot_boltzmann_covers_the_catalogue():
    scores, users, items = _random_log(seed=2)
    scores = 0.1 * scores + np.arange(40) / 4  # a shared taste: everybody's top 5 are about the same
    hot = replay(scores, users, items, policy="boltzmann", k=5, temperature=1e6)
    greedy = replay(scores, users, items, policy="greedy", k=5)
    assert hot.coverage > 0.95 and greedy.coverage < 0.8
    # about as many hits as random slates: 5 of 40 items -> 1/8
    assert hot.hit_rate == pytest.approx(5 / 40, abs=0.06)


def test_learning_rate_adds_log_of_one_plus_hits():
    # k=1. User 0 (and 2) like item 1 best; user 1 likes item 0, then item 1 by a gap.
    scores = np.array([[0.0, 1.0, 0.0], [1.0, 0.8, 0.0], [0.0, 1.0, 0.0]])
    one_hit = (np.array([0, 1]), np.array([1, 1]))  # item 1 earns a hit, then user 1 is asked
    # after one hit item 1 gains lr * log 2: it enters user 1's slate iff lr * log 2 > 0.2
    threshold = 0.2 / np.log(2)  # 0.289
    assert replay(scores, *one_hit, k=1).hits.tolist() == [True, False]
    assert replay(scores, *one_hit, k=1, learning_rate=threshold - 0.01).hits.tolist() == [True, False]
    assert replay(scores, *one_hit, k=1, learning_rate=threshold + 0.01).hits.tolist() == [True, True]
    # log(1 + hits), not hits: with the gap at 0.5 and lr 0.5, one hit (0.35) is not enough, two (0.55) are
    scores[1, 1] = 0.5
    assert replay(scores, *one_hit, k=1, learning_rate=0.5).hits.tolist() == [True, False]
    two_hits = (np.array([0, 2, 1]), np.array([1, 1, 1]))
    assert replay(scores, *two_hits, k=1, learning_rate=0.5).hits.tolist() == [True, True, True]


@pytest.mark.parametrize("policy", ["epsilon", "boltzmann"])
def test_replay_is_deterministic_given_the_seed(policy):
    scores, users, items = _random_log(seed=4)
    kw = dict(policy=policy, k=5, epsilon=0.3, temperature=0.1)
    a, b = replay(scores, users, items, seed=7, **kw), replay(scores, users, items, seed=7, **kw)
    c = replay(scores, users, items, seed=8, **kw)
    assert np.array_equal(a.hits, b.hits) and a.shown_items == b.shown_items
    assert not np.array_equal(a.hits, c.hits) or a.shown_items != c.shown_items


def test_epsilon_with_few_items_outside_the_slate():
    # k=4 of 5 items: one item is left to swap in, however many slots epsilon=1 picks
    scores, _, items = _random_log(n_users=20, n_items=5, n_events=20, seed=5)
    # each user once: one accepted item still leaves 4 to show
    r = replay(scores, np.arange(20), items, policy="epsilon", k=4, epsilon=1.0)
    assert r.coverage == 1.0


def test_replay_errors_name_the_argument():
    scores, users, items = _hand_log()
    cases = [
        (dict(policy="ucb"), "policy"),
        (dict(k=0), "k"), (dict(k=8), "k"), (dict(k=2.0), "k"), (dict(k=True), "k"),
        (dict(policy="epsilon", epsilon=1.5), "epsilon"), (dict(epsilon=-0.1), "epsilon"),
        (dict(temperature=0.0), "temperature"), (dict(temperature=float("nan")), "temperature"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(exclude=np.zeros(scores.shape)), "exclude"), (dict(exclude=sp.csr_matrix((3, 7))), "exclude"),
    ]
    for kw, name in cases:
        with pytest.raises(ValueError, match=name):
            replay(scores, users, items, **{"k": 2, **kw})
    with pytest.raises(ValueError, match="scores"):
        replay(scores[0], users, items, k=2)
    bad = scores.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="scores"):
        replay(bad, users, items, k=2)
    with pytest.raises(ValueError, match="users and items"):
        replay(scores, users[:-1], items, k=2)
    with pytest.raises(ValueError, match="users and items"):
        replay(scores, users.astype(float), items, k=2)
    with pytest.raises(ValueError, match="outside"):
        replay(scores, users, items + 3, k=2)
    with pytest.raises(ValueError, match="outside"):
        replay(scores, users - 1, items, k=2)
    # fewer than k items left for a user (3 excluded of 8, then 2 accepted): refused for every policy,
    # where greedy used to fill its slate with excluded items
    exclude = sp.csr_matrix(np.tile(np.arange(8) < 3, (3, 1)))
    for policy in ("greedy", "epsilon", "boltzmann"):
        with pytest.raises(ValueError, match="k=4"):
            replay(scores, np.zeros(3, dtype=int), np.array([3, 4, 5]), k=4, exclude=exclude, policy=policy)


def test_replay_refuses_an_empty_log():
    with pytest.raises(ValueError, match="empty"):
        replay(np.zeros((2, 5)), np.array([], dtype=int), np.array([], dtype=int), k=2)


# -- issue 21: one temperature rule (embedlab.probability.check_temperature) ----------------------
def test_boltzmann_refuses_a_temperature_whose_reciprocal_overflows():
    for t in (5e-324, 1e-310):
        with pytest.raises(ValueError, match="temperature is too small"):
            Boltzmann(temperature=t)


def test_boltzmann_at_the_smallest_accepted_temperature_is_greedy():
    counts = np.array([[2, 2, 2, 2], [1, 1, 1, 1]])
    sums = np.array([[1.0, 2.0, 0.0, 2.0], [0.0, 0.0, 1.0, 0.0]])
    for t in (2.0**-1023, 1e-300):
        p = Boltzmann(temperature=t).probabilities(counts, sums, 0)
        assert np.isfinite(p).all()
        np.testing.assert_array_equal(p, [[0, 0.5, 0, 0.5], [0, 0, 1, 0]])  # ties share the mass
        p = Boltzmann(temperature=t, anneal=True).probabilities(counts, sums, 1000)
        np.testing.assert_array_equal(p, [[0, 0.5, 0, 0.5], [0, 0, 1, 0]])


# -- issue 21: ties at the slate boundary go to the lower item id (embedlab.ranking's rule) --------
def _greedy_reference(scores, users, items, k):
    """Greedy replay by hand: Python's sort by (-score, id), accepted items removed."""
    accepted = set()
    hits, shown = [], set()
    for u, i in zip(users.tolist(), items.tolist()):
        ranked = sorted((j for j in range(scores.shape[1]) if (u, j) not in accepted), key=lambda j: (-scores[u, j], j))
        slate = ranked[:k]
        shown.update(slate)
        hits.append(i in slate)
        if i in slate:
            accepted.add((u, i))
    return np.array(hits), len(shown)


@pytest.mark.parametrize("k", [1, 3, 5, 8])
def test_greedy_slates_break_ties_by_lower_item_id(k):
    rng = np.random.default_rng(7)
    n_users, n_items = 12, 30
    scores = rng.integers(0, 3, size=(n_users, n_items)).astype(float)  # three levels: ties everywhere
    users, items = rng.integers(0, n_users, 400), rng.integers(0, n_items, 400)
    hits, shown = _greedy_reference(scores, users, items, k)
    r = replay(scores, users, items, policy="greedy", k=k)
    np.testing.assert_array_equal(r.hits, hits)
    assert r.shown_items == shown and hits.sum() > 5
    # epsilon = 0 is the same policy
    np.testing.assert_array_equal(replay(scores, users, items, policy="epsilon", epsilon=0.0, k=k).hits, hits)


def test_boltzmann_never_gives_nan_probabilities():
    # a subnormal temperature is refused at construction; set afterwards it still gives the argmax
    counts = np.array([[2, 2, 2]])
    sums = np.array([[1.0, 2.0, 0.0]])
    b = Boltzmann(temperature=1.0)
    for t in (5e-324, 1e-310, 2.0**-1074):
        b.temperature = t
        p = b.probabilities(counts, sums, 0)
        np.testing.assert_array_equal(p, [[0.0, 1.0, 0.0]])
    # the softmax is the package's one: equal to scipy's at an ordinary temperature
    b.temperature = 0.3
    np.testing.assert_allclose(b.probabilities(counts, sums, 0), softmax(np.array([[0.5, 1.0, 0.0]]) / 0.3, axis=1),
                               rtol=1e-14)


def test_replay_refuses_bool_and_accepts_half_precision_and_numpy_ints():
    import torch

    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(3, 7)).astype(float)  # ties at the slate boundary
    users, items = rng.integers(0, 3, 50), rng.integers(0, 7, 50)
    with pytest.raises(ValueError, match="scores"):
        replay(scores > 1, users, items, k=2)
    with pytest.raises(ValueError, match="users"):
        replay(scores, users > 0, items, k=2)
    ref = replay(scores, users, items, k=np.int64(2))
    for dtype in (torch.float16, torch.bfloat16):
        r = replay(torch.from_numpy(scores).to(dtype), users, items, k=2)
        np.testing.assert_array_equal(r.hits, ref.hits)
    with pytest.raises(ValueError, match="horizon"):
        simulate(_bandit(), EpsilonGreedy(), horizon=10.0)
    assert simulate(_bandit(), EpsilonGreedy(), horizon=np.int32(5), n_runs=np.int64(2)).shape == (2, 5)


def test_policies_and_runs_check_switches_and_seeds_by_name():
    with pytest.raises(ValueError, match="anneal"):
        Boltzmann(anneal="yes")  # a non-empty string was a true switch
    for policy in (EpsilonGreedy, Boltzmann):
        with pytest.raises(ValueError, match="prior"):
            policy(prior=float("nan"))
    with pytest.raises(ValueError, match="seed"):  # numpy's SeedSequence TypeError named no argument
        simulate(_bandit(), Thompson(), 3, 2, seed=1.5)
    with pytest.raises(ValueError, match="seed"):
        replay(np.zeros((2, 5)), np.array([0]), np.array([1]), k=2, seed=-1)
    assert simulate(_bandit(), Thompson(), 3, 2, seed=np.int64(1)).shape == (2, 3)
