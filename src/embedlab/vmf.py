"""The von Mises–Fisher distribution on the unit sphere, and the classifier it implies (chapter 7).

The vMF density of a unit vector ``x`` in ``R^d`` with mean direction ``μ`` and concentration
``κ >= 0`` is ``f(x) = C_d(κ) exp(κ μ·x)``, with

    log C_d(κ) = (d/2 - 1) log κ - (d/2) log(2π) - log I_{d/2-1}(κ),

``I_ν`` the modified Bessel function of the first kind. It is the isotropic Gaussian
``N(μ, κ⁻¹ I)`` conditioned on the unit sphere: there ``|x - μ|² = 2 - 2 μ·x``, so the Gaussian
density ``∝ exp(-κ |x - μ|² / 2)`` is ``∝ exp(κ μ·x)`` on the sphere.

``I_ν(κ)`` overflows float64 for ``κ`` beyond about 700 and underflows for large ``ν``
(``I_383(50) ≈ e^-665`` at d = 768), so we work with ``log I_ν(κ) - κ`` throughout (:func:`_log_bessel_ive`): for
``ν >= 20`` from Debye's uniform asymptotic expansion in ``ν`` (DLMF 10.41.3; ten terms reach
float64 precision for every ``κ`` at these orders), below that from SciPy's exponentially scaled
``ive``, and where ``ive`` underflows (only at tiny ``κ`` for small ``ν``) from the power series.

Why it matters here: if each class ``c`` has density vMF(``μ_c``, ``κ``) with one shared ``κ``
and prior ``π_c``, Bayes' rule gives

    p(c | x) = softmax_c(κ cos(x, μ_c) + log π_c),

a cosine-softmax classifier whose scale is ``κ`` (its temperature is ``1/κ``) and whose bias is
the log-prior. :func:`fit_classes` fits this generative model; the same classifier trained
discriminatively is :class:`embedlab.prototypes.CosineClassifier`; chapter 7 compares the two.

Shapes: ``x: (N, d)`` unit rows, ``mu: (d,)`` or ``means: (C, d)`` unit rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import numpy as np
import torch
from scipy.special import gammaln, ive

from embedlab import _checks
from embedlab._checks import ArgumentError
from embedlab._rows import row_norm, softmax, unit_rows
from embedlab.prototypes import class_prototypes

__all__ = [
    "log_normalizer",
    "log_density",
    "mean_resultant_ratio",
    "estimate_kappa",
    "fit",
    "VMFClasses",
    "fit_classes",
]


def _kappa(kappa, name: str = "kappa") -> np.ndarray:
    """Concentrations: a number or an array of them (NumPy, tensor, list), finite and >= 0."""
    k = _checks.array(kappa, name, empty=True)
    if (k < 0).any():
        raise ArgumentError(f"{name} must be finite and >= 0, got {kappa!r}")
    return k


# Debye's expansion is used from this order up: at nu = 20 its tenth term is below 1e-16 for every
# argument, while at nu = 5 it is only good to about 1e-9 (measured against mpmath).
_DEBYE_MIN_ORDER = 20.0
_DEBYE_TERMS = 10
# ive values below this are (near-)subnormal and have lost relative precision.
_IVE_SMALLEST = 1e-290


@cache
def _debye_polynomials(n_terms: int) -> tuple[np.ndarray, ...]:
    """Coefficients (lowest power first) of Debye's polynomials ``u_0 .. u_{n-1}`` in ``t``, from
    the recurrence ``u_{k+1}(t) = ½ t² (1 - t²) u_k'(t) + ⅛ ∫_0^t (1 - 5 s²) u_k(s) ds``
    (DLMF 10.41.9), in exact fractions so the coefficients carry no rounding of their own."""
    polys = [[Fraction(1)]]
    for _ in range(n_terms - 1):
        u = polys[-1]
        nxt = [Fraction(0)] * (len(u) + 3)
        for j, c in enumerate(u):
            nxt[j + 1] += Fraction(j, 2) * c + c / (8 * (j + 1))  # ½ t² u' (t^{j+1}) and ⅛ ∫ u
            nxt[j + 3] -= Fraction(j, 2) * c + 5 * c / (8 * (j + 3))  # -½ t⁴ u' and -⅝ ∫ s² u
        polys.append(nxt)
    return tuple(np.array([float(c) for c in p]) for p in polys)


def _log_ive_debye(nu: float, x: np.ndarray) -> np.ndarray:
    """``log I_nu(x) - x`` from the uniform expansion ``I_ν(νz) ~ e^{νη} / (√(2πν) (1+z²)^¼)
    Σ_k u_k(t) / ν^k`` with ``t = 1/√(1+z²)``, ``η = √(1+z²) + log(z / (1 + √(1+z²)))``.
    ``νη - x`` is formed as ``ν (1/(√(1+z²) + z) + log(z / (1 + √(1+z²))))`` so that the two
    large terms never cancel in floating point."""
    z = x / nu
    s = np.hypot(1.0, z)
    t = 1.0 / s
    series = np.zeros_like(x)
    for k, coefs in enumerate(_debye_polynomials(_DEBYE_TERMS)):
        series += np.polynomial.polynomial.polyval(t, coefs) / nu**k
    eta_minus_z = 1.0 / (s + z) + np.log(z / (1.0 + s))
    return -0.5 * math.log(2 * math.pi * nu) - 0.5 * np.log(s) + nu * eta_minus_z + np.log(series)


def _log_ive_series(nu: float, x: np.ndarray) -> np.ndarray:
    """``log I_nu(x) - x`` from ``I_ν(x) = (x/2)^ν Σ_m (x²/4)^m / (m! Γ(ν+m+1))``; used only where
    ``ive`` underflows at ``ν < 20``, which needs ``x < 1e-13``, so a few terms are exact."""
    q = (x / 2) ** 2
    term = np.ones_like(x)
    total = np.ones_like(x)
    for m in range(1, 6):
        term = term * q / (m * (nu + m))
        total += term
    return nu * np.log(x / 2) - gammaln(nu + 1) + np.log(total) - x


def _log_bessel_ive(nu: float, x: np.ndarray) -> np.ndarray:
    """``log I_nu(x) - x`` for ``x > 0`` (float64 array), accurate to float64 precision at every
    order and argument: the exponentially scaled log keeps ``κ`` up to 1e300 finite, and the ratio
    ``I_{ν+1}/I_ν`` is a difference of two moderate numbers."""
    if nu >= _DEBYE_MIN_ORDER:
        return _log_ive_debye(nu, x)
    scaled = ive(nu, x)
    out = np.empty_like(x)
    ok = scaled >= _IVE_SMALLEST
    out[ok] = np.log(scaled[ok])
    if not ok.all():
        out[~ok] = _log_ive_series(nu, x[~ok])
    return out


_RATIO_DEPTH = 40


def _bessel_ratio(nu: float, x: np.ndarray) -> np.ndarray:
    """``I_{nu+1}(x) / I_nu(x)`` for ``x > 0``.

    For ``x <= nu + 1`` the two logs are large (``≈ ν log(x/2ν)``, 3e4 at ν = 2047, x = 1e-3), so
    their difference would lose ~1e-12 relative; there the backward recurrence
    ``R_m = 1 / (2(m+1)/x + R_{m+1})`` (the continued fraction for the ratio) is used instead:
    each level shrinks the error of the start by at least ``(1 + √2)^-2 ≈ 0.17``, so 40 levels
    from ``R = 0`` are exact in float64. Beyond ``ν + 1`` the logs are moderate (≤ ν/2) and
    their difference is accurate, while the recurrence would need about ``x`` levels."""
    out = np.empty_like(x)
    small = x <= nu + 1
    if small.any():
        xs = x[small]
        r = np.zeros_like(xs)
        with np.errstate(over="ignore"):  # a subnormal x: 2(m+1)/x = inf, and the ratio is 0
            for m in range(_RATIO_DEPTH, -1, -1):
                r = 1.0 / (2 * (nu + m + 1) / xs + r)
        out[small] = r
    if not small.all():
        xl = x[~small]
        out[~small] = np.exp(_log_bessel_ive(nu + 1, xl) - _log_bessel_ive(nu, xl))
    return out


def log_normalizer(kappa, d: int) -> np.ndarray | float:
    """``log C_d(κ)`` (elementwise over ``kappa``). At ``κ = 0`` it is minus the log surface area of
    the sphere, ``log Γ(d/2) - log 2 - (d/2) log π``: the uniform density."""
    k = _kappa(kappa)
    d = _checks.integer(d, "d", low=2)
    nu = d / 2 - 1
    flat = np.atleast_1d(k).astype(np.float64)
    out = np.full(flat.shape, gammaln(d / 2) - math.log(2) - (d / 2) * math.log(math.pi))
    pos = flat > 0
    if pos.any():
        kp = flat[pos]
        out[pos] = nu * np.log(kp) - (d / 2) * math.log(2 * math.pi) - (_log_bessel_ive(nu, kp) + kp)
    return out.reshape(k.shape) if k.ndim else float(out[0])


def _unit_rows(x, name: str, atol: float = 1e-6) -> np.ndarray:
    """Points on the sphere: (N, d) rows, d >= 2, whose norms are 1 within ``atol`` (a row far off
    the sphere is a forgotten normalisation, which the densities here would silently mis-score),
    returned as float64 rows of norm 1 to rounding (:func:`embedlab._rows.unit_rows`). The one
    "must be unit" check of :mod:`embedlab.vmf` and :mod:`embedlab.cluster`. float16/bfloat16
    rows are accepted within their own rounding (``atol`` at least 4 units in their last place)."""
    dtype = getattr(x, "dtype", None)
    a = _checks.array(x, name, ndim=2)
    if a.shape[1] < 2:
        raise ArgumentError(f"{name} must be an (N, d) array with N >= 1 and d >= 2, got shape {a.shape}")
    eps = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "torch.float16": 2.0**-10, "torch.bfloat16": 2.0**-7}
    tol = max(atol, 4 * eps.get(str(dtype), 0.0))
    norms = row_norm(torch.from_numpy(a)).numpy()[:, 0]  # (N,), no overflow or underflow
    off = np.flatnonzero(np.abs(norms - 1.0) > tol)
    if off.size:
        raise ArgumentError(f"{name} rows must be unit vectors (row {int(off[0])} has norm {norms[off[0]]:.6g}; "
                                    "use embedlab.similarity.normalize)")
    return unit_rows(a, name=name)


def log_density(x, mu, kappa) -> np.ndarray:
    """``log f(x; μ, κ)`` for each row of ``x: (N, d)`` (unit rows); ``mu: (d,)`` unit. -> (N,)."""
    xs = _unit_rows(x, "x")
    if np.ndim(mu) != 1:
        raise ArgumentError(f"mu must be one direction (d,), got shape {np.shape(mu)}")
    m = _unit_rows(mu.reshape(1, -1) if hasattr(mu, "reshape") else [list(mu)], "mu")[0]  # keeps mu's dtype
    if m.shape[0] != xs.shape[1]:
        raise ArgumentError(f"mu has dimension {m.shape[0]} but x has {xs.shape[1]}")
    k = float(_kappa(kappa))
    return log_normalizer(k, xs.shape[1]) + k * (xs @ m)


def mean_resultant_ratio(kappa, d: int) -> np.ndarray | float:
    """``A_d(κ) = I_{d/2}(κ) / I_{d/2-1}(κ)``: the expected ``μ·x`` under vMF(μ, κ)."""
    k = _kappa(kappa)
    d = _checks.integer(d, "d", low=2)
    flat = np.atleast_1d(k).astype(np.float64)
    out = np.zeros_like(flat)
    pos = flat > 0
    out[pos] = _bessel_ratio(d / 2 - 1, flat[pos])
    return out.reshape(k.shape) if k.ndim else float(out[0])


def estimate_kappa(r_bar, d: int, newton_steps: int = 5) -> float:
    """Maximum-likelihood ``κ`` from the mean resultant length ``r_bar = ||mean(x)||`` in [0, 1).

    Solves ``A_d(κ) = r_bar``: Banerjee et al.'s (2005) approximation
    ``κ0 = r_bar (d - r_bar²) / (1 - r_bar²)`` refined by Newton steps (Sra, 2012), using
    ``A_d'(κ) = 1 - A_d(κ)² - (d - 1) A_d(κ) / κ``.
    """
    d = _checks.integer(d, "d", low=2)
    r = _checks.number(r_bar, "r_bar")
    if not 0 <= r < 1:
        raise ArgumentError(f"r_bar must be in [0, 1), got {r_bar!r} (r_bar = 1 means all points coincide)")
    newton_steps = _checks.integer(newton_steps, "newton_steps", low=0)
    if r == 0:
        return 0.0
    k = r * (d - r * r) / (1 - r * r)
    for _ in range(int(newton_steps)):
        a = float(mean_resultant_ratio(k, d))  # already a float for a scalar κ; float() tells the type
        step = (a - r) / (1 - a * a - (d - 1) * a / k)
        k_new = k - step
        k = k_new if k_new > 0 else k / 2  # keep κ positive if a step overshoots
    return float(k)


def fit(x, newton_steps: int = 5) -> tuple[np.ndarray, float]:
    """Maximum-likelihood ``(μ, κ)`` of a vMF for unit rows ``x: (N, d)``: ``μ`` is the direction
    of the mean, ``κ`` solves ``A_d(κ) = ||mean||``. Same answer as ``scipy.stats.vonmises_fisher.fit``."""
    xs = _unit_rows(x, "x")
    mean = xs.mean(axis=0)  # (d,)
    r = float(np.linalg.norm(mean))
    if r == 0:
        raise ArgumentError("x has a zero mean vector: the mean direction is undefined")
    return unit_rows(mean), estimate_kappa(r, xs.shape[1], newton_steps)


@dataclass
class VMFClasses:
    """A generative classifier: class ``c`` has density vMF(``means[c]``, ``kappa``), prior ``priors[c]``.

    means: (C, d) unit rows; priors: (C,) summing to 1; kappa: the shared concentration.
    """

    means: np.ndarray
    kappa: float
    priors: np.ndarray

    def logits(self, x) -> np.ndarray:
        """``κ cos(x, μ_c) + log π_c`` for unit rows ``x: (N, d)`` -> (N, C). The normaliser
        ``C_d(κ)`` is the same for every class, so it cancels in the softmax."""
        xs = _unit_rows(x, "x")
        with np.errstate(divide="ignore"):
            return self.kappa * xs @ self.means.T + np.log(self.priors)

    def posterior(self, x) -> np.ndarray:
        """``p(c | x)`` by Bayes' rule: the softmax of :meth:`logits` (log-sum-exp stabilised)."""
        return softmax(self.logits(x), name="logits")


