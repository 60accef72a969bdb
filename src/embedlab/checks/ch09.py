"""Hidden cases for chapter 9 (recommendation)."""

from __future__ import annotations

import numpy as np

from embedlab.exercises import Case, Exercise
from embedlab.ranking import ndcg_at_k


def _ndcg_at_10(ranked, relevant) -> float:
    """Reference: NDCG@10 of one user's ranked list (binary relevance), via embedlab.ranking."""
    return float(ndcg_at_k(np.asarray(ranked)[None, :10], [np.asarray(relevant)], k=10)[0])


def _ndcg_cases() -> list[Case]:
    rng = np.random.default_rng(909)
    cases = [
        Case(args=(list(range(10)), [0]), label="the only relevant item first"),
        Case(args=(list(range(10)), [9]), label="the only relevant item tenth"),
        Case(args=(list(range(10)), [42]), label="no relevant item in the list"),
        Case(args=(list(range(10)), list(range(10))), label="every item relevant"),
        # More relevant items than k: the ideal list is cut at 10.
        Case(args=(list(range(10)), list(range(25))), label="25 relevant items, the top 10 all relevant"),
        Case(args=(list(range(20)), [15, 3]), label="a list longer than 10: only the first 10 count"),
    ]
    for n_rel in (2, 5, 12):
        ranked = rng.permutation(100)[:10].tolist()
        relevant = rng.choice(100, size=n_rel, replace=False).tolist()
        cases.append(Case(args=(ranked, relevant), label=f"random list, {n_rel} relevant items"))
    return cases


def _ips(rewards, propensities, target_probs) -> float:
    """Reference: inverse propensity scoring, ``mean_i(π(a_i|x_i) / p_i · r_i)`` over all n events.

    An event the target never takes (target probability 0) contributes 0, also where its propensity
    was stored as 0: the exercise text defines it so (0/0 must not make the estimate NaN). Agrees
    with :func:`embedlab.offpolicy.ips_estimate`, which refuses zero propensities in a BanditLog."""
    r, p, t = (np.asarray(v, dtype=np.float64) for v in (rewards, propensities, target_probs))
    w = np.divide(t, p, out=np.zeros_like(t), where=t > 0)
    return float(np.mean(w * r))


def _ips_cases() -> list[Case]:
    rng = np.random.default_rng(924)

    def clicks(n, rate=0.3):
        return (rng.random(n) < rate).astype(np.float64)

    n = 16
    uniform_p = np.full(n, 0.25)                              # 4 actions, each logged with probability 1/4
    agree = (rng.random(n) < 0.25).astype(np.float64)   # a deterministic target: 1 where it takes the logged action
    agree[:2] = 1.0
    r_uniform = clicks(n)
    r_uniform[:2] = 1.0
    uneven_p = rng.uniform(0.02, 0.9, 40)
    uneven_t = rng.uniform(0.0, 1.0, 40) * (rng.random(40) < 0.7)   # some zero target probabilities
    zero_p = rng.uniform(0.05, 0.5, 10)
    zero_t = rng.uniform(0.1, 1.0, 10)
    zero_p[[2, 7]] = 0.0                                      # stored as 0 (rounded) ...
    zero_t[[2, 7]] = 0.0                                      # ... where the target never acts
    r_zero = clicks(10, 0.5)
    r_zero[[2, 7]] = 1.0
    big_p = rng.uniform(0.001, 0.2, 1000)
    return [
        Case(args=(r_uniform, uniform_p, agree), label="a uniform log, a deterministic target"),
        Case(args=(clicks(40), uneven_p, uneven_t),
             label="uneven propensities and target probabilities, some target probabilities 0"),
        Case(args=(np.ones(8), rng.uniform(0.1, 0.9, 8), np.zeros(8)),
             label="a target that never agrees with the log (value 0)"),
        Case(args=(np.array([1.0, 0.0, 1.0, 1.0, 0.0]), np.ones(5), np.array([1.0, 1.0, 0.5, 0.0, 0.25])),
             label="propensity 1 everywhere (a deterministic logger)"),
        Case(args=(r_zero, zero_p, zero_t), label="propensities stored as 0 where the target never acts"),
        Case(args=(rng.uniform(0, 1, 30), rng.uniform(0.05, 0.5, 30), rng.uniform(0, 1, 30)),
             label="rewards between 0 and 1 (not only clicks)"),
        Case(args=(clicks(1000, 0.05), big_p, rng.uniform(0, 1, 1000) * (rng.random(1000) < 0.2)),
             label="1,000 events with weights up to a few hundred"),
    ]


EXERCISES = [
    Exercise(
        id="ch09.ndcg_at_10",
        reference=_ndcg_at_10,
        forbids=("embedlab.ranking.ndcg_at_k",),
        cases=_ndcg_cases,
        hint="DCG counts the first 10 positions only, each hit discounted by its rank r = 1, 2, ... as the "
        "exercise says (mind the off-by-one); the ideal is the best DCG that any list of 10 could reach for this "
        "user, so how many hits can it hold?",
    ),
    Exercise(
        id="ch09.ips",
        reference=_ips,
        forbids=("embedlab.offpolicy.ips_estimate", "embedlab.offpolicy.snips_estimate",
                 "embedlab.offpolicy.dr_estimate"),
        cases=_ips_cases,
        function="ips",
        hint="each logged reward should count as often as the target would have met it, relative to how often "
        "the logger did; the average is over all n events (an estimate, not a ratio of sums), and an event the "
        "target never takes counts 0, even if its propensity is 0 (guard the division).",
    ),
]
