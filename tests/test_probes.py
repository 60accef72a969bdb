"""Tests for embedlab.probes (chapter 4's probes, chapter 11's control tasks) against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedlab.contrastive import load_digits_split
from embedlab.probes import control_task, control_task_probe, knn_accuracy, linear_probe_accuracy


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def test_knn_matches_sklearn(digits):
    from sklearn.neighbors import KNeighborsClassifier

    Xtr, ytr = digits.train_x.reshape(-1, 64).numpy(), digits.train_y.numpy()
    g = torch.Generator().manual_seed(5)
    Xte = (digits.test_x + 0.3 * torch.rand(digits.test_x.shape, generator=g)).reshape(-1, 64).numpy()
    yte = digits.test_y.numpy()
    for k, metric in [(1, "cosine"), (5, "cosine"), (4, "cosine"), (5, "euclidean")]:
        ref = KNeighborsClassifier(n_neighbors=k, metric=metric, algorithm="brute").fit(Xtr, ytr).score(Xte, yte)
        assert knn_accuracy(Xtr, ytr, Xte, yte, k=k, metric=metric) == pytest.approx(ref, abs=1e-12)


def test_linear_probe():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 10)) * 5
    y = rng.integers(0, 3, size=300)
    X = centres[y] + rng.normal(size=(300, 10))
    assert linear_probe_accuracy(X[:200], y[:200], X[200:], y[200:]) == 1.0
    noise = rng.normal(size=(300, 10))  # no information: near chance (1/3)
    assert linear_probe_accuracy(noise[:200], y[:200], noise[200:], y[200:]) < 0.5
    with pytest.raises(ValueError, match="different dimensions"):
        linear_probe_accuracy(X[:200], y[:200], X[200:, :5], y[200:])
    with pytest.raises(ValueError, match="train_y must have shape"):
        linear_probe_accuracy(X[:200], y[:100], X[200:], y[200:])
    with pytest.raises(ValueError, match="train_x is empty"):
        knn_accuracy(X[:0], y[:0], X, y)


def _blobs(n: int = 60, seed: int = 0):
    """Three noisy clusters in 4-D: k-NN gets most, not all, of them right."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 4)) * 1.2
    cls = rng.integers(0, 3, n)
    return centres[cls] + rng.normal(size=(n, 4)), cls


@pytest.mark.parametrize(
    "labels",
    [np.array(["cat", "dog", "emu"]), np.array([-1, 1, 3]), np.array([10, 2, 7]), np.array([0.0, 1.0, 2.0])],
    ids=["strings", "negative", "unordered", "integral floats"],
)
def test_knn_compares_labels_as_given_like_sklearn(labels):
    from sklearn.neighbors import KNeighborsClassifier

    X, cls = _blobs()
    y = labels[cls]
    for k, metric in [(5, "cosine"), (4, "euclidean")]:  # k=4 makes ties: the smallest label wins
        ref = KNeighborsClassifier(n_neighbors=k, metric=metric, algorithm="brute").fit(X[:40], y[:40])
        got = knn_accuracy(X[:40], y[:40], X[40:], y[40:], k=k, metric=metric)
        assert got == pytest.approx(ref.score(X[40:], y[40:]), abs=1e-12)
        assert 0.3 < got < 1.0


def test_knn_does_not_truncate_float_labels():
    # Labels 0.5, 1.5, 2.5 once became 0, 1, 2 and then never equalled the test labels: accuracy
    # 0.0. scikit-learn refuses such "continuous" labels; with them encoded as 0, 1, 2 it scores
    # the same vote, which is what ours must give on the labels as they are.
    from sklearn.neighbors import KNeighborsClassifier

    X, cls = _blobs()
    y = np.array([0.5, 1.5, 2.5])[cls]
    ref = KNeighborsClassifier(n_neighbors=5, metric="cosine", algorithm="brute").fit(X[:40], cls[:40])
    expected = ref.score(X[40:], cls[40:])
    assert knn_accuracy(X[:40], y[:40], X[40:], y[40:], k=5) == pytest.approx(expected, abs=1e-12)
    assert expected > 0.5
    assert knn_accuracy(torch.from_numpy(X[:40]), torch.from_numpy(y[:40]), X[40:], y[40:]) == pytest.approx(expected)


