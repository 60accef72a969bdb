"""Tests for embedlab.ann (chapter 10) against exact search and faiss.

References: :func:`embedlab.similarity.topk` (exact, itself checked against ``faiss.IndexFlatIP``
here) and ``faiss.IndexIVFFlat`` with the same number of cells and probes. Each property is
also shown to fail on a deliberately broken index, so that a passing test means something.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedlab.ann import IVFIndex, RandomHyperplaneLSH, held_out_split, neighbour_recall
from embedlab.similarity import topk

faiss = pytest.importorskip("faiss")

TIE = 1e-5  # float32 dot products from two kernels differ in the last bits
MARGIN = 0.03  # |recall@10 ours - faiss| at equal cells and probes (measured: at most 0.02)


def unit_mixture(n: int, d: int, n_centres: int, spread: float, seed: int = 0) -> np.ndarray:
    """A Gaussian mixture on the sphere: centres uniform on it, points = centre + noise, normalised."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_centres, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(n_centres, size=n)] + spread * rng.standard_normal((n, d)) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def mixture():
    """20k x 32 clustered unit vectors, 200 held out: keys, queries and the exact top 10."""
    keys, queries, _, _ = held_out_split(unit_mixture(20_000, 32, 64, spread=1.5), 200)
    _scores, exact = topk(queries, keys, 10, metric="dot")
    return keys, queries, exact.numpy()


@pytest.fixture(scope="module")
def ivf(mixture):
    return IVFIndex(128).build(mixture[0])


def assert_same_up_to_ties(ids, ref_ids, queries, keys):
    """Two (q, k) neighbour lists agree except where equally near keys swap places."""
    for i, (a, b) in enumerate(zip(np.asarray(ids), np.asarray(ref_ids))):
        if set(a.tolist()) != set(b.tolist()):
            q = queries[i].astype(np.float64)
            sa, sb = np.sort(keys[a].astype(np.float64) @ q), np.sort(keys[b].astype(np.float64) @ q)
            assert np.abs(sa - sb).max() <= TIE, f"query {i}: {a.tolist()} vs {b.tolist()} differ beyond ties"


class SkipsAProbe(IVFIndex):
    """Broken on purpose: leaves out one of the cells a search should visit (the farthest by default)."""

    skip = -1

    def _probe(self, Q, nprobe):
        cells = super()._probe(Q, nprobe)
        keep = torch.ones(cells.shape[1], dtype=torch.bool)
        keep[self.skip] = False
        return cells[:, keep]


def ivf_recalls(index, keys, queries, exact, nprobes):
    return [neighbour_recall(index.search(queries, 10, nprobe=p)[1], exact) for p in nprobes]


# ---- exact search, the reference of everything below -------------------------------------------
def test_exact_topk_matches_faiss_flat_ip():
    keys, queries, _, _ = held_out_split(unit_mixture(5_000, 16, 1, spread=100.0, seed=1), 100)  # ~uniform
    _s, ours = topk(queries, keys, 10, metric="dot")
    flat = faiss.IndexFlatIP(16)
    flat.add(keys)
    _d, ref = flat.search(queries, 10)
    assert_same_up_to_ties(ours.numpy(), ref, queries, keys)
    broken = ref.copy()
    broken[0, -1] = flat.search(queries[:1], 11)[1][0, -1]  # the 11th neighbour in place of the 10th
    with pytest.raises(AssertionError, match="beyond ties"):
        assert_same_up_to_ties(broken, ref, queries, keys)


# ---- IVF ------------------------------------------------------------------------------------------
def test_ivf_probing_every_cell_is_exact(mixture, ivf):
    keys, queries, exact = mixture
    scores, ids = ivf.search(queries, 10, nprobe=128)
    exact_scores, _ = topk(queries, keys, 10, metric="dot")
    assert_same_up_to_ties(ids.numpy(), exact, queries, keys)
    torch.testing.assert_close(scores, exact_scores, atol=TIE, rtol=0)
    assert (ivf.candidate_counts == len(keys)).all()
    broken = SkipsAProbe(128).build(keys)
    broken.search(queries, 10, nprobe=128)  # the farthest cell holds no neighbour, but it was not read
    assert (broken.candidate_counts < len(keys)).all()
    broken.skip = 0  # the nearest cell: neighbours go missing
    with pytest.raises(AssertionError, match="beyond ties"):
        assert_same_up_to_ties(broken.search(queries, 10, nprobe=128)[1].numpy(), exact, queries, keys)


