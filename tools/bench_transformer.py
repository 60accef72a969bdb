"""Training throughput of embedlab's GPT at nanoGPT's CPU "baby" configuration.

nanoGPT's README trains a CPU model with 4 layers, 4 heads, 128 dims, block 64, batch 12 and no
dropout; on these 2-core machines its train.py reaches about 17.3k tokens/s (shared/PERF-NOTES.md).
This script trains the same shape with the course's own code path (`make_trainer`, the chapter-6
optimiser and schedule) on the course's Shakespeare text and prints tokens/s, so the two can be
compared on any machine:

    .venv/bin/python tools/bench_transformer.py            # 2 threads, 300 steps, after 20 warm-up
    .venv/bin/python tools/bench_transformer.py --threads 1 --steps 500

It prints one line per repeat and the median; nothing is written to disk.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

import torch

from embedlab.data import load_shakespeare
from embedlab.transformer import GPT, GPTConfig, char_vocabulary, encode_text, make_trainer, pick_config, train_val_split
from embedlab.utils import seed_everything


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
    rates = []
    for r in range(args.repeats):
        seed_everything(r)
        run = baby_run(len(vocab), args.warmup + args.steps)
        model = GPT(run.model)
        trainer = make_trainer(model, run, train_ids, seed=r, progress=False, max_steps=args.warmup)
        trainer.run()  # warm-up: allocator, kernels, optimiser state
        timed = make_trainer(model, run, train_ids, seed=r, progress=False, max_steps=args.steps)
        history = timed.run()
        rates.append(history.items_per_second)
        print(f"repeat {r}: {history.items_per_second:,.0f} tokens/s "
              f"({args.steps} steps of {run.tokens_per_step} tokens in {history.seconds:.1f} s)")
    print(f"baby config (4 layers, 4 heads, 128 dims, block 64, batch 12), {args.threads} thread(s): "
          f"median {statistics.median(rates):,.0f} tokens/s; nanoGPT measured here: about 17,300 tokens/s")


if __name__ == "__main__":
    main()
