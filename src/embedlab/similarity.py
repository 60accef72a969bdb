"""Dot product, cosine similarity, Euclidean distance, similarity matrices and top-k search.

Taught in chapter 1 (lookups compared by similarity) and chapter 2 (how the three scores relate).

Conventions: every function takes torch tensors (NumPy arrays and nested lists are converted)
whose **last** dimension is the embedding dimension ``d``. Vectors are ``(d,)``, batches
``(..., d)``, matrices of ``n`` vectors ``(n, d)``.

**Zero-vector policy.** Cosine similarity divides by ``‖a‖·‖b‖`` and is undefined when either
vector is zero. By default (``zero="raise"``) we raise a ``ValueError`` that says which rows are
zero, because a zero row is usually a bug (an untrained padding row, a failed lookup).
``zero="zero"`` instead defines the cosine with a zero vector as ``0.0`` (orthogonal to
everything), which is what ``torch.nn.functional.cosine_similarity`` and scikit-learn return.
We never silently return NaN.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

__all__ = [
    "as_tensor",
    "dot",
    "cosine",
    "euclidean",
    "normalize",
    "pairwise_dot",
    "pairwise_cosine",
    "pairwise_euclidean",
    "topk",
]

ZeroPolicy = Literal["raise", "zero"]
Metric = Literal["dot", "cosine", "euclidean"]


def as_tensor(x: torch.Tensor | np.ndarray | list, *, name: str = "x") -> torch.Tensor:
    """Convert to a floating tensor (float64 stays float64; integers become float32)."""
    t = torch.as_tensor(x)
    if not torch.is_floating_point(t):
        t = t.to(torch.float32)
    if t.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (the embedding dimension)")
    if t.shape[-1] == 0:
        raise ValueError(f"{name} has an empty embedding dimension: shape {tuple(t.shape)}")
    return t


def _check_same_dim(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"embedding dimensions differ: a has d={a.shape[-1]} (shape {tuple(a.shape)}), "
            f"b has d={b.shape[-1]} (shape {tuple(b.shape)})"
        )


def _promote(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def dot(a, b) -> torch.Tensor:
    """Dot product along the last dimension.

    a: (..., d), b: (..., d) broadcastable  ->  (...)
    """
    a, b = _promote(as_tensor(a, name="a"), as_tensor(b, name="b"))
    _check_same_dim(a, b)
    return (a * b).sum(-1)


def _norms(x: torch.Tensor, zero: ZeroPolicy, name: str) -> torch.Tensor:
    if zero not in ("raise", "zero"):
        raise ValueError(f"zero must be 'raise' or 'zero', got {zero!r}")
    n = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    is_zero = n == 0
    if zero == "raise" and bool(is_zero.any()):
        idx = torch.nonzero(is_zero.squeeze(-1), as_tuple=False).tolist()
        where = f" at index {idx[:5]}" if x.ndim > 1 else ""
        raise ValueError(
            f"cosine similarity is undefined for a zero vector: {name} has a zero row{where}. "
            "Pass zero='zero' to treat it as orthogonal to everything (cosine 0)."
        )
    # For zero='zero' a zero vector stays zero after division by 1, so its cosines are 0.
    return torch.where(is_zero, torch.ones_like(n), n)


def normalize(x, *, zero: ZeroPolicy = "raise") -> torch.Tensor:
    """Scale vectors to unit length along the last dimension.

    x: (..., d) -> (..., d). Zero vectors raise, or stay zero with ``zero="zero"``.
    """
    x = as_tensor(x)
    return x / _norms(x, zero, "x")


def cosine(a, b, *, zero: ZeroPolicy = "raise") -> torch.Tensor:
    """Cosine similarity along the last dimension.

    a: (..., d), b: (..., d) broadcastable  ->  (...), values in [-1, 1].
    """
    a, b = _promote(as_tensor(a, name="a"), as_tensor(b, name="b"))
    _check_same_dim(a, b)
    a_hat = a / _norms(a, zero, "a")
    b_hat = b / _norms(b, zero, "b")
    # Rounding can push |cos| a hair above 1; clamp so that arccos and friends stay safe.
    return (a_hat * b_hat).sum(-1).clamp(-1.0, 1.0)


def euclidean(a, b) -> torch.Tensor:
    """Euclidean distance ‖a − b‖ along the last dimension.

    a: (..., d), b: (..., d) broadcastable  ->  (...)
    """
    a, b = _promote(as_tensor(a, name="a"), as_tensor(b, name="b"))
    _check_same_dim(a, b)
    return torch.linalg.vector_norm(a - b, dim=-1)


def _as_matrix(x, name: str) -> torch.Tensor:
    t = as_tensor(x, name=name)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a matrix of shape (n, d), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    return t


def pairwise_dot(A, B=None) -> torch.Tensor:
    """All dot products between rows: A: (n, d), B: (m, d) -> (n, m). ``B=None`` means ``B=A``."""
    A = _as_matrix(A, "A")
    B = A if B is None else _as_matrix(B, "B")
    A, B = _promote(A, B)
    _check_same_dim(A, B)
    return A @ B.T


def pairwise_cosine(A, B=None, *, zero: ZeroPolicy = "raise") -> torch.Tensor:
    """All cosine similarities between rows: A: (n, d), B: (m, d) -> (n, m)."""
    A = _as_matrix(A, "A")
    B = A if B is None else _as_matrix(B, "B")
    A, B = _promote(A, B)
    _check_same_dim(A, B)
    A_hat = A / _norms(A, zero, "A")
    B_hat = B / _norms(B, zero, "B")
    return (A_hat @ B_hat.T).clamp(-1.0, 1.0)


def pairwise_euclidean(A, B=None) -> torch.Tensor:
    """All Euclidean distances between rows: A: (n, d), B: (m, d) -> (n, m)."""
    A = _as_matrix(A, "A")
    B = A if B is None else _as_matrix(B, "B")
    A, B = _promote(A, B)
    _check_same_dim(A, B)
    # ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b is one matrix product; clamp the small negatives rounding makes.
    sq = (A * A).sum(-1, keepdim=True) + (B * B).sum(-1)[None, :] - 2.0 * (A @ B.T)
    return sq.clamp_min(0.0).sqrt()


def topk(
    queries,
    keys,
    k: int,
    *,
    metric: Metric = "cosine",
    exclude_self: bool = False,
    zero: ZeroPolicy = "raise",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k-nearest neighbours of each query among the rows of ``keys``.

    queries: (q, d) or (d,), keys: (n, d)  ->  (scores, indices), each (q, k) or (k,).
    Higher scores are nearer for ``"dot"`` and ``"cosine"``; for ``"euclidean"`` the scores are
    distances and the smallest come first.

    Args:
        exclude_self: drop index ``i`` from query ``i``'s list (queries are the keys themselves).

    Raises:
        ValueError: if ``k`` is not in ``1..n`` (``1..n-1`` with ``exclude_self``), on a bad
            metric, or on mismatched dimensions.
    """
    Q = as_tensor(queries, name="queries")
    single = Q.ndim == 1
    Q = _as_matrix(Q.unsqueeze(0) if single else Q, "queries")
    K = _as_matrix(keys, "keys")
    n = K.shape[0]
    limit = n - 1 if exclude_self else n
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= limit:
        raise ValueError(
            f"k must be an integer between 1 and {limit} "
            f"({n} keys{', minus the query itself' if exclude_self else ''}), got {k!r}"
        )
    if metric == "dot":
        S = pairwise_dot(Q, K)
    elif metric == "cosine":
        S = pairwise_cosine(Q, K, zero=zero)
    elif metric == "euclidean":
        S = -pairwise_euclidean(Q, K)
    else:
        raise ValueError(f"metric must be 'dot', 'cosine' or 'euclidean', got {metric!r}")
    if exclude_self:
        if Q.shape[0] != n:
            raise ValueError("exclude_self needs the queries to be the keys themselves (q == n)")
        S = S.clone()
        S.fill_diagonal_(-float("inf"))
    scores, idx = torch.topk(S, int(k), dim=-1)
    if metric == "euclidean":
        scores = -scores
    if single:
        return scores[0], idx[0]
    return scores, idx
