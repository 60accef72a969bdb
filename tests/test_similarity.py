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
    with pytest.raises(ValueError, match="k must be an integer between 1 and 10"):
        sim.topk(keys[0], keys, k)


def test_topk_rejects_k_equal_n_when_excluding_self(gen):
    keys = torch.randn(5, 4, generator=gen)
    with pytest.raises(ValueError, match="between 1 and 4"):
        sim.topk(keys, keys, 5, exclude_self=True)
    with pytest.raises(ValueError, match="metric"):
        sim.topk(keys, keys, 2, metric="manhattan")
