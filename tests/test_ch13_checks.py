"""Chapter 13's automatic exercise check: the reference passes, the usual mistakes fail."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from embedlab.exercises import check
from embedlab.sampledsoftmax import sampled_softmax_loss


def _logits(pos_scores, neg_scores, pos_q, neg_q, *, pos_sign=1.0, neg_sign=1.0):
    pos = np.asarray(pos_scores, float) - pos_sign * np.log(pos_q)
    neg = np.asarray(neg_scores, float) - neg_sign * np.log(neg_q)
    return np.concatenate([pos[:, None], neg], axis=1)


def _loss(logits):
    top = logits.max(1, keepdims=True)
    return float(np.mean(top[:, 0] + np.log(np.exp(logits - top).sum(1)) - logits[:, 0]))


def test_the_solution_passes_and_is_the_library_loss():
    def good(pos_scores, neg_scores, pos_q, neg_q):
        return _loss(_logits(pos_scores, neg_scores, pos_q, neg_q))

    assert check("ch13.log_q_loss", good, quiet=True)
    # the library's loss on the same numbers, through vectors: a user of ones against 1-d items
    rng = np.random.default_rng(0)
    pos, neg = rng.standard_normal(3), rng.standard_normal(4)
    pq, nq = rng.uniform(0.01, 0.1, 3), rng.uniform(0.01, 0.1, 4)
    lib = sampled_softmax_loss(torch.ones(3, 1, dtype=torch.float64), torch.tensor(pos)[:, None],
                               torch.tensor(neg)[:, None], pos_log_q=torch.log(torch.tensor(pq)),
                               neg_log_q=torch.log(torch.tensor(nq)))
    assert abs(float(lib) - good(pos, np.tile(neg, (3, 1)), pq, nq)) < 1e-12


def test_correcting_only_the_negatives_fails():
    def negatives_only(pos_scores, neg_scores, pos_q, neg_q):
        return _loss(_logits(pos_scores, neg_scores, pos_q, neg_q, pos_sign=0.0))

    assert not check("ch13.log_q_loss", negatives_only, quiet=True)


def test_adding_log_q_instead_of_subtracting_fails():
    def wrong_sign(pos_scores, neg_scores, pos_q, neg_q):
        return _loss(_logits(pos_scores, neg_scores, pos_q, neg_q, pos_sign=-1.0, neg_sign=-1.0))

    assert not check("ch13.log_q_loss", wrong_sign, quiet=True)


def test_no_correction_fails():
    def plain(pos_scores, neg_scores, pos_q, neg_q):
        return _loss(_logits(pos_scores, neg_scores, pos_q, neg_q, pos_sign=0.0, neg_sign=0.0))

    res = check("ch13.log_q_loss", plain, quiet=True)
    assert not res and res.passed >= 1  # the uniform case passes: there the correction is a constant


def test_a_naive_exp_fails_on_large_scores():
    def naive(pos_scores, neg_scores, pos_q, neg_q):
        logits = _logits(pos_scores, neg_scores, pos_q, neg_q)
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.mean(np.log(np.exp(logits).sum(1)) - logits[:, 0]))

    res = check("ch13.log_q_loss", naive, quiet=True)
    assert not res and res.passed == res.total - 1


def test_summing_over_rows_fails():
    def summed(pos_scores, neg_scores, pos_q, neg_q):
        logits = torch.from_numpy(_logits(pos_scores, neg_scores, pos_q, neg_q))
        return float(F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long), reduction="sum"))

    assert not check("ch13.log_q_loss", summed, quiet=True)
