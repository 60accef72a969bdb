"""embedlab.recommend against independent references: score_matrix against NumPy formulas and
scikit-learn's cosine similarity, the softmax loss against torch's cross_entropy on the expanded
(user, item) pairs, the BPR loss against a NumPy -log sigmoid, the trained models against data
with a known latent structure, and biased MF against Surprise's SVD on the same split."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics.pairwise import cosine_similarity

from embedlab.ranking import evaluate, rank_items
from embedlab.reclibs import surprise_rmse
from embedlab.recommend import (
    BiasedMF,
    BiasedMFConfig,
    FactorConfig,
    FactorModel,
    _bpr_loss,
    _softmax_loss,
    fit_biased_mf,
    fit_factors,
    rmse,
    score_matrix,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small steps are overhead-bound; a second OpenMP thread only spins on a busy machine (one
    softmax fit took 24 s instead of 1 s with two threads on two shared cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- data with a known structure -------------------------------------------------------------------
def implicit_data(n_users=200, n_items=300, d=4, per_user=30, held=5, seed=0):
    """Each user draws ``per_user`` distinct items from softmax(u·v + log Zipf popularity) (Gumbel
    top-k); ``held`` of them are held out. Returns (train csr, held-out item lists, true log popularity)."""
    rng = np.random.default_rng(seed)
    U, V = rng.normal(size=(n_users, d)), rng.normal(size=(n_items, d))
    log_pop = -np.log(np.arange(1, n_items + 1))[rng.permutation(n_items)]  # Zipf, exponent 1
    chosen = np.argsort(-(U @ V.T + log_pop + rng.gumbel(size=(n_users, n_items))), axis=1)[:, :per_user]
    rows = np.repeat(np.arange(n_users), per_user - held)
    train = sp.csr_matrix((np.ones(rows.size), (rows, chosen[:, held:].ravel())), shape=(n_users, n_items))
    return train, [np.sort(c) for c in chosen[:, :held]], log_pop


def explicit_data(n_users=300, n_items=200, per_user=40, d=3, noise=0.5, seed=0):
    """r = 3 + b_u + b_i + p·q + N(0, noise²), clipped to 1..5; a random 80/20 split of the rows."""
    rng = np.random.default_rng(seed)
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.5, n_items)
    P, Q = rng.normal(0, 0.6, (n_users, d)), rng.normal(0, 0.6, (n_items, d))
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    mean = 3 + bu[users] + bi[items] + (P[users] * Q[items]).sum(1)
    r = np.clip(mean + rng.normal(0, noise, users.size), 1, 5)
    perm = rng.permutation(users.size)
    return dict(users=users, items=items, ratings=r, mean=np.clip(mean, 1, 5), item_bias=bi,
                test=perm[: users.size // 5], train=perm[users.size // 5 :], n_users=n_users, n_items=n_items)


def _recall(scores, train, test):
    return evaluate(scores, test, k=10, exclude=train).means()["recall@10"]


# -- score_matrix ----------------------------------------------------------------------------------
def _vectors(n_users=6, n_items=9, d=3, seed=0):
    rng = np.random.default_rng(seed)
    # item norms spread over two orders of magnitude, so dividing by them matters
    Q = rng.normal(size=(n_items, d)) * np.exp(rng.uniform(-2, 2, size=(n_items, 1)))
    return rng.normal(size=(n_users, d)), Q, rng.normal(size=n_items)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("bias_weight", [0.0, 0.3, 1.0])
def test_score_matrix_is_the_numpy_formula(alpha, bias_weight):
    P, Q, b = _vectors()
    expected = (P @ Q.T + bias_weight * b) / np.linalg.norm(Q, axis=1) ** alpha
    out = score_matrix(P, Q, b, alpha=alpha, bias_weight=bias_weight)
    assert out.dtype == np.float64 and out.shape == (6, 9)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # torch float32 inputs (a model's parameters) give the same, up to float32 rounding of the inputs
    as_t = lambda x: torch.tensor(x, dtype=torch.float32, requires_grad=True)  # noqa: E731
    np.testing.assert_allclose(score_matrix(as_t(P), as_t(Q), as_t(b), alpha=alpha, bias_weight=bias_weight),
                               expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(score_matrix(P, Q, alpha=alpha), (P @ Q.T) / np.linalg.norm(Q, axis=1) ** alpha,
                               rtol=1e-12)
    if alpha and bias_weight:
        # the bias divided too: adding it after the division would be caught
        wrong = P @ Q.T / np.linalg.norm(Q, axis=1) ** alpha + bias_weight * b
        assert np.abs(wrong - expected).max() > 1e-2


def test_alpha_one_without_bias_ranks_by_sklearn_cosine():
    P, Q, b = _vectors(n_users=30, n_items=40, d=5, seed=1)
    cos = cosine_similarity(P, Q)
    want = rank_items(cos, 40)  # each user's full ranking
    np.testing.assert_array_equal(rank_items(score_matrix(P, Q, b, alpha=1.0, bias_weight=0.0), 40), want)
    np.testing.assert_array_equal(rank_items(score_matrix(P, Q, alpha=1.0), 40), want)
    # the check can fail: the dot product (alpha=0), or keeping the bias, ranks differently
    assert (rank_items(score_matrix(P, Q, alpha=0.0), 40) != want).any()
    assert (rank_items(score_matrix(P, Q, b, alpha=1.0, bias_weight=1.0), 40) != want).any()


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0, 3.0])
def test_a_zero_item_vector_keeps_its_numerator(alpha):
    P, Q, b = _vectors()
    Q[4] = 0.0  # an item never seen in training
    for bias, weight in ((None, 1.0), (b, 0.0), (b, 0.5)):
        out = score_matrix(P, Q, bias, alpha=alpha, bias_weight=weight)
        assert np.isfinite(out).all()
        numerator = 0.0 if bias is None else weight * b[4]
        np.testing.assert_array_equal(out[:, 4], numerator)


def test_score_matrix_errors_name_the_argument():
    P, Q, b = _vectors()
    with pytest.raises(ValueError, match="alpha"):
        score_matrix(P, Q, alpha=-0.5)
    with pytest.raises(ValueError, match="alpha"):
        score_matrix(P, Q, alpha=float("nan"))
    with pytest.raises(ValueError, match="bias_weight"):
        score_matrix(P, Q, b, bias_weight=-1)
    with pytest.raises(ValueError, match="item_vectors"):
        score_matrix(P, Q[:, :2])
    with pytest.raises(ValueError, match="item_bias"):
        score_matrix(P, Q, b[:-1])
    for bad, name in ((0, "user_vectors"), (1, "item_vectors"), (2, "item_bias")):
        args = [P.copy(), Q.copy(), b.copy()]
        args[bad][1] = np.nan
        with pytest.raises(ValueError, match=name):
            score_matrix(*args)


# -- the losses ------------------------------------------------------------------------------------
def _model_and_choices(n_users=7, n_items=11, d=3, seed=0):
    model = FactorModel(n_users, n_items, d, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        model.b.copy_(torch.randn(n_items, generator=g))
    Y = (torch.rand(n_users, n_items, generator=g) < 0.3).float()
    Y[torch.arange(n_users), torch.randint(n_items, (n_users,), generator=g)] = 1.0  # nobody empty
    return model, Y


def _cross_entropy_reference(model, users, Y):
    """Expand the batch into (row, item) pairs, one per chosen item, and average torch's
    cross_entropy over each row's pairs, then over rows."""
    logits = model(users)
    rows, items = torch.nonzero(Y[users], as_tuple=True)
    per_pair = F.cross_entropy(logits[rows], items, reduction="none")
    per_row = torch.zeros(len(users)).index_add(0, rows, per_pair) / torch.bincount(rows, minlength=len(users))
    return per_row.mean(), per_pair.mean()


