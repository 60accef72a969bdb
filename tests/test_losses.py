"""Tests for embedlab.losses (chapter 4) against torch.nn.functional and direct reference formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from embedlab.losses import (
    alignment,
    info_nce,
    margin_contrastive_loss,
    nt_xent,
    similarity_logits,
    triplet_loss,
    uniformity,
)


def _randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- InfoNCE --------------------------------------------------------------------------------------
@pytest.mark.parametrize("B,N,d,t", [(4, 4, 3, 0.5), (16, 16, 8, 0.07), (5, 20, 6, 1.0), (2, 2, 1, 2.0)])
def test_info_nce_is_cross_entropy_on_cosine_logits(B, N, d, t):
    q, k = _randn(B, d, seed=1) * 4, _randn(N, d, seed=2)
    logits = F.cosine_similarity(q[:, None, :], k[None, :, :], dim=-1) / t  # (B, N), computed independently
    expected = F.cross_entropy(logits, torch.arange(B))
    torch.testing.assert_close(info_nce(q, k, t), expected)
    torch.testing.assert_close(
        info_nce(q, k, t, reduction="none"), F.cross_entropy(logits, torch.arange(B), reduction="none")
    )
    torch.testing.assert_close(
        info_nce(q, k, t, reduction="sum"), F.cross_entropy(logits, torch.arange(B), reduction="sum")
    )
    torch.testing.assert_close(similarity_logits(q, k, t), logits)


def test_info_nce_limits():
    q, k = _randn(8, 5, seed=3), _randn(12, 5, seed=4)
    # An infinitely hot softmax is uniform over the N keys: loss log N.
    assert info_nce(q, k, 1e6).item() == pytest.approx(math.log(12), abs=1e-4)
    # Positives identical to queries and a cold softmax: loss near 0 when negatives differ.
    assert info_nce(q, torch.cat([q, k[:4]]), 0.01).item() < 1e-3


# -- NT-Xent --------------------------------------------------------------------------------------
def _nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    """SimCLR's equation, term by term: l(i, j) = -log exp(s_ij/t) / sum_{k != i} exp(s_ik/t)."""
    z = torch.cat([z1, z2]).double()
    n = z.shape[0]
    B = n // 2

    def sim(a, b):
        return float(z[a] @ z[b] / (z[a].norm() * z[b].norm()))

    total = 0.0
    for i in range(n):
        j = (i + B) % n
        denom = sum(math.exp(sim(i, k) / t) for k in range(n) if k != i)
        total += -math.log(math.exp(sim(i, j) / t) / denom)
    return total / n


@pytest.mark.parametrize("B,d,t", [(2, 3, 0.5), (6, 4, 0.1), (10, 16, 1.0)])
def test_nt_xent_matches_direct_reference(B, d, t):
    z1, z2 = _randn(B, d, seed=5, dtype=torch.float64), _randn(B, d, seed=6, dtype=torch.float64)
    assert nt_xent(z1, z2, t).item() == pytest.approx(_nt_xent_reference(z1, z2, t), rel=1e-10)
    per_view = nt_xent(z1, z2, t, reduction="none")
    assert per_view.shape == (2 * B,)
    torch.testing.assert_close(per_view.mean(), nt_xent(z1, z2, t))


def test_nt_xent_at_chance_is_log_2b_minus_1():
    z = torch.ones(8, 4)  # every similarity equal: the softmax is uniform over 2B - 1 candidates
    assert nt_xent(z, z, 0.3).item() == pytest.approx(math.log(15), rel=1e-6)


def test_nt_xent_is_symmetric_in_views():
    z1, z2 = _randn(7, 5, seed=7), _randn(7, 5, seed=8)
    torch.testing.assert_close(nt_xent(z1, z2, 0.2), nt_xent(z2, z1, 0.2))


# -- triplet and margin losses --------------------------------------------------------------------
@pytest.mark.parametrize("margin", [0.1, 0.5, 1.0, 3.0])  # torch refuses margin 0
def test_triplet_matches_torch(margin):
    a, p, n = _randn(32, 6, seed=9), _randn(32, 6, seed=10), _randn(32, 6, seed=11)
    for reduction in ("mean", "sum", "none"):
        ours = triplet_loss(a, p, n, margin=margin, reduction=reduction)
        ref = F.triplet_margin_loss(a, p, n, margin=margin, eps=0.0, reduction=reduction)
        torch.testing.assert_close(ours, ref)
    # PyTorch's default eps=1e-6 shifts the distances by about 1e-6 only.
    torch.testing.assert_close(triplet_loss(a, p, n, margin=margin), F.triplet_margin_loss(a, p, n, margin=margin),
                               atol=1e-5, rtol=0)


