"""Hidden cases for chapter 7's automatically checked exercises (calibration, the linear bandit's
posterior update)."""

from __future__ import annotations

import numpy as np
import torch

from embedlab.calibration import expected_calibration_error
from embedlab.exercises import Case, Exercise


def _ece_reference(probs: torch.Tensor, labels: torch.Tensor, n_bins: int) -> float:
    return expected_calibration_error(probs, labels, n_bins, strategy="width")


def _ece_cases() -> list[Case]:
    g = torch.Generator().manual_seed(707)
    cases = []
    for n, c, bins, sharp, label in [
        (200, 3, 10, 3.0, "200 predictions, 3 classes, 10 bins"),
        (1000, 10, 15, 5.0, "an overconfident model, 15 bins"),
        (50, 2, 5, 1.0, "few samples: many bins are empty"),
        (500, 4, 1, 2.0, "a single bin"),
    ]:
        logits = sharp * torch.randn(n, c, generator=g, dtype=torch.float64)
        probs = torch.softmax(logits, dim=-1)
        labels = torch.multinomial(torch.softmax(logits / 2, -1), 1, generator=g).squeeze(1)
        cases.append(Case(args=(probs, labels, bins), label=label))
    # Confidences exactly on inner edges (1/2 and 3/4, exact in binary, so every way of binning agrees on
    # which side "the bin above" is) and of exactly 1.0. The labels are chosen so that each misreading of
    # "on an edge, the bin above; 1.0, the last bin" changes the ECE by at least 0.05: edges in the bin
    # below, 1.0 dropped, 1.0 in a bin of its own (tests/test_mutations.py).
    probs = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.75, 0.25, 0.0], [0.75, 0.125, 0.125],
                          [0.5, 0.25, 0.25], [0.625, 0.25, 0.125]], dtype=torch.float64)
    cases.append(Case(args=(probs, torch.tensor([1, 0, 0, 0, 0, 1]), 4),
                      label="confidences on the bin edges and of 1.0, 4 bins"))
    return cases


def _posterior_update_reference(a_inv: np.ndarray, b: np.ndarray, x: np.ndarray, r: float):
    # A ← A + x xᵀ and b ← b + r x; A⁻¹ by Sherman-Morrison (a fresh inverse gives the same numbers)
    u = a_inv @ x
    return a_inv - np.outer(u, u) / (1.0 + x @ u), b + r * x


def _posterior_update_cases() -> list[Case]:
    rng = np.random.default_rng(724)
    cases = []
    for d, n_before, r, label in [
        (3, 0, 1.0, "the prior (A = I, b = 0), a click"),
        (5, 10, 0.0, "after 10 observations, no click (the reward still moves A)"),
        (4, 6, 1.0, "after 6 observations, a click"),
        (8, 30, 0.3, "d = 8, after 30 observations, a reward of 0.3"),
    ]:
        lam = 0.5 + rng.random()
        past = rng.normal(size=(n_before, d))
        a_inv = np.linalg.inv(lam * np.eye(d) + past.T @ past)
        a_inv = 0.5 * (a_inv + a_inv.T)
        b = past.T @ (rng.random(n_before) < 0.5).astype(float)
        cases.append(Case(args=(a_inv, b, rng.normal(size=d), r), label=label))
    return cases


EXERCISES = [
    Exercise(
        id="ch07.ece",
        reference=_ece_reference,
        forbids=("embedlab.calibration.expected_calibration_error",),
        cases=_ece_cases,
        hint=(
            "did you use the top label's confidence, weight each bin by its share of the predictions, put a "
            "confidence that lies exactly on an inner edge in the bin above, and keep the confidences of 1.0?"
        ),
    ),
    Exercise(
        id="ch07.posterior_update",
        reference=_posterior_update_reference,
        cases=_posterior_update_cases,
        forbids=("numpy.linalg.inv", "numpy.linalg.pinv"),
        hint=(
            "return the inverse of the new A (not the new A), from the formula in the exercise: is your "
            "correction a (d, d) outer product, subtracted, with the 1 in its denominator? And does b move "
            "by the reward times x?"
        ),
    ),
]