def test_softmax_loss_is_cross_entropy_per_user_then_over_users():
    model, Y = _model_and_choices()
    users = torch.tensor([0, 3, 3, 5, 6, 1])  # a batch may repeat a user
    ours = _softmax_loss(model, users, Y, 0.0)
    ref, pooled = _cross_entropy_reference(model, users, Y)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-6)
    # the gradients agree too
    g_ours = torch.autograd.grad(ours, [model.P, model.Q, model.b])
    g_ref = torch.autograd.grad(_cross_entropy_reference(model, users, Y)[0], [model.P, model.Q, model.b])
    for a, r in zip(g_ours, g_ref):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-7)
    # the check can fail: a mean over all pairs lets users with more items count more
    assert abs(pooled.item() - ref.item()) > 1e-3


def test_softmax_l2_and_its_gradient_by_hand():
    model, Y = _model_and_choices()
    users = torch.tensor([0, 3, 3, 5])
    wd, n_users, B = 0.07, 7, 4
    plain = _softmax_loss(model, users, Y, 0.0)
    full = _softmax_loss(model, users, Y, wd)
    P, Q = model.P.detach(), model.Q.detach()
    l2 = (P[users] ** 2).sum(1).mean() + (Q**2).sum() / n_users
    assert (full - plain).item() == pytest.approx(wd * l2.item(), abs=1e-6)  # float32 difference of two ~2.4s
    gP_full, gQ_full = torch.autograd.grad(full, [model.P, model.Q])
    gP_plain, gQ_plain = torch.autograd.grad(plain, [model.P, model.Q])
    counts = torch.bincount(users, minlength=n_users).float()[:, None]  # user 3 is in the batch twice
    torch.testing.assert_close(gP_full - gP_plain, wd * 2 * P * counts / B, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gQ_full - gQ_plain, wd * 2 * Q / n_users, rtol=1e-4, atol=1e-6)
    assert (counts == 0).any() and (gP_full - gP_plain)[counts[:, 0] == 0].abs().max() == 0  # only the batch's users


