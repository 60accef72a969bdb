"""Hidden cases for chapter 3's automatically checked exercises (PMI; the SGNS gradient of one pair)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from embedlab.exercises import Case, Exercise
from embedlab.word2vec import pmi


def _pmi_reference(C: np.ndarray) -> np.ndarray:
    """Dense PMI of a count matrix, -inf where the count is 0: C: (V, V) -> (V, V)."""
    out = np.full(C.shape, -np.inf)
    P = pmi(C).tocoo()
    out[P.row, P.col] = P.data
    return out


def _pmi_cases() -> list[Case]:
    rng = np.random.default_rng(303)
    cases = [
        Case((np.array([[2.0, 2.0], [2.0, 2.0]]),), label="independent words"),
        Case((np.array([[5.0, 0.0], [0.0, 1.0]]),), label="each word only with itself"),
        Case((np.array([[1.0, 3.0, 0.0], [3.0, 0.0, 2.0], [0.0, 2.0, 4.0]]),), label="symmetric, with zeros"),
    ]
    for V in (4, 10, 30):
        C = rng.poisson(1.5, size=(V, V)).astype(np.float64)
        C[0, 0] = max(C[0, 0], 1.0)
        cases.append(Case((C,), label=f"random {V}x{V} counts"))
    return cases


def _sgns_pair_reference(x: torch.Tensor, c: torch.Tensor, negs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Gradients of -log σ(x·c) - Σ_j log σ(-x·n_j) with respect to x: (D,), c: (D,), negs: (k, D)."""
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, c, negs)]
    xx, cc, nn_ = leaves
    loss = -F.logsigmoid(xx @ cc) - F.logsigmoid(-(nn_ @ xx)).sum()
    loss.backward()
    grads = []
    for t in leaves:
        assert t.grad is not None  # every leaf is in the loss, so backward() filled its grad
        grads.append(t.grad)
    return tuple(grads)


def _sgns_pair_cases() -> list[Case]:
    g = torch.Generator().manual_seed(3003)
    cases = []
    for D, k in ((2, 1), (5, 5), (50, 15)):
        x = torch.randn(D, generator=g, dtype=torch.float64)
        c = torch.randn(D, generator=g, dtype=torch.float64)
        negs = torch.randn(k, D, generator=g, dtype=torch.float64)
        cases.append(Case((x, c, negs), label=f"D={D}, k={k}"))
    x = torch.zeros(4, dtype=torch.float64)
    cases.append(Case((x, torch.ones(4, dtype=torch.float64), torch.ones(3, 4, dtype=torch.float64)),
                      label="an untrained centre vector, x = 0"))
    big = 10 * torch.randn(6, generator=g, dtype=torch.float64)
    cases.append(Case((big, big.clone(), -big[None].clone()), label="a confident, correct pair"))
    return cases


EXERCISES = [
    Exercise(
        id="ch03.pmi",
        function="my_pmi",
        reference=_pmi_reference,
        cases=_pmi_cases,
        forbids=("embedlab.word2vec.pmi",),
        hint="all three probabilities are counts over the same total; P(w) comes from the rows and P(c) from "
        "the columns; the chapter's PMI is a natural log, and -inf (log of 0) is the wanted value for unseen "
        "pairs, not 0 (np.errstate silences NumPy's warning).",
    ),
    Exercise(
        id="ch03.sgns_pair_grad",
        reference=_sgns_pair_reference,
        cases=_sgns_pair_cases,
        forbids=("torch.autograd.grad", "torch.autograd.backward"),
        hint="differentiate each term with respect to its score (x·c, or x·n_j) first, then apply the chain rule "
        "to every vector in that score; mind the sign inside the negatives' sigmoid, and that x collects a "
        "contribution from every term. Return the loss's gradients (not their negatives), g_negs one row per "
        "negative.",
    ),
]
