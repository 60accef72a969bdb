"""Scaled dot-product attention written out, masks and a multi-head module.

Taught in chapter 5 ("Attention as a soft lookup"). Chapter 6 builds its transformer on
``torch.nn.functional.scaled_dot_product_attention``; this module is the readable version that
the tests check against it (and against ``torch.nn.MultiheadAttention``).

Shapes (the conventions of ``F.scaled_dot_product_attention``):

* ``q: (..., T, d)`` queries, ``k: (..., S, d)`` keys, ``v: (..., S, dv)`` values, with the same
  leading dimensions, usually ``(B, H)`` (batch, heads);
* ``mask``: a **boolean** tensor broadcastable to ``(..., T, S)`` where ``True`` means *keep*
  (query ``i`` may attend to key ``j``), as in ``F.scaled_dot_product_attention``'s ``attn_mask``.
  Beware: ``nn.MultiheadAttention``'s boolean ``attn_mask`` and ``key_padding_mask`` use the
  opposite convention (``True`` means *blocked*);
* ``causal=True`` keeps key ``j`` for query ``i`` only when ``j <= i`` (top-left aligned when
  ``T != S``, like torch's ``is_causal``); it combines with ``mask`` by logical *and*.

**Fully-masked rows.** A query that may attend to no key has no distribution to normalise. We
return all-zero weights for that row and therefore a zero output (never NaN, also in the
backward pass). Recent PyTorch does the same in ``F.scaled_dot_product_attention`` on the CPU
(checked with torch 2.13; older versions returned NaN); the tests check both. Such a row sums to
0, not 1; ``embedlab.probability.entropy(w, zero="zero")`` gives it entropy 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from embedlab import _checks
from embedlab._checks import ArgumentError

__all__ = [
    "causal_mask",
    "padding_mask",
    "attention_weights",
    "scaled_dot_product_attention",
    "AttentionConfig",
    "MultiHeadAttention",
]


def causal_mask(T: int, S: int | None = None, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``(T, S)`` mask, ``True`` where key ``j <= i`` (a query sees itself and the past).

    ``S`` defaults to ``T``. Top-left aligned, like ``torch.ones(T, S).tril()``, which is what
    ``F.scaled_dot_product_attention(..., is_causal=True)`` uses.
    """
    T = _checks.integer(T, "T", low=1)
    S = T if S is None else _checks.integer(S, "S", low=1)
    return torch.ones(T, S, dtype=torch.bool, device=device).tril()


def padding_mask(lengths, S: int) -> torch.Tensor:
    """Boolean ``(B, 1, 1, S)`` mask that keeps the first ``lengths[b]`` keys of sequence ``b``.

    lengths: (B,) integers in ``0..S``. The two singleton dimensions broadcast over heads and
    queries. A length of 0 makes every row of that sequence fully masked (see the module notes).
    """
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or lengths.numel() == 0:
        raise ArgumentError(f"lengths must be a non-empty 1-D sequence, got shape {tuple(lengths.shape)}")
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise ArgumentError(f"lengths must be integers, got dtype {lengths.dtype}")
    S = _checks.integer(S, "S", low=1)
    if bool((lengths < 0).any()) or bool((lengths > S).any()):
        raise ArgumentError(f"lengths must lie in 0..{S}, got {lengths.tolist()}")
    keep = torch.arange(S, device=lengths.device)[None, :] < lengths[:, None]  # (B, S)
    return keep[:, None, None, :]


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor | None) -> None:
    """q: (..., T, d), k: (..., S, d), v: (..., S, dv): non-empty tensors of one float dtype
    (float16, bfloat16, float32 or float64) with the same leading dimensions."""
    named = {"q": q, "k": k} if v is None else {"q": q, "k": k, "v": v}
    for name, t in named.items():
        if not isinstance(t, torch.Tensor) or t.ndim < 2 or 0 in t.shape:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ArgumentError(f"{name} must be a non-empty tensor of shape (..., length, dim), got {got}")
        _checks.check_float_dtype(t.dtype, name)
    shapes = ", ".join(f"{n}: {tuple(t.shape)}" for n, t in named.items())
    if len({t.dtype for t in named.values()}) > 1:
        dtypes = ", ".join(f"{n}: {t.dtype}" for n, t in named.items())
        raise ArgumentError(f"q, k and v must share a dtype, got {dtypes}")
    if q.shape[-1] != k.shape[-1]:
        raise ArgumentError(f"queries and keys must have the same dimension d (the last one); got {shapes}")
    if any(t.shape[:-2] != k.shape[:-2] for t in named.values()):
        raise ArgumentError(f"q, k and v must share their leading (batch, head) dimensions; got {shapes}")
    if v is not None and v.shape[-2] != k.shape[-2]:
        raise ArgumentError(f"keys and values must come in pairs (the same S); got {shapes}")


