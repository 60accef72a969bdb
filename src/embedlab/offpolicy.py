"""Off-policy evaluation: the value of a policy, estimated from logs that another policy collected (chapter 9).

A recommender's log holds, per event ``i``, a context ``x_i`` (here: a user id), the action the
*logging* policy took ``a_i`` (an item id), the reward it saw ``r_i`` (a click) and the
*propensity* ``p_i = π_0(a_i | x_i)``, the probability the logging policy had of taking that
action. The question is what a different *target* policy ``π`` would have earned,
``V(π) = E_x Σ_a π(a | x) q(x, a)`` with ``q(x, a) = E[r | x, a]``, without deploying it. The log
only shows the rewards of the actions ``π_0`` took, so every estimator reweights or models the
missing ones:

* :func:`replay_estimate` (Li et al., 2011): keep the events where the target agrees with the
  log, average their rewards. **Unbiased only on a uniformly randomised log**: on any other log
  the events that survive are the ones the logging policy liked, not the ones the target would
  meet. It therefore refuses a non-uniform log unless ``check_uniform=False`` (to measure that bias).
* :func:`ips_estimate`: inverse propensity scoring, ``mean(π(a_i|x_i) / p_i · r_i)``. Unbiased
  wherever ``π_0`` can take every action ``π`` takes; its variance grows with the weights, that is
  as ``π_0`` nears greedy. ``max_weight`` clips the weights (bias for variance).
* :func:`snips_estimate` (Swaminathan & Joachims, 2015): the same weights, divided by their sum
  instead of ``n``. Slightly biased, but a weighted mean of rewards: it stays in the rewards'
  range and shrugs off a few huge weights.
* :func:`dm_estimate`, the direct method: a reward model ``q̂(x, a)`` averaged under ``π``; no
  weights, all the model's bias.
* :func:`dr_estimate` (Dudík et al., 2011), doubly robust: the direct method plus IPS on the
  model's residuals. Unbiased if the propensities are right (whatever ``q̂``), and of low
  variance where ``q̂`` is good.

Each returns an :class:`Estimate`: the value and per-event ``contributions`` whose mean is the
value, so that :func:`embedlab.intervals.bootstrap_ci` (``Estimate.interval``) gives an interval
over logged events. For IPS, DR and DM they are the estimator's own terms; for the two ratio
estimators (replay, SNIPS) they are the linearised terms ``V̂ + w_i (r_i - V̂) / mean(w)``, whose
spread is the delta-method variance of the ratio (the plain terms ``w_i r_i / mean(w)`` would hold
the denominator fixed and understate it).

The semi-synthetic world, where the truth is known: a matrix ``click_probs`` (n_users, n_items)
of true click probabilities; policies as (n_users, n_items) row-stochastic matrices
(:func:`softmax_policy` at a temperature, :func:`greedy_policy` with the package's tie rule,
:func:`uniform_policy`); :func:`simulate_log` samples a log with its propensities and
:func:`policy_value` computes a target's true value exactly. The lesson it makes measurable: the
logging policy's exploration (its softmax temperature) is what makes counterfactual evaluation
possible; as the temperature falls towards greedy, the weights of every action the logger rarely
takes explode (IPS, DR) or those actions vanish from the log.

Policies are indexed by context id: ``target[x, a]`` is ``π(a | x)``; a log's contexts and
actions are ids into those rows and columns. Everything is float64 NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from embedlab._checks import ArgumentError, array, flag, ids, integer, number
from embedlab._rows import softmax, topk

__all__ = [
    "BanditLog",
    "Estimate",
    "replay_estimate",
    "ips_estimate",
    "snips_estimate",
    "dm_estimate",
    "dr_estimate",
    "softmax_policy",
    "greedy_policy",
    "uniform_policy",
    "simulate_log",
    "policy_value",
]

_ROW_SUM_TOL = 1e-9  # a policy row must sum to 1 within this (float64 softmax rows are within ~1e-15)


def _policy(p, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A (n_contexts, n_actions) row-stochastic matrix, float64: non-negative rows summing to 1."""
    P = array(p, name, ndim=2)
    if shape is not None and P.shape != shape:
        raise ArgumentError(f"{name} must have shape {shape} (contexts x actions), got {P.shape}")
    if (P < 0).any():
        raise ArgumentError(f"{name} has negative probabilities (row {int(np.argwhere(P < 0)[0, 0])})")
    bad = np.abs(P.sum(axis=1) - 1.0) > _ROW_SUM_TOL
    if bad.any():
        row = int(np.argmax(bad))
        raise ArgumentError(f"{name} rows must sum to 1 (a distribution over actions); row {row} sums to "
                            f"{P[row].sum()!r}")
    return P


