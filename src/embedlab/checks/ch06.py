"""Hidden cases for chapter 6's automatically checked exercises (a minimal transformer)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from embedlab.exercises import Case, Exercise
from embedlab.probability import top_k_filter


def _top_k_cases() -> list[Case]:
    g = torch.Generator().manual_seed(6)
    cases = [
        Case((torch.tensor([[2.0, -1.0, 0.5, 3.0]]), 2), label="one row, k=2"),
        Case((torch.tensor([[2.0, -1.0, 0.5, 3.0]]), 4), label="k equal to the vocabulary size keeps everything"),
        Case((torch.tensor([[2.0, -1.0, 0.5, 3.0]]), 1), label="k=1 keeps only the largest"),
        Case((torch.randn(5, 63, generator=g), 10), label="a batch of 5 rows over 63 characters"),
        Case((torch.randn(2, 3, 17, generator=g), 4), label="extra leading axes: filter along the last one"),
        Case((torch.randn(4, 8, generator=g) - 100.0, 3), label="all logits very negative"),
    ]
    return cases


def _causal_cases() -> list[Case]:
    g = torch.Generator().manual_seed(66)
    cases = []
    for B, nh, T, hs in [(1, 1, 4, 2), (2, 4, 16, 8), (3, 2, 1, 5), (2, 3, 33, 16)]:
        q, k, v = (torch.randn(B, nh, T, hs, generator=g) for _ in range(3))
        cases.append(Case((q, k, v), label=f"q, k, v of shape {(B, nh, T, hs)}"))
    return cases


def _causal_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def _compare_attention(got, expected) -> str | None:
    from embedlab.exercises import mismatch

    return mismatch(got, expected, rtol=1e-4, atol=1e-5)


EXERCISES = [
    Exercise(
        id="ch06.top_k",
        function="my_top_k",
        reference=top_k_filter,
        cases=_top_k_cases,
        hint=(
            "find the k-th largest value of each row with torch.topk(logits, k, dim=-1).values[..., -1:], "
            "then set every logit below it to float('-inf') (masked_fill); keep the shape."
        ),
    ),
    Exercise(
        id="ch06.causal_attention",
        reference=_causal_reference,
        cases=_causal_cases,
        compare=_compare_attention,
        hint=(
            "scores = q @ k.transpose(-2, -1) / sqrt(head size); set scores[..., i, j] to -inf "
            "where j > i (torch.triu(..., diagonal=1)); softmax over the last axis; multiply by v."
        ),
    ),
]
