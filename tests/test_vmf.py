"""embedlab.vmf against scipy.stats.vonmises_fisher (density, fit) and scipy.special (Bessel)."""

import math

import mpmath
import numpy as np
import pytest
from scipy.special import iv
from scipy.stats import vonmises_fisher

from embedlab.vmf import (
    estimate_kappa,
    fit,
    fit_classes,
    log_density,
    log_normalizer,
    mean_resultant_ratio,
)


def _mu(d, seed=0):
    v = np.random.default_rng(seed).normal(size=d)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("d", [2, 3, 10, 64, 300])
@pytest.mark.parametrize("kappa", [1e-3, 0.5, 20.0, 800.0, 5e4])
def test_log_density_matches_scipy(d, kappa):
    mu = _mu(d)
    x = vonmises_fisher(mu, kappa).rvs(50, random_state=1)
    with np.errstate(divide="ignore"):
        ref = vonmises_fisher(mu, kappa).logpdf(x)
    if not np.all(np.isfinite(ref)):
        # scipy's own normaliser underflows here (ive(149, 0.5) = 0): use mpmath's exact Bessel function
        nu = d / 2 - 1
        log_c = nu * math.log(kappa) - (d / 2) * math.log(2 * math.pi) - float(mpmath.log(mpmath.besseli(nu, kappa)))
        ref = log_c + kappa * (x @ mu)
    np.testing.assert_allclose(log_density(x, mu, kappa), ref, rtol=1e-9, atol=1e-8)


def test_log_normalizer_against_bessel_and_uniform_limit():
    d, k = 5, 3.0
    direct = (d / 2 - 1) * math.log(k) - (d / 2) * math.log(2 * math.pi) - math.log(iv(d / 2 - 1, k))
    assert log_normalizer(k, d) == pytest.approx(direct, rel=1e-12)
    sphere_area = 2 * math.pi ** (d / 2) / math.gamma(d / 2)
    assert log_normalizer(0.0, d) == pytest.approx(-math.log(sphere_area), rel=1e-12)
    assert log_normalizer(1e-300, 512) == pytest.approx(log_normalizer(0.0, 512), rel=1e-9)  # series branch
    assert np.isfinite(log_normalizer(1e6, 3))  # iv overflows here; ive does not


def test_broken_normalizer_would_fail():
    # the unscaled Bessel function overflows: a naive normaliser gives -inf at large kappa
    with np.errstate(over="ignore", divide="ignore"):
        naive = (1.5 - 1) * math.log(1e4) - 1.5 * math.log(2 * math.pi) - np.log(iv(0.5, 1e4))
    assert not np.isfinite(naive) and np.isfinite(log_normalizer(1e4, 3))


@pytest.mark.parametrize("d,kappa", [(3, 5.0), (50, 20.0), (64, 70.0), (20, 100.0)])
def test_fit_matches_scipy(d, kappa):
    x = vonmises_fisher(_mu(d, 2), kappa).rvs(2000, random_state=3)
    mu, k = fit(x)
    mu_ref, k_ref = vonmises_fisher.fit(x)
    np.testing.assert_allclose(mu, mu_ref, atol=1e-10)
    assert k == pytest.approx(k_ref, rel=1e-6)
    assert k == pytest.approx(kappa, rel=0.15)
    r = np.linalg.norm(x.mean(0))
    assert abs(estimate_kappa(r, d, newton_steps=0) - k_ref) > abs(k - k_ref)  # Newton helps


def test_mean_resultant_ratio_is_expected_cosine():
    d, k = 10, 8.0
    x = vonmises_fisher(_mu(d), k).rvs(200_000, random_state=4)
    assert mean_resultant_ratio(k, d) == pytest.approx(float((x @ _mu(d)).mean()), abs=3e-3)


def test_fit_classes_posterior_is_bayes_rule():
    d, kappa = 8, 6.0
    means = np.stack([_mu(d, s) for s in range(3)])
    priors = np.array([0.5, 0.3, 0.2])
    rng = np.random.default_rng(5)
    y = rng.choice(3, 6000, p=priors)
    x = np.stack([vonmises_fisher(means[c], kappa).rvs(1, random_state=rng)[0] for c in y])
    model = fit_classes(x, y)
    assert model.kappa == pytest.approx(kappa, rel=0.08)
    np.testing.assert_allclose(model.priors, np.bincount(y) / len(y))
    # posterior from scipy's densities and Bayes' rule
    logp = np.stack([vonmises_fisher(model.means[c], model.kappa).logpdf(x) for c in range(3)], 1)
    logp += np.log(model.priors)
    ref = np.exp(logp - logp.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(model.posterior(x), ref, atol=1e-10)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="kappa"):
        log_normalizer(-1.0, 3)
    with pytest.raises(ValueError, match="d must"):
        log_normalizer(1.0, 1)
    with pytest.raises(ValueError, match="unit vectors"):
        log_density(np.ones((2, 3)), _mu(3), 1.0)
    with pytest.raises(ValueError, match="r_bar"):
        estimate_kappa(1.0, 3)
    with pytest.raises(ValueError, match="class 1 has no examples"):
        fit_classes(np.eye(3), np.array([0, 2, 2]))


# -- high dimensions (issue 21): references from mpmath's arbitrary-precision Bessel function -------
def _mp_log_normalizer(kappa, d):
    with mpmath.workdps(50):
        nu = mpmath.mpf(d) / 2 - 1
        k = mpmath.mpf(kappa)
        log_i = mpmath.log(mpmath.besseli(nu, k))
        return float(nu * mpmath.log(k) - mpmath.mpf(d) / 2 * mpmath.log(2 * mpmath.pi) - log_i)


