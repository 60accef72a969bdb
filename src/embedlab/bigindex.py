"""A vector index too big for one machine: split it into shards, compress it with product codes (chapter 12).

Two independent levers, and the arithmetic that says when each is needed:

* **Sharding** (:func:`sharded_search`): cut the keys into ``n_shards`` parts, each held by its
  own machine; every shard answers the query exactly with its own top-k, and a coordinator merges
  the ``n_shards · k`` candidates into the global top-k (:func:`merge_topk`). The merge loses
  nothing: a key of the global top-k is in its shard's top-k, since fewer than k keys of that
  shard score above it. faiss' ``IndexShards`` does the same; the tests compare with it.
* **Compression** (:func:`ivfpq_table`): faiss' ``IndexIVFPQ`` (Jégou et al., 2011) keeps, per
  vector, ``m`` one-byte codes (each names one of 256 centroids of a ``d/m``-dimensional slice of
  the vector's residual from its IVF cell centre) plus an 8-byte id in its cell's list, instead
  of ``4·d`` bytes of float32. More sub-quantisers ``m``: more bytes, finer codes, higher recall.
  What limits recall is bytes, not dimensions: at a fixed ``m`` a wider vector gets *fewer* bits
  per coordinate (8·m/d). Re-ranking (``refine``: faiss' ``IndexRefineFlat``) takes
  ``refine · k`` candidates from the codes and orders them by the exact score on the raw vectors,
  which must then be kept somewhere (in RAM here; on disk in production, read for those
  candidates only).
* **Arithmetic at scale** (:func:`memory_at_scale`, :func:`machines_needed`,
  :func:`exact_search_madds`, :func:`measure_madds_per_second`, :func:`search_seconds`,
  :func:`scan_seconds`): plain products, kept as functions so that the chapter computes its
  figures instead of quoting them. Exact search has two speed limits: arithmetic
  (:func:`search_seconds`, reached when a batch of queries shares every key read) and memory
  bandwidth (:func:`scan_seconds`: a lone query must read every key once).

Everything searches by **dot product**, on unit vectors for cosine similarity (as
:mod:`embedlab.ann`), and returns ``(scores, indices)`` like :func:`embedlab.similarity.topk`,
largest score first. faiss is imported inside the functions that need it (``faiss-cpu``, a
course dependency).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from embedlab._checks import ArgumentError, integer, number, tensor
from embedlab._rows import topk as _topk
from embedlab.ann import measure_search
from embedlab.similarity import topk

__all__ = [
    "merge_topk",
    "sharded_search",
    "ivfpq_table",
    "memory_at_scale",
    "machines_needed",
    "exact_search_madds",
    "measure_madds_per_second",
    "search_seconds",
    "scan_seconds",
]

ID_BYTES = 8  # faiss stores an int64 id beside every code in an inverted list


def _float32(x, name: str) -> np.ndarray:
    """x as a C-contiguous float32 (n, d) array for faiss; bool, NaN and inf refused by name."""
    a = tensor(x, name, ndim=2, finite=True).detach().cpu().float().numpy()
    if not np.isfinite(a).all():
        raise ArgumentError(f"{name} does not fit float32 (faiss' only dtype): rescale it")
    return np.ascontiguousarray(a)


# ---------------------------------------------------------------------------------------------
# Sharding: exact per shard, merged by a coordinator
# ---------------------------------------------------------------------------------------------
def merge_topk(
    scores: Sequence[torch.Tensor], indices: Sequence[torch.Tensor], k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The coordinator's step: the k best of every shard's candidates.

    scores, indices: one (q, k_s) pair per shard, indices already global (rows of all the keys)
    -> (scores, indices), each (q, k), best first, equal scores by the lower index (the package's
    one top-k, :func:`embedlab._rows.topk`). Padding (score ``-inf``, index ``-1``) ranks last. An
    index returned by several shards (replicas) counts once, with its best score: no index is
    returned twice. NaN scores are refused (NaN has no rank; ``torch.topk`` put it first).
    """
    if isinstance(scores, torch.Tensor) or isinstance(indices, torch.Tensor):
        raise ArgumentError("scores and indices must be sequences of tensors, one (q, k_s) pair per shard")
    if len(scores) == 0 or len(scores) != len(indices):
        raise ArgumentError(f"need one indices tensor per scores tensor, got {len(scores)} and {len(indices)}")
    S = torch.cat([tensor(s, f"scores[{j}]", ndim=2, empty=True) for j, s in enumerate(scores)], dim=1)
    parts = [torch.as_tensor(i) for i in indices]
    for j, i in enumerate(parts):
        if i.dtype == torch.bool or i.is_floating_point() or i.is_complex():
            raise ArgumentError(f"indices[{j}] must hold integer row ids, got dtype {i.dtype}")
    ids = torch.cat(parts, dim=1).to(torch.int64)  # (q, Σ k_s)
    if S.shape != ids.shape:
        raise ArgumentError(f"scores {tuple(S.shape)} and indices {tuple(ids.shape)} do not match")
    k = integer(k, "k", low=1)
    if k > S.shape[1]:
        raise ArgumentError(f"k = {k} exceeds the {S.shape[1]} candidates the shards returned")
    if bool(torch.isnan(S).any()):
        raise ArgumentError("scores contain NaN; NaN has no place in a ranking")
    # Candidates ordered by index, each index's best score first; later copies of an index become
    # padding. Then the one top-k: equal scores go to the lower position, which is the lower index.
    S1, by_score = S.sort(dim=1, descending=True, stable=True)
    ids, by_id = ids.gather(1, by_score).sort(dim=1, stable=True)
    S1 = S1.gather(1, by_id)
    again = torch.zeros_like(ids, dtype=torch.bool)
    again[:, 1:] = (ids[:, 1:] == ids[:, :-1]) & (ids[:, 1:] >= 0)
    S1 = S1.masked_fill(again, -float("inf"))
    ids = ids.masked_fill(again, -1)
    best, col = _topk(S1, k, name="scores")  # (q, k) positions among the candidates
    return best, ids.gather(1, col)


