"""Chapter 11's automatic exercise check: the reference passes, the usual mistakes fail."""

from __future__ import annotations

import numpy as np

from embedlab.exercises import check


def _top_mean(S, k, axis):
    return np.sort(S, axis=axis).take(range(S.shape[axis] - k, S.shape[axis]), axis=axis).mean(axis=axis)


def test_the_solution_passes():
    def good(S, k):
        S = np.asarray(S)
        return 2 * S - _top_mean(S, k, 1)[:, None] - _top_mean(S, k, 0)[None, :]

    assert check("ch11.csls", good, quiet=True)


def test_using_the_rows_for_both_penalties_fails():
    def rows_twice(S, k):
        S = np.asarray(S)
        r = _top_mean(S, k, 1)
        return 2 * S - r[:, None] - r[: S.shape[1]][None, :] if S.shape[0] >= S.shape[1] else S

    assert not check("ch11.csls", rows_twice, quiet=True)


def test_the_mean_of_all_entries_instead_of_the_k_best_fails():
    def all_mean(S, k):
        S = np.asarray(S)
        return 2 * S - S.mean(1)[:, None] - S.mean(0)[None, :]

    assert not check("ch11.csls", all_mean, quiet=True)
