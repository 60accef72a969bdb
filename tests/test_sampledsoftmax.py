"""The softmax at scale: losses against torch's cross-entropy, the exact expected gradient against
enumeration, Monte Carlo and quadrature, and the log Q correction's bias as the samples grow."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.integrate import quad

from embedlab._checks import ArgumentError
from embedlab.sampledsoftmax import (
    expected_sampled_gradient,
    full_softmax_gradient,
    full_softmax_loss,
    in_batch_softmax_loss,
    proposal,
    sample_negatives,
    sampled_softmax_loss,
)


def _world(n=6, seed=0):
    rng = np.random.default_rng(seed)
    scores = 2 * rng.standard_normal(n)
    targets = rng.dirichlet(np.ones(n))
    q = proposal(rng.integers(1, 50, n).astype(float), 1.0)
    return scores, targets, q


def test_full_softmax_loss_is_cross_entropy():
    g = torch.Generator().manual_seed(0)
    u, v, b = torch.randn(5, 4, generator=g), torch.randn(9, 4, generator=g), torch.randn(9, generator=g)
    t = torch.tensor([0, 3, 8, 3, 1])
    assert torch.allclose(full_softmax_loss(u, v, t, b), F.cross_entropy(u @ v.T + b, t), atol=1e-6)
    assert torch.allclose(full_softmax_loss(u, v, t), F.cross_entropy(u @ v.T, t), atol=1e-6)
    with pytest.raises(ArgumentError, match="targets"):
        full_softmax_loss(u, v, torch.tensor([0, 1, 2, 3, 9]))


def test_in_batch_and_sampled_losses_are_cross_entropy_over_their_candidates():
    g = torch.Generator().manual_seed(1)
    u, p, n = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(6, 3, generator=g)
    lq_p, lq_n = -torch.rand(4, generator=g) * 3, -torch.rand(6, generator=g) * 3
    logits = u @ p.T - lq_p
    assert torch.allclose(in_batch_softmax_loss(u, p, log_q=lq_p), F.cross_entropy(logits, torch.arange(4)))
    cand = torch.cat([(u * p).sum(1, keepdim=True) - lq_p[:, None], u @ n.T - lq_n], 1)
    got = sampled_softmax_loss(u, p, n, pos_log_q=lq_p, neg_log_q=lq_n)
    assert torch.allclose(got, F.cross_entropy(cand, torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ArgumentError, match="both"):
        sampled_softmax_loss(u, p, n, pos_log_q=lq_p)


def test_a_uniform_log_q_is_a_constant_the_softmax_ignores():
    g = torch.Generator().manual_seed(2)
    u, p, n = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(6, 3, generator=g)
    c = torch.full((4,), -5.0), torch.full((6,), -5.0)
    assert torch.allclose(sampled_softmax_loss(u, p, n), sampled_softmax_loss(u, p, n, pos_log_q=c[0], neg_log_q=c[1]))


def test_proposal_and_sampler():
    assert np.allclose(proposal([1, 3, 0], 0), [1 / 3] * 3)
    assert np.allclose(proposal([1, 3, 0], 1), [0.25, 0.75, 0])
    assert np.allclose(proposal([1, 16], 0.75), np.array([1, 8]) / 9)
    draws = sample_negatives(torch.tensor([0.2, 0.8, 0.0]), 20_000, torch.Generator().manual_seed(0))
    assert draws.shape == (20_000,) and (draws != 2).all() and abs((draws == 1).float().mean() - 0.8) < 0.02
    with pytest.raises(ArgumentError):
        proposal([-1, 2])


def _enumerated(scores, targets, q, m, log_q):
    """The expectation by listing every target and every ordered draw of m negatives."""
    n = len(scores)
    o = scores - np.log(q) if log_q else scores
    g = np.zeros(n)
    for t in range(n):
        for draw in itertools.product(range(n), repeat=m):
            cand = [t, *draw]
            w = np.exp(o[cand] - o[cand].max())
            grad = np.zeros(n)
            grad[t] -= 1
            np.add.at(grad, cand, w / w.sum())
            g += targets[t] * np.prod(q[list(draw)]) * grad
    return g


@pytest.mark.parametrize("log_q", [True, False])
@pytest.mark.parametrize("m", [1, 2, 4])
def test_the_exact_expectation_is_the_enumerated_one(m, log_q):
    scores, targets, q = _world()
    got = expected_sampled_gradient(scores, targets, q, m, log_q=log_q)
    assert np.abs(got - _enumerated(scores, targets, q, m, log_q)).max() < 1e-11
    assert abs(got.sum()) < 1e-11  # the candidates' softmax sums to one, the target's -1 cancels it


def test_the_quadrature_is_scipys():
    """One integral E[1/(a + S)] of the expansion, by the module's grid and by scipy's quad."""
    scores, targets, q = _world(n=5, seed=3)
    m, t = 7, 2
    one_hot = np.eye(5)[t]
    got = expected_sampled_gradient(scores, one_hot, q, m, log_q=True)
    w = np.exp(scores - np.log(q))
    w = w / w.max()

    def phi(u):
        return float((q * np.exp(-u * w)).sum())

    own = w[t] * quad(lambda u: np.exp(-w[t] * u) * phi(u) ** m, 0, np.inf, epsabs=0, epsrel=1e-13, limit=500)[0]

    def negative(i):
        return m * q[i] * w[i] * quad(lambda u: np.exp(-(w[t] + w[i]) * u) * phi(u) ** (m - 1), 0, np.inf,
                                      epsabs=0, epsrel=1e-13, limit=500)[0]

    neg = [negative(i) for i in range(5)]
    assert np.abs(got - (-one_hot + own * one_hot + np.array(neg))).max() < 1e-10


def test_the_exact_expectation_is_the_monte_carlo_average_of_autograd():
    """Scores as one-dimensional item 'vectors' against a user vector of 1: the loss's gradient
    with respect to the items is its gradient with respect to the scores."""
    scores, targets, q = _world(n=8, seed=4)
    m, draws = 5, 20_000
    g = torch.Generator().manual_seed(0)
    t = torch.multinomial(torch.from_numpy(targets), draws, replacement=True, generator=g)
    neg = torch.multinomial(torch.from_numpy(q), draws * m, replacement=True, generator=g).view(draws, m)
    s = torch.tensor(scores, requires_grad=True)
    lq = torch.log(torch.from_numpy(q))
    for log_q in (True, False):
        s.grad = None
        o = s - lq if log_q else s * 1
        cand = torch.cat([o[t][:, None], o[neg]], 1)  # (draws, 1 + m), as sampled_softmax_loss builds it
        F.cross_entropy(cand, torch.zeros(draws, dtype=torch.long), reduction="sum").backward()
        mc = s.grad.numpy() / draws
        exact = expected_sampled_gradient(scores, targets, q, m, log_q=log_q)
        # per draw each coordinate lies in [-1, 1]: 5 standard errors of 20,000 draws is under 0.036
        assert np.abs(mc - exact).max() < 5 / np.sqrt(draws), (mc, exact)
    # and the module's loss is that computation: one row
    u, item = torch.ones(1, 1, dtype=torch.float64), torch.tensor(scores)[:, None]
    one = sampled_softmax_loss(u, item[t[:1]], item[neg[0]], pos_log_q=lq[t[:1]], neg_log_q=lq[neg[0]])
    assert torch.allclose(one, F.cross_entropy((torch.tensor(scores) - lq)[torch.cat([t[:1], neg[0]])][None],
                                               torch.zeros(1, dtype=torch.long)))


def test_log_q_removes_the_bias_in_the_limit_and_its_absence_does_not():
    scores, targets, _ = _world(n=30, seed=5)
    q = proposal(1 / np.arange(1, 31), 1.0)  # Zipf: a popular head, a long tail
    full = full_softmax_gradient(scores, targets)
    norm = np.linalg.norm(full)
    corrected = [np.linalg.norm(expected_sampled_gradient(scores, targets, q, m) - full) / norm
                 for m in (10, 100, 1_000, 10_000)]
    plain = [expected_sampled_gradient(scores, targets, q, m, log_q=False) for m in (10, 100, 1_000, 10_000)]
    assert all(a > 5 * b for a, b in zip(corrected, corrected[1:])) and corrected[-1] < 1e-2  # ~1/m
    # without the correction the gradient converges, to softmax(s + log Q)'s
    e = np.exp(scores + np.log(q) - (scores + np.log(q)).max())
    limit = e / e.sum() - targets
    assert np.linalg.norm(plain[-1] - limit) / norm < 1e-2 and np.linalg.norm(limit - full) / norm > 0.2
    assert all(np.linalg.norm(p - full) / norm > 0.2 for p in plain)
    # a uniform Q: the correction is a constant, so both are the same estimator
    uniform = np.full(30, 1 / 30)
    a = expected_sampled_gradient(scores, targets, uniform, 50)
    b = expected_sampled_gradient(scores, targets, uniform, 50, log_q=False)
    assert np.abs(a - b).max() < 1e-12


def test_exact_gradient_argument_checks():
    scores, targets, q = _world()
    with pytest.raises(ArgumentError, match="targets"):
        expected_sampled_gradient(scores, targets * 2, q, 3)
    with pytest.raises(ArgumentError, match="probs"):
        expected_sampled_gradient(scores, targets, np.r_[0.0, q[1:] / q[1:].sum()], 3)
    with pytest.raises(ArgumentError, match="m"):
        expected_sampled_gradient(scores, targets, q, 0)
