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
We never silently return NaN: a row with NaN or ±inf has no direction either, and cosine
refuses it by name. Only an exactly-zero row is a zero vector: rows of 1e-30, whose squared norm
underflows float32, have a direction like any other. Unit rows come from
:func:`embedlab._rows.unit_rows`, the package's one home of this policy.

**Numerics.** Results do not depend on the scale of the inputs: norms are taken after dividing
each row by its largest entry (1e30 and 1e-30 in float32 work; so does float16 at 6e4), and
float16/bfloat16 inputs are computed in float32 and cast back, so a result is finite wherever
the true answer is representable in the input dtype. Euclidean distances use one matrix product
(``‖a‖² + ‖b‖² − 2a·b``) after centring both sets on their common mean, and recompute from the
differences the distances that this formula cannot resolve, so close points far from the origin
keep their distance and identical rows are exactly 0 apart. :func:`topk` refuses NaN and
infinite inputs (NaN compares false with everything, so a sort would rank it first), and breaks
ties by the package's one rule: **the lower key id first**, inside the list and at its boundary
(:func:`embedlab._rows.topk`), whatever the metric, block size or CPU.

Why this module is over 400 lines: it is one concept (scores between vectors, and the exact
search that ranks by them), and the stable numerics above take the space. Moving top-k elsewhere
would give exact nearest-neighbour search a second home next to the scores it ranks by.
"""

from __future__ import annotations

import contextlib
import functools
import math
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from embedlab import _checks
from embedlab._rows import compute_dtype as _compute_dtype
from embedlab._rows import row_norm as _row_norm
from embedlab._rows import topk as _row_topk
from embedlab._rows import unit_rows
from embedlab._rows import wide_topk as _wide_topk

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
    if t.is_complex() or t.dtype == torch.bool:
        raise _checks.ArgumentError(f"{name} must hold real numbers, got dtype {t.dtype}")
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


def _dot_dtype(a: torch.Tensor, b: torch.Tensor, extents: tuple[float, float] | None = None) -> torch.dtype:
    """float32 (or float64 when products of the largest entries could overflow float32).

    ``extents``: max |entry| of ``a`` and ``b`` when the caller has them (:func:`_extent`)."""
    dtype = _compute_dtype(a.dtype)
    if dtype == torch.float32:
        # Each product is at most max|a|·max|b| and a sum of d of them at most d times that. Past
        # float32's range (or for NaN and inf, which fail the comparison) compute in float64, where
        # the square of float32's largest number still fits: no product overflows there.
        ea, eb = extents if extents is not None else (_extent(a), _extent(b))
        bound = ea * eb * a.shape[-1]
        if not bound < torch.finfo(torch.float32).max and a.device.type != "mps":  # MPS has no float64
            dtype = torch.float64
    return dtype


def dot(a, b) -> torch.Tensor:
    """Dot product along the last dimension.

    a: (..., d), b: (..., d) broadcastable  ->  (...), in the inputs' (promoted) dtype. float16 and
    bfloat16 are accumulated in float32, so the result is right wherever it is representable.
    """
    a, b = _promote(as_tensor(a, name="a"), as_tensor(b, name="b"))
    _check_same_dim(a, b)
    dtype = _dot_dtype(a, b)
    return (a.to(dtype) * b.to(dtype)).sum(-1).to(a.dtype)


def _check_zero_policy(zero: ZeroPolicy) -> None:
    _checks.choice(zero, "zero", ("raise", "zero"))


def _unit(x: torch.Tensor, zero: ZeroPolicy, name: str) -> torch.Tensor:
    """Rows of x scaled to unit length, in the compute dtype: x: (..., d) -> (..., d).

    :func:`embedlab._rows.unit_rows`, the package's one home of unit rows: only rows that are
    exactly zero count as zero vectors; they raise or, with ``zero="zero"``, stay zero (cosine 0).
    Differentiable (the gradient is that of x/‖x‖) and finite at any scale. Rows with NaN or ±inf
    have no direction and are refused by ``name``.
    """
    return unit_rows(x, zero=zero, name=name)


def normalize(x, *, zero: ZeroPolicy = "raise") -> torch.Tensor:
    """Scale vectors to unit length along the last dimension.

    x: (..., d) -> (..., d), same dtype. Zero vectors raise, or stay zero with ``zero="zero"``;
    any other vector, however large or small (1e30, 1e-30, float16 at 6e4), gets length 1.
    Differentiable, so losses can use it during training.
    """
    x = as_tensor(x)
    return _unit(x, zero, "x").to(x.dtype)


def cosine(a, b, *, zero: ZeroPolicy = "raise") -> torch.Tensor:
    """Cosine similarity along the last dimension.

    a: (..., d), b: (..., d) broadcastable  ->  (...), values in [-1, 1].
    """
    a, b = _promote(as_tensor(a, name="a"), as_tensor(b, name="b"))
    _check_same_dim(a, b)
    a_hat, b_hat = _unit(a, zero, "a"), _unit(b, zero, "b")
    # Rounding can push |cos| a hair above 1; clamp so that arccos and friends stay safe.
    return (a_hat * b_hat).sum(-1).clamp(-1.0, 1.0).to(a.dtype)


def euclidean(a, b) -> torch.Tensor:
    """Euclidean distance ‖a − b‖ along the last dimension.

    a: (..., d), b: (..., d) broadcastable  ->  (...)
    """
    a, b = _promote(as_tensor(a, name="a"), as_tensor(b, name="b"))
    _check_same_dim(a, b)
    dtype = _compute_dtype(a.dtype)
    # Halve before subtracting (exact but for subnormals) so that 3e38 - (-3e38) cannot overflow;
    # the row-scaled norm then neither overflows nor underflows.
    half_diff = a.to(dtype) * 0.5 - b.to(dtype) * 0.5
    return (2.0 * _row_norm(half_diff)).squeeze(-1).to(a.dtype)


def _as_matrix(x, name: str) -> torch.Tensor:
    t = as_tensor(x, name=name)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a matrix of shape (n, d), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    return t


def _pair(A, B) -> tuple[torch.Tensor, torch.Tensor]:
    A = _as_matrix(A, "A")
    B = A if B is None else _as_matrix(B, "B")
    A, B = _promote(A, B)
    _check_same_dim(A, B)
    return A, B


def pairwise_dot(A, B=None) -> torch.Tensor:
    """All dot products between rows: A: (n, d), B: (m, d) -> (n, m). ``B=None`` means ``B=A``."""
    A, B = _pair(A, B)
    dtype = _dot_dtype(A, B)
    return (A.to(dtype) @ B.to(dtype).T).to(A.dtype)


def pairwise_cosine(A, B=None, *, zero: ZeroPolicy = "raise") -> torch.Tensor:
    """All cosine similarities between rows: A: (n, d), B: (m, d) -> (n, m)."""
    A, B = _pair(A, B)
    A_hat = _unit(A, zero, "A")
    B_hat = _unit(B, zero, "B")
    return (A_hat @ B_hat.T).clamp(-1.0, 1.0).to(A.dtype)


# Squared distances from the expansion ‖a‖² + ‖b‖² − 2a·b carry a rounding error of a few
# eps·(‖a‖² + ‖b‖²) (measured: at most 4.5 eps for float32, d = 2..2048). Where the result is below
# _RECOMPUTE times that scale, the expansion has lost most of its digits to cancellation, and we
# recompute ‖a − b‖² from the difference instead. Everywhere else the relative error of a distance
# stays below about 2 · 4.5 eps / (2 · _RECOMPUTE) = 72 eps (1e-5 in float32).
_RECOMPUTE = 1.0 / 32


def _max_abs(t: torch.Tensor) -> float:
    lo, hi = torch.aminmax(t)  # one pass, no |t| temporary
    return max(-float(lo), float(hi))


class _Euclid:
    """Rows of Q: (q, d) and K: (n, d) prepared for fast, accurate squared distances.

    Distances do not change when both sets move or are scaled together, so (1) when the largest
    |entry| lies outside [2**-16, 2**16], divide everything by a power of two s (exact) that brings
    it into [1, 2), so that no square overflows or underflows (1e30 or 1e-30 in float32), and
    (2) centre both sets on their common mean, so that ‖a‖² + ‖b‖² − 2a·b does not cancel away
    the distances of points that sit far from the origin (randn + 100, say).
    float16 and bfloat16 are computed in float32. Squared distances come in units of s².
    """

    def __init__(self, Q: torch.Tensor, K: torch.Tensor) -> None:
        same = Q is K  # distances within one set: prepare it once
        dtype = _compute_dtype(torch.promote_types(Q.dtype, K.dtype))
        Q, K = Q.to(dtype), K.to(dtype)
        fi = torch.finfo(dtype)
        self.eps = fi.eps
        top = _max_abs(K) if same else max(_max_abs(Q), _max_abs(K))
        self.scale = 1.0
        if not 2.0**-16 <= top <= 2.0**16:  # ordinary data needs no scaling (and no copy)
            # s = 2**e with top/s in [1, 2); e is kept where both s and 1/s are normal numbers.
            e = math.frexp(top)[1] - 1 if top > 0 else 0
            self.scale = 2.0 ** min(max(e, math.frexp(fi.tiny)[1] - 1), math.frexp(fi.max)[1] - 2)
        self.Ks = K / self.scale if self.scale != 1.0 else K  # (n, d) entries in [-2**16, 2**16]
        self.Qs = self.Ks if same else Q / self.scale if self.scale != 1.0 else Q  # (q, d)
        mean = self.Ks.mean(0) if same else (self.Qs.sum(0) + self.Ks.sum(0)) / (Q.shape[0] + K.shape[0])  # (d,)
        self.Kc = self.Ks - mean
        self.Qc = self.Kc if same else self.Qs - mean
        self.k2 = (self.Kc * self.Kc).sum(-1)  # (n,)
        self.q2 = self.k2 if same else (self.Qc * self.Qc).sum(-1)  # (q,)

    def _from_differences(self, qi: torch.Tensor, kj: torch.Tensor) -> torch.Tensor:
        """‖Qs[qi] − Ks[kj]‖² for index pairs qi, kj: (c,) -> (c,), a few million numbers at a time."""
        out = torch.empty(qi.numel(), dtype=self.Qs.dtype, device=self.Qs.device)
        step = max(1, (1 << 22) // self.Qs.shape[1])
        for c in range(0, qi.numel(), step):
            diff = self.Qs[qi[c : c + step]] - self.Ks[kj[c : c + step]]  # (c, d)
            out[c : c + step] = (diff * diff).sum(-1)
        return out

    def _repair(self, sq: torch.Tensor, base: torch.Tensor, qi: torch.Tensor, kj: torch.Tensor) -> torch.Tensor:
        """Recompute from differences the entries of sq that the expansion cannot resolve.

        sq, base, kj: (b, m) squared distances from the expansion, ‖a‖² + ‖b‖² (overwritten) and the
        key of each entry; qi: (b,) the query of each row. Identical rows come out exactly 0.
        """
        i, j = torch.nonzero(sq <= base.mul_(_RECOMPUTE), as_tuple=True)
        if i.numel():
            sq[i, j] = self._from_differences(qi[i], kj[i, j])
        return sq.clamp_min_(0.0)

    def squared(self, rows: torch.Tensor) -> torch.Tensor:
        """Squared distances from the queries ``rows``: (b,) to every key: (b, n)."""
        base = self.q2[rows, None] + self.k2[None, :]  # (b, n) ‖a‖² + ‖b‖², the scale of the error
        sq = torch.addmm(base, self.Qc[rows], self.Kc.T, alpha=-2.0)  # (b, n) one fused kernel
        keys = torch.arange(self.Ks.shape[0], device=sq.device).expand_as(sq)
        return self._repair(sq, base, rows, keys)

    def nearest(self, start: int, stop: int, k: int, exclude_self: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The k smallest squared distances (b, k) and their keys (b, k), for queries start:stop.

        Ranks 2q·k − ‖k‖² = ‖q‖² − ‖q − k‖² (one matrix product, largest = nearest), keeps the
        best k + 8 or so as candidates, recomputes their distances from the differences and keeps
        the best k. Rounding moves any score by at most ``bound``, so a key outside the candidates
        cannot be nearer than the k-th when the last candidate is more than two bounds behind it;
        rows without that margin (ties, duplicates) are redone over every key within two bounds
        of their k-th distance. Distances that decide the answer always come from the
        differences, so equal distances are equal numbers and ties go to the lower key id.
        """
        rows = torch.arange(start, stop, device=self.Qc.device)  # (b,)
        local = torch.arange(stop - start, device=self.Qc.device)
        q2 = self.q2[start:stop]
        t = torch.addmm(-self.k2, self.Qc[start:stop], self.Kc.T, alpha=2.0)  # (b, n)
        if exclude_self:
            t[local, rows] = -float("inf")
        available = self.Ks.shape[0] - int(exclude_self)
        m = min(available, k + max(8, k // 4))  # enough margin for the check below, measured
        t_cand, cand = torch.topk(t, m, dim=-1)  # (b, m) largest first (torch's faster direction)
        t_last = t_cand[:, -1]  # (b,) the weakest candidate's score
        cand, by_id = cand.sort(dim=-1)  # candidates in key order, so that ties go to the lower key id
        t_cand = t_cand.gather(1, by_id)
        b = stop - start
        sq = self._from_differences(rows.repeat_interleave(m), cand.reshape(-1)).view(b, m)  # (b, m) exact-ish
        sq_k, order = _row_topk(sq, k, largest=False)  # (b, k) nearest first, ties: lower id
        idx = cand.gather(1, order)
        if m < available:
            # |rounding error| <= (d + 2)·eps·(‖a‖² + ‖b‖² + 2|a·b|) <= 2(d + 2)·eps·(‖a‖² + ‖b‖²)
            bound = 2 * (self.Qc.shape[1] + 2) * self.eps * (q2 + self.k2.max())  # (b,)
            unsure = torch.nonzero(q2 - t_last - sq_k[:, -1] <= 2 * bound).reshape(-1)
            if unsure.numel():
                full = self.squared(rows[unsure])  # (u, n), each within about a bound of the truth
                if exclude_self:
                    full[torch.arange(unsure.numel(), device=full.device), rows[unsure]] = float("inf")
                kth = torch.topk(full, k, dim=-1, largest=False).values[:, -1:]  # (u, 1)
                near = full <= kth + 4 * bound[unsure, None]  # every key that could be among the k
                i, j = torch.nonzero(near, as_tuple=True)
                exact = torch.full_like(full, float("inf"))
                exact[i, j] = self._from_differences(rows[unsure][i], j)
                sq_k[unsure], idx[unsure] = _row_topk(exact, k, largest=False)
        return sq_k, idx


def pairwise_euclidean(A, B=None) -> torch.Tensor:
    """All Euclidean distances between rows: A: (n, d), B: (m, d) -> (n, m).

    One matrix product, ``‖a‖² + ‖b‖² − 2a·b``, after centring both sets on their common mean;
    distances too small for that formula to resolve are recomputed from the differences, so close
    points far from the origin keep their distance and identical rows are exactly 0 apart.
    float16 and bfloat16 are computed in float32 and cast back.
    """
    A, B = _pair(A, B)
    prep = _Euclid(A, B)  # B=None gives B is A
    rows = torch.arange(A.shape[0], device=A.device)
    return (prep.squared(rows).sqrt_() * prep.scale).to(A.dtype)


def _extent(t: torch.Tensor) -> float:
    """max |entry| of ``t`` as a Python float (inf or NaN when an entry is not finite), in one
    pass that allocates nothing (``t.abs().amax()`` would write a copy of ``t`` first)."""
    if t.numel() == 0:
        return 0.0
    lo, hi = (float(v) for v in torch.aminmax(t.detach()))
    if math.isnan(lo) or math.isnan(hi):  # aminmax propagates NaN; Python's max() would not
        return math.nan
    return max(-lo, hi)


@functools.cache
def _l2_bytes() -> int:
    """The per-core level-2 cache in bytes, as Linux reports it (1 MiB where it does not)."""
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            if (index / "level").read_text().strip() == "2":
                size = (index / "size").read_text().strip().upper()
                return int(size[:-1]) * {"K": 1 << 10, "M": 1 << 20}[size[-1]] if size[-1] in "KM" else int(size)
        except (OSError, ValueError):
            break
    return 1 << 20


def _block_rows(n: int, d: int) -> int:
    """Query rows per score block of an exact search over ``n`` keys of dimension ``d``.

    The matrix product streams every key past the block of queries once per block, so the block
    should be as tall as the cache can hold: a (b, d) float32 query block that fits the level-2
    cache is reused across the whole key stream. The (b, n) scores are capped at 2**25 floats
    (128 MB), so n can run to millions.
    """
    return max(1, min(_l2_bytes() // (4 * d), (1 << 25) // n))


# Below this many multiply-adds per call (q·n·d), torch's product is used as it is: the NumPy
# product saves a few per cent of a product that takes under a millisecond.
_NUMPY_MIN_WORK = 1 << 24


@functools.cache
def _blas_threads():
    """A threadpoolctl handle on the BLAS libraries loaded (NumPy's among them), or None where
    threadpoolctl is missing: then NumPy's thread count cannot follow torch's, and torch computes."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None
    blas = ThreadpoolController().select(user_api="blas")
    return blas if blas.lib_controllers else None


def _numpy_product(Qm: torch.Tensor, Km: torch.Tensor, buffer: torch.Tensor | None) -> bool:
    """Whether :func:`topk` computes its score blocks with NumPy's matrix product."""
    return (
        buffer is not None
        and Km.device.type == "cpu"
        and Km.dtype in (torch.float32, torch.float64)
        and Qm.shape[0] * Km.shape[0] * Km.shape[1] >= _NUMPY_MIN_WORK
        and _blas_threads() is not None
    )


def _check_finite(t: torch.Tensor, name: str, extent: float | None = None) -> float:
    """Refuse NaN and ±inf in ``t`` (naming the rows); returns max |entry|. One pass over ``t``
    (see :func:`_extent`); only a failing input pays for the per-row scan that names the rows."""
    extent = _extent(t) if extent is None else extent
    if math.isfinite(extent):
        return extent
    bad = ~torch.isfinite(t).all(-1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).reshape(-1).tolist()
        raise ValueError(
            f"{name} contains NaN or infinite values (rows {rows[:5]}{' ...' if len(rows) > 5 else ''}); "
            "they have no place in a ranking"
        )
    return extent


def topk(
    queries,
    keys,
    k: int,
    *,
    metric: Metric = "cosine",
    exclude_self: bool = False,
    zero: ZeroPolicy = "raise",
    batch_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k-nearest neighbours of each query among the rows of ``keys``.

    queries: (q, d) or (d,), keys: (n, d)  ->  (scores, indices), each (q, k) or (k,).
    Higher scores are nearer for ``"dot"`` and ``"cosine"``; for ``"euclidean"`` the scores are
    distances and the smallest come first, as accurate as :func:`pairwise_euclidean`'s (close
    points far from the origin included; duplicates are exactly 0 apart), and the neighbours are
    the true nearest ones, checked against a bound on the rounding error. Scores have the inputs'
    dtype; float16 and bfloat16 are ranked in float32. This is the one exact k-NN of the package:
    :func:`embedlab.geometry.knn_indices` calls it.

    Of keys with equal scores the lower id comes first, also where the tie straddles the
    ``k``-th place (a stable sort's answer).

    Queries are processed ``batch_size`` rows at a time, so only a ``(batch_size, n)`` block of
    scores exists at once (one buffer, reused by every block); the default sizes the block from
    the cache (:func:`_block_rows`) with at most 32M scores, which lets ``n`` run to millions.
    Inputs are checked for NaN and ±inf once, not once per block of scores.

    On the CPU, the float32 and float64 score blocks of a large search (q·n·d >= 2**24) come from
    NumPy's matrix product (OpenBLAS), written straight into the buffer that torch then ranks (the
    two share its memory): it runs faster than torch's CPU product (measured on one core: 15 % at
    d = 128 and 768, 50 % at d = 50), which is most of an exact search's time. Its threads follow
    ``torch.get_num_threads()`` for the length of the call (threadpoolctl; without it, torch's
    product is used). The two products round in different
    orders, so a score can differ in the last bit between the paths; every promise above holds.

    Args:
        exclude_self: drop index ``i`` from query ``i``'s list (queries are the keys themselves).
        batch_size: query rows per block (default: as many as the level-2 cache holds, at most 2**25 / n).

    Raises:
        ValueError: if ``k`` is not in ``1..n`` (``1..n-1`` with ``exclude_self``), on a bad
            metric or ``batch_size``, on mismatched dimensions, if ``queries`` or ``keys``
            contain NaN or infinite values (which have no rank), or if dot products overflow.
    """
    Q = as_tensor(queries, name="queries")
    single = Q.ndim == 1
    Q = _as_matrix(Q.unsqueeze(0) if single else Q, "queries")
    K = _as_matrix(keys, "keys")
    n = K.shape[0]
    exclude_self = _checks.flag(exclude_self, "exclude_self")
    limit = n - 1 if exclude_self else n
    k = _checks.integer(k, "k", low=1, high=limit)
    _check_zero_policy(zero)
    _checks.choice(metric, "metric", ("dot", "cosine", "euclidean"))
    batch_size = _block_rows(n, K.shape[-1]) if batch_size is None else _checks.integer(batch_size, "batch_size", low=1)
    same = Q is K or (Q.data_ptr(), Q.shape, Q.stride(), Q.dtype) == (K.data_ptr(), K.shape, K.stride(), K.dtype)
    Q, K = _promote(Q, K)
    if same:
        K = Q  # one set searched against itself: prepared once below
    _check_same_dim(Q, K)
    if exclude_self and Q.shape[0] != n:
        raise ValueError("exclude_self needs the queries to be the keys themselves (q == n)")
    # A NaN compares false with everything, so torch.topk would rank it first: refuse instead.
    # Checked once per input, in one pass that also gives the bound on the dot products.
    extent_q = _check_finite(Q, "queries")
    extent_k = extent_q if same else _check_finite(K, "keys")

    out_dtype = Q.dtype
    overflow_possible = False
    if metric == "dot":
        dtype = _dot_dtype(Q, K, extents=(extent_q, extent_k))
        Km = K.to(dtype)
        Qm = Km if same else Q.to(dtype)
        # A product of d terms each at most max|q|·max|k| cannot overflow below this bound, so the
        # scores need no NaN scan (inf - inf) unless the bound passes the dtype's range.
        overflow_possible = not extent_q * extent_k * Q.shape[-1] < torch.finfo(dtype).max
    elif metric == "cosine":
        Km = _unit(K, zero, "keys")  # normalised once, not once per block
        Qm = Km if same else _unit(Q, zero, "queries")
    else:
        prep = _Euclid(Q, K)

    q = Q.shape[0]
    scores = torch.empty(q, k, dtype=out_dtype, device=Q.device)
    idx = torch.empty(q, k, dtype=torch.int64, device=Q.device)
    buffer = None
    if metric != "euclidean" and not (Qm.requires_grad or Km.requires_grad):
        # One score block, written in place by every block of queries: a fresh (b, n) block per
        # batch costs page faults on every first touch (the allocator hands large blocks back).
        shape = (min(q, int(batch_size)), n)
        if shape[0] * n >= 1 << 20 and Km.device.type == "cpu" and Km.dtype in (torch.float32, torch.float64):
            # NumPy asks Linux for huge pages for large arrays (madvise), torch does not: first
            # touching 128 MB of scores costs 15 ms instead of 80 (measured, one core). Small
            # blocks come faster from torch's allocator, whose memory is often already mapped.
            buffer = torch.from_numpy(np.empty(shape, dtype=np.float32 if Km.dtype == torch.float32 else np.float64))
        else:
            buffer = torch.empty(shape, dtype=Km.dtype, device=Km.device)
    with contextlib.ExitStack() as stack:
        product = None  # (queries, keys.T, buffer) as NumPy arrays, where NumPy computes the scores
        if metric != "euclidean" and not overflow_possible and _numpy_product(Qm, Km, buffer):
            stack.enter_context(_blas_threads().limit(limits=torch.get_num_threads()))
            Kn = Km.resolve_neg().contiguous().numpy()  # (n, d); BLAS reads its transpose as it is
            Qn = Kn if Qm is Km else Qm.resolve_neg().contiguous().numpy()  # (q, d)
            product = (Qn, Kn.T, buffer.numpy())  # type: ignore[union-attr]
        for start in range(0, q, int(batch_size)):
            stop = min(start + int(batch_size), q)
            if metric == "euclidean":
                sq, top = prep.nearest(start, stop, k, exclude_self)  # (b, k) each, nearest first
                scores[start:stop] = (sq.sqrt() * prep.scale).to(out_dtype)
            else:
                if product is not None:
                    np.matmul(product[0][start:stop], product[1], out=product[2][: stop - start])
                    S = buffer[: stop - start]  # type: ignore[index]  # the same memory, as a tensor
                elif buffer is None:
                    S = Qm[start:stop] @ Km.T  # (b, n) similarities: largest first
                else:
                    S = torch.matmul(Qm[start:stop], Km.T, out=buffer[: stop - start])
                if overflow_possible and bool(torch.isnan(S).any()):
                    raise ValueError("dot products of queries and keys overflow (inf - inf = NaN); rescale them")
                if exclude_self:
                    rows = torch.arange(stop - start, device=Q.device)
                    S[rows, rows + start] = -float("inf")
                # ties: the lower key id first, also at the k-th place (_rows.topk's answer)
                best, top = _wide_topk(S, k)
                if metric == "cosine":
                    best = best.clamp(-1.0, 1.0)
                scores[start:stop] = best.to(out_dtype)
            idx[start:stop] = top
    if single:
        return scores[0], idx[0]
    return scores, idx
