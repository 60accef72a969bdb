"""Hidden cases for chapter 4 (contrastive learning)."""

from __future__ import annotations

import torch

from embedlab.exercises import Case, Exercise
from embedlab.losses import info_nce, uniformity


def _info_nce_cases() -> list[Case]:
    g = torch.Generator().manual_seed(404)
    cases = []
    for B, N, d, t, label in [
        (4, 4, 3, 0.5, "square batch"),
        (8, 8, 16, 0.1, "small temperature"),
        (5, 12, 8, 1.0, "extra negative keys (N > B)"),
        (16, 16, 32, 0.07, "embeddings not unit length"),
    ]:
        q = torch.randn(B, d, generator=g) * 3
        k = torch.randn(N, d, generator=g) * 3
        cases.append(Case(args=(q, k, t), label=label))
    q = torch.randn(6, 10, generator=g, dtype=torch.float64)
    cases.append(Case(args=(q, q + 0.1 * torch.randn(6, 10, generator=g, dtype=torch.float64), 0.2), label="float64"))
    return cases


def _uniformity_cases() -> list[Case]:
    g = torch.Generator().manual_seed(405)
    cases = [
        Case(args=(torch.randn(10, 4, generator=g),), kwargs={"t": 2.0}, label="10 points in 4-D"),
        Case(args=(torch.randn(50, 16, generator=g) * 5,), kwargs={"t": 2.0}, label="not unit length"),
        Case(args=(torch.randn(7, 3, generator=g),), kwargs={"t": 0.5}, label="t = 0.5"),
        Case(
            args=(torch.ones(5, 8) + 0.01 * torch.randn(5, 8, generator=g),),
            kwargs={"t": 2.0},
            label="nearly one point",
        ),
    ]
    return cases


EXERCISES = [
    Exercise(
        id="ch04.info_nce",
        function="my_info_nce",
        reference=lambda query, keys, temperature: info_nce(query, keys, temperature),
        cases=_info_nce_cases,
        forbids=("embedlab.losses.info_nce", "embedlab.losses.similarity_logits", "embedlab.losses.nt_xent"),
        hint="the usual slips: rows not normalised, the extra keys dropped when N > B, multiplying by the "
        "temperature instead of dividing, the positive of query i in the wrong column, a sum instead of a mean.",
    ),
    Exercise(
        id="ch04.uniformity",
        function="my_uniformity",
        reference=lambda z, t=2.0: uniformity(z, t=t),
        cases=_uniformity_cases,
        forbids=("embedlab.losses.uniformity",),
        hint="the usual slips: rows not normalised, the pairs i == j counted, the distance used where its "
        "square is meant, the mean of the logs taken instead of the log of the mean.",
    ),
]
