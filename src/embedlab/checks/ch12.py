"""Hidden cases for chapter 12 (scaling out)."""

from __future__ import annotations

import numpy as np

from embedlab.exercises import Case, Exercise


def _merge_shards(scores, ids, k):
    """Reference: the global top-k ids from each shard's (n_q, k_s) scores and global ids, best first."""
    S = np.concatenate([np.asarray(s, dtype=np.float64) for s in scores], axis=1)   # (n_q, sum k_s)
    all_ids = np.concatenate([np.asarray(i) for i in ids], axis=1)
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(all_ids, order, axis=1)


def _cases() -> list[Case]:
    rng = np.random.default_rng(1212)
    cases = []
    for n_q, shards, k, label in [(3, 2, 2, "two shards"), (5, 4, 5, "four shards"), (8, 7, 10, "seven shards"),
                                  (4, 1, 3, "one shard")]:
        scores, ids = [], []
        for s in range(shards):
            sc = -np.sort(-rng.standard_normal((n_q, k)), axis=1)       # each shard's own top k, best first
            scores.append(sc)
            ids.append(rng.choice(1000, size=(n_q, k), replace=False) + 1000 * s)   # global ids
        cases.append(Case(args=(scores, ids, k), label=label))
    # every shard's best is worse than another shard's worst: the merge must not take one per shard
    scores = [np.array([[9.0, 8.0, 7.0]]), np.array([[1.0, 0.5, 0.2]])]
    ids = [np.array([[10, 11, 12]]), np.array([[20, 21, 22]])]
    cases.append(Case(args=(scores, ids, 3), label="one shard holds the whole top 3"))
    return cases


EXERCISES = [
    Exercise(
        id="ch12.merge_shards",
        reference=_merge_shards,
        cases=_cases,
        forbids=("embedlab.bigindex.merge_topk",),
        hint="the overall top k can hold several items of one shard and none of another; compare all the "
        "candidates' scores of a row together, best first, and return their global ids, not their positions.",
    ),
]
