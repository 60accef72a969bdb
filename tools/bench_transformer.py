"""Training throughput of embedlab's GPT at nanoGPT's CPU "baby" configuration.

nanoGPT's README trains a CPU model with 4 layers, 4 heads, 128 dims, block 64, batch 12 and no
dropout; on these 2-core machines its train.py reaches about 17.3k tokens/s (shared/PERF-NOTES.md).
This script trains the same shape with the course's own code path (`make_trainer`, the chapter-6
optimiser and schedule) on the course's Shakespeare text and prints tokens/s, so the two can be
compared on any machine. Because these machines' speed drifts by 2-3x over a day, each repeat
also trains a reference of the same shape built from stock PyTorch layers
(``nn.TransformerEncoderLayer``, pre-norm, causal mask) with the same batches, optimiser and loop,
interleaved with ours; the ratio of the two is the figure that carries over between machines:

    .venv/bin/python tools/bench_transformer.py            # 2 threads, 300 steps, after 20 warm-up
    .venv/bin/python tools/bench_transformer.py --threads 1 --steps 500

It prints one line per repeat and the medians; nothing is written to disk.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from embedlab.charlm import (
    char_vocabulary,
    configure_optimizer,
    encode_text,
    get_batch,
    make_trainer,
    pick_config,
    train_val_split,
)
from embedlab.data import load_shakespeare
from embedlab.train import TrainConfig, Trainer
from embedlab.transformer import GPT, GPTConfig
from embedlab.utils import seed_everything


class StockGPT(nn.Module):
    """The same shape from PyTorch's own layers: the reference our GPT is timed against."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        C = cfg.n_embd
        self.wte, self.wpe = nn.Embedding(cfg.vocab_size, C), nn.Embedding(cfg.block_size, C)
        layer = nn.TransformerEncoderLayer(C, cfg.n_head, 4 * C, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.n_layer, enable_nested_tensor=False)
        self.ln_f, self.lm_head = nn.LayerNorm(C), nn.Linear(C, cfg.vocab_size)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(cfg.block_size))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]  # idx, targets: (B, T)
        x = self.wte(idx) + self.wpe(torch.arange(T))  # (B, T, C)
        x = self.blocks(x, mask=self.mask[:T, :T], is_causal=True)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def time_stock(run, train_ids: torch.Tensor, seed: int, warmup: int, steps: int) -> float:
    """tokens/s of StockGPT under the course's Trainer, same batches and optimiser settings."""
    model = StockGPT(run.model)
    opt = configure_optimizer(model, run)  # the same AdamW (fused where available) as ours
    T, B = run.model.block_size, run.batch_size
    rates = []
    for n in (warmup, steps):
        cfg = TrainConfig(max_steps=n, grad_clip=run.grad_clip, progress=False,
                          items_per_step=run.tokens_per_step, seed=seed)
        history = Trainer(model, opt, lambda g: get_batch(train_ids, T, B, g),
                          lambda m, b: m(*b), cfg).run()
        rates.append(history.items_per_second)
    return rates[-1]


def baby_run(vocab_size: int, steps: int):
    """nanoGPT's CPU example (config/train_shakespeare_char.py with its README's overrides)."""
    base = pick_config("cpu", vocab_size)
    model = GPTConfig(vocab_size=vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0)
    return replace(base, name="baby", model=model, batch_size=12, max_steps=steps, learning_rate=1e-3,
                   warmup_steps=min(100, steps), eval_every=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    vocab = char_vocabulary(load_shakespeare())
    train_ids, _ = train_val_split(encode_text(load_shakespeare(), vocab))
    rates, stock_rates = [], []
    for r in range(args.repeats):
        seed_everything(r)
        run = baby_run(len(vocab), args.warmup + args.steps)
        model = GPT(run.model)
        trainer = make_trainer(model, run, train_ids, seed=r, progress=False, max_steps=args.warmup)
        trainer.run()  # warm-up: allocator, kernels, optimiser state
        timed = make_trainer(model, run, train_ids, seed=r, progress=False, max_steps=args.steps)
        history = timed.run()
        rates.append(history.items_per_second)
        seed_everything(r)
        stock_rates.append(time_stock(run, train_ids, r, args.warmup, args.steps))
        print(f"repeat {r}: ours {rates[-1]:,.0f} tokens/s, stock PyTorch layers "
              f"{stock_rates[-1]:,.0f} tokens/s ({args.steps} steps of {run.tokens_per_step} tokens each)")
    ours, stock = statistics.median(rates), statistics.median(stock_rates)
    print(f"baby config (4 layers, 4 heads, 128 dims, block 64, batch 12), {args.threads} thread(s): "
          f"median {ours:,.0f} tokens/s, {ours / stock:.2f}x the stock-PyTorch reference "
          f"({stock:,.0f}); nanoGPT's train.py measured about 17,300 tokens/s here in 2026-11")


if __name__ == "__main__":
    main()
