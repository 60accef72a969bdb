"""Hidden cases for chapter 1's automatically checked exercises."""

from __future__ import annotations

import torch

from embedlab.exercises import Case, Exercise
from embedlab.grading.wire import Traced
from embedlab.matching import mismatch


def _one_hot_lookup(ids: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Reference: ids (...,) int64, weight (V, d) -> (..., d), via a one-hot matrix product."""
    one_hot = torch.nn.functional.one_hot(ids, num_classes=weight.shape[0]).to(weight.dtype)
    return one_hot @ weight


def _lookup_cases() -> list[Case]:
    g = torch.Generator().manual_seed(101)
    cases = []
    for shape, V, d in [((5,), 7, 3), ((2, 4), 11, 5), ((1,), 1, 2), ((3, 2, 2), 20, 8)]:
        ids = torch.randint(0, V, shape, generator=g)
        weight = torch.randn(V, d, generator=g, dtype=torch.float64)
        label = f"ids {tuple(shape)}, V={V}, d={d}"
        if V == 20:  # this weight requires grad, so that _compare_lookup can tell a product from indexing
            weight.requires_grad_(True)
            label += ", a weight that requires grad: is the lookup a one-hot product?"
        cases.append(Case((ids, weight), label=label))
    ids = torch.tensor([0, 0, 0])
    cases.append(Case((ids, torch.randn(4, 2, generator=g, dtype=torch.float64)), label="repeated ids"))
    return cases


# How the product is told from a lookup: the values are identical, so the check looks at *how*
# the result was computed. On the case whose weight requires grad (the fourth), the result's
# autograd graph records every operation between it and weight. A one-hot product shows a product
# node (MmBackward, BmmBackward, MulBackward for a broadcast-and-sum, ...); weight[ids],
# F.embedding, index_select, gather and torch.take show an indexing node. This is more robust
# than a tensor subclass that traps __getitem__ (it sees every indexing op, whatever it is
# called, and the student's function receives an ordinary tensor), and the reference passes.
# What it cannot see: a result computed outside autograd (numpy, .detach(), torch.no_grad()),
# which is reported as such, and a deliberately disguised lookup (a Python loop of
# weight[int(i)] * 1.0: SelectBackward is allowed, since a loop over the V rows is a product).
_INDEXING = ("IndexBackward", "IndexSelectBackward", "EmbeddingBackward", "EmbeddingBagBackward",
             "GatherBackward", "TakeBackward", "MaskedSelectBackward")
_PRODUCTS = ("mm", "mv", "dot", "mul", "matmul", "linear")


def _compare_lookup(got: Traced, expected: torch.Tensor) -> str | None:
    # ``got`` is what the grader's kernel recorded (observe="autograd"): the value and its graph.
    why = mismatch(got.value, expected)
    if why is not None or not expected.requires_grad:  # only the case whose weight requires grad
        return why
    if not got.has_grad_fn:
        return (
            "the values are right, but your result is not connected to weight by autograd "
            "(numpy, .detach() or torch.no_grad()?); compute it with torch, as one_hot @ weight"
        )
    indexing = sorted(op for op in got.ops if op in _INDEXING)
    if indexing:
        return (
            f"the values are right, but your result reads rows of weight by indexing ({', '.join(indexing)} "
            "in its autograd graph); the exercise asks for a one-hot matrix product, one_hot @ weight"
        )
    if not any(p in op.lower() for op in got.ops for p in _PRODUCTS):
        return "the values are right, but no product with weight was computed; use one_hot @ weight"
    return None


def _row_grad_count(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Reference: how many times each row of a (V, d) table receives gradient from a lookup."""
    return torch.bincount(ids.reshape(-1), minlength=vocab_size)


def _row_grad_cases() -> list[Case]:
    g = torch.Generator().manual_seed(102)
    return [
        Case((torch.randint(0, 10, (6,), generator=g), 10), label="a sentence of 6 tokens"),
        Case((torch.randint(0, 50, (4, 8), generator=g), 50), label="a batch (4, 8)"),
        Case((torch.tensor([3, 3, 3]), 5), label="one token three times"),
        Case((torch.tensor([0]), 1), label="a single token"),
    ]


def _param_count(vocab_size: int, dim: int, *, tied: bool) -> int:
    """Reference: parameters of an embedding table plus an output layer (with bias)."""
    out = vocab_size * dim if not tied else 0
    return vocab_size * dim + out + vocab_size


EXERCISES = [
    Exercise(
        id="ch01.one_hot_lookup",
        reference=_one_hot_lookup,
        cases=_lookup_cases,
        compare=_compare_lookup,
        observe="autograd",
        forbids=("torch.nn.functional.embedding",),
        hint="the one-hot matrix needs a column for every row of the table (V of them, not only the ids "
        "that occur) and weight's dtype, and the ids may have any shape; reading rows of weight by indexing, "
        "in any form, is what the exercise rules out.",
    ),
    Exercise(
        id="ch01.row_grad_count",
        reference=_row_grad_count,
        cases=_row_grad_cases,
        hint="count positions, not distinct ids, over the whole batch whatever its shape; the result has one "
        "integer per row of the table, rows that never occur included.",
    ),
    Exercise(
        id="ch01.param_count",
        reference=_param_count,
        cases=lambda: [Case((50_000, 300), {"tied": False}), Case((50_000, 300), {"tied": True}),
                       Case((65, 384), {"tied": False}), Case((1, 1), {"tied": True})],
        hint="count the parts one by one: the table, the output layer's weights, the output layer's biases "
        "(how many scores does it produce?). Which part does tying share, and which does it keep?",
    ),
]
