"""Scoring a frozen representation with labels it never saw: a linear probe and k-NN.

Taught in chapter 4 (is a contrastive encoder's representation any good?) and reused wherever a
chapter asks how much label information a set of embeddings carries. Both probes take features
``(N, d)`` (NumPy or torch; images ``(N, H, W)`` are flattened) and labels ``(N,)``:

* :func:`linear_probe_accuracy`: logistic regression on standardised features (scikit-learn);
* :func:`knn_accuracy`: a majority vote of the ``k`` nearest training points, by exact search
  (:func:`embedlab.similarity.topk`); equal to scikit-learn's ``KNeighborsClassifier`` (tested).

Chapter 11 asks what a probe's accuracy means: :func:`control_task_probe` trains the same probe
on the real labels and on a *control task* (Hewitt & Liang 2019: every word type gets a random
label, :func:`control_task`) and reports the difference, the probe's *selectivity*.

Prototype classifiers (chapter 8): one vector per class, the mean of its examples.

* :func:`class_prototypes`, :func:`nearest_centroid_predict` (Euclidean: scikit-learn's
  ``NearestCentroid``; cosine: the mean direction of the unit rows);
* :func:`cosine_prototype_logits`: ``scale · cos(x, μ_c) + log π_c``, the softmax classifier that
  Bayes' rule gives for von Mises-Fisher classes of one concentration ``κ = scale``
  (:mod:`embedlab.vmf` fits ``κ``);
* :func:`gaussian_prototype_layer`: the linear layer whose rows *are* prototypes, ``W = μ/σ²`` and
  ``b = log π − |μ|²/(2σ²)``, Bayes' rule for Gaussian classes of one spherical covariance;
* :func:`few_shot_accuracy` (with :func:`embedlab.intervals.mean_interval`): accuracy from ``shots`` examples per class,
  over random draws, with a t-interval.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedlab.similarity import Metric, normalize, topk

__all__ = [
    "CosineClassifier",
    "linear_probe_accuracy",
    "knn_accuracy",
    "control_task",
    "ControlProbe",
    "control_task_probe",
    "class_prototypes",
    "nearest_centroid_predict",
    "cosine_prototype_logits",
    "gaussian_prototype_layer",
    "few_shot_accuracy",
]


def _features(x, name: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = a.reshape(a.shape[0], -1) if a.ndim > 2 else a
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch of feature vectors (N, d), got shape {a.shape}")
    return a.astype(np.float64)


def _labels(y, n: int, name: str) -> np.ndarray:
    a = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the features, got {a.shape}")
    if a.dtype.kind == "f" and np.isnan(a).any():
        # NaN equals nothing, not even itself: such a row could never be scored as right.
        raise ValueError(f"{name} contains NaN labels (at index {np.flatnonzero(np.isnan(a))[:5].tolist()})")
    return a


def linear_probe_accuracy(
    train_x, train_y, test_x, test_y, *, C: float = 1.0, max_iter: int = 5000, threads: int | None = 1
) -> float:
    """Accuracy of a logistic regression trained on frozen features.

    train_x: (N, d), train_y: (N,), test_x: (M, d), test_y: (M,)  ->  float in [0, 1]

    Features are standardised with the training set's mean and spread first, so that the probe
    judges the information in a representation, not its scale. ``threads`` caps the BLAS/OpenMP
    threads during the fit (``None``: no cap): problems this small gain nothing from more, and on
    a busy 2-core machine two BLAS threads made a probe 30 times slower than one.
    """
    from threadpoolctl import threadpool_limits

    Xtr, Xte = _features(train_x, "train_x"), _features(test_x, "test_x")
    if Xtr.shape[1] != Xte.shape[1]:
        raise ValueError(f"train_x and test_x have different dimensions: {Xtr.shape[1]} and {Xte.shape[1]}")
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    with threadpool_limits(limits=threads):
        pred = _linear_probe_predict(Xtr, ytr, Xte, C=C, max_iter=max_iter)
    return float((pred == yte).mean())


def _linear_probe_predict(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, *, C: float = 1.0,
                          max_iter: int = 5000) -> np.ndarray:
    """Standardise, fit a logistic regression, predict: (N, d), (N,), (M, d) -> (M,) labels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter)).fit(Xtr, ytr).predict(Xte)