def test_knn_label_errors():
    X, cls = _blobs()
    y = cls.astype(float)
    y[3] = np.nan
    with pytest.raises(ValueError, match="train_y contains NaN"):
        knn_accuracy(X, y, X, cls)
    mixed = np.array([1, "a"] * 30, dtype=object)
    with pytest.raises(ValueError, match="train_y must hold labels of one sortable kind"):
        knn_accuracy(X, mixed, X, cls)


# -- control tasks (chapter 11) -------------------------------------------------------------------
def test_control_task_gives_each_type_one_label_from_the_real_distribution():
    types = np.array(["the", "cat", "the", "sat", "cat", "the"] * 50 + [f"w{i}" for i in range(3000)])
    labels = np.array(["DET"] * 3 + ["NOUN"])  # P(NOUN) = 1/4
    got = control_task(types, labels, seed=3)
    for t in ("the", "cat", "sat"):  # the same label wherever a type occurs
        assert len(set(got[types == t])) == 1
    assert set(got) <= {"DET", "NOUN"}
    assert np.mean(got[-3000:] == "NOUN") == pytest.approx(0.25, abs=0.03)  # one draw per type
    order = np.random.default_rng(0).permutation(len(types))  # row order does not change the task
    np.testing.assert_array_equal(control_task(types[order], labels, seed=3), got[order])
    assert not np.array_equal(control_task(types, labels, seed=4), got)
    with pytest.raises(ValueError, match="types must be a non-empty 1-D"):
        control_task(np.zeros((2, 2)), labels)
    with pytest.raises(ValueError, match="labels must be a non-empty"):
        control_task(types, [])
    with pytest.raises(ValueError, match="one sortable kind"):
        control_task(np.array(["a", 1, 2.5], dtype=object), labels)


