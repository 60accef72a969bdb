"""Exact top-k search (chapter 2) vs faiss IndexFlatIP.

Exact k-nearest-neighbour search by inner product over unit-length float32 vectors (cosine,
normalised once up front, as a faiss user builds an ``IndexFlatIP``), on three data sets:

* all of GloVe 6B (400,000 words, 50 dimensions, :func:`embedlab.data.load_glove`): 1,000 rows
  drawn at random are held out as queries and the other 399,000 are the keys, so a query never
  finds itself;
* synthetic Gaussian vectors at d = 128 and d = 768 (100,000 keys, 1,000 queries, generated here
  from the seed): the dimensions of common sentence and text embeddings, where the matrix product,
  not the selection, is most of the work.

Ours calls :func:`embedlab.similarity.topk` with ``metric="dot"`` once with all queries (it blocks
them itself, from the cache size, as faiss blocks them), faiss ``IndexFlatIP.search`` likewise.
Speed is queries per second for the whole query set, including moving queries to the device and
results back. Each round also times a plain matrix product of the same shape (queries × keys in
blocks of the same rows, into one buffer; NumPy's, which ours calls on the CPU, and torch's): the
GFLOP/s of ours, faiss and that product are in each row (``gflops``) and its note, so the page
shows how close to the hardware's pace each is. Every pool (torch, faiss, NumPy's OpenBLAS) runs
with the setting's thread count (:func:`benchmarks._harness.all_threads`).

Quality: the two must return the same neighbours up to ties (checked: where the lists differ, the
scores must agree within 1e-5), and the recall@k of ours against faiss is recorded. faiss-cpu runs
on the CPU even when ours uses a GPU. Every setting runs at one thread and at two; other programs'
load is measured per setting and a two-thread row taken while they held a core is marked busy.

    python -m benchmarks.bench_topk                 # full size, writes benchmarks/results/topk.json
    python -m benchmarks.bench_topk --tiny --out /tmp/bench
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import _harness as harness
from . import _load

SOURCES = ("src/embedlab/similarity.py", "src/embedlab/_rows.py", "benchmarks/_load.py")
RECALL = "recall@k vs faiss"
TIE_TOLERANCE = 1e-5  # float32 products from two BLAS kernels differ in the last bits


@dataclass
class Config:
    n_words: int | None = None  # None: all 400,000 GloVe rows
    queries: int = 1_000
    k: int = 10
    synthetic_dims: tuple[int, ...] = (128, 768)  # synthetic Gaussian sets, one per dimension
    synthetic_keys: int = 100_000
    threads: tuple[int, ...] = (1, 2)
    rounds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("queries", "k", "synthetic_keys", "rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


FULL = Config()
TINY = Config(n_words=5_000, queries=50, synthetic_dims=(16,), synthetic_keys=3_000, rounds=2)


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


def data_sets(cfg: Config) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, queries, keys) of each data set, unit rows in float32."""
    from embedlab.data import load_glove

    _words, vectors = load_glove(cfg.n_words)
    n = vectors.shape[0]
    if not 1 <= cfg.queries < n or cfg.k > n - cfg.queries:
        raise ValueError(f"queries ({cfg.queries}) and k ({cfg.k}) do not fit {n} rows")
    held_out = np.random.default_rng(cfg.seed).choice(n, cfg.queries, replace=False)
    is_key = np.ones(n, dtype=bool)
    is_key[held_out] = False
    sets = [(f"GloVe, d = {vectors.shape[1]}", unit_rows(vectors[held_out]), unit_rows(vectors[is_key]))]
    rng = np.random.default_rng(cfg.seed)
    for d in cfg.synthetic_dims:
        x = rng.standard_normal((cfg.synthetic_keys + cfg.queries, d), dtype=np.float32)
        sets.append((f"synthetic, d = {d}", unit_rows(x[: cfg.queries]), unit_rows(x[cfg.queries :])))
    return sets


def measure(cfg: Config, device: torch.device) -> list[dict]:
    rows = []
    for name, queries, keys in data_sets(cfg):
        rows += measure_one(cfg, device, name, queries, keys)
    return rows