def fit_classes(x, y, n_classes: int | None = None, newton_steps: int = 5) -> VMFClasses:
    """Maximum-likelihood class means, one shared ``κ`` and class priors from labelled unit rows.

    The shared ``κ`` solves ``A_d(κ) = Σ_c ||Σ_{i in c} x_i|| / N`` (the pooled mean resultant
    length); the priors are the class frequencies.
    """
    xs = _unit_rows(x, "x")
    yy = _checks.array(y, "y", dtype=None, empty=True)
    if yy.shape != (xs.shape[0],) or yy.dtype.kind not in "iu" or yy.min() < 0:
        raise ArgumentError(f"y must be non-negative integer labels of shape ({xs.shape[0]},), "
                                    f"got {yy.dtype} of shape {yy.shape}")
    c = int(yy.max()) + 1 if n_classes is None else _checks.integer(n_classes, "n_classes", low=1)
    newton_steps = _checks.integer(newton_steps, "newton_steps", low=0)
    if yy.max() >= c:
        raise ArgumentError(f"y has label {yy.max()} but n_classes is {c}")
    counts = np.bincount(yy, minlength=c)
    if (counts == 0).any():
        raise ArgumentError(f"class {int(np.argmin(counts))} has no examples")
    # One home for class means (embedlab.prototypes); rows are already unit, so no re-normalising.
    _, protos = class_prototypes(xs, yy)  # (C, d): mean of each class's unit rows, classes 0..C-1
    sums = protos * counts[:, None]  # (C, d): the resultant vector of each class
    norms = np.linalg.norm(sums, axis=1)
    if (norms == 0).any():  # a class whose unit rows cancel (x and -x): sums / norms was NaN
        raise ArgumentError(f"class {int(np.flatnonzero(norms == 0)[0])} has a zero resultant (its unit rows "
                            "cancel): its mean direction is undefined")
    kappa = estimate_kappa(norms.sum() / xs.shape[0], xs.shape[1], newton_steps)
    return VMFClasses(means=unit_rows(sums), kappa=kappa, priors=counts / counts.sum())
