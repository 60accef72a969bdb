"""Prototype classifiers: one vector per class, the mean of its examples (chapter 8).

* :func:`class_prototypes`, :func:`nearest_centroid_predict` (Euclidean: scikit-learn's
  ``NearestCentroid``; cosine: the mean direction of the unit rows);
* :func:`cosine_prototype_logits`: ``scale · cos(x, μ_c) + log π_c``, the softmax classifier that
  Bayes' rule gives for von Mises-Fisher classes of one concentration ``κ = scale``
  (:mod:`embedlab.vmf` fits ``κ``);
* :class:`CosineClassifier`: the same logits as a trainable torch layer (learned directions, bias
  and, optionally, scale): the cosine-softmax classifier trained discriminatively (chapter 7);
* :func:`gaussian_prototype_layer`: the linear layer whose rows *are* prototypes, ``W = μ/σ²`` and
  ``b = log π − |μ|²/(2σ²)``, Bayes' rule for Gaussian classes of one spherical covariance;
* :func:`few_shot_accuracy` (with :func:`embedlab.intervals.mean_interval`): accuracy from
  ``shots`` examples per class, over random draws, with a t-interval.

Unit rows come from :func:`embedlab._rows.unit_rows` (a zero row raises, naming the argument);
``scale`` is checked as a temperature's inverse, finite and > 0, everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from embedlab import _checks
from embedlab._checks import ArgumentError
from embedlab._rows import rescaled, unit_rows
from embedlab.probability import check_temperature
from embedlab.probes import _features, _labels

__all__ = [
    "class_prototypes",
    "nearest_centroid_predict",
    "cosine_prototype_logits",
    "CosineClassifier",
    "gaussian_prototype_layer",
    "few_shot_accuracy",
]


def _scale(scale) -> float:
    """The scale (inverse temperature) of a cosine softmax, checked by the package's one temperature
    check (:func:`embedlab.probability.check_temperature`): a finite number > 0, or an error naming
    ``scale``. An infinite scale is a hard argmax whose logits are ±inf and whose softmax is NaN."""
    return float(check_temperature(scale, name="scale"))


def class_prototypes(x, y, *, normalize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The mean of each class's rows (of its unit rows with ``normalize``).

    x: (N, d), y: (N,)  ->  classes (C,) sorted, prototypes (C, d)
    """
    X = _features(x, "x")
    labels = _labels(y, X.shape[0], "y")
    if normalize:
        X = unit_rows(X, name="x")
    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1)
    sums = np.zeros((len(classes), X.shape[1]))
    np.add.at(sums, codes, X)  # (C, d)
    return classes, sums / np.bincount(codes, minlength=len(classes))[:, None]


def nearest_centroid_predict(train_x, train_y, test_x, *, metric: str = "euclidean") -> np.ndarray:
    """Label of the nearest class prototype for each test row.

    train_x: (N, d), train_y: (N,), test_x: (M, d)  ->  (M,) labels
    ``"euclidean"``: nearest class mean, as scikit-learn's ``NearestCentroid``. ``"cosine"``: the
    largest cosine to the mean of each class's *unit* rows (the vMF mean direction). For unit rows
    the two differ only through the means' lengths: Euclidean picks
    ``argmax_c |μ_c| (cos(x, μ_c) − |μ_c|/2)``, which favours a longer mean only where
    ``cos(x, μ_c) > |μ_c|`` and penalises it elsewhere.
    """
    _checks.choice(metric, "metric", ("euclidean", "cosine"))
    Xte = _features(test_x, "test_x")
    classes, protos = class_prototypes(train_x, train_y, normalize=metric == "cosine")
    if protos.shape[1] != Xte.shape[1]:
        raise ArgumentError(
            f"train_x and test_x have different dimensions: {protos.shape[1]} and {Xte.shape[1]}")
    (Xte, protos), _ = rescaled(Xte, protos)  # exact; |μ|² of 1e200 rows would overflow
    if metric == "cosine":
        scores = unit_rows(Xte, name="test_x") @ unit_rows(protos, name="prototypes").T  # (M, C)
    else:
        # -|x - μ|² up to the per-row constant |x|², which cannot change the argmax
        scores = 2 * Xte @ protos.T - (protos**2).sum(1)[None, :]  # (M, C)
    return classes[scores.argmax(1)]


def cosine_prototype_logits(x, prototypes, *, scale: float = 1.0, log_prior=None) -> np.ndarray:
    """``scale · cos(x_n, μ_c) + log π_c``: softmax these for ``p(c | x)``.

    x: (N, d), prototypes: (C, d), log_prior: (C,) or None (equal priors)  ->  (N, C)
    For classes distributed vMF(μ_c, κ) with one κ, Bayes' rule is exactly this with
    ``scale = κ``: the temperature of the softmax is ``1/κ``.
    """
    X, P = _features(x, "x"), _features(prototypes, "prototypes")
    if X.shape[1] != P.shape[1]:
        raise ArgumentError(f"x and prototypes have different dimensions: {X.shape[1]} and {P.shape[1]}")
    scale = _scale(scale)
    logits = scale * (unit_rows(X, name="x") @ unit_rows(P, name="prototypes").T)  # (N, C)
    if log_prior is not None:
        lp = _checks.array(log_prior, "log_prior", ndim=1)
        if lp.shape != (P.shape[0],):
            raise ArgumentError(f"log_prior must have shape ({P.shape[0]},), got {lp.shape}")
        logits = logits + lp
    return logits


