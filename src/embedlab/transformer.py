"""A minimal GPT, written in the spirit of nanoGPT's ``model.py`` (chapter 6).

The model only: :class:`GPTConfig`, its modules (:class:`CausalSelfAttention`, :class:`MLP`,
:class:`Block`), :class:`GPT` and :func:`generate`, which samples from it with a temperature and
top-k (:mod:`embedlab.probability`). The character-level data pipeline, the bigram baseline and
the training entry point that chapter 6 runs are in :mod:`embedlab.charlm` (nanoGPT's
``prepare.py`` and ``train.py``).

Attention runs through ``F.scaled_dot_product_attention`` with ``is_causal=True`` and no
explicit mask, the call pattern that lets PyTorch pick its fused (flash) kernel on a GPU; the
attention maps it never materialises are recomputed with chapter 5's
:func:`embedlab.attention.attention_weights`.

Shapes use nanoGPT's letters: ``B`` batch, ``T`` time (sequence length), ``C`` channels
(``n_embd``), ``nh`` heads, ``hs`` head size (``C // nh``), ``V`` vocabulary size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from embedlab._checks import flag, integer, number
from embedlab.attention import attention_weights
from embedlab.probability import GREEDY_HINT, check_temperature, sample_next
from embedlab.utils import evaluating

__all__ = [
    "GPTConfig",
    "CausalSelfAttention",
    "MLP",
    "Block",
    "GPT",
    "generate",
]


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------
@dataclass
class GPTConfig:
    """Shape of a GPT. The defaults are nanoGPT's CPU "baby" model (4 x 4 x 128, block 64)."""

    vocab_size: int = 65
    block_size: int = 64  # longest context the model can see (positions have learned embeddings)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False  # biases inside the blocks; nanoGPT finds False a bit better and faster
    head_bias: bool = True  # the output layer's bias: a learned log-prior over tokens (chapter 3)
    tie_weights: bool = False  # share the token embedding with the output layer (Press & Wolf)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            integer(getattr(self, name), name, low=1)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        number(self.dropout, "dropout", low=0.0, high=1.0, high_open=True)
        for name in ("bias", "head_bias", "tie_weights"):
            flag(getattr(self, name), name)

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention (chapter 5), all heads in one batched matmul.

    x: (B, T, C) -> (B, T, C).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        # One Linear makes queries, keys and values for every head: one big matmul instead of 3*nh.
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # each (B, T, C)
        # Move the head axis next to the batch axis so every head is an independent "batch".
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        return q, k, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self._qkv(x)
        # is_causal=True and no attn_mask: the call pattern that qualifies for the fused
        # flash-attention kernels (CUDA and CPU). They never build the (T, T) score matrix.
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention probabilities the fused kernel never materialises.

        x: (B, T, C) -> (B, nh, T, T); row ``i`` of a head is a distribution over keys ``j <= i``.
        Computed the slow, explicit way with chapter 5's function:
        ``softmax(q k^T / sqrt(hs))`` with the causal mask.
        """
        q, k, _ = self._qkv(x)  # each (B, nh, T, hs)
        return attention_weights(q, k, causal=True)


class MLP(nn.Module):
    """Position-wise feed-forward network, 4x wide. x: (B, T, C) -> (B, T, C)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: the residual stream ``x`` is only ever added to.

    x: (B, T, C) -> (B, T, C).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))  # tokens exchange information
        x = x + self.mlp(self.ln_2(x))  # each token thinks on its own
        return x


class GPT(nn.Module):
    """A decoder-only transformer language model (chapter 6).

    ``forward(idx: (B, T) long, targets: (B, T) long | None) -> (logits: (B, T, V), loss | None)``.
    The last layer is the softmax classifier of chapter 3: ``logits = h @ W_out^T + b``, one
    dot product between the final hidden state ``h`` and each token's output embedding.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embeddings (chapter 1)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # position embeddings
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.head_bias)
        if config.tie_weights:
            self.lm_head.weight = self.wte.weight  # one matrix, two roles (Press & Wolf, 2017)

        # N(0, 0.02) everywhere (GPT-2): with small logits the first prediction is close to
        # uniform, so the first loss is close to ln V. Biases start at zero.
        self.apply(self._init_weights)
        # Each block adds two projections into the residual stream; scaling them by
        # 1/sqrt(2 * n_layer) keeps the stream's variance from growing with depth (GPT-2).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, *, non_embedding: bool = False) -> int:
        """Parameter count (a tied matrix counts once); optionally without the position table."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wpe.weight.numel() if non_embedding else n

    def _check_idx(self, idx: torch.Tensor) -> None:
        if idx.dim() != 2:
            raise ValueError(f"idx must be (B, T) token ids, got shape {tuple(idx.shape)}")
        if idx.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"idx must hold integer token ids, got {idx.dtype}")
        if idx.shape[1] > self.config.block_size:
            raise ValueError(f"sequence length {idx.shape[1]} exceeds block_size {self.config.block_size}")

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)  # (T,)
        return self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C) + (T, C) broadcast

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """The final hidden states ``h`` that the output layer compares with every token.

        idx: (B, T) -> (B, T, C), after the last LayerNorm.
        """
        self._check_idx(idx)
        x = self._embed(idx)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.hidden(idx)  # (B, T, C)
        logits = self.lm_head(h)  # (B, T, V): h . w_v + b_v for every token v
        if targets is None:
            return logits, None
        if targets.shape != idx.shape:
            raise ValueError(f"targets {tuple(targets.shape)} must have the shape of idx {tuple(idx.shape)}")
        # Mean negative log-likelihood of the next character over all B*T positions.
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """Attention probabilities of every layer: a list of ``n_layer`` tensors (B, nh, T, T)."""
        self._check_idx(idx)
        x = self._embed(idx)
        maps = []
        # nn.ModuleList is not generic: its items type as nn.Module, and these are all Blocks.
        for block in cast("Iterable[Block]", self.blocks):
            maps.append(block.attn.attention_weights(block.ln_1(x)))
            x = block(x)
        return maps


# ---------------------------------------------------------------------------------------------
# Sampling (temperature, top-k and the draw itself live in embedlab.probability)
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Extend each row of ``idx`` by ``max_new_tokens`` sampled tokens.

    idx: (B, T) long -> (B, T + max_new_tokens). The context is cropped to the last
    ``block_size`` tokens, the longest the position table covers.
    """
    check_temperature(temperature, hint=GREEDY_HINT)  # fail before any work
    if top_k is not None:
        top_k = integer(top_k, "top_k", low=1, high=model.config.vocab_size)
    max_new_tokens = integer(max_new_tokens, "max_new_tokens", low=0)
    if idx.dim() != 2 or idx.shape[1] < 1:
        raise ValueError(f"idx must be (B, T) with T >= 1, got shape {tuple(idx.shape)}")
    with evaluating(model):  # no dropout while sampling
        for _ in range(max_new_tokens):
            context = idx[:, -model.config.block_size :]  # (B, <= block_size)
            logits, _ = model(context)  # (B, t, V)
            nxt = sample_next(logits[:, -1, :], temperature=temperature, top_k=top_k, generator=generator)
            idx = torch.cat([idx, nxt[:, None]], dim=1)  # (B, T + 1)
    return idx
