"""Recommendation with user and item embeddings: the models, their training, and their scores.

Taught in chapter 9. A user ``u`` and an item ``i`` each get a vector; their dot product (plus an
item bias) is a logit, and the recommendation is the top of a ranking (or a sample) over items.

* :class:`FactorModel` holds ``P: (n_users, d)``, ``Q: (n_items, d)`` and an item bias ``b``.
  :func:`fit_factors` trains it on implicit feedback (who rated what) with one of two losses:

  - ``"softmax"``: each user's row of logits ``P_u Qᵀ + b`` over *all* items is a categorical
    distribution, and the loss is the mean negative log-likelihood of the items the user chose
    (the multinomial likelihood of Liang et al., 2018). With 1,682 items the full softmax is one
    small matrix product per batch: cheaper and better than sampling negatives.
  - ``"bpr"``: Bayesian personalised ranking (Rendle et al., 2009), ``-log σ(s_ui - s_uj)`` for a
    chosen item ``i`` and a uniformly drawn item ``j``.
  - ``"full"``, ``"in_batch"``, ``"sampled"`` (chapter 13): batches of (user, chosen item) pairs,
    each pair's loss the cross-entropy of its item among candidates: every item (``"full"``), the
    batch's other chosen items (``"in_batch"``), or ``negatives`` items shared by the batch and
    drawn from popularity^``beta`` (``"sampled"``), with the log Q correction if ``log_q``. The
    losses are :mod:`embedlab.sampledsoftmax`'s; only the normaliser differs between the three.

  The item bias soaks up popularity (it is the log prior of the softmax), so the vectors are left
  with taste; a model without a bias (ALS, :mod:`embedlab.reclibs`) puts popularity into the
  vectors' lengths instead. Chapter 9 measures both.
* :func:`score_matrix` turns vectors into scores with two knobs that trade accuracy for
  coverage: divide by ``‖q_i‖^alpha`` (``alpha = 1`` with no bias ranks by cosine) and weight the
  bias (the popularity prior) by ``bias_weight``.
* :class:`BiasedMF` is the explicit-ratings model ``μ + b_u + b_i + p_u · q_i`` (Koren et al.,
  2009), trained by :func:`fit_biased_mf` on squared error; :func:`rmse` scores it.

Every model trains through :class:`embedlab.train.Trainer`, the course's one training loop.
Sampling a slate with a temperature is :func:`embedlab.probability.sample_without_replacement`;
ranking metrics are in :mod:`embedlab.ranking`; MovieLens and the splits in
:mod:`embedlab.data.movielens`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedlab._checks import ArgumentError, array, choice, flag, ids, integer, number
from embedlab.train import History, TrainConfig, Trainer

__all__ = [
    "FactorConfig",
    "FactorModel",
    "fit_factors",
    "score_matrix",
    "BiasedMFConfig",
    "BiasedMF",
    "fit_biased_mf",
    "rmse",
]

Loss = Literal["softmax", "bpr", "full", "in_batch", "sampled"]
PAIR_LOSSES = ("full", "in_batch", "sampled")  # batches of (user, item) pairs, one softmax per pair


def _csr(matrix, name: str):
    import scipy.sparse as sp

    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise ArgumentError(f"{name} must be a scipy.sparse (n_users, n_items) matrix, got {type(matrix).__name__}")
    m = sp.csr_matrix(matrix)
    if m.dtype.kind not in "biuf":
        raise ArgumentError(f"{name} must hold real numbers, got dtype {m.dtype}")
    if m.dtype.kind == "f" and not np.isfinite(m.data).all():
        # a NaN weight trained a model from a finite loss without a word: its vectors meant nothing
        raise ArgumentError(f"{name} contains NaN or infinite values")
    return m


# -- implicit feedback: user and item vectors ------------------------------------------------------
@dataclass
class FactorConfig:
    dim: int = 64
    loss: Loss = "softmax"
    epochs: int = 80  # passes over the users (softmax) or over the training pairs (bpr)
    batch: int = 128  # users per step (softmax) or (user, item, negative) triples per step (bpr)
    lr: float = 1e-2
    # L2 on every user and item vector, counted once per epoch. 0.1 won on a temporal validation cut
    # of MovieLens-100K among 0.03-0.15 (chapter 9); less overfits the popular items' neighbours.
    weight_decay: float = 0.1  # (for BPR the penalty is per training triple: see _bpr_loss)
    bias: bool = True
    seed: int = 0
    progress: bool = True
    # The pair losses of chapter 13 ("full", "in_batch", "sampled"); unused by "softmax" and "bpr".
    negatives: int = 256  # "sampled": items drawn per batch (shared by its rows), with replacement
    beta: float = 0.0  # "sampled": the proposal is popularity^beta (0: uniform)
    log_q: bool = False  # "in_batch", "sampled": subtract log Q(item) from every candidate's logit

    def __post_init__(self) -> None:
        for name in ("dim", "epochs", "batch", "negatives"):
            setattr(self, name, integer(getattr(self, name), name, low=1))
        self.loss = choice(self.loss, "loss", ("softmax", "bpr", *PAIR_LOSSES))  # type: ignore[assignment]
        self.beta = number(self.beta, "beta", low=0)
        self.log_q = flag(self.log_q, "log_q")
        self.lr = number(self.lr, "lr", low=0, low_open=True)
        self.weight_decay = number(self.weight_decay, "weight_decay", low=0)
        self.bias, self.progress = flag(self.bias, "bias"), flag(self.progress, "progress")
        self.seed = integer(self.seed, "seed", low=0)


class FactorModel(nn.Module):
    """User vectors ``P: (n_users, d)``, item vectors ``Q: (n_items, d)``, item bias ``b: (n_items,)``."""

    def __init__(self, n_users: int, n_items: int, dim: int, *, bias: bool = True, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        # Small random starts: large ones would put the initial softmax far from uniform.
        self.P = nn.Parameter(0.1 * torch.randn(n_users, dim, generator=g))
        self.Q = nn.Parameter(0.1 * torch.randn(n_items, dim, generator=g))
        self.b = nn.Parameter(torch.zeros(n_items), requires_grad=bias)

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        """users: (B,) long -> logits over every item: (B, n_items)."""
        return self.P[users] @ self.Q.T + self.b


def _softmax_loss(model: FactorModel, users: torch.Tensor, Y: torch.Tensor, wd: float) -> torch.Tensor:
    logits = model(users)  # (B, n_items)
    y = Y[users]  # (B, n_items), 1 where the user chose the item
    # Mean NLL of a user's chosen items under the softmax over all items (users with more items do
    # not dominate). Every row of Y has at least one item: fit_factors drops empty users.
    nll = -(y * F.log_softmax(logits, dim=1)).sum(1) / y.sum(1)
    n_users = model.P.shape[0]
    # L2 per user for the batch's users, and the item matrix once per epoch (spread over the
    # epoch's n_users / B steps): every vector is penalised equally, popular or not.
    l2 = model.P[users].pow(2).sum(1).mean() + model.Q.pow(2).sum() / n_users
    return nll.mean() + wd * l2


def _bpr_loss(model: FactorModel, batch, wd: float, n_pairs: int) -> torch.Tensor:
    u, i, j = batch  # (B,) each: user, chosen item, random item
    p = model.P[u]
    s_ui = (p * model.Q[i]).sum(1) + model.b[i]
    s_uj = (p * model.Q[j]).sum(1) + model.b[j]
    # L2 per training triple, as in Rendle et al.'s SGD: unlike the softmax loss, a heavy user's and a
    # popular item's vectors are penalised more often (scaled so that one epoch adds n_users terms).
    l2 = p.pow(2).sum(1) + model.Q[i].pow(2).sum(1) + model.Q[j].pow(2).sum(1)
    return -F.logsigmoid(s_ui - s_uj).mean() + wd * l2.mean() * model.P.shape[0] / n_pairs


def _pair_loss(model: FactorModel, batch, cfg: FactorConfig, log_share: torch.Tensor,
               log_q: torch.Tensor | None) -> torch.Tensor:
    """One of chapter 13's pair losses plus the softmax loss's L2 (every vector once per epoch)."""
    from embedlab.sampledsoftmax import full_softmax_loss, in_batch_softmax_loss, sampled_softmax_loss

    u, i, j = batch  # users (B,), their chosen items (B,), and the shared negatives (m,) or None
    p = model.P[u]
    if cfg.loss == "full":
        nll = full_softmax_loss(p, model.Q, i, model.b)
    elif cfg.loss == "in_batch":
        nll = in_batch_softmax_loss(p, model.Q[i], model.b[i], log_share[i] if cfg.log_q else None)
    else:
        assert log_q is not None and j is not None
        corr = dict(pos_log_q=log_q[i], neg_log_q=log_q[j]) if cfg.log_q else {}
        nll = sampled_softmax_loss(p, model.Q[i], model.Q[j], pos_bias=model.b[i], neg_bias=model.b[j], **corr)
    n_users = model.P.shape[0]
    # As in _softmax_loss: the expected penalty of a step, with every user and item counted equally.
    return nll + cfg.weight_decay * (model.P.pow(2).sum() + model.Q.pow(2).sum()) / n_users


def fit_factors(train, config: FactorConfig | None = None, *,
                eval_fn: Callable[[FactorModel], dict[str, float]] | None = None,
                eval_every: int = 0) -> tuple[FactorModel, History]:
    """Train a :class:`FactorModel` on an implicit-feedback matrix.

    train: scipy.sparse (n_users, n_items); a nonzero means the user chose the item. Returns the
    model (in eval mode, on the CPU) and the training history. ``eval_fn`` (``model -> {name:
    value}``) is called every ``eval_every`` steps and at the end, its values kept in
    ``history.evals``: chapter 13 picks the number of epochs on a validation cut with it.
    """
    cfg = config or FactorConfig()
    R = _csr(train, "train")
    R.sum_duplicates()
    R.eliminate_zeros()  # a stored zero is not a choice (as in embedlab.ranking)
    n_users, n_items = R.shape
    if R.nnz == 0:
        raise ArgumentError("train has no interactions")
    model = FactorModel(n_users, n_items, cfg.dim, bias=cfg.bias, seed=cfg.seed)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    get_batch: Callable[[torch.Generator], Any]  # a batch of users (softmax) or of (user, item, negative) triples (BPR)
    loss_fn: Callable[[FactorModel, Any], torch.Tensor]
    if cfg.loss == "softmax":
        Y = torch.from_numpy((R != 0).toarray().astype(np.float32))  # (n_users, n_items): 6 MB for MovieLens
        active = torch.nonzero(Y.sum(1) > 0).squeeze(1)  # users with at least one item
        steps = cfg.epochs * math.ceil(len(active) / cfg.batch)

        def get_batch(g: torch.Generator) -> torch.Tensor:
            return active[torch.randint(len(active), (cfg.batch,), generator=g)]

        def loss_fn(m: FactorModel, users: torch.Tensor) -> torch.Tensor:
            return _softmax_loss(m, users, Y, cfg.weight_decay)
    elif cfg.loss in PAIR_LOSSES:
        from embedlab.sampledsoftmax import proposal, sample_negatives

        coo = R.tocoo()
        users = torch.from_numpy(coo.row.astype(np.int64))
        items = torch.from_numpy(coo.col.astype(np.int64))
        n_pairs = len(users)
        steps = cfg.epochs * math.ceil(n_pairs / cfg.batch)
        counts = np.bincount(coo.col, minlength=n_items).astype(np.float64)
        # An item's chance of being a batch's positive: its share of the pairs (log 0 never used:
        # an item with no pair is never anyone's positive).
        with np.errstate(divide="ignore"):
            log_share = torch.from_numpy(np.log(counts / n_pairs)).float()
        q = torch.from_numpy(proposal(counts, cfg.beta)) if cfg.loss == "sampled" else None
        log_q = None if q is None else torch.log(q).float()

        def get_batch(g: torch.Generator):
            k = torch.randint(n_pairs, (cfg.batch,), generator=g)
            negatives = None if q is None else sample_negatives(q, cfg.negatives, generator=g)
            return users[k], items[k], negatives

        def loss_fn(m: FactorModel, batch) -> torch.Tensor:
            return _pair_loss(m, batch, cfg, log_share, log_q)
    else:
        coo = R.tocoo()
        users = torch.from_numpy(coo.row.astype(np.int64))
        items = torch.from_numpy(coo.col.astype(np.int64))
        n_pairs = len(users)
        steps = cfg.epochs * math.ceil(n_pairs / cfg.batch)

        def get_batch(g: torch.Generator):
            k = torch.randint(n_pairs, (cfg.batch,), generator=g)
            # Uniform negatives; one that happens to be a chosen item (about 6% on MovieLens) is
            # kept: BPR's usual approximation, cheaper than rejection.
            return users[k], items[k], torch.randint(n_items, (cfg.batch,), generator=g)

        def loss_fn(m: FactorModel, batch) -> torch.Tensor:
            return _bpr_loss(m, batch, cfg.weight_decay, n_pairs)

    trainer = Trainer(model, optimizer, get_batch, loss_fn,
                      TrainConfig(max_steps=steps, grad_clip=None, log_every=max(1, steps // 200),
                                  eval_every=integer(eval_every, "eval_every", low=0),
                                  progress=cfg.progress, desc=f"{cfg.loss} MF", seed=cfg.seed),
                      eval_fn=eval_fn)
    history = trainer.run()
    return model.eval(), history


_SMALL_NORM = 1e-150  # below about 1.5e-154 the squares in ‖q‖ underflow and torch's norm is 0


def _divide_by_norm_power(S: torch.Tensor, Q: torch.Tensor, alpha: float) -> torch.Tensor:
    """``S[:, i] / ‖q_i‖^alpha``, dividing by 1 where ``q_i`` is exactly zero. A tiny non-zero
    ``q_i`` is not zero: its norm is taken on the rescaled vector (``m ‖q/m‖``, ``m = max|q|``)
    and, where ``‖q‖^alpha`` itself underflows (``(1e-200)^2``), the quotient is formed in logs.
    Ordinary items take the plain path, bit for bit as before."""
    norm = Q.norm(dim=1)  # (n_items,)
    small = (norm < _SMALL_NORM) & (Q != 0).any(dim=1)
    if bool(small.any()):
        m = Q[small].abs().amax(dim=1)
        norm[small] = m * (Q[small] / m[:, None]).norm(dim=1)
    denom = norm**alpha
    plain = (denom >= torch.finfo(torch.float64).tiny) | (norm == 0)  # a normal number, or a zero item
    out = S / torch.where(denom > 0, denom, 1.0)
    if not bool(plain.all()):
        # ‖q‖^alpha underflows (or is subnormal, with few digits left): log|s| - alpha log ‖q‖
        sub = S[:, ~plain]  # torch's log(0) = -inf, exp(-inf) = 0: a zero numerator stays 0, silently
        out[:, ~plain] = torch.sign(sub) * torch.exp(torch.log(sub.abs()) - alpha * torch.log(norm[~plain]))
    return out


def score_matrix(user_vectors, item_vectors, item_bias=None, *, alpha=0.0, bias_weight=1.0) -> np.ndarray:
    """Scores ``(p_u · q_i + bias_weight · b_i) / ‖q_i‖^alpha`` for every user and item.

    user_vectors: (n_users, d), item_vectors: (n_items, d), item_bias: (n_items,) or None ->
    (n_users, n_items) float64. ``alpha = 0`` is the dot product; ``alpha = 1`` with no bias (or
    ``bias_weight = 0``) ranks each user's items by cosine (the user's own length does not change
    their ranking). An item whose vector is exactly zero (never seen in training, under ALS) keeps
    its numerator (0 without a bias), for any ``alpha``: it is divided by 1, not by ``0 ** alpha``.
    A tiny non-zero vector is not zero: it is divided by its true ``‖q‖^alpha`` even where that
    underflows float64 (a score too large for float64 then raises, like any non-finite score).
    """
    # float64 NumPy first (bfloat16 and float16 tensors included; bool, NaN and inf refused by name)
    P = torch.from_numpy(array(user_vectors, "user_vectors", ndim=2))
    Q = torch.from_numpy(array(item_vectors, "item_vectors", ndim=2))
    if P.shape[1] != Q.shape[1]:
        raise ArgumentError(f"user_vectors (n_users, d) and item_vectors (n_items, d) must share d, "
                            f"got {tuple(P.shape)} and {tuple(Q.shape)}")
    alpha = number(alpha, "alpha", low=0)
    bias_weight = number(bias_weight, "bias_weight", low=0)
    # float64: scores that differ in the 7th digit would otherwise tie differently on different CPUs.
    S = P @ Q.T  # (n_users, n_items)
    if item_bias is not None:
        b = torch.from_numpy(array(item_bias, "item_bias", ndim=1))
        if b.shape != (Q.shape[0],):
            raise ArgumentError(f"item_bias must have shape ({Q.shape[0]},), got {tuple(b.shape)}")
        S = S + bias_weight * b
    if alpha:
        S = _divide_by_norm_power(S, Q, alpha)
    if not torch.isfinite(S).all():
        raise ValueError("scores are not finite; check the vectors for NaN or inf")
    return S.numpy()


# -- explicit ratings ------------------------------------------------------------------------------
@dataclass
class BiasedMFConfig:
    dim: int = 64
    epochs: int = 15
    batch: int = 1024
    lr: float = 3e-3
    l2_factors: float = 0.1  # per rating, on the user's and the item's vector
    l2_biases: float = 0.01
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("dim", "epochs", "batch"):
            setattr(self, name, integer(getattr(self, name), name, low=1))
        for name in ("lr", "l2_factors", "l2_biases"):
            setattr(self, name, number(getattr(self, name), name, low=0))
        self.lr = number(self.lr, "lr", low=0, low_open=True)
        self.progress, self.seed = flag(self.progress, "progress"), integer(self.seed, "seed", low=0)


class BiasedMF(nn.Module):
    """``r̂_ui = μ + b_u + b_i + p_u · q_i``: a global mean, a user's rating habit, an item's
    standing, and the taste match."""

    mu: torch.Tensor  # a buffer, declared for type checkers (nn.Module.__getattr__ returns Tensor | Module)

    def __init__(self, n_users: int, n_items: int, dim: int, mu: float, *, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("mu", torch.tensor(float(mu)))
        self.user_bias = nn.Parameter(torch.zeros(n_users))
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.P = nn.Parameter(0.1 * torch.randn(n_users, dim, generator=g))
        self.Q = nn.Parameter(0.1 * torch.randn(n_items, dim, generator=g))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """users, items: (B,) long -> predicted ratings (B,)."""
        taste = (self.P[users] * self.Q[items]).sum(1)
        return self.mu + self.user_bias[users] + self.item_bias[items] + taste


def _index(values, name: str, n: int | None = None) -> torch.Tensor:
    return torch.from_numpy(ids(values, name, n=n))


def fit_biased_mf(users, items, ratings, n_users: int, n_items: int,
                  config: BiasedMFConfig | None = None) -> tuple[BiasedMF, History]:
    """Train :class:`BiasedMF` on explicit ratings by squared error (Adam, L2 per rating).

    users, items: (n,) integer ids; ratings: (n,) numbers. Returns the model (eval mode) and its
    history. ``μ`` is the training mean, fixed: the biases and vectors model what is left.
    """
    cfg = config or BiasedMFConfig()
    n_users, n_items = integer(n_users, "n_users", low=1), integer(n_items, "n_items", low=1)
    u, i = _index(users, "users", n_users), _index(items, "items", n_items)
    r = torch.from_numpy(array(ratings, "ratings", ndim=1, dtype=np.float32))  # NaN, inf, bool refused
    if not (len(u) == len(i) == len(r)):
        raise ArgumentError(f"users, items and ratings must have the same non-zero length, "
                            f"got {len(u)}, {len(i)} and {len(r)}")
    model = BiasedMF(n_users, n_items, cfg.dim, float(r.mean()), seed=cfg.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps = cfg.epochs * math.ceil(len(r) / cfg.batch)

    def get_batch(g: torch.Generator) -> torch.Tensor:
        return torch.randint(len(r), (cfg.batch,), generator=g)

    def loss_fn(m: BiasedMF, k: torch.Tensor) -> torch.Tensor:
        uk, ik = u[k], i[k]
        err = m(uk, ik) - r[k]
        l2 = cfg.l2_factors * (m.P[uk].pow(2).sum(1) + m.Q[ik].pow(2).sum(1))
        l2 = l2 + cfg.l2_biases * (m.user_bias[uk].pow(2) + m.item_bias[ik].pow(2))
        return (err.pow(2) + l2).mean()

    trainer = Trainer(model, optimizer, get_batch, loss_fn,
                      TrainConfig(max_steps=steps, grad_clip=None, log_every=max(1, steps // 200),
                                  progress=cfg.progress, desc="biased MF", seed=cfg.seed))
    history = trainer.run()
    return model.eval(), history


def rmse(model: BiasedMF, users, items, ratings, *, clip: tuple[float, float] | None = (1.0, 5.0)) -> float:
    """Root-mean-square error of ``model`` on held-out ratings; predictions clipped to the rating
    scale (as Surprise does) unless ``clip=None``."""
    u, i = _index(users, "users", model.P.shape[0]), _index(items, "items", model.Q.shape[0])
    # NaN ratings would make the RMSE NaN without a word: refused by name (so are inf and bool)
    r = torch.from_numpy(array(ratings, "ratings", ndim=1))
    if not (len(u) == len(i) == len(r)):
        raise ArgumentError(f"users, items and ratings must have the same non-zero length, "
                            f"got {len(u)}, {len(i)} and {len(r)}")
    if clip is not None:
        if not isinstance(clip, (tuple, list)) or len(clip) != 2:
            raise ArgumentError(f"clip must be a (low, high) pair or None, got {clip!r}")
        low, high = number(clip[0], "clip[0]"), number(clip[1], "clip[1]")
        if low > high:
            raise ArgumentError(f"clip must have low <= high, got {clip!r}")
    with torch.no_grad():
        pred = model(u, i).double()
    if clip is not None:
        pred = pred.clamp(low, high)
    return float(torch.sqrt(((pred - r) ** 2).mean()))