def test_ivf_recall_grows_with_nprobe_and_matches_faiss(mixture, ivf):
    keys, queries, exact = mixture
    nprobes = [1, 2, 4, 8, 16]
    ours = ivf_recalls(ivf, keys, queries, exact, nprobes)
    assert all(b > a for a, b in zip(ours, ours[1:])), ours  # strictly, on this data
    assert 0.3 < ours[0] < 0.7 and ours[-1] > 0.85, ours  # the data makes the curve span something
    ref = faiss.IndexIVFFlat(faiss.IndexFlatIP(32), 32, 128, faiss.METRIC_INNER_PRODUCT)
    ref.train(keys[ivf.train_ids])  # same training sample; faiss's own (spherical) k-means
    ref.add(keys)
    theirs = []
    for p in nprobes:
        ref.nprobe = p
        theirs.append(neighbour_recall(ref.search(queries, 10)[1], exact))
    assert np.abs(np.subtract(ours, theirs)).max() <= MARGIN, (ours, theirs)
    broken = ivf_recalls(SkipsAProbe(128).build(keys), keys, queries, exact, nprobes[1:])
    assert np.subtract(theirs[1:], broken).max() > 2 * MARGIN, (theirs, broken)  # would fail the margin


def test_ivf_pads_queries_with_fewer_than_k_candidates():
    keys = unit_mixture(60, 8, 6, spread=0.5, seed=2)
    index = IVFIndex(20, seed=3).build(keys)
    queries = keys[:5]
    scores, ids = index.search(queries, 10, nprobe=1)
    counts = index.candidate_counts
    assert counts.tolist() == index.list_sizes[index.probe(queries, 1)[:, 0].numpy()].tolist()
    assert (counts < 10).any()
    for i, c in enumerate(counts.tolist()):
        found = min(c, 10)
        assert (ids[i, found:] == -1).all() and torch.isinf(scores[i, found:]).all()
        assert (ids[i, :found] >= 0).all() and (scores[i, :found].diff() <= 0).all()
        torch.testing.assert_close(scores[i, :found], torch.from_numpy(keys[ids[i, :found].numpy()] @ queries[i]))
    assert ids[0, 0] == 0  # a key is filed in the cell its own query visits first


def test_ivf_is_deterministic_and_takes_numpy_scalars_and_single_queries(mixture):
    keys, queries, _ = mixture
    a = IVFIndex(np.int64(32), seed=5, train_size=4000).build(keys)
    b = IVFIndex(32, seed=5, train_size=np.int32(4000)).build(torch.from_numpy(keys))
    c = IVFIndex(32, seed=6, train_size=4000).build(keys)
    assert torch.equal(a.centroids, b.centroids) and not torch.equal(a.centroids, c.centroids)
    s, i = a.search(queries[:3], 10, nprobe=np.int64(4))
    s2, i2 = b.search(torch.from_numpy(queries[:3]), np.int64(10), nprobe=4)
    assert torch.equal(i, i2) and torch.equal(s, s2)
    one_s, one_i = a.search(queries[0], 10, nprobe=4)
    assert one_i.shape == (10,) and torch.equal(one_i, i[0]) and a.probe(queries[0], 4).shape == (4,)


# ---- LSH ------------------------------------------------------------------------------------------
def test_lsh_with_no_bits_is_exact_and_one_bit_is_not(mixture):
    keys, queries, exact = mixture
    queries, exact = queries[:20], exact[:20]  # every key is a candidate: 2 ms a query
    lsh = RandomHyperplaneLSH(32, n_bits=0, n_tables=1).build(keys)
    scores, ids = lsh.search(queries, 10)
    assert lsh.candidates_per_query == len(keys)  # one bucket holds every key
    assert_same_up_to_ties(ids.numpy(), exact, queries, keys)
    torch.testing.assert_close(scores, topk(queries, keys, 10, metric="dot")[0], atol=TIE, rtol=0)
    one_bit = RandomHyperplaneLSH(32, n_bits=1, n_tables=1).build(keys)
    assert neighbour_recall(one_bit.search(queries, 10)[1], exact) < 0.999  # the check can fail
    assert one_bit.candidates_per_query < len(keys)