def gaussian_prototype_layer(prototypes, *, variance: float = 1.0, priors=None) -> tuple[np.ndarray, np.ndarray]:
    """The linear layer ``x @ W.T + b`` that is Bayes' rule for Gaussian classes N(μ_c, σ²I).

    prototypes: (C, d), priors: (C,) or None (equal)  ->  W (C, d), b (C,)

    ``log p(c | x) = -|x - μ_c|²/(2σ²) + log π_c + const(x)``, and expanding the square leaves
    ``W_c = μ_c/σ²`` and ``b_c = log π_c - |μ_c|²/(2σ²)``: the rows of the weight matrix are the
    prototypes, the bias is the log-prior minus a norm term (equal norms: the log-prior alone).
    """
    P = _features(prototypes, "prototypes")
    variance = _checks.number(variance, "variance", low=0, low_open=True)
    if priors is None:
        log_prior = np.full(P.shape[0], -np.log(P.shape[0]))
    else:
        pr = _checks.array(priors, "priors")
        if pr.shape != (P.shape[0],) or (pr <= 0).any() or not np.isclose(pr.sum(), 1.0):
            raise ArgumentError(f"priors must be {P.shape[0]} positive numbers summing to 1, got {priors!r}")
        log_prior = np.log(pr)
    return P / variance, log_prior - (P**2).sum(1) / (2 * variance)


def _logistic_fit_predict(Xs: np.ndarray, ys: np.ndarray, Xte: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000).fit(Xs, ys).predict(Xte)


_FEW_SHOT = {
    "centroid": lambda Xs, ys, Xte: nearest_centroid_predict(Xs, ys, Xte, metric="euclidean"),
    "cosine": lambda Xs, ys, Xte: nearest_centroid_predict(Xs, ys, Xte, metric="cosine"),
    "logistic": _logistic_fit_predict,
}


def few_shot_accuracy(
    train_x, train_y, test_x, test_y, *, shots: int, draws: int = 20, method="cosine", seed: int = 0,
    threads: int | None = 1,
) -> np.ndarray:
    """Test accuracy of a classifier that sees only ``shots`` random training examples per class.

    train_x: (N, d), train_y: (N,), test_x: (M, d), test_y: (M,)  ->  (draws,) accuracies

    ``method``: ``"cosine"`` or ``"centroid"`` (prototypes), ``"logistic"`` (scikit-learn's
    logistic regression, C = 1, on the features as given: with one shot per class its L2 penalty
    keeps the rows near ``x_c − mean(x)``, so it nearly reproduces the prototypes), or a function
    ``fit_predict(x_support, y_support, test_x) -> labels``. Each draw takes ``shots`` examples of
    every class without replacement, from a ``numpy`` generator seeded with ``seed``.
    """
    from threadpoolctl import threadpool_limits

    Xtr, Xte = _features(train_x, "train_x"), _features(test_x, "test_x")
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    shots, draws = _checks.integer(shots, "shots", low=1), _checks.integer(draws, "draws", low=1)
    fit_predict = _FEW_SHOT.get(method) if isinstance(method, str) else method
    if not callable(fit_predict):
        raise ArgumentError(f"method must be one of {sorted(_FEW_SHOT)} or a function, got {method!r}")
    classes = np.unique(ytr)
    pools = [np.flatnonzero(ytr == c) for c in classes]
    smallest = min(len(p) for p in pools)
    if shots > smallest:
        raise ArgumentError(f"shots={shots} but a class has only {smallest} training examples")
    rng = np.random.default_rng(seed)
    out = np.empty(int(draws))
    with threadpool_limits(limits=threads):
        for i in range(int(draws)):
            idx = np.concatenate([rng.choice(p, size=int(shots), replace=False) for p in pools])
            out[i] = np.mean(np.asarray(fit_predict(Xtr[idx], ytr[idx], Xte)) == yte)
    return out


class CosineClassifier(nn.Module):
    """Logits ``scale · cos(x, w_c) + b_c``: a softmax over cosine similarities with a scale.

    With von Mises–Fisher classes of one concentration ``κ`` this is Bayes' rule (``embedlab.vmf``):
    the scale is ``κ``, the rows of ``weight`` the class mean directions, the bias the log-prior.

    x: (B, d) -> (B, C). With ``learn_scale=True`` the scale (a ``κ``) is learned through its log;
    otherwise it stays at ``scale`` (face-recognition heads fix it, e.g. 30 or 64).
    """

    def __init__(self, dim: int, n_classes: int, scale: float = 10.0, *, learn_scale: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        dim, n_classes = _checks.integer(dim, "dim", low=1), _checks.integer(n_classes, "n_classes", low=1)
        scale = _scale(scale)  # finite: an infinite scale gives ±inf logits and a NaN softmax
        _checks.flag(learn_scale, "learn_scale"), _checks.flag(bias, "bias")
        self.weight = nn.Parameter(torch.randn(n_classes, dim) / math.sqrt(dim))  # (C, d)
        self.bias = nn.Parameter(torch.zeros(n_classes)) if bias else None
        log_scale = torch.tensor(math.log(scale))  # default dtype, as the weights
        if not bool(torch.isfinite(log_scale.exp())):
            big = torch.finfo(log_scale.dtype).max
            raise ArgumentError(f"scale must be at most {big:.3g} (the largest {log_scale.dtype} number), "
                                f"got {scale!r}")
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _checks.tensor(x, "x", ndim=2)
        if x.shape[1] != self.weight.shape[1]:
            raise ArgumentError(f"x must have {self.weight.shape[1]} columns (dim), got shape {tuple(x.shape)}")
        # (B, d): a zero row raises (the package's one zero-vector policy); float16/bfloat16 are
        # computed in float32 (unit_rows) and the logits cast back to the input's dtype
        u = unit_rows(x, name="x")
        w = unit_rows(self.weight, name="weight").to(u.dtype)  # (C, d)
        z = self.scale.to(u.dtype) * u @ w.T  # (B, C)
        z = z + self.bias.to(u.dtype) if self.bias is not None else z
        return z.to(x.dtype)