def _neighbours(Xte: np.ndarray, Xtr: np.ndarray, k: int, metric: Metric) -> torch.Tensor:
    """The k nearest training rows of each test row; identical training rows by lower index: (M, k).

    Identical rows are the ties that matter (duplicated points), and a matrix product need not
    give them bit-identical scores (measured: 1e-16 apart), so neither torch.topk nor a re-sort
    would see them tie. So the search runs over the distinct rows, and each chosen distinct row
    stands for its copies in ascending index order, nearest distinct row first."""
    q = torch.from_numpy(Xte)
    distinct, first, group = np.unique(Xtr, axis=0, return_index=True, return_inverse=True)
    if len(distinct) == len(Xtr):
        return topk(q, torch.from_numpy(Xtr), k, metric=metric)[1]
    group = group.reshape(-1)
    # k distinct rows always hold k neighbours (each has at least one copy)
    _, near = topk(q, torch.from_numpy(Xtr[first]), min(k, len(distinct)), metric=metric)  # (M, k') group ids
    by_group = np.argsort(group, kind="stable")  # training rows grouped, ascending index in each group
    sizes = np.bincount(group)
    starts = np.cumsum(sizes) - sizes
    width = int(min(sizes.max(), k))  # no group contributes more than k copies
    slot = np.arange(width)
    members = np.where(slot < sizes[:, None], by_group[np.minimum(starts[:, None] + slot, len(Xtr) - 1)], -1)  # (G, w)
    cand = members[near.numpy()].reshape(len(Xte), -1)  # (M, k'·w) in order, -1 where a group has fewer
    keep = np.argsort(cand < 0, axis=1, kind="stable")[:, :k]  # the first k real rows, order kept
    return torch.from_numpy(np.take_along_axis(cand, keep, axis=1))


def knn_accuracy(train_x, train_y, test_x, test_y, *, k: int = 5, metric: Metric = "cosine") -> float:
    """Accuracy of a k-nearest-neighbour majority vote, as scikit-learn's ``KNeighborsClassifier``.

    train_x: (N, d), train_y: (N,), test_x: (M, d), test_y: (M,)  ->  float in [0, 1]

    Labels are compared as given: integers, floats (0.5 is not 0), strings, anything NumPy can
    sort. A tie between classes goes to the smallest label in sorted order, as in scikit-learn.
    ``metric`` is ``"cosine"``, ``"euclidean"`` or ``"dot"`` (:func:`embedlab.similarity.topk`).

    The neighbours: the ``k`` nearest training rows; where identical training rows (duplicated
    points) straddle the ``k``-th place, the lower training indices are taken (the package's tie
    rule, as :mod:`embedlab.ranking`). The result equals scikit-learn's (``algorithm="brute"``)
    whenever the ``k`` nearest are unambiguous, including ties that the ``k``-th place does not
    cut. Where it cuts a group of duplicates they can differ: scikit-learn scores each copy
    separately, its rounding (``|x|² - 2x·y + |y|²``, a matrix product) puts equal distances up to
    1e-16 apart, and those last bits, not the index, decide which copies are in (measured).
    """
    Xtr, Xte = _features(train_x, "train_x"), _features(test_x, "test_x")
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    try:
        # classes: (C,) sorted, scikit-learn's classes_; codes: (N,) the class index of each row.
        classes, codes = np.unique(ytr, return_inverse=True)
    except TypeError as e:
        raise ValueError(f"train_y must hold labels of one sortable kind (e.g. all numbers or all strings): {e}") from e
    idx = _neighbours(Xte, Xtr, k, metric)  # (M, k)
    neighbour_codes = torch.from_numpy(codes.reshape(-1).astype(np.int64))[idx]  # (M, k)
    votes = F.one_hot(neighbour_codes, len(classes)).sum(1)  # (M, C)
    pred = classes[votes.argmax(-1).numpy()]  # argmax returns the first maximum: the smallest label
    return float(np.mean(pred == yte))


