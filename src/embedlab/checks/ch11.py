"""Hidden cases for chapter 11 (limits of the map)."""

from __future__ import annotations

import numpy as np

from embedlab.exercises import Case, Exercise


def _csls(S, k):
    """Reference: CSLS scores 2·S - r_rows - r_cols from a similarity matrix S (n_q, n_k)."""
    S = np.asarray(S, dtype=np.float64)
    r_rows = np.sort(S, axis=1)[:, -k:].mean(axis=1)      # (n_q,) mean of each query's k best
    r_cols = np.sort(S, axis=0)[-k:, :].mean(axis=0)      # (n_k,) mean of each key's k best
    return 2 * S - r_rows[:, None] - r_cols[None, :]


def _csls_cases() -> list[Case]:
    rng = np.random.default_rng(1111)
    cases = []
    for nq, nk, k, label in [(4, 6, 1, "k = 1"), (10, 12, 3, "10 queries, 12 keys, k = 3"),
                             (30, 20, 5, "more queries than keys"), (8, 8, 8, "k = every key")]:
        x = rng.standard_normal((nq, 16))
        y = rng.standard_normal((nk, 16))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y /= np.linalg.norm(y, axis=1, keepdims=True)
        cases.append(Case(args=(x @ y.T, k), label=label))
    hub = rng.standard_normal((5, 7))
    hub[:, 0] += 3.0  # key 0 is every query's best match: a hub
    cases.append(Case(args=(hub, 2), label="a hub that every query prefers"))
    return cases


EXERCISES = [
    Exercise(
        id="ch11.csls",
        reference=_csls,
        cases=_csls_cases,
        hint="r_i runs along a row and c_j down a column (a key's own best queries, not the queries' best keys); "
        "both use the k largest entries, and S counts twice; the result has S's shape.",
    ),
]