def test_lsh_more_tables_and_probes_find_more(mixture):
    keys, queries, exact = mixture
    queries, exact = queries[:50], exact[:50]
    recalls, counts = [], []
    for tables in (1, 4, 16):  # the seed fixes the planes in order: 4 tables are the first 4 of 16
        lsh = RandomHyperplaneLSH(32, n_bits=10, n_tables=tables, seed=1).build(keys)
        recalls.append(neighbour_recall(lsh.search(queries, 10)[1], exact))
        counts.append(lsh.candidates_per_query)
    assert recalls[0] < recalls[1] < recalls[2] and counts[0] < counts[1] < counts[2], (recalls, counts)
    probed = [neighbour_recall(lsh.search(queries, 10, probes=p)[1], exact) for p in (0, 2, 10)]
    assert probed[0] < probed[1] < probed[2], probed
    fewer_bits = RandomHyperplaneLSH(32, n_bits=6, n_tables=1, seed=1).build(keys)
    fewer_bits.search(queries, 10)
    assert fewer_bits.candidates_per_query > counts[0]  # fewer bits: bigger buckets
    assert fewer_bits.bucket_sizes().sum() == len(keys) and len(fewer_bits.bucket_sizes()) <= 2**6


def test_lsh_is_deterministic_with_its_seed_and_pads(mixture):
    keys, queries, _ = mixture
    a, b = (RandomHyperplaneLSH(32, 12, 4, seed=7).build(keys) for _ in range(2))
    c = RandomHyperplaneLSH(32, 12, 4, seed=8).build(keys)
    (sa, ia), (sb, ib), (_sc, ic) = (x.search(queries, 10) for x in (a, b, c))
    assert torch.equal(ia, ib) and torch.equal(sa, sb) and not torch.equal(ia, ic)
    sparse = RandomHyperplaneLSH(32, n_bits=24, n_tables=1).build(keys)  # tiny buckets
    scores, ids = sparse.search(queries, 10)
    short = sparse.candidate_counts < 10
    assert short.any() and (ids[torch.from_numpy(short), -1] == -1).all()
    assert torch.isinf(scores[ids == -1]).all() and (scores[ids != -1] > -2).all()


# ---- recall and the split -------------------------------------------------------------------------
def test_neighbour_recall_by_hand():
    found, exact = [[1, 2, 3], [4, 5, -1]], [[3, 2, 9], [7, 8, 4]]
    assert neighbour_recall(found, exact) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert neighbour_recall(found, exact, k=2) == pytest.approx((1 / 2 + 0) / 2)
    assert neighbour_recall(np.array([[2, 2, 2]]), np.array([[2, 3, 4]])) == pytest.approx(1 / 3)  # no double count
    assert neighbour_recall(torch.tensor([5, 6]), torch.tensor([6, 5])) == 1.0  # one query, order ignored
    with pytest.raises(ValueError, match="queries"):
        neighbour_recall([[1], [2]], [[1]])
    with pytest.raises(ValueError, match="padding"):
        neighbour_recall([[1, 2]], [[1, -1]])
    with pytest.raises(ValueError, match="repeats"):
        neighbour_recall([[1, 2]], [[1, 1]])
    with pytest.raises(ValueError, match="k must be"):
        neighbour_recall([[1, 2]], [[1, 2]], k=3)
    with pytest.raises(ValueError, match="fewer than k = 2"):
        neighbour_recall([[1]], [[1, 2]])
    with pytest.raises(ValueError, match="integer ids"):
        neighbour_recall([[1.0, 2.0]], [[1, 2]])


