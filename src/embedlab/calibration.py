"""Calibration: do a classifier's probabilities mean what they say? (chapter 7)

A model is *calibrated* when, among the inputs to which it gives confidence ``p``, a fraction
``p`` is classified correctly. This module measures that and repairs it after training:

* :func:`reliability_bins` bins the top-label confidence, equal-width (``strategy="width"``) or
  equal-mass (``"mass"``: each bin holds about the same number of predictions), and returns each
  bin's mean confidence, accuracy and count: the data of a reliability diagram.
* :func:`expected_calibration_error` (ECE) is ``Σ_b (n_b / N) |acc_b - conf_b|`` over those bins.
  It is a *biased* estimator, and the sign of the bias depends on the model. For a calibrated
  model it is upward: the true error is 0, yet sampling noise makes every ``|acc_b - conf_b|``
  positive (chapter 7 measures this). For a miscalibrated model it can go either way: noise
  still pushes it up, but averaging over- and under-confident predictions inside one bin hides
  part of the error, so ECE can fall below the true calibration error (Kumar et al., 2019;
  Roelofs et al., 2022). Compare models with the proper scores below.
* :func:`nll` and :func:`brier_score` are the proper scoring rules: they reward calibration and
  sharpness together and need no bins.
* :func:`fit_scaling` learns a post-hoc map of the logits on a held-out split by minimising the
  NLL (Guo et al., 2017): ``"temperature"`` (one number ``T``: ``z / T``; it never changes the
  argmax), ``"vector"`` (``z * w + b``, one scale and bias per class) or ``"matrix"``
  (``z @ W.T + b``: multinomial logistic regression on the logits).
* When there is no fixed set of classes, as in retrieval (chapter 10: the candidates change with
  the query), calibration is about one event per prediction, "the top answer is correct":
  :func:`confidence_bins` and :func:`confidence_ece` measure a confidence for it, and
  :func:`fit_confidence` learns one from a few features of each prediction (its score, its
  margin), by isotonic regression (Zadrozny & Elkan, 2002) or logistic regression (Platt, 1999).

Shapes: ``probs, logits: (N, C)``, ``labels: (N,)`` integers in ``0..C-1``; ``confidence,
correct: (N,)``; ``features: (N,)`` or ``(N, k)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from embedlab import _checks
from embedlab._checks import ArgumentError

__all__ = [
    "ReliabilityBins",
    "reliability_bins",
    "expected_calibration_error",
    "nll",
    "brier_score",
    "Scaling",
    "ScalingConfig",
    "fit_scaling",
    "confidence_bins",
    "confidence_ece",
    "ConfidenceMap",
    "fit_confidence",
]

Strategy = Literal["width", "mass"]
Kind = Literal["temperature", "vector", "matrix"]


# Unit roundoff of the half-precision dtypes: a float16 or bfloat16 softmax rounds every
# probability by up to this much relative, so its rows sum to 1 only within a few of these.
_HALF_ROUNDING = {"float16": 2.0**-11, "torch.float16": 2.0**-11, "torch.bfloat16": 2.0**-8}


def _probs(probs, name: str = "probs") -> np.ndarray:
    """(N, C) probabilities as float64: finite, non-negative, rows summing to 1 within 1e-4 (within
    the dtype's own rounding for float16/bfloat16 input, whose genuine softmax rows sum to 1 only to
    a few 1e-4 or 1e-3). Bool input is refused by name."""
    p = _checks.array(probs, name, ndim=2, finite=False)
    if p.shape[1] < 2:
        raise ArgumentError(f"{name} must be an (N, C) array with N >= 1 and C >= 2, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or (p < 0).any():
        raise ArgumentError(f"{name} must be finite and non-negative")
    atol = max(1e-4, 8 * _HALF_ROUNDING.get(str(getattr(probs, "dtype", "")), 0.0))
    if not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=atol):
        raise ArgumentError(f"{name} rows must sum to 1 (did you pass logits? apply a softmax first)")
    return p


def _labels(labels, n: int, c: int) -> np.ndarray:
    y = _checks.array(labels, "labels", dtype=None, empty=True)
    if y.shape != (n,):
        raise ArgumentError(f"labels must have shape ({n},), got {y.shape}")
    if y.dtype.kind not in "iu":
        raise ArgumentError(f"labels must be integers, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= c):
        raise ArgumentError(f"labels must lie in 0..{c - 1}")
    return y.astype(np.int64, copy=False)


@dataclass
class ReliabilityBins:
    """Per-bin statistics of the top-label confidence; empty bins are dropped.

    edges: (B+1,) the bin edges used; confidence, accuracy: (B',) mean confidence and fraction
    correct of each non-empty bin; count: (B',) how many predictions fell in it.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def ece(self) -> float:
        """``Σ_b (n_b / N) |acc_b - conf_b|``."""
        weights = self.count / self.count.sum()
        return float(np.sum(weights * np.abs(self.accuracy - self.confidence)))


def reliability_bins(probs, labels, n_bins: int = 15, strategy: Strategy = "width") -> ReliabilityBins:
    """Bin the top-label confidence ``max_c p_c`` and compare it with accuracy in each bin.

    ``strategy="width"``: edges ``0, 1/B, ..., 1``; a confidence on an inner edge goes to the
    bin above it, and 1.0 to the last bin (the convention of torchmetrics' calibration error).
    "On the edge" means equal to ``b/B`` rounded to the precision of ``probs`` (float32 or
    float64), so ``0.6`` with ten bins opens bin 6 in either dtype.
    ``strategy="mass"``: edges at the quantiles of the confidences, as scikit-learn's
    ``calibration_curve(strategy="quantile")`` places them, so bins hold about N/B predictions
    (ties can make a bin larger).
    """
    conf, correct = _top_label(probs, labels)
    b = _checks.integer(n_bins, "n_bins", low=1)
    return _bins(conf, correct, b, strategy, _input_precision(probs))


def _top_label(probs, labels, name: str = "probs") -> tuple[np.ndarray, np.ndarray]:
    """The checks of :func:`_probs` and :func:`_labels`, then each row's top confidence (float64)
    and whether its class (the first maximal one, as ``np.argmax`` picks) is the label, without a
    float64 copy of the (N, C) matrix: the max of float32 (or float16) numbers is the same number in
    float64 (widening is exact and keeps the order), so it is taken in the input's own dtype."""
    p = _checks.array(probs, name, ndim=2, dtype=None, finite=False)
    if p.shape[1] < 2:
        raise ArgumentError(f"{name} must be an (N, C) array with N >= 1 and C >= 2, got shape {p.shape}")
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float32 if p.dtype == np.float16 else np.float64)  # float16: exact in float32
    p = np.ascontiguousarray(p)
    t = torch.from_numpy(p)
    lo, hi = (float(v) for v in torch.aminmax(t))  # one pass; NaN makes both NaN, failing the test below
    if not (lo >= 0 and math.isfinite(hi)):
        raise ArgumentError(f"{name} must be finite and non-negative")
    atol = max(1e-4, 8 * _HALF_ROUNDING.get(str(getattr(probs, "dtype", "")), 0.0))
    # Row sums by one matrix-vector product in the input's dtype (a float64 sum along rows of ten
    # runs at a few ns a row). Its rounding error is at most C·eps·(row sum); only rows that close
    # to the tolerance are summed again in float64, so the verdict is the float64 sum's.
    sums = p @ np.ones(p.shape[1], dtype=p.dtype)
    unsure = np.abs(sums - 1.0) > atol - 2 * p.shape[1] * np.finfo(p.dtype).eps * (1.0 + atol)
    if unsure.any() and not np.allclose(p[unsure].sum(axis=1, dtype=np.float64), 1.0, rtol=0, atol=atol):
        raise ArgumentError(f"{name} rows must sum to 1 (did you pass logits? apply a softmax first)")
    y = torch.from_numpy(_labels(labels, *p.shape))
    top = t.amax(1)  # (N,) a plain reduction: several times faster than max with indices on short rows
    if np.count_nonzero(p == top.numpy()[:, None]) == p.shape[0]:  # NumPy's broadcast compare is the faster here
        # No row has its maximum twice, so the argmax is right exactly where the label's score is the maximum.
        correct = t.gather(1, y[:, None])[:, 0] == top
    else:  # a tie for the top somewhere: the first maximal class decides, as np.argmax does
        correct = t.argmax(1) == y
    return top.numpy().astype(np.float64), correct.numpy()


Precision = type[np.floating] | torch.dtype


def _input_precision(x) -> Precision:
    """The float type whose rounding of ``b/B`` counts as "on the edge": the input's own
    (float16, bfloat16 or float32), else float64 (also for integers and Python floats)."""
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.bfloat16:
            return torch.bfloat16  # NumPy has no bfloat16: its edges are rounded by torch
        dtype = np.dtype(str(x.dtype).removeprefix("torch.")) if x.dtype.is_floating_point else np.dtype(np.float64)
    else:
        dtype = np.asarray(x).dtype
    return dtype.type if dtype in (np.float16, np.float32) else np.float64


def _width_edges(b: int, precision: Precision) -> np.ndarray:
    """Edges ``k/B``, each the correctly rounded quotient in ``precision`` (IEEE division), held
    in float64. Not ``np.linspace``: it forms ``k * (1/B)``, which lands one ulp off ``k/B`` for 34
    of the 190 inner edges with B <= 20 (6 * 0.1 = 0.6000000000000001), so a confidence of exactly
    ``0.6`` fell below its edge in float64 but above it in float32."""
    if isinstance(precision, torch.dtype):  # bfloat16
        ks = torch.arange(b + 1, dtype=torch.float64)
        return (ks / b).to(precision).double().numpy()  # k/B in float64, then rounded once to bfloat16
    return (np.arange(b + 1, dtype=precision) / precision(b)).astype(np.float64)


def _width_ids(conf: np.ndarray, edges: np.ndarray, precision: Precision) -> np.ndarray:
    """``np.searchsorted(edges[1:-1], conf, side="right")`` for the equal-width edges of
    :func:`_width_edges` (``k/B`` rounded to ``precision``), without a binary search per value:
    away from an edge the bin is ``floor(conf·B)``; only values within the edges' rounding of one
    (a few of them) are placed by the binary search, so values on an edge land as before."""
    b = len(edges) - 1
    eps = 2.0**-7 if isinstance(precision, torch.dtype) else float(np.finfo(precision).eps)
    tol = min(0.5, max(4 * b * eps, 1e-9))  # in units of a bin: how far a rounded edge can sit
    x = conf * b
    ids = x.astype(np.int64)  # floor: conf >= 0
    frac = x - ids
    near = (frac < tol) | (frac > 1 - tol)
    ids[near] = np.searchsorted(edges[1:-1], conf[near], side="right")
    return np.minimum(ids, b - 1, out=ids)  # 1.0 in the last bin


def _bins(
    conf: np.ndarray, correct: np.ndarray, b: int, strategy: Strategy, precision: Precision = np.float64
) -> ReliabilityBins:
    """conf: (N,) in [0, 1], correct: (N,) bool -> the bins of :func:`reliability_bins`;
    ``precision``: the float type ``conf`` came in (see :func:`_input_precision`)."""
    correct = correct.astype(np.float64)
    if strategy == "width":
        edges = _width_edges(b, precision)
    elif strategy == "mass":
        edges = np.percentile(conf, np.linspace(0, 100, b + 1))
    else:
        _checks.choice(strategy, "strategy", ("width", "mass"))
        raise AssertionError("unreachable")
    # Index of the bin: the number of inner edges <= conf (so an inner edge opens the bin above).
    ids = _width_ids(conf, edges, precision) if strategy == "width" else np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(ids, minlength=b)
    keep = count > 0
    sum_conf = np.bincount(ids, weights=conf, minlength=b)
    sum_acc = np.bincount(ids, weights=correct, minlength=b)
    return ReliabilityBins(
        edges=edges,
        confidence=sum_conf[keep] / count[keep],
        accuracy=sum_acc[keep] / count[keep],
        count=count[keep],
    )


def expected_calibration_error(probs, labels, n_bins: int = 15, strategy: Strategy = "width") -> float:
    """Top-label ECE, ``Σ_b (n_b / N) |acc_b - conf_b|``, with equal-width or equal-mass bins.

    With equal-width bins it equals torchmetrics' ``MulticlassCalibrationError(norm="l1")``.
    """
    return reliability_bins(probs, labels, n_bins, strategy).ece


def nll(probs, labels, *, eps: float = 0.0) -> float:
    """Mean negative log-likelihood ``-mean_i log p_{i, y_i}`` in nats (scikit-learn's
    ``log_loss``). A probability of 0 on the true class gives ``inf`` unless ``eps > 0`` clips it.
    To score logits, pass ``torch.softmax(logits, -1)`` or use ``F.cross_entropy`` directly."""
    p = _probs(probs)
    y = _labels(labels, *p.shape)
    eps = _checks.number(eps, "eps", low=0, high=1, high_open=True)
    py = p[np.arange(len(y)), y]
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(np.maximum(py, eps))))