# -- control tasks (chapter 11) ------------------------------------------------------------------
def control_task(types, labels, *, seed: int = 0) -> np.ndarray:
    """A control task: one random label per word *type*, the same wherever the type occurs.

    types: (N,) a type id per row (words, or any sortable ids); labels: (L,) the real task's labels,
    whose empirical distribution the random labels are drawn from  ->  (N,) control labels.
    Hewitt & Liang (2019): a probe that scores well on this task learned to memorise types, since
    the labels carry nothing else. Types are sorted before drawing, so the same types, labels and
    ``seed`` give the same task in any row order.
    """
    t = types.detach().cpu().numpy() if isinstance(types, torch.Tensor) else np.asarray(types)
    lab = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"types must be a non-empty 1-D sequence of type ids, got shape {t.shape}")
    if lab.ndim != 1 or lab.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {lab.shape}")
    try:
        uniq, inverse = np.unique(t, return_inverse=True)
    except TypeError as e:
        raise ValueError(f"types must be ids of one sortable kind (all numbers or all strings): {e}") from e
    drawn = np.random.default_rng(seed).choice(lab, size=len(uniq), replace=True)  # (U,) one per type
    return drawn[inverse.reshape(-1)]


@dataclass
class ControlProbe:
    """Test accuracies of one probe on the real task and on its control task.

    ``selectivity = accuracy − control_accuracy``: high when the representation encodes the
    property in a way the probe can read, near 0 when the probe could as well have memorised
    arbitrary labels. ``majority`` is the test accuracy of always answering the most common
    training label, the floor both accuracies should be read against.
    """

    accuracy: float
    control_accuracy: float
    majority: float

    @property
    def selectivity(self) -> float:
        return self.accuracy - self.control_accuracy


def control_task_probe(
    train_x, train_y, test_x, test_y, *, train_types=None, test_types=None,
    probe: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None, C: float = 1.0,
    seed: int = 0, threads: int | None = 1,
) -> ControlProbe:
    """Train the same probe on the real labels and on a control task; report both and the gap.

    train_x: (N, d), train_y: (N,), test_x: (M, d), test_y: (M,); train_types: (N,) and
    test_types: (M,) the word type of each row  ->  :class:`ControlProbe`.

    The control labels come from :func:`control_task` over the types of both sets, so a type
    seen in training keeps its label in the test. ``probe(train_x, train_y, test_x) -> labels``
    is the probe (default: :func:`linear_probe_accuracy`'s standardised logistic regression with
    ``C``). Without types every row is its own type. That is the case of static word vectors (one
    row per word): test words are then unseen, their control labels cannot be learned, and the
    control accuracy is chance by construction. The memorisation a control task exposes needs
    types that occur in training and test alike (tokens of a word in contexts).
    """
    from threadpoolctl import threadpool_limits

    Xtr, Xte = _features(train_x, "train_x"), _features(test_x, "test_x")
    if Xtr.shape[1] != Xte.shape[1]:
        raise ValueError(f"train_x and test_x have different dimensions: {Xtr.shape[1]} and {Xte.shape[1]}")
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    if (train_types is None) != (test_types is None):
        raise ValueError("give both train_types and test_types, or neither (every row its own type)")
    if train_types is None:
        ttr, tte = np.arange(len(ytr)), np.arange(len(ytr), len(ytr) + len(yte))
    else:
        ttr = _labels(train_types, len(ytr), "train_types")
        tte = _labels(test_types, len(yte), "test_types")
    if probe is None:
        probe = functools.partial(_linear_probe_predict, C=C)
    elif not callable(probe):
        raise ValueError(f"probe must be a function (train_x, train_y, test_x) -> labels, got {probe!r}")
    control = control_task(np.concatenate([ttr, tte]), ytr, seed=seed)  # (N + M,)
    ctr, cte = control[: len(ytr)], control[len(ytr) :]
    values, counts = np.unique(ytr, return_counts=True)
    with threadpool_limits(limits=threads):
        acc = float(np.mean(np.asarray(probe(Xtr, ytr, Xte)) == yte))
        control_acc = float(np.mean(np.asarray(probe(Xtr, ctr, Xte)) == cte))
    return ControlProbe(acc, control_acc, float(np.mean(yte == values[counts.argmax()])))


