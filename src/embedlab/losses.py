"""Contrastive losses and the geometry measures that go with them.

Taught in chapter 4 (contrastive learning). Every loss takes batches of embeddings whose last
dimension is the embedding dimension ``d`` and returns a scalar (``reduction="mean"``, the
default), a sum (``"sum"``) or one value per row (``"none"``):

* :func:`margin_contrastive_loss`: the pairwise margin loss of Hadsell, Chopra & LeCun (2006):
  similar pairs are pulled together, dissimilar pairs pushed apart until they are ``margin`` away.
* :func:`triplet_loss`: an anchor must be nearer its positive than its negative by ``margin``
  (same value as ``torch.nn.functional.triplet_margin_loss`` with ``eps=0``; FaceNet squares the
  distances and normalises the embeddings, so that the margin has a fixed scale).
* :func:`info_nce`: a softmax over cosine similarities divided by a temperature, i.e. the
  cross-entropy of picking each query's positive out of a batch of candidate keys. The loss is
  van den Oord et al.'s (2018), whose CPC scored pairs log-bilinearly (``exp(zᵀ W c)``); the
  cosine / temperature score is that of Wu et al. (2018) and SimCLR (Chen et al., 2020). It is
  chapter 3's softmax with the batch as the vocabulary.
* :func:`nt_xent`: SimCLR's symmetric version (Chen et al., 2020): two views of ``B`` examples,
  each of the ``2B`` views must pick its partner out of the other ``2B - 1``.
* :func:`alignment` and :func:`uniformity`: Wang & Isola's (2020) two measures of what a
  contrastive loss does to embeddings on the unit sphere.

Bad input raises ``ValueError`` with a message that says what was wrong: a temperature that is
not a finite positive number, mismatched shapes, an empty batch, a batch too small to hold a
negative (InfoNCE and NT-Xent need at least two candidates), or a zero embedding where a
cosine is needed (the zero-vector policy of :mod:`embedlab.similarity`). The temperature may
be a learnable 0-d tensor (:func:`embedlab.probability.check_temperature`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from embedlab import _checks
from embedlab._checks import ArgumentError
from embedlab._rows import unit_rows
from embedlab.probability import check_temperature

__all__ = [
    "margin_contrastive_loss",
    "triplet_loss",
    "info_nce",
    "nt_xent",
    "alignment",
    "uniformity",
    "similarity_logits",
]

Reduction = Literal["mean", "sum", "none"]


# -- input checks ---------------------------------------------------------------------------------
def _matrix(x: torch.Tensor, name: str) -> torch.Tensor:
    """x as a floating (B, d) tensor with B, d >= 1 (dtype and device kept; bool refused)."""
    x = _checks.tensor(x, name, empty=True)
    if x.ndim != 2:
        raise ArgumentError(f"{name} must have shape (B, d), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ArgumentError(f"{name} is an empty batch (shape {tuple(x.shape)})")
    if x.shape[1] == 0:
        raise ArgumentError(f"{name} has an empty embedding dimension (shape {tuple(x.shape)})")
    return x


def _unit(x: torch.Tensor, name: str) -> torch.Tensor:
    """Rows scaled to unit length, x: (B, d) -> (B, d) in x's dtype; a zero row raises, naming ``name``.

    The package's one zero-vector policy (:func:`embedlab._rows.unit_rows`): a zero embedding has
    no direction, so its cosine with anything is undefined. ``F.normalize`` would quietly keep it
    at zero, and then ``uniformity`` of an all-zero batch reads as perfectly uniform and the
    gradient of InfoNCE at a zero query is about 1e12. NaN or ±inf rows are refused too.
    """
    return unit_rows(x, zero="raise", name=name).to(x.dtype)


def _same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape (B, d), got {tuple(a.shape)} and {tuple(b.shape)}")


def _margin(m: float) -> float:
    return _checks.number(m, "margin", low=0)


def _reduce(per_row: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "mean":
        return per_row.mean()
    if reduction == "sum":
        return per_row.sum()
    if reduction == "none":
        return per_row
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# -- pairwise and triplet losses (distances) ------------------------------------------------------
def margin_contrastive_loss(
    x1: torch.Tensor,
    x2: torch.Tensor,
    similar: torch.Tensor,
    *,
    margin: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Pairwise margin ("contrastive") loss of Hadsell, Chopra & LeCun (2006).

    x1: (B, d), x2: (B, d), similar: (B,) bool or 0/1  ->  scalar (or (B,) with ``"none"``)

    With ``D = ‖x1 − x2‖``, a similar pair costs ``D² / 2`` and a dissimilar pair costs
    ``max(0, margin − D)² / 2``: dissimilar pairs stop mattering once they are ``margin`` apart,
    which is what keeps the loss from pushing everything to infinity.
    """
    x1, x2 = _matrix(x1, "x1"), _matrix(x2, "x2")
    _same_shape(x1, x2, "x1 and x2")
    m = _margin(margin)
    similar = torch.as_tensor(similar, device=x1.device)
    if similar.shape != (x1.shape[0],):
        raise ValueError(f"similar must have shape ({x1.shape[0]},) to match the batch, got {tuple(similar.shape)}")
    if similar.dtype != torch.bool and not bool(((similar == 0) | (similar == 1)).all()):
        raise ValueError("similar must hold booleans or 0/1 labels")
    y = similar.to(x1.dtype)
    dist = torch.linalg.vector_norm(x1 - x2, dim=-1)  # (B,)
    per_pair = 0.5 * (y * dist.pow(2) + (1 - y) * F.relu(m - dist).pow(2))
    return _reduce(per_pair, reduction)