def test_held_out_split_removes_the_queries_from_the_keys():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    keys, queries, key_ids, query_ids = held_out_split(x, 5, seed=3)
    assert keys.shape == (15, 2) and queries.shape == (5, 2)
    assert sorted([*key_ids, *query_ids]) == list(range(20)) and not set(key_ids) & set(query_ids)
    np.testing.assert_array_equal(keys, x[key_ids])
    np.testing.assert_array_equal(queries, x[query_ids])
    assert np.array_equal(held_out_split(x, 5, seed=3)[3], query_ids)
    assert not np.array_equal(held_out_split(x, 5, seed=4)[3], query_ids)
    t_keys, t_queries, _, t_ids = held_out_split(torch.from_numpy(x), np.int64(5), seed=3)
    assert isinstance(t_keys, torch.Tensor) and torch.equal(t_queries, torch.from_numpy(x[t_ids]))
    for bad in (0, 20, 2.5):
        with pytest.raises(ValueError, match="n_queries"):
            held_out_split(x, bad)


# ---- errors ---------------------------------------------------------------------------------------
def test_errors_name_the_argument():
    keys = unit_mixture(200, 8, 4, spread=1.0)
    ivf = IVFIndex(8).build(keys)
    lsh = RandomHyperplaneLSH(8, 4, 2).build(keys)
    for index in (ivf, lsh):
        with pytest.raises(ValueError, match="k must be"):
            index.search(keys[:2], 201)
        with pytest.raises(ValueError, match="k must be"):
            index.search(keys[:2], True)
        with pytest.raises(ValueError, match="dimension 7"):
            index.search(keys[:2, :7], 3)
        with pytest.raises(ValueError, match="queries contains NaN"):
            index.search(np.full((2, 8), np.nan), 3)
    with pytest.raises(ValueError, match="nprobe"):
        ivf.search(keys[:2], 3, nprobe=9)
    with pytest.raises(ValueError, match="probes"):
        lsh.search(keys[:2], 3, probes=5)
    bad = keys.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"keys contains NaN or infinite values \(rows \[3\]\)"):
        IVFIndex(8).build(bad)
    with pytest.raises(ValueError, match="keys has dimension 8"):
        RandomHyperplaneLSH(6).build(keys)
    with pytest.raises(ValueError, match="n_lists"):
        IVFIndex(300).build(keys)
    with pytest.raises(ValueError, match="train_size"):
        IVFIndex(8, train_size=500).build(keys)
    with pytest.raises(ValueError, match="n_bits"):
        RandomHyperplaneLSH(8, n_bits=63)
    with pytest.raises(ValueError, match="n_tables"):
        RandomHyperplaneLSH(8, n_tables=0)
    with pytest.raises(TypeError, match="queries must be real"):
        ivf.search(np.ones((2, 8), dtype=bool), 3)
    with pytest.raises(RuntimeError, match="build"):
        IVFIndex(8).search(keys[:2], 3)
    with pytest.raises(RuntimeError, match="no search"):
        _ = RandomHyperplaneLSH(8).candidates_per_query


# -- issue 21: duplicate keys give identical centroids; keys and queries must break the tie alike ---
@pytest.mark.parametrize("n_lists", [8, 12, 20])
def test_ivf_with_duplicate_keys_finds_a_query_equal_to_a_key_like_faiss(n_lists):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    keys = np.repeat(base, 10, axis=0)  # 6 distinct vectors, 10 copies each: k-means repeats centroids
    ours = IVFIndex(n_lists, seed=0).build(keys)
    c = ours.centroids.numpy()
    assert any(np.array_equal(c[i], c[j]) for i in range(n_lists) for j in range(i))  # the case at hand
    ref = faiss.IndexIVFFlat(faiss.IndexFlatIP(16), 16, n_lists, faiss.METRIC_INNER_PRODUCT)
    ref.train(keys)
    ref.add(keys)
    ref.nprobe = 1
    d_ref, i_ref = ref.search(keys, 1)
    scores, ids = ours.search(keys, 1, nprobe=1)
    # faiss finds every query (a copy of it: all ten score 1); so must we, with the same score
    np.testing.assert_allclose(scores[:, 0].numpy(), d_ref[:, 0], rtol=0, atol=1e-6)
    assert np.array_equal(keys[ids[:, 0].numpy()], keys[i_ref[:, 0]])
    # and the probed cell of a query is the cell its key was filed in, the lower id of a tie
    cell_of_key = np.empty(len(keys), dtype=np.int64)
    for cell in range(n_lists):
        cell_of_key[ours.ids[ours.offsets[cell]:ours.offsets[cell + 1]].numpy()] = cell
    probed = ours.probe(keys, 1)[:, 0].numpy()
    np.testing.assert_array_equal(probed, cell_of_key)
    first = {}
    lowest = np.array([first.setdefault(row.tobytes(), j) for j, row in enumerate(c)])
    assert np.array_equal(lowest[probed], probed)  # never a higher copy of an identical centroid


