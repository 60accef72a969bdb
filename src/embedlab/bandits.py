"""Exploration vs exploitation: a multi-armed bandit whose arms are items with embeddings (chapter 7).

A recommender shows one of ``K`` items and observes a click (reward 1) or not (0). Item ``k`` has
an embedding ``e_k``; a hidden user vector ``u`` makes the click probability
``p_k = sigmoid(scale · u·e_k + offset)``. The policy does not know ``u``: it must try items
(explore) to learn which pays, and show the best one (exploit) to earn.

Policies, all from the per-arm counts and reward sums seen so far:

* :class:`EpsilonGreedy`: the best empirical mean, except with probability ``ε`` a uniform arm.
* :class:`Boltzmann`: sample an arm from ``softmax(means / T)``; ``T`` may decay with time
  (``T_t = T0 / log(t + 2)`` with ``anneal=True``). A fixed ``T > 0`` keeps a fixed share of
  pulls on worse arms forever: linear regret.
* :class:`Thompson`: sample each arm's click rate from its Beta posterior and pull the argmax
  (Thompson, 1933); its regret grows like ``log t``.

:func:`simulate` runs ``R`` independent runs at once (vectorised over runs) and returns the
*pseudo-regret* ``Σ_t (p_best - p_{a_t})``, which has less noise than the realised one.

:func:`replay` is the offline version on logged data (chapter 9): held-out interactions are
replayed in time order, each step shows the user a slate chosen by a policy over a trained
model's scores, and only what the log says the user did next counts as a reward. It borrows the
walk-through-the-log idea of Li et al. (2011) but not their guarantee, which needs a uniformly
randomised log (see :func:`replay`). A policy may learn online from its own hits, which is where
exploring can pay.

None of these policies looks at the item vectors: a click on one item teaches them nothing about
its neighbours. :mod:`embedlab.linbandits` has the policies that share evidence through the
vectors (linear Thompson sampling, LinUCB); they plug into the same :func:`simulate`.

Shapes: ``items: (K, d)``, ``user: (d,)``; per-run state ``counts, sums: (R, K)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from embedlab._checks import ArgumentError, array, choice, flag, integer, number
from embedlab._rows import softmax, topk

__all__ = [
    "EmbeddingBandit",
    "EpsilonGreedy",
    "Boltzmann",
    "Thompson",
    "simulate",
    "ReplayResult",
    "replay",
]


@dataclass
class EmbeddingBandit:
    """Bernoulli arms with click rates ``sigmoid(scale · items @ user + offset)``.

    items: (K, d); user: (d,). ``offset`` sets the base rate (-2 gives about 12% clicks at
    ``u·e = 0``); ``scale`` how much the embedding matters.
    """

    items: np.ndarray
    user: np.ndarray
    scale: float = 1.0
    offset: float = 0.0
    probs: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.items = array(self.items, "items", ndim=2)
        self.user = array(self.user, "user", ndim=1)
        if self.items.shape[0] < 2:
            raise ArgumentError(f"items must be a (K, d) array with K >= 2, got shape {self.items.shape}")
        if self.user.shape != (self.items.shape[1],):
            raise ArgumentError(f"user must have shape ({self.items.shape[1]},), got {self.user.shape}")
        self.scale = number(self.scale, "scale", low=0)
        self.offset = number(self.offset, "offset")
        z = self.scale * self.items @ self.user + self.offset  # (K,)
        self.probs = 1.0 / (1.0 + np.exp(-z))

    @property
    def n_arms(self) -> int:
        return self.items.shape[0]

    def pull(self, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One Bernoulli reward per entry of ``arms`` (integer array) -> float array, same shape."""
        return (rng.random(np.shape(arms)) < self.probs[arms]).astype(np.float64)


def _means(counts: np.ndarray, sums: np.ndarray, prior: float) -> np.ndarray:
    # An unpulled arm gets ``prior`` (optimism: 1.0 makes every arm be tried at least once).
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), prior)


