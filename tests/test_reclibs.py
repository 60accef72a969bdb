"""embedlab.reclibs: the adapters around ``implicit`` (ALS, BPR) and Surprise (SVD) return what
their docstrings say, recover held-out items on data with a known structure, are deterministic,
refuse bad input, and run silently (implicit warns about a multi-threaded BLAS otherwise)."""

import warnings

import implicit.utils
import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from embedlab.ranking import evaluate
from embedlab.reclibs import implicit_als, implicit_bpr, surprise_rmse


def implicit_data(n_users=200, n_items=300, d=4, per_user=30, held=5, seed=0):
    """As in test_recommend: each user draws ``per_user`` distinct items from softmax(u·v + log
    Zipf popularity); ``held`` of them are held out."""
    rng = np.random.default_rng(seed)
    U, V = rng.normal(size=(n_users, d)), rng.normal(size=(n_items, d))
    log_pop = -np.log(np.arange(1, n_items + 1))[rng.permutation(n_items)]
    chosen = np.argsort(-(U @ V.T + log_pop + rng.gumbel(size=(n_users, n_items))), axis=1)[:, :per_user]
    rows = np.repeat(np.arange(n_users), per_user - held)
    train = sp.csr_matrix((np.ones(rows.size), (rows, chosen[:, held:].ravel())), shape=(n_users, n_items))
    return train, [np.sort(c) for c in chosen[:, :held]]


def _recall(scores, train, test):
    return evaluate(scores, test, k=10, exclude=train).means()["recall@10"]


@pytest.fixture(scope="module")
def data():
    return implicit_data()


def test_als_shapes_and_recovery(data):
    train, test = data
    U, V, seconds = implicit_als(train, factors=8, iterations=15)
    assert U.shape == (200, 8) and V.shape == (300, 8) and U.dtype == V.dtype == np.float32 and seconds >= 0
    random = _recall(np.random.default_rng(0).random(train.shape), train, test)
    ours = _recall(U @ V.T, train, test)
    assert ours > 5 * random  # about 0.51 and 0.04
    # the check can fail: the item factors paired with the wrong items are near random
    shuffled = V[np.random.default_rng(0).permutation(300)]
    assert _recall(U @ shuffled.T, train, test) < 3 * random


def test_bpr_shapes_carry_the_bias_column(data):
    train, test = data
    U, V, _ = implicit_bpr(train, factors=8, iterations=50)
    # implicit adds a bias column to the item factors and a column of ones to the user factors
    assert U.shape == (200, 9) and V.shape == (300, 9)
    np.testing.assert_array_equal(U[:, -1], 1.0)
    assert _recall(U @ V.T, train, test) > 5 * _recall(np.random.default_rng(0).random(train.shape), train, test)


@pytest.mark.parametrize("fit", [implicit_als, implicit_bpr])
def test_adapters_are_deterministic_given_the_seed(fit):
    train, _ = implicit_data(n_users=60, n_items=80, per_user=10, held=2)
    kw = dict(factors=4, iterations=3)
    U1, V1, _ = fit(train, **kw)
    U2, V2, _ = fit(train, **kw)
    U3, _, _ = fit(train, **kw, seed=1)
    np.testing.assert_array_equal(U1, U2)
    np.testing.assert_array_equal(V1, V2)
    assert not np.array_equal(U1, U3)


def test_no_warnings_and_the_check_can_see_them(monkeypatch):
    train, _ = implicit_data(n_users=60, n_items=80, per_user=10, held=2)
    u, i = np.repeat(np.arange(20), 5), np.tile(np.arange(5), 20)
    r = 1 + (u + i) % 5
    # implicit checks the BLAS threads once per process: make it check again
    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        implicit_als(train, factors=4, iterations=2)
        implicit_bpr(train, factors=4, iterations=2)
        surprise_rmse(u, i, r, np.arange(80), np.arange(80, 100))
    assert [str(w.message) for w in caught] == []
    # the same recording sees implicit's RuntimeWarning when BLAS has two threads
    from implicit.cpu.als import AlternatingLeastSquares

    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(2, "blas"):
        warnings.simplefilter("always")
        AlternatingLeastSquares(factors=4, random_state=0)
    assert any(issubclass(w.category, RuntimeWarning) and "threads" in str(w.message) for w in caught)


def test_surprise_rmse_checks_its_input():
    u, i = np.repeat(np.arange(20), 5), np.tile(np.arange(5), 20)
    r = 1.0 + (u + 2 * i) % 5
    value, seconds = surprise_rmse(u, i, r, np.arange(80), np.arange(80, 100), n_epochs=5)
    assert 0 < value < 4 and seconds >= 0
    # same seed, same value; a different seed, a different one
    assert surprise_rmse(u, i, r, np.arange(80), np.arange(80, 100), n_epochs=5)[0] == value
    assert surprise_rmse(u, i, r, np.arange(80), np.arange(80, 100), n_epochs=5, seed=1)[0] != value
    with pytest.raises(ValueError, match="overlap"):
        surprise_rmse(u, i, r, np.arange(80), np.arange(79, 100))
    with pytest.raises(ValueError, match="algo"):
        surprise_rmse(u, i, r, np.arange(80), np.arange(80, 100), algo="knn")
    with pytest.raises(ValueError, match="train"):
        implicit_als(np.eye(4))


def test_adapters_refuse_silent_garbage():
    import scipy.sparse as sp

    R = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="factors"):
        implicit_als(R, factors=2.5)  # int(2.5) used to train 2 factors without a word
    with pytest.raises(ValueError, match="iterations"):
        implicit_bpr(R, iterations=True)
    with pytest.raises(ValueError, match="regularization"):
        implicit_als(R, regularization=float("nan"))
    bad = R.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="train"):
        implicit_als(bad)
    users, items = np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="ratings"):
        surprise_rmse(users, items, np.array([1.0, np.nan, 3.0, 4.0]), [0, 1, 2], [3])
    with pytest.raises(ValueError, match="train_index"):
        surprise_rmse(users, items, np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, True, True, False]), [3])
    with pytest.raises(ValueError, match="test_index"):
        surprise_rmse(users, items, np.array([1.0, 2.0, 3.0, 4.0]), [0, 1, 2], [4])
