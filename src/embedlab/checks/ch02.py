"""Hidden cases for chapter 2's automatically checked exercises (dot, cosine, Euclidean; hubness)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from embedlab.exercises import Case, Exercise
from embedlab.geometry import k_occurrence
from embedlab.matching import describe_kind, mismatch
from embedlab.similarity import cosine


def _cosine_reference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(cosine(a, b))


def _cosine_cases() -> list[Case]:
    g = torch.Generator().manual_seed(202)
    cases = []
    for d in (2, 3, 50, 300):
        a = torch.randn(d, generator=g, dtype=torch.float64)
        b = torch.randn(d, generator=g, dtype=torch.float64)
        cases.append(Case((a, b), label=f"random vectors, d={d}"))
    a = torch.randn(8, generator=g, dtype=torch.float64)
    cases += [
        Case((a, 7.5 * a), label="b is a longer copy of a"),
        Case((a, -0.1 * a), label="b is a shorter copy of a, reversed"),
        Case((torch.tensor([3.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 0.5], dtype=torch.float64)),
             label="orthogonal vectors"),
        Case((1e-3 * a, 1e3 * torch.randn(8, generator=g, dtype=torch.float64)), label="very different lengths"),
    ]
    return cases


def _cosine_zero_cases() -> list[Case]:
    v = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    z = torch.zeros(3, dtype=torch.float64)
    return [
        Case((z, v), label="a is the zero vector"),
        Case((v, z), label="b is the zero vector"),
        Case((z, z.clone()), label="both are zero"),
    ]


def _compare_cosine(got: Any, expected: float) -> str | None:
    """The exercise asks for a Python float: a 0-d tensor (``a @ b / ...`` without ``float``) is refused."""
    why = mismatch(got, expected)
    if why is None and isinstance(got, (torch.Tensor, np.ndarray)):
        return f"the value is right, but the exercise asks for a Python float, not {describe_kind(got)}: use float(...)"
    return why


def _k_occurrence_reference(X: torch.Tensor, k: int) -> torch.Tensor:
    return k_occurrence(X, k, metric="euclidean")


def _k_occurrence_cases() -> list[Case]:
    g = torch.Generator().manual_seed(2002)
    cases = [
        Case((torch.tensor([[0.0], [1.0], [2.1], [3.3], [10.0]], dtype=torch.float64), 1),
             label="five points on a line, k=1"),
    ]
    for n, d, k in ((20, 2, 3), (50, 10, 5), (200, 64, 10)):
        cases.append(Case((torch.randn(n, d, generator=g, dtype=torch.float64), k), label=f"n={n}, d={d}, k={k}"))
    return cases


def _compare_counts(got: Any, expected: torch.Tensor) -> str | None:
    try:
        g = np.asarray(got.detach().cpu() if isinstance(got, torch.Tensor) else got, dtype=float)
    except Exception:  # noqa: BLE001 - reported to the student, never raised
        return f"expected an array of counts, got {type(got).__name__}"
    e = expected.numpy().astype(float)
    if g.shape != e.shape:
        return f"expected {e.shape[0]} counts (one per point), got shape {g.shape}"
    if not np.array_equal(g, e):
        i = int(np.flatnonzero(g != e)[0])
        total = f"; your counts sum to {g.sum():g}, they should sum to n*k = {e.sum():g}" if g.sum() != e.sum() else ""
        return f"point {i} appears in {e[i]:g} neighbour lists, you counted {g[i]:g}{total}"
    return None


EXERCISES = [
    Exercise(
        id="ch02.cosine",
        function="my_cosine",
        reference=_cosine_reference,
        cases=_cosine_cases,
        compare=_compare_cosine,
        forbids=("embedlab.similarity.cosine", "embedlab.similarity.pairwise_cosine"),
        hint="the dot product alone grows with the vectors' lengths: what must it be divided by so that only the "
        "angle is left (the lengths, not their squares; both of them)? Return a Python float, not a tensor.",
    ),
    Exercise(
        id="ch02.cosine_zero",
        function="my_cosine",
        reference=_cosine_reference,
        cases=_cosine_zero_cases,
        forbids=("embedlab.similarity.cosine", "embedlab.similarity.pairwise_cosine"),
        hint="test both vectors before dividing, not just one; the check expects ValueError itself, not "
        "another exception and not a returned number.",
        expect_error=ValueError,
    ),
    Exercise(
        id="ch02.k_occurrence",
        function="my_k_occurrence",
        reference=_k_occurrence_reference,
        cases=_k_occurrence_cases,
        forbids=("embedlab.geometry.k_occurrence",),
        hint=(
            "a point is never its own neighbour (its distance to itself is 0, the smallest of all); count how "
            "often each point appears in the *other* points' lists of k nearest (Euclidean), which is not the "
            "length of its own list. The counts sum to n·k."
        ),
        compare=_compare_counts,
    ),
]
