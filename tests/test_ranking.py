"""embedlab.ranking against ir-measures (trec_eval via pytrec_eval), a full lexsort ranking for the
tie rule, and cases computed by hand."""

import ir_measures
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from ir_measures import RR, P, R, nDCG

from embedlab.intervals import bootstrap_ci
from embedlab.ranking import (
    RankingReport,
    coverage,
    evaluate,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    rank_items,
    recall_at_k,
    reciprocal_rank,
)


def _data(n_users=40, n_items=150, seed=0, n_train=20):
    """Tie-free scores (a permutation per user, so trec_eval's tie rule never matters), relevant
    sets of 1..25 items (more than 10 for some users, so the ideal DCG is cut at k) and disjoint
    training items to exclude."""
    rng = np.random.default_rng(seed)
    scores = np.stack([rng.permutation(n_items) for _ in range(n_users)]) / n_items + 0.25
    relevant, train = [], []
    for _ in range(n_users):
        items = rng.permutation(n_items)
        m = int(rng.integers(1, 26))
        relevant.append(np.sort(items[:m]))
        train.append(np.sort(items[m : m + n_train]))
    return scores, relevant, train


def _reference(scores, relevant, exclude=None):
    """Per-user R@10, P@10, nDCG@10 and RR from ir-measures, excluded items removed from the run."""
    run, qrels = {}, {}
    for u, row in enumerate(scores):
        drop = set() if exclude is None else set(exclude[u].tolist())
        run[str(u)] = {str(i): float(s) for i, s in enumerate(row) if i not in drop}
        qrels[str(u)] = {str(i): 1 for i in relevant[u]}
    out = {m: np.zeros(len(scores)) for m in ("R@10", "P@10", "nDCG@10", "RR")}
    for metric in ir_measures.iter_calc([R @ 10, P @ 10, nDCG @ 10, RR], qrels, run):
        out[str(metric.measure)][int(metric.query_id)] = metric.value
    return out


def _ours(scores, relevant, exclude=None):
    top = rank_items(scores, 10, exclude=exclude)
    return {
        "R@10": recall_at_k(top, relevant),
        "P@10": precision_at_k(top, relevant),
        "nDCG@10": ndcg_at_k(top, relevant),
        "RR": reciprocal_rank(scores, relevant, exclude=exclude),
    }