def _tokens(d: int, label_of_type, n_types: int = 200, train: int = 4, test: int = 2, seed: int = 0):
    """Tokens of word types: each type has a random vector, each token is it plus a little noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_types, d))
    y_type = label_of_type(centres, rng)  # (n_types,)

    def draw(per_type: int):
        t = np.repeat(np.arange(n_types), per_type)
        return centres[t] + 0.3 * rng.normal(size=(t.size, d)), y_type[t], t

    return draw(train), draw(test)


def test_selectivity_is_high_when_a_direction_encodes_the_label():
    (Xtr, ytr, ttr), (Xte, yte, tte) = _tokens(10, lambda c, rng: (c[:, 0] > 0).astype(int), n_types=400)
    r = control_task_probe(Xtr, ytr, Xte, yte, train_types=ttr, test_types=tte)
    # 10 dimensions cannot memorise 400 arbitrary type labels; measured: 0.93 and 0.60
    assert r.accuracy > 0.85 and r.control_accuracy < 0.65 and r.selectivity > 0.25, r


def test_selectivity_is_near_zero_when_a_big_probe_memorises_noise():
    # The "real" labels are arbitrary too: nothing in the vectors but the identity of the type. In
    # 400 dimensions a linear probe memorises 200 types, so it scores high on both tasks.
    (Xtr, ytr, ttr), (Xte, yte, tte) = _tokens(400, lambda c, rng: rng.integers(0, 2, len(c)))
    r = control_task_probe(Xtr, ytr, Xte, yte, train_types=ttr, test_types=tte)
    assert r.accuracy > 0.9 and r.control_accuracy > 0.9 and abs(r.selectivity) < 0.1, r  # measured 1.0, 0.998
    # one row per type (static word vectors), test types never seen in training: both tasks
    # fall to chance, since nothing but a type's identity told its label
    tr, te = ttr < 100, tte >= 100
    r = control_task_probe(Xtr[tr], ytr[tr], Xte[te], yte[te])
    assert abs(r.accuracy - 0.5) < 0.15 and abs(r.control_accuracy - 0.5) < 0.15, r


def test_control_task_probe_uses_the_given_probe_and_checks_arguments():
    (Xtr, ytr, ttr), (Xte, yte, tte) = _tokens(5, lambda c, rng: (c[:, 0] > 0).astype(int), n_types=30)
    seen = []

    def majority_probe(x, y, test_x):
        seen.append(y.copy())
        return np.full(len(test_x), np.bincount(y).argmax())

    r = control_task_probe(Xtr, ytr, Xte, yte, train_types=ttr, test_types=tte, probe=majority_probe, seed=1)
    np.testing.assert_array_equal(seen[0], ytr)  # first the real labels, then the control task's
    np.testing.assert_array_equal(seen[1], control_task(np.concatenate([ttr, tte]), ytr, seed=1)[: len(ytr)])
    assert r.accuracy == pytest.approx(r.majority) and r.selectivity == r.accuracy - r.control_accuracy
    with pytest.raises(ValueError, match="give both train_types and test_types"):
        control_task_probe(Xtr, ytr, Xte, yte, train_types=ttr)
    with pytest.raises(ValueError, match="train_types must have shape"):
        control_task_probe(Xtr, ytr, Xte, yte, train_types=ttr[:5], test_types=tte)
    with pytest.raises(ValueError, match="probe must be a function"):
        control_task_probe(Xtr, ytr, Xte, yte, probe="mlp")
    with pytest.raises(ValueError, match="different dimensions"):
        control_task_probe(Xtr, ytr, Xte[:, :3], yte)


# -- issue 21: distance ties at the k-th neighbour -----------------------------------------------------
def _duplicated(seed=0):
    """Training points that come in groups of 5 identical rows with different labels (exact
    distance ties), the groups at distinct distances from any test point."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(8, 5))
    Xtr = np.repeat(base, 5, axis=0)
    ytr = rng.integers(0, 3, size=len(Xtr))
    Xte = rng.normal(size=(150, 5))
    return Xtr, ytr, Xte, rng.integers(0, 3, size=150)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_matches_sklearn_when_ties_are_not_cut(metric):
    from sklearn.neighbors import KNeighborsClassifier

    Xtr, ytr, Xte, yte = _duplicated()
    for k in (5, 10, 15):  # whole groups of duplicates: the k nearest are unambiguous
        ref = KNeighborsClassifier(n_neighbors=k, metric=metric, algorithm="brute").fit(Xtr, ytr).score(Xte, yte)
        assert knn_accuracy(Xtr, ytr, Xte, yte, k=k, metric=metric) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 6, 7, 9])
def test_knn_ties_between_duplicates_take_the_lower_index(metric, k):
    # When the k-th place cuts a group of identical rows, scikit-learn's choice is decided by its
    # rounding (see knn_accuracy), so the reference is the stated rule, computed directly with
    # elementwise arithmetic that gives identical rows bit-identical distances.
    Xtr, ytr, Xte, yte = _duplicated(1)
    if metric == "euclidean":
        dist = np.sqrt(((Xte[:, None] - Xtr[None]) ** 2).sum(-1))
    else:
        unit = Xtr / np.linalg.norm(Xtr, axis=1, keepdims=True)
        dist = -((Xte / np.linalg.norm(Xte, axis=1, keepdims=True))[:, None] * unit[None]).sum(-1)
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]  # equal distances: index order
    votes = np.stack([np.bincount(ytr[row], minlength=3) for row in nearest])
    expected = float(np.mean(votes.argmax(1) == yte))  # a tie between classes: the smallest label
    assert knn_accuracy(Xtr, ytr, Xte, yte, k=k, metric=metric) == pytest.approx(expected, abs=1e-12)