# ---- issue 21: magnitudes, ties, dtypes, and the one recall-and-speed measurement -----------------
@pytest.mark.parametrize("scale", [1e30, 1e-30, 2.0**100, 2.0**-100])
def test_ivf_and_lsh_at_large_and_tiny_magnitudes(scale):
    # float32 products of 1e30-sized vectors overflow (NaN scores and -1 ids before the fix) and
    # those of 1e-30-sized ones underflow to 0 (unrelated neighbours): a positive factor changes
    # no ranking, so the index must answer as on the unscaled vectors
    keys, queries, _, _ = held_out_split(unit_mixture(2_000, 16, 8, spread=1.0, seed=4), 50)
    K, Q = keys.astype(np.float64) * scale, queries.astype(np.float64) * scale
    _, exact = topk(torch.from_numpy(Q), torch.from_numpy(K), 10, metric="dot")  # float64 reference
    ivf = IVFIndex(16, seed=0).build(K)
    scores, ids = ivf.search(Q, 10, nprobe=16)
    np.testing.assert_array_equal(ids.numpy(), exact.numpy())
    ref_scores, _ = topk(torch.from_numpy(Q).float(), torch.from_numpy(K).float(), 10, metric="dot")
    torch.testing.assert_close(scores, ref_scores, rtol=1e-5, atol=0)  # ±inf / 0 where float32 ends
    plain = IVFIndex(16, seed=0).build(keys)
    if np.log2(scale) == round(np.log2(scale)):  # a power of two: bit for bit the unscaled answer
        np.testing.assert_array_equal(ivf.search(Q, 10, nprobe=2)[1], plain.search(queries, 10, nprobe=2)[1])
    lsh = RandomHyperplaneLSH(16, n_bits=0, n_tables=1).build(K)  # one bucket: exact
    np.testing.assert_array_equal(lsh.search(Q, 10)[1].numpy(), exact.numpy())


def test_ivf_ties_go_to_the_lower_key_id():
    from embedlab._rows import topk as rows_topk

    rng = np.random.default_rng(0)
    keys = rng.integers(-2, 3, size=(300, 4)).astype(np.float32)  # many equal dot products
    keys[(keys == 0).all(1)] = 1.0
    queries = rng.integers(-2, 3, size=(40, 4)).astype(np.float32)
    ivf = IVFIndex(8, seed=0).build(keys)
    _, ids = ivf.search(queries, 15, nprobe=8)  # every cell: exact, so the one tie rule decides
    np.testing.assert_array_equal(ids.numpy(), rows_topk(queries @ keys.T, 15)[1])
    lsh = RandomHyperplaneLSH(4, n_bits=0, n_tables=1).build(keys)  # one bucket: exact
    np.testing.assert_array_equal(lsh.search(queries, 15)[1].numpy(), rows_topk(queries @ keys.T, 15)[1])


def test_indexes_take_half_precision_and_refuse_bool():
    keys = unit_mixture(500, 8, 4, spread=1.0)
    ivf = IVFIndex(8).build(keys)
    lsh = RandomHyperplaneLSH(8, 4, 2).build(keys)
    q16 = torch.from_numpy(keys[:5]).to(torch.bfloat16)
    for index in (ivf, lsh):
        for dtype in (torch.float16, torch.bfloat16):
            q = q16.to(dtype)
            np.testing.assert_array_equal(index.search(q, 3)[1], index.search(q.float(), 3)[1])
        with pytest.raises(ValueError, match="queries must be real"):
            index.search(torch.ones(2, 8, dtype=torch.bool), 3)
        assert index.search(keys[:2], np.int64(3))[1].shape == (2, 3)
    with pytest.raises(ValueError, match="found"):
        neighbour_recall(np.array([[True, False]]), np.array([[1, 2]]))