def test_bpr_loss_is_minus_log_sigmoid_by_hand():
    model, _ = _model_and_choices()
    u, i, j = torch.tensor([0, 2, 2, 6, 4]), torch.tensor([1, 3, 5, 7, 9]), torch.tensor([2, 2, 8, 0, 10])
    P, Q, b = (x.detach().double().numpy() for x in (model.P, model.Q, model.b))
    un, iN, jn = u.numpy(), i.numpy(), j.numpy()
    x = (P[un] * Q[iN]).sum(1) + b[iN] - (P[un] * Q[jn]).sum(1) - b[jn]
    nll = np.mean(-np.log(1 / (1 + np.exp(-x))))
    l2 = np.mean((P[un] ** 2).sum(1) + (Q[iN] ** 2).sum(1) + (Q[jn] ** 2).sum(1))
    n_pairs, wd = 40, 0.05
    assert _bpr_loss(model, (u, i, j), 0.0, n_pairs).item() == pytest.approx(nll, rel=1e-6)
    assert _bpr_loss(model, (u, i, j), wd, n_pairs).item() == pytest.approx(nll + wd * l2 * 7 / n_pairs, rel=1e-6)
    # the check can fail: the difference the other way round, or without the item bias
    assert abs(np.mean(-np.log(1 / (1 + np.exp(x)))) - nll) > 1e-2
    assert abs(np.mean(np.log1p(np.exp(-(x - b[iN] + b[jn])))) - nll) > 1e-2


# -- training on implicit feedback -----------------------------------------------------------------
SOFTMAX = dict(dim=4, epochs=200, lr=2e-2, weight_decay=0.07, progress=False)


@pytest.fixture(scope="module")
def implicit():
    train, test, log_pop = implicit_data()
    model, history = fit_factors(train, FactorConfig(**SOFTMAX))
    return train, test, log_pop, model, history


def test_softmax_model_beats_popularity_and_random(implicit):
    train, test, log_pop, model, history = implicit
    n_users, n_items = train.shape
    ours = _recall(score_matrix(model.P, model.Q, model.b), train, test)
    popularity = _recall(np.tile(np.asarray(train.sum(0)), (n_users, 1)), train, test)
    random = _recall(np.random.default_rng(0).random((n_users, n_items)), train, test)
    assert history.loss[-1] < history.loss[0]
    assert ours > 1.4 * popularity and popularity > 5 * random  # about 0.64, 0.38 and 0.04
    # the check can fail: the same model with user vectors given to the wrong users is no better
    # than popularity (the item bias alone carries it)
    shuffled = model.P.detach()[torch.randperm(n_users, generator=torch.Generator().manual_seed(0))]
    assert _recall(score_matrix(shuffled, model.Q, model.b), train, test) < 1.1 * popularity