def _keep_mask(scores: torch.Tensor, mask: torch.Tensor | None, causal: bool) -> torch.Tensor | None:
    """The boolean keep-mask broadcast to ``scores``' shape ``(..., T, S)``, or None if all kept."""
    T, S = scores.shape[-2:]
    keep = None
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ArgumentError(
                f"mask must be a boolean tensor (True = may attend), got {got}; "
                "for an additive float mask add it to the scores yourself"
            )
        try:
            shape = torch.broadcast_shapes(mask.shape, scores.shape)
        except RuntimeError:
            shape = None
        if shape != scores.shape:
            raise ArgumentError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
                f"{tuple(scores.shape)} (..., T={T}, S={S})"
            )
        keep = mask.to(scores.device).expand(scores.shape)
    if causal:
        tri = causal_mask(T, S, device=scores.device)
        keep = tri.expand(scores.shape) if keep is None else keep & tri
    return keep


def _weights(
    q: torch.Tensor,
    k: torch.Tensor,
    mask: torch.Tensor | None,
    causal: bool,
    scale: float | None,
) -> torch.Tensor:
    """Attention weights (..., T, S) in the compute dtype: float32 for float16 and bfloat16 inputs."""
    causal = _checks.flag(causal, "causal")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else _checks.number(scale, "scale", low=0, low_open=True)
    # float16 overflows at 65504: entries of 100 in d = 64 already give q·k = 640000 = inf, and
    # softmax then gives NaN. Compute float16 and bfloat16 in float32 (the softmax too), and scale q
    # *before* the product, so that the scores never exceed their final, scaled size.
    if q.dtype in (torch.float16, torch.bfloat16):
        q, k = q.float(), k.float()
    scores = (q * float(scale)) @ k.transpose(-2, -1)  # (..., T, S): one similarity per (query, key)
    if not bool(torch.isfinite(scores).all()) and bool(torch.isfinite(q).all()) and bool(torch.isfinite(k).all()):
        # finite q and k whose products overflow float32 (entries of 1e30): inf - inf would be NaN
        # in the softmax. float64 holds the square of float32's largest number (MPS has no float64).
        if q.dtype == torch.float64 or q.device.type == "mps":
            raise ArgumentError(f"q·kᵀ·scale overflows {q.dtype}: rescale q or k (or pass a smaller scale)")
        scores = (q.double() * float(scale)) @ k.double().transpose(-2, -1)
    keep = _keep_mask(scores, mask, causal)
    if keep is None:
        return scores.softmax(dim=-1)
    any_key = keep.any(dim=-1, keepdim=True)  # (..., T, 1)
    scores = scores.masked_fill(~keep, float("-inf"))
    # A row with no key left would be softmax([-inf, ...]) = NaN. Give it finite scores, then zero
    # its weights, so that neither the forward nor the backward pass ever sees a NaN.
    scores = scores.masked_fill(~any_key, 0.0)
    return scores.softmax(dim=-1) * any_key


