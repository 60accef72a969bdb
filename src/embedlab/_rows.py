"""Row-wise primitives, one implementation each for both array worlds (private).

* :func:`softmax` / :func:`log_softmax` over the last axis of scores;
* :func:`unit_rows`: rows scaled to unit length, finite at any scale, with the zero-row policy;
* :func:`topk`: the ``k`` largest entries of each row with **one tie rule: the lower index first**
  (also at the boundary of the selection: of entries tied with the ``k``-th, the lowest ids get in);
  :func:`wide_topk` gives the same answer for wide score matrices (exact search) in a few passes;
* :func:`overlap`: the mean share of entries two (n, k) lists of ids have in common per row.

Each takes a NumPy array or a tensor and answers in the same world: NumPy input is wrapped as a
tensor without a copy, computed by the same torch code and returned as NumPy. So the NumPy and
torch answers are the same numbers, not two implementations that agree to rounding.
"""

from __future__ import annotations

import math
from typing import Literal, TypeVar

import numpy as np
import torch

from embedlab._checks import ArgumentError, ids, integer

__all__ = ["softmax", "log_softmax", "unit_rows", "row_norm", "compute_dtype", "topk", "overlap", "rescaled"]

A = TypeVar("A", np.ndarray, torch.Tensor)
ZeroPolicy = Literal["raise", "zero"]