def _mp_ratio(kappa, d):
    with mpmath.workdps(50):
        k = mpmath.mpf(kappa)
        return float(mpmath.besseli(mpmath.mpf(d) / 2, k) / mpmath.besseli(mpmath.mpf(d) / 2 - 1, k))


_DIMS = [2, 3, 50, 300, 768, 1536, 4096]
_KAPPAS = [1e-3, 1.0, 50.0, 1e3, 1e5]


@pytest.mark.parametrize("d", _DIMS)
def test_log_normalizer_matches_mpmath_in_high_dimensions(d):
    ours = log_normalizer(np.array(_KAPPAS), d)
    ref = np.array([_mp_log_normalizer(k, d) for k in _KAPPAS])
    # float64 carries log C to ~1e-16 relative; 1e-13 leaves room for the sum's rounding
    np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-12)
    for k, r in zip(_KAPPAS, ref):
        assert log_normalizer(k, d) == pytest.approx(r, rel=1e-13, abs=1e-12)  # scalar path too


@pytest.mark.parametrize("d", _DIMS)
def test_mean_resultant_ratio_matches_mpmath_in_high_dimensions(d):
    ref = np.array([_mp_ratio(k, d) for k in _KAPPAS])
    np.testing.assert_allclose(mean_resultant_ratio(np.array(_KAPPAS), d), ref, rtol=1e-12)


@pytest.mark.parametrize("d,kappa", [(768, 50.0), (1536, 50.0), (4096, 300.0), (768, 3.0)])
def test_estimate_kappa_recovers_kappa_in_high_dimensions(d, kappa):
    # r_bar = A_d(kappa) exactly (mpmath): the maximum-likelihood answer is kappa itself
    assert estimate_kappa(_mp_ratio(kappa, d), d, newton_steps=20) == pytest.approx(kappa, rel=1e-9)


def test_log_density_matches_mpmath_at_d768():
    d, kappa = 768, 50.0
    mu = _mu(d, 7)
    x = vonmises_fisher(mu, kappa).rvs(20, random_state=8)
    ref = _mp_log_normalizer(kappa, d) + kappa * (x @ mu)
    np.testing.assert_allclose(log_density(x, mu, kappa), ref, rtol=1e-12, atol=1e-10)


def test_vmf_mixture_posterior_at_d768_is_even_where_the_densities_are_equal():
    from embedlab.cluster import VMFMixtureFit

    d, k1, k2 = 768, 30.0, 50.0
    # x with cos(x, mu1) = 0 and cos(x, mu2) = c chosen (from mpmath's normalisers) so that
    # log C(k1) + k1 * 0 = log C(k2) + k2 * c: the two components are equally likely at x.
    c = (_mp_log_normalizer(k1, d) - _mp_log_normalizer(k2, d)) / k2
    assert 0 < abs(c) < 1
    e = np.eye(d)
    x = c * e[1] + math.sqrt(1 - c * c) * e[2]
    fit = VMFMixtureFit(weights=np.array([0.5, 0.5]), means=e[:2], kappas=np.array([k1, k2]), n_iter=0, converged=True)
    np.testing.assert_allclose(fit.predict_proba(x[None]), [[0.5, 0.5]], atol=1e-10)


# -- issue 21: dtypes, NumPy scalars, argument checks --------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_unit_rows_are_accepted_within_their_rounding(dtype):
    import torch

    x = vonmises_fisher(_mu(16), 20.0).rvs(300, random_state=np.random.default_rng(0))
    y = (x[:, 0] > x[:, 0].mean()).astype(int)
    t = torch.from_numpy(x).to(getattr(torch, dtype))  # rows of norm 1 only to ~1e-3
    mu, kappa = fit(t)
    ref_mu, ref_kappa = fit(x)
    assert kappa == pytest.approx(ref_kappa, rel=0.02) and mu @ ref_mu > 0.999
    np.testing.assert_allclose(log_density(t, t[0], np.float32(20.0)), log_density(x, x[0], 20.0), atol=0.5)
    model = fit_classes(t, torch.from_numpy(y))
    np.testing.assert_allclose(model.posterior(t), fit_classes(x, y).posterior(x), atol=0.05)
    with pytest.raises(ValueError, match="^x rows must be unit vectors"):
        fit(t * 1.1)


def test_vmf_takes_numpy_scalars_and_refuses_bools_and_nan_by_name():
    assert log_normalizer(np.float32(5.0), np.int64(768)) == pytest.approx(log_normalizer(5.0, 768), rel=1e-6)
    assert estimate_kappa(np.float64(0.5), np.int16(10), np.int8(3)) == estimate_kappa(0.5, 10, 3)
    for bad, match in [(lambda: log_normalizer(True, 10), "^kappa must be an array of real numbers"),
                       (lambda: log_normalizer(float("nan"), 10), "^kappa contains NaN"),
                       (lambda: log_normalizer(1.0, True), "^d must be an integer"),
                       (lambda: log_normalizer(1.0, 10.0), "^d must be an integer"),
                       (lambda: estimate_kappa(float("nan"), 10), "^r_bar must be a finite number"),
                       (lambda: estimate_kappa(0.5, 10, newton_steps=True), "^newton_steps must be an integer"),
                       (lambda: fit_classes(np.eye(3), np.array([True, False, True])), "^y must be an array of real"),
                       (lambda: fit_classes(np.eye(3), np.array([0.0, 1.0, 1.0])), "^y must be non-negative integer")]:
        with pytest.raises(ValueError, match=match):
            bad()


def test_fit_classes_refuses_a_class_whose_rows_cancel():
    # the class mean was sums / 0 = NaN, and every posterior NaN
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    with pytest.raises(ValueError, match="^class 0 has a zero resultant"):
        fit_classes(x, np.array([0, 0, 1, 1]))
