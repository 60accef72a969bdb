"""Hidden cases for chapter 8 (classification and clustering on embeddings)."""

from __future__ import annotations

import torch

from embedlab.cluster import gmm_log_joint, responsibilities
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
]