@pytest.mark.parametrize("use_exclude", [False, True])
def test_metrics_match_ir_measures(use_exclude):
    scores, relevant, train = _data()
    exclude = train if use_exclude else None
    ref, ours = _reference(scores, relevant, exclude), _ours(scores, relevant, exclude)
    for name in ref:
        np.testing.assert_allclose(ours[name], ref[name], rtol=0, atol=1e-12, err_msg=name)
    assert 0 < ref["nDCG@10"].mean() < 1 and ref["RR"].min() < 0.2  # not agreement on all-0 or all-1
    report = evaluate(scores, relevant, k=10, exclude=exclude)
    np.testing.assert_allclose(report.recall, ref["R@10"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(report.ndcg, ref["nDCG@10"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(report.mrr, ref["RR"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(report.hit_rate, (ref["R@10"] > 0).astype(float))


def test_wrong_metrics_would_be_caught_by_the_reference():
    scores, relevant, train = _data(seed=1)
    ref = _reference(scores, relevant, train)
    top = rank_items(scores, 10, exclude=train)
    rel_sets = [set(r.tolist()) for r in relevant]
    hits = np.array([[i in rel_sets[u] for i in row] for u, row in enumerate(top)], dtype=float)

    def ndcg(disc, cut=True):
        ideal = np.array([disc[: min(len(r), 10) if cut else len(r)].sum() for r in relevant])
        return hits @ disc / ideal

    ranks = np.arange(1, 11)
    np.testing.assert_allclose(ndcg(1 / np.log2(ranks + 1)), ref["nDCG@10"], rtol=0, atol=1e-12)
    # a natural-log discount is NOT a bug: the base of the logarithm cancels in DCG / IDCG
    np.testing.assert_allclose(ndcg(1 / np.log(ranks + 1)), ref["nDCG@10"], rtol=0, atol=1e-12)
    # these are: a discount off by one rank, and an ideal list not cut at k (|relevant| > 10 here)
    assert np.abs(ndcg(1 / np.log2(ranks + 2)) - ref["nDCG@10"]).max() > 1e-3
    disc_all = 1 / np.log2(np.arange(2, 2 + max(map(len, relevant))))
    hits_all = np.pad(hits, ((0, 0), (0, disc_all.size - 10)))
    ideal_all = np.array([disc_all[: len(r)].sum() for r in relevant])
    assert np.abs(hits_all @ disc_all / ideal_all - ref["nDCG@10"]).max() > 1e-3
    # recall divided by k instead of |relevant|
    assert np.abs(hits.sum(1) / 10 - ref["R@10"]).max() > 1e-3
    # training items left in the ranking: ir-measures (given the reduced run) disagrees
    assert np.abs(recall_at_k(rank_items(scores, 10), relevant) - ref["R@10"]).max() > 1e-3
    assert np.abs(reciprocal_rank(scores, relevant) - ref["RR"]).max() > 1e-3


def test_ndcg_and_friends_by_hand():
    ranked = np.array([[3, 0, 1, 2]])
    rel = [np.array([0, 2])]
    assert ndcg_at_k(ranked, rel)[0] == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3)))
    assert ndcg_at_k(ranked, rel, k=1)[0] == 0.0
    assert recall_at_k(ranked, rel, k=2)[0] == 0.5 and precision_at_k(ranked, rel, k=2)[0] == 0.5
    assert hit_rate_at_k(ranked, rel, k=1)[0] == 0.0 and hit_rate_at_k(ranked, rel, k=2)[0] == 1.0
    # the ideal list has min(|relevant|, k) relevant items: 5 relevant, both of the top 2 hit -> 1
    assert ndcg_at_k(np.array([[4, 5, 0]]), [np.arange(4, 9)], k=2)[0] == pytest.approx(1.0)


def _full_ranking(scores, exclude):
    """Reference: a full sort by (score descending, item id ascending), excluded items removed."""
    out = []
    for u, row in enumerate(scores):
        order = np.lexsort((np.arange(len(row)), -row))
        out.append(order[~np.isin(order, exclude[u])])
    return out


def test_ties_go_to_the_lower_item_id():
    s = np.array([[1.0, 3, 3, 2, 3], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(rank_items(s, 3), [[1, 2, 4], [0, 1, 2]])
    np.testing.assert_array_equal(rank_items(s, 2, exclude=[[2], [0, 1]]), [[1, 4], [2, 3]])
    # item 4 comes after 1 and 2 (tied, lower ids); with 2 excluded it is second
    np.testing.assert_allclose(reciprocal_rank(s, [[4], [3]]), [1 / 3, 1 / 4])
    np.testing.assert_allclose(reciprocal_rank(s, [[4], [3]], exclude=[[2], [0]]), [1 / 2, 1 / 3])
    np.testing.assert_allclose(reciprocal_rank(s, [[2, 4], [4, 1]]), [1 / 2, 1 / 2])  # best relevant counts


def test_many_ties_and_infinities_match_a_full_sort_for_every_chunk_size():
    rng = np.random.default_rng(2)
    s = rng.integers(0, 4, size=(23, 30)).astype(float)  # ties everywhere, also at the k-th place
    s[rng.random(s.shape) < 0.1] = -np.inf
    s[rng.random(s.shape) < 0.05] = np.inf
    exclude = [rng.choice(30, size=int(rng.integers(0, 8)), replace=False) for _ in range(23)]
    relevant = [rng.choice(np.setdiff1d(np.arange(30), e), size=3, replace=False) for e in exclude]
    full = _full_ranking(s, exclude)
    expect_rr = [1 / (1 + np.flatnonzero(np.isin(f, r))[0]) for f, r in zip(full, relevant)]
    for chunk in (1, 3, 1024):
        top = rank_items(s, 15, exclude=exclude, chunk=chunk)
        np.testing.assert_array_equal(top, np.stack([f[:15] for f in full]))
        np.testing.assert_allclose(reciprocal_rank(s, relevant, exclude=exclude, chunk=chunk), expect_rr)
    # a full ranking is k = n_items with nothing excluded
    np.testing.assert_array_equal(rank_items(s, 30), np.stack(_full_ranking(s, [[]] * 23)))


def test_exclude_is_the_same_as_minus_inf_scores_and_sparse_is_the_same_as_lists():
    scores, relevant, train = _data(seed=3)
    masked = scores.copy()
    for u, t in enumerate(train):
        masked[u, t] = -np.inf
    as_sparse = sp.csr_matrix((np.ones(sum(map(len, train))), (np.repeat(np.arange(40), 20), np.concatenate(train))),
                              shape=scores.shape)
    base = rank_items(scores, 10, exclude=train)
    np.testing.assert_array_equal(base, rank_items(masked, 10))
    np.testing.assert_array_equal(base, rank_items(scores, 10, exclude=as_sparse))
    rr = reciprocal_rank(scores, relevant, exclude=train)
    np.testing.assert_allclose(rr, reciprocal_rank(masked, relevant))
    rel_sparse = sp.lil_matrix(scores.shape)
    for u, r in enumerate(relevant):
        rel_sparse[u, r] = 4.0  # ratings: any nonzero is relevant
    rel_sparse[0, 149 if 149 not in relevant[0] else 148] = 0.0  # an explicit zero is not relevant
    np.testing.assert_allclose(rr, reciprocal_rank(scores, rel_sparse.tocsr(), exclude=as_sparse))
    np.testing.assert_allclose(recall_at_k(base, relevant), recall_at_k(base, rel_sparse.tocsr()))
    # one held-out item per user (leave-one-out) as a 1-D array; repeated ids count once
    one = np.array([r[0] for r in relevant])
    np.testing.assert_allclose(recall_at_k(base, one), recall_at_k(base, [[i, i] for i in one]))


def test_torch_input_numpy_scalars_and_float32():
    scores, relevant, train = _data(seed=4)
    expect = rank_items(scores, 10, exclude=train)
    t = torch.tensor(scores, requires_grad=True)
    np.testing.assert_array_equal(rank_items(t, np.int64(10), exclude=train), expect)
    np.testing.assert_allclose(reciprocal_rank(t, relevant), reciprocal_rank(scores, relevant))
    assert rank_items(scores.astype(np.float32), 10, exclude=train).dtype == np.int64
    assert recall_at_k(torch.from_numpy(expect), relevant, k=np.int32(5)).shape == (40,)
    assert evaluate(t, relevant, k=np.int64(10), exclude=train).k == 10


def test_coverage_by_hand():
    ranked = np.array([[0, 1, 2], [1, 2, 5], [0, 2, 7]])
    assert coverage(ranked, 10) == pytest.approx(5 / 10)
    assert coverage(ranked, 10, k=1) == pytest.approx(2 / 10)
    assert coverage(ranked, np.int64(8), k=2) == pytest.approx(3 / 8)  # {0, 1, 2}


def test_bootstrap_interval_contains_the_mean_narrows_and_is_reproducible():
    rng = np.random.default_rng(5)
    small, large = rng.random(100) < 0.3, rng.random(10_000) < 0.3
    mean, lo, hi = bootstrap_ci(small.astype(float))
    assert lo < mean < hi and mean == pytest.approx(small.mean())
    _, lo2, hi2 = bootstrap_ci(large.astype(float))
    assert 7 < (hi - lo) / (hi2 - lo2) < 13  # about sqrt(100) narrower with 100x the users
    # the percentile interval of a mean of many users is close to the normal one: ±1.96 sd/sqrt(n)
    assert hi2 - lo2 == pytest.approx(2 * 1.96 * large.std() / np.sqrt(large.size), rel=0.1)
    values = rng.random(50)  # continuous: the quantiles of two seeds cannot coincide on a lattice
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3)[1:] != bootstrap_ci(values, seed=4)[1:]
    _, lo90, hi90 = bootstrap_ci(small.astype(float), level=0.9)
    assert hi90 - lo90 < hi - lo


def test_report_means_and_intervals():
    scores, relevant, train = _data(seed=6)
    report = evaluate(scores, relevant, k=10, exclude=train)
    assert isinstance(report, RankingReport) and report.n_users == 40
    means = report.means()
    assert list(means) == ["recall@10", "ndcg@10", "mrr", "hit@10", "coverage@10"]
    assert means["mrr"] == pytest.approx(report.mrr.mean())
    assert means["coverage@10"] == coverage(rank_items(scores, 10, exclude=train), 150)
    assert report.interval("ndcg@10", n_boot=500) == report.interval("ndcg", n_boot=500)
    assert report.interval("recall@10")[0] == pytest.approx(means["recall@10"])
    with pytest.raises(ValueError, match="coverage is one number"):
        report.interval("coverage@10")
    with pytest.raises(ValueError, match="metric"):
        report.interval("recall@5")
    with pytest.raises(ValueError, match="read-only"):
        report.recall[0] = 1.0
    with pytest.raises(AttributeError):
        report.k = 5
    mine = np.ones(3)
    RankingReport(k=1, n_users=3, recall=mine, ndcg=mine, mrr=mine, hit_rate=mine, coverage=1.0)
    mine[0] = 0.0  # the report keeps read-only copies; the caller's array stays writable


def test_bad_input_is_named():
    scores, relevant, train = _data(n_users=5, n_items=20, n_train=3)
    top = rank_items(scores, 5)
    with pytest.raises(TypeError, match="k must be an integer"):
        rank_items(scores, 10.0)
    with pytest.raises(TypeError, match="k must be an integer"):
        rank_items(scores, True)
    with pytest.raises(ValueError, match="k must be an integer between 1 and 20"):
        rank_items(scores, 21)
    with pytest.raises(ValueError, match="k=19 is more than the 17 items left for user 1"):
        rank_items(scores, 19, exclude=[[0], [0, 1, 2], [], [], []])
    with pytest.raises(ValueError, match="chunk"):
        rank_items(scores, 5, chunk=0)
    nan = scores.copy()
    nan[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"NaN \(user 3\)"):
        rank_items(nan, 5)
    with pytest.raises(ValueError, match="NaN"):
        reciprocal_rank(nan, relevant)
    with pytest.raises(ValueError, match="scores must be an"):
        rank_items(scores[0], 5)
    with pytest.raises(TypeError, match="exclude.*boolean mask"):
        rank_items(scores, 5, exclude=np.zeros(scores.shape, dtype=bool))
    with pytest.raises(ValueError, match=r"exclude must have shape \(5, 20\)"):
        rank_items(scores, 5, exclude=sp.csr_matrix((5, 21)))
    with pytest.raises(ValueError, match="exclude must hold one item array per user"):
        rank_items(scores, 5, exclude=train[:4])
    with pytest.raises(ValueError, match=r"exclude\[0\] has item ids outside 0..19"):
        rank_items(scores, 5, exclude=[[20]] + train[1:])
    with pytest.raises(TypeError, match="relevant"):
        recall_at_k(top, {0: [1]})
    with pytest.raises(TypeError, match=r"relevant\[0\] must hold integer"):
        recall_at_k(top, [np.array([1.0])] + relevant[1:])
    empty = [np.array([], dtype=np.int64), []] + relevant[2:]
    for fn in (recall_at_k, precision_at_k, ndcg_at_k, hit_rate_at_k):
        with pytest.raises(ValueError, match="2 of 5 users have no relevant items.*drop those users"):
            fn(top, empty)
    with pytest.raises(ValueError, match="2 of 5 users have no relevant items"):
        evaluate(scores, empty, k=5)
    leaky = [np.append(t, r[0]) for t, r in zip(train, relevant)]
    for fn in (lambda: evaluate(scores, relevant, k=5, exclude=leaky),
               lambda: reciprocal_rank(scores, relevant, exclude=leaky)):
        with pytest.raises(ValueError, match="overlap for 5 users.*leaked"):
            fn()
    with pytest.raises(ValueError, match="k must be an integer between 1 and 5"):
        recall_at_k(top, relevant, k=6)
    with pytest.raises(ValueError, match="ranked repeats an item"):
        recall_at_k(np.array([[1, 2, 1]] * 5), relevant)
    with pytest.raises(TypeError, match="ranked must hold integer"):
        ndcg_at_k(top.astype(float), relevant)
    with pytest.raises(ValueError, match="ranked has item ids outside 0..9"):
        coverage(top, 10)
    with pytest.raises(TypeError, match="n_items"):
        coverage(top, 20.0)
    with pytest.raises(ValueError, match=r"values contains NaN or infinite values at index \(1,\)"):
        bootstrap_ci(np.array([0.1, np.nan, 0.3]))
    with pytest.raises(ValueError, match="level must be strictly between 0 and 1"):
        bootstrap_ci(np.ones(5), level=95)
    with pytest.raises(TypeError, match="level must be a number"):
        bootstrap_ci(np.ones(5), level="0.95")
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci(np.ones(5), n_boot=0)
    with pytest.raises(ValueError, match="at least 2 units"):
        bootstrap_ci(np.ones(1))


# -- issue 21: 64-bit integer scores beyond 2**53 ---------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_large_integer_scores_rank_exactly(dtype):
    rng = np.random.default_rng(0)
    big = 2**53 if dtype == np.int64 else 2**63
    # neighbours of a large integer, which float64 rounds together (2**53 + 1 -> 2**53), plus ties
    scores = dtype(big) + rng.integers(0, 6, size=(5, 12)).astype(dtype)
    if dtype == np.int64:
        scores[0, :3] = [-(2**63), 2**63 - 1, -(2**53) - 1]  # the extremes of int64
    # reference: Python's exact integers, score descending then item id ascending
    ref = np.array([sorted(range(12), key=lambda i, row=row: (-int(row[i]), i)) for row in scores])
    for k in (1, 5, 12):
        np.testing.assert_array_equal(rank_items(scores, k), ref[:, :k])
    # the full ranking's reciprocal rank of item 11 agrees too
    rr = reciprocal_rank(scores, [np.array([11])] * 5)
    np.testing.assert_allclose(rr, [1 / (1 + list(r).index(11)) for r in ref])


def test_rank_items_equals_the_one_topk_on_tie_heavy_scores():
    # rank_items keeps its own exclusion-aware selection; without exclusion it must be the
    # package's one top-k (embedlab._rows.topk: lower id first, inside the list and at its edge)
    from embedlab._rows import topk as rows_topk

    rng = np.random.default_rng(3)
    for n_items, k in ((7, 3), (40, 10), (300, 17)):
        scores = rng.integers(0, 4, size=(64, n_items)).astype(np.float64)  # many ties everywhere
        scores[::5] = 1.0  # whole rows tied
        np.testing.assert_array_equal(rank_items(scores, k), rows_topk(scores, k)[1])
        np.testing.assert_array_equal(rank_items(scores, k, chunk=5), rows_topk(scores, k)[1])


def test_rank_items_edge_inputs():
    import torch

    # int64 scores above 2**53 that are distinct integers but equal floats
    big = np.array([[2**53 + 1, 2**53, 2**53 + 3, 2**53 + 2]], dtype=np.int64)
    np.testing.assert_array_equal(rank_items(big, 4), [[2, 3, 0, 1]])
    # NumPy integers are integers; bool scores are refused by name
    assert rank_items(np.array([[0.1, 0.3, 0.2]]), np.int64(2)).tolist() == [[1, 2]]
    with pytest.raises(ValueError, match="scores must be real numbers"):
        rank_items(np.array([[True, False]]), 1)
    # half-precision tensors rank as float32 does
    s = torch.tensor([[0.5, 0.25, 1.0, 0.25]])
    for dtype in (torch.float16, torch.bfloat16):
        np.testing.assert_array_equal(rank_items(s.to(dtype), 3), rank_items(s, 3))
    with pytest.raises(ValueError, match="scores"):
        rank_items(np.empty((0, 3)), 1)
    with pytest.raises(ValueError, match="scores contain NaN"):
        rank_items(np.array([[0.0, np.nan]]), 1)