def attention_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """Attention weights ``softmax(q kᵀ · scale)`` over the keys, with masks applied.

    q: (..., T, d), k: (..., S, d)  ->  (..., T, S) in q's dtype; each row is a probability
    distribution over the S keys (or all zeros for a fully-masked row). ``scale`` defaults to
    ``1/√d``. float16 and bfloat16 are computed in float32, so large q and k do not overflow.
    """
    _check_qkv(q, k, None)
    return _weights(q, k, mask, causal, scale).to(q.dtype)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    causal: bool = False,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft lookup: each query's output is the weighted mean of the values, weights from the keys.

    q: (..., T, d), k: (..., S, d), v: (..., S, dv)  ->  (out: (..., T, dv), weights: (..., T, S)).
    ``out`` equals ``F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
    scale=scale)`` (torch does not accept a mask and ``is_causal`` together; we combine them).
    float16 and bfloat16 are computed in float32 and cast back: the answer torch gives in float32,
    also where q·kᵀ itself would overflow float16.

    Raises:
        ValueError: on mismatched shapes or dtypes, an empty input, a non-boolean or
            non-broadcastable mask, or a non-positive scale.
    """
    _check_qkv(q, k, v)
    weights = _weights(q, k, mask, causal, scale)  # (..., T, S), float32 for half inputs
    out = weights @ v.to(weights.dtype)  # (..., T, dv)
    return out.to(v.dtype), weights.to(q.dtype)


@dataclass
class AttentionConfig:
    """Shape of a :class:`MultiHeadAttention` block."""

    n_embd: int = 64  # C: model width, split evenly across heads
    n_head: int = 4  # H
    bias: bool = True  # biases in the QKV and output projections (nn.MultiheadAttention has them)

    def __post_init__(self) -> None:
        self.n_embd = _checks.integer(self.n_embd, "n_embd", low=1)
        self.n_head = _checks.integer(self.n_head, "n_head", low=1)
        self.bias = _checks.flag(self.bias, "bias")
        if self.n_embd % self.n_head:
            raise ArgumentError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")


class MultiHeadAttention(nn.Module):
    """Multi-head attention with one combined QKV projection and an output projection.

    forward(x: (B, T, C), context: (B, S, C) | None, mask, causal) -> (y: (B, T, C),
    weights: (B, H, T, S)). Queries come from ``x``; keys and values from ``context`` (``x`` itself
    when omitted: self-attention). ``mask`` follows :func:`scaled_dot_product_attention` (True =
    keep), broadcastable to ``(B, H, T, S)``; use :func:`padding_mask` for padded keys.

    The parameters are laid out as in ``nn.MultiheadAttention`` (``qkv.weight`` is its
    ``in_proj_weight``, rows ``[W_q; W_k; W_v]``), so :meth:`load_from_torch` copies one exactly.
    """

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__()
        self.config = config
        C = config.n_embd
        self.n_head = config.n_head
        self.head_dim = C // config.n_head
        self.qkv = nn.Linear(C, 3 * C, bias=config.bias)  # [W_q; W_k; W_v] in one matrix product
        self.proj = nn.Linear(C, C, bias=config.bias)  # mixes the heads back together

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        B, L, C = t.shape
        return t.view(B, L, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, L, hd)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        *,
        causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        C = self.config.n_embd
        for name, t in (("x", x), ("context", context)):
            if t is not None and (not isinstance(t, torch.Tensor) or t.ndim != 3 or t.shape[-1] != C):
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ArgumentError(f"{name} must be a tensor of shape (B, L, C={C}), got {got}")
        if context is None:
            q, k, v = self.qkv(x).split(C, dim=-1)  # self-attention: one matmul gives all three
        else:
            if context.shape[0] != x.shape[0]:
                raise ArgumentError(f"x and context batch sizes differ: {x.shape[0]} vs {context.shape[0]}")
            w_q, w_kv = self.qkv.weight.split([C, 2 * C])
            b_q, b_kv = (None, None) if self.qkv.bias is None else self.qkv.bias.split([C, 2 * C])
            q = F.linear(x, w_q, b_q)
            k, v = F.linear(context, w_kv, b_kv).split(C, dim=-1)
        y, weights = scaled_dot_product_attention(
            self._heads(q), self._heads(k), self._heads(v), mask, causal=causal
        )  # y: (B, H, T, hd)
        B, H, T, hd = y.shape
        y = y.transpose(1, 2).reshape(B, T, C)  # concatenate the heads
        return self.proj(y), weights

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` with the same shape.

        ``batch_first`` does not matter for the weights; this module always takes ``(B, T, C)``,
        so give a ``batch_first=False`` module ``x.transpose(0, 1)`` when comparing the two.

        Raises:
            ValueError: if the shapes or bias settings differ, or the torch module uses an option
                this module does not have and would silently drop: separate key/value sizes
                (``kdim``/``vdim``), ``add_bias_kv``, ``add_zero_attn`` or attention ``dropout``
                (set ``mha.dropout = 0.0`` first to load it for inference).
        """
        C = self.config.n_embd
        if not isinstance(mha, nn.MultiheadAttention):
            raise ValueError(f"mha must be a torch.nn.MultiheadAttention, got {type(mha).__name__}")
        if mha.embed_dim != C or mha.num_heads != self.n_head:
            raise ValueError(
                f"shape mismatch: this module has C={C}, H={self.n_head}; "
                f"the torch module has C={mha.embed_dim}, H={mha.num_heads}"
            )
        if not mha._qkv_same_embed_dim or mha.in_proj_weight is None:
            raise ValueError(
                f"the torch module has separate key/value sizes (kdim={mha.kdim}, vdim={mha.vdim}, "
                f"embed_dim={mha.embed_dim}); this module projects keys and values from width C only"
            )
        if mha.bias_k is not None or mha.bias_v is not None:
            raise ValueError("the torch module uses add_bias_kv=True (a learned extra key and value); not supported")
        if mha.add_zero_attn:
            raise ValueError("the torch module uses add_zero_attn=True (an all-zero extra key and value); unsupported")
        if mha.dropout != 0:
            raise ValueError(
                f"the torch module has attention dropout={mha.dropout}, which this module does not have; "
                "set mha.dropout = 0.0 first to load it for inference"
            )
        if (mha.in_proj_bias is not None) != self.config.bias or (mha.out_proj.bias is not None) != self.config.bias:
            raise ValueError(
                f"bias settings differ: this module has bias={self.config.bias}, "
                f"the torch module bias={mha.in_proj_bias is not None}"
            )
        self.qkv.weight.copy_(mha.in_proj_weight)
        self.proj.weight.copy_(mha.out_proj.weight)
        if self.config.bias:
            self.qkv.bias.copy_(mha.in_proj_bias)
            self.proj.bias.copy_(mha.out_proj.bias)
        return self
