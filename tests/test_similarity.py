"""embedlab.similarity against torch.nn.functional and numpy references."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from embedlab import similarity as sim


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_dot_matches_torch(gen):
    a, b = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen)
    torch.testing.assert_close(sim.dot(a, b), (a * b).sum(-1))
    torch.testing.assert_close(sim.dot(a[0], b[0]), torch.dot(a[0], b[0]))


def test_cosine_matches_torch_functional(gen):
    a = torch.randn(4, 3, 16, generator=gen, dtype=torch.float64)
    b = torch.randn(3, 16, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(sim.cosine(a, b), F.cosine_similarity(a, b.expand_as(a), dim=-1))


def test_cosine_accepts_numpy_and_lists():
    assert sim.cosine([1.0, 0.0], np.array([0.0, 2.0])).item() == pytest.approx(0.0)
    assert sim.cosine([1, 1], [2, 2]).item() == pytest.approx(1.0)


def test_unit_vectors_distance_identity(gen):
    a = sim.normalize(torch.randn(50, 32, generator=gen, dtype=torch.float64))
    b = sim.normalize(torch.randn(50, 32, generator=gen, dtype=torch.float64))
    torch.testing.assert_close(sim.euclidean(a, b) ** 2, 2 - 2 * sim.cosine(a, b))


def test_pairwise_matches_references(gen):
    A = torch.randn(6, 10, generator=gen, dtype=torch.float64)
    B = torch.randn(4, 10, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(sim.pairwise_dot(A, B), A @ B.T)
    torch.testing.assert_close(sim.pairwise_cosine(A, B), F.cosine_similarity(A[:, None], B[None], dim=-1))
    torch.testing.assert_close(sim.pairwise_euclidean(A, B), torch.cdist(A, B))
    torch.testing.assert_close(sim.pairwise_cosine(A), sim.pairwise_cosine(A, A))
    assert torch.allclose(torch.diagonal(sim.pairwise_euclidean(A)), torch.zeros(6, dtype=torch.float64), atol=1e-6)


def test_cosine_is_clamped_to_unit_interval():
    a = torch.tensor([[1e-3, 1e-3, 1e-3]] * 3, dtype=torch.float32)
    S = sim.pairwise_cosine(a)
    assert S.max() <= 1.0 and S.min() >= -1.0


def test_zero_vector_policy():
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="zero vector"):
        sim.cosine(a, torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"index \[\[1\]\]"):
        sim.pairwise_cosine(a)
    # zero="zero" agrees with torch's convention (F.cosine_similarity clamps the norm): cosine 0.
    got = sim.cosine(a, torch.tensor([1.0, 1.0]), zero="zero")
    torch.testing.assert_close(got, F.cosine_similarity(a, torch.tensor([[1.0, 1.0]]), dim=-1))
    assert sim.pairwise_cosine(a, zero="zero")[1].eq(0).all()
    assert not torch.isnan(sim.normalize(a, zero="zero")).any()
    with pytest.raises(ValueError, match="zero must be"):
        sim.cosine(a, a, zero="nan")


@pytest.mark.parametrize("fn", [sim.dot, sim.cosine, sim.euclidean])
def test_dimension_mismatch_is_a_clear_error(fn):
    with pytest.raises(ValueError, match="embedding dimensions differ"):
        fn(torch.ones(3), torch.ones(4))


def test_pairwise_needs_matrices():
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        sim.pairwise_dot(torch.ones(3))
    with pytest.raises(ValueError, match="no rows"):
        sim.pairwise_cosine(torch.ones(0, 3))
    with pytest.raises(ValueError, match="at least one dimension"):
        sim.dot(torch.tensor(1.0), torch.tensor(1.0))


def test_topk_matches_brute_force_sort(gen):
    keys = torch.randn(40, 8, generator=gen, dtype=torch.float64)
    queries = torch.randn(5, 8, generator=gen, dtype=torch.float64)
    for metric, S, descending in [
        ("dot", queries @ keys.T, True),
        ("cosine", F.cosine_similarity(queries[:, None], keys[None], dim=-1), True),
        ("euclidean", torch.cdist(queries, keys), False),
    ]:
        scores, idx = sim.topk(queries, keys, 5, metric=metric)
        order = torch.argsort(S, dim=-1, descending=descending)[:, :5]
        assert torch.equal(idx, order)
        torch.testing.assert_close(scores, torch.gather(S, 1, order))


def test_topk_single_query_and_exclude_self(gen):
    keys = torch.randn(10, 4, generator=gen)
    s, i = sim.topk(keys[3], keys, 1)
    assert i.tolist() == [3] and s.shape == (1,)
    _, idx = sim.topk(keys, keys, 3, exclude_self=True)
    assert all(r not in row for r, row in enumerate(idx.tolist()))


@pytest.mark.parametrize("k", [0, 11, -1, 2.5, True])
def test_topk_rejects_bad_k(k, gen):
    keys = torch.randn(10, 4, generator=gen)
    with pytest.raises(ValueError, match=r"k must be an integer(, got| between 1 and 10)"):
        sim.topk(keys[0], keys, k)


def test_topk_rejects_k_equal_n_when_excluding_self(gen):
    keys = torch.randn(5, 4, generator=gen)
    with pytest.raises(ValueError, match="between 1 and 4"):
        sim.topk(keys, keys, 5, exclude_self=True)
    with pytest.raises(ValueError, match="metric"):
        sim.topk(keys, keys, 2, metric="manhattan")


# ---- numerics at awkward scales (each case failed before the fix) ----------------------------


def _exact_cdist(A, B):
    """Float64 distances from the differences (torch.cdist's matrix-product path rounds too)."""
    A, B = torch.as_tensor(A).double(), torch.as_tensor(B).double()
    return torch.cdist(A, B, compute_mode="donot_use_mm_for_euclid_dist")


def test_pairwise_euclidean_keeps_small_distances_far_from_the_origin():
    A = torch.tensor([[1000.0, 1000.0], [1000.01, 1000.0]])  # float32, 0.01 apart
    D = sim.pairwise_euclidean(A)
    torch.testing.assert_close(D.double(), _exact_cdist(A, A), rtol=1e-6, atol=0)
    assert D[0, 1] > 0.0099


def test_pairwise_euclidean_offset_data_matches_float64(gen):
    X = torch.randn(300, 64, generator=gen) + 100  # float32
    D = sim.pairwise_euclidean(X)
    assert torch.all(D.diagonal() == 0)  # a point is exactly 0 from itself (was up to 0.87)
    ref = _exact_cdist(X, X)
    off = ~torch.eye(300, dtype=torch.bool)
    assert ((D.double() - ref)[off].abs() / ref[off]).max() < 1e-5
    Y = torch.randn(40, 64, generator=gen) + 100
    torch.testing.assert_close(sim.pairwise_euclidean(Y, X).double(), _exact_cdist(Y, X), rtol=1e-5, atol=0)


@pytest.mark.parametrize("scale", [1e30, 1e-30, 3e37])
def test_pairwise_euclidean_extreme_scales(gen, scale):
    X = torch.randn(30, 8, generator=gen, dtype=torch.float64)
    Xs = (X * scale).float()
    D = sim.pairwise_euclidean(Xs)
    assert torch.isfinite(D).all()
    torch.testing.assert_close(D.double(), _exact_cdist(Xs, Xs), rtol=1e-5, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_pairwise_euclidean_half_precision(gen, dtype):
    X = (torch.randn(50, 16, generator=gen) * 300).clamp(-3000, 3000).to(dtype)  # ‖x‖² overflows float16
    D = sim.pairwise_euclidean(X)
    assert D.dtype == dtype and torch.isfinite(D).all() and torch.all(D.diagonal() == 0)
    # the float64 answer for the same inputs, rounded once to the output dtype
    torch.testing.assert_close(D, _exact_cdist(X, X).to(dtype), rtol=2 ** -7, atol=0)


def test_euclidean_extreme_scales():
    for scale in (1e30, 1e-30):
        a, b = torch.tensor([3.0, 0.0]) * scale, torch.tensor([0.0, 4.0]) * scale
        assert sim.euclidean(a, b).item() == pytest.approx(5 * scale, rel=1e-6)
    h = torch.tensor([6e4, 0.0], dtype=torch.float16)
    assert sim.euclidean(h, -h).item() == float("inf")  # 1.2e5 is not a float16 number
    assert sim.euclidean(h, 0.5 * h).item() == pytest.approx(3e4, rel=1e-3)


def _np_cosine(a, b):
    """Cosine in NumPy float64 (F.cosine_similarity clamps norms at 1e-8, wrong for tiny vectors)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.mark.parametrize("scale", [1e30, 1e-30, 1e-40])
def test_cosine_and_normalize_at_extreme_scales(gen, scale):
    a = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    b = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    a32, b32 = (a * scale).float(), (b * scale).float()  # 1e-40 is subnormal in float32
    A, B = a32.double().numpy(), b32.double().numpy()
    np.testing.assert_allclose(sim.cosine(a32, b32).numpy(), _np_cosine(A, B), rtol=0, atol=1e-5)
    S = sim.pairwise_cosine(a32, b32).numpy()
    np.testing.assert_allclose(S, _np_cosine(A[:, None], B[None]), rtol=0, atol=1e-5)
    u = sim.normalize(a32)
    assert u.dtype == torch.float32
    np.testing.assert_allclose(u.numpy(), A / np.linalg.norm(A, axis=-1, keepdims=True), rtol=0, atol=1e-6)
    assert sim.cosine(torch.full((4,), scale), torch.full((4,), scale)).item() == pytest.approx(1.0)


def test_cosine_float16_and_bfloat16_at_large_scale(gen):
    x = (torch.randn(20, 8, generator=gen).clamp(-3, 3) * 2e4)
    for dtype in (torch.float16, torch.bfloat16):
        X = x.to(dtype)
        ref = torch.from_numpy(_np_cosine(X.double()[:, None], X.double()[None]))
        S = sim.pairwise_cosine(X)
        assert S.dtype == dtype and torch.isfinite(S).all()
        torch.testing.assert_close(S.double(), ref, rtol=0, atol=1e-2)
        torch.testing.assert_close(sim.cosine(X, X.flip(0)).double(), ref.flip(1).diagonal(), rtol=0, atol=1e-2)
        u = sim.normalize(X)
        assert u.dtype == dtype
        torch.testing.assert_close(u.double().norm(dim=-1), torch.ones(20, dtype=torch.float64), rtol=0, atol=1e-2)
    h = torch.full((4,), 6e4, dtype=torch.float16)
    assert sim.cosine(h, h).item() == 1.0  # ‖h‖² = 1.4e10 overflowed float16: cosine was 0


def test_dot_half_precision_where_the_answer_is_representable():
    b = torch.tensor([1e20, 1e20, -1e20, -1e20], dtype=torch.bfloat16)
    assert sim.dot(b, b.abs()).item() == 0.0  # each product overflows float32: was NaN
    assert sim.pairwise_dot(b[None], b.abs()[None]).item() == 0.0
    h = torch.tensor([200.0] * 64, dtype=torch.float16)
    g = torch.tensor([0.5, -0.25] * 32, dtype=torch.float16)
    assert sim.dot(h, g).item() == float(np.dot(h.double().numpy(), g.double().numpy()))
    assert sim.dot(h, h).item() == float("inf")  # 2.56e6 is not a float16 number


def test_zero_rows_are_only_exact_zeros():
    tiny = torch.full((2, 3), 1e-30)  # its norm squared underflows float32
    torch.testing.assert_close(sim.pairwise_cosine(tiny), torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"zero row at index \[\[0\]\]"):
        sim.normalize(torch.tensor([[0.0, 0.0], [1e-30, 0.0]]))


def test_normalize_is_differentiable_like_torch(gen):
    x = torch.randn(5, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    (sim.normalize(x) * w).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    (F.normalize(x2, dim=-1) * w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    assert torch.autograd.gradcheck(lambda t: sim.normalize(t * 1e30), (x.detach().clone().requires_grad_(),))
    z = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    sim.normalize(z, zero="zero").sum().backward()
    assert torch.isfinite(z.grad).all()


# ---- top-k: NaN, batching, the one exact k-NN ------------------------------------------------


def test_topk_refuses_nan_and_inf(gen):
    keys = torch.randn(10, 4, generator=gen)
    bad = keys.clone()
    bad[2, 1] = float("nan")  # NaN compares false with everything: it used to be ranked first
    for metric in ("dot", "cosine", "euclidean"):
        with pytest.raises(ValueError, match=r"keys contains NaN.*rows \[2\]"):
            sim.topk(keys[0], bad, 3, metric=metric)
        with pytest.raises(ValueError, match="queries contains NaN"):
            sim.topk(bad, keys, 3, metric=metric)
    bad[2, 1] = float("inf")
    with pytest.raises(ValueError, match="keys"):
        sim.topk(keys[0], bad, 3, metric="dot")


@pytest.mark.parametrize("metric", ["dot", "cosine", "euclidean"])
def test_topk_batches_give_the_same_answer(gen, metric):
    keys = torch.randn(200, 6, generator=gen, dtype=torch.float64)
    queries = torch.randn(37, 6, generator=gen, dtype=torch.float64)
    ref = sim.topk(queries, keys, 5, metric=metric, batch_size=1000)
    for bs in (1, 7, None):
        s, i = sim.topk(queries, keys, 5, metric=metric, batch_size=bs)
        assert torch.equal(i, ref[1])
        torch.testing.assert_close(s, ref[0])
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            sim.topk(queries, keys, 5, metric=metric, batch_size=bad)
    with pytest.raises(ValueError, match="zero must be"):
        sim.topk(queries, keys, 5, metric=metric, zero="nan")


def test_topk_euclidean_offset_data_matches_float64(gen):
    X = torch.randn(500, 64, generator=gen) + 100  # float32; the old expansion lost ~1 in distance
    D = _exact_cdist(X, X)
    D.fill_diagonal_(float("inf"))
    ref_d, ref_i = torch.sort(D, dim=1)
    s, i = sim.topk(X, X, 5, metric="euclidean", exclude_self=True, batch_size=64)
    assert torch.equal(i, ref_i[:, :5])
    torch.testing.assert_close(s.double(), ref_d[:, :5], rtol=1e-5, atol=0)
    # exact duplicates: distance exactly 0, and the rest of the list still right
    Y = torch.cat([X[:50], X[:50]])
    s, i = sim.topk(Y, Y, 1, metric="euclidean", exclude_self=True)
    assert torch.all(s == 0) and torch.equal(i[:, 0], torch.arange(100).roll(50))


def test_topk_half_precision(gen):
    X = (torch.randn(100, 16, generator=gen) * 300).half()
    for metric in ("euclidean", "cosine", "dot"):
        s, i = sim.topk(X, X, 3, metric=metric, exclude_self=True)
        assert s.dtype == torch.float16
        assert torch.isfinite(s).all() or metric == "dot"
    s, i = sim.topk(X, X, 3, metric="euclidean", exclude_self=True)
    D = _exact_cdist(X, X)
    D.fill_diagonal_(float("inf"))
    torch.testing.assert_close(D.gather(1, i), torch.sort(D, dim=1).values[:, :3])  # the true 3-NN


def test_euclidean_near_the_float32_limit():
    a, b = torch.tensor([3e38, 0.0]), torch.tensor([-3e38, 0.0])
    assert sim.euclidean(a, b).item() == float("inf")  # 6e38 is beyond float32
    assert sim.euclidean(a, 0.5 * a).item() == pytest.approx(1.5e38, rel=1e-6)
    torch.testing.assert_close(sim.euclidean(a[None], b.abs()[None]).double(), _exact_cdist(a[None], b.abs()[None])[0])


# -- one tie rule: the lower key id first, inside the list and at its boundary --------------------------
@pytest.mark.parametrize("metric", ["dot", "cosine", "euclidean"])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_topk_breaks_ties_by_the_lower_id_like_a_stable_sort(metric, exclude_self):
    rng = np.random.default_rng(0)
    X = rng.integers(-1, 2, size=(200, 3)).astype(np.float64)  # 27 distinct rows: ties everywhere
    X[np.abs(X).sum(1) == 0] = [1, 1, 0]
    if metric == "dot":
        S = X @ X.T
    elif metric == "cosine":
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        S = np.round(U @ U.T, 12)  # equal cosines, computed two ways, must compare equal
    else:
        S = -np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    if exclude_self:
        np.fill_diagonal(S, -np.inf)
    ref = np.argsort(-S, axis=1, kind="stable")[:, :9]
    for batch_size in (None, 7):
        _, idx = sim.topk(torch.from_numpy(X), torch.from_numpy(X), 9, metric=metric,
                          exclude_self=exclude_self, batch_size=batch_size)
        np.testing.assert_array_equal(idx.numpy(), ref)


def test_similarity_takes_bfloat16_and_refuses_bool_by_name():
    a = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.bfloat16)
    assert sim.pairwise_cosine(a).dtype == torch.bfloat16
    _, idx = sim.topk(a, a, 1, metric="euclidean", exclude_self=True)
    assert idx.tolist() == [[1], [0]]
    with pytest.raises(ValueError, match="x must hold real numbers, got dtype torch.bool"):
        sim.normalize(torch.tensor([[True, False]]))
    with pytest.raises(ValueError, match="k must be an integer"):
        sim.topk(a, a, np.float64(1.0))
    assert sim.topk(a, a, np.int64(1))[1].shape == (2, 1)  # a NumPy integer is an integer


def test_topk_default_block_comes_from_the_cache_and_keeps_the_answer(gen):
    """The default block of queries (from the level-2 cache, capped by memory) and the reused
    score buffer give the answer of one query at a time, ties included."""
    assert sim._block_rows(100_000, 128) >= 1 and sim._block_rows(10**9, 8) == 1
    assert sim._block_rows(1_000, 50) == sim._l2_bytes() // 200
    keys = torch.randint(0, 3, (500, 8), generator=gen).float()  # many equal scores
    queries = torch.randint(0, 3, (70, 8), generator=gen).float()
    # Integer dot products are exact in any block shape (a cosine's last bit may depend on the
    # shape of the matrix product, so near-ties there are not compared across block sizes).
    default = sim.topk(queries, keys, 9, metric="dot")
    for batch in (1, 7, 64):
        other = sim.topk(queries, keys, 9, metric="dot", batch_size=batch)
        assert torch.equal(default[1], other[1]) and torch.equal(default[0], other[0])
    grad = queries.clone().requires_grad_()  # no buffer for a differentiable search: same answer
    assert torch.equal(sim.topk(grad, keys, 9, metric="dot")[1], sim.topk(queries, keys, 9, metric="dot")[1])


def test_topk_overflowing_dot_products_are_still_refused_or_widened(gen):
    big = torch.full((3, 4), 3e38)
    # float32 products would overflow: computed in float64 instead, so the ranking is exact
    scores, idx = sim.topk(big, big, 2, metric="dot")
    assert torch.isinf(scores).all() and idx.tolist() == [[0, 1]] * 3
    huge = torch.tensor([[1e308, -1e308]], dtype=torch.float64)
    with pytest.raises(ValueError, match="overflow"):
        sim.topk(huge, torch.tensor([[1e308, 1e308], [1.0, 1.0]], dtype=torch.float64), 1, metric="dot")


# -- the NumPy matrix product of large CPU searches -------------------------------------------------
@pytest.fixture
def paths(monkeypatch):
    """``paths(*args, **kw)`` -> (topk's answer with NumPy's product, with torch's), checking that
    each path ran: NumPy's product is spied on (and must see the thread count torch has)."""
    from threadpoolctl import threadpool_info

    calls = []
    matmul = np.matmul

    def spy(*args, **kwargs):
        calls.append({lib["num_threads"] for lib in threadpool_info() if lib["filepath"] in numpy_blas})
        return matmul(*args, **kwargs)

    numpy_blas = {lib.filepath for lib in sim._blas_threads().lib_controllers}
    monkeypatch.setattr(np, "matmul", spy)

    def run(*args, **kwargs):
        monkeypatch.setattr(sim, "_NUMPY_MIN_WORK", 0)
        calls.clear()
        before = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()}
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # NumPy's BLAS has more (all the cores) unless the call limits it
        try:
            with_numpy = sim.topk(*args, **kwargs)
        finally:
            torch.set_num_threads(torch_threads)
        assert calls and all(threads == {1} for threads in calls), calls
        assert {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()} == before  # restored
        monkeypatch.setattr(sim, "_NUMPY_MIN_WORK", 1 << 62)
        calls.clear()
        with_torch = sim.topk(*args, **kwargs)
        assert not calls
        return with_numpy, with_torch

    return run


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_topk_numpy_and_torch_products_give_the_same_answer_ties_included(paths, dtype, exclude_self, gen):
    """Integer entries make every dot product exact in either product, so the two paths must agree
    bit for bit, ties included (and with a stable sort of the exact scores)."""
    X = torch.randint(-2, 3, (300, 6), generator=gen).to(dtype)  # few distinct rows: ties everywhere
    for k, batch in ((1, None), (9, None), (9, 7), (299, 64)):
        numpy_answer, torch_answer = paths(X, X, k, metric="dot", exclude_self=exclude_self, batch_size=batch)
        assert torch.equal(numpy_answer[0], torch_answer[0]) and torch.equal(numpy_answer[1], torch_answer[1])
        assert numpy_answer[0].dtype == dtype
        S = (X @ X.T).numpy()
        if exclude_self:
            np.fill_diagonal(S, -np.inf)
        np.testing.assert_array_equal(numpy_answer[1].numpy(), np.argsort(-S, axis=1, kind="stable")[:, :k])


def test_topk_numpy_product_takes_any_layout_and_size(paths, gen):
    """Non-contiguous queries and keys (transposed, strided), one query, one key, k = n."""
    base = torch.randint(-3, 4, (8, 400), generator=gen).float()
    keys = base.T[::2]  # (200, 8), neither row- nor column-contiguous
    queries = torch.randint(-3, 4, (30, 16), generator=gen).float()[:, ::2]  # (30, 8) strided
    S = (queries.double() @ keys.double().T).numpy()
    for q, K, k in ((queries, keys, 5), (queries[3], keys, 200), (queries, keys[:1], 1), (queries[:1], keys, 3)):
        numpy_answer, torch_answer = paths(q, K, k, metric="dot")
        assert torch.equal(numpy_answer[1], torch_answer[1]) and torch.equal(numpy_answer[0], torch_answer[0])
    ref = np.argsort(-S, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(paths(queries, keys, 5, metric="dot")[0][1].numpy(), ref)


def test_topk_numpy_product_matches_faiss_and_float64(paths, gen):
    """Cosine and dot on Gaussian rows against faiss IndexFlatIP and a float64 brute force: the
    same neighbours wherever the float64 scores are not within rounding of each other."""
    faiss = pytest.importorskip("faiss")
    keys = torch.randn(2_000, 24, generator=gen)
    queries = torch.randn(50, 24, generator=gen)
    for metric in ("dot", "cosine"):
        (s_np, i_np), (s_t, i_t) = paths(queries, keys, 10, metric=metric)
        Kn, Qn = keys.double(), queries.double()
        if metric == "cosine":
            Kn, Qn = F.normalize(Kn, dim=1), F.normalize(Qn, dim=1)
        exact = Qn @ Kn.T  # (50, 2000)
        index = faiss.IndexFlatIP(24)
        index.add(Kn.float().numpy())
        _, i_faiss = index.search(Qn.float().numpy(), 10)
        for found in (i_np, i_t, torch.from_numpy(i_faiss)):
            # the k-th exact score separates the lists: scores of the returned ids are the top ones
            torch.testing.assert_close(exact.gather(1, found), exact.topk(10, dim=1).values, rtol=0, atol=1e-5)
        torch.testing.assert_close(s_np.double(), exact.gather(1, i_np), rtol=0, atol=1e-5)
        torch.testing.assert_close(s_np, s_t, rtol=0, atol=1e-5)


def test_topk_numpy_product_is_skipped_where_it_does_not_apply(monkeypatch, gen):
    """GPU-less other dtypes (half precision is ranked in float32, so it takes the product),
    autograd inputs and a missing threadpoolctl keep torch's product."""
    monkeypatch.setattr(sim, "_NUMPY_MIN_WORK", 0)
    X = torch.randn(50, 4, generator=gen)
    buffer = torch.empty(50, 50)
    assert sim._numpy_product(X, X, buffer)
    assert not sim._numpy_product(X, X, None)  # autograd: no buffer
    monkeypatch.setattr(sim, "_blas_threads", lambda: None)
    assert not sim._numpy_product(X, X, buffer)
    ref = sim.topk(X, X, 3, metric="dot", exclude_self=True)
    monkeypatch.undo()
    monkeypatch.setattr(sim, "_NUMPY_MIN_WORK", 0)
    assert torch.equal(sim.topk(X, X, 3, metric="dot", exclude_self=True)[1], ref[1])
    half = sim.topk(X.half(), X.half(), 3, metric="dot", exclude_self=True)
    assert half[0].dtype == torch.float16
