"""Tests of embedlab.attention against torch's references (chapter 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from embedlab.attention import (
    AttentionConfig,
    MultiHeadAttention,
    attention_weights,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from embedlab.exercises import check
from embedlab.probability import entropy

F64 = torch.float64


def _qkv(B=2, H=3, T=5, S=7, d=8, dv=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, d, generator=g, dtype=F64)
    k = torch.randn(B, H, S, d, generator=g, dtype=F64)
    v = torch.randn(B, H, S, dv, generator=g, dtype=F64)
    return q, k, v


def test_matches_torch_without_mask():
    q, k, v = _qkv()
    out, w = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5, dtype=F64))
    # the weights are the softmax of the scaled scores, written independently
    ref = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
    torch.testing.assert_close(w, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("T,S", [(6, 6), (4, 7), (7, 4)])
def test_matches_torch_causal(T, S):
    q, k, v = _qkv(T=T, S=S, seed=1)
    out, w = scaled_dot_product_attention(q, k, v, causal=True)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    # no weight on the future
    future = ~torch.ones(T, S, dtype=torch.bool).tril()
    assert torch.all(w[..., future] == 0)


def test_matches_torch_padding_mask():
    q, k, v = _qkv(B=3, S=6, seed=2)
    mask = padding_mask([6, 3, 1], 6)
    assert mask.shape == (3, 1, 1, 6)
    out, w = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-12, atol=1e-12)
    assert torch.all(w[1, ..., 3:] == 0) and torch.all(w[2, ..., 1:] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))


@pytest.mark.parametrize("seed", range(5))
def test_matches_torch_random_boolean_masks(seed):
    q, k, v = _qkv(seed=10 + seed)
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(2, 1, 5, 7, generator=g) < 0.6  # broadcast over heads
    mask[..., 0] = True  # at least one key per row here; fully-masked rows are tested below
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-12, atol=1e-12)


def test_mask_and_causal_combine():
    q, k, v = _qkv(T=6, S=6, seed=3)
    g = torch.Generator().manual_seed(3)
    mask = torch.rand(6, 6, generator=g) < 0.7
    mask.fill_diagonal_(True)
    both = mask & causal_mask(6)
    out, _ = scaled_dot_product_attention(q, k, v, mask, causal=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=both), rtol=1e-12, atol=1e-12)


def test_fully_masked_row_gives_zeros_like_torch_and_no_nan_gradient():
    q, k, v = _qkv(seed=4)
    q.requires_grad_(True)
    mask = torch.ones(5, 7, dtype=torch.bool)
    mask[2] = False  # query 2 may attend to nothing
    out, w = scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(w[..., 2, :] == 0) and torch.all(out[..., 2, :] == 0)
    torch.testing.assert_close(w[..., [0, 1, 3, 4], :].sum(-1), torch.ones(2, 3, 4, dtype=F64))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-12, atol=1e-12)
    assert torch.all(entropy(w, zero="zero")[..., 2] == 0)  # no distribution, no uncertainty
    out.sum().backward()
    assert torch.isfinite(q.grad).all()
    # a sequence of length 0 is fully masked everywhere
    out0, _ = scaled_dot_product_attention(q.detach(), k, v, padding_mask([0, 7], 7))
    assert torch.all(out0[0] == 0) and torch.all(out0[1] != 0)


def test_custom_scale_matches_torch():
    q, k, v = _qkv(seed=5)
    out, _ = scaled_dot_product_attention(q, k, v, scale=1.0)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=1.0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "shapes, match",
    [
        (((2, 3, 5, 8), (2, 3, 7, 6), (2, 3, 7, 4)), "same dimension d"),
        (((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 6, 4)), "pairs"),
        (((2, 3, 5, 8), (2, 2, 7, 8), (2, 2, 7, 4)), "leading"),
        (((2, 3, 0, 8), (2, 3, 7, 8), (2, 3, 7, 4)), "empty"),
        (((8,), (7, 8), (7, 4)), "shape"),
    ],
)
def test_shape_errors(shapes, match):
    q, k, v = (torch.zeros(s, dtype=F64) for s in shapes)
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(q, k, v)


def test_bad_masks_and_scales_and_dtypes():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="boolean"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 7))
    with pytest.raises(ValueError, match="broadcast"):
        scaled_dot_product_attention(q, k, v, torch.ones(7, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="broadcast"):
        scaled_dot_product_attention(q, k, v, torch.ones(1, 2, 3, 5, 7, dtype=torch.bool))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale"):
            scaled_dot_product_attention(q, k, v, scale=bad)
    with pytest.raises(ValueError, match="dtype"):
        scaled_dot_product_attention(q, k.float(), v)
    with pytest.raises(ValueError, match="floating"):
        scaled_dot_product_attention(q.long(), k, v)


def test_mask_helpers():
    torch.testing.assert_close(causal_mask(3, 4), torch.ones(3, 4).tril().bool())
    with pytest.raises(ValueError):
        causal_mask(0)
    with pytest.raises(ValueError, match="0..4"):
        padding_mask([5], 4)
    with pytest.raises(ValueError, match="integers"):
        padding_mask([1.5], 4)
    with pytest.raises(ValueError, match="non-empty"):
        padding_mask([], 4)


def test_scaling_keeps_entropy_and_no_scaling_collapses_it():
    """The chapter's claim about 1/sqrt(d), on fresh samples."""
    g = torch.Generator().manual_seed(7)
    S = 32
    scaled, unscaled = [], []
    for d in (4, 64, 1024):
        q = torch.randn(64, d, generator=g, dtype=F64)
        k = torch.randn(S, d, generator=g, dtype=F64)
        scaled.append(entropy(attention_weights(q, k)).mean().item())
        unscaled.append(entropy(attention_weights(q, k, scale=1.0)).mean().item())
    assert max(scaled) - min(scaled) < 0.15 * math.log(S), scaled
    assert unscaled[-1] < 0.1 * math.log(S) < scaled[-1], unscaled