# -- prototypes (chapter 8) -----------------------------------------------------------------------
def _unit(a: np.ndarray, name: str) -> np.ndarray:
    """Unit rows by the package's one zero-vector policy (:func:`embedlab.similarity.normalize`: a zero
    row raises), with the error naming this function's argument. a: (N, d) float64 -> (N, d)."""
    try:
        return normalize(torch.from_numpy(a)).numpy()
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def class_prototypes(x, y, *, normalize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The mean of each class's rows (of its unit rows with ``normalize``).

    x: (N, d), y: (N,)  ->  classes (C,) sorted, prototypes (C, d)
    """
    X = _features(x, "x")
    labels = _labels(y, X.shape[0], "y")
    if normalize:
        X = _unit(X, "x")
    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1)
    sums = np.zeros((len(classes), X.shape[1]))
    np.add.at(sums, codes, X)  # (C, d)
    return classes, sums / np.bincount(codes, minlength=len(classes))[:, None]


def _metric(metric: str) -> None:
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")


def nearest_centroid_predict(train_x, train_y, test_x, *, metric: str = "euclidean") -> np.ndarray:
    """Label of the nearest class prototype for each test row.

    train_x: (N, d), train_y: (N,), test_x: (M, d)  ->  (M,) labels
    ``"euclidean"``: nearest class mean, as scikit-learn's ``NearestCentroid``. ``"cosine"``: the
    largest cosine to the mean of each class's *unit* rows (the vMF mean direction).
    """
    _metric(metric)
    Xte = _features(test_x, "test_x")
    classes, protos = class_prototypes(train_x, train_y, normalize=metric == "cosine")
    if protos.shape[1] != Xte.shape[1]:
        raise ValueError(f"train_x and test_x have different dimensions: {protos.shape[1]} and {Xte.shape[1]}")
    if metric == "cosine":
        scores = _unit(Xte, "test_x") @ _unit(protos, "prototypes").T  # (M, C)
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
        raise ValueError(f"x and prototypes have different dimensions: {X.shape[1]} and {P.shape[1]}")
    scale = float(scale) if isinstance(scale, (int, float, np.integer, np.floating)) else scale
    if not isinstance(scale, float) or not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    logits = scale * (_unit(X, "x") @ _unit(P, "prototypes").T)  # (N, C)
    if log_prior is not None:
        lp = np.asarray(log_prior, dtype=np.float64)
        if lp.shape != (P.shape[0],):
            raise ValueError(f"log_prior must have shape ({P.shape[0]},), got {lp.shape}")
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
    variance = float(variance) if isinstance(variance, (int, float, np.integer, np.floating)) else variance
    if not isinstance(variance, float) or not np.isfinite(variance) or variance <= 0:
        raise ValueError(f"variance must be a finite number > 0, got {variance!r}")
    if priors is None:
        log_prior = np.full(P.shape[0], -np.log(P.shape[0]))
    else:
        pr = np.asarray(priors, dtype=np.float64)
        if pr.shape != (P.shape[0],) or (pr <= 0).any() or not np.isclose(pr.sum(), 1.0):
            raise ValueError(f"priors must be {P.shape[0]} positive numbers summing to 1, got {priors!r}")
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
    logistic regression, C = 1, on the features as given), or a function
    ``fit_predict(x_support, y_support, test_x) -> labels``. Each draw takes ``shots`` examples of
    every class without replacement, from a ``numpy`` generator seeded with ``seed``.
    """
    from threadpoolctl import threadpool_limits

    Xtr, Xte = _features(train_x, "train_x"), _features(test_x, "test_x")
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    for name, v in (("shots", shots), ("draws", draws)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    fit_predict = _FEW_SHOT.get(method) if isinstance(method, str) else method
    if not callable(fit_predict):
        raise ValueError(f"method must be one of {sorted(_FEW_SHOT)} or a function, got {method!r}")
    classes = np.unique(ytr)
    pools = [np.flatnonzero(ytr == c) for c in classes]
    smallest = min(len(p) for p in pools)
    if shots > smallest:
        raise ValueError(f"shots={shots} but a class has only {smallest} training examples")
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
        if not (isinstance(scale, (int, float, np.integer, np.floating)) and scale > 0):
            raise ValueError(f"scale must be a number > 0, got {scale!r}")
        self.weight = nn.Parameter(torch.randn(n_classes, dim) / math.sqrt(dim))  # (C, d)
        self.bias = nn.Parameter(torch.zeros(n_classes)) if bias else None
        log_scale = torch.tensor(math.log(float(scale)))
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = normalize(x)  # (B, d); a zero row raises (the package's one zero-vector policy)
        w = normalize(self.weight)  # (C, d)
        z = self.scale * x @ w.T  # (B, C)
        return z + self.bias if self.bias is not None else z