@dataclass(frozen=True, eq=False)
class BanditLog:
    """What a logging policy recorded: per event, context, action, reward and propensity.

    contexts, actions: (n,) int ids; rewards: (n,) float; propensities: (n,) the logging policy's
    probability of the logged action, in (0, 1]. ``logging_policy`` (n_contexts, n_actions), if
    known, is its whole distribution: it lets the estimators check that the target stays where
    the log can see (support) and replay that the log is uniform; the propensities must then be
    its entries at the logged (context, action) pairs.

    A zero propensity is refused: an action the logging policy could not take cannot be in its
    log, so a zero there is a broken log, not a rare event.
    """

    contexts: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray
    logging_policy: np.ndarray | None = None

    def __post_init__(self) -> None:
        x, a = ids(self.contexts, "contexts"), ids(self.actions, "actions")
        r, p = array(self.rewards, "rewards", ndim=1), array(self.propensities, "propensities", ndim=1)
        n = x.size
        for name, v in (("actions", a), ("rewards", r), ("propensities", p)):
            if v.size != n:
                raise ArgumentError(f"{name} must have one entry per logged event ({n}, as contexts), got {v.size}")
        if (p <= 0).any() or (p > 1).any():
            i = int(np.argmax((p <= 0) | (p > 1)))
            raise ArgumentError(f"propensities must be in (0, 1] (the logging policy's probability of an action it "
                                f"took), got {p[i]!r} at event {i}")
        L = None
        if self.logging_policy is not None:
            L = _policy(self.logging_policy, "logging_policy")
            if x.max() >= L.shape[0] or a.max() >= L.shape[1]:
                raise ArgumentError(f"logging_policy of shape {L.shape} does not cover the logged context and "
                                    "action ids")
            off = np.abs(L[x, a] - p) > 1e-12 * np.maximum(p, 1e-300) + 1e-300
            if off.any():
                i = int(np.argmax(off))
                raise ArgumentError(f"propensities must equal logging_policy at the logged (context, action): "
                                    f"event {i} has {p[i]!r}, logging_policy {L[x[i], a[i]]!r}")
        for field_name, value in (("contexts", x), ("actions", a), ("rewards", r), ("propensities", p),
                                  ("logging_policy", L)):
            object.__setattr__(self, field_name, value)

    def __len__(self) -> int:
        return int(self.contexts.size)