def test_item_bias_learns_log_popularity(implicit):
    train, _, log_pop, model, _ = implicit
    b = model.b.detach().numpy()
    assert spearmanr(b, log_pop).statistic > 0.7  # the true (latent) popularity, about 0.8
    assert spearmanr(b, np.log1p(np.asarray(train.sum(0)).ravel())).statistic > 0.9  # observed, about 0.98
    # the check can fail: against the same popularities given to the wrong items
    assert abs(spearmanr(b, np.random.default_rng(0).permutation(log_pop)).statistic) < 0.3
    # bias=False keeps b at zero (it is not trained)
    no_bias, _ = fit_factors(train, FactorConfig(**{**SOFTMAX, "epochs": 2, "bias": False}))
    assert not no_bias.b.detach().any() and no_bias.Q.detach().any()


def test_bpr_model_beats_random(implicit):
    train, test, _, _, _ = implicit
    n_users, n_items = train.shape
    model, _ = fit_factors(train, FactorConfig(dim=8, loss="bpr", epochs=20, lr=1e-2, weight_decay=0.01,
                                               progress=False))
    ours = _recall(score_matrix(model.P, model.Q, model.b), train, test)
    random = _recall(np.random.default_rng(0).random((n_users, n_items)), train, test)
    assert ours > 5 * random  # about 0.50 and 0.04
    # untrained vectors are about as good as random: the check measures the training
    untrained = FactorModel(n_users, n_items, 8, seed=0)
    assert _recall(score_matrix(untrained.P, untrained.Q, untrained.b), train, test) < 2 * random


def test_pair_losses_train_and_the_uncorrected_in_batch_model_demotes_popular_items(implicit):
    """Chapter 13's pair losses: each beats popularity's neighbourhood of random, and without the log Q
    correction in-batch negatives push the popular items' biases down (the correction keeps them)."""
    train, test, _, _, _ = implicit
    n_users, n_items = train.shape
    random = _recall(np.random.default_rng(0).random((n_users, n_items)), train, test)
    base = dict(dim=4, epochs=30, batch=64, lr=2e-2, weight_decay=0.07, negatives=31, progress=False)
    count = np.asarray(train.sum(0)).ravel()
    rho = {}
    for kw in (dict(loss="full"), dict(loss="in_batch"), dict(loss="in_batch", log_q=True),
               dict(loss="sampled", beta=0.75, log_q=True)):
        model, history = fit_factors(train, FactorConfig(**base, **kw))
        assert history.loss[-1] < history.loss[0]
        assert _recall(score_matrix(model.P, model.Q, model.b), train, test) > 5 * random, kw
        rho[kw["loss"], kw.get("log_q", False)] = spearmanr(model.b.detach().numpy(), count).statistic
    # about 0.98 and 0.97 with the correction and the full softmax, about -0.6 without it
    assert min(rho["in_batch", True], rho["full", False], rho["sampled", True]) > 0.7 and rho["in_batch", False] < 0


@pytest.mark.parametrize("loss", ["softmax", "bpr", "full", "in_batch", "sampled"])
def test_fit_factors_is_deterministic_given_the_seed(loss):
    train, _, _ = implicit_data(n_users=50, n_items=60, per_user=10, held=2)
    cfg = dict(dim=3, loss=loss, epochs=3, progress=False, batch=32, negatives=8, beta=0.5, log_q=True)
    a, _ = fit_factors(train, FactorConfig(**cfg))
    b, _ = fit_factors(train, FactorConfig(**cfg))
    c, _ = fit_factors(train, FactorConfig(**cfg, seed=1))
    assert torch.equal(a.P, b.P) and torch.equal(a.Q, b.Q) and torch.equal(a.b, b.b)
    assert not torch.equal(a.P, c.P)  # the comparison can tell runs apart
    assert not a.training  # returned in eval mode


