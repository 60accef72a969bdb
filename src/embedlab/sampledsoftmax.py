"""The softmax at scale: full, in-batch and sampled softmax, the log Q correction, and its bias.

Taught in chapter 13. A model that scores every item of a catalogue (a user against movies, a
word against a vocabulary) is trained by the softmax over all of them; with millions of items the
normaliser ``Z = Σ_i exp(s_i)`` is the cost of every step. The cheap versions replace ``Z`` by a
sum over a few *candidates*: the target and ``m`` items drawn from a proposal ``Q``.

* :func:`full_softmax_loss`: cross-entropy over the whole catalogue (the reference).
* :func:`in_batch_softmax_loss`: the candidates are the other examples' positives in the batch,
  that is, items drawn from the data's own item distribution (Q = the items' share of the
  interactions): the two-tower recommender's loss of Yi et al. (2019).
* :func:`sampled_softmax_loss`: ``m`` negatives shared by the batch, drawn from ``Q``
  (:func:`proposal`: uniform, or popularity^β) by :func:`sample_negatives`.

Both cheap losses are *biased* estimators of the full softmax's gradient: a popular item drawn
often as a negative is pushed down more often than the full softmax would push it. The **log Q
correction** subtracts ``log Q(i)`` from every candidate's logit (target included), which turns
the sum over candidates into an importance-sampling estimate of ``Z``
(Bengio & Senécal, 2008; Jean et al., 2015): the gradient's bias then vanishes as ``m`` grows,
while without it the gradient converges to that of the softmax of ``s + log Q`` instead. With a
uniform ``Q`` the correction is one constant added to every logit, which a softmax ignores.

:func:`expected_sampled_gradient` computes the expectation over the sampler *exactly* (to
quadrature precision, no Monte Carlo), from ``1/x = ∫_0^∞ exp(-u x) du``: the expectation of
``1 / (a + S)`` for a sum ``S`` of ``m`` independent draws is ``∫ exp(-a u) φ(u)^m du`` with
``φ(u) = Σ_k Q_k exp(-u w_k)``, one integral in one variable whatever ``m``.
:func:`full_softmax_gradient` is the reference it is measured against.

Losses are torch (the caller's dtype and device); the exact gradients are NumPy float64.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from embedlab._checks import ArgumentError, array, flag, ids, integer, number, tensor

__all__ = [
    "proposal",
    "sample_negatives",
    "full_softmax_loss",
    "in_batch_softmax_loss",
    "sampled_softmax_loss",
    "full_softmax_gradient",
    "expected_sampled_gradient",
]


def proposal(counts, beta: float = 1.0) -> np.ndarray:
    """The proposal ``Q(i) ∝ counts_i ** beta`` as float64 probabilities (``beta = 0``: uniform).

    ``beta = 0.75`` on word counts is word2vec's noise distribution (chapter 3). An item with a
    zero count gets probability 0 for ``beta > 0`` (it is never drawn, so it cannot be corrected
    for either: give every item a pseudo-count if that matters).
    """
    c = array(counts, "counts", ndim=1)
    if (c < 0).any():
        raise ArgumentError("counts must be non-negative")
    beta = number(beta, "beta", low=0)
    w = np.ones_like(c) if beta == 0 else np.where(c > 0, c, 0.0) ** beta
    if w.sum() <= 0:
        raise ArgumentError("counts must have a positive entry")
    return w / w.sum()


def sample_negatives(probs, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``m`` item ids drawn independently (with replacement) from ``probs``: a (m,) long tensor."""
    p = tensor(probs, "probs", ndim=1, finite=True)
    m = integer(m, "m", low=1)
    if bool((p < 0).any()) or float(p.sum()) <= 0:
        raise ArgumentError("probs must be non-negative with a positive sum")
    return torch.multinomial(p.double(), m, replacement=True, generator=generator)


