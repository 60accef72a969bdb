"""Hidden cases for chapter 8 (classification and clustering on embeddings)."""

from __future__ import annotations

import numpy as np
import torch

from embedlab.cluster import gmm_log_joint, responsibilities
from embedlab.conformal import conformal_threshold
from embedlab.exercises import Case, Exercise


def _responsibilities(x, weights, means, variances):
    """Reference: posteriors p(k | x) of a diagonal-covariance Gaussian mixture, as a tensor."""
    to = lambda t: t.detach().double().numpy()  # noqa: E731
    lj = gmm_log_joint(to(x), to(weights), to(means), to(variances), "diag")
    return torch.from_numpy(responsibilities(lj)[0])


def _responsibility_cases() -> list[Case]:
    g = torch.Generator().manual_seed(808)
    cases = []
    for N, K, d, spread, label in [
        (6, 2, 2, 1.0, "two components in 2-D"),
        (20, 4, 5, 1.0, "four components in 5-D"),
        (10, 3, 3, 0.3, "narrow components"),
        (8, 3, 16, 1.0, "16 dimensions"),
    ]:
        means = torch.randn(K, d, generator=g, dtype=torch.float64) * 2
        x = means[torch.randint(0, K, (N,), generator=g)] + torch.randn(N, d, generator=g, dtype=torch.float64)
        variances = spread * (0.5 + torch.rand(K, d, generator=g, dtype=torch.float64))
        weights = torch.softmax(torch.randn(K, generator=g, dtype=torch.float64), 0)
        cases.append(Case(args=(x, weights, means, variances), label=label))
    # far from every component: exp(log-density) underflows to 0 for each one (0/0 without log-sum-exp)
    means = torch.tensor([[0.0, 0.0], [3.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.5], [200.0, 10.0], [-150.0, 40.0]], dtype=torch.float64)
    variances = torch.full((2, 2), 0.5, dtype=torch.float64)
    weights = torch.tensor([0.3, 0.7], dtype=torch.float64)
    cases.append(Case(args=(x, weights, means, variances), label="points far from every component"))
    return cases


def _threshold_cases() -> list[Case]:
    """(n + 1)(1 - alpha) stays 0.05 from an integer (or is one exactly): the ceiling never hangs on a bit."""
    rng = np.random.default_rng(8080)
    cases = [
        Case(args=(rng.random(20), 0.1), label="n = 20, alpha = 0.1: the 19th smallest of 20, not the 18th"),
        Case(args=(rng.normal(size=180), 0.05), label="n = 180, alpha = 0.05"),
        Case(args=(rng.random(47), 0.3), label="n = 47, alpha = 0.3"),
        Case(args=(rng.random(999), 0.2), label="n = 999, alpha = 0.2 (k = 800 exactly)"),
        Case(args=(np.array([0.3, 0.1, 0.1, 0.1, 0.9, 0.5, 0.2, 0.7, 0.4, 0.1]), 0.7),
             label="ties: four scores of 0.1 around the k-th smallest"),
        Case(args=(np.full(12, 0.25), 0.15), label="ties: every score the same"),
        Case(args=(rng.random(30), 0.02), label="alpha so small that no score will do: the set is everything"),
        Case(args=(np.array([0.42]), 0.5), label="n = 1, alpha = 0.5: the one score"),
        Case(args=(np.array([0.42]), 0.3), label="n = 1, alpha = 0.3: everything"),
    ]
    return cases


EXERCISES = [
    Exercise(
        id="ch08.responsibilities",
        reference=_responsibilities,
        cases=_responsibility_cases,
        forbids=("embedlab.cluster.gmm_log_joint", "embedlab.cluster.responsibilities"),
        hint="stay in logs until the very end and normalise each point's row there (exponentiating first gives "
        "0/0 far from every component); the log-density keeps its normalising term, which depends on the "
        "variances, and the mixture weights belong in the numerator.",
    ),
    Exercise(
        id="ch08.conformal_threshold",
        reference=conformal_threshold,
        forbids=("embedlab.conformal.conformal_threshold",),
        cases=_threshold_cases,
        hint="sort the n scores and take the k-th smallest with k = ceil((n + 1)(1 - alpha)) (math.ceil; the "
        "k-th smallest is sorted[k - 1]); when k > n no calibration score is large enough, so return math.inf "
        "(the set is every class). Not n(1 - alpha), not floor, and not np.quantile's interpolation.",
    ),
]
