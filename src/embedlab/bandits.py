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

Shapes: ``items: (K, d)``, ``user: (d,)``; per-run state ``counts, sums: (R, K)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "EmbeddingBandit",
    "EpsilonGreedy",
    "Boltzmann",
    "Thompson",
    "simulate",
]


def _number(value, name: str, *, low: float = 0.0, low_ok: bool = True, high: float = math.inf) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and (v >= low if low_ok else v > low) and v <= high):
        bound = ">=" if low_ok else ">"
        upper = f" and <= {high}" if high < math.inf else ""
        raise ValueError(f"{name} must be a finite number {bound} {low}{upper}, got {value!r}")
    return v


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
        self.items = np.asarray(self.items, dtype=np.float64)
        self.user = np.asarray(self.user, dtype=np.float64)
        if self.items.ndim != 2 or self.items.shape[0] < 2:
            raise ValueError(f"items must be a (K, d) array with K >= 2, got shape {self.items.shape}")
        if self.user.shape != (self.items.shape[1],):
            raise ValueError(f"user must have shape ({self.items.shape[1]},), got {self.user.shape}")
        self.scale = _number(self.scale, "scale")
        self.offset = _number(self.offset, "offset", low=-math.inf)
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
        self.epsilon = _number(self.epsilon, "epsilon", high=1.0)

    def select(self, counts: np.ndarray, sums: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
        greedy = _argmax_random_ties(_means(counts, sums, self.prior), rng)  # (R,)
        explore = rng.random(counts.shape[0]) < self.epsilon
        return np.where(explore, rng.integers(0, counts.shape[1], counts.shape[0]), greedy)


@dataclass
class Boltzmann:
    """Sample an arm from ``softmax(means / T_t)``; ``T_t = temperature`` or, with ``anneal``,
    ``temperature / log(t + 2)`` (slow enough that every arm keeps being tried, fast enough
    that the share of bad pulls goes to zero)."""

    temperature: float = 0.1
    anneal: bool = False
    prior: float = 1.0

    def __post_init__(self) -> None:
        self.temperature = _number(self.temperature, "temperature", low_ok=False)

    def temperature_at(self, t: int) -> float:
        return self.temperature / math.log(t + 2) if self.anneal else self.temperature

    def probabilities(self, counts: np.ndarray, sums: np.ndarray, t: int) -> np.ndarray:
        """The softmax over empirical means at step ``t``: (R, K), rows summing to 1."""
        z = _means(counts, sums, self.prior) / self.temperature_at(t)  # (R, K)
        z = z - z.max(axis=1, keepdims=True)  # log-sum-exp shift: no overflow at small T
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

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
        self.a = _number(self.a, "a", low_ok=False)
        self.b = _number(self.b, "b", low_ok=False)

    def select(self, counts: np.ndarray, sums: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
        theta = rng.beta(self.a + sums, self.b + counts - sums)  # (R, K)
        return np.argmax(theta, axis=1)


def simulate(bandit: EmbeddingBandit, policy, horizon: int, n_runs: int = 20, seed: int = 0) -> np.ndarray:
    """Run ``policy`` for ``horizon`` steps in ``n_runs`` independent runs.

    Returns the cumulative pseudo-regret ``(n_runs, horizon)``: after step ``t``,
    ``Σ_{s<=t} (max_k p_k - p_{a_s})``. Runs are independent streams of one seeded generator.
    """
    for name, v in (("horizon", horizon), ("n_runs", n_runs)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not callable(getattr(policy, "select", None)):
        raise ValueError(f"policy must have a select(counts, sums, t, rng) method, got {type(policy).__name__}")
    rng = np.random.default_rng(seed)
    k = bandit.n_arms
    counts = np.zeros((n_runs, k))
    sums = np.zeros((n_runs, k))
    gaps = bandit.probs.max() - bandit.probs  # (K,)
    regret = np.empty((n_runs, horizon))
    rows = np.arange(n_runs)
    for t in range(horizon):
        arms = policy.select(counts, sums, t, rng)  # (R,)
        rewards = bandit.pull(arms, rng)
        counts[rows, arms] += 1
        sums[rows, arms] += rewards
        regret[:, t] = gaps[arms]
    return np.cumsum(regret, axis=1)