def test_margin_contrastive_matches_reference_formula():
    x1, x2 = _randn(20, 4, seed=12, dtype=torch.float64), _randn(20, 4, seed=13, dtype=torch.float64)
    y = torch.arange(20) % 3 == 0
    m = 2.5
    expected = []
    for i in range(20):
        d = math.dist(x1[i].tolist(), x2[i].tolist())
        expected.append(0.5 * d**2 if y[i] else 0.5 * max(0.0, m - d) ** 2)
    got = margin_contrastive_loss(x1, x2, y, margin=m, reduction="none")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(margin_contrastive_loss(x1, x2, y.long(), margin=m), got.mean())


def test_margin_contrastive_zero_cases():
    x = _randn(5, 3, seed=14)
    assert margin_contrastive_loss(x, x, torch.ones(5, dtype=torch.bool)).item() == 0.0
    far = x + 10.0  # dissimilar pairs beyond the margin cost nothing
    assert margin_contrastive_loss(x, far, torch.zeros(5), margin=1.0).item() == 0.0
    assert margin_contrastive_loss(x, x, torch.zeros(5), margin=1.0).item() == pytest.approx(0.5)


# -- alignment and uniformity ---------------------------------------------------------------------
def test_alignment_and_uniformity_match_wang_isola_code():
    x, y = _randn(40, 8, seed=15), _randn(40, 8, seed=16)
    xn, yn = F.normalize(x, dim=-1), F.normalize(y, dim=-1)
    # The two functions from Wang & Isola's paper (Figure 5), verbatim.
    ref_align = (xn - yn).norm(p=2, dim=1).pow(2).mean()
    ref_unif = torch.pdist(xn, p=2).pow(2).mul(-2).exp().mean().log()
    torch.testing.assert_close(alignment(x, y), ref_align)
    torch.testing.assert_close(uniformity(x), ref_unif)
    torch.testing.assert_close(alignment(x, y, alpha=1.0), (xn - yn).norm(dim=1).mean())
    torch.testing.assert_close(uniformity(x, t=0.5), torch.pdist(xn).pow(2).mul(-0.5).exp().mean().log())


def test_uniformity_extremes():
    assert uniformity(torch.ones(6, 3)).item() == pytest.approx(0.0, abs=1e-6)  # one point
    # Random directions in high dimension are nearly orthogonal: ‖a − b‖² ≈ 2, so ≈ −2t.
    assert uniformity(_randn(400, 2048, seed=17)).item() == pytest.approx(-4.0, abs=0.05)
    assert alignment(_randn(5, 3, seed=18), _randn(5, 3, seed=18)).item() == pytest.approx(0.0, abs=1e-6)


# -- gradients ------------------------------------------------------------------------------------
def test_gradcheck_all_losses():
    g = torch.Generator().manual_seed(19)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)

    q, k = r(4, 3), r(6, 3)
    assert torch.autograd.gradcheck(lambda a, b: info_nce(a, b, 0.3), (q, k))
    z1, z2 = r(3, 4), r(3, 4)
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, 0.5, reduction="none"), (z1, z2))
    a, p = r(5, 3), r(5, 3)
    n = (a.detach() + 0.1 * torch.randn(5, 3, generator=g, dtype=torch.float64)).requires_grad_()
    # With margin 5 every triplet is active (d_an is small), so the hinge is differentiable here.
    assert torch.autograd.gradcheck(lambda x, y, w: triplet_loss(x, y, w, margin=5.0), (a, p, n))
    y = torch.tensor([True, False, True, False, False])
    assert torch.autograd.gradcheck(lambda x, w: margin_contrastive_loss(x, w, y, margin=10.0), (a, p))
    assert torch.autograd.gradcheck(lambda x, w: alignment(x, w), (a, p))
    assert torch.autograd.gradcheck(lambda x: uniformity(x), (a,))


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("t", [0, 0.0, -0.1, float("nan"), float("inf"), True, "0.1", torch.tensor([0.1, 0.2])])
def test_bad_temperature(t):
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="temperature"):
        info_nce(x, x, t)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(x, x, t)


def test_temperature_as_scalar_tensor_is_fine():
    x = torch.randn(4, 3)
    torch.testing.assert_close(info_nce(x, x, torch.tensor(0.5)), info_nce(x, x, 0.5))


def test_batch_of_one():
    x = torch.randn(1, 3)
    with pytest.raises(ValueError, match="batch of 1"):
        info_nce(x, x, 0.1)
    with pytest.raises(ValueError, match="batch of at least 2"):
        nt_xent(x, x, 0.1)
    with pytest.raises(ValueError, match="at least 2 points"):
        uniformity(x)