def triplet_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    *,
    margin: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Triplet loss: ``max(0, ‖a − p‖ − ‖a − n‖ + margin)`` (Weinberger & Saul; Schroff et al.).

    anchor, positive, negative: (B, d)  ->  scalar (or (B,) with ``"none"``)

    Equals ``F.triplet_margin_loss(a, p, n, margin=margin, eps=0)``; PyTorch's default adds
    ``eps=1e-6`` inside the norm, which moves the value by about ``1e-6``.
    """
    a, p, n = _matrix(anchor, "anchor"), _matrix(positive, "positive"), _matrix(negative, "negative")
    _same_shape(a, p, "anchor and positive")
    _same_shape(a, n, "anchor and negative")
    m = _margin(margin)
    d_ap = torch.linalg.vector_norm(a - p, dim=-1)  # (B,)
    d_an = torch.linalg.vector_norm(a - n, dim=-1)  # (B,)
    return _reduce(F.relu(d_ap - d_an + m), reduction)


# -- softmax losses (similarities) ----------------------------------------------------------------
def similarity_logits(query: torch.Tensor, keys: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """Cosine similarities divided by the temperature: the logits of InfoNCE.

    query: (B, d), keys: (N, d)  ->  (B, N). ``temperature`` is a number or a 0-d tensor; one that
    requires a gradient (a learned temperature, as in CLIP) receives it.
    """
    q, k = _matrix(query, "query"), _matrix(keys, "keys")
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"query and keys must have the same dimension d, got {q.shape[1]} and {k.shape[1]}")
    t = check_temperature(temperature)
    return _unit(q, "query") @ _unit(k, "keys").T / t  # (B, N)


def info_nce(
    query: torch.Tensor,
    keys: torch.Tensor,
    temperature: float | torch.Tensor = 0.1,
    *,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """InfoNCE (van den Oord et al., 2018) with the cosine / temperature score of Wu et al. (2018) and SimCLR.

    query: (B, d), keys: (N, d) with N ≥ B  ->  scalar (or (B,) with ``"none"``)

    ``keys[i]`` is the positive of ``query[i]``; every other key (the other positives and the
    extra rows ``keys[B:]``, if any) is a negative. With ``s_ij = cos(q_i, k_j) / temperature``::

        loss_i = −log( exp(s_ii) / Σ_j exp(s_ij) ) = logsumexp_j(s_ij) − s_ii

    which is ``F.cross_entropy(s, arange(B))``: a softmax classifier whose classes are the keys
    in the batch. Minimising it maximises a lower bound on mutual information,
    ``I ≥ log N − loss``.
    """
    logits = similarity_logits(query, keys, temperature)  # (B, N)
    B, N = logits.shape
    if N < 2:
        raise ValueError("InfoNCE needs at least 2 keys (one positive and one negative); got a batch of 1")
    if N < B:
        raise ValueError(f"keys must hold a positive for every query: need N >= B, got N={N}, B={B}")
    idx = torch.arange(B, device=logits.device)
    per_query = torch.logsumexp(logits, dim=-1) - logits[idx, idx]  # (B,)
    return _reduce(per_query, reduction)


def nt_xent(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float | torch.Tensor = 0.5,
    *,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy (Chen et al., 2020).

    z1, z2: (B, d), two views of the same B examples  ->  scalar (or (2B,) with ``"none"``)

    Stack the views into ``z: (2B, d)``. View ``i`` must pick its partner (``i ± B``) out of the
    other ``2B − 1`` views; it is never compared with itself. So it is :func:`info_nce` with every
    view as a query and all other views as candidates; the loss at chance is ``log(2B − 1)``.
    """
    z1, z2 = _matrix(z1, "z1"), _matrix(z2, "z2")
    _same_shape(z1, z2, "z1 and z2")
    B = z1.shape[0]
    if B < 2:
        raise ValueError("NT-Xent needs a batch of at least 2 pairs, so that every view has a negative; got 1")
    u = torch.cat([_unit(z1, "z1"), _unit(z2, "z2")], dim=0)  # (2B, d) unit vectors
    logits = u @ u.T / check_temperature(temperature)  # (2B, 2B): cosines / temperature
    # A view is not a candidate for itself: -inf removes it from the softmax's denominator.
    self_mask = torch.eye(2 * B, dtype=torch.bool, device=u.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    idx = torch.arange(2 * B, device=u.device)
    partner = (idx + B) % (2 * B)
    per_view = torch.logsumexp(logits, dim=-1) - logits[idx, partner]  # (2B,)
    return _reduce(per_view, reduction)


# -- geometry on the sphere (Wang & Isola, 2020) --------------------------------------------------
def alignment(z1: torch.Tensor, z2: torch.Tensor, *, alpha: float = 2.0) -> torch.Tensor:
    """Alignment: ``E ‖f(x) − f(y)‖^alpha`` over positive pairs, on unit vectors. Lower is better.

    z1, z2: (B, d), row i of each is a positive pair  ->  scalar in [0, 2^alpha]
    """
    z1, z2 = _matrix(z1, "z1"), _matrix(z2, "z2")
    _same_shape(z1, z2, "z1 and z2")
    alpha = _checks.number(alpha, "alpha", low=0, low_open=True)
    diff = _unit(z1, "z1") - _unit(z2, "z2")  # (B, d)
    return torch.linalg.vector_norm(diff, dim=-1).pow(alpha).mean()


def uniformity(z: torch.Tensor, *, t: float = 2.0) -> torch.Tensor:
    """Uniformity: ``log E exp(−t ‖f(x) − f(y)‖²)`` over distinct pairs, on unit vectors.

    z: (B, d) with B ≥ 2  ->  scalar ≤ 0. Lower means more spread out over the sphere; all
    points equal gives 0, and as d grows the uniform distribution approaches ``−2t``.
    """
    z = _matrix(z, "z")
    if z.shape[0] < 2:
        raise ValueError("uniformity needs at least 2 points (it averages over distinct pairs); got 1")
    t = _checks.number(t, "t", low=0, low_open=True)
    u = _unit(z, "z")  # (B, d)
    # For unit vectors ‖a − b‖² = 2 − 2 a·b (chapter 2); take each unordered pair once.
    i, j = torch.triu_indices(u.shape[0], u.shape[0], offset=1, device=u.device)
    sq = (2 - 2 * (u @ u.T)[i, j]).clamp_min(0)  # (B(B-1)/2,)
    return torch.logsumexp(-t * sq, dim=0) - math.log(sq.numel())
