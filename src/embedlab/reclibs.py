"""The reference recommenders, run on our splits: ``implicit``'s ALS and BPR, Surprise's SVD and SVD++.

Used in chapter 9 and the benchmarks, so that every comparison uses the same data, the same
split and the same metric code as our models (d2l's recommender numbers could not be checked
because nothing like this existed). Each function runs its library on one thread: on two shared
cores the second thread made timings erratic, and one thread is what a fair per-core comparison
needs.

* :func:`implicit_als` / :func:`implicit_bpr` fit on a sparse (n_users, n_items) matrix and
  return ``(user_factors, item_factors, seconds)``; score with
  :func:`embedlab.recommend.score_matrix`.
* :func:`surprise_rmse` fits SVD or SVD++ on given training rows and returns the test RMSE.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np

from embedlab._checks import ArgumentError, array, choice, ids, integer, number

__all__ = ["implicit_als", "implicit_bpr", "surprise_rmse"]


def _check_matrix(train):
    import scipy.sparse as sp

    if not sp.issparse(train) or train.ndim != 2:
        raise ArgumentError(f"train must be a scipy.sparse (n_users, n_items) matrix, got {type(train).__name__}")
    R = sp.csr_matrix(train, dtype=np.float32)
    if not np.isfinite(R.data).all():  # NaN confidences train NaN factors without a word
        raise ArgumentError("train contains NaN or infinite values")
    return R


def _single_thread():
    # implicit warns (RuntimeWarning) when BLAS runs several threads under its own; limit BLAS to 1.
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


def implicit_als(train, *, factors: int = 64, regularization: float = 1.0, alpha: float = 1.0,
                 iterations: int = 15, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """``implicit``'s alternating least squares (Hu, Koren & Volinsky, 2008) on ``train``.

    Returns ``(user_factors (n_users, f), item_factors (n_items, f), seconds)`` as float32.
    """
    from implicit.cpu.als import AlternatingLeastSquares

    R = _check_matrix(train)
    factors, iterations = integer(factors, "factors", low=1), integer(iterations, "iterations", low=1)
    regularization, alpha = number(regularization, "regularization", low=0), number(alpha, "alpha", low=0)
    seed = integer(seed, "seed", low=0)
    with _single_thread():
        model = AlternatingLeastSquares(factors=factors, regularization=regularization,
                                        alpha=alpha, iterations=iterations, random_state=seed,
                                        num_threads=1, calculate_training_loss=False)
        start = time.perf_counter()
        model.fit(R, show_progress=False)
        seconds = time.perf_counter() - start
    return np.asarray(model.user_factors), np.asarray(model.item_factors), seconds


def implicit_bpr(train, *, factors: int = 64, learning_rate: float = 0.01, regularization: float = 0.01,
                 iterations: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """``implicit``'s BPR on ``train``. Its item factors carry a bias column (and its user factors a
    matching column of ones), so ``user_factors @ item_factors.T`` is the full score."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    R = _check_matrix(train)
    factors, iterations = integer(factors, "factors", low=1), integer(iterations, "iterations", low=1)
    learning_rate = number(learning_rate, "learning_rate", low=0, low_open=True)
    regularization, seed = number(regularization, "regularization", low=0), integer(seed, "seed", low=0)
    with _single_thread():
        model = BayesianPersonalizedRanking(factors=factors, learning_rate=learning_rate,
                                            regularization=regularization, iterations=iterations,
                                            random_state=seed, num_threads=1)
        start = time.perf_counter()
        model.fit(R, show_progress=False)
        seconds = time.perf_counter() - start
    return np.asarray(model.user_factors), np.asarray(model.item_factors), seconds


def surprise_rmse(users, items, ratings, train_index, test_index, *, algo: Literal["svd", "svdpp"] = "svd",
                  seed: int = 0, **params) -> tuple[float, float]:
    """Fit Surprise's ``SVD`` or ``SVDpp`` on the rows ``train_index`` and return
    ``(test RMSE, seconds to fit)`` on the rows ``test_index``. ``params`` go to the algorithm.

    Surprise clips its predictions to the rating scale (1..5 here), as :func:`embedlab.recommend.rmse`
    does, so the two RMSEs are comparable.
    """
    from surprise import SVD, Dataset, Reader, SVDpp, accuracy

    classes = {"svd": SVD, "svdpp": SVDpp}
    algo = choice(algo, "algo", classes)  # type: ignore[assignment]
    seed = integer(seed, "seed", low=0)
    ratings = array(ratings, "ratings", ndim=1)  # NaN would reach Surprise's scale and RMSE silently
    n = len(ratings)
    users, items, train_index, test_index = (
        ids(x, name, n=limit) for x, name, limit in ((users, "users", None), (items, "items", None),
                                         (train_index, "train_index", n), (test_index, "test_index", n)))
    if len(users) != n or len(items) != n:
        raise ArgumentError(f"users, items and ratings must have the same length, got {len(users)}, {len(items)} "
                            f"and {n}")
    if np.intersect1d(train_index, test_index).size:
        raise ArgumentError("train_index and test_index overlap")
    # The scale (Surprise clips predictions to it) comes from the training rows only.
    low, high = float(ratings[train_index].min()), float(ratings[train_index].max())
    data = Dataset(reader=Reader(rating_scale=(low, high)))
    trainset = data.construct_trainset([(int(users[k]), int(items[k]), float(ratings[k]), None) for k in train_index])
    testset = [(int(users[k]), int(items[k]), float(ratings[k])) for k in test_index]
    model = classes[algo](random_state=seed, **params)
    start = time.perf_counter()
    model.fit(trainset)
    seconds = time.perf_counter() - start
    return float(accuracy.rmse(model.test(testset), verbose=False)), seconds
