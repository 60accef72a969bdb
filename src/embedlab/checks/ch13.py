"""Hidden cases for chapter 13 (the softmax at scale)."""

from __future__ import annotations

import numpy as np

from embedlab.exercises import Case, Exercise


def _log_q_loss(pos_scores, neg_scores, pos_q, neg_q):
    """Reference: the mean sampled-softmax loss with the log Q correction, stable for any scores.

    pos_scores (B,), neg_scores (B, m): raw scores; pos_q (B,), neg_q (m,): the proposal's
    probabilities of the positives and of the shared negatives.
    """
    pos = np.asarray(pos_scores, dtype=np.float64) - np.log(np.asarray(pos_q, dtype=np.float64))
    neg = np.asarray(neg_scores, dtype=np.float64) - np.log(np.asarray(neg_q, dtype=np.float64))
    logits = np.concatenate([pos[:, None], neg], axis=1)  # (B, 1 + m): the positive first
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(log_z - pos))


def _cases() -> list[Case]:
    rng = np.random.default_rng(1313)
    cases = []
    shapes = [(4, 3, "4 rows, 3 negatives"), (16, 31, "16 rows, 31 negatives"), (1, 1, "one row, one negative")]
    for b, m, label in shapes:
        counts = rng.integers(1, 1000, size=200).astype(float) ** 0.75
        q = counts / counts.sum()
        pos_items, neg_items = rng.integers(0, 200, size=b), rng.integers(0, 200, size=m)
        cases.append(Case(args=(rng.standard_normal(b) * 2, rng.standard_normal((b, m)) * 2, q[pos_items],
                                q[neg_items]), label=label))
    # a uniform proposal: the correction is a constant and changes nothing
    cases.append(Case(args=(rng.standard_normal(5), rng.standard_normal((5, 7)), np.full(5, 0.01), np.full(7, 0.01)),
                      label="uniform Q"))
    # a skewed proposal: a popular negative (Q = 0.5) and a rare positive (Q = 1e-6)
    cases.append(Case(args=(np.array([1.0, 0.0]), np.array([[3.0, 0.5], [2.0, -1.0]]), np.array([1e-6, 0.3]),
                            np.array([0.5, 1e-4])), label="a rare positive, a popular negative"))
    # scores of a few hundred: exp overflows float64 unless the maximum is taken out first
    cases.append(Case(args=(np.array([800.0, -700.0]), np.array([[790.0, 805.0], [-710.0, -650.0]]),
                            np.array([0.01, 0.02]), np.array([0.001, 0.05])), label="scores in the hundreds"))
    return cases


EXERCISES = [
    Exercise(
        id="ch13.log_q_loss",
        reference=_log_q_loss,
        forbids=("embedlab.sampledsoftmax.sampled_softmax_loss", "embedlab.sampledsoftmax.in_batch_softmax_loss"),
        cases=_cases,
        hint="lower every candidate's score by log Q of its item, the positive's too (pos_scores - log pos_q, "
        "neg_scores - log neg_q broadcast over the rows); each row's loss is logsumexp over its 1 + m corrected "
        "logits minus the positive's corrected logit (take the row's maximum out before exp); return the mean over "
        "rows as a float.",
    ),
]
