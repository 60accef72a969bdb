"""Scoring a frozen representation with labels it never saw: a linear probe and k-NN.

Taught in chapter 4 (is a contrastive encoder's representation any good?) and reused wherever a
chapter asks how much label information a set of embeddings carries. Both probes take features
``(N, d)`` (NumPy or torch; images ``(N, H, W)`` are flattened) and labels ``(N,)``:

* :func:`linear_probe_accuracy`: logistic regression on standardised features (scikit-learn);
* :func:`knn_accuracy`: a majority vote of the ``k`` nearest training points, by exact search
  (:func:`embedlab.similarity.topk`); equal to scikit-learn's ``KNeighborsClassifier`` (tested).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from embedlab.similarity import topk

__all__ = ["linear_probe_accuracy", "knn_accuracy"]


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
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    Xtr, Xte = _features(train_x, "train_x"), _features(test_x, "test_x")
    if Xtr.shape[1] != Xte.shape[1]:
        raise ValueError(f"train_x and test_x have different dimensions: {Xtr.shape[1]} and {Xte.shape[1]}")
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    with threadpool_limits(limits=threads):
        probe.fit(Xtr, ytr)
        pred = probe.predict(Xte)
    return float((pred == yte).mean())


def knn_accuracy(train_x, train_y, test_x, test_y, *, k: int = 5, metric: str = "cosine") -> float:
    """Accuracy of a k-nearest-neighbour majority vote, as scikit-learn's ``KNeighborsClassifier``.

    train_x: (N, d), train_y: (N,), test_x: (M, d), test_y: (M,)  ->  float in [0, 1]

    Labels are compared as given: integers, floats (0.5 is not 0), strings, anything NumPy can
    sort. A tie between classes goes to the smallest label in sorted order, as in scikit-learn.
    ``metric`` is ``"cosine"``, ``"euclidean"`` or ``"dot"`` (:func:`embedlab.similarity.topk`).
    """
    Xtr, Xte = _features(train_x, "train_x"), _features(test_x, "test_x")
    ytr, yte = _labels(train_y, Xtr.shape[0], "train_y"), _labels(test_y, Xte.shape[0], "test_y")
    try:
        # classes: (C,) sorted, scikit-learn's classes_; codes: (N,) the class index of each row.
        classes, codes = np.unique(ytr, return_inverse=True)
    except TypeError as e:
        raise ValueError(f"train_y must hold labels of one sortable kind (e.g. all numbers or all strings): {e}") from e
    _, idx = topk(torch.from_numpy(Xte), torch.from_numpy(Xtr), k, metric=metric)  # (M, k)
    neighbour_codes = torch.from_numpy(codes.reshape(-1).astype(np.int64))[idx]  # (M, k)
    votes = F.one_hot(neighbour_codes, len(classes)).sum(1)  # (M, C)
    pred = classes[votes.argmax(-1).numpy()]  # argmax returns the first maximum: the smallest label
    return float(np.mean(pred == yte))