def _argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # values: (R, K) -> (R,). Ties broken uniformly at random, not towards arm 0.
    noise = rng.random(values.shape) * 1e-9
    return np.argmax(values + noise * (values == values.max(axis=1, keepdims=True)), axis=1)


@dataclass
class EpsilonGreedy:
    """With probability ``epsilon`` a uniform random arm, else the best empirical mean."""

    epsilon: float = 0.1
    prior: float = 1.0  # the mean assumed for an arm never pulled

    def __post_init__(self) -> None:
        self.epsilon = number(self.epsilon, "epsilon", low=0, high=1)
        self.prior = number(self.prior, "prior")

    def select(self, counts: np.ndarray, sums: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
        greedy = _argmax_random_ties(_means(counts, sums, self.prior), rng)  # (R,)
        explore = rng.random(counts.shape[0]) < self.epsilon
        return np.where(explore, rng.integers(0, counts.shape[1], counts.shape[0]), greedy)


@dataclass
class Boltzmann:
    """Sample an arm from ``softmax(means / T_t)``; ``T_t = temperature`` or, with ``anneal``,
    ``temperature / log(t + 2)``.

    Neither is a safe default. A fixed ``T`` keeps a fixed share of pulls on worse arms: linear
    regret. The decreasing schedule is the standard heuristic, with no guarantee: Cesa-Bianchi
    et al. (2017, "Boltzmann exploration done right") show that Boltzmann exploration with a
    fixed or such a monotone decreasing temperature can be badly suboptimal (one that is too
    high explores for ever; one that is too low can lock onto a worse arm), and how well it does
    depends on ``temperature`` and the gaps between arms (chapter 7 shows a 3x spread in regret
    over ``temperature``). Their fix, Boltzmann-Gumbel exploration, perturbs each arm's mean
    with its own noise, shrinking like ``1 / sqrt(n_k)`` with that arm's pull count ``n_k``,
    which one shared temperature cannot do. Thompson sampling has the same arm-specific,
    count-dependent exploration built in."""

    temperature: float = 0.1
    anneal: bool = False
    prior: float = 1.0

    def __post_init__(self) -> None:
        from .probability import check_temperature  # lazy, like replay's: torch loads only when needed

        # the one temperature rule (embedlab.probability): finite, > 0, and 1/T finite
        self.temperature = float(check_temperature(self.temperature))
        self.anneal = flag(self.anneal, "anneal")
        self.prior = number(self.prior, "prior")

    def temperature_at(self, t: int) -> float:
        return self.temperature / math.log(t + 2) if self.anneal else self.temperature

    def probabilities(self, counts: np.ndarray, sums: np.ndarray, t: int) -> np.ndarray:
        """The softmax over empirical means at step ``t``: (R, K), rows summing to 1."""
        means = _means(counts, sums, self.prior)  # (R, K)
        temp = self.temperature_at(t)
        with np.errstate(over="ignore"):
            z = means / temp
        if not np.isfinite(z).all():
            # a tiny T overflowed means / T: take the T -> 0 limit, uniform over the best arms
            # (shifting first leaves 0 for them and -inf or a large negative for the rest)
            with np.errstate(over="ignore"):
                z = (means - means.max(axis=1, keepdims=True)) / temp
        return softmax(z, name="means / temperature")  # the package's one softmax (embedlab._rows)

    def select(self, counts: np.ndarray, sums: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
        p = self.probabilities(counts, sums, t)
        u = rng.random((p.shape[0], 1))
        # Inverse-CDF sampling, one draw per row; the min guards against a cumsum ending below 1.
        return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)


@dataclass
class Thompson:
    """Beta-Bernoulli Thompson sampling: draw ``θ_k ~ Beta(a + successes, b + failures)`` and pull
    the arm with the largest draw."""

    a: float = 1.0
    b: float = 1.0

    def __post_init__(self) -> None:
        self.a = number(self.a, "a", low=0, low_open=True)
        self.b = number(self.b, "b", low=0, low_open=True)

    def select(self, counts: np.ndarray, sums: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
        theta = rng.beta(self.a + sums, self.b + counts - sums)  # (R, K)
        return np.argmax(theta, axis=1)


def simulate(bandit: EmbeddingBandit, policy, horizon: int, n_runs: int = 20, seed: int = 0) -> np.ndarray:
    """Run ``policy`` for ``horizon`` steps in ``n_runs`` independent runs.

    Returns the cumulative pseudo-regret ``(n_runs, horizon)``: after step ``t``,
    ``Σ_{s<=t} (max_k p_k - p_{a_s})``. Runs are independent streams of one seeded generator.

    A policy that keeps its own state (the linear ones of :mod:`embedlab.linbandits`, whose
    evidence is not a per-arm tally) may define ``reset(n_runs, n_arms)``, called once before the
    first step, and ``update(arms, rewards)``, called after each step with the ``(n_runs,)`` arms
    shown and rewards seen; the per-arm policies need neither.
    """
    horizon, n_runs = integer(horizon, "horizon", low=1), integer(n_runs, "n_runs", low=1)
    if not callable(getattr(policy, "select", None)):
        raise ArgumentError(f"policy must have a select(counts, sums, t, rng) method, got {type(policy).__name__}")
    rng = np.random.default_rng(integer(seed, "seed", low=0))
    k = bandit.n_arms
    counts = np.zeros((n_runs, k))
    sums = np.zeros((n_runs, k))
    gaps = bandit.probs.max() - bandit.probs  # (K,)
    regret = np.empty((n_runs, horizon))
    rows = np.arange(n_runs)
    update = getattr(policy, "update", None)
    if callable(reset := getattr(policy, "reset", None)):
        reset(n_runs, k)
    for t in range(horizon):
        arms = policy.select(counts, sums, t, rng)  # (R,)
        rewards = bandit.pull(arms, rng)
        if callable(update):
            update(arms, rewards)
        counts[rows, arms] += 1
        sums[rows, arms] += rewards
        regret[:, t] = gaps[arms]
    return np.cumsum(regret, axis=1)


@dataclass(frozen=True)
class ReplayResult:
    """What :func:`replay` measured. ``hits: (n_events,)`` bool, in event order."""

    policy: str
    hits: np.ndarray
    shown_items: int  # distinct items that appeared in any slate
    hit_items: int  # distinct items that earned a hit
    n_items: int

    @property
    def hit_rate(self) -> float:
        return float(self.hits.mean())

    @property
    def coverage(self) -> float:
        return self.shown_items / self.n_items


def replay(scores, users, items, *, policy: str = "greedy", k: int = 10, epsilon: float = 0.1,
           temperature: float = 1.0, learning_rate: float = 0.0, exclude=None, seed: int = 0) -> ReplayResult:
    """Replay logged events ``(users[t], items[t])`` in order against a slate policy.

    scores: (n_users, n_items) from a model trained before the events; users, items: (n_events,)
    ints, in time order. At each event the policy shows user ``users[t]`` a slate of ``k`` items;
    the reward is 1 if the logged item ``items[t]`` is in it. Items in ``exclude`` (a sparse
    (n_users, n_items) matrix, e.g. the training interactions) and items the user already accepted
    during the replay are never shown.

    Policies over the current scores ``s``:

    * ``"greedy"``: the top ``k`` (equal scores by lower item id, also at the slate boundary).
    * ``"epsilon"``: the top ``k``, each slot replaced with probability ``epsilon`` by a uniformly
      drawn item not in the slate.
    * ``"boltzmann"``: ``k`` items drawn without replacement from ``softmax(s / temperature)``
      (:func:`embedlab.probability.sample_without_replacement`); ``temperature`` is in the units of
      the scores, so it only means something relative to their spread.

    With ``learning_rate > 0`` the policy learns online from its own feedback: an item's score
    gains ``learning_rate · log(1 + hits so far)``. A greedy policy only learns about the items it
    already shows; exploring ones try others, some of which turn out to be wanted.

    The hit rate is the *organic hit rate of the slate* (chapter 9's name for it), not an unbiased
    estimate of a policy's value, and not the replay estimator of Li et al. (2011): theirs keeps only
    the events where the policy's choice matches the logged one, and it is unbiased for a policy's
    online reward only when the logged items were chosen uniformly at random. On an organic log
    (people choosing with no randomised recommender, like MovieLens), the hit rate measures how well a
    policy predicts what people chose on their own: it favours policies that imitate the log and
    cannot credit exploration with the choices it would have caused. What a policy would have earned
    is estimated from a log with recorded propensities by :mod:`embedlab.offpolicy` (replay on a
    uniform log, IPS, SNIPS, doubly robust).
    """
    import scipy.sparse as sp
    import torch

    from .probability import check_temperature, sample_without_replacement

    S = array(scores, "scores", ndim=2)  # float64; NaN, inf and bool refused by name
    n_users, n_items = S.shape
    users = array(users, "users", ndim=1, dtype=None, empty=True)
    items = array(items, "items", ndim=1, dtype=None, empty=True)
    for name, ids in (("users", users), ("items", items)):
        if not np.issubdtype(ids.dtype, np.integer):
            raise ArgumentError(f"users and items must be 1-d integer arrays, got {name} of dtype {ids.dtype}")
    if users.shape != items.shape:
        raise ArgumentError(f"users and items must have the same length, got {len(users)} and {len(items)}")
    if len(users) == 0:
        raise ArgumentError("users and items are empty: there is no log to replay")
    if users.min() < 0 or users.max() >= n_users or items.min() < 0 or items.max() >= n_items:
        raise ArgumentError("users or items has ids outside the score matrix")
    policy = choice(policy, "policy", ("greedy", "epsilon", "boltzmann"))
    k = integer(k, "k", low=1, high=n_items - 1)
    epsilon = number(epsilon, "epsilon", low=0, high=1)
    temperature = float(check_temperature(temperature))  # the one temperature rule, as Boltzmann's
    learning_rate = number(learning_rate, "learning_rate", low=0)
    blocked = sp.lil_matrix((n_users, n_items), dtype=bool)
    if exclude is not None:
        if not sp.issparse(exclude) or exclude.shape != S.shape:
            raise ArgumentError(f"exclude must be a scipy.sparse matrix of shape {S.shape}")
        excl = sp.csr_matrix(exclude, dtype=bool)
        excl.eliminate_zeros()  # a stored zero excludes nothing (as in embedlab.ranking)
        blocked = excl.tolil()
    seed = integer(seed, "seed", low=0)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    hit_counts = np.zeros(n_items)
    shown = np.zeros(n_items, dtype=bool)
    hits = np.zeros(len(users), dtype=bool)
    for t, (u, i) in enumerate(zip(users, items)):
        row = S[u] + learning_rate * np.log1p(hit_counts) if learning_rate else S[u].copy()
        row[blocked.rows[u]] = -np.inf
        if (left := n_items - len(blocked.rows[u])) < k:
            raise ArgumentError(f"k={k} is more than the {left} items left for user {u} at event {t} "
                                "(after exclude and the items already accepted)")
        if policy == "boltzmann":
            slate = sample_without_replacement(torch.from_numpy(row)[None], k, temperature=temperature,
                                               generator=gen)[0].numpy()
        else:
            # the package's one top-k (embedlab._rows.topk): best first, equal scores by lower item
            # id, also at the slate boundary (np.argpartition would leave those ties to its kernel)
            slate = topk(row, k, nan_checked=True)[1]  # S is finite (checked above); -inf marks blocked
            if policy == "epsilon":
                swap = rng.random(k) < epsilon
                if swap.any():
                    free = np.flatnonzero(np.isfinite(row))
                    free = free[~np.isin(free, slate)]
                    slots = np.flatnonzero(swap)[: free.size]  # no more swaps than items outside the slate
                    slate[slots] = rng.choice(free, size=slots.size, replace=False)
        shown[slate] = True
        if i in slate:
            hits[t] = True
            hit_counts[i] += 1
            blocked[u, i] = True  # consumed: not shown to this user again
    return ReplayResult(policy=policy, hits=hits, shown_items=int(shown.sum()),
                        hit_items=int((hit_counts > 0).sum()), n_items=n_items)