def _torch(x: np.ndarray | torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return x, False
    a = np.asarray(x)
    if a.dtype.kind not in "iuf":
        raise ArgumentError(f"{name} must be an array of real numbers, got dtype {a.dtype}")
    # not np.ascontiguousarray: it turns a 0-d array into a 1-d one (so a scalar passed for a row)
    if not a.flags.c_contiguous:  # a reversed or strided view: torch.from_numpy refuses negative strides
        a = a.copy()
    return torch.from_numpy(a), True


def _back(t: torch.Tensor, was_numpy: bool):
    return t.detach().cpu().numpy() if was_numpy else t


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float16 and bfloat16 compute in float32 (a squared 256 overflows float16; bfloat16 has 8
    bits, too few to accumulate a sum); integers in the default float dtype; others as they are."""
    if dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    if not dtype.is_floating_point:
        return torch.get_default_dtype()
    return dtype


def _scores(x: np.ndarray | torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    t, was_numpy = _torch(x, name)
    if t.dtype == torch.bool or t.is_complex():
        raise ArgumentError(f"{name} must be real numbers, got dtype {t.dtype}")
    if t.ndim == 0 or t.shape[-1] == 0:
        raise ArgumentError(f"{name} must have a non-empty last axis, got shape {tuple(t.shape)}")
    return t, was_numpy


def _float_input(t: torch.Tensor, was_numpy: bool) -> torch.Tensor:
    """``t`` in its compute dtype; NumPy integers in float64 (the NumPy world's float), not torch's default."""
    if was_numpy and not t.is_floating_point():
        return t.to(torch.float64)
    return t.to(compute_dtype(t.dtype))


def _softmax_input(x, name: str) -> tuple[torch.Tensor, bool, torch.dtype]:
    t, was_numpy = _scores(x, name)
    z = _float_input(t, was_numpy)
    out = t.dtype if t.is_floating_point() else z.dtype
    if bool(torch.isnan(z).any()):
        raise ArgumentError(f"{name} contains NaN")
    if bool(torch.isposinf(z).any()):
        # exp(inf - inf) is NaN: +inf is not a score a distribution can be made of
        raise ArgumentError(f"{name} contains +inf; a probability needs finite scores (-inf masks an entry)")
    if bool(torch.isneginf(z).all(-1).any()):
        raise ArgumentError(f"{name} has a row where every score is -inf: nothing is left to be probable")
    return z, was_numpy, out


def softmax(scores: A, *, name: str = "scores") -> A:
    """``exp(z) / Σ exp(z)`` over the last axis: (..., n) -> (..., n), in the input's world and
    float dtype (float16/bfloat16 are computed in float32 and cast back). ``-inf`` gives 0;
    NaN, ``+inf`` and a row of only ``-inf`` are refused by ``name``."""
    z, was_numpy, out = _softmax_input(scores, name)
    return _back(torch.softmax(z, dim=-1).to(out), was_numpy)


def log_softmax(scores: A, *, name: str = "scores") -> A:
    """``z - logsumexp(z)`` over the last axis, stably (no ``log(0)`` from an underflowed exp)."""
    z, was_numpy, out = _softmax_input(scores, name)
    return _back(torch.log_softmax(z, dim=-1).to(out), was_numpy)


def row_norm(x: torch.Tensor) -> torch.Tensor:
    """‖x‖ along the last dimension without overflow or underflow: x: (..., d) -> (..., 1).

    Squaring 1e30 overflows float32 and squaring 1e-30 underflows it, so scale each row by its
    largest |entry| m first: ‖x‖ = m·‖x/m‖ with ‖x/m‖ in [1, √d]. Zero rows give 0.
    """
    m = x.detach().abs().amax(-1, keepdim=True)  # (..., 1); detached: ‖x‖ does not depend on m
    m = torch.where(m > 0, m, torch.ones_like(m))
    return m * torch.linalg.vector_norm(x / m, dim=-1, keepdim=True)


def unit_rows(x: A, *, zero: ZeroPolicy = "raise", name: str = "x") -> A:
    """Rows of ``x`` scaled to unit length: (..., d) -> (..., d), in the compute dtype.

    Only rows that are exactly zero count as zero vectors; they raise (naming ``name`` and the
    rows) or, with ``zero="zero"``, stay zero. Differentiable (the gradient is that of x/‖x‖) and
    finite at any scale: 1e-300 and 1e300 rows come out as unit rows.
    """
    if zero not in ("raise", "zero"):
        raise ArgumentError(f"zero must be 'raise' or 'zero', got {zero!r}")
    t, was_numpy = _scores(x, name)
    t = _float_input(t, was_numpy)
    m = t.detach().abs().amax(-1, keepdim=True)  # (..., 1) the row's largest |entry|
    if not bool(torch.isfinite(m).all()):
        raise ArgumentError(f"{name} contains NaN or infinite values: such a row has no direction")
    is_zero = m == 0
    if zero == "raise" and bool(is_zero.any()):
        idx = torch.nonzero(is_zero.squeeze(-1), as_tuple=False).tolist()
        where = f" at index {idx[:5]}" if t.ndim > 1 else ""
        raise ArgumentError(
            f"{name} has a zero row{where}: a zero vector has no direction (cosine is undefined). "
            "Pass zero='zero' to treat it as orthogonal to everything (cosine 0)."
        )
    # Dividing by m first puts every entry in [-1, 1] with one of them at ±1, so ‖y‖ lies in
    # [1, √d]: neither 1e30 (whose square overflows float32) nor 1e-30 (whose square underflows to
    # 0) can spoil the norm. m is detached because y/‖y‖ does not depend on it.
    y = t / torch.where(is_zero, torch.ones_like(m), m)
    n = torch.linalg.vector_norm(y, dim=-1, keepdim=True)  # (..., 1)
    return _back(y / torch.where(is_zero, torch.ones_like(n), n), was_numpy)


def topk(scores: A, k: int, *, largest: bool = True, name: str = "scores", nan_checked: bool = False
         ) -> tuple[A, A]:
    """The ``k`` best entries of each row: scores (..., n) -> (values, indices), each (..., k).

    Best is largest (``largest=False``: smallest, for distances). **Ties go to the lower index**,
    inside the list and at its boundary, so the answer never depends on the sort kernel, the
    CPU or the chunking. NaN is refused (it compares false with everything, so its rank would be
    an accident); ±inf rank like any other value. Indices are int64; values keep the dtype.
    ``nan_checked=True`` skips the NaN scan, for a caller that has ruled NaN out (an exact
    search checks its inputs once, not every block of scores).
    """
    t: torch.Tensor
    t, was_numpy = _scores(scores, name)
    lead: tuple[int, ...] = tuple(t.shape[:-1])
    n = t.shape[-1]
    k = integer(k, "k", low=1, high=n)
    if not nan_checked and t.is_floating_point() and bool(torch.isnan(t).any()):
        raise ArgumentError(f"{name} contains NaN; NaN has no place in a ranking")
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()  # exact; some CPU kernels have no half-precision sort
    flat = t.reshape(-1, n)
    # One pass: take k + 1. Where the (k+1)-th differs from the k-th, every copy of the k-th
    # value is in the list, so the set is settled and only its order (by value, then id) is left.
    # Where they tie, the tie is cut at the boundary and which copies got in depends on the
    # kernel: those rows are redone with a stable sort, which keeps equal entries in index order.
    vals, idx = torch.topk(flat, min(n, k + 1), dim=-1, largest=largest, sorted=True)  # ties in any order
    if vals.shape[-1] > k:
        cut = torch.nonzero(vals[:, k] == vals[:, k - 1]).reshape(-1)
        vals, idx = vals[:, :k].contiguous(), idx[:, :k].contiguous()
        if cut.numel():
            sv, si = torch.sort(flat[cut], dim=-1, descending=largest, stable=True)
            vals[cut], idx[cut] = sv[:, :k], si[:, :k]
    # Inside the list: order by (value, index) — ascending ids first, then a stable sort by value.
    idx, by_id = idx.sort(dim=-1)
    vals = vals.gather(-1, by_id)
    vals, by_value = vals.sort(dim=-1, descending=largest, stable=True)
    idx = idx.gather(-1, by_value)
    shape = (*lead, k)
    out_vals = vals.reshape(shape).to(scores.dtype if isinstance(scores, torch.Tensor) else vals.dtype)
    return _back(out_vals, was_numpy), _back(idx.reshape(shape), was_numpy)


def wide_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`topk` (largest first, the same tie rule, the same answer) of a wide 2-D float
    matrix (b, n) with no NaN, such as an exact search's scores, at a fraction of the cost.

    A full selection over n scores costs about 1.5 ns a score on one core. Cut each row into
    chunks of ``c ≈ √(n/k)`` scores: the k-th largest chunk maximum is k distinct scores' smallest,
    so it is at most the row's k-th largest score, and every score that can be in the answer (ties
    with the k-th included) lies in a chunk whose maximum reaches it. Those chunks, kept in id order
    (so that position order is id order and the tie rule holds), are about k·c scores; a plain
    max over the chunks and a selection among those few replace the selection among n.
    """
    b, n = scores.shape
    c = max(16, int(math.sqrt(n / k)))
    chunks = n // c
    if chunks <= k + 1:
        return topk(scores, k, nan_checked=True)
    body = scores[:, : chunks * c].reshape(b, chunks, c)  # a view for a contiguous block of rows
    top = body.amax(2)  # (b, chunks) each chunk's maximum
    bound = torch.topk(top, k, dim=1, sorted=False).values.amin(1, keepdim=True)  # (b, 1) <= k-th best
    m = int((top >= bound).sum(1).max())  # chunks that may hold an answer, in the widest row
    which = torch.topk(top, m, dim=1, sorted=False).indices.sort(dim=1).values  # (b, m) in id order
    cand = body.gather(1, which[:, :, None].expand(b, m, c)).reshape(b, m * c)
    ids = (which[:, :, None] * c + torch.arange(c, device=scores.device)).reshape(b, m * c)
    if chunks * c < n:  # the ragged tail: always a candidate, after every chunk (its ids are the largest)
        cand = torch.cat([cand, scores[:, chunks * c :]], 1)
        ids = torch.cat([ids, torch.arange(chunks * c, n, device=scores.device).expand(b, -1)], 1)
    values, j = topk(cand, k, nan_checked=True)
    return values, ids.gather(1, j)


def overlap(a, b, *, name_a: str = "a", name_b: str = "b") -> np.ndarray:
    """Per row, the share of ``a``'s ids that also appear in ``b``'s: (n, k) and (n, m) -> (n,).

    Order inside a row is ignored; each id of ``a`` counts once per occurrence, so rows should
    hold distinct ids (as top-k lists do). Returned as float64 NumPy.
    """
    A, B = (torch.from_numpy(ids(x, nm, ndim=2)) for x, nm in ((a, name_a), (b, name_b)))
    if A.shape[0] != B.shape[0]:
        raise ArgumentError(f"{name_a} and {name_b} must have the same number of rows, got {A.shape[0]} "
                            f"and {B.shape[0]}")
    # (n, k, 1) == (n, 1, m): entry i of a's row appears somewhere in b's row.
    shared = (A[:, :, None] == B[:, None, :]).any(-1).sum(-1)
    return (shared.double() / A.shape[1]).numpy()


def rescaled(*arrays: np.ndarray) -> tuple[tuple[np.ndarray, ...], int]:
    """The arrays divided by one common power of two, ``2**e``, so that their largest |entry| lies in
    [0.5, 1); returns ``(arrays, e)`` (multiply a result by ``2**e``, ``np.ldexp(r, e)``, to undo).

    For the scale-invariant NumPy estimators (k-means, nearest centroid, k-NN, standardised
    probes): squared distances of 1e-200 rows underflow to 0 and of 1e200 rows overflow to inf,
    while the rescaled rows give the same answer as rows of moderate size. Only the exponent
    changes, so the rescaling is exact (ties and ratios are kept bit for bit) unless an entry is
    tinier than 2**-1022 times the largest. All-zero or non-finite input is returned unchanged
    with ``e = 0``.
    """
    m = max((float(np.abs(a).max()) for a in arrays if a.size), default=0.0)
    if m == 0 or not np.isfinite(m):
        return arrays, 0
    e = math.frexp(m)[1]  # m = f · 2**e with f in [0.5, 1)
    return tuple(np.ldexp(a, -e) for a in arrays), e
