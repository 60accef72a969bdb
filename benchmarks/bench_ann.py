"""Approximate nearest neighbours (chapter 10) vs faiss IVF and LSH on GloVe.

Our inverted-file index and random-hyperplane LSH (:mod:`embedlab.ann`) against faiss on all of
GloVe 6B (400,000 words, 50 dimensions, :func:`embedlab.data.load_glove`), unit-normalised and
searched by inner product (cosine). 1,000 rows are held out as queries
(:func:`embedlab.ann.held_out_split`), so a query never finds itself; the truth is the exact top
10 of :func:`embedlab.similarity.topk`. Both sides search the whole query set in one call
(batched), on the CPU with one thread (``torch.set_num_threads`` / ``faiss.omp_set_num_threads``).
Speed is queries per second of that call; quality is recall@10 against the exact neighbours,
with the number of keys whose score each query computed beside it.

* IVF: ``IVFIndex(1024)`` against ``faiss.IndexIVFFlat`` (``METRIC_INNER_PRODUCT``, an
  ``IndexFlatIP`` quantiser), same cells and ``nprobe``. Both train on the same 65,536 keys
  (``IVFIndex.train_ids``), each with its own k-means (ours Euclidean then normalised, faiss
  spherical), for 10 iterations each.
* LSH: faiss has no multi-table bucketed LSH, so the reference is the same hash family used the
  other way round: ``IndexLSH`` (signs of random projections, as ours) holding as many bits per key
  as all our tables together, scanned by Hamming distance, then ``IndexRefineFlat`` re-ranks
  exactly as many candidates per query as ours did on average (``k_factor``). Same code budget,
  same re-ranking budget; they differ in how candidates are found (buckets against a linear scan
  of short codes). HNSW is a different algorithm; the chapter draws it on its recall-speed curve.

Build times (untimed by the harness, one run each) are in each row's note.

    python -m benchmarks.bench_ann                 # full size, writes benchmarks/results/ann.json
    python -m benchmarks.bench_ann --tiny --out /tmp/bench
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from . import _harness as harness

SOURCES = ("src/embedlab/ann.py", "src/embedlab/similarity.py", "src/embedlab/cluster.py")
RECALL = "recall@10 vs exact"
SCORED = "keys scored per query"
QUALITY = {RECALL: True, SCORED: False}
T = TypeVar("T")


@dataclass
class Config:
    n_words: int | None = None  # None: all 400,000 GloVe rows
    queries: int = 1_000
    k: int = 10
    n_lists: int = 1024
    nprobes: tuple[int, ...] = (32, 64)
    lsh_bits: int = 14  # per table; measured on GloVe 400k (100 queries): recall@10 0.86 with
    lsh_tables: int = 16  # 16 tables and 8 probes, scoring 18k keys (4.5%) per query
    lsh_probes: int = 8
    threads: int = 1
    rounds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("queries", "k", "n_lists", "lsh_tables", "threads", "rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.nprobes or any(not 1 <= p <= self.n_lists for p in self.nprobes):
            raise ValueError(f"nprobes must be values between 1 and n_lists ({self.n_lists}), got {self.nprobes}")


FULL = Config()
TINY = Config(n_words=5_000, queries=50, n_lists=32, nprobes=(2, 4), lsh_bits=8, lsh_tables=8, lsh_probes=2,
              rounds=2)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32 (GloVe has no all-zero row)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(cfg: Config, device: torch.device) -> list[dict]:
    import faiss

    from embedlab.ann import IVFIndex, RandomHyperplaneLSH, held_out_split, measure_search
    from embedlab.data import load_glove
    from embedlab.similarity import topk

    start = time.perf_counter()
    _words, vectors = load_glove(cfg.n_words)
    keys, queries, _key_ids, _query_ids = held_out_split(unit_rows(vectors), cfg.queries, seed=cfg.seed)
    n, d = keys.shape
    default_faiss_threads = faiss.omp_get_max_threads()

    def threads(fn: Callable[[], T]) -> T:
        """fn() with cfg.threads threads on both libraries' pools."""
        faiss.omp_set_num_threads(cfg.threads)
        try:
            with harness.torch_threads(cfg.threads):
                return fn()
        finally:
            faiss.omp_set_num_threads(default_faiss_threads)

    def one_thread(fn: Callable[[], object]) -> float:
        """Seconds fn takes with cfg.threads threads on both libraries' pools."""
        return threads(lambda: timed(fn))

    def searched(search: Callable[[np.ndarray], tuple]) -> tuple[float, float]:
        """(recall@k, queries/s) of one batched search of all queries: embedlab.ann.measure_search."""
        return threads(lambda: measure_search(search, queries, exact, cfg.k))

    truth: list[np.ndarray] = []
    exact_seconds = one_thread(lambda: truth.append(topk(queries, keys, cfg.k, metric="dot")[1].numpy()))
    exact = truth[0]
    print(f"  {n:,} keys x {d} dims, {cfg.queries:,} held-out queries, k = {cfg.k} "
          f"(loaded in {time.perf_counter() - start:.1f} s; exact search {cfg.queries / exact_seconds:,.0f} queries/s)")
    if device.type != "cpu":
        print(f"  (the indexes are CPU code: both sides run on the CPU, not on {device.type})")

    ours_ivf = IVFIndex(cfg.n_lists, seed=cfg.seed)
    ivf_build = one_thread(lambda: ours_ivf.build(keys))
    faiss_ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, cfg.n_lists, faiss.METRIC_INNER_PRODUCT)
    faiss_ivf_build = one_thread(lambda: (faiss_ivf.train(keys[ours_ivf.train_ids]), faiss_ivf.add(keys)))
    built = (f"build: ours {ivf_build:.2f} s, faiss {faiss_ivf_build:.2f} s (k-means on the same "
             f"{len(ours_ivf.train_ids):,} keys, then filing all {n:,})")
    rows = []
    for nprobe in cfg.nprobes:
        def ours_ivf_search(_r: int, nprobe: int = nprobe) -> harness.Measurement:
            recall, qps = searched(lambda q: ours_ivf.search(q, cfg.k, nprobe=nprobe))
            return harness.Measurement(qps, {RECALL: recall, SCORED: ours_ivf.candidates_per_query})

        def faiss_ivf_search(_r: int, nprobe: int = nprobe) -> harness.Measurement:
            faiss_ivf.nprobe = nprobe
            faiss.cvar.indexIVF_stats.reset()
            recall, qps = searched(lambda q: faiss_ivf.search(q, cfg.k))
            scored = faiss.cvar.indexIVF_stats.ndis / cfg.queries
            return harness.Measurement(qps, {RECALL: recall, SCORED: scored})

        label = f"IVF, {cfg.n_lists} cells, nprobe {nprobe}"
        mine, theirs = harness.interleave(ours_ivf_search, faiss_ivf_search, cfg.rounds, label=label)
        rows.append(harness.row(
            label, "queries/s", "embedlab.ann.IVFIndex", "faiss IndexIVFFlat", mine, theirs,
            quality_higher_is_better=QUALITY,
            note=f"{n:,} keys, {cfg.queries:,} queries in one call, {cfg.threads} thread(s); {built}",
        ))

    lsh = RandomHyperplaneLSH(d, cfg.lsh_bits, cfg.lsh_tables, seed=cfg.seed)
    lsh_build = one_thread(lambda: lsh.build(keys))
    lsh.search(queries, cfg.k, probes=cfg.lsh_probes)  # untimed: how many candidates faiss may re-rank
    k_factor = max(1, round(lsh.candidates_per_query / cfg.k))
    bits = cfg.lsh_bits * cfg.lsh_tables
    faiss_lsh = faiss.IndexRefineFlat(faiss.IndexLSH(d, bits))
    faiss_lsh.k_factor = k_factor
    faiss_lsh_build = one_thread(lambda: (faiss_lsh.train(keys), faiss_lsh.add(keys)))

    def ours_lsh_search(_r: int) -> harness.Measurement:
        recall, qps = searched(lambda q: lsh.search(q, cfg.k, probes=cfg.lsh_probes))
        return harness.Measurement(qps, {RECALL: recall, SCORED: lsh.candidates_per_query})

    def faiss_lsh_search(_r: int) -> harness.Measurement:
        recall, qps = searched(lambda q: faiss_lsh.search(q, cfg.k))
        return harness.Measurement(qps, {RECALL: recall, SCORED: float(cfg.k * k_factor)})

    label = f"LSH, {cfg.lsh_tables} tables x {cfg.lsh_bits} bits, {cfg.lsh_probes} probes"
    mine, theirs = harness.interleave(ours_lsh_search, faiss_lsh_search, cfg.rounds, label=label)
    rows.append(harness.row(
        label, "queries/s", "embedlab.ann.RandomHyperplaneLSH", "faiss IndexLSH + IndexRefineFlat", mine, theirs,
        quality_higher_is_better=QUALITY,
        note=(f"faiss: {bits} bits per key (as our {cfg.lsh_tables} tables together), Hamming scan of all {n:,} codes, "
              f"then k_factor {k_factor} = {cfg.k * k_factor:,} candidates re-ranked exactly (our mean); "
              f"build: ours {lsh_build:.2f} s, faiss {faiss_lsh_build:.2f} s"),
    ))
    return rows


def versions() -> dict[str, str]:
    import faiss

    return {"faiss": faiss.__version__}


def main(argv: Sequence[str] | None = None) -> Path:
    return harness.main(__file__, argv, (FULL, TINY), measure, sources=SOURCES, versions=versions,
                        notes="Queries/s of one batched search over all held-out queries, one thread, CPU. "
                              "Recall@10 against exact search (similarity.topk); keys scored per query is the "
                              "number of exact dot products (for faiss LSH, on top of a Hamming scan of every code).")


if __name__ == "__main__":
    main()