def test_key_bias_cancels_query_bias_does_not_value_bias_passes():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 10, generator=g, dtype=F64)
    Wq, Wk, Wv = (torch.randn(4, 10, generator=g, dtype=F64) for _ in range(3))
    b = torch.randn(4, generator=g, dtype=F64)
    q, k, v = x @ Wq.T, x @ Wk.T, x @ Wv.T
    out, w = scaled_dot_product_attention(q, k, v)
    _, w_kb = scaled_dot_product_attention(q, k + b, v)
    torch.testing.assert_close(w_kb, w, rtol=1e-12, atol=1e-12)
    _, w_qb = scaled_dot_product_attention(q + b, k, v)
    assert (w_qb - w).abs().max() > 1e-3
    prior = (k @ b) / 2.0  # b_q . k_j / sqrt(d), d = 4
    torch.testing.assert_close(w_qb, torch.softmax(q @ k.T / 2.0 + prior, -1), rtol=1e-12, atol=1e-12)
    out_vb, _ = scaled_dot_product_attention(q, k, v + b)
    torch.testing.assert_close(out_vb, out + b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_multihead_matches_torch_self_attention(bias):
    torch.manual_seed(0)
    C, H = 12, 3
    mha = nn.MultiheadAttention(C, H, bias=bias, batch_first=True).double()
    if bias:  # torch initialises the biases to zero; make them matter
        nn.init.normal_(mha.in_proj_bias)
        nn.init.normal_(mha.out_proj.bias)
    ours = MultiHeadAttention(AttentionConfig(n_embd=C, n_head=H, bias=bias)).double().load_from_torch(mha)
    x = torch.randn(2, 5, C, dtype=F64)
    y, w = ours(x)
    y_ref, w_ref = mha(x, x, x, average_attn_weights=False)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w, w_ref, rtol=1e-10, atol=1e-12)
    # causal: torch's boolean attn_mask means "blocked", the opposite of ours
    keep = causal_mask(5)
    y, w = ours(x, causal=True)
    y_ref, w_ref = mha(x, x, x, attn_mask=~keep, average_attn_weights=False)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w, w_ref, rtol=1e-10, atol=1e-12)


