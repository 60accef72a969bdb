"""GPT (chapter 6) vs stock PyTorch layers of the same shape.

Training throughput at nanoGPT's CPU "baby" shape (its README's CPU example: 4 layers, 4 heads,
128 dims, block 64, batch 12, no dropout) on the course's Shakespeare text. Ours is
:class:`embedlab.transformer.GPT`; the reference, :class:`StockGPT`, builds the same shape from
PyTorch's own layers (``nn.TransformerEncoderLayer``, pre-norm, causal mask, no biases inside the
blocks) with the same embeddings, output layer and initialisation. Both train through the same
code path, :func:`embedlab.charlm.make_trainer` (same batches, AdamW, warm-up and cosine schedule,
gradient clipping, mixed precision on CUDA), so the ratio isolates the model's implementation.

Speed is tokens per second over the timed steps, after untimed warm-up steps (allocator,
kernels, optimiser state). Quality is the validation loss (nats per character, every transition
of the held-out 10% scored once by :func:`embedlab.charlm.evaluate`) after an **equal number of
steps**, not equal wall time: the speed ratio says how the wall times differ. On these 2-core
machines nanoGPT's own train.py ran this shape at about 17,300 tokens/s (2026-11).

    python -m benchmarks.bench_transformer          # full size, writes benchmarks/results/transformer.json
    python -m benchmarks.bench_transformer --tiny --out /tmp/bench
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from embedlab.transformer import GPT, GPTConfig

from . import _harness as harness

SOURCES = ("src/embedlab/transformer.py", "src/embedlab/attention.py", "src/embedlab/charlm.py",
           "src/embedlab/train.py")
QUALITY = {"validation loss (nats/char)": False}  # lower is better


@dataclass
class Config:
    """nanoGPT's baby shape and how long each side trains per round."""

    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    batch_size: int = 12
    learning_rate: float = 1e-3
    warmup: int = 20  # untimed steps first, in the same run (they count towards the schedule)
    steps: int = 200  # timed steps; validation loss after warmup + steps
    val_chars: int | None = None  # None: the whole validation split (130k characters)
    # 1 thread as well as 2: on a shared machine the 2-thread figure swings with what else runs
    # (each op's threads wait for each other), while the 1-thread one stays comparable.
    threads: tuple[int, ...] = (1, 2)
    rounds: int = 3


FULL = Config()
TINY = Config(warmup=1, steps=3, val_chars=2_000, threads=(1,), rounds=2)


class StockGPT(nn.Module):
    """The same shape from PyTorch's own layers: the reference our GPT is timed against.

    Same interface as :class:`~embedlab.transformer.GPT` (``config``; ``forward(idx, targets)``
    returns ``(logits, loss)``), so the course's trainer and evaluation drive it unchanged.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        C = config.n_embd
        self.wte, self.wpe = nn.Embedding(config.vocab_size, C), nn.Embedding(config.block_size, C)
        layer = nn.TransformerEncoderLayer(C, config.n_head, 4 * C, dropout=config.dropout, activation="gelu",
                                           batch_first=True, norm_first=True, bias=config.bias)
        self.blocks = nn.TransformerEncoder(layer, config.n_layer, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(C, bias=config.bias)
        self.lm_head = nn.Linear(C, config.vocab_size, bias=config.head_bias)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(config.block_size),
                             persistent=False)
        # GPT-2's N(0, 0.02), as ours: with PyTorch's default initialisation the loss after a few
        # hundred steps would compare initialisations, not implementations.
        self.apply(GPT._init_weights)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        T = idx.shape[1]  # idx, targets: (B, T)
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))  # (B, T, C)
        x = self.blocks(x, mask=self.mask[:T, :T], is_causal=True)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def measure(cfg: Config, device: torch.device) -> list[dict]:
    from embedlab.charlm import char_vocabulary, encode_text, evaluate, make_trainer, pick_config, train_val_split
    from embedlab.data import load_shakespeare
    from embedlab.utils import seed_everything

    text = load_shakespeare()
    vocab = char_vocabulary(text)
    train_ids, val_ids = train_val_split(encode_text(text, vocab))
    val_ids = val_ids[: cfg.val_chars]
    shape = GPTConfig(vocab_size=len(vocab), block_size=cfg.block_size, n_layer=cfg.n_layer, n_head=cfg.n_head,
                      n_embd=cfg.n_embd, dropout=0.0)
    # nanoGPT's CPU example (config/train_shakespeare_char.py with its README's overrides).
    run = replace(pick_config("cpu", len(vocab)), name="baby", model=shape, batch_size=cfg.batch_size,
                  max_steps=cfg.warmup + cfg.steps, learning_rate=cfg.learning_rate,
                  warmup_steps=min(100, cfg.warmup + cfg.steps), eval_every=0)
    n_ours, n_stock = (sum(p.numel() for p in m(shape).parameters()) for m in (GPT, StockGPT))
    if n_ours != n_stock:  # "the same shape" is checked, not assumed
        raise RuntimeError(f"GPT has {n_ours:,} parameters, StockGPT {n_stock:,}: not the same shape")

    def train(model_cls: type[nn.Module], r: int) -> harness.Measurement:
        seed_everything(r)
        model = model_cls(shape).to(device)
        trainer = make_trainer(model, run, train_ids, seed=r, progress=False)
        trainer.run(steps=cfg.warmup)  # untimed
        before_items, before_s = trainer.history.items, trainer.history.seconds
        trainer.run(steps=cfg.steps)
        rate = (trainer.history.items - before_items) / (trainer.history.seconds - before_s)
        return harness.Measurement(rate, {"validation loss (nats/char)": evaluate(model, val_ids)})

    def one_setting(threads: int) -> dict:
        def ours(r: int) -> harness.Measurement:
            with harness.torch_threads(threads):
                return train(GPT, r)

        def stock(r: int) -> harness.Measurement:
            with harness.torch_threads(threads):
                return train(StockGPT, r)

        label = f"{threads} thread{'s' * (threads != 1)}"
        mine, theirs = harness.interleave(ours, stock, cfg.rounds, label=label)
        return harness.row(
            label, "tokens/s", "embedlab.transformer.GPT", "nn.TransformerEncoderLayer stack", mine, theirs,
            quality_higher_is_better=QUALITY,
            note=(f"{cfg.n_layer} layers, {cfg.n_head} heads, {cfg.n_embd} dims, block {cfg.block_size}, "
                  f"batch {cfg.batch_size}; {cfg.steps} timed steps after {cfg.warmup}; "
                  f"validation loss after {cfg.warmup + cfg.steps} steps; on {device.type}"),
        )

    return [one_setting(t) for t in cfg.threads]


def main(argv: Sequence[str] | None = None) -> Path:
    return harness.main(__file__, argv, (FULL, TINY), measure, sources=SOURCES,
                        notes="Tokens/s over the timed steps. Validation loss at equal steps, "
                              "same batches, optimiser and schedule for both.")


if __name__ == "__main__":
    main()
