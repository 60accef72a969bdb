"""Conformal prediction: sets of classes (or of candidates) that contain the answer with a chosen probability.

Chapters 8 and 10. Calibration (chapter 7) makes probabilities honest *on average*; split conformal
prediction {Vovk et al. 2005; Angelopoulos & Bates 2021} turns any score into *sets* with a
finite-sample guarantee and no assumption about the model. The recipe has three steps, one
function each:

1. a **nonconformity score** of the true answer on held-out calibration data (large = strange):
   :func:`conformity_scores` (``"lac"``: one minus the probability of the true class; ``"aps"``:
   the adaptive prediction sets of Romano et al. 2020, the probability mass of the classes ranked
   above the true one plus a random share of its own);
2. the **threshold**, :func:`conformal_threshold`: the ``ceil((n + 1)(1 - alpha))``-th smallest of
   the ``n`` calibration scores. If the calibration points and a new point are exchangeable, the
   new point's score is at most this with probability at least ``1 - alpha``, and (scores without
   ties) at most ``1 - alpha + 1 / (n + 1)``. When ``ceil((n + 1)(1 - alpha)) > n`` no calibration
   score is large enough: the threshold is ``+inf`` and the set is everything;
3. the **sets**, :func:`prediction_sets`: every class whose score would pass the threshold.

The guarantee is *marginal*: over the draw of calibration and test points together, not for each
class or each input (chapter 8 shows the spread over classes). :func:`retrieval_threshold` and
:func:`retrieval_sets` are the same recipe for retrieval (chapter 10): the score is the
similarity of the best correct candidate, and the set is every candidate at least that similar.

Ties: classes of equal probability are ranked lower id first (the package's one tie rule), which
fixes APS's cumulative sums. MAPIE (the test's reference) ranks them the other way, so the two
agree on tie-free probabilities.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from embedlab import _checks

__all__ = ["conformal_threshold", "conformity_scores", "prediction_sets", "set_coverage", "set_sizes",
           "retrieval_threshold", "retrieval_sets"]

METHODS = ("lac", "aps")


def _alpha(alpha: Any) -> float:
    return _checks.number(alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True)


def _probs(probs: Any) -> np.ndarray:
    p = _checks.array(probs, "probs", ndim=2)
    if p.min() < 0 or p.max() > 1:
        raise _checks.ArgumentError(f"probs must hold probabilities in [0, 1], got values in "
                                    f"[{p.min():g}, {p.max():g}]")
    return p


def _labels(labels: Any, n_rows: int, n_classes: int) -> np.ndarray:
    y = _checks.ids(labels, "labels", n=n_classes)
    if len(y) != n_rows:
        raise _checks.ArgumentError(f"labels must have one entry per row of probs ({n_rows}), got {len(y)}")
    return y


def _generator(generator: Any) -> np.random.Generator | None:
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise _checks.ArgumentError(f"generator must be a numpy.random.Generator or None, "
                                    f"got {type(generator).__name__}")
    return generator


def conformal_threshold(scores: Any, alpha: Any) -> float:
    """The split-conformal threshold: the ``ceil((n + 1)(1 - alpha))``-th smallest of ``n`` scores.

    Why ``n + 1``: a new point's score is one of ``n + 1`` exchangeable scores, so its rank among them
    is uniform; it is at most the ``k``-th smallest calibration score with probability ``k / (n + 1)``
    (ties only raise it). ``k = ceil((n + 1)(1 - alpha))`` is the smallest ``k`` that reaches
    ``1 - alpha``. When ``k > n`` (``alpha < 1 / (n + 1)``, e.g. any ``alpha < 1/2`` with ``n = 1``)
    no calibration score will do: the threshold is ``+inf`` and every set is everything.

    ``(n + 1)(1 - alpha)`` is rounded to 9 decimals before the ceiling, so that ``n = 9, alpha = 0.1``
    gives ``k = 9`` whatever the last bit of ``0.9`` is.
    """
    s = _checks.array(scores, "scores", ndim=1)
    a = _alpha(alpha)
    n = len(s)
    k = math.ceil(round((n + 1) * (1 - a), 9))
    if k > n:
        return math.inf
    return float(np.partition(s, k - 1)[k - 1])


def _ranked(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the classes by decreasing probability (lower id first among ties) and the cumulative mass."""
    order = np.argsort(-p, axis=1, kind="stable")
    cum_sorted = np.cumsum(np.take_along_axis(p, order, axis=1), axis=1)
    cum = np.empty_like(cum_sorted)
    np.put_along_axis(cum, order, cum_sorted, axis=1)  # cum[i, j]: mass of class j and those ranked above it
    return order, cum