def measure_one(cfg: Config, device: torch.device, data: str, queries: np.ndarray, keys: np.ndarray) -> list[dict]:
    import faiss

    from embedlab.similarity import _block_rows, topk

    n, d = keys.shape
    print(f"  {data}: {n:,} keys x {d} dims, {cfg.queries:,} queries, k = {cfg.k}")
    index = faiss.IndexFlatIP(d)
    index.add(keys)
    keys_t = torch.from_numpy(keys).to(device)  # once, outside the timing, like index.add
    queries_t = torch.from_numpy(queries)
    default_faiss_threads = faiss.omp_get_max_threads()
    flop = 2.0 * cfg.queries * n * d  # one multiply-add per query, key and dimension
    block = _block_rows(n, d)

    def matmul_seconds(library: str) -> float:
        """A plain matrix product of the same shape, in ours' blocks, into one buffer: NumPy's (which
        ours calls on the CPU) or torch's (ours on a GPU)."""
        if library == "numpy":
            out_n = np.empty((min(block, cfg.queries), n), dtype=np.float32)
            t0 = time.perf_counter()
            for start in range(0, cfg.queries, block):
                rows_n = queries[start : start + block]
                np.matmul(rows_n, keys.T, out=out_n[: rows_n.shape[0]])
            return time.perf_counter() - t0
        q = queries_t.to(device)
        out = torch.empty(min(block, cfg.queries), n, device=device)
        t0 = time.perf_counter()
        for start in range(0, cfg.queries, block):
            rows = q[start : start + block]
            torch.matmul(rows, keys_t.T, out=out[: rows.shape[0]])
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    def one_setting(threads: int) -> dict:
        reference_ids: dict[int, np.ndarray] = {}  # round -> faiss's answer, to check ours against
        matmul: list[float] = []
        torch_matmul: list[float] = []

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
                _scores, found = topk(queries_t.to(device), keys_t, cfg.k, metric="dot")
                ids = found.cpu().numpy()
                seconds = time.perf_counter() - t0
                # untimed for the ratio: the hardware's pace, this round (NumPy's product is ours on the CPU)
                matmul.append(matmul_seconds("numpy" if device.type == "cpu" else "torch"))
                torch_matmul.append(matmul_seconds("torch"))
            # Odd rounds run faiss first; in even ones, ask it now (untimed) for the comparison.
            reference = reference_ids.get(r)
            if reference is None:
                _scores, reference = index.search(queries, cfg.k)
            return harness.Measurement(cfg.queries / seconds, {RECALL: same_up_to_ties(ids, reference, queries, keys)})

        label = f"{data}, {threads} thread{'s' * (threads != 1)}"
        with _load.Load() as load, harness.all_threads(threads):  # NumPy's BLAS too, for both sides
            mine, theirs = harness.interleave(ours, faiss_search, cfg.rounds, label=label)
        gflops = {
            "ours": statistics.median(m.rate for m in mine) * flop / cfg.queries / 1e9,
            "reference": statistics.median(m.rate for m in theirs) * flop / cfg.queries / 1e9,
            "matmul": flop / statistics.median(matmul) / 1e9,
            "torch matmul": flop / statistics.median(torch_matmul) / 1e9,
        }
        row = harness.row(
            label, "queries/s", "embedlab.similarity.topk", "faiss IndexFlatIP", mine, theirs,
            quality_higher_is_better={RECALL: True},
            note=(f"{n:,} keys x {d} dims, {cfg.queries:,} queries, k = {cfg.k}; ours in one call (blocks of "
                  f"{block} queries) on {device.type} with torch.set_num_threads({threads}); faiss with "
                  f"omp_set_num_threads({threads}); GFLOP/s (medians): ours {gflops['ours']:.1f}, faiss "
                  f"{gflops['reference']:.1f}, a plain matrix product of the same shape {gflops['matmul']:.1f} "
                  f"({'NumPy' if device.type == 'cpu' else 'torch'}; torch's {gflops['torch matmul']:.1f})"),
            goal=0.9,  # issue 26: within 10% of faiss's exact index at every dimension and thread count
        )
        return _load.mark({**row, "gflops": gflops}, threads, load)

    return [one_setting(t) for t in cfg.threads]


def versions() -> dict[str, str]:
    import faiss

    return {"faiss": faiss.__version__}


def main(argv: Sequence[str] | None = None) -> Path:
    return harness.main(__file__, argv, (FULL, TINY), measure, sources=SOURCES, versions=versions,
                        notes="Queries/s over the whole query set. Recall@k of ours against faiss; the lists must "
                              "agree up to ties (checked in every round). GFLOP/s: 2·queries·keys·d per second.")


if __name__ == "__main__":
    main()
