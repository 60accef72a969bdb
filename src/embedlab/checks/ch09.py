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
]
