"""Scoring a frozen representation with labels it never saw: a linear probe and k-NN.

Taught in chapter 4 (is a contrastive encoder's representation any good?) and reused wherever a
chapter asks how much label information a set of embeddings carries. Both probes take features
``(N, d)`` (NumPy or torch, float16/bfloat16 included; images ``(N, H, W)`` are flattened) and
labels ``(N,)``:

* :func:`linear_probe_accuracy`: logistic regression on standardised features (scikit-learn);
* :func:`knn_accuracy`: a majority vote of the ``k`` nearest training points, by exact search
  (:func:`embedlab.similarity.topk`); equal to scikit-learn's ``KNeighborsClassifier`` whenever
  the ``k`` nearest are unambiguous (tested; where the ``k``-th place cuts a group of identical
  training rows, the lower indices are taken).

Chapter 11 asks what a probe's accuracy means: :func:`control_task_probe` trains the same probe
on the real labels and on a *control task* (Hewitt & Liang 2019: every word type gets a random
label, :func:`control_task`) and reports the difference, the probe's *selectivity*.

Prototype classifiers (one vector per class) are :mod:`embedlab.prototypes`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from embedlab import _checks
from embedlab._checks import ArgumentError
from embedlab._rows import rescaled
from embedlab.similarity import Metric, topk

__all__ = [
    "linear_probe_accuracy",
    "knn_accuracy",
    "control_task",
    "ControlProbe",
    "control_task_probe",
]


def _features(x, name: str) -> np.ndarray:
    """Feature rows as float64 (N, d); (N, H, W, ...) is flattened to (N, H·W·...). NaN, ±inf,
    bool and empty input are refused by ``name`` (:func:`embedlab._checks.array`)."""
    a = _checks.array(x, name)
    if a.ndim < 2:
        raise ArgumentError(f"{name} must be a batch of feature vectors (N, d) or of images (N, H, W, ...), "
                            f"got shape {a.shape}")
    return a.reshape(a.shape[0], -1)


def _values(y) -> np.ndarray:
    """Labels or ids as a NumPy array, as given (strings too); a tensor moved to the CPU
    (bfloat16, which NumPy lacks, as float32)."""
    if isinstance(y, torch.Tensor):
        t = y.detach().cpu()
        return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    return np.asarray(y)


def _labels(y, n: int, name: str) -> np.ndarray:
    """Labels (n,) of any one sortable kind (integers, floats, strings), as given. Bool labels
    are refused (``True``/``False`` as classes is usually a mask passed by mistake), and so is NaN."""
    a = _values(y)
    if a.dtype.kind == "b":
        raise ArgumentError(f"{name} must be class labels (numbers or strings), got booleans; "
                                    "pass y.astype(int) if the two classes are meant")
    if a.shape != (n,):
        raise ArgumentError(f"{name} must have shape ({n},) to match the features, got {a.shape}")
    if a.dtype.kind == "f" and np.isnan(a).any():
        # NaN equals nothing, not even itself: such a row could never be scored as right.
        raise ArgumentError(f"{name} contains NaN labels (at index {np.flatnonzero(np.isnan(a))[:5].tolist()})")
    return a


def _train_test(train_x, test_x) -> tuple[np.ndarray, np.ndarray]:
    """Training and test features of one dimension, rescaled together by one power of two
    (:func:`embedlab._rows.rescaled`: exact, and the probes are scale-invariant), so that
    features of size 1e-200 or 1e200 give the answer their moderate-size copies give instead of
    underflowed or overflowed squares."""
    Xtr, Xte = _features(train_x, "train_x"), _features(test_x, "test_x")
    if Xtr.shape[1] != Xte.shape[1]:
        raise ArgumentError(f"train_x and test_x have different dimensions: {Xtr.shape[1]} and {Xte.shape[1]}")
    (Xtr, Xte), _ = rescaled(Xtr, Xte)
    return Xtr, Xte


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

    Xtr, Xte = _train_test(train_x, test_x)
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    C = _checks.number(C, "C", low=0, low_open=True)
    max_iter = _checks.integer(max_iter, "max_iter", low=1)
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
    Xtr, Xte = _train_test(train_x, test_x)
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    k = _checks.integer(k, "k", low=1, high=Xtr.shape[0])
    metric = _checks.choice(metric, "metric", ("cosine", "euclidean", "dot"))  # type: ignore[assignment]
    try:
        # classes: (C,) sorted, scikit-learn's classes_; codes: (N,) the class index of each row.
        classes, codes = np.unique(ytr, return_inverse=True)
    except TypeError as e:
        raise ArgumentError(
            f"train_y must hold labels of one sortable kind (e.g. all numbers or all strings): {e}") from e
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
    t, lab = _values(types), _values(labels)
    if t.ndim != 1 or t.size == 0:
        raise ArgumentError(f"types must be a non-empty 1-D sequence of type ids, got shape {t.shape}")
    if lab.ndim != 1 or lab.size == 0:
        raise ArgumentError(f"labels must be a non-empty 1-D sequence, got shape {lab.shape}")
    try:
        uniq, inverse = np.unique(t, return_inverse=True)
    except TypeError as e:
        raise ArgumentError(f"types must be ids of one sortable kind (all numbers or all strings): {e}") from e
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

    Xtr, Xte = _train_test(train_x, test_x)
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    if (train_types is None) != (test_types is None):
        raise ArgumentError("give both train_types and test_types, or neither (every row its own type)")
    if train_types is None:
        ttr, tte = np.arange(len(ytr)), np.arange(len(ytr), len(ytr) + len(yte))
    else:
        ttr = _labels(train_types, len(ytr), "train_types")
        tte = _labels(test_types, len(yte), "test_types")
    if probe is None:
        probe = functools.partial(_linear_probe_predict, C=C)
    elif not callable(probe):
        raise ArgumentError(f"probe must be a function (train_x, train_y, test_x) -> labels, got {probe!r}")
    control = control_task(np.concatenate([ttr, tte]), ytr, seed=seed)  # (N + M,)
    ctr, cte = control[: len(ytr)], control[len(ytr) :]
    values, counts = np.unique(ytr, return_counts=True)
    with threadpool_limits(limits=threads):
        acc = float(np.mean(np.asarray(probe(Xtr, ytr, Xte)) == yte))
        control_acc = float(np.mean(np.asarray(probe(Xtr, ctr, Xte)) == cte))
    return ControlProbe(acc, control_acc, float(np.mean(yte == values[counts.argmax()])))
