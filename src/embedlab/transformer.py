"""A minimal character-level GPT, written in the spirit of nanoGPT's ``model.py`` (chapter 6).

Everything chapter 6 trains lives here: the model (:class:`GPTConfig`, :class:`GPT`), the data
pipeline (character codec, train/val split, random windows), the baseline it must beat (a
count-based bigram model), sampling with temperature and top-k, and the single training entry
point :func:`make_trainer`, which drives :class:`embedlab.train.Trainer`.

One code path, two configurations: :func:`pick_config` returns a tiny model for the CPU and
nanoGPT's Shakespeare-char model (6 layers, 6 heads, 384 dims, block 256, dropout 0.2) for a GPU.
The code is the same; on CUDA the Trainer adds mixed precision (bfloat16, or float16 with loss
scaling on GPUs without bfloat16) and attention runs through
``F.scaled_dot_product_attention`` with ``is_causal=True`` and no explicit mask, the call pattern
that lets PyTorch pick its fused (flash) kernel.

Shapes use nanoGPT's letters: ``B`` batch, ``T`` time (sequence length), ``C`` channels
(``n_embd``), ``nh`` heads, ``hs`` head size (``C // nh``), ``V`` vocabulary size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from embedlab.data import Vocabulary
from embedlab.probability import check_temperature, sample_next
from embedlab.train import TrainConfig, Trainer, cosine_schedule

__all__ = [
    "GPTConfig",
    "GPT",
    "CausalSelfAttention",
    "char_vocabulary",
    "encode_text",
    "decode_ids",
    "train_val_split",
    "get_batch",
    "estimate_loss",
    "evaluate",
    "bigram_log_probs",
    "bigram_loss",
    "generate",
    "RunConfig",
    "pick_config",
    "model_device",
    "configure_optimizer",
    "make_trainer",
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
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

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
        Computed the slow, explicit way (chapter 5): ``softmax(q k^T / sqrt(hs) + causal mask)``.
        """
        q, k, _ = self._qkv(x)
        T = x.shape[1]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])  # (B, nh, T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


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
        for block in self.blocks:
            maps.append(block.attn.attention_weights(block.ln_1(x)))
            x = block(x)
        return maps


# ---------------------------------------------------------------------------------------------
# Data: characters in, ids out
# ---------------------------------------------------------------------------------------------
def char_vocabulary(text: str) -> Vocabulary:
    """A character vocabulary (chapter 1's :class:`~embedlab.data.Vocabulary`), most frequent first."""
    if not text:
        raise ValueError("cannot build a character vocabulary from empty text")
    return Vocabulary.from_tokens(text)  # iterating a str yields its characters