def test_multihead_matches_torch_cross_attention_with_padding():
    torch.manual_seed(1)
    C, H = 8, 2
    mha = nn.MultiheadAttention(C, H, batch_first=True).double()
    nn.init.normal_(mha.in_proj_bias)
    ours = MultiHeadAttention(AttentionConfig(n_embd=C, n_head=H)).double().load_from_torch(mha)
    x, ctx = torch.randn(3, 4, C, dtype=F64), torch.randn(3, 6, C, dtype=F64)
    lengths = torch.tensor([6, 2, 5])
    y, w = ours(x, ctx, padding_mask(lengths, 6))
    key_padding = torch.arange(6)[None, :] >= lengths[:, None]  # torch: True = ignore
    y_ref, w_ref = mha(x, ctx, ctx, key_padding_mask=key_padding, average_attn_weights=False)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w, w_ref, rtol=1e-10, atol=1e-12)


def test_multihead_errors():
    with pytest.raises(ValueError, match="divisible"):
        AttentionConfig(n_embd=10, n_head=3)
    m = MultiHeadAttention(AttentionConfig(n_embd=8, n_head=2))
    with pytest.raises(ValueError, match="shape"):
        m(torch.randn(2, 3, 7))
    with pytest.raises(ValueError, match="batch"):
        m(torch.randn(2, 3, 8), torch.randn(3, 3, 8))
    with pytest.raises(ValueError, match="mismatch"):
        m.load_from_torch(nn.MultiheadAttention(8, 4, batch_first=True))
    with pytest.raises(ValueError, match="bias"):
        m.load_from_torch(nn.MultiheadAttention(8, 2, bias=False, batch_first=True))


def test_exercise_references_pass_their_own_checks():
    from embedlab.checks import ch05

    for ex in ch05.EXERCISES:
        assert check(ex.id, ex.reference, quiet=True), ex.id


def test_exercise_checks_reject_wrong_answers():
    def no_mask(q, k, v):
        return F.scaled_dot_product_attention(q, k, v)

    def future_mask(q, k, v):  # the mask flipped: attends to the future
        T = q.shape[-2]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(T, T, dtype=torch.bool).triu())

    assert not check("ch05.causal_attention", no_mask, quiet=True)
    assert not check("ch05.causal_attention", future_mask, quiet=True)
    assert not check(
        "ch05.padding_mask", lambda lengths, S: torch.ones(len(lengths), 1, 1, S, dtype=torch.bool), quiet=True
    )


# ---- float16 / bfloat16 (each case overflowed before the fix) ---------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [False, True])
def test_half_precision_large_scores_match_torch_in_float32(dtype, causal):
    g = torch.Generator().manual_seed(11)
    # entries around 100 in d = 64: q·k reaches ~1e5 > 65504, so the unscaled product overflowed
    q = (torch.randn(2, 3, 6, 64, generator=g) * 100).to(dtype)
    k = (torch.randn(2, 3, 6, 64, generator=g) * 100).to(dtype)
    v = torch.randn(2, 3, 6, 16, generator=g).to(dtype)
    out, w = scaled_dot_product_attention(q, k, v, causal=causal)
    assert out.dtype == w.dtype == dtype and torch.isfinite(out).all() and torch.isfinite(w).all()
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=causal)
    torch.testing.assert_close(out, ref.to(dtype))
    ref_w = torch.softmax(q.float() @ k.float().transpose(-1, -2) / 8 + torch.where(
        causal_mask(6) if causal else torch.ones(6, 6, dtype=torch.bool), 0.0, -float("inf")), -1)
    torch.testing.assert_close(attention_weights(q, k, causal=causal), ref_w.to(dtype))


def test_half_precision_gradients_are_finite():
    g = torch.Generator().manual_seed(12)
    q = (torch.randn(1, 2, 5, 64, generator=g) * 100).half().requires_grad_(True)
    k = (torch.randn(1, 2, 5, 64, generator=g) * 100).half()
    v = torch.randn(1, 2, 5, 8, generator=g).half()
    out, _ = scaled_dot_product_attention(q, k, v)
    out.float().sum().backward()
    assert q.grad.dtype == torch.float16 and torch.isfinite(q.grad).all()