# -- issue 21: dtypes, scales, argument checks --------------------------------------------------------
@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_probes_do_not_depend_on_the_scale(scale):
    X, cls = _blobs()
    for metric in ("cosine", "euclidean", "dot"):
        assert knn_accuracy(X[:40] * scale, cls[:40], X[40:] * scale, cls[40:], k=3, metric=metric) == \
            knn_accuracy(X[:40], cls[:40], X[40:], cls[40:], k=3, metric=metric)
    # standardised features: the probe cannot see the scale (1e200 overflowed the variance)
    assert linear_probe_accuracy(X[:40] * scale, cls[:40], X[40:] * scale, cls[40:]) == \
        linear_probe_accuracy(X[:40], cls[:40], X[40:], cls[40:])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_probes_take_half_precision_features(dtype):
    X, cls = _blobs()
    T = torch.from_numpy(X).to(dtype)
    ref = knn_accuracy(T.double()[:40], cls[:40], T.double()[40:], cls[40:], k=3)
    assert knn_accuracy(T[:40], cls[:40], T[40:], cls[40:], k=3) == ref
    ref = linear_probe_accuracy(T.double()[:40], cls[:40], T.double()[40:], cls[40:])
    assert linear_probe_accuracy(T[:40], cls[:40], T[40:], cls[40:]) == ref
    r = control_task_probe(T[:40], torch.from_numpy(cls[:40]), T[40:], cls[40:])
    assert 0 <= r.accuracy <= 1


def test_probes_refuse_bool_and_non_finite_input_by_name_and_take_numpy_scalars():
    X, cls = _blobs()
    with pytest.raises(ValueError, match="^train_x must be an array of real numbers"):
        knn_accuracy(X[:40] > 0, cls[:40], X[40:], cls[40:])
    with pytest.raises(ValueError, match="^train_y must be class labels"):
        knn_accuracy(X[:40], cls[:40] > 0, X[40:], cls[40:])
    with pytest.raises(ValueError, match="^test_y must be class labels"):
        linear_probe_accuracy(X[:40], cls[:40], X[40:], torch.from_numpy(cls[40:]) > 0)
    Z = X.copy()
    Z[45, 2] = np.inf
    with pytest.raises(ValueError, match=r"^test_x contains NaN or infinite values at index \(5, 2\)"):
        knn_accuracy(X[:40], cls[:40], Z[40:], cls[40:])
    for bad in (True, 2.0, 0, 41):
        with pytest.raises(ValueError, match="^k must be an integer"):
            knn_accuracy(X[:40], cls[:40], X[40:], cls[40:], k=bad)
    with pytest.raises(ValueError, match="^metric must be"):
        knn_accuracy(X[:40], cls[:40], X[40:], cls[40:], metric="manhattan")
    with pytest.raises(ValueError, match="^max_iter must be an integer >= 1"):
        linear_probe_accuracy(X[:40], cls[:40], X[40:], cls[40:], max_iter=0)
    with pytest.raises(ValueError, match="^C must be"):
        linear_probe_accuracy(X[:40], cls[:40], X[40:], cls[40:], C=float("inf"))
    assert knn_accuracy(X[:40], cls[:40], X[40:], cls[40:], k=np.int64(3)) == \
        knn_accuracy(X[:40], cls[:40], X[40:], cls[40:], k=3)
    acc = linear_probe_accuracy(X[:40], cls[:40], X[40:], cls[40:], C=np.float32(0.5), max_iter=np.int32(200))
    assert 0 <= acc <= 1


def test_features_must_be_a_batch_and_images_are_flattened():
    X, cls = _blobs()
    with pytest.raises(ValueError, match=r"^train_x must be a batch of feature vectors \(N, d\)"):
        knn_accuracy(X[:, 0], cls, X, cls)
    images = X.reshape(60, 2, 2)
    flat = knn_accuracy(X[:40], cls[:40], X[40:], cls[40:])
    assert knn_accuracy(images[:40], cls[:40], images[40:], cls[40:]) == flat