def encode_text(text: str, vocab: Vocabulary) -> torch.Tensor:
    """Characters -> ids: a 1-D ``torch.long`` tensor of ``len(text)``.

    Uses a 256-entry lookup table for ASCII text (fast for a million characters) and falls back
    to ``vocab.encode`` (which raises ``KeyError`` naming an unknown character) otherwise.
    """
    if any(len(t) != 1 for t in vocab.itos):
        raise ValueError("encode_text needs a character vocabulary (every token one character)")
    if text.isascii() and all(ord(t) < 128 for t in vocab.itos):
        table = np.full(128, -1, dtype=np.int64)
        for i, t in enumerate(vocab.itos):
            table[ord(t)] = i
        ids = table[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
        if (ids < 0).any():
            bad = text[int(np.flatnonzero(ids < 0)[0])]
            raise KeyError(f"unknown character {bad!r}: not in the vocabulary of {len(vocab)} characters")
        return torch.from_numpy(ids)
    return torch.tensor(vocab.encode(list(text)), dtype=torch.long)


def decode_ids(ids: torch.Tensor | list[int], vocab: Vocabulary) -> str:
    """Ids -> text. ids: (T,)."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(f"decode_ids takes a 1-D sequence, got shape {tuple(ids.shape)}")
        ids = ids.tolist()
    return "".join(vocab.decode(ids))


def train_val_split(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``1 - val_fraction`` of the text for training, the rest for validation.

    A contiguous split (not random windows) so that no validation line was seen in training.
    """
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = int(round(len(ids) * (1 - val_fraction)))
    if n < 2 or len(ids) - n < 2:
        raise ValueError(f"a text of {len(ids)} ids is too short to split with val_fraction={val_fraction}")
    return ids[:n], ids[n:]


def get_batch(
    data: torch.Tensor,
    block_size: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of the text and their next-character targets.

    data: (N,) long on the CPU -> x, y: (B, T) on ``device``; ``y`` is ``x`` shifted left by one
    character, so ``y[:, t]`` is the character that follows ``x[:, : t + 1]``. The starts are drawn
    from ``generator`` (a CPU generator: the Trainer's), so the batch sequence does not depend on
    the device.
    """
    if data.dim() != 1:
        raise ValueError(f"data must be 1-D token ids, got shape {tuple(data.shape)}")
    if block_size < 1 or batch_size < 1:
        raise ValueError(f"block_size and batch_size must be >= 1, got {block_size}, {batch_size}")
    if len(data) <= block_size:
        raise ValueError(f"data has {len(data)} tokens, need more than block_size={block_size}")
    device = torch.device(device)
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    windows = data.unfold(0, block_size + 1, 1)[starts]  # (B, T + 1): a view, then one gather
    x, y = windows[:, :-1].contiguous(), windows[:, 1:].contiguous()
    if device.type == "cuda":
        # Page-locked memory lets the copy run asynchronously while the GPU is still busy.
        x, y = x.pin_memory(), y.pin_memory()
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return x.to(device), y.to(device)


@torch.no_grad()
def estimate_loss(
    model: GPT, data: torch.Tensor, batch_size: int, n_batches: int, *, seed: int = 1234
) -> float:
    """Mean loss on ``n_batches`` random windows, always the same windows (seeded): a cheap,
    low-variance validation curve whose points are comparable across steps."""
    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    for _ in range(n_batches):
        x, y = get_batch(data, model.config.block_size, batch_size, g, device)
        total += model(x, y)[1].item()
    model.train(was_training)
    return total / n_batches


@torch.no_grad()
def evaluate(model: GPT, data: torch.Tensor, *, batch_size: int = 64) -> float:
    """Mean next-character loss (nats) over a whole split, cut into non-overlapping windows.

    Every transition ``data[i] -> data[i + 1]`` is scored exactly once (the tail that does not
    fill a window is scored as a shorter window), so the number is comparable with
    :func:`bigram_loss` on the same split.
    """
    T = model.config.block_size
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    n = len(data) - 1  # number of transitions
    if n < 1:
        raise ValueError("data needs at least two tokens")
    full = n // T
    nll, count = 0.0, 0
    x_all, y_all = data[: full * T].view(full, T), data[1 : full * T + 1].view(full, T)
    for i in range(0, full, batch_size):
        x, y = x_all[i : i + batch_size].to(device), y_all[i : i + batch_size].to(device)
        logits, _ = model(x)
        nll += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    if full * T < n:
        x, y = data[full * T : n].view(1, -1).to(device), data[full * T + 1 :].view(1, -1).to(device)
        logits, _ = model(x)
        nll += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return nll / count


def bigram_log_probs(train: torch.Tensor, vocab_size: int, *, alpha: float = 1.0) -> torch.Tensor:
    """Count-based bigram model with add-``alpha`` smoothing: ``(V, V)`` log P(next | previous).

    ``log_probs[a, b] = log (count(a, b) + alpha) / (count(a) + alpha V)``, counted on ``train``.
    """
    if train.dim() != 1 or len(train) < 2:
        raise ValueError("train must be a 1-D sequence of at least two ids")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive (add-alpha smoothing), got {alpha}")
    if int(train.max()) >= vocab_size or int(train.min()) < 0:
        raise ValueError(f"ids must lie in 0..{vocab_size - 1}")
    pairs = train[:-1] * vocab_size + train[1:]
    counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size).double()
    counts += alpha
    return (counts / counts.sum(dim=1, keepdim=True)).log()


def bigram_loss(train: torch.Tensor, val: torch.Tensor, vocab_size: int, *, alpha: float = 1.0) -> float:
    """Mean next-character loss (nats) of the add-``alpha`` bigram model on every transition of ``val``."""
    log_probs = bigram_log_probs(train, vocab_size, alpha=alpha)
    return float(-log_probs[val[:-1], val[1:]].mean())


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
    check_temperature(temperature)  # fail before any work
    if top_k is not None and not 1 <= top_k <= model.config.vocab_size:
        raise ValueError(f"top_k must be between 1 and the vocabulary size {model.config.vocab_size}, got {top_k}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if idx.dim() != 2 or idx.shape[1] < 1:
        raise ValueError(f"idx must be (B, T) with T >= 1, got shape {tuple(idx.shape)}")
    was_training = model.training
    model.eval()
    for _ in range(max_new_tokens):
        context = idx[:, -model.config.block_size :]  # (B, <= block_size)
        logits, _ = model(context)  # (B, t, V)
        nxt = sample_next(logits[:, -1, :], temperature=temperature, top_k=top_k, generator=generator)
        idx = torch.cat([idx, nxt[:, None]], dim=1)  # (B, T + 1)
    model.train(was_training)
    return idx


# ---------------------------------------------------------------------------------------------
# Training: one entry point, two configurations
# ---------------------------------------------------------------------------------------------
@dataclass
class RunConfig:
    """A model shape plus the optimisation settings that go with it."""

    name: str
    model: GPTConfig
    batch_size: int
    max_steps: int
    learning_rate: float
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # cosine decay ends at learning_rate * min_lr_ratio
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)  # beta2 0.99: few tokens per step (nanoGPT char)
    grad_clip: float = 1.0
    eval_every: int = 0
    eval_batches: int = 4
    notes: str = field(default="", compare=False)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.model.block_size

    def describe(self) -> str:
        m = self.model
        return (
            f"'{self.name}': {m.n_layer} layer{'s' * (m.n_layer != 1)}, "
            f"{m.n_head} heads, {m.n_embd} dims, "
            f"block {m.block_size}, dropout {m.dropout}; "
            f"batch {self.batch_size}, {self.max_steps} steps, lr {self.learning_rate:g}"
        )


def pick_config(device: torch.device | str, vocab_size: int) -> RunConfig:
    """The configuration for ``device``: tiny on the CPU, nanoGPT Shakespeare-char on a GPU.

    * ``cpu``: 1 layer, 4 heads, 128 dims, block 64, batch 32, 500 steps (1.0M tokens): sized to
      train in under a minute on two slow cores, which keeps chapter 6 inside its 90 s budget.
    * ``cuda`` / ``mps``: nanoGPT's ``train_shakespeare_char.py`` model (6 x 6 x 384, block 256,
      dropout 0.2, batch 64, lr 1e-3), run for 2,500 of its 5,000 steps. On CUDA the Trainer
      adds bfloat16 autocast (float16 with loss scaling on GPUs without bfloat16, e.g. a T4); MPS runs in float32.
    """
    device = torch.device(device)
    if device.type == "cpu":
        # Chosen by measurement: with a minute of CPU the loss is limited by how many tokens the
        # model sees, so one wide-enough layer seeing more text beat 2-4 layers seeing less
        # (validation loss 1.78 vs 1.83-1.98 for two minutes of CPU; 1.90 vs 2.07 for two layers
        # in 40 s), and a large learning rate is stable at this depth. The step count is sized
        # for the slowest 2-core machines we build on (about 25-30k tokens/s, so 35-40 s of
        # training); 2,000 steps reach 1.77 but take over two minutes there.
        return RunConfig(
            name="cpu-tiny",
            model=GPTConfig(vocab_size=vocab_size, block_size=64, n_layer=1, n_head=4, n_embd=128, dropout=0.0),
            batch_size=32,
            max_steps=500,
            learning_rate=6e-3,
            warmup_steps=50,
            weight_decay=0.1,
            eval_every=100,
            eval_batches=4,
        )
    if device.type in ("cuda", "mps"):
        return RunConfig(
            name="gpu-nanogpt",
            model=GPTConfig(vocab_size=vocab_size, block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
            batch_size=64,
            max_steps=2500,
            learning_rate=1e-3,
            warmup_steps=100,
            weight_decay=0.1,
            eval_every=250,
            eval_batches=20,
        )
    raise ValueError(f"no configuration for device type {device.type!r}; use 'cpu', 'cuda' or 'mps'")


def model_device(model: nn.Module) -> torch.device:
    """The device a model's parameters live on (batches are sent there)."""
    return next(model.parameters()).device


def configure_optimizer(model: nn.Module, run: RunConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (embeddings and Linear weights), as in GPT-2:
    decaying biases and LayerNorm gains would only pull them towards zero for no benefit."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": run.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # The fused kernel updates every parameter in one pass instead of a dozen elementwise ops
    # per tensor: on a GPU it saves kernel launches, on two CPU cores it cuts the optimiser
    # step about fourfold. PyTorch older than 2.4 has no CPU version: fall back to the default.
    try:
        return torch.optim.AdamW(groups, lr=run.learning_rate, betas=run.betas, fused=True)
    except RuntimeError:
        return torch.optim.AdamW(groups, lr=run.learning_rate, betas=run.betas)


def make_trainer(
    model: GPT,
    run: RunConfig,
    train_data: torch.Tensor,
    val_data: torch.Tensor | None = None,
    *,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    max_steps: int | None = None,
    log_every: int = 10,
) -> Trainer:
    """The one training entry point for every device: a :class:`~embedlab.train.Trainer` that
    draws random windows from ``train_data`` and (if given) tracks a validation loss.

    The model must already be on its device; batches follow it there. ``max_steps`` overrides
    ``run.max_steps`` (the learning-rate schedule is stretched to it), for short demos.
    """
    if model.config != run.model:
        raise ValueError("the model was built from a different GPTConfig than run.model")
    device = model_device(model)
    steps = run.max_steps if max_steps is None else max_steps
    T, B = run.model.block_size, run.batch_size

    def batch_fn(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return get_batch(train_data, T, B, g, device)

    def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return m(*batch)[1]

    eval_fn: Callable[[nn.Module], dict[str, float]] | None = None
    if val_data is not None:

        def eval_fn(m: nn.Module) -> dict[str, float]:
            return {"val": estimate_loss(m, val_data, B, run.eval_batches)}

    optimizer = configure_optimizer(model, run)
    schedule = cosine_schedule(min(run.warmup_steps, steps), max(steps, 1), run.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    config = TrainConfig(
        max_steps=steps,
        grad_clip=run.grad_clip,
        eval_every=run.eval_every,
        log_every=log_every,
        items_per_step=run.tokens_per_step,
        amp=True,  # mixed precision: the Trainer applies it on CUDA only
        progress=progress,
        desc=desc or run.name,
        seed=seed,
    )
    return Trainer(model, optimizer, batch_fn, loss_fn, config, scheduler=scheduler, eval_fn=eval_fn)