def brier_score(probs, labels) -> float:
    """Multiclass Brier score ``mean_i Σ_c (p_ic - [y_i = c])²``, between 0 and 2 (Brier, 1950).

    For any number of classes this is scikit-learn's
    ``brier_score_loss(labels, probs, labels=range(C), scale_by_half=False)`` (tested). Its default,
    ``scale_by_half="auto"`` (scikit-learn >= 1.7), is the same for three or more classes and half
    of it for two, the customary binary form ``mean_i (p_i1 - y_i)²`` in [0, 1]."""
    p = _probs(probs)
    y = _labels(labels, *p.shape)
    onehot = np.eye(p.shape[1])[y]  # (N, C)
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


@dataclass
class Scaling:
    """A fitted post-hoc calibration map of logits ``(N, C) -> (N, C)``.

    ``kind="temperature"``: ``z / temperature``; ``"vector"``: ``z * weight + bias`` (``weight``
    of shape (C,)); ``"matrix"``: ``z @ weight.T + bias`` (``weight`` of shape (C, C)).
    """

    kind: Kind
    temperature: float = 1.0
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None

    def __call__(self, logits) -> torch.Tensor:
        z = _checks.tensor(logits, "logits").to(torch.float64)
        if self.kind == "temperature":
            return z / self.temperature
        if self.weight is None or self.bias is None:
            raise ArgumentError(f"{self.kind} scaling needs weight and bias")
        w, b = self.weight.to(z.device), self.bias.to(z.device)
        if z.ndim != 2 or z.shape[1] != w.shape[0]:
            raise ArgumentError(f"logits must have shape (N, {w.shape[0]}), got {tuple(z.shape)}")
        return (z * w + b) if self.kind == "vector" else z @ w.T + b