def test_shape_errors():
    a, b = torch.randn(4, 3), torch.randn(4, 5)
    with pytest.raises(ValueError, match="same dimension"):
        info_nce(a, b, 0.1)
    with pytest.raises(ValueError, match="N >= B"):
        info_nce(torch.randn(5, 3), torch.randn(3, 3), 0.1)
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(a, torch.randn(5, 3), 0.1)
    with pytest.raises(ValueError, match=r"shape \(B, d\)"):
        nt_xent(torch.randn(4), torch.randn(4), 0.1)
    with pytest.raises(ValueError, match="empty batch"):
        info_nce(torch.randn(0, 3), torch.randn(0, 3), 0.1)
    with pytest.raises(ValueError, match="same shape"):
        triplet_loss(a, a, torch.randn(3, 3))
    with pytest.raises(ValueError, match="same shape"):
        margin_contrastive_loss(a, b, torch.ones(4))
    with pytest.raises(ValueError, match="same shape"):
        alignment(a, b)
    with pytest.raises(ValueError, match="similar must have shape"):
        margin_contrastive_loss(a, a, torch.ones(3))
    with pytest.raises(ValueError, match="0/1"):
        margin_contrastive_loss(a, a, torch.tensor([0.0, 1.0, 2.0, 1.0]))


def test_zero_rows_raise_like_pairwise_cosine():
    # One zero-vector policy: F.normalize kept zero rows at zero, so info_nce accepted what
    # pairwise_cosine rejects, uniformity(zeros) read -4.0 (perfectly uniform) and a zero query's
    # InfoNCE gradient was ~1e12.
    x = _randn(4, 3, seed=20)
    zq = x.clone()
    zq[2] = 0.0
    with pytest.raises(ValueError, match=r"query has a zero row at index \[\[2\]\]"):
        info_nce(zq, x, 0.1)
    with pytest.raises(ValueError, match=r"keys has a zero row at index \[\[2\]\]"):
        info_nce(x, zq, 0.1)
    with pytest.raises(ValueError, match=r"keys has a zero row"):
        similarity_logits(x, torch.zeros(5, 3), 0.1)
    with pytest.raises(ValueError, match=r"z2 has a zero row at index \[\[2\]\]"):
        nt_xent(x, zq, 0.5)
    with pytest.raises(ValueError, match=r"z1 has a zero row"):
        alignment(zq, x)
    with pytest.raises(ValueError, match=r"z has a zero row at index \[\[0\], \[1\], \[2\], \[3\], \[4\]\]"):
        uniformity(torch.zeros(8, 4))
    # Tiny but non-zero rows are directions like any other.
    torch.testing.assert_close(info_nce(x * 1e-3, x, 0.1), info_nce(x, x, 0.1))


def test_bad_margin_and_reduction():
    a = torch.randn(4, 3)
    with pytest.raises(ValueError, match="margin"):
        triplet_loss(a, a, a, margin=-1.0)
    with pytest.raises(ValueError, match="margin"):
        margin_contrastive_loss(a, a, torch.ones(4), margin=float("nan"))
    with pytest.raises(ValueError, match="reduction"):
        info_nce(a, a, 0.1, reduction="avg")
    with pytest.raises(ValueError, match="alpha"):
        alignment(a, a, alpha=0)
    with pytest.raises(ValueError, match="t must"):
        uniformity(a, t=-1.0)


def test_exercise_references_pass_their_own_checks():
    from embedlab.exercises import check

    assert check("ch04.info_nce", lambda q, k, t: info_nce(q, k, t), quiet=True)
    assert check("ch04.uniformity", lambda z, t=2.0: uniformity(z, t=t), quiet=True)
    # A plausible mistake fails: forgetting to normalise.
    wrong = check("ch04.info_nce", lambda q, k, t: F.cross_entropy(q @ k.T / t, torch.arange(q.shape[0])), quiet=True)
    assert not wrong
    wrong_u = check("ch04.uniformity", lambda z, t=2.0: torch.cdist(F.normalize(z, dim=-1), F.normalize(z, dim=-1))
                    .pow(2).mul(-t).exp().mean().log(), quiet=True)  # includes the i == j pairs
    assert not wrong_u


def test_losses_take_bfloat16_numpy_scalars_and_refuse_nan_rows_by_name():
    import numpy as np

    from embedlab.losses import alignment, info_nce, margin_contrastive_loss, uniformity

    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    ref = info_nce(q.double(), k.double(), 0.1)
    got = info_nce(q.bfloat16(), k.bfloat16(), np.float32(0.1))
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.double(), ref, rtol=5e-2, atol=5e-2)
    assert torch.isfinite(uniformity(q.bfloat16(), t=np.float64(2.0)))
    assert torch.isfinite(alignment(q.half(), k.half(), alpha=np.int64(2)))
    bad = q.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(ValueError, match="query contains NaN"):
        info_nce(bad, k, 0.1)
    with pytest.raises(ValueError, match="margin must be a number"):
        margin_contrastive_loss(q, k, torch.ones(6), margin=True)
