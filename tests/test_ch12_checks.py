"""Chapter 12's automatic exercise check: the reference passes, the usual mistakes fail."""

from __future__ import annotations

import numpy as np

from embedlab.exercises import check


def _good(scores, ids, k):
    S, all_ids = np.concatenate(scores, axis=1), np.concatenate(ids, axis=1)
    return np.take_along_axis(all_ids, np.argsort(-S, axis=1)[:, :k], axis=1)


def test_the_solution_passes():
    assert check("ch12.merge_shards", _good, quiet=True)


def test_returning_positions_instead_of_ids_fails():
    def positions(scores, ids, k):
        return np.argsort(-np.concatenate(scores, axis=1), axis=1)[:, :k]

    assert not check("ch12.merge_shards", positions, quiet=True)


def test_taking_the_best_of_each_shard_in_turn_fails():
    def round_robin(scores, ids, k):
        interleaved = np.stack(ids, axis=2).reshape(ids[0].shape[0], -1)   # shard 0 rank 0, shard 1 rank 0, ...
        return interleaved[:, :k]

    res = check("ch12.merge_shards", round_robin, quiet=True)
    assert not res
