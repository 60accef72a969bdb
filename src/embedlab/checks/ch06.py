"""Hidden cases for chapter 6's automatically checked exercises (a minimal transformer)."""

from __future__ import annotations

import torch

from embedlab.exercises import Case, Exercise
from embedlab.probability import top_k_filter


def _top_k_cases() -> list[Case]:
    g = torch.Generator().manual_seed(6)
    cases = [
        Case((torch.tensor([[2.0, -1.0, 0.5, 3.0]]), 2), label="one row, k=2"),
        Case((torch.tensor([[2.0, -1.0, 0.5, 3.0]]), 4), label="k equal to the vocabulary size"),
        Case((torch.tensor([[2.0, -1.0, 0.5, 3.0]]), 1), label="k=1"),
        Case((torch.randn(5, 63, generator=g), 10), label="a batch of 5 rows over 63 characters"),
        Case((torch.randn(2, 3, 17, generator=g), 4), label="extra leading axes: filter along the last one"),
        Case((torch.randn(4, 8, generator=g) - 100.0, 3), label="all logits very negative"),
    ]
    return cases


EXERCISES = [
    Exercise(
        id="ch06.top_k",
        function="my_top_k",
        reference=top_k_filter,
        cases=_top_k_cases,
        forbids=("embedlab.probability.top_k_filter",),
        hint=(
            "the threshold is each row's k-th largest value, found along the last axis only (not over the "
            "whole tensor); the k-th itself is kept; the others become -inf, not 0; the shape stays the same."
        ),
    ),
]
