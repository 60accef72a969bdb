"""Tests for embedlab.bigindex (chapter 12): sharded exact search, IVF-PQ memory and recall, the arithmetic.

References: unsharded exact search (:func:`embedlab.similarity.topk`, itself checked against
faiss in test_ann.py), faiss' ``IndexShards`` over ``IndexFlatIP`` shards, faiss' own
serialisation for the bytes an IVF-PQ index holds, and sums done by hand. A merge that forgets
to offset the shards' row numbers, or keeps only the first shard's answers, is shown to fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedlab.ann import held_out_split
from embedlab.bigindex import (
    exact_search_madds,
    ivfpq_table,
    machines_needed,
    measure_madds_per_second,
    memory_at_scale,
    merge_topk,
    scan_seconds,
    search_seconds,
    sharded_search,
)
from embedlab.similarity import normalize, topk

faiss = pytest.importorskip("faiss")

TIE = 1e-5  # float32 dot products from two kernels differ in the last bits


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def assert_same_up_to_ties(ids, ref_ids, queries, keys):
    """Two (q, k) neighbour lists agree except where equally near keys swap places."""
    for i, (a, b) in enumerate(zip(np.asarray(ids), np.asarray(ref_ids))):
        if a.tolist() != b.tolist():
            q = queries[i].astype(np.float64)
            sa, sb = keys[a].astype(np.float64) @ q, keys[b].astype(np.float64) @ q
            assert np.abs(sa - sb).max() <= TIE, f"query {i}: {a.tolist()} vs {b.tolist()} differ beyond ties"


@pytest.fixture(scope="module")
def data():
    keys, queries = unit(5_000, 24, seed=1), unit(60, 24, seed=2)
    _, exact = topk(queries, keys, 10, metric="dot")
    return keys, queries, exact.numpy()


@pytest.mark.parametrize("n_shards", [1, 2, 7, 1000])
def test_sharded_equals_unsharded(data, n_shards):
    keys, queries, exact = data
    scores, ids = sharded_search(keys, queries, 10, n_shards)  # 1000 shards of 5 keys: fewer than k each
    assert ids.shape == scores.shape == (60, 10)
    assert_same_up_to_ties(ids, exact, queries, keys)
    ref = np.take_along_axis(queries @ keys.T, ids.numpy(), 1)  # the scores belong to the ids returned
    np.testing.assert_allclose(scores.numpy(), ref, atol=TIE)


def test_sharded_agrees_with_faiss_index_shards(data):
    keys, queries, _ = data
    shards = faiss.IndexShards(keys.shape[1], False, True)  # sequential, ids shifted by shard sizes
    parts = []  # faiss keeps raw pointers: the sub-indexes must outlive the search
    for chunk in np.array_split(keys, 3):
        sub = faiss.IndexFlatIP(keys.shape[1])
        sub.add(chunk)
        parts.append(sub)
        shards.add_shard(sub)
    ref_scores, ref_ids = shards.search(queries, 10)
    scores, ids = sharded_search(keys, queries, 10, 3)
    assert_same_up_to_ties(ids, ref_ids, queries, keys)
    np.testing.assert_allclose(scores.numpy(), ref_scores, atol=TIE)


def test_broken_merges_fail_the_comparison(data):
    keys, queries, exact = data
    halves = np.array_split(keys, 2)
    results = [topk(queries, h, 10, metric="dot") for h in halves]
    # Forgetting to turn a shard's row numbers into global ones ...
    _, local = merge_topk([s for s, _ in results], [i for _, i in results], 10)
    with pytest.raises(AssertionError):
        assert_same_up_to_ties(local, exact, queries, keys)
    # ... or answering from the first shard alone loses about half the neighbours.
    with pytest.raises(AssertionError):
        assert_same_up_to_ties(results[0][1], exact, queries, keys)


def test_merge_topk_padding_and_errors():
    s = [torch.tensor([[0.9, -float("inf")]]), torch.tensor([[0.5, 0.4]])]
    i = [torch.tensor([[3, -1]]), torch.tensor([[7, 8]])]
    best, ids = merge_topk(s, i, 3)
    assert ids.tolist() == [[3, 7, 8]] and best[0].tolist() == pytest.approx([0.9, 0.5, 0.4])
    with pytest.raises(ValueError, match="exceeds"):
        merge_topk(s, i, 5)
    with pytest.raises(ValueError, match="one indices"):
        merge_topk(s, i[:1], 2)
    with pytest.raises(ValueError, match="n_shards"):
        sharded_search(unit(5, 3), unit(2, 3), 2, 6)
    with pytest.raises(ValueError, match="k"):
        sharded_search(unit(5, 3), unit(2, 3), 6, 2)
    with pytest.raises(ValueError, match="dimension"):
        sharded_search(unit(5, 3), unit(2, 4), 2, 2)


@pytest.fixture(scope="module")
def glove_table():
    from embedlab.data import load_glove

    _, vectors = load_glove(20_000)
    keys, queries, _, _ = held_out_split(normalize(torch.from_numpy(vectors)).numpy(), 300)
    return keys, ivfpq_table(keys, queries, ms=(2, 5, 10), n_lists=64, nprobe=8, repeats=1)


def test_ivfpq_recall_rises_with_m_and_memory_is_as_computed(glove_table):
    keys, rows = glove_table
    n, d = keys.shape
    by_name = {r["index"]: r for r in rows}
    assert list(by_name) == ["Flat", "IVF64,Flat", "IVF64,PQ2", "IVF64,PQ5", "IVF64,PQ10"]
    assert by_name["Flat"]["recall"] == pytest.approx(1.0, abs=0.01)  # faiss' exact search = ours, ties aside
    pq = [r for r in rows if r["m"] is not None]
    recalls = [r["recall"] for r in pq]
    assert recalls == sorted(recalls) and recalls[-1] - recalls[0] > 0.2, recalls
    assert all(r["recall"] <= by_name["IVF64,Flat"]["recall"] + 0.01 for r in pq)  # codes only lose
    for r in pq:
        assert r["bytes_per_vector"] == r["m"] + 8 and r["raw_bytes"] == 4 * d == 200
        # faiss' serialisation adds the cells' centroids and the codebooks (256 centroids of d/m
        # floats for each of m slices), all shared by every vector, plus small headers.
        shared = 4 * 64 * d + 4 * 256 * d
        extra = r["serialized_bytes_per_vector"] * n - r["bytes_per_vector"] * n
        assert shared <= extra <= shared + 4096, (r["m"], extra, shared)
    assert by_name["Flat"]["serialized_bytes_per_vector"] == pytest.approx(4 * d, abs=0.1)
    assert all(r["queries_per_s"] > 0 and r["train_s"] >= 0 for r in rows)


def test_refining_buys_back_recall_from_the_codes(glove_table):
    keys, plain = glove_table
    _, queries, _, _ = held_out_split(keys, 300, seed=1)
    rows = {r["index"]: r for r in ivfpq_table(keys, queries, ms=(5,), n_lists=64, nprobe=8, repeats=1, refine=10)}
    assert list(rows) == ["Flat", "IVF64,Flat", "IVF64,PQ5", "IVF64,PQ5,RFlat"]
    pq, refined, ivf = rows["IVF64,PQ5"], rows["IVF64,PQ5,RFlat"], rows["IVF64,Flat"]
    # 50 candidates from 5-byte codes, re-ranked exactly: most of what the cells allow comes back
    assert refined["recall"] > pq["recall"] + 0.2 and refined["recall"] <= ivf["recall"] + 1e-9
    assert refined["bytes_per_vector"] == 5 + 8 + 200 and refined["refine"] == 10 and pq["refine"] is None
    assert refined["train_s"] == pq["train_s"] and refined["m"] == 5
    assert refined["serialized_bytes_per_vector"] > pq["serialized_bytes_per_vector"] + 199
    with pytest.raises(ValueError, match="refine"):
        ivfpq_table(keys, queries, ms=(5,), n_lists=64, nprobe=8, refine=0)


def test_ivfpq_table_checks_its_arguments():
    keys = unit(300, 12)
    with pytest.raises(ValueError, match="divide"):
        ivfpq_table(keys, keys[:5], ms=(5,), n_lists=4, nprobe=2)
    with pytest.raises(ValueError, match="nprobe"):
        ivfpq_table(keys, keys[:5], ms=(4,), n_lists=4, nprobe=8)
    with pytest.raises(ValueError, match="too few"):
        ivfpq_table(keys[:100], keys[:5], ms=(4,), n_lists=4, nprobe=2)
    with pytest.raises(ValueError, match="dimension"):
        ivfpq_table(keys, unit(5, 6), ms=(4,), n_lists=4, nprobe=2)


def test_arithmetic_at_scale_by_hand():
    # 10⁹ vectors of 768 float32: 768 · 4 = 3,072 bytes each, 3.072 TB in all.
    mem = memory_at_scale(10**9, 768, bytes_per_code=64)
    assert mem == {"raw": 3_072_000_000_000, "compressed": 72_000_000_000}  # PQ64: 64 + 8 bytes each
    assert memory_at_scale(10, 4) == {"raw": 160, "compressed": None}
    assert memory_at_scale(10, 4, bytes_per_float=2, bytes_per_code=2, id_bytes=0) == {"raw": 80, "compressed": 20}
    # 3.072 TB over 256 GB machines: 12 exactly; one byte more needs a 13th.
    assert machines_needed(3_072_000_000_000, 256 * 10**9) == 12
    assert machines_needed(3_072_000_000_001, 256 * 10**9) == 13
    assert machines_needed(72 * 10**9, 256 * 10**9) == 1
    assert exact_search_madds(10**9, 768) == 768 * 10**9
    assert exact_search_madds(1000, 50, n_queries=3) == 150_000
    # 7.68e11 multiply-adds at 1e10 per second: 76.8 s alone, 7.68 s over 10 shards; over 12
    # the largest shard holds ceil(10⁹ / 12) = 83,333,334 keys, and the query waits for it.
    assert search_seconds(10**9, 768, 1e10) == pytest.approx(76.8)
    assert search_seconds(10**9, 768, 1e10, n_machines=10) == pytest.approx(7.68)
    assert search_seconds(10**9, 768, 1e10, n_machines=12) == pytest.approx(83_333_334 * 768 / 1e10)
    # A lone query reads its shard once: 83,333,334 keys x 768 x 4 bytes = 256 GB at 250 GB/s.
    assert scan_seconds(10**9, 768, 250e9, n_machines=12) == pytest.approx(83_333_334 * 768 * 4 / 250e9)
    assert scan_seconds(10, 4, 1.0, bytes_per_float=2) == pytest.approx(80.0)
    for call, match in [(lambda: memory_at_scale(0, 3), "n_items"),
                        (lambda: scan_seconds(5, 3, 0.0), "bytes_per_second"),
                        (lambda: scan_seconds(5, 3, 1.0, n_machines=0), "n_machines"),
                        (lambda: machines_needed(5, 0), "ram_bytes"),
                        (lambda: search_seconds(5, 3, 0.0), "madds_per_second"),
                        (lambda: memory_at_scale(5, 3, id_bytes=-1), "id_bytes"),
                        (lambda: exact_search_madds(5, 2.5), "dim")]:
        with pytest.raises(ValueError, match=match):
            call()


def test_measured_rate_is_a_plausible_number():
    rate = measure_madds_per_second(n_keys=20_000, dim=32, n_queries=64, repeats=2)
    # a CPU core does 1e9-1e11 multiply-adds per second; the bounds leave room for a machine 1,000x busier
    assert 1e6 < rate < 1e13
    assert torch.get_num_threads() >= 1


# ---- issue 21: merge_topk and sharded_search at the edges ------------------------------------------
def test_merge_topk_refuses_nan_and_never_returns_an_index_twice():
    s = [torch.tensor([[float("nan"), 0.5]]), torch.tensor([[0.7, 0.1]])]
    i = [torch.tensor([[1, 2]]), torch.tensor([[3, 4]])]
    with pytest.raises(ValueError, match="scores"):  # torch.topk ranked the NaN first
        merge_topk(s, i, 2)
    # the same key from two shards (replicas): once, with its best score
    s = [torch.tensor([[0.9, 0.5]]), torch.tensor([[0.9, 0.8]])]
    i = [torch.tensor([[4, 2]]), torch.tensor([[4, 7]])]
    best, ids = merge_topk(s, i, 3)
    assert ids.tolist() == [[4, 7, 2]] and best.tolist()[0] == pytest.approx([0.9, 0.8, 0.5])
    # ties by the lower index, whatever shard they came from
    s = [torch.tensor([[0.5, 0.5]]), torch.tensor([[0.5, 0.5]])]
    i = [torch.tensor([[9, 5]]), torch.tensor([[1, 7]])]
    assert merge_topk(s, i, 3)[1].tolist() == [[1, 5, 7]]
    with pytest.raises(ValueError, match="indices"):
        merge_topk(s, [torch.tensor([[True, False]])] * 2, 2)
    with pytest.raises(ValueError, match="scores"):
        merge_topk([torch.tensor([[True, False]])] * 2, i, 2)
    assert merge_topk(s, i, np.int64(2))[1].tolist() == [[1, 5]]


@pytest.mark.parametrize("scale", [1e30, 1e-30, 1.0])
def test_sharded_search_equals_topk_at_any_magnitude(data, scale):
    # the float32 cast made every 1e30 product inf (and every 1e-30 one 0): the merge then ranked
    # ties, not scores
    keys, queries, _ = data
    K, Q = keys.astype(np.float64) * scale, queries.astype(np.float64) * scale
    ref_scores, ref_ids = topk(torch.from_numpy(Q), torch.from_numpy(K), 10, metric="dot")
    for n_shards in (1, 3, 1000):
        scores, ids = sharded_search(K, Q, 10, n_shards)
        np.testing.assert_array_equal(ids.numpy(), ref_ids.numpy())
        torch.testing.assert_close(scores, ref_scores, rtol=1e-12, atol=0)
    if scale == 1e30:  # float32 input: products beyond float32, still ranked right
        _, ids = sharded_search(torch.from_numpy(K).float(), torch.from_numpy(Q).float(), 10, 3)
        np.testing.assert_array_equal(ids.numpy(), ref_ids.numpy())


def test_sharded_search_dtypes():
    keys, queries = unit(300, 8, seed=3), unit(5, 8, seed=4)
    ref = sharded_search(keys, queries, 4, 3)[1]
    for dtype in (torch.float16, torch.bfloat16):
        k16, q16 = torch.from_numpy(keys).to(dtype), torch.from_numpy(queries).to(dtype)
        scores, ids = sharded_search(k16, q16, 4, 3)
        assert scores.dtype == dtype
        np.testing.assert_array_equal(ids, sharded_search(k16.float(), q16.float(), 4, 3)[1])
    assert ref.shape == (5, 4)
    with pytest.raises(ValueError, match="keys"):
        sharded_search(keys > 0, queries, 4, 3)
    with pytest.raises(ValueError, match="queries"):
        sharded_search(keys, np.full((2, 8), np.nan), 4, 3)


def test_search_seconds_checks_n_items():
    with pytest.raises(ValueError, match="n_items"):
        search_seconds(10.5, 4, 1e9)  # was used as 10.5 keys
    assert search_seconds(np.int64(10**18), 1, 1.0, n_machines=3) == float(-(-10**18 // 3))