def _aps_scores(p: np.ndarray, y: np.ndarray, u: Any) -> np.ndarray:
    rows = np.arange(len(y))
    _, cum = _ranked(p)
    s = cum[rows, y]
    return s if u is None else s - u * p[rows, y]


def _aps_sets(p: np.ndarray, threshold: float, u: Any) -> np.ndarray:
    order, cum = _ranked(p)
    if u is not None:  # Romano et al.: class j is in if its own randomised score passes
        return cum - u[:, None] * p <= threshold
    # Not randomised: every class ranked up to and including the one whose mass reaches the threshold.
    above = cum - p  # the mass ranked strictly above each class
    return (above < threshold) | (cum <= threshold)


def conformity_scores(probs: Any, labels: Any, method: str = "lac", *,
                      generator: np.random.Generator | None = None) -> np.ndarray:
    """Nonconformity of each row's true class, ``(n,)`` (large = the true class looked unlikely).

    ``"lac"`` (least ambiguous set-valued classifier): ``1 - p(true class)``; its sets are the
    smallest on average, but they spend the guarantee unevenly (confident inputs get small sets,
    hard ones too small). ``"aps"`` (adaptive prediction sets, Romano et al. 2020): the mass of the
    classes ranked at or above the true one; with a ``generator``, minus ``u * p(true class)``,
    ``u ~ U(0, 1)`` per row, which makes the score continuous so that coverage is exactly
    ``1 - alpha`` on average rather than above it. Use the same choice for calibration and sets.
    """
    p = _probs(probs)
    y = _labels(labels, p.shape[0], p.shape[1])
    m = _checks.choice(method, "method", METHODS)
    g = _generator(generator)
    if m == "lac":
        return 1.0 - p[np.arange(len(y)), y]
    u = None if g is None else g.random(len(y))
    return _aps_scores(p, y, u)


def prediction_sets(probs: Any, threshold: Any, method: str = "lac", *,
                    generator: np.random.Generator | None = None) -> np.ndarray:
    """Conformal sets for a batch: a boolean ``(n, K)`` mask, ``True`` for the classes in each row's set.

    A class is in the set when its score (as :func:`conformity_scores` would compute it, were it the
    true class) is at most ``threshold``; ``+inf`` gives every class. Non-randomised APS keeps every
    class up to and including the one whose cumulative mass reaches the threshold (never empty);
    randomised APS (a ``generator``: one ``u`` per row, shared by its classes) may drop that last
    class, and so may return an empty set, as LAC may.
    """
    p = _probs(probs)
    q = _checks.number(threshold, "threshold", finite=False)
    m = _checks.choice(method, "method", METHODS)
    g = _generator(generator)
    if m == "lac":
        return 1.0 - p <= q
    u = None if g is None else g.random(p.shape[0], dtype=np.float64)
    return _aps_sets(p, q, u)


def _sets(sets: Any) -> np.ndarray:
    s = np.asarray(sets.detach().cpu().numpy() if hasattr(sets, "detach") else sets)
    if s.dtype != np.bool_ or s.ndim != 2 or s.size == 0:
        raise _checks.ArgumentError(f"sets must be a non-empty 2-d boolean mask, got dtype {s.dtype}, shape {s.shape}")
    return s


def set_coverage(sets: Any, labels: Any) -> float:
    """The share of rows whose set contains the row's label (the quantity the guarantee is about)."""
    s = _sets(sets)
    y = _labels(labels, s.shape[0], s.shape[1])
    return float(s[np.arange(len(y)), y].mean())


def set_sizes(sets: Any) -> np.ndarray:
    """The number of classes (or candidates) in each row's set, ``(n,)`` int64."""
    return _sets(sets).sum(axis=1).astype(np.int64)


def retrieval_threshold(answer_scores: Any, alpha: Any) -> float:
    """The similarity a candidate needs to enter a retrieval set, calibrated on judged queries.

    ``answer_scores``: for each calibration query, the score (higher = better) of its best correct
    candidate. The nonconformity is minus that score, so the returned value is minus
    :func:`conformal_threshold` of it: a new query's best answer scores at least this with
    probability ``>= 1 - alpha`` (``-inf``, every candidate, when ``alpha < 1 / (n + 1)``).
    """
    s = _checks.array(answer_scores, "answer_scores", ndim=1)
    return -conformal_threshold(-s, alpha)


def retrieval_sets(scores: Any, threshold: Any) -> np.ndarray:
    """``(queries, candidates)`` mask of the candidates whose score is at least ``threshold``."""
    s = _checks.array(scores, "scores", ndim=2)
    t = _checks.number(threshold, "threshold", finite=False)
    return s >= t
