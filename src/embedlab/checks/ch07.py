"""Hidden cases for chapter 7's automatically checked exercises (calibration, temperature)."""

from __future__ import annotations

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
        (500, 4, 1, 2.0, "one bin: |mean accuracy - mean confidence|"),
    ]:
        logits = sharp * torch.randn(n, c, generator=g, dtype=torch.float64)
        probs = torch.softmax(logits, dim=-1)
        labels = torch.multinomial(torch.softmax(logits / 2, -1), 1, generator=g).squeeze(1)
        cases.append(Case(args=(probs, labels, bins), label=label))
    return cases


EXERCISES = [
    Exercise(
        id="ch07.ece",
        reference=_ece_reference,
        cases=_ece_cases,
        hint=(
            "confidence = probs.max(1); correct = (probs.argmax(1) == labels); bin b holds the "
            "confidences in [b/B, (b+1)/B) (1.0 goes in the last bin); ECE = sum over non-empty bins "
            "of (n_b / N) * |mean correct - mean confidence|. Did you weight each bin by its size?"
        ),
    ),
]