def test_measure_search_is_recall_and_queries_per_second():
    from embedlab.ann import measure_search

    keys = unit_mixture(500, 8, 4, spread=1.0)
    _, exact = topk(keys[:20], keys, 5, metric="dot")
    ivf = IVFIndex(8).build(keys)
    recall, qps = measure_search(lambda q: ivf.search(q, 5, nprobe=2), keys[:20], exact, repeats=2)
    assert recall == neighbour_recall(ivf.search(keys[:20], 5, nprobe=2)[1], exact) and qps > 0
    assert measure_search(lambda q: topk(q, keys, 5, metric="dot"), keys[:20], exact)[0] == 1.0
    with pytest.raises(ValueError, match="repeats"):
        measure_search(lambda q: ivf.search(q, 5), keys[:20], exact, repeats=0)
    with pytest.raises(ValueError, match="search"):
        measure_search(None, keys[:20], exact)


def test_lloyd_finds_well_separated_clusters_in_float32():
    """The IVF trainer (float32 Lloyd, random distinct rows as the start) puts one centre on each
    of a few far-apart blobs once every blob holds a start, and keeps a centre with no rows."""
    from embedlab.ann import _lloyd

    rng = np.random.default_rng(0)
    centres = np.eye(8, dtype=np.float32)[:4] * 10
    X = torch.from_numpy(np.repeat(centres, 50, 0) + rng.normal(0, 0.1, (200, 8)).astype(np.float32))
    C = _lloyd(X, 4, 10, np.random.default_rng(1))
    assert C.dtype == torch.float32 and C.shape == (4, 8)
    nearest = torch.cdist(torch.from_numpy(centres), C).argmin(1)
    assert len(set(nearest.tolist())) == 4  # this seed's start draws a row from every blob
    assert torch.allclose(C[nearest], torch.from_numpy(centres), atol=0.1)
    dup = torch.ones(10, 3)  # all rows equal: every start is the same point, nothing moves
    assert torch.equal(_lloyd(dup, 3, 5, np.random.default_rng(0)), torch.ones(3, 3))


def test_ivf_numpy_and_torch_cell_products_give_the_same_answer(monkeypatch, mixture, ivf):
    """The cell loop in NumPy (threadpoolctl present) and in torch (absent) agree bit for bit on
    integer keys (exact products, ties everywhere) and up to ties on the mixture; NumPy's BLAS runs with
    torch's thread count during the search and gets its own back afterwards."""
    from threadpoolctl import threadpool_info

    import embedlab.ann as ann

    blas = {lib.filepath for lib in ann._blas_threads().lib_controllers}
    seen: list[set[int]] = []
    matmul = np.matmul

    def spy(*args, **kwargs):
        seen.append({lib["num_threads"] for lib in threadpool_info() if lib["filepath"] in blas})
        return matmul(*args, **kwargs)

    rng = np.random.default_rng(1)
    ints = rng.integers(-2, 3, size=(400, 5)).astype(np.float32)
    ints[(ints == 0).all(1)] = 1.0
    small = IVFIndex(16, seed=0).build(ints)
    cases = [(small, ints[:50], 12, 4), (small, ints[:50], 12, 16), (ivf, mixture[1], 10, 8)]
    monkeypatch.setattr(np, "matmul", spy)
    before = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with_numpy = [index.search(q, k, nprobe=p) for index, q, k, p in cases]
    finally:
        torch.set_num_threads(threads)
    assert seen and all(s == {1} for s in seen)
    assert {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()} == before
    monkeypatch.setattr(ann, "_blas_threads", lambda: None)
    seen.clear()
    with_torch = [index.search(q, k, nprobe=p) for index, q, k, p in cases]
    assert not seen
    for (s_np, i_np), (s_t, i_t) in zip(with_numpy[:2], with_torch[:2]):
        assert torch.equal(i_np, i_t) and torch.equal(s_np, s_t)
    (s_np, i_np), (s_t, i_t) = with_numpy[2], with_torch[2]  # two BLAS kernels: the last bit may differ
    assert_same_up_to_ties(i_np, i_t, mixture[1], mixture[0])
    torch.testing.assert_close(s_np, s_t, rtol=0, atol=1e-6)
    from embedlab._rows import topk as rows_topk

    np.testing.assert_array_equal(with_numpy[1][1].numpy(), rows_topk(ints[:50] @ ints.T, 12)[1])
