"""Exact top-k search (chapter 2) vs faiss IndexFlatIP.

Exact k-nearest-neighbour search by cosine similarity over all of GloVe 6B (400,000 words,
50 dimensions, :func:`embedlab.data.load_glove`). 1,000 rows drawn at random are held out as
queries and the other 399,000 are the keys, so a query never finds itself. Both sides search
the same unit-length float32 vectors by inner product (cosine, normalised once up front, as a
faiss user builds an ``IndexFlatIP``): ours calls :func:`embedlab.similarity.topk` with
``metric="dot"`` on batches of queries (a (batch, 399,000) score matrix at a time), faiss
``IndexFlatIP.search`` with all of them at once (it blocks them itself).

Speed is queries per second for the whole query set, including moving queries to the device
and results back. Quality: the two must return the same neighbours up to ties (checked: where
the lists differ, the scores must agree within 1e-5), and the recall@k of ours against faiss is
recorded. faiss-cpu runs on the CPU even when ours uses a GPU.

    python -m benchmarks.bench_topk                 # full size, writes benchmarks/results/topk.json
    python -m benchmarks.bench_topk --tiny --out /tmp/bench
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import _harness as harness

SOURCES = ("src/embedlab/similarity.py",)
RECALL = "recall@k vs faiss"
TIE_TOLERANCE = 1e-5  # float32 products from two BLAS kernels differ in the last bits


@dataclass
class Config:
    n_words: int | None = None  # None: all 400,000 GloVe rows
    queries: int = 1_000
    k: int = 10
    batch: int = 256  # queries per topk call: bounds the score matrix to batch x n floats
    threads: tuple[int, ...] = (1, 2)
    rounds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("queries", "k", "batch", "rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


FULL = Config()
TINY = Config(n_words=5_000, queries=50, rounds=2)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32 (GloVe has no all-zero row)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def same_up_to_ties(ours: np.ndarray, theirs: np.ndarray, queries: np.ndarray, keys: np.ndarray) -> float:
    """Check that two (q, k) neighbour lists agree up to ties and return ours' recall@k.

    Where the two lists hold different indices, the exact (float64) scores of the two lists,
    sorted, must still agree within TIE_TOLERANCE: only equally near neighbours may swap.
    """
    hits = 0
    for i, (a, b) in enumerate(zip(ours, theirs)):
        common = len(set(a.tolist()) & set(b.tolist()))
        hits += common
        if common < len(a):
            q = queries[i].astype(np.float64)
            sa = np.sort(keys[a].astype(np.float64) @ q)
            sb = np.sort(keys[b].astype(np.float64) @ q)
            if np.abs(sa - sb).max() > TIE_TOLERANCE:
                raise AssertionError(f"query {i}: ours {a.tolist()} and faiss {b.tolist()} differ beyond ties "
                                     f"(scores {sa.round(6).tolist()} vs {sb.round(6).tolist()})")
    return hits / ours.size


def measure(cfg: Config, device: torch.device) -> list[dict]:
    import faiss

    from embedlab.data import load_glove
    from embedlab.similarity import topk

    start = time.perf_counter()
    _words, vectors = load_glove(cfg.n_words)
    n = vectors.shape[0]
    if not 1 <= cfg.queries < n or cfg.k > n - cfg.queries:
        raise ValueError(f"queries ({cfg.queries}) and k ({cfg.k}) do not fit {n} rows")
    held_out = np.random.default_rng(cfg.seed).choice(n, cfg.queries, replace=False)
    is_key = np.ones(n, dtype=bool)
    is_key[held_out] = False
    queries, keys = unit_rows(vectors[held_out]), unit_rows(vectors[is_key])
    print(f"  {keys.shape[0]:,} keys x {keys.shape[1]} dims, {cfg.queries:,} held-out queries, k = {cfg.k} "
          f"(loaded in {time.perf_counter() - start:.1f} s)")
    index = faiss.IndexFlatIP(keys.shape[1])
    index.add(keys)
    keys_t = torch.from_numpy(keys).to(device)  # once, outside the timing, like index.add
    default_faiss_threads = faiss.omp_get_max_threads()

    def one_setting(threads: int) -> dict:
        reference_ids: dict[int, np.ndarray] = {}  # round -> faiss's answer, to check ours against

        def faiss_search(r: int) -> harness.Measurement:
            faiss.omp_set_num_threads(threads)
            try:
                t0 = time.perf_counter()
                _scores, ids = index.search(queries, cfg.k)
                seconds = time.perf_counter() - t0
            finally:
                faiss.omp_set_num_threads(default_faiss_threads)
            reference_ids[r] = ids
            return harness.Measurement(cfg.queries / seconds, {RECALL: 1.0})

        def ours(r: int) -> harness.Measurement:
            with harness.torch_threads(threads):
                t0 = time.perf_counter()
                found = []
                for batch in torch.from_numpy(queries).split(cfg.batch):
                    _scores, ids = topk(batch.to(device), keys_t, cfg.k, metric="dot")
                    found.append(ids.cpu())
                ids = torch.cat(found).numpy()
                seconds = time.perf_counter() - t0
            # Odd rounds run faiss first; in even ones, ask it now (untimed) for the comparison.
            reference = reference_ids.get(r)
            if reference is None:
                _scores, reference = index.search(queries, cfg.k)
            return harness.Measurement(cfg.queries / seconds, {RECALL: same_up_to_ties(ids, reference, queries, keys)})

        label = f"{threads} thread{'s' * (threads != 1)}"
        mine, theirs = harness.interleave(ours, faiss_search, cfg.rounds, label=label)
        return harness.row(
            label, "queries/s", "embedlab.similarity.topk", "faiss IndexFlatIP", mine, theirs,
            quality_higher_is_better={RECALL: True},
            note=(f"{keys.shape[0]:,} keys, {cfg.queries:,} queries, k = {cfg.k}; ours in batches of {cfg.batch} "
                  f"on {device.type} with torch.set_num_threads({threads}); faiss with omp_set_num_threads({threads})"),
        )

    return [one_setting(t) for t in cfg.threads]


def versions() -> dict[str, str]:
    import faiss

    return {"faiss": faiss.__version__}


def main(argv: Sequence[str] | None = None) -> Path:
    return harness.main(__file__, argv, (FULL, TINY), measure, sources=SOURCES, versions=versions,
                        notes="Queries/s over the whole held-out query set. Recall@k of ours against faiss; "
                              "the lists must agree up to ties (checked in every round).")


if __name__ == "__main__":
    main()