def test_bad_configs_and_training_data_raise():
    for kw, name in ((dict(dim=0), "dim"), (dict(loss="x"), "loss"), (dict(lr=0), "lr"),
                     (dict(weight_decay=-1), "weight_decay"), (dict(epochs=1.5), "epochs"),
                     (dict(batch=True), "batch")):
        with pytest.raises(ValueError, match=name):
            FactorConfig(**kw)
    cfg = FactorConfig(dim=2, epochs=1, progress=False)
    with pytest.raises(ValueError, match="no interactions"):
        fit_factors(sp.csr_matrix((5, 7)), cfg)
    # stored zeros are not interactions (they used to train zero steps and return the random start)
    stored_zeros = sp.csr_matrix((np.zeros(3), ([0, 1, 2], [0, 1, 2])), shape=(5, 7))
    assert stored_zeros.nnz == 3
    for loss in ("softmax", "bpr"):
        with pytest.raises(ValueError, match="no interactions"):
            fit_factors(stored_zeros, FactorConfig(dim=2, epochs=1, loss=loss, progress=False))
    with pytest.raises(ValueError, match="train"):
        fit_factors(np.eye(5), cfg)


def test_softmax_trains_on_any_nonzero():
    # "a nonzero means the user chose the item": negative values too, as BPR reads them
    train = -sp.eye(4, 6, format="csr")
    model, history = fit_factors(train, FactorConfig(dim=2, epochs=3, batch=2, progress=False))
    assert len(history.steps) > 0


# -- explicit ratings ------------------------------------------------------------------------------
MF = dict(dim=3, epochs=50, batch=256, lr=1e-2, l2_factors=0.05, progress=False)


@pytest.fixture(scope="module")
def explicit():
    data = explicit_data()
    tr = data["train"]
    model, _ = fit_biased_mf(data["users"][tr], data["items"][tr], data["ratings"][tr], data["n_users"],
                             data["n_items"], BiasedMFConfig(**MF))
    return data, model


def _test_rmse(data, model):
    te = data["test"]
    return rmse(model, data["users"][te], data["items"][te], data["ratings"][te])


def test_biased_mf_recovers_the_ratings(explicit):
    data, model = explicit
    te, r = data["test"], data["ratings"]
    ours = _test_rmse(data, model)
    global_mean = np.sqrt(np.mean((r[data["train"]].mean() - r[te]) ** 2))  # about 0.94
    oracle = np.sqrt(np.mean((data["mean"][te] - r[te]) ** 2))  # the noise: about 0.47 after clipping
    assert ours < 0.7 * global_mean and ours < oracle + 0.12  # about 0.57
    assert model.mu.item() == pytest.approx(r[data["train"]].mean(), rel=1e-6)
    assert pearsonr(model.item_bias.detach().numpy(), data["item_bias"]).statistic > 0.8  # about 0.97


def test_biased_mf_matches_surprise_svd(explicit):
    data, model = explicit
    args = (data["users"], data["items"], data["ratings"], data["train"], data["test"])
    # Surprise's SVD with the same number of factors, trained to convergence (its defaults, 100
    # factors and 20 epochs, give 0.78 here: an easy bar)
    ref, _ = surprise_rmse(*args, algo="svd", n_factors=3, n_epochs=100, lr_all=0.01, reg_all=0.05)
    ours = _test_rmse(data, model)
    assert ours < ref + 0.05  # about 0.57 against 0.60
    # the check can fail: a model trained for one epoch is not within 0.05
    tr = data["train"]
    short, _ = fit_biased_mf(data["users"][tr], data["items"][tr], data["ratings"][tr], data["n_users"],
                             data["n_items"], BiasedMFConfig(**{**MF, "epochs": 1}))
    assert _test_rmse(data, short) > ref + 0.05


def test_rmse_clips_by_hand():
    model = BiasedMF(2, 3, 1, mu=3.0)
    with torch.no_grad():
        model.P.zero_()
        model.Q.zero_()
        model.user_bias.copy_(torch.tensor([0.0, 1.0]))
        model.item_bias.copy_(torch.tensor([2.5, -3.5, 0.2]))
    users, items, ratings = np.array([1, 0, 0]), np.array([0, 1, 2]), np.array([5.0, 1.0, 3.0])
    # predictions 6.5, -0.5, 3.2
    assert rmse(model, users, items, ratings) == pytest.approx(np.sqrt((0.0 + 0.0 + 0.04) / 3))
    assert rmse(model, users, items, ratings, clip=None) == pytest.approx(np.sqrt((2.25 + 2.25 + 0.04) / 3))
    assert rmse(model, users, items, ratings, clip=(2.0, 4.0)) == pytest.approx(np.sqrt((1.0 + 1.0 + 0.04) / 3))
    with pytest.raises(ValueError, match="items"):
        rmse(model, users, np.array([0, 1, 3]), ratings)
    with pytest.raises(ValueError, match="users"):
        rmse(model, users.astype(float), items, ratings)


