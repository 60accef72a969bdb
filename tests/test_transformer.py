"""embedlab.transformer (chapter 6): the model against explicit references, and generation.

The data pipeline, the configurations and training are tested in tests/test_charlm.py; top-k and
sampling in tests/test_probability.py. There is no GPU on the machines that run these tests: the
CUDA conditions of the fused attention kernel are checked by logic, and its numerics by running
the same code under bfloat16 autocast on the CPU.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

import embedlab.transformer as tf
from embedlab.attention import attention_weights
from embedlab.exercises import check
from embedlab.probability import top_k_filter
from embedlab.transformer import GPT, GPTConfig, generate

TINY = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)


def _tiny_model(config: GPTConfig = TINY, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(config)


# -- configuration -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_embd": 30, "n_head": 4}, "divisible"),
        ({"n_layer": 0}, "n_layer"),
        ({"vocab_size": -3}, "vocab_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"block_size": 2.5}, "block_size"),
    ],
)
def test_config_rejects_bad_shapes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GPTConfig(**kwargs)


# -- the model -----------------------------------------------------------------------------------
def test_forward_shapes_and_loss_matches_cross_entropy():
    model = _tiny_model()
    x, y = torch.randint(11, (3, 8)), torch.randint(11, (3, 8))
    logits, loss = model(x, y)
    assert logits.shape == (3, 8, 11)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, 11), y.reshape(-1)))
    assert model(x)[1] is None
    assert model(x[:, :5])[0].shape == (3, 5, 11)  # shorter than block_size is fine


def test_forward_input_errors():
    model = _tiny_model()
    with pytest.raises(ValueError, match="exceeds block_size"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="targets"):
        model(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))


def test_output_layer_is_dot_products_plus_bias():
    model = _tiny_model()
    x = torch.randint(11, (2, 8))
    h = model.hidden(x)  # (B, T, C)
    manual = h @ model.lm_head.weight.T + model.lm_head.bias
    torch.testing.assert_close(model(x)[0], manual)


def test_causality_future_tokens_do_not_change_the_past():
    model = _tiny_model()
    x = torch.randint(11, (1, 8))
    x2 = x.clone()
    x2[0, 5:] = (x2[0, 5:] + 1) % 11
    a, b = model(x)[0], model(x2)[0]
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_fused_attention_matches_explicit_softmax():
    torch.manual_seed(1)
    attn = tf.CausalSelfAttention(GPTConfig(vocab_size=5, block_size=12, n_head=4, n_embd=32))
    x = torch.randn(2, 12, 32)
    weights = attn.attention_weights(x)  # (B, nh, T, T)
    q, k, v = attn._qkv(x)
    y = (weights @ v).transpose(1, 2).reshape(2, 12, 32)
    torch.testing.assert_close(attn(x), attn.c_proj(y), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 12))
    assert torch.all(weights.triu(1) == 0)


def test_attention_weights_are_chapter_5s_function():
    # The maps reuse embedlab.attention.attention_weights; they equal the explicit formula
    # softmax(q k^T / sqrt(hs) + causal mask) up to rounding (a multiply by 1/sqrt(hs) vs a divide).
    torch.manual_seed(2)
    for n_head, n_embd in [(4, 32), (6, 384), (3, 30)]:
        attn = tf.CausalSelfAttention(GPTConfig(vocab_size=5, block_size=16, n_head=n_head, n_embd=n_embd))
        x = torch.randn(2, 16, n_embd)
        q, k, _ = attn._qkv(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(n_embd // n_head)
        explicit = scores.masked_fill(torch.ones(16, 16, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
        weights = attn.attention_weights(x)
        assert torch.equal(weights, attention_weights(q, k, causal=True))
        torch.testing.assert_close(weights, explicit, rtol=0, atol=1e-6)


def test_attention_maps_are_causal_distributions():
    model = _tiny_model()
    maps = model.attention_maps(torch.randint(11, (2, 8)))
    assert len(maps) == TINY.n_layer
    for m in maps:
        assert m.shape == (2, TINY.n_head, 8, 8)
        torch.testing.assert_close(m.sum(-1), torch.ones(2, TINY.n_head, 8))
        assert torch.all(m.triu(1) == 0)


def test_attention_runs_on_the_flash_backend():
    # With only the flash backend allowed, PyTorch raises if it cannot serve the call. On the
    # CPU that backend is lenient (it even takes masks); what CUDA's flash kernel also needs is
    # checked elsewhere: no mask (test_attention_uses_the_fused_function), bf16 inputs (the
    # autocast test) and a head size that is a multiple of 8 and at most 256 (config test).
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model = _tiny_model()
    x = torch.randint(11, (2, 8))
    reference = model(x)[0]
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        torch.testing.assert_close(model(x)[0], reference, rtol=1e-5, atol=1e-5)


def test_attention_uses_the_fused_function(monkeypatch):
    calls = []
    real = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(tf.F, "scaled_dot_product_attention", spy)
    _tiny_model()(torch.randint(11, (1, 8)))
    assert len(calls) == TINY.n_layer
    assert all(c["is_causal"] and c["attn_mask"] is None for c in calls)


def test_init_std_and_scaled_residual_projections():
    model = GPT(GPTConfig(vocab_size=63, block_size=64, n_layer=6, n_head=6, n_embd=384))
    assert abs(model.wte.weight.std().item() - 0.02) < 0.001
    assert abs(model.blocks[0].mlp.c_fc.weight.std().item() - 0.02) < 0.001
    expected = 0.02 / math.sqrt(2 * 6)
    for block in model.blocks:
        assert abs(block.attn.c_proj.weight.std().item() - expected) < 0.0005
        assert abs(block.mlp.c_proj.weight.std().item() - expected) < 0.0005
    assert torch.all(model.lm_head.bias == 0)


def test_bfloat16_autocast_matches_float32():
    # The Trainer autocasts to bfloat16 on CUDA; the same autocast on the CPU exercises the
    # dtype handling of every layer (attention on bf16 inputs, loss in float32) without a GPU.
    model = _tiny_model(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=32, dropout=0.1))
    x, y = torch.randint(11, (4, 8)), torch.randint(11, (4, 8))
    model.eval()
    ref = model(x, y)[1]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = model(x, y)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
    assert abs(loss.item() - ref.item()) < 0.02
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(x, y)[1]
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())


def test_weight_tying_shares_one_matrix():
    untied = _tiny_model()
    tied = _tiny_model(GPTConfig(**{**TINY.__dict__, "tie_weights": True}))
    assert tied.lm_head.weight is tied.wte.weight
    assert untied.num_params() - tied.num_params() == TINY.vocab_size * TINY.n_embd
    assert untied.num_params(non_embedding=True) == untied.num_params() - TINY.block_size * TINY.n_embd


# -- generation (top-k and the draw itself: tests/test_probability.py) -----------------------------
@pytest.mark.parametrize("temperature", [0, -0.5, float("nan"), float("inf")])
def test_bad_temperature_is_a_clear_error(temperature):
    with pytest.raises(ValueError, match="temperature"):
        generate(_tiny_model(), torch.zeros(1, 1, dtype=torch.long), 3, temperature=temperature)


def test_generate_shapes_crop_and_determinism():
    model = _tiny_model()
    start = torch.zeros(2, 1, dtype=torch.long)
    a = generate(model, start, 20, generator=torch.Generator().manual_seed(0))
    b = generate(model, start, 20, generator=torch.Generator().manual_seed(0))
    assert a.shape == (2, 21) and torch.equal(a, b)  # 21 > block_size 8: the context was cropped
    assert torch.equal(a[:, :1], start)
    assert generate(model, start, 0).shape == (2, 1)
    with pytest.raises(ValueError, match="top_k"):
        generate(model, start, 2, top_k=12)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, start, -1)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        generate(model, torch.zeros(3, dtype=torch.long), 2)


# -- exercises -----------------------------------------------------------------------------------
def test_exercise_checks_accept_references_and_reject_wrong_answers():
    assert check("ch06.top_k", top_k_filter, quiet=True)
    assert not check("ch06.top_k", lambda logits, k: logits, quiet=True)
    assert not check("ch06.top_k", lambda logits, k: top_k_filter(logits, max(1, k - 1)), quiet=True)
