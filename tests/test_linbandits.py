"""embedlab.linbandits: the Gaussian posterior against the closed form and against mabwiser's ridge
models, LinUCB's choices against mabwiser's LinUCB, linear Thompson sampling's regret against
mabwiser's LinTS, and the chapter 7 claims (a click moves the neighbours; the linear policies beat
per-arm Thompson sampling on the chapter's bandit).

mabwiser's linear policies are disjoint (one ridge model per arm). The shared-parameter model of
the package is mabwiser's with a single arm whose context is the item's vector: one model, asked for
the expectation of every item's context, and the item with the largest one is shown (NumPy's
argmax, so ties go to the lowest item id on both sides)."""

import numpy as np
import pytest
import torch

from embedlab.bandits import EmbeddingBandit, Thompson, simulate
from embedlab.intervals import mean_interval
from embedlab.linbandits import LinearPosterior, LinearThompson, LinUCB

mabwiser = pytest.importorskip("mabwiser.mab")


def _env(k=20, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return EmbeddingBandit(rng.normal(size=(k, d)), rng.normal(size=d), offset=-1.0)


def _shared_mab(policy, features, seed=0):
    """mabwiser with one arm (one shared ridge model); contexts are the item vectors."""
    m = mabwiser.MAB(arms=[0], learning_policy=policy, seed=seed)
    m.fit(decisions=[0], rewards=[0.0], contexts=np.zeros((1, features.shape[1])))  # a zero row adds nothing
    return m


def _mab_choose(m, features):
    e = m.predict_expectations(contexts=features)
    return int(np.argmax([v[0] for v in e]))


def _linucb_choices(policy, features, draws, probs):
    """Run one LinUCB (ours) on a fixed table of uniform draws: reward of item a at step t is
    draws[t, a] < probs[a], so both implementations see the same reward for the same choice."""
    policy.reset(1, len(features))
    out = []
    for t in range(len(draws)):
        a = int(policy.select(None, None, t, None)[0])
        out.append(a)
        policy.update(np.array([a]), np.array([float(draws[t, a] < probs[a])]))
    return np.array(out)


def _mab_linucb_choices(alpha, l2, features, draws, probs):
    m = _shared_mab(mabwiser.LearningPolicy.LinUCB(alpha=alpha, l2_lambda=l2), features)
    out = []
    for t in range(len(draws)):
        a = _mab_choose(m, features)
        out.append(a)
        m.partial_fit(decisions=[0], rewards=[float(draws[t, a] < probs[a])], contexts=features[a:a + 1])
    return np.array(out)


def test_the_posterior_is_the_closed_form_after_thousands_of_updates():
    # Sherman-Morrison's A⁻¹ against a fresh inverse of λI + XᵀX after 3000 rank-one updates
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 8))
    post = LinearPosterior(features, regularization=0.5)
    post.reset(3, 30)
    arms, y = rng.integers(0, 30, (3000, 3)), rng.random((3000, 3))
    for a, r in zip(arms, y):
        post.update(a, r)
    for run in range(3):
        x = features[arms[:, run]]
        a_inv = np.linalg.inv(0.5 * np.eye(8) + x.T @ x)
        np.testing.assert_allclose(post.covariance()[run], a_inv, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(post.posterior_means()[run], a_inv @ x.T @ y[:, run], rtol=1e-9)
        np.testing.assert_allclose(post.widths()[run], np.sqrt(np.einsum("kd,de,ke->k", features, a_inv, features)),
                                   rtol=1e-9)


def test_linear_thompson_posterior_is_mabwisers_lints_and_its_draws_have_that_covariance():
    b = _env()
    noise, prior_precision = 0.4, 2.0
    ours = LinearThompson(b.items, prior_precision=prior_precision, noise=noise)
    assert ours.regularization == pytest.approx(noise**2 * prior_precision)
    m = _shared_mab(mabwiser.LearningPolicy.LinTS(alpha=noise, l2_lambda=noise**2 * prior_precision), b.items)
    rng = np.random.default_rng(1)
    ours.reset(1, b.n_arms)
    for _ in range(40):
        a = rng.integers(0, b.n_arms)
        r = float(rng.random() < b.probs[a])
        ours.update(np.array([a]), np.array([r]))
        m.partial_fit(decisions=[0], rewards=[r], contexts=b.items[a:a + 1])
    model = m._imp.arm_to_model[0]
    np.testing.assert_allclose(ours.posterior_means()[0], model.beta, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ours.covariance()[0], model.A_inv, rtol=1e-10, atol=1e-13)
    # draws: the sample mean and covariance of θ match N(θ̂, noise² A⁻¹)
    ours.reset(20_000, b.n_arms)  # the same data in 20 000 runs
    ours._inv[:] = model.A_inv
    ours._xty[:] = model.Xty
    theta = ours.sample(np.random.default_rng(2))
    cov = noise**2 * model.A_inv
    np.testing.assert_allclose(theta.mean(0), model.beta, atol=5 * np.sqrt(cov.diagonal().max() / 20_000))
    np.testing.assert_allclose(np.cov(theta.T), cov, atol=0.05 * cov.diagonal().max())


def test_linucb_makes_mabwisers_choices(monkeypatch):
    b = _env()
    draws = np.random.default_rng(5).random((300, b.n_arms))
    for alpha, l2 in ((1.0, 1.0), (2.0, 0.25)):
        ours = _linucb_choices(LinUCB(b.items, alpha=alpha, regularization=l2), b.items, draws, b.probs)
        ref = _mab_linucb_choices(alpha, l2, b.items, draws, b.probs)
        np.testing.assert_array_equal(ours, ref)
        assert len(np.unique(ours)) >= 3  # it explored: the agreement is not just "both stick to one arm"
    # the check can fail: a bonus of alpha · xᵀA⁻¹x (no square root) makes other choices
    monkeypatch.setattr(LinUCB, "widths", lambda self: LinearPosterior.widths(self) ** 2)
    wrong = _linucb_choices(LinUCB(b.items, alpha=1.0, regularization=1.0), b.items, draws, b.probs)
    assert (wrong != _mab_linucb_choices(1.0, 1.0, b.items, draws, b.probs)).mean() > 0.05


def _mab_lints_regret(b, noise, l2, horizon, seed):
    m = _shared_mab(mabwiser.LearningPolicy.LinTS(alpha=noise, l2_lambda=l2), b.items, seed=seed)
    rng = np.random.default_rng(10_000 + seed)
    gaps = b.probs.max() - b.probs
    regret = 0.0
    for _ in range(horizon):
        a = _mab_choose(m, b.items)
        regret += gaps[a]
        m.partial_fit(decisions=[0], rewards=[float(rng.random() < b.probs[a])], contexts=b.items[a:a + 1])
    return regret


def test_linear_thompson_regret_is_mabwisers_within_noise(monkeypatch):
    """20 seeds each; the difference of the two mean regrets must lie within 4 standard errors.

    mabwiser's LinTS draws one θ per context (per item), ours one θ per step for all items (Agrawal
    & Goyal's algorithm); the marginal of each item's score is the same, and the regrets agree
    within noise. 4 standard errors (a two-sided 1e-4 test under normality) keeps a false alarm
    rare; a policy that ignores the rewards lands far outside."""
    b = _env(seed=3)
    noise, horizon, seeds = 0.5, 200, 20
    ref = np.array([_mab_lints_regret(b, noise, noise**2, horizon, s) for s in range(seeds)])

    def ours():
        return simulate(b, LinearThompson(b.items, prior_precision=1.0, noise=noise), horizon, seeds, seed=0)[:, -1]

    def within_noise(x):
        se = np.sqrt(x.var(ddof=1) / len(x) + ref.var(ddof=1) / len(ref))
        return abs(x.mean() - ref.mean()) < 4 * se

    assert within_noise(ours())
    # the check can fail: an update that forgets the rewards (Xᵀy stays 0) explores blindly
    update = LinearPosterior.update
    monkeypatch.setattr(LinearThompson, "update", lambda self, a, r: update(self, a, np.zeros_like(r, dtype=float)))
    assert not within_noise(ours())


# -- chapter 7's bandit ------------------------------------------------------------------------------
ITEMS = ["guitar", "piano", "jazz", "concert", "album", "song", "opera", "violin", "drums", "band",
         "football", "tennis", "soccer", "golf", "hockey", "baseball", "cricket", "rugby", "boxing", "chess",
         "pizza", "pasta", "coffee", "wine", "cheese", "bread", "chocolate", "salad", "soup", "beer",
         "movie", "novel", "poetry", "painting", "theater", "sculpture", "dance", "camera", "photo", "film",
         "laptop", "phone", "garden", "car", "bicycle", "travel", "beach", "mountain", "hiking", "yoga"]


@pytest.fixture(scope="module")
def chapter7_bandit():
    """The bandit of chapters/07_probability.ipynb: 50 GloVe words as items, 'music' as the user."""
    from embedlab.data import load_glove
    from embedlab.similarity import normalize

    try:
        glove = load_glove(50_000)
    except Exception as exc:  # pragma: no cover - GloVe is a course dependency
        pytest.skip(f"GloVe unavailable: {exc}")
    _, vectors = glove
    unit = lambda w: normalize(torch.from_numpy(vectors[w]).double()).numpy()  # noqa: E731
    emb = unit([glove.index[w] for w in ITEMS])
    return EmbeddingBandit(emb, unit(glove.index["music"]), scale=8.0, offset=-3.0)


def test_clicks_on_one_item_move_the_posterior_of_its_neighbours(chapter7_bandit):
    b = chapter7_bandit
    post = LinearThompson(b.items, noise=0.1)
    post.reset(1, b.n_arms)
    before = post.predicted_rewards()[0]
    guitar = ITEMS.index("guitar")
    for _ in range(3):
        post.update(np.array([guitar]), np.array([1.0]))
    moved = post.predicted_rewards()[0] - before
    sim = b.items @ b.items[guitar]
    near = [i for i in np.argsort(-sim)[1:6]]  # the five nearest other items
    far = [i for i in np.argsort(sim)[:5]]
    assert {ITEMS[i] for i in near} & {"piano", "violin", "drums", "band", "jazz"}
    assert moved[near].min() > 0.3 and moved[near].min() > 3 * np.abs(moved[far]).max()
    # the shift is x_j·A⁻¹x · r: proportional to the similarity under the prior metric
    assert np.corrcoef(moved, sim)[0, 1] > 0.99


def test_linear_policies_beat_per_arm_thompson_on_chapter_7s_bandit(chapter7_bandit):
    # noise 0.1 and alpha 1 are the best of (0.1, 0.2, 0.3, 0.5) and (0.5, 1, 2) on three validation
    # users ("food", "sport", "art", 10 runs each), never chosen on this one; at noise 0.5 (the
    # standard deviation of a click at the median rate, 0.55) linear TS explores too much and loses
    horizon, runs = 2000, 20  # the chapter's
    regret = {name: simulate(chapter7_bandit, policy, horizon, runs, seed=0)[:, -1]
              for name, policy in (("thompson", Thompson()),
                                   ("linear thompson", LinearThompson(chapter7_bandit.items, noise=0.1)),
                                   ("linucb", LinUCB(chapter7_bandit.items, alpha=1.0)))}
    _, lo_ts, hi_ts = mean_interval(regret["thompson"])
    for name in ("linear thompson", "linucb"):
        mean, lo, hi = mean_interval(regret[name])
        assert hi < lo_ts, (name, mean, lo, hi, lo_ts, hi_ts)


def test_the_chapter_7_comparison_can_fail(chapter7_bandit, monkeypatch):
    # a linear Thompson sampler whose update forgets the rewards does not beat per-arm Thompson
    update = LinearPosterior.update
    monkeypatch.setattr(LinearThompson, "update", lambda self, a, r: update(self, a, np.zeros_like(r, dtype=float)))
    wrong = simulate(chapter7_bandit, LinearThompson(chapter7_bandit.items, noise=0.1), 2000, 20, seed=0)[:, -1]
    right = simulate(chapter7_bandit, Thompson(), 2000, 20, seed=0)[:, -1]
    assert not mean_interval(wrong)[2] < mean_interval(right)[1]


def test_bad_input_is_named():
    b = _env()
    with pytest.raises(ValueError, match="features"):
        LinUCB(np.ones((1, 3)))
    with pytest.raises(ValueError, match="noise"):
        LinearThompson(b.items, noise=0)
    with pytest.raises(ValueError, match="prior_precision"):
        LinearThompson(b.items, prior_precision=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        LinUCB(b.items, alpha=-1.0)
    with pytest.raises(ValueError, match="regularization"):
        LinUCB(b.items, regularization=0.0)
    with pytest.raises(ValueError, match="n_arms"):  # features for another bandit
        simulate(b, LinUCB(b.items[:5]), 10)
    with pytest.raises(ValueError, match="arms and rewards"):
        LinUCB(b.items).update(np.array([0, 1]), np.array([1.0]))
    assert LinUCB(b.items.astype(np.float32)).features.dtype == np.float64