def test_numpy_numbers_are_accepted():
    q, k, v = _qkv(seed=6)
    out, _ = scaled_dot_product_attention(q, k, v, scale=np.float32(0.5))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.5), rtol=1e-7, atol=1e-7)
    assert torch.equal(causal_mask(np.int64(3), np.int64(4)), causal_mask(3, 4))
    assert torch.equal(padding_mask([1, 2], np.int64(3)), padding_mask([1, 2], 3))
    with pytest.raises(ValueError, match="scale"):
        scaled_dot_product_attention(q, k, v, scale=True)


# ---- load_from_torch refuses what it cannot represent ----------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(add_zero_attn=True), "add_zero_attn"),
        (dict(add_bias_kv=True), "add_bias_kv"),
        (dict(kdim=6), "kdim"),
        (dict(vdim=5), "vdim"),
        (dict(dropout=0.1), "dropout"),
    ],
)
def test_load_from_torch_refuses_options_it_would_drop(kwargs, match):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True, **kwargs)
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(AttentionConfig(n_embd=8, n_head=2)).load_from_torch(mha)
    if "dropout" in kwargs:  # the documented way to load it for inference
        mha.dropout = 0.0
        MultiHeadAttention(AttentionConfig(n_embd=8, n_head=2)).load_from_torch(mha)


def test_add_zero_attn_really_changes_the_output():
    """Why loading add_zero_attn=True must fail: the torch module attends to an extra zero key."""
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True, add_zero_attn=True).double()
    nn.init.normal_(mha.in_proj_bias)
    plain = nn.MultiheadAttention(8, 2, batch_first=True).double()
    plain.load_state_dict(mha.state_dict())
    x = torch.randn(2, 4, 8, dtype=F64)
    assert (mha(x, x, x)[0] - plain(x, x, x)[0]).abs().max() > 1e-3


def test_load_from_torch_batch_first_false_only_changes_the_layout():
    torch.manual_seed(2)
    mha = nn.MultiheadAttention(8, 2, batch_first=False).double()  # (T, B, C) inputs
    nn.init.normal_(mha.in_proj_bias)
    ours = MultiHeadAttention(AttentionConfig(n_embd=8, n_head=2)).double().load_from_torch(mha)
    x = torch.randn(3, 5, 8, dtype=F64)  # (B, T, C)
    y, _ = ours(x)
    xt = x.transpose(0, 1)
    y_ref, _ = mha(xt, xt, xt)
    torch.testing.assert_close(y, y_ref.transpose(0, 1), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="MultiheadAttention"):
        ours.load_from_torch(nn.Linear(8, 8))


def test_switches_counts_and_dtypes_are_checked_by_name():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="causal must be True or False"):
        scaled_dot_product_attention(q, k, v, causal="yes")
    with pytest.raises(ValueError, match="n_embd must be an integer"):
        AttentionConfig(n_embd=64.0)
    with pytest.raises(ValueError, match="T must be an integer"):
        causal_mask(True)
    with pytest.raises(ValueError, match="lengths must be integers"):
        padding_mask([True, False], 2)
    with pytest.raises(ValueError, match="q must hold floating-point numbers"):
        attention_weights(q.long(), k.long())
    qb, kb, vb = (t.to(torch.bfloat16) for t in (q, k, v))
    out, w = scaled_dot_product_attention(qb, kb, vb, causal=True)
    assert out.dtype == w.dtype == torch.bfloat16
    ref, _ = scaled_dot_product_attention(qb.double(), kb.double(), vb.double(), causal=True)
    torch.testing.assert_close(out.double(), ref, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_huge_queries_and_keys_give_the_limit_not_nan(dtype):
    q, k, v = _qkv(seed=3)
    q32, k32 = (t.float() * 1e30 for t in (q, k))  # q·kᵀ overflows float32
    w = attention_weights(q32.to(dtype), k32.to(dtype), causal=True)
    assert w.dtype == dtype and torch.isfinite(w).all()
    ref = attention_weights(q32.double(), k32.double(), causal=True)  # float64 holds it
    torch.testing.assert_close(w.double(), ref, rtol=2e-2, atol=2e-2)
    with pytest.raises(ValueError, match="overflows torch.float64"):
        attention_weights(q * 1e200, k * 1e200)