@dataclass
class ScalingConfig:
    """Optimiser settings for :func:`fit_scaling` (full-batch L-BFGS in float64)."""

    max_iter: int = 500
    l2: float = 0.0  # penalty (l2 / 2) * ||W - I||² for vector/matrix scaling; 0 for none
    tol: float = 1e-10


def fit_scaling(logits, labels, kind: Kind = "temperature", config: ScalingConfig | None = None) -> Scaling:
    """Fit a post-hoc calibration map on held-out ``logits: (N, C)`` and ``labels: (N,)`` by NLL.

    Temperature scaling optimises ``log T`` (so ``T > 0`` always); the NLL is convex in ``1/T``,
    so L-BFGS finds the global minimum. Vector and matrix scaling start from the identity; matrix
    scaling is multinomial logistic regression on the logits (``l2 > 0`` regularises it towards
    the identity map, which it needs when the held-out split is small: C² + C parameters).
    Fit on data the classifier was not trained on, or the fit learns the training set's
    overconfidence as if it were true.
    """
    cfg = config or ScalingConfig()
    _checks.choice(kind, "kind", ("temperature", "vector", "matrix"))
    l2 = _checks.number(cfg.l2, "config.l2", low=0)
    # max_iter = 0 once returned T = 1, the unfitted start, as if it were the fit
    max_iter = _checks.integer(cfg.max_iter, "config.max_iter", low=1)
    tol = _checks.number(cfg.tol, "config.tol", low=0)
    z = _checks.tensor(logits, "logits", ndim=2).detach().cpu().to(torch.float64)
    if z.shape[0] == 0 or z.shape[1] < 2:
        raise ArgumentError(f"logits must be an (N, C) tensor with N >= 1 and C >= 2, got shape {tuple(z.shape)}")
    if not bool(torch.isfinite(z).all()):
        raise ArgumentError("logits must be finite")
    n, c = z.shape
    y = torch.from_numpy(_labels(labels, n, c))
    eye = torch.eye(c, dtype=torch.float64)
    if kind == "temperature":
        params = [torch.zeros((), dtype=torch.float64, requires_grad=True)]  # log T

        def transform() -> torch.Tensor:
            return z * torch.exp(-params[0])
    else:
        w0 = torch.ones(c, dtype=torch.float64) if kind == "vector" else eye.clone()
        params = [w0.requires_grad_(), torch.zeros(c, dtype=torch.float64, requires_grad=True)]

        def transform() -> torch.Tensor:
            w, b = params
            return (z * w + b) if kind == "vector" else z @ w.T + b

    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, tolerance_grad=tol,
                            tolerance_change=tol * 1e-3, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(transform(), y)  # log-sum-exp inside: stable
        if kind != "temperature" and l2 > 0:
            ref = torch.ones(c, dtype=torch.float64) if kind == "vector" else eye
            loss = loss + 0.5 * l2 * ((params[0] - ref) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    if kind == "temperature":
        t = math.exp(params[0].item())
        return Scaling(kind, temperature=t)
    return Scaling(kind, weight=params[0].detach().clone(), bias=params[1].detach().clone())


# -- one event per prediction: "the top answer is correct" ----------------------------------------
def _event(confidence, correct, name: str = "confidence") -> tuple[np.ndarray, np.ndarray]:
    c = _checks.array(confidence, name, ndim=1)
    if isinstance(correct, torch.Tensor):
        t = correct.detach().cpu()
        y = (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    else:
        y = np.asarray(correct)
    if y.shape != c.shape:
        raise ArgumentError(f"correct must have shape {c.shape} like {name}, got {y.shape}")
    if y.dtype != bool and not np.isin(y, (0, 1)).all():
        raise ArgumentError("correct must hold booleans or 0/1")
    return c.astype(np.float64), y.astype(bool)


def confidence_bins(confidence, correct, n_bins: int = 15, strategy: Strategy = "width") -> ReliabilityBins:
    """Reliability bins of any confidence in an event: confidence (N,) in [0, 1], correct (N,) bool.

    :func:`reliability_bins` is this with ``confidence = max_c p_c`` and ``correct = argmax == label``.
    """
    c, y = _event(confidence, correct)
    if c.min() < 0 or c.max() > 1:
        raise ArgumentError(f"confidence must lie in [0, 1], got values in [{c.min():.3g}, {c.max():.3g}]")
    return _bins(c, y, _checks.integer(n_bins, "n_bins", low=1), strategy, _input_precision(confidence))


def confidence_ece(confidence, correct, n_bins: int = 15, strategy: Strategy = "width") -> float:
    """ECE of a confidence in an event: ``Σ_b (n_b / N) |acc_b - conf_b|`` over :func:`confidence_bins`."""
    return confidence_bins(confidence, correct, n_bins, strategy).ece


@dataclass
class ConfidenceMap:
    """A fitted map from features of a prediction, (N,) or (N, k), to P(correct): (N,) in [0, 1].

    ``model`` is the fitted scikit-learn estimator (an ``IsotonicRegression``, or a pipeline of a
    ``StandardScaler`` and a ``LogisticRegression``).
    """

    method: Literal["isotonic", "logistic"]
    model: Any  # a fitted scikit-learn estimator; scikit-learn ships no types
    n_features: int

    def __call__(self, features) -> np.ndarray:
        X = _features(features)
        if X.shape[1] != self.n_features:
            raise ArgumentError(f"features must have {self.n_features} columns, as in the fit; got {X.shape[1]}")
        if self.method == "isotonic":
            return self.model.predict(X[:, 0])
        return self.model.predict_proba(X)[:, 1]


def _features(features) -> np.ndarray:
    X = _checks.array(features, "features", ndim=(1, 2))
    X = X.reshape(-1, 1) if X.ndim == 1 else X
    if X.shape[1] == 0:
        raise ArgumentError(f"features must be an (N,) or (N, k) array with N, k >= 1, got shape {X.shape}")
    return X


def fit_confidence(features, correct, method: Literal["isotonic", "logistic"] = "isotonic") -> ConfidenceMap:
    """Learn P(correct | features) on held-out predictions: features (N,) or (N, k), correct (N,).

    ``"isotonic"``: a non-decreasing step function of one feature (higher score, more often right),
    fitted by isotonic regression; it needs no shape beyond monotonicity but can only use one
    feature, and is clipped to the fitted range outside it. ``"logistic"``: ``σ(w·x + b)`` on any
    number of features (Platt scaling), standardised, with a weak L2 penalty (C=1e4). Fit on
    predictions the model was not trained on, and measure on others.
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _features(features)
    _, y = _event(X[:, 0], correct, "features")
    if method == "isotonic":
        if X.shape[1] != 1:
            raise ArgumentError(f"isotonic regression takes one feature, got {X.shape[1]}; use method='logistic'")
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(X[:, 0], y)
    elif method == "logistic":
        if y.all() or not y.any():
            raise ArgumentError("logistic calibration needs both correct and wrong predictions")
        # Standardised features and a weak penalty: the default C=1 on raw cosines (spread ~0.1)
        # would shrink the weights towards a constant and leave the map almost flat.
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1e4)).fit(X, y)
    else:
        _checks.choice(method, "method", ("isotonic", "logistic"))
    return ConfidenceMap(method, model, X.shape[1])