def _scores(users: torch.Tensor, items: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    logits = users @ items.T
    return logits if bias is None else logits + bias


def full_softmax_loss(users, items, targets, bias=None) -> torch.Tensor:
    """Mean cross-entropy of ``targets`` under the softmax over every item.

    users: (B, d) query vectors, items: (N, d) the catalogue, targets: (B,) item ids, bias:
    optional (N,). The logits are ``users @ items.T + bias``: (B, N), the cost this chapter is
    about. Equal to ``F.cross_entropy(logits, targets)``.
    """
    u, v = tensor(users, "users", ndim=2), tensor(items, "items", ndim=2)
    t = torch.as_tensor(ids(targets, "targets", n=v.shape[0]), device=u.device)
    b = None if bias is None else tensor(bias, "bias", ndim=1)
    return F.cross_entropy(_scores(u, v, b), t)


def in_batch_softmax_loss(users, positives, bias=None, log_q=None) -> torch.Tensor:
    """The in-batch softmax: row ``k``'s candidates are the batch's ``B`` positives, its own first.

    users: (B, d), positives: (B, d) the vectors of each row's chosen item, bias: optional (B,)
    their biases, log_q: optional (B,) ``log Q`` of each positive, the probability that an item
    enters a batch as someone's positive (its share of the interactions when pairs are drawn
    uniformly). With ``log_q`` every column ``j`` of the (B, B) logits is lowered by ``log_q[j]``
    (Yi et al., 2019); without it, an item is a negative as often as it is popular. An item that
    appears twice in a batch is, in its other row, a negative equal to the positive (an
    "accidental hit"), which the expectation over the batch includes; it is not removed.
    """
    u, v = tensor(users, "users", ndim=2), tensor(positives, "positives", ndim=2)
    if u.shape != v.shape:
        raise ArgumentError(f"users and positives must have the same shape, got {tuple(u.shape)} and {tuple(v.shape)}")
    logits = u @ v.T  # (B, B): row k, column j = user k against row j's positive
    if bias is not None:
        logits = logits + tensor(bias, "bias", ndim=1)
    if log_q is not None:
        logits = logits - tensor(log_q, "log_q", ndim=1, finite=True).to(logits.dtype)
    return F.cross_entropy(logits, torch.arange(u.shape[0], device=u.device))


def sampled_softmax_loss(users, positives, negatives, *, pos_bias=None, neg_bias=None, pos_log_q=None,
                         neg_log_q=None) -> torch.Tensor:
    """The sampled softmax: row ``k``'s candidates are its positive and ``m`` shared negatives.

    users: (B, d), positives: (B, d), negatives: (m, d) the vectors of ``m`` items drawn from
    ``Q`` (:func:`sample_negatives`), with optional biases (B,) and (m,). The log Q correction is
    applied when ``pos_log_q`` (B,) and ``neg_log_q`` (m,) are given: each candidate's logit is
    lowered by ``log Q`` of its item, the positive's included (Jean et al., 2015), so that the
    candidates' ``exp(s - log Q)`` estimate the full normaliser. Give both or neither.
    """
    u, p = tensor(users, "users", ndim=2), tensor(positives, "positives", ndim=2)
    n = tensor(negatives, "negatives", ndim=2)
    if u.shape != p.shape or n.shape[1] != u.shape[1]:
        raise ArgumentError(f"users (B, d), positives (B, d) and negatives (m, d) must agree, got "
                            f"{tuple(u.shape)}, {tuple(p.shape)}, {tuple(n.shape)}")
    if (pos_log_q is None) != (neg_log_q is None):
        raise ArgumentError("pos_log_q and neg_log_q: give both (the log Q correction) or neither")
    pos = (u * p).sum(1, keepdim=True)  # (B, 1)
    neg = u @ n.T  # (B, m)
    if pos_bias is not None:
        pos = pos + tensor(pos_bias, "pos_bias", ndim=1)[:, None]
    if neg_bias is not None:
        neg = neg + tensor(neg_bias, "neg_bias", ndim=1)
    if pos_log_q is not None:
        pos = pos - tensor(pos_log_q, "pos_log_q", ndim=1, finite=True).to(pos.dtype)[:, None]
        neg = neg - tensor(neg_log_q, "neg_log_q", ndim=1, finite=True).to(neg.dtype)
    logits = torch.cat([pos, neg], dim=1)  # (B, 1 + m): the positive is candidate 0
    return F.cross_entropy(logits, torch.zeros(u.shape[0], dtype=torch.long, device=u.device))


# -- the exact expected gradient -------------------------------------------------------------------
def _distribution(x, name: str, n: int) -> np.ndarray:
    p = array(x, name, ndim=1)
    if p.shape != (n,):
        raise ArgumentError(f"{name} must have shape ({n},), got {p.shape}")
    if (p < 0).any() or abs(p.sum() - 1) > 1e-9:
        raise ArgumentError(f"{name} must be probabilities (non-negative, summing to 1)")
    return p


def full_softmax_gradient(scores, targets) -> np.ndarray:
    """The gradient of the expected full-softmax loss with respect to the scores: ``softmax(s) - π``.

    scores: (N,) one query's scores of every item; targets: (N,) the distribution ``π`` of its
    target item (a one-hot vector for one example). float64.
    """
    s = array(scores, "scores", ndim=1)
    pi = _distribution(targets, "targets", len(s))
    e = np.exp(s - s.max())
    return e / e.sum() - pi


def expected_sampled_gradient(scores, targets, probs, m: int, *, log_q: bool = True,
                              step: float = 0.02) -> np.ndarray:
    """The exact expectation, over the ``m`` draws from ``probs``, of the sampled softmax's gradient.

    scores: (N,) one query's scores; targets: (N,) the target distribution ``π``; probs: (N,)
    the proposal ``Q``; ``m`` negatives drawn with replacement; ``log_q``: whether each
    candidate's logit is lowered by ``log Q`` of its item (:func:`sampled_softmax_loss`'s
    correction). Returns the (N,) gradient with respect to the scores, averaged over targets
    ``t ~ π`` and the draws, float64: compare it with :func:`full_softmax_gradient`.

    With ``w_i = exp(o_i)`` the candidates' weights (``o = s - log Q`` or ``s``) and ``S`` the sum of
    ``m`` independent draws of ``w``, the gradient for target ``t`` is
    ``-e_t + E[w_t / (w_t + S)] e_t + m Q_i w_i E[1 / (w_t + w_i + S')]`` (``S'``: ``m - 1`` draws),
    and ``E[1 / (a + S)] = ∫_0^∞ exp(-a u) φ(u)^m du``, ``φ(u) = Σ_k Q_k exp(-u w_k)``: the
    integral is taken by the trapezoidal rule in ``x = log u`` (``step``), whose error falls
    faster than any power of ``step`` for these smooth, fast-decaying integrands (about 1e-12
    relative at the default).
    """
    s = array(scores, "scores", ndim=1)
    n = len(s)
    pi = _distribution(targets, "targets", n)
    q = _distribution(probs, "probs", n)
    m = integer(m, "m", low=1)
    log_q = flag(log_q, "log_q")
    step = number(step, "step", low=0, low_open=True)
    if (q[pi > 0] == 0).any() and log_q:
        raise ArgumentError("probs is 0 on a target item: log Q is -inf there")
    drawable = q > 0
    o = s.copy()
    if log_q:
        o[drawable] -= np.log(q[drawable])
    o -= o[drawable | (pi > 0)].max()  # the ratios are unchanged by a common shift; weights <= 1
    w = np.exp(o)
    w_min = w[drawable].min()
    # u from far below 1 / (2 + m) (the integrand is ~ u there) to far beyond 1 / w_min (it decays).
    x = np.arange(np.log(1e-18 / (2 + m)), np.log(60.0 / min(w_min, w[pi > 0].min())) + step, step)
    u = np.exp(x)
    # log φ(u) = log(1 - Σ Q_k (1 - exp(-u w_k))), accurate for small u where φ is close to 1
    one_minus = (q[drawable, None] * -np.expm1(-np.outer(w[drawable], u))).sum(0)
    with np.errstate(divide="ignore"):
        log_phi = np.where(one_minus < 1.0, np.log1p(-np.minimum(one_minus, 1.0)), -np.inf)
    def phi_power(k: int) -> np.ndarray:
        return np.ones_like(u) if k == 0 else np.exp(k * log_phi)

    A = np.exp(-np.outer(w, u))  # (N, G): exp(-w_i u)
    du = step * u  # dx -> du
    # The target's own share: E[w_t / (w_t + S_m)] for every t.
    own = w * (A * (phi_power(m) * du)).sum(1)
    # The negatives' shares averaged over t ~ π: m Q_i w_i Σ_g π·A[:, g] A[i, g] φ^(m-1) du.
    kernel = (pi @ A) * phi_power(m - 1) * du  # (G,)
    negatives = m * q * w * (A @ kernel)
    return -pi + pi * own + negatives