@dataclass(frozen=True, eq=False)
class Estimate:
    """An off-policy estimate: ``value`` and per-event ``contributions`` (n,) whose mean it is."""

    estimator: str
    value: float
    contributions: np.ndarray

    def interval(self, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
        """``(value, low, high)``: the percentile bootstrap over logged events (embedlab.intervals)."""
        from embedlab.intervals import bootstrap_ci

        _, low, high = bootstrap_ci(self.contributions, level=level, n_boot=n_boot, seed=seed)
        return self.value, low, high  # the value itself, not the contributions' mean (equal to rounding)


def _check_log(log) -> BanditLog:
    if not isinstance(log, BanditLog):
        raise ArgumentError(f"log must be a BanditLog, got {type(log).__name__}")
    return log


def _target(target, log: BanditLog, check_support: bool) -> np.ndarray:
    """The target policy, checked against the log: it must cover the logged ids and, where the
    logging policy is known, put no probability where the logger never acts."""
    T = _policy(target, "target", None if log.logging_policy is None else log.logging_policy.shape)
    if log.contexts.max() >= T.shape[0] or log.actions.max() >= T.shape[1]:
        raise ArgumentError(f"target of shape {T.shape} does not cover the logged context and action ids")
    if flag(check_support, "check_support") and log.logging_policy is not None:
        seen = np.unique(log.contexts)
        blind = (T[seen] > 0) & (log.logging_policy[seen] == 0)
        if blind.any():
            c, act = np.argwhere(blind)[0]
            raise ArgumentError(
                f"target puts probability on actions the logging policy never takes (context {int(seen[c])}, "
                f"action {int(act)}): no log of it shows what they pay, and the weighted estimators would count "
                "them as 0 (a bias no amount of data removes); pass check_support=False to accept it")
    return T


def _weights(log: BanditLog, T: np.ndarray, max_weight) -> np.ndarray:
    w = T[log.contexts, log.actions] / log.propensities
    if max_weight is not None:
        w = np.minimum(w, number(max_weight, "max_weight", low=0, low_open=True))
    return w


def _ratio(name: str, w: np.ndarray, r: np.ndarray, why: str) -> Estimate:
    """``Σ w r / Σ w`` with its linearised per-event terms."""
    total = w.sum()
    if total == 0:
        raise ArgumentError(f"target gives no weight to any logged action: {name} is 0/0, undefined ({why})")
    value = float((w * r).sum() / total)
    return Estimate(name, value, value + w * (r - value) / w.mean())


def replay_estimate(log: BanditLog, target, *, check_uniform: bool = True, check_support: bool = True) -> Estimate:
    """The replay estimator (Li et al., 2011): the mean reward of the events where the target
    takes the logged action.

    Unbiased only when the log was collected by a uniformly random policy: then which events
    survive does not depend on the action, and the survivors are a fair sample of what the target
    would meet. On any other log it is biased towards the actions the logger favoured, so a
    log whose propensities differ (or whose ``logging_policy`` is not uniform over its support) is
    refused unless ``check_uniform=False``.

    A deterministic (one-hot) target counts the matches; a stochastic one weights each event by
    its probability of the logged action (the expectation of Li et al.'s accept-with-that-
    probability step, without its coin flip). Raises if no event matches: the log says nothing.
    """
    log = _check_log(log)
    T = _target(target, log, check_support)
    if flag(check_uniform, "check_uniform"):
        p = log.propensities
        uniform = np.ptp(p) <= 1e-12 * p.max()
        if uniform and log.logging_policy is not None:
            rows = log.logging_policy[np.unique(log.contexts)]
            uniform = bool(np.all((rows == 0) | (np.abs(rows - p[0]) <= 1e-12 * p[0])))
        if not uniform:
            raise ArgumentError(
                f"log is not uniformly randomised (propensities from {p.min():.3g} to {p.max():.3g}): replay is "
                "unbiased only on uniform logs (Li et al., 2011); use ips_estimate, snips_estimate or dr_estimate, "
                "or pass check_uniform=False to measure replay's bias")
    return _ratio("replay", T[log.contexts, log.actions], log.rewards,
                  "the target never takes the logged action")


def ips_estimate(log: BanditLog, target, *, max_weight: float | None = None, check_support: bool = True) -> Estimate:
    """Inverse propensity scoring: ``mean_i(w_i r_i)`` with ``w_i = π(a_i | x_i) / p_i``.

    Unbiased for ``V(π)`` when every action the target takes had a positive logging probability
    (checked if the log has its ``logging_policy``). ``max_weight`` clips each weight at that value
    (clipped IPS, Bottou et al., 2013): biased downwards, with a variance bounded by it. For a
    deterministic target, clipping the weight at ``M`` is clipping propensities below ``1 / M``
    (Strehl et al., 2010). A target that never agrees with the log gets 0.
    """
    log = _check_log(log)
    w = _weights(log, _target(target, log, check_support), max_weight)
    c = w * log.rewards
    return Estimate("ips", float(c.mean()), c)


def snips_estimate(log: BanditLog, target, *, check_support: bool = True) -> Estimate:
    """Self-normalised IPS (Swaminathan & Joachims, 2015): ``Σ w_i r_i / Σ w_i``.

    The weights average 1 in expectation; dividing by their realised mean instead of ``n``
    trades a small bias (vanishing as ``1/n``) for much less variance when a few weights are huge,
    and keeps the estimate inside the rewards' range. Raises where all weights are 0 (the target
    never takes a logged action): the ratio is 0/0.
    """
    log = _check_log(log)
    w = _weights(log, _target(target, log, check_support), None)
    return _ratio("snips", w, log.rewards, "the target never takes the logged action")


def _reward_model(q, T: np.ndarray) -> np.ndarray:
    Q = array(q, "reward_model", ndim=2)
    if Q.shape != T.shape:
        raise ArgumentError(f"reward_model must have the target's shape {T.shape} (contexts x actions), got {Q.shape}")
    return Q


def dm_estimate(log: BanditLog, target, reward_model) -> Estimate:
    """The direct method: ``mean_i Σ_a π(a | x_i) q̂(x_i, a)``, the reward model averaged under the
    target over the logged contexts. No weights, so no variance from them, and all of ``q̂``'s bias."""
    log = _check_log(log)
    T = _target(target, log, check_support=False)  # the model speaks for every action
    Q = _reward_model(reward_model, T)
    c = (T * Q).sum(axis=1)[log.contexts]  # per context once, then per event: no (n, n_actions) array
    return Estimate("dm", float(c.mean()), c)


def dr_estimate(log: BanditLog, target, reward_model, *, max_weight: float | None = None,
                check_support: bool = True) -> Estimate:
    """Doubly robust (Dudík et al., 2011): the direct method plus IPS on the model's residuals,
    ``mean_i [Σ_a π(a|x_i) q̂(x_i, a) + w_i (r_i - q̂(x_i, a_i))]``.

    Unbiased when the propensities are right, whatever ``reward_model`` (n_contexts, n_actions)
    is; its variance is that of IPS on ``r - q̂``, small where ``q̂`` is close. ``max_weight``
    clips the weights as in :func:`ips_estimate`.
    """
    log = _check_log(log)
    T = _target(target, log, check_support)
    Q = _reward_model(reward_model, T)
    x, a = log.contexts, log.actions
    w = _weights(log, T, max_weight)
    c = (T * Q).sum(axis=1)[x] + w * (log.rewards - Q[x, a])
    return Estimate("dr", float(c.mean()), c)


# --- the semi-synthetic world -------------------------------------------------------------------


def softmax_policy(scores, temperature: float) -> np.ndarray:
    """``softmax(scores / temperature)`` per row: (n_users, n_items) -> the same shape, rows summing to 1.

    A high temperature explores (uniform in the limit), a low one exploits (greedy in the limit,
    uniform over tied best items). ``temperature`` follows the package's one rule
    (:func:`embedlab.probability.check_temperature`) and is in the units of the scores.
    """
    from embedlab.probability import check_temperature  # lazy: torch loads only when needed

    S = array(scores, "scores", ndim=2)
    t = float(check_temperature(temperature))
    with np.errstate(over="ignore"):
        z = S / t
        if not np.isfinite(z).all():  # a tiny t overflowed: shift first, as Boltzmann does
            z = (S - S.max(axis=1, keepdims=True)) / t
    return softmax(z, name="scores / temperature")


def greedy_policy(scores) -> np.ndarray:
    """One-hot rows at each row's best score, ties to the lower item id (the package's one tie rule)."""
    S = array(scores, "scores", ndim=2)
    best = topk(S, 1, name="scores")[1][:, 0]
    P = np.zeros_like(S)
    P[np.arange(S.shape[0]), best] = 1.0
    return P


def uniform_policy(n_contexts: int, n_actions: int) -> np.ndarray:
    """Every action with probability ``1 / n_actions`` in every context: the log replay needs."""
    n_contexts = integer(n_contexts, "n_contexts", low=1)
    n_actions = integer(n_actions, "n_actions", low=1)
    return np.full((n_contexts, n_actions), 1.0 / n_actions)


def _click_probs(click_probs) -> np.ndarray:
    P = array(click_probs, "click_probs", ndim=2)
    if (P < 0).any() or (P > 1).any():
        raise ArgumentError("click_probs must be probabilities in [0, 1]")
    return P


def _user_weights(user_weights, n_users: int) -> np.ndarray:
    if user_weights is None:
        return np.full(n_users, 1.0 / n_users)
    u = array(user_weights, "user_weights", ndim=1)
    if u.size != n_users or (u < 0).any() or u.sum() <= 0:
        raise ArgumentError(f"user_weights must be {n_users} non-negative numbers with a positive sum")
    return u / u.sum()


def simulate_log(click_probs, logging_policy, n_events: int, *, seed: int, user_weights=None) -> BanditLog:
    """A log of ``n_events``: a user drawn (uniformly, or by ``user_weights``), an item drawn from
    the logging policy's row for that user, a click drawn with ``click_probs[user, item]``.

    click_probs, logging_policy: (n_users, n_items). Returns a :class:`BanditLog` with the
    propensities and the logging policy itself. The same ``seed`` gives the same log.
    """
    P = _click_probs(click_probs)
    L = _policy(logging_policy, "logging_policy", P.shape)
    n = integer(n_events, "n_events", low=1)
    rng = np.random.default_rng(integer(seed, "seed", low=0))
    n_users, n_items = P.shape
    users = rng.choice(n_users, size=n, p=_user_weights(user_weights, n_users))
    u01 = rng.random(n)
    clicks = rng.random(n)
    # inverse CDF per user: one searchsorted per user that has events (no (n, n_items) matrix)
    cdf = np.cumsum(L, axis=1)
    # rounding may leave the last cumulative sum just under a draw: from each row's last item with
    # a positive probability on, the CDF is +inf (so no zero-probability item is ever drawn)
    last = n_items - 1 - np.argmax(L[:, ::-1] > 0, axis=1)
    cdf[np.arange(n_items) >= last[:, None]] = math.inf
    actions = np.empty(n, dtype=np.int64)
    order = np.argsort(users, kind="stable")
    starts = np.searchsorted(users[order], np.arange(n_users + 1))
    for u in np.flatnonzero(np.diff(starts)):
        rows = order[starts[u]:starts[u + 1]]
        actions[rows] = np.searchsorted(cdf[u], u01[rows], side="right")
    rewards = (clicks < P[users, actions]).astype(np.float64)
    return BanditLog(users, actions, rewards, L[users, actions], L)


def policy_value(click_probs, target, *, user_weights=None) -> float:
    """The target's true value in the simulator: ``Σ_u w_u Σ_a π(a|u) click_probs[u, a]``, exactly
    (users weighted as :func:`simulate_log` draws them)."""
    P = _click_probs(click_probs)
    T = _policy(target, "target", P.shape)
    return float(_user_weights(user_weights, P.shape[0]) @ (T * P).sum(axis=1))