def sharded_search(keys, queries, k: int, n_shards: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k by dot product, computed as ``n_shards`` machines would: shard, search, merge.

    keys: (n, d), queries: (q, d) -> (scores, indices), each (q, k), indices rows of ``keys``.
    The keys are cut into ``n_shards`` contiguous shards of sizes differing by at most one; each
    is searched exactly with :func:`embedlab.similarity.topk` (``min(k, shard size)`` results)
    and the results merged by :func:`merge_topk`. Equal to ``topk(queries, keys, k, metric="dot")``
    up to the order of tied scores (here: the lower index first).

    The shards compute in float64 and the scores are returned in the queries' dtype: a float32
    cast of 1e30-sized vectors made every product inf (and of 1e-30-sized ones 0), so the merge
    ranked ties instead of scores. float16 and bfloat16 are accepted; bool, NaN and inf are refused.
    """
    K = tensor(keys, "keys", ndim=2, finite=True).detach().cpu()
    Q = tensor(queries, "queries", ndim=2, finite=True).detach().cpu()
    out_dtype = Q.dtype
    n = K.shape[0]
    n_shards, k = integer(n_shards, "n_shards", low=1), integer(k, "k", low=1)
    if n_shards > n:
        raise ArgumentError(f"n_shards ({n_shards}) must not exceed the number of keys ({n})")
    if k > n:
        raise ArgumentError(f"k ({k}) must not exceed the number of keys ({n})")
    if Q.shape[1] != K.shape[1]:
        raise ArgumentError(f"queries have dimension {Q.shape[1]}, keys {K.shape[1]}")
    K, Q = K.double(), Q.double()  # float64 ranks products of any float32 (and float64 up to 1e150) vectors
    bounds = np.linspace(0, n, n_shards + 1).round().astype(int)  # shard s holds rows bounds[s]:bounds[s+1]
    all_scores, all_ids = [], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        s, i = topk(Q, K[lo:hi], min(k, hi - lo), metric="dot")  # (q, k_s) local rows
        all_scores.append(s)
        all_ids.append(i + int(lo))  # local row -> global row
    best, ids = merge_topk(all_scores, all_ids, k)
    return best.to(out_dtype), ids


# ---------------------------------------------------------------------------------------------
# Compression: IVF-PQ against exact search
# ---------------------------------------------------------------------------------------------
@contextmanager
def _faiss_threads(n: int):
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def ivfpq_table(
    keys,
    queries,
    *,
    ms: Sequence[int] = (2, 5, 10),
    n_lists: int = 256,
    nprobe: int = 16,
    nbits: int = 8,
    k: int = 10,
    threads: int = 1,
    repeats: int = 3,
    refine: int | None = None,
) -> list[dict[str, object]]:
    """Memory per vector, recall@k and queries/s of flat, IVF-Flat and IVF-PQ indexes (faiss).

    keys: (n, d), queries: (q, d), unit vectors (inner product = cosine). One row (a dict) per
    index: ``"Flat"`` (exact, 4·d bytes), ``"IVF{n_lists},Flat"`` (the same cells and ``nprobe``
    as the PQ rows, raw vectors: the recall the coarse cells alone allow), then
    ``"IVF{n_lists},PQ{m}"`` for each ``m`` in ``ms`` (``m`` must divide d). Keys of a row:
    ``index, m, bytes_per_vector`` (what the lists hold per vector: 4·d for Flat, 4·d + 8 for
    IVF-Flat, ``code_size + 8`` for PQ), ``raw_bytes`` (4·d), ``serialized_bytes_per_vector``
    (faiss' own serialisation / n: adds the centroids and codebooks), ``recall`` (recall@k against
    exact :func:`~embedlab.similarity.topk`), ``queries_per_s`` (``threads`` threads; best of
    ``repeats``), ``train_s`` and ``refine``.

    With ``refine`` (an integer r >= 1), one more row per ``m`` follows the others:
    ``"IVF{n_lists},PQ{m},RFlat"``, the same trained index wrapped in faiss' ``IndexRefineFlat``
    with ``k_factor = r``: the codes propose r·k candidates, which are re-ranked by their exact
    inner product with the raw vectors. Its ``bytes_per_vector`` adds the 4·d raw bytes the
    re-ranking reads (``train_s`` is the wrapped index's: nothing more is trained). Its recall is
    at most IVF-Flat's (the candidates come from the same ``nprobe`` cells).

    faiss trains each sub-quantiser with k-means on ``d/m``-dimensional slices, and its k-means is
    slow on 1- and 2-dimensional slices: on unit GloVe keys, one thread, PQ50 (1 dimension a slice)
    trained in 33 s (30k keys) to 76 s (100k keys) and PQ25 in 4-16 s, against at most 3 s for
    PQ10. Hence the default ``ms``; pass ``ms=(2, 5, 10, 25)`` for the longer curve.
    """
    import faiss

    K, Q = _float32(keys, "keys"), _float32(queries, "queries")
    n, d = K.shape
    if Q.shape[1] != d:
        raise ArgumentError(f"queries have dimension {Q.shape[1]}, keys {d}")
    n_lists, nprobe, nbits, k = (integer(v, name, low=1) for v, name in
                                 ((n_lists, "n_lists"), (nprobe, "nprobe"), (nbits, "nbits"), (k, "k")))
    threads, repeats = integer(threads, "threads", low=1), integer(repeats, "repeats", low=1)
    refine = None if refine is None else integer(refine, "refine", low=1)
    if nprobe > n_lists:
        raise ArgumentError(f"nprobe ({nprobe}) must not exceed n_lists ({n_lists})")
    ms = [integer(m, "each m in ms", low=1) for m in ms]
    if bad := [m for m in ms if d % m]:
        raise ArgumentError(f"each m in ms must divide the dimension {d}; {bad} do not")
    if n < max(n_lists, 1 << nbits):
        raise ArgumentError(f"{n} keys are too few to train {n_lists} cells and {1 << nbits} centroids per code")
    _, exact = topk(torch.from_numpy(Q), torch.from_numpy(K), k, metric="dot")

    def build(index: faiss.Index) -> tuple[faiss.Index, float]:
        start = time.perf_counter()
        index.train(K)  # a no-op for Flat
        index.add(K)
        return index, time.perf_counter() - start

    def measured(index: faiss.Index, name: str, pq_m: int | None, per_vector: int,
                 train_s: float) -> dict[str, object]:
        def search(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return index.search(q, k)

        recall, qps = measure_search(search, Q, exact, k, repeats=repeats)
        return {
            "index": name, "m": pq_m, "bytes_per_vector": per_vector, "raw_bytes": 4 * d,
            "serialized_bytes_per_vector": len(faiss.serialize_index(index)) / n,
            "recall": recall, "queries_per_s": qps, "train_s": train_s,
            "refine": refine if name.endswith(",RFlat") else None,
        }

    rows = []
    pq_indexes: list[tuple[str, int, faiss.Index, int, float]] = []  # kept for re-ranking
    with _faiss_threads(threads):
        def ivf_pq(m: int) -> Callable[[], faiss.Index]:
            return lambda: faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, n_lists, m, nbits, faiss.METRIC_INNER_PRODUCT)

        # (name, PQ sub-quantisers or None, a factory of the unbuilt index)
        candidates: list[tuple[str, int | None, Callable[[], faiss.Index]]] = [
            ("Flat", None, lambda: faiss.IndexFlatIP(d))]
        candidates.append((f"IVF{n_lists},Flat", None, lambda: faiss.IndexIVFFlat(
            faiss.IndexFlatIP(d), d, n_lists, faiss.METRIC_INNER_PRODUCT)))
        for m in ms:
            candidates.append((f"IVF{n_lists},PQ{m}", m, ivf_pq(m)))
        for name, pq_m, make in candidates:
            index, train_s = build(make())
            if isinstance(index, faiss.IndexIVF):  # every candidate but Flat
                per_vector = (4 * d if pq_m is None else int(index.code_size)) + ID_BYTES
                index.nprobe = nprobe
            else:
                per_vector = 4 * d
            if pq_m is not None and refine is not None:
                pq_indexes.append((name, pq_m, index, per_vector, train_s))
            rows.append(measured(index, name, pq_m, per_vector, train_s))
        for name, pq_m, index, per_vector, train_s in pq_indexes:
            assert refine is not None  # pq_indexes is empty otherwise
            refined = faiss.IndexRefineFlat(index, faiss.swig_ptr(K))  # copies K: the raw vectors
            refined.k_factor = refine
            rows.append(measured(refined, f"{name},RFlat", pq_m, per_vector + 4 * d, train_s))
    return rows


# ---------------------------------------------------------------------------------------------
# Arithmetic at scale
# ---------------------------------------------------------------------------------------------
def memory_at_scale(n_items: int, dim: int, *, bytes_per_code: int | None = None, id_bytes: int = ID_BYTES,
                    bytes_per_float: int = 4) -> dict[str, int | None]:
    """Bytes to hold ``n_items`` vectors: ``raw`` = n · dim · bytes_per_float (a flat index: the
    row number is the id), and with ``bytes_per_code`` (PQ's m at 8 bits) ``compressed`` =
    n · (bytes_per_code + id_bytes) (codes in inverted lists carry their ids). Centroids and
    codebooks are left out: kilobytes to megabytes, nothing beside n · m at 10⁹ items."""
    n, dim = integer(n_items, "n_items", low=1), integer(dim, "dim", low=1)
    bytes_per_float = integer(bytes_per_float, "bytes_per_float", low=1)
    id_bytes = integer(id_bytes, "id_bytes", low=0)
    compressed = None if bytes_per_code is None else n * (integer(bytes_per_code, "bytes_per_code", low=1) + id_bytes)
    return {"raw": n * dim * bytes_per_float, "compressed": compressed}


def machines_needed(n_bytes: int, ram_bytes: int) -> int:
    """How many machines of ``ram_bytes`` hold ``n_bytes``: ``ceil(n_bytes / ram_bytes)``.

    Plain division: pass the RAM an index may really use (the operating system, the queries
    and a copy during rebuilds need their share).
    """
    return -(-integer(n_bytes, "n_bytes", low=1) // integer(ram_bytes, "ram_bytes", low=1))  # integer ceil


def exact_search_madds(n_items: int, dim: int, n_queries: int = 1) -> int:
    """Multiply-adds of exact search: every query times every key, ``n_queries · n_items · dim``."""
    return integer(n_queries, "n_queries", low=1) * integer(n_items, "n_items", low=1) * integer(dim, "dim", low=1)


def search_seconds(n_items: int, dim: int, madds_per_second: float, *, n_machines: int = 1) -> float:
    """Seconds of exact search for one query when ``n_machines`` shards each scan n / n_machines keys
    at ``madds_per_second`` (the merge of n_machines · k candidates is negligible beside it)."""
    madds_per_second = number(madds_per_second, "madds_per_second", low=0, low_open=True)
    n_items, n_machines = integer(n_items, "n_items", low=1), integer(n_machines, "n_machines", low=1)
    return exact_search_madds(-(-n_items // n_machines), dim) / madds_per_second  # integer ceil


def scan_seconds(n_items: int, dim: int, bytes_per_second: float, *, n_machines: int = 1,
                 bytes_per_float: int = 4) -> float:
    """Seconds for one query alone to read its shard: ``ceil(n / n_machines) · dim · bytes_per_float``
    bytes at ``bytes_per_second`` of memory bandwidth per machine.

    A lone query does one multiply-add per float it reads, far too little arithmetic to keep a
    core busy, so it waits for memory, not for arithmetic: this is its floor, however many cores
    a machine has. :func:`search_seconds` at a batched (compute-bound) rate is the other floor;
    a query takes at least the larger of the two.
    """
    bytes_per_second = number(bytes_per_second, "bytes_per_second", low=0, low_open=True)
    n_items, n_machines = integer(n_items, "n_items", low=1), integer(n_machines, "n_machines", low=1)
    dim, bytes_per_float = integer(dim, "dim", low=1), integer(bytes_per_float, "bytes_per_float", low=1)
    return -(-n_items // n_machines) * dim * bytes_per_float / bytes_per_second


def measure_madds_per_second(*, n_keys: int = 100_000, dim: int = 50, n_queries: int = 256, threads: int = 1,
                             repeats: int = 3, seed: int = 0) -> float:
    """Multiply-adds per second of exact search on this machine: ``queries @ keys.T`` in float32.

    A batch of queries makes the product compute-bound (each key read once serves every query),
    so this is the optimistic rate; a single query reads 4·d bytes per key and is limited by
    memory bandwidth instead. Best of ``repeats``, on ``threads`` torch threads.
    """
    n_keys, dim = integer(n_keys, "n_keys", low=1), integer(dim, "dim", low=1)
    n_queries = integer(n_queries, "n_queries", low=1)
    threads, repeats = integer(threads, "threads", low=1), integer(repeats, "repeats", low=1)
    g = torch.Generator().manual_seed(seed)
    K, Q = torch.randn(n_keys, dim, generator=g), torch.randn(n_queries, dim, generator=g)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        Q @ K.T  # warm-up
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            Q @ K.T  # (q, n) scores: q · n · d multiply-adds
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return exact_search_madds(n_keys, dim, n_queries) / best
