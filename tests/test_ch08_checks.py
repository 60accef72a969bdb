"""Chapter 8's automatic exercise check: the reference passes, the usual mistakes fail."""

from __future__ import annotations

import math

import numpy as np
import torch

from embedlab.exercises import check


def _log_joint(x, weights, means, variances):
    diff = x[:, None, :] - means[None, :, :]  # (N, K, d)
    return torch.log(weights) - 0.5 * (torch.log(2 * math.pi * variances)[None] + diff**2 / variances[None]).sum(-1)


def test_log_sum_exp_solution_passes():
    def good(x, weights, means, variances):
        lj = _log_joint(x, weights, means, variances)
        return torch.exp(lj - torch.logsumexp(lj, dim=1, keepdim=True))

    assert check("ch08.responsibilities", good, quiet=True)
    assert check("ch08.responsibilities", lambda *a: torch.softmax(_log_joint(*a), dim=1), quiet=True)


def test_exponentiating_first_fails_on_far_points():
    def naive(x, weights, means, variances):
        p = torch.exp(_log_joint(x, weights, means, variances))
        return p / p.sum(1, keepdim=True)

    res = check("ch08.responsibilities", naive, quiet=True)
    assert not res and res.passed == res.total - 1 and "far from every component" in res.message


def test_forgetting_the_weights_or_the_normaliser_fails():
    def no_weights(x, weights, means, variances):
        return torch.softmax(_log_joint(x, torch.ones_like(weights), means, variances), dim=1)

    def no_log_det(x, weights, means, variances):
        diff = x[:, None, :] - means[None]
        return torch.softmax(torch.log(weights) - 0.5 * (diff**2 / variances[None]).sum(-1), dim=1)

    for wrong in (no_weights, no_log_det):
        res = check("ch08.responsibilities", wrong, quiet=True)
        assert not res and res.passed < res.total


def _sorted_kth(scores, k):
    return float(np.sort(scores)[k - 1]) if k <= len(scores) else math.inf


def test_conformal_threshold_reference_passes():
    def good(scores, alpha):
        return _sorted_kth(scores, math.ceil((len(scores) + 1) * (1 - alpha)))

    def by_quantile(scores, alpha):                                # np.quantile's "higher" at level k / n, inf past n
        k = math.ceil((len(scores) + 1) * (1 - alpha))
        return math.inf if k > len(scores) else float(np.quantile(scores, k / len(scores), method="inverted_cdf"))

    assert check("ch08.conformal_threshold", good, quiet=True)
    assert check("ch08.conformal_threshold", by_quantile, quiet=True)


def test_conformal_threshold_usual_mistakes_fail():
    def no_correction(scores, alpha):                              # n(1 - alpha): coverage below 1 - alpha
        return _sorted_kth(scores, max(1, math.ceil(len(scores) * (1 - alpha))))

    def floor(scores, alpha):
        return _sorted_kth(scores, max(1, math.floor((len(scores) + 1) * (1 - alpha))))

    def never_everything(scores, alpha):                           # the largest score instead of +inf
        return _sorted_kth(scores, min(len(scores), math.ceil((len(scores) + 1) * (1 - alpha))))

    def interpolated(scores, alpha):
        return float(np.quantile(scores, 1 - alpha))

    for wrong in (no_correction, floor, never_everything, interpolated):
        res = check("ch08.conformal_threshold", wrong, quiet=True)
        assert not res and res.passed < res.total, wrong.__name__
    res = check("ch08.conformal_threshold", never_everything, quiet=True)
    assert res.passed == res.total - 2                             # exactly the two "everything" cases