# -- issue 21: a tiny non-zero item vector is not a zero vector -------------------------------------
@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("scale", [1e-150, 1e-160, 1e-200, 1e-300])
def test_score_matrix_of_tiny_item_vectors_matches_mpmath(alpha, scale):
    import mpmath

    P, Q, b = _vectors()
    Qt = Q.copy()
    Qt[[2, 5]] *= scale  # two tiny, non-zero items
    Qt[7] = 0.0  # and one exactly zero: divided by 1
    ref = {}
    with mpmath.workdps(40):
        for i in (2, 5, 7, 0):
            norm = mpmath.sqrt(mpmath.fsum(mpmath.mpf(float(x)) ** 2 for x in Qt[i]))
            for u in range(P.shape[0]):
                num = mpmath.fsum(mpmath.mpf(float(p)) * mpmath.mpf(float(q)) for p, q in zip(P[u], Qt[i]))
                num += mpmath.mpf(0.5) * mpmath.mpf(float(b[i]))
                ref[u, i] = num / norm**alpha if norm else num
    if max(abs(r) for r in ref.values()) > np.finfo(np.float64).max:
        # the bias over ‖q‖² = 1e-320 (and more) is beyond float64: refused, not rounded to a wrong number
        with pytest.raises(ValueError, match="not finite"):
            score_matrix(P, Qt, b, alpha=alpha, bias_weight=0.5)
        return
    out = score_matrix(P, Qt, b, alpha=alpha, bias_weight=0.5)
    for (u, i), r in ref.items():
        assert out[u, i] == pytest.approx(float(r), rel=1e-11), (u, i)


def test_score_matrix_cosine_ranking_does_not_depend_on_item_scale():
    P, Q, _ = _vectors()
    for scale in (1e-150, 1e-200, 1e-300):
        np.testing.assert_allclose(score_matrix(P, Q * scale, alpha=1.0), score_matrix(P, Q, alpha=1.0), rtol=1e-12)


def test_rmse_and_score_matrix_refuse_silent_garbage():
    # without the check, NaN ratings gave rmse = nan and no error
    model = BiasedMF(2, 3, 1, mu=3.0)
    users, items = np.array([1, 0, 0]), np.array([0, 1, 2])
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="ratings"):
            rmse(model, users, items, np.array([5.0, bad, 3.0]))
    with pytest.raises(ValueError, match="users"):
        rmse(model, users.astype(bool), items, np.array([5.0, 1.0, 3.0]))
    with pytest.raises(ValueError, match="ratings"):
        rmse(model, users, items, np.array([True, False, True]))
    with pytest.raises(ValueError, match="clip"):
        rmse(model, users, items, np.array([5.0, 1.0, 3.0]), clip=(5.0, 1.0))
    P, Q, b = _vectors()
    with pytest.raises(ValueError, match="item_vectors"):
        score_matrix(P, Q > 0)
    with pytest.raises(ValueError, match="item_bias"):
        score_matrix(P, Q, b > 0)
    # half-precision tensors are scored as their float32 values are
    ref = score_matrix(torch.from_numpy(P).float(), torch.from_numpy(Q).bfloat16().float())
    np.testing.assert_array_equal(score_matrix(torch.from_numpy(P).float(), torch.from_numpy(Q).bfloat16()), ref)
    # NumPy integers as counts
    assert FactorConfig(dim=np.int64(8)).dim == 8
    with pytest.raises(ValueError, match="dim"):
        FactorConfig(dim=True)
    with pytest.raises(ValueError, match="lr"):
        BiasedMFConfig(lr=0.0)


def test_configs_and_train_refuse_silent_garbage():
    with pytest.raises(ValueError, match="bias"):
        FactorConfig(bias="no")  # a non-empty string was a true switch
    with pytest.raises(ValueError, match="progress"):
        BiasedMFConfig(progress=0)
    with pytest.raises(ValueError, match="seed"):
        FactorConfig(seed=0.5)
    bad = sp.csr_matrix(np.array([[np.nan, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="train contains NaN"):  # trained a meaningless model before
        fit_factors(bad, FactorConfig(epochs=1, progress=False))
