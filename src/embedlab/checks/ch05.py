"""Hidden cases for chapter 5's automatically checked exercises (attention)."""

from __future__ import annotations

import torch

from embedlab.attention import padding_mask, scaled_dot_product_attention
from embedlab.exercises import Case, Exercise


def _causal_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return scaled_dot_product_attention(q, k, v, causal=True)[0]


def _causal_cases() -> list[Case]:
    g = torch.Generator().manual_seed(505)
    cases = []
    for shape, dv, label in [
        ((6, 4), 3, "one sequence, (T, d)"),
        ((2, 5, 8), 8, "a batch, (B, T, d)"),
        ((2, 3, 7, 16), 5, "batch and heads, (B, H, T, d)"),
        ((1, 1, 1, 4), 2, "a single token"),
        ((3, 2, 9, 64), 4, "d = 64: did you divide by sqrt(d)?"),
    ]:
        q = torch.randn(*shape, generator=g, dtype=torch.float64)
        k = torch.randn(*shape, generator=g, dtype=torch.float64)
        v = torch.randn(*shape[:-1], dv, generator=g, dtype=torch.float64)
        cases.append(Case(args=(q, k, v), label=label))
    return cases


def _padding_reference(lengths: torch.Tensor, S: int) -> torch.Tensor:
    return padding_mask(lengths, S)


def _padding_cases() -> list[Case]:
    # The default comparison needs a boolean result for the boolean reference: a 0/1 integer mask
    # has the right values but F.scaled_dot_product_attention rejects it, and a float one would be
    # *added* to the scores instead of masking them.
    return [
        Case(args=(torch.tensor([3, 1]), 4), label="two sequences"),
        Case(args=(torch.tensor([5]), 5), label="no padding at all"),
        Case(args=(torch.tensor([2, 6, 4, 1]), 6), label="four sequences"),
    ]


EXERCISES = [
    Exercise(
        id="ch05.causal_attention",
        reference=_causal_reference,
        cases=_causal_cases,
        forbids=("torch.nn.functional.scaled_dot_product_attention", "embedlab.attention.scaled_dot_product_attention",
                 "embedlab.attention.attention_weights", "embedlab.attention.causal_mask"),
        hint=(
            "check the scale (the width d of the queries and keys, not of the values), that position i still "
            "sees itself, that the masked keys are the later ones, and that the softmax runs over the keys."
        ),
    ),
    Exercise(
        id="ch05.padding_mask",
        reference=_padding_reference,
        cases=_padding_cases,
        forbids=("embedlab.attention.padding_mask",),
        hint=(
            "a sequence of length n has real keys at positions 0..n-1; the mask must be boolean (not 0/1), "
            "True on the real keys, with its singleton dimensions where the heads and the queries broadcast."
        ),
    ),
]
