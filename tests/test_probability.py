"""embedlab.probability: temperature, softmax, entropy, top-k and sampling, against torch and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from embedlab.losses import info_nce, nt_xent
from embedlab.probability import (
    check_temperature,
    entropy,
    entropy_from_logits,
    log_softmax,
    sample_next,
    softmax,
    top_k_filter,
)

F64 = torch.float64


def _randn(*shape, seed=0, dtype=F64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- temperature ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "t", [2, 0.5, np.float32(0.5), np.float64(0.07), np.int64(3), np.array(0.25), torch.tensor(0.5), torch.tensor(2)]
)
def test_check_temperature_accepts_numbers_numpy_scalars_and_0d_tensors(t):
    got = check_temperature(t)
    assert type(got) is float and got == pytest.approx(float(t))


def test_a_learnable_temperature_is_returned_unchanged():
    t = torch.nn.Parameter(torch.tensor(0.07))
    assert check_temperature(t) is t


@pytest.mark.parametrize(
    "t",
    [0, 0.0, -0.1, float("nan"), float("inf"), -float("inf"), True, np.bool_(True), "0.1", None, [0.5],
     np.float32("nan"), np.array([0.5]), torch.tensor([0.5]), torch.tensor([0.1, 0.2]), torch.tensor(True),
     torch.tensor(-1.0), torch.tensor(0.0, requires_grad=True)],
)
def test_check_temperature_rejects_with_the_argument_name(t):
    with pytest.raises(ValueError, match="^tau must"):
        check_temperature(t, name="tau")


def test_sampling_says_how_to_get_the_zero_temperature_limit():
    assert check_temperature(0.5, hint="unused") == 0.5
    with pytest.raises(ValueError, match=r"^temperature must be a finite number > 0, got 0.0$"):
        check_temperature(0.0)
    with pytest.raises(ValueError, match=r"got 0.0; for greedy decoding use top_k=1$"):
        sample_next(torch.randn(2, 5), temperature=0.0)


# -- softmax -------------------------------------------------------------------------------------
@pytest.mark.parametrize("t", [1.0, 0.1, 3.0, np.float32(0.5), torch.tensor(2.0)])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_matches_torch(t, dim):
    z = _randn(3, 5, 7, seed=1) * 4
    torch.testing.assert_close(softmax(z, t, dim=dim), torch.softmax(z / float(t), dim=dim))
    torch.testing.assert_close(log_softmax(z, t, dim=dim), torch.log_softmax(z / float(t), dim=dim))


def test_softmax_temperature_limits():
    z = torch.tensor([2.0, 1.0, 0.0, -1.0], dtype=F64)
    torch.testing.assert_close(softmax(z, 1e-3), torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=F64))  # argmax
    torch.testing.assert_close(softmax(z, 1e6), torch.full((4,), 0.25, dtype=F64), atol=1e-6, rtol=0)  # uniform
    # Arrays and lists are accepted; integer logits become floating.
    torch.testing.assert_close(softmax(np.array([1, 2, 3])), torch.softmax(torch.tensor([1.0, 2.0, 3.0]), -1))


def test_softmax_gradient_reaches_a_learnable_temperature():
    z = _randn(4, 6, seed=2)
    t = torch.tensor(0.5, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda temp: softmax(z, temp)[:, 0].sum(), (t,))


def test_softmax_errors():
    with pytest.raises(ValueError, match="temperature"):
        softmax(torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="dim"):
        softmax(torch.zeros(3), dim=1)
    with pytest.raises(ValueError, match="at least one dimension"):
        softmax(torch.tensor(1.0))
    with pytest.raises(ValueError, match="empty"):
        log_softmax(torch.zeros(2, 0))


# -- entropy -------------------------------------------------------------------------------------
def test_entropy_matches_categorical_and_scipy():
    from scipy.stats import entropy as scipy_entropy

    p = torch.softmax(_randn(4, 9, seed=3) * 2, -1)
    torch.testing.assert_close(entropy(p), torch.distributions.Categorical(probs=p).entropy())
    np.testing.assert_allclose(entropy(p).numpy(), scipy_entropy(p.numpy(), axis=-1), rtol=1e-12)
    # Along another axis.
    torch.testing.assert_close(entropy(p.T, dim=0), entropy(p))
    # The two limits: uniform is log V, one-hot is 0 (0 log 0 = 0, no NaN).
    assert math.isclose(entropy(torch.full((10,), 0.1, dtype=F64)).item(), math.log(10))
    assert entropy(torch.tensor([0.0, 1.0, 0.0])).item() == 0.0
    # float32 rows from a softmax pass the default tolerance.
    q = torch.softmax(torch.randn(8, 5000, generator=torch.Generator().manual_seed(4)), -1)
    torch.testing.assert_close(entropy(q), torch.distributions.Categorical(probs=q).entropy())


def test_entropy_from_logits_matches_categorical_and_stays_finite():
    z = _randn(5, 11, seed=5) * 3
    for t in (1.0, 0.3, np.float32(2.0)):
        ref = torch.distributions.Categorical(logits=z / float(t)).entropy()
        torch.testing.assert_close(entropy_from_logits(z, t), ref)
    # Probabilities that underflow to 0 contribute exactly 0, not NaN.
    extreme = torch.tensor([[0.0, -1e4, -1e4], [1e4, 0.0, 0.0]], dtype=torch.float32)
    torch.testing.assert_close(entropy_from_logits(extreme), torch.zeros(2))


def test_entropy_rejects_what_is_not_a_distribution():
    with pytest.raises(ValueError, match="non-negative"):
        entropy(torch.tensor([-0.1, 1.1]))
    with pytest.raises(ValueError, match="sum to 1"):
        entropy(torch.tensor([[0.5, 0.5], [0.2, 0.2]]))
    with pytest.raises(ValueError, match="non-negative"):
        entropy(torch.tensor([float("nan"), 1.0]))
    with pytest.raises(ValueError, match="floating"):
        entropy(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="dim"):
        entropy(torch.tensor([0.5, 0.5]), dim=2)
    with pytest.raises(ValueError, match="zero"):
        entropy(torch.tensor([0.5, 0.5]), zero="ignore")


def test_entropy_of_an_all_zero_row_is_an_explicit_choice():
    # A fully-masked attention row is all zeros (chapter 5): not a distribution unless asked.
    w = torch.tensor([[0.25, 0.75], [0.0, 0.0]], dtype=F64)
    with pytest.raises(ValueError, match="zero='zero'"):
        entropy(w)
    got = entropy(w, zero="zero")
    assert got[1].item() == 0.0 and got[0].item() == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))


# -- top-k and sampling --------------------------------------------------------------------------
def test_top_k_filter_against_sorting():
    logits = torch.randn(4, 3, 20, generator=torch.Generator().manual_seed(3))
    out = top_k_filter(logits, 5)
    kept = torch.isfinite(out)
    assert torch.all(kept.sum(-1) == 5)
    order = logits.argsort(dim=-1, descending=True)
    assert torch.all(torch.gather(kept, -1, order[..., :5]))
    torch.testing.assert_close(out[kept], logits[kept])
    assert torch.equal(top_k_filter(logits, 20), logits)
    assert torch.equal(top_k_filter(logits, np.int64(5)), out)
    assert torch.equal(
        top_k_filter(torch.tensor([1.0, 3.0, 3.0, 0.0]), 1), torch.tensor([-math.inf, 3.0, 3.0, -math.inf])
    )


@pytest.mark.parametrize(
    "k, error", [(0, ValueError), (21, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)]
)
def test_top_k_filter_errors(k, error):
    with pytest.raises(error, match="k must"):
        top_k_filter(torch.randn(2, 20), k)


def test_sample_next_follows_the_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(40_000, 1)
    g = torch.Generator().manual_seed(0)
    counts = torch.bincount(sample_next(logits, generator=g), minlength=4).double() / 40_000
    torch.testing.assert_close(counts, logits[0].double().softmax(0), atol=0.01, rtol=0)
    hot = torch.bincount(sample_next(logits, temperature=np.float32(2.0), generator=g), minlength=4).double() / 40_000
    torch.testing.assert_close(hot, softmax(logits[0].double(), 2.0), atol=0.01, rtol=0)
    top2 = torch.bincount(sample_next(logits, top_k=2, generator=g), minlength=4).double() / 40_000
    torch.testing.assert_close(
        top2, torch.tensor([1, math.exp(-1), 0, 0]).double() / (1 + math.exp(-1)), atol=0.01, rtol=0
    )


def test_sample_next_greedy_limits():
    logits = torch.randn(6, 30, generator=torch.Generator().manual_seed(5))
    assert torch.equal(sample_next(logits, top_k=1), logits.argmax(-1))
    assert torch.equal(sample_next(logits, temperature=1e-4), logits.argmax(-1))


@pytest.mark.parametrize("temperature", [0, -0.5, float("nan"), float("inf"), torch.tensor([1.0])])
def test_sample_next_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        sample_next(torch.randn(1, 5), temperature=temperature)
    with pytest.raises(ValueError, match=r"\(B, V\)"):
        sample_next(torch.randn(5))


# -- the temperature in the contrastive losses ---------------------------------------------------
def test_info_nce_trains_a_learnable_temperature():
    # CLIP learns its temperature. The loss must pass the gradient to it, not turn it into a float.
    q, k = _randn(6, 4, seed=6), _randn(6, 4, seed=7)
    t = torch.tensor(0.5, dtype=F64, requires_grad=True)
    info_nce(q, k, t).backward()
    assert t.grad is not None and t.grad.abs().item() > 1e-6
    # d loss / d t agrees with a central finite difference.
    eps = 1e-6
    fd = (info_nce(q, k, 0.5 + eps) - info_nce(q, k, 0.5 - eps)).item() / (2 * eps)
    assert t.grad.item() == pytest.approx(fd, rel=1e-5)
    u = torch.tensor(0.3, dtype=F64, requires_grad=True)
    nt_xent(q, k, u).backward()
    assert u.grad is not None and u.grad.abs().item() > 1e-6


def test_losses_accept_numpy_temperatures():
    q, k = _randn(5, 3, seed=8), _randn(5, 3, seed=9)
    torch.testing.assert_close(info_nce(q, k, np.float32(0.5)), info_nce(q, k, 0.5))
    torch.testing.assert_close(nt_xent(q, k, np.float64(0.2)), nt_xent(q, k, 0.2))


# -- sample_without_replacement (Gumbel top-k) --------------------------------------------------


def _sequential_first_two(p: np.ndarray) -> np.ndarray:
    """P(first = i, second = j) for sequential sampling without replacement, by hand."""
    V = len(p)
    out = np.zeros((V, V))
    for i in range(V):
        for j in range(V):
            if i != j:
                out[i, j] = p[i] * p[j] / (1 - p[i])
    return out


def test_sample_without_replacement_matches_sequential_sampling():
    from embedlab.probability import sample_without_replacement

    logits = torch.tensor([1.0, 0.0, -1.0, 2.0])
    p = torch.softmax(logits / 0.7, 0).double().numpy()
    expected = _sequential_first_two(p)
    n = 200_000
    g = torch.Generator().manual_seed(0)
    draws = sample_without_replacement(logits.expand(n, 4), 2, temperature=0.7, generator=g).numpy()
    counts = np.zeros((4, 4))
    np.add.at(counts, (draws[:, 0], draws[:, 1]), 1)
    freq = counts / n
    se = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(freq - expected) < 5 * se + 1e-12), (freq, expected)
    # The check can fail: with-replacement sampling (second draw from the full softmax) is caught.
    wrong = np.outer(p, p)
    assert np.abs(freq - wrong).max() > 10 * se.max()


def test_sample_without_replacement_distinct_excludes_inf_and_validates():
    from embedlab.probability import sample_without_replacement

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(50, 30, generator=g)
    logits[:, :5] = float("-inf")
    s = sample_without_replacement(logits, 10, temperature=np.float32(2.0), generator=g)
    assert s.shape == (50, 10)
    assert all(len(set(row.tolist())) == 10 for row in s)
    assert (s >= 5).all()
    # A tiny temperature gives the top k.
    top = sample_without_replacement(logits, 3, temperature=1e-6, generator=g)
    assert torch.equal(top, torch.topk(logits, 3, dim=1).indices)
    with pytest.raises(ValueError, match="k must be between"):
        sample_without_replacement(logits, 26)
    with pytest.raises(TypeError, match="k must be an integer"):
        sample_without_replacement(logits, 2.0)
    with pytest.raises(ValueError, match="temperature"):
        sample_without_replacement(logits, 2, temperature=0)
    with pytest.raises(ValueError, match="NaN"):
        sample_without_replacement(torch.tensor([[0.0, float("nan")]]), 1)
    with pytest.raises(ValueError, match=r"\(B, V\)"):
        sample_without_replacement(torch.zeros(3), 1)


# -- issue 21: masked (-inf) logits and tiny temperatures --------------------------------------------
def _masked_rows():
    inf = float("inf")
    return torch.tensor(
        [
            [0.0, -inf, 1.0],  # the probe's row: torch and scipy give 0.5822
            [2.0, -inf, -inf],  # all -inf but one: a one-hot distribution, entropy 0
            [-inf, -inf, -0.5],
            [0.3, -1.2, 0.7],  # nothing masked
        ],
        dtype=F64,
    )


def test_entropy_from_logits_of_masked_rows_matches_categorical_and_scipy():
    from scipy.special import softmax as scipy_softmax
    from scipy.stats import entropy as scipy_entropy

    z = _masked_rows()
    ours = entropy_from_logits(z)
    torch.testing.assert_close(ours, torch.distributions.Categorical(logits=z).entropy())
    np.testing.assert_allclose(ours.numpy(), scipy_entropy(scipy_softmax(z.numpy(), axis=-1), axis=-1), rtol=1e-12)
    assert ours[0].item() == pytest.approx(0.5822, abs=1e-4) and ours[1].item() == 0.0
    # a causal attention mask: every row but the last has -inf entries
    t = 6
    scores = _randn(t, t, seed=9).masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    torch.testing.assert_close(entropy_from_logits(scores), torch.distributions.Categorical(logits=scores).entropy())
    # the gradient stays finite too
    leaf = z.clone().requires_grad_(True)
    entropy_from_logits(leaf).sum().backward()
    assert torch.isfinite(leaf.grad).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_entropy_from_logits_low_precision_masked_rows(dtype):
    from scipy.special import softmax as scipy_softmax
    from scipy.stats import entropy as scipy_entropy

    z = _masked_rows().to(dtype)
    ours = entropy_from_logits(z)
    assert ours.dtype == dtype
    exact = z.double()  # the same half-precision values, exactly
    ref = scipy_entropy(scipy_softmax(exact.numpy(), axis=-1), axis=-1)
    eps = torch.finfo(dtype).eps
    np.testing.assert_allclose(ours.double().numpy(), ref, rtol=eps, atol=eps)
    torch.testing.assert_close(ours.double(), torch.distributions.Categorical(logits=exact).entropy(),
                               rtol=eps, atol=eps)


@pytest.mark.parametrize("t", [5e-324, 1e-310, np.float64(2.0**-1025), torch.tensor(5e-324, dtype=F64)])
def test_a_temperature_whose_reciprocal_overflows_is_refused(t):
    with pytest.raises(ValueError, match="temperature is too small"):
        check_temperature(t)
    from embedlab.probability import sample_without_replacement

    with pytest.raises(ValueError, match="temperature"):
        sample_without_replacement(torch.tensor([[1.0, 3.0, 2.0]]), 1, temperature=t)


def test_the_smallest_accepted_temperature_is_greedy():
    from embedlab.probability import sample_without_replacement

    t = 2.0**-1023  # 1/t = 2**1023 is finite: accepted; logits / t overflows: the greedy limit
    assert check_temperature(t) == t
    logits = torch.tensor([[1.0, 3.0, 2.0, float("-inf"), 0.5], [-4.0, -1.0, -2.0, -3.0, float("-inf")]], dtype=F64)
    gen = torch.Generator().manual_seed(0)
    for k in (1, 3, 4):
        got = sample_without_replacement(logits, k, temperature=t, generator=gen)
        assert torch.equal(got[:, 0], logits.argmax(1)), got  # the argmax first, never index 0 by default
        assert not (got == 3)[0].any() and not (got == 4)[1].any()  # excluded items stay excluded
    assert torch.equal(sample_without_replacement(logits, 2, temperature=1e-300, generator=gen),
                       torch.topk(logits, 2).indices)


# -- inputs that used to give NaN or garbage ---------------------------------------------------------------
def test_softmax_refuses_plus_inf_and_nan_by_name():
    from embedlab import probability as P

    for bad in ([float("inf"), 0.0], [float("nan"), 0.0]):
        for fn in (P.softmax, P.log_softmax, P.entropy_from_logits):
            with pytest.raises(ValueError, match="logits contains"):
                fn(torch.tensor(bad))
    with pytest.raises(ValueError, match="every logit is -inf"):
        P.softmax(torch.tensor([[0.0, 1.0], [-float("inf"), -float("inf")]]))
    with pytest.raises(ValueError, match="logits contains NaN"):
        P.sample_next(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="logits contains NaN"):
        P.top_k_filter(torch.tensor([[0.0, float("nan")]]), 1)
    # -inf masks an entry; the other entries share the mass (issue: entropy of a causal row)
    assert P.entropy_from_logits(torch.tensor([0.0, -float("inf"), 1.0])).item() == pytest.approx(0.58220, abs=1e-5)


def test_a_tiny_temperature_gives_the_limit_not_nan():
    from embedlab import probability as P

    z = torch.tensor([1e10, 1e10 - 1e3, -1e10], dtype=torch.float64)
    p = P.softmax(z, 1e-300)  # z / t overflows to +inf: the limit is the argmax
    assert p.tolist() == [1.0, 0.0, 0.0]
    assert P.log_softmax(z, 1e-300)[0].item() == 0.0
    assert P.entropy_from_logits(z, 1e-300).item() == 0.0
    assert P.sample_next(z[None].float(), temperature=1e-300).tolist() == [0]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_probabilities_and_logits_work_like_float32(dtype):
    from embedlab import probability as P

    z = torch.randn(4, 5000, generator=torch.Generator().manual_seed(0))
    p = P.softmax(z.to(dtype))  # a genuine low-precision softmax: sums to 1 only up to its rounding
    assert p.dtype == dtype
    ref = P.entropy(P.softmax(z.double()))
    h = P.entropy(p)  # accepted, and evaluated in float32
    assert h.dtype == dtype
    torch.testing.assert_close(h.double(), ref, rtol=2e-2, atol=0)
    torch.testing.assert_close(P.entropy_from_logits(z.to(dtype)).double(), ref, rtol=1e-2, atol=0)
    assert P.top_k_filter(z.to(dtype), np.int64(3)).isfinite().sum().item() == 12
    with pytest.raises(ValueError, match="did you pass logits"):
        P.entropy(z.to(dtype))


def test_numpy_scalars_are_numbers_and_bools_are_not():
    from embedlab import probability as P

    torch.testing.assert_close(P.softmax([1.0, 2.0], np.float32(2.0), dim=np.int64(0)),
                               torch.softmax(torch.tensor([0.5, 1.0], dtype=torch.float64), 0))
    with pytest.raises(ValueError, match="dim must be an integer axis"):
        P.softmax([1.0, 2.0], dim=True)
    with pytest.raises(ValueError, match="k must be an integer"):
        P.sample_without_replacement(torch.zeros(1, 3), True)
    with pytest.raises(ValueError, match="logits must be an array of real numbers"):
        P.softmax(torch.tensor([True, False]))
