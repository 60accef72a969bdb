"""Mutation tests of the exercises' hidden cases (issue 23, "grading an instructor can trust").

For every automatically checked exercise, a table of plausible *wrong* solutions (mutants), each
breaking one rule that the exercise's text states (named in the comment above it), and of honest
but unusual *right* ones (another algorithm, NumPy instead of torch, loops). A check is trusted
when every mutant fails it and every honest variant passes it: hidden cases that let a mutant
through do not test the rule it breaks. A new exercise without at least two mutants fails
:func:`test_every_exercise_has_mutants`. Plain functions, no notebook is run.
"""

from __future__ import annotations

import heapq
import importlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from embedlab.exercises import _load, check, list_exercises

# --------------------------------------------------------------------------- ch01


def _lookup_index(ids, weight):
    # breaks "a one-hot matrix product rather than weight[ids]": plain indexing
    return weight[ids]


def _lookup_flat(ids, weight):
    # breaks "returns shape (..., d)": the ids are flattened and the batch shape is lost
    oh = F.one_hot(ids.reshape(-1), num_classes=weight.shape[0]).to(weight.dtype)
    return oh @ weight


def _lookup_max_id(ids, weight):
    # breaks "a table of shape (V, d)": one_hot without num_classes has max(ids) + 1 columns, not V
    return F.one_hot(ids).to(weight.dtype) @ weight


def _lookup_detached(ids, weight):
    # breaks "a one-hot product" of weight itself: computed in NumPy, outside autograd
    w = weight.detach().numpy()
    return torch.from_numpy(np.eye(w.shape[0])[ids.numpy()] @ w)


def _lookup_eye(ids, weight):  # honest: rows of an identity matrix are the one-hot vectors
    return torch.eye(weight.shape[0], dtype=weight.dtype)[ids] @ weight


def _lookup_compare(ids, weight):  # honest: one-hot by comparison, product by einsum
    oh = (ids[..., None] == torch.arange(weight.shape[0])).to(weight.dtype)
    return torch.einsum("...v,vd->...d", oh, weight)


def _count_no_minlength(ids, vocab_size):
    # breaks "a tensor of length vocab_size (0 for rows that are not used)": bincount without minlength
    return torch.bincount(ids.reshape(-1))


def _count_presence(ids, vocab_size):
    # breaks "how many positions": says whether a row is used, not how many times
    out = torch.zeros(vocab_size, dtype=torch.int64)
    out[ids.reshape(-1)] = 1
    return out


def _count_per_sequence(ids, vocab_size):
    # breaks "positions of the batch": counts a row once per sequence it appears in
    rows = ids.reshape(-1, ids.shape[-1])
    return sum(torch.bincount(r.unique(), minlength=vocab_size) for r in rows)


def _count_index_add(ids, vocab_size):  # honest: scatter-add of ones
    flat = ids.reshape(-1)
    return torch.zeros(vocab_size, dtype=torch.int64).index_add_(0, flat, torch.ones_like(flat))


def _count_loop(ids, vocab_size):  # honest: a Python loop
    out = [0] * vocab_size
    for i in ids.reshape(-1).tolist():
        out[i] += 1
    return torch.tensor(out)


def _params_no_bias(vocab_size, dim, *, tied):
    # breaks "an output layer ... with a bias"
    return vocab_size * dim * (1 if tied else 2)


def _params_tied_drops_bias(vocab_size, dim, *, tied):
    # breaks "tied ... but keeps its own bias"
    return vocab_size * dim if tied else 2 * vocab_size * dim + vocab_size


def _params_bias_of_d(vocab_size, dim, *, tied):
    # breaks "maps a d-dimensional state to V scores, with a bias": a bias of size d
    return vocab_size * dim * (1 if tied else 2) + dim


def _params_factored(vocab_size, dim, *, tied):  # honest: one expression
    return vocab_size * (dim * (1 + (not tied)) + 1)


# --------------------------------------------------------------------------- ch02


def _cos_dot(a, b):
    # breaks "cosine": the plain dot product
    return float(a @ b)


def _cos_squared_norms(a, b):
    # breaks "cosine": divides by the squared lengths
    return float(a @ b / ((a @ a) * (b @ b)))


def _cos_one_norm(a, b):
    # breaks "cosine": normalises only a
    return float(a @ b / a.norm())


def _cos_distance(a, b):
    # breaks "cosine similarity": returns the cosine distance
    return float(1 - a @ b / (a.norm() * b.norm()))


def _cos_tensor(a, b):
    # breaks "returns their cosine similarity as a Python float": a 0-d tensor
    return a @ b / (a.norm() * b.norm())


def _cos_numpy(a, b):  # honest: NumPy, and the zero check
    x, y = a.numpy(), b.numpy()
    na, nb = np.sqrt(np.sum(x * x)), np.sqrt(np.sum(y * y))
    if na == 0 or nb == 0:
        raise ValueError("zero vector")
    return float(np.dot(x, y) / na / nb)


def _cos_loop(a, b):  # honest: a loop over the coordinates
    dot = sa = sb = 0.0
    for x, y in zip(a.tolist(), b.tolist()):
        dot, sa, sb = dot + x * y, sa + x * x, sb + y * y
    if not sa or not sb:
        raise ValueError("zero vector")
    return dot / math.sqrt(sa * sb)


def _zero_only_a(a, b):
    # breaks "raises ValueError when either vector is zero": checks a only
    if a.norm() == 0:
        raise ValueError("a is zero")
    return float(a @ b / (a.norm() * b.norm()))


def _zero_only_b(a, b):
    # breaks "when either vector is zero": checks b only
    if b.norm() == 0:
        raise ValueError("b is zero")
    return float(a @ b / (a.norm() * b.norm()))


def _zero_returns_0(a, b):
    # breaks "raises ValueError (instead of ... 0)": returns 0 like F.cosine_similarity
    return float(F.cosine_similarity(a, b, dim=0))


def _zero_wrong_error(a, b):
    # breaks "raises ValueError": raises ZeroDivisionError
    na, nb = float(a.norm()), float(b.norm())
    return float(a @ b) / (na * nb)


def _zero_any(a, b):  # honest: any nonzero entry
    if not bool(a.any()) or not bool(b.any()):
        raise ValueError("zero vector")
    return float(a @ b / (a.norm() * b.norm()))


def _kocc_self(X, k):
    # breaks "a point is not its own neighbour": the diagonal is left in
    idx = torch.topk(torch.cdist(X, X), k, dim=1, largest=False).indices
    return torch.bincount(idx.reshape(-1), minlength=len(X))


def _kocc_out_degree(X, k):
    # breaks "how many times each point appears among the neighbours of the others": counts its own list
    return torch.full((len(X),), k)


def _kocc_farthest(X, k):
    # breaks "the k nearest": the k farthest
    D = torch.cdist(X, X)
    D.fill_diagonal_(-float("inf"))
    idx = torch.topk(D, k, dim=1).indices
    return torch.bincount(idx.reshape(-1), minlength=len(X))


def _kocc_cosine(X, k):
    # breaks "Euclidean": cosine neighbours of unnormalised points
    S = F.normalize(X, dim=1) @ F.normalize(X, dim=1).T
    S.fill_diagonal_(-float("inf"))
    idx = torch.topk(S, k, dim=1).indices
    return torch.bincount(idx.reshape(-1), minlength=len(X))


def _kocc_k_minus_one(X, k):
    # breaks "the k nearest": takes k (self included) and drops self, so k - 1 others
    idx = torch.topk(torch.cdist(X, X), k, dim=1, largest=False).indices[:, 1:]
    return torch.bincount(idx.reshape(-1), minlength=len(X))


def _kocc_numpy(X, k):  # honest: squared distances and argsort in NumPy
    x = X.numpy()
    D = (x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * x @ x.T
    np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.bincount(idx.ravel(), minlength=len(x))


# --------------------------------------------------------------------------- ch03


def _pmi_log2(C):
    # breaks the chapter's PMI, a natural log: log base 2
    C = np.asarray(C, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log2(C * C.sum() / (C.sum(1, keepdims=True) * C.sum(0, keepdims=True)))


def _pmi_zero_not_inf(C):
    # breaks "-inf where the count is 0": 0 there instead
    C = np.asarray(C, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = np.log(C * C.sum() / (C.sum(1, keepdims=True) * C.sum(0, keepdims=True)))
    return np.where(C > 0, out, 0.0)


def _pmi_col_sums_twice(C):
    # breaks "P(w) from the rows, P(c) from the columns": the column sums for both
    C = np.asarray(C, dtype=np.float64)
    col = C.sum(0)
    with np.errstate(divide="ignore"):
        return np.log(C * C.sum() / (col[:, None] * col[None, :]))


def _pmi_no_total(C):
    # breaks "P = count / total": the total is forgotten
    C = np.asarray(C, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(C / (C.sum(1, keepdims=True) * C.sum(0, keepdims=True)))


def _pmi_positive(C):
    # breaks "the PMI matrix": clips it at 0 (PPMI) where the count is positive
    C = np.asarray(C, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = np.log(C * C.sum() / (C.sum(1, keepdims=True) * C.sum(0, keepdims=True)))
    return np.where(C > 0, np.maximum(out, 0.0), -np.inf)


def _pmi_swapped(C):
    # breaks "P(w) from the rows, P(c) from the columns": the two marginals swapped
    C = np.asarray(C, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(C * C.sum() / (C.sum(0)[:, None] * C.sum(1)[None, :]))


def _pmi_add_one(C):
    # breaks "-inf where the count is 0": add-one smoothing of every count
    C = np.asarray(C, dtype=np.float64) + 1
    return np.log(C * C.sum() / (C.sum(1, keepdims=True) * C.sum(0, keepdims=True)))


def _pmi_loop(C):  # honest: a loop with math.log
    C = np.asarray(C, dtype=np.float64)
    n, rows, cols = C.sum(), C.sum(1), C.sum(0)
    out = np.empty_like(C)
    for i in range(C.shape[0]):
        for j in range(C.shape[1]):
            out[i, j] = math.log(C[i, j] * n / (rows[i] * cols[j])) if C[i, j] > 0 else -math.inf
    return out


def _pmi_torch(C):  # honest: torch, as log P(w,c) - log P(w) - log P(c)
    t = torch.as_tensor(np.asarray(C, dtype=np.float64))
    p = t / t.sum()
    return (p.log() - p.sum(1, keepdim=True).log() - p.sum(0, keepdim=True).log()).numpy()


def _sgns_ascent(x, c, negs):
    # breaks "the loss's gradients": returns their negatives
    pull, push = torch.sigmoid(-(x @ c)), torch.sigmoid(negs @ x)
    return pull * c - push @ negs, pull * x, -push[:, None] * x[None, :]


def _sgns_push_sign(x, c, negs):
    # breaks "-log σ(-x·n_j)": the negatives' sigmoid taken with the wrong sign
    pull, push = torch.sigmoid(-(x @ c)), torch.sigmoid(-(negs @ x))
    return -pull * c + push @ negs, -pull * x, push[:, None] * x[None, :]


def _sgns_negs_times_negs(x, c, negs):
    # breaks "d(x·n_j)/dn_j = x": scales each negative by itself
    pull, push = torch.sigmoid(-(x @ c)), torch.sigmoid(negs @ x)
    return -pull * c + push @ negs, -pull * x, push[:, None] * negs


def _sgns_x_without_negs(x, c, negs):
    # breaks "the sum over the negatives" in g_x: only the true pair moves x
    pull, push = torch.sigmoid(-(x @ c)), torch.sigmoid(negs @ x)
    return -pull * c, -pull * x, push[:, None] * x[None, :]


def _sgns_c_sign(x, c, negs):
    # breaks "the loss's gradients" for c alone: g_c with the wrong sign
    pull, push = torch.sigmoid(-(x @ c)), torch.sigmoid(negs @ x)
    return -pull * c + push @ negs, pull * x, push[:, None] * x[None, :]


def _sgns_loop(x, c, negs):  # honest: scalar formulas in a loop over the negatives
    g_x = -(1 - torch.sigmoid(x @ c)) * c
    g_c = -(1 - torch.sigmoid(x @ c)) * x
    rows = []
    for n in negs:
        s = torch.sigmoid(x @ n)
        g_x = g_x + s * n
        rows.append(s * x)
    return g_x, g_c, torch.stack(rows)


# --------------------------------------------------------------------------- ch04


def _nce_unnormalised(query, keys, temperature):
    # breaks "cosine similarity (normalise the rows first)"
    return F.cross_entropy(query @ keys.T / temperature, torch.arange(len(query)))


def _nce_square(query, keys, temperature):
    # breaks "every other key is a negative" with N > B: drops the extra keys
    q, k = F.normalize(query, dim=1), F.normalize(keys[: len(query)], dim=1)
    return F.cross_entropy(q @ k.T / temperature, torch.arange(len(query)))


def _nce_sum(query, keys, temperature):
    # breaks "the mean loss over the queries": the sum
    q, k = F.normalize(query, dim=1), F.normalize(keys, dim=1)
    return F.cross_entropy(q @ k.T / temperature, torch.arange(len(query)), reduction="sum")


def _nce_times_t(query, keys, temperature):
    # breaks "divided by the temperature": multiplied
    q, k = F.normalize(query, dim=1), F.normalize(keys, dim=1)
    return F.cross_entropy(q @ k.T * temperature, torch.arange(len(query)))


def _nce_wrong_target(query, keys, temperature):
    # breaks "keys[i] is the positive of query[i]": the positive is the last key
    q, k = F.normalize(query, dim=1), F.normalize(keys, dim=1)
    return F.cross_entropy(q @ k.T / temperature, torch.full((len(query),), len(keys) - 1))


def _nce_wrong_axis(query, keys, temperature):
    # breaks "normalise the rows": normalises the columns
    q, k = F.normalize(query, dim=0), F.normalize(keys, dim=0)
    return F.cross_entropy(q @ k.T / temperature, torch.arange(len(query)))


def _nce_logsumexp(query, keys, temperature):  # honest: log-sum-exp by hand, diagonal by gather
    q = query / query.pow(2).sum(1, keepdim=True).sqrt()
    k = keys / keys.pow(2).sum(1, keepdim=True).sqrt()
    s = q @ k.T / temperature
    pos = s[torch.arange(len(q)), torch.arange(len(q))]
    return (torch.logsumexp(s, dim=1) - pos).mean()


def _unif_with_diagonal(z, t=2.0):
    # breaks "pairs i < j (each pair of different points once)": the B*B pairs, i == j included
    u = F.normalize(z, dim=1)
    return torch.log(torch.exp(-t * torch.cdist(u, u) ** 2).mean())


def _unif_unnormalised(z, t=2.0):
    # breaks "normalises the rows"
    return torch.log(torch.exp(-t * torch.pdist(z) ** 2).mean())


def _unif_mean_of_log(z, t=2.0):
    # breaks "log of the mean": the mean of the logs
    return (-t * torch.pdist(F.normalize(z, dim=1)) ** 2).mean()


def _unif_not_squared(z, t=2.0):
    # breaks "the squared distance": the distance
    return torch.log(torch.exp(-t * torch.pdist(F.normalize(z, dim=1))).mean())


def _unif_fixed_t(z, t=2.0):
    # breaks "t": always 2
    return torch.log(torch.exp(-2.0 * torch.pdist(F.normalize(z, dim=1)) ** 2).mean())


def _unif_both_orders(z, t=2.0):  # honest: every ordered pair i != j (a symmetric sum: the same mean)
    u = F.normalize(z, dim=1)
    off = ~torch.eye(len(u), dtype=torch.bool)
    return torch.log(torch.exp(-t * torch.cdist(u, u)[off] ** 2).mean())


def _unif_pdist(z, t=2.0):  # honest: torch.pdist lists each pair i < j once
    return torch.pdist(F.normalize(z, dim=1)).pow(2).mul(-t).exp().mean().log()


def _unif_loop(z, t=2.0):  # honest: a double loop in NumPy
    u = z.double().numpy()
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    vals = [math.exp(-t * float(((u[i] - u[j]) ** 2).sum())) for i in range(len(u)) for j in range(i + 1, len(u))]
    return torch.tensor(math.log(sum(vals) / len(vals)), dtype=z.dtype)


# --------------------------------------------------------------------------- ch05


def _causal(q, k, v, *, scale=None, diagonal=1, dim=-1, flip=False, mask=True):
    T = q.shape[-2]
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1] if scale is None else scale)
    future = torch.ones(T, T, dtype=torch.bool).triu(diagonal)
    if flip:
        future = future.T
    if mask:
        s = s.masked_fill(future, float("-inf"))
    return torch.softmax(s, dim=dim) @ v


def _attn_no_scale(q, k, v):
    # breaks "scaled dot-product": no division by sqrt(d)
    return _causal(q, k, v, scale=1.0)


def _attn_scale_dv(q, k, v):
    # breaks "scaled by sqrt(d)": divides by sqrt(dv), the values' width
    return _causal(q, k, v, scale=v.shape[-1])


def _attn_strict(q, k, v):
    # breaks "j <= i": masks the diagonal too (j < i)
    return _causal(q, k, v, diagonal=0)


def _attn_future(q, k, v):
    # breaks "only to positions j <= i": attends to j >= i instead
    return _causal(q, k, v, flip=True)


def _attn_softmax_queries(q, k, v):
    # breaks "a softmax over the keys": over the queries (dim -2)
    return _causal(q, k, v, dim=-2)


def _attn_no_mask(q, k, v):
    # breaks "position i attends only to positions j <= i": no mask
    return _causal(q, k, v, mask=False)


def _attn_mask_after_softmax(q, k, v):
    # breaks "a softmax over the positions j <= i": zeroes the future after the softmax, not renormalised
    T = q.shape[-2]
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return (w * torch.ones(T, T, dtype=q.dtype).tril()) @ v


def _attn_loop(q, k, v):  # honest: one query position at a time, over its prefix
    out = []
    for i in range(q.shape[-2]):
        s = (q[..., i : i + 1, :] @ k[..., : i + 1, :].transpose(-2, -1)) / q.shape[-1] ** 0.5
        out.append(torch.softmax(s, dim=-1) @ v[..., : i + 1, :])
    return torch.cat(out, dim=-2)


def _attn_additive(q, k, v):  # honest: an additive -inf mask built with torch.full(...).triu
    T = q.shape[-2]
    bias = torch.full((T, T), float("-inf"), dtype=q.dtype).triu(1)
    return torch.softmax(torch.einsum("...id,...jd->...ij", q, k) / math.sqrt(q.shape[-1]) + bias, -1) @ v


def _pad_inverted(lengths, S):
    # breaks "True where a key is real": True on the padding
    return (torch.arange(S)[None, :] >= lengths[:, None])[:, None, None, :]


def _pad_off_by_one(lengths, S):
    # breaks "real positions j < length": j <= length
    return (torch.arange(S)[None, :] <= lengths[:, None])[:, None, None, :]


def _pad_flat(lengths, S):
    # breaks "shape (B, 1, 1, S)": (B, S)
    return torch.arange(S)[None, :] < lengths[:, None]


def _pad_int(lengths, S):
    # breaks "a boolean mask": 0/1 integers
    return (torch.arange(S)[None, :] < lengths[:, None]).long()[:, None, None, :]


def _pad_wrong_axis(lengths, S):
    # breaks "broadcasts over heads and queries": shape (B, 1, S, 1), a mask over the queries
    return (torch.arange(S)[None, :] < lengths[:, None])[:, None, :, None]


def _pad_loop(lengths, S):  # honest: rows built one by one
    rows = [[j < int(n) for j in range(S)] for n in lengths]
    return torch.tensor(rows, dtype=torch.bool).view(len(rows), 1, 1, S)


# --------------------------------------------------------------------------- ch06


def _topk_smallest(logits, k):
    # breaks "keeps the k largest": keeps the k smallest
    kth = torch.topk(logits, k, dim=-1, largest=False).values[..., -1:]
    return logits.masked_fill(logits > kth, float("-inf"))


def _topk_zero(logits, k):
    # breaks "sets the others to -inf": sets them to 0
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, 0.0)


def _topk_strict(logits, k):
    # breaks "the k largest": keeps only entries above the k-th (k - 1 of them)
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits <= kth, float("-inf"))


def _topk_global(logits, k):
    # breaks "each row ... along the last axis": the k largest of the whole tensor
    kth = torch.topk(logits.reshape(-1), k).values[-1]
    return logits.masked_fill(logits < kth, float("-inf"))


def _topk_first_axis(logits, k):
    # breaks "filter along the last axis": filters along the first
    k0 = min(k, logits.shape[0])
    kth = torch.topk(logits, k0, dim=0).values[-1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def _topk_k_plus_one(logits, k):
    # breaks "the k largest": keeps k + 1
    kth = torch.topk(logits, min(k + 1, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def _topk_scatter(logits, k):  # honest: scatter the top-k values into a tensor of -inf
    top = torch.topk(logits, k, dim=-1)
    return torch.full_like(logits, float("-inf")).scatter(-1, top.indices, top.values)


def _topk_sort(logits, k):  # honest: a threshold from a descending sort
    kth = logits.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return torch.where(logits >= kth, logits, torch.tensor(float("-inf")))


# --------------------------------------------------------------------------- ch07


def _ece(probs, labels, n_bins, *, bins=None, weighted=True, signed=False, true_label=False):
    if true_label:
        conf = probs[torch.arange(len(labels)), labels]
        correct = (probs.argmax(1) == labels).double()
    else:
        conf, pred = probs.max(1)
        correct = (pred == labels).double()
    ids = torch.clamp((conf * n_bins).long(), max=n_bins - 1) if bins is None else bins(conf, n_bins)
    gaps, sizes = [], []
    for b in range(n_bins):
        m = ids == b
        if m.any():
            gap = correct[m].mean() - conf[m].mean()
            gaps.append(gap if signed else gap.abs())
            sizes.append(m.double().mean())
    if not weighted:
        return float(sum(gaps) / len(gaps))
    return float(sum(s * g for s, g in zip(sizes, gaps)))


def _ece_edges_below(probs, labels, n_bins):
    # breaks "a confidence on an inner edge goes to the bin above": it goes to the bin below
    return _ece(probs, labels, n_bins, bins=lambda c, B: (torch.ceil(c * B).long() - 1).clamp(0, B - 1))


def _ece_drops_one(probs, labels, n_bins):
    # breaks "1.0 goes to the last bin": a confidence of 1.0 falls off the end and is dropped
    return _ece(probs, labels, n_bins, bins=lambda c, B: (c * B).long())


def _ece_one_apart(probs, labels, n_bins):
    # breaks "1.0 goes to the last bin": 1.0 gets a bin of its own (n_bins + 1 bins)
    return _ece(probs, labels, n_bins + 1, bins=lambda c, B: (c * (B - 1)).long())


def _ece_rounded(probs, labels, n_bins):
    # breaks "equal-width bins": bins by rounding, so each bin is centred on b/B
    return _ece(probs, labels, n_bins, bins=lambda c, B: torch.round(c * B).long().clamp(0, B - 1))


def _ece_unweighted(probs, labels, n_bins):
    # breaks the weights n_b / N: a plain mean over the non-empty bins
    return _ece(probs, labels, n_bins, weighted=False)


def _ece_signed(probs, labels, n_bins):
    # breaks the absolute gap |acc - conf|: signed gaps cancel
    return _ece(probs, labels, n_bins, signed=True)


def _ece_true_label(probs, labels, n_bins):
    # breaks "top-label": the confidence is the probability of the true label
    return _ece(probs, labels, n_bins, true_label=True)


def _ece_bucketize(probs, labels, n_bins):  # honest: torch.bucketize on the inner edges
    conf, pred = probs.max(1)
    inner = torch.arange(1, n_bins, dtype=conf.dtype) / n_bins
    ids = torch.bucketize(conf, inner, right=True)
    correct = (pred == labels).to(conf.dtype)
    acc = torch.zeros(n_bins, dtype=conf.dtype).index_add_(0, ids, correct)
    cnf = torch.zeros(n_bins, dtype=conf.dtype).index_add_(0, ids, conf)
    return float((acc - cnf).abs().sum() / len(conf))


def _ece_numpy(probs, labels, n_bins):  # honest: NumPy, np.digitize on linspace edges
    p, y = probs.numpy(), labels.numpy()
    conf, pred = p.max(1), p.argmax(1)
    ids = np.minimum(np.digitize(conf, np.linspace(0, 1, n_bins + 1)[1:-1]), n_bins - 1)
    total = 0.0
    for b in np.unique(ids):
        m = ids == b
        total += m.sum() / len(conf) * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return total


def _post_no_outer(a_inv, b, x, r):
    # breaks "A <- A + x xᵀ": u * u (elementwise) instead of the outer product u uᵀ
    u = a_inv @ x
    return a_inv - np.diag(u * u) / (1.0 + x @ u), b + r * x


def _post_no_reward(a_inv, b, x, r):
    # breaks "b <- b + r x": every observation counted as a click
    u = a_inv @ x
    return a_inv - np.outer(u, u) / (1.0 + x @ u), b + x


def _post_plus(a_inv, b, x, r):
    # breaks Sherman-Morrison's sign: adds the correction
    u = a_inv @ x
    return a_inv + np.outer(u, u) / (1.0 + x @ u), b + r * x


def _post_no_one(a_inv, b, x, r):
    # breaks Sherman-Morrison's denominator 1 + xᵀA⁻¹x: the 1 is forgotten
    u = a_inv @ x
    return a_inv - np.outer(u, u) / (x @ u), b + r * x


def _post_returns_a(a_inv, b, x, r):
    # breaks "returns the new A⁻¹": returns the new A
    return np.linalg.inv(a_inv) + np.outer(x, x), b + r * x


def _post_b_by_u(a_inv, b, x, r):
    # breaks "b <- b + r x": adds r A⁻¹x
    u = a_inv @ x
    return a_inv - np.outer(u, u) / (1.0 + x @ u), b + r * u


def _post_einsum(a_inv, b, x, r):  # honest: einsum, and the symmetric form A⁻¹x xᵀA⁻¹
    ax, xa = np.einsum("ij,j->i", a_inv, x), np.einsum("i,ij->j", x, a_inv)
    return a_inv - np.einsum("i,j->ij", ax, xa) / (1.0 + x @ ax), b + r * x


# --------------------------------------------------------------------------- ch08


def _log_joint(x, weights, means, variances):
    d2 = ((x[:, None, :] - means[None]) ** 2 / variances[None]).sum(-1)
    return torch.log(weights)[None] - 0.5 * (d2 + torch.log(2 * math.pi * variances).sum(-1)[None])


def _resp_naive(x, weights, means, variances):
    # breaks "in log space": exponentiates first, 0/0 far from every component
    p = torch.exp(_log_joint(x, weights, means, variances))
    return p / p.sum(1, keepdim=True)


def _resp_no_weights(x, weights, means, variances):
    # breaks "p(k | x) with the mixture weights": the weights are left out
    return torch.softmax(_log_joint(x, torch.ones_like(weights), means, variances), dim=1)


def _resp_std(x, weights, means, variances):
    # breaks "variances": divides the squared distance by the standard deviation
    return torch.softmax(_log_joint(x, weights, means, variances.sqrt()), dim=1)


def _resp_no_norm(x, weights, means, variances):
    # breaks "the log-density": drops the normalising term log(2π σ²)
    d2 = ((x[:, None, :] - means[None]) ** 2 / variances[None]).sum(-1)
    return torch.softmax(torch.log(weights)[None] - 0.5 * d2, dim=1)


def _resp_wrong_axis(x, weights, means, variances):
    # breaks "rows summing to 1": normalised over the points (dim 0)
    return torch.softmax(_log_joint(x, weights, means, variances), dim=0)


def _resp_half_norm(x, weights, means, variances):
    # breaks "the log-density -½ Σ [log(2π σ²) + ...]": the ½ only on the squared term
    d2 = ((x[:, None, :] - means[None]) ** 2 / variances[None]).sum(-1)
    return torch.softmax(torch.log(weights)[None] - 0.5 * d2 - torch.log(2 * math.pi * variances).sum(-1)[None], 1)


def _resp_distributions(x, weights, means, variances):  # honest: torch.distributions, one component at a time
    cols = [torch.distributions.Normal(means[k], variances[k].sqrt()).log_prob(x).sum(1) + weights[k].log()
            for k in range(len(weights))]
    shifted = torch.stack(cols, dim=1)
    shifted = (shifted - shifted.max(1, keepdim=True).values).exp()
    return shifted / shifted.sum(1, keepdim=True)


# --------------------------------------------------------------------------- ch09


def _dcg(ranked, rel, k=10, offset=2):
    return sum(1 / math.log2(r + offset) for r, item in enumerate(ranked[:k]) if item in rel)


def _ndcg_no_min(ranked, relevant):
    # breaks "the DCG of the best possible top 10": the ideal list is not cut at 10
    rel = set(relevant)
    return _dcg(ranked, rel) / sum(1 / math.log2(r + 2) for r in range(len(rel)))


def _ndcg_no_cut(ranked, relevant):
    # breaks "only the first 10 count": the whole list is scored
    rel = set(relevant)
    return _dcg(ranked, rel, k=len(ranked)) / sum(1 / math.log2(r + 2) for r in range(min(len(rel), 10)))


def _ndcg_discount_off(ranked, relevant):
    # breaks "1/log2(r + 1) for rank r = 1, 2, ...": 1/log2(r + 2)
    rel = set(relevant)
    return _dcg(ranked, rel, offset=3) / sum(1 / math.log2(r + 3) for r in range(min(len(rel), 10)))


def _ndcg_unnormalised(ranked, relevant):
    # breaks "divide by the DCG of the best possible top 10": the raw DCG
    return _dcg(ranked, set(relevant))


def _ndcg_ideal_from_list(ranked, relevant):
    # breaks "the best possible top 10": the ideal counts the hits in the list, not the relevant items
    rel = set(relevant)
    hits = sum(item in rel for item in ranked[:10])
    return _dcg(ranked, rel) / sum(1 / math.log2(r + 2) for r in range(hits)) if hits else 0.0


def _ndcg_first_undiscounted(ranked, relevant):
    # breaks "the discount 1/log2(r + 1)": the older DCG (rank 1 undiscounted, then 1/log2(r))
    rel = set(relevant)
    disc = [1.0] + [1 / math.log2(r) for r in range(2, 11)]
    dcg = sum(disc[r] for r, item in enumerate(ranked[:10]) if item in rel)
    return dcg / sum(disc[: min(len(rel), 10)])


def _ndcg_numpy(ranked, relevant):  # honest: vectorised, and natural logs (the base cancels)
    hits = np.isin(np.asarray(ranked[:10]), np.asarray(relevant)).astype(float)
    disc = 1 / np.log(np.arange(2, 12))
    return float((hits * disc[: len(hits)]).sum() / disc[: min(len(set(relevant)), 10)].sum())


# --------------------------------------------------------------------------- ch10


def _codes(x, planes, *, strict=True, little=True, shift=0):
    proj = np.asarray(x) @ np.asarray(planes).T
    bits = (proj > 0) if strict else (proj >= 0)
    powers = 2 ** (np.arange(bits.shape[1]) + shift)
    if not little:
        powers = powers[::-1]
    return (bits.astype(np.int64) * powers).sum(axis=1)


def _codes_ge(x, planes):
    # breaks "a dot product of exactly 0 gives 0": >= 0
    return _codes(x, planes, strict=False)


def _codes_big_endian(x, planes):
    # breaks "bit j counts 2**j": the first plane is the highest bit
    return _codes(x, planes, little=False)


def _codes_bits(x, planes):
    # breaks "an integer array of shape (n,)": the (n, b) bits
    return (np.asarray(x) @ np.asarray(planes).T > 0).astype(np.int64)


def _codes_shift(x, planes):
    # breaks "the code Σ_j bit_j 2^j" for j from 0: counts from 2**1
    return _codes(x, planes, shift=1)


def _codes_loop(x, planes):  # honest: Python integers, one bit at a time
    out = []
    for row in np.asarray(x):
        code = 0
        for j, p in enumerate(np.asarray(planes)):
            if float(row @ p) > 0:
                code |= 1 << j
        out.append(code)
    return np.array(out, dtype=np.int64)


# --------------------------------------------------------------------------- ch11


def _csls_rows_twice(S, k):
    # breaks "c_j the mean of key j's k largest similarities": the rows' best again
    S = np.asarray(S)
    r = np.sort(S, axis=1)[:, -k:].mean(axis=1)
    return 2 * S - r[:, None] - r[:, None]


def _csls_all_mean(S, k):
    # breaks "the k largest": the means over all entries
    S = np.asarray(S)
    return 2 * S - S.mean(1)[:, None] - S.mean(0)[None, :]


def _csls_smallest(S, k):
    # breaks "the k largest": the k smallest
    S = np.asarray(S)
    return 2 * S - np.sort(S, 1)[:, :k].mean(1)[:, None] - np.sort(S, 0)[:k, :].mean(0)[None, :]


def _csls_no_two(S, k):
    # breaks "2 S_ij": S_ij once
    S = np.asarray(S)
    return S - np.sort(S, 1)[:, -k:].mean(1)[:, None] - np.sort(S, 0)[-k:, :].mean(0)[None, :]


def _csls_k_plus_one(S, k):
    # breaks "the k largest": k + 1 of them (a self-match allowance the text does not ask for)
    S = np.asarray(S)
    j = min(k + 1, min(S.shape))
    return 2 * S - np.sort(S, 1)[:, -j:].mean(1)[:, None] - np.sort(S, 0)[-j:, :].mean(0)[None, :]


def _csls_cols_best_only(S, k):
    # breaks "c_j the mean of key j's k largest": only key j's single best
    S = np.asarray(S)
    return 2 * S - np.sort(S, 1)[:, -k:].mean(1)[:, None] - S.max(0)[None, :]


def _csls_partition(S, k):  # honest: np.partition and torch.topk
    S = np.asarray(S, dtype=np.float64)
    r = -np.partition(-S, k - 1, axis=1)[:, :k].mean(1)
    c = torch.topk(torch.from_numpy(S), k, dim=0).values.mean(0).numpy()
    return 2 * S - r[:, None] - c[None, :]


# --------------------------------------------------------------------------- ch12


def _merge_round_robin(scores, ids, k):
    # breaks "the overall top k": takes each shard's best in turn
    stacked = np.stack(ids, axis=2)  # (n_q, k_s, shards)
    return stacked.reshape(stacked.shape[0], -1)[:, :k]


def _merge_positions(scores, ids, k):
    # breaks "the global ids": returns positions in the concatenation
    return np.argsort(-np.concatenate(scores, axis=1), axis=1, kind="stable")[:, :k]


def _merge_ascending(scores, ids, k):
    # breaks "best first": the k worst, ascending
    S, all_ids = np.concatenate(scores, axis=1), np.concatenate(ids, axis=1)
    return np.take_along_axis(all_ids, np.argsort(S, axis=1)[:, :k], axis=1)


def _merge_sorted_ids(scores, ids, k):
    # breaks "best first": the right ids, in increasing id order
    S, all_ids = np.concatenate(scores, axis=1), np.concatenate(ids, axis=1)
    return np.sort(np.take_along_axis(all_ids, np.argsort(-S, axis=1)[:, :k], axis=1), axis=1)


def _merge_first_shard_first(scores, ids, k):
    # breaks "the overall top k": concatenates and keeps the first k, unsorted
    return np.concatenate(ids, axis=1)[:, :k]


def _merge_heap(scores, ids, k):  # honest: heapq.nlargest over (score, id) pairs, row by row
    rows = []
    for q in range(len(scores[0])):
        pairs = [(float(s[q, j]), int(i[q, j])) for s, i in zip(scores, ids) for j in range(s.shape[1])]
        rows.append([i for _, i in heapq.nlargest(k, pairs, key=lambda p: p[0])])
    return np.array(rows)


# --------------------------------------------------------------------------- the tables

# ch09.ips: mean over all events of (target prob / propensity) * reward; an event the target never takes
# counts 0, whatever its stored propensity. The tests in test_ch09_checks.py say which case catches each.


def _ips_w(propensities, target_probs):
    p, t = np.asarray(propensities, dtype=float), np.asarray(target_probs, dtype=float)
    return np.divide(t, p, out=np.zeros_like(t), where=t > 0)


def _ips_snips(rewards, propensities, target_probs):  # divides by the sum of the weights (SNIPS)
    w = _ips_w(propensities, target_probs)
    with np.errstate(invalid="ignore"):
        return float((w * np.asarray(rewards)).sum() / w.sum())


def _ips_no_target(rewards, propensities, target_probs):  # forgets the target probability
    p, t = np.asarray(propensities, dtype=float), np.asarray(target_probs, dtype=float)
    return float(np.mean(np.where(t > 0, np.asarray(rewards) / np.where(p > 0, p, 1.0), 0.0)))


def _ips_times_p(rewards, propensities, target_probs):  # multiplies by the propensity
    return float(np.mean(np.asarray(target_probs) * np.asarray(propensities) * np.asarray(rewards)))


def _ips_matches_only(rewards, propensities, target_probs):  # averages over the matching events only
    w = _ips_w(propensities, target_probs)
    return float((w * np.asarray(rewards))[w > 0].mean()) if (w > 0).any() else 0.0


def _ips_unguarded(rewards, propensities, target_probs):  # 0/0 where the target never acts
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(np.asarray(target_probs) / np.asarray(propensities) * np.asarray(rewards)))


def _ips_loop(rewards, propensities, target_probs):  # honest: a loop that skips what the target never does
    total = 0.0
    for r, p, t in zip(rewards, propensities, target_probs):
        if t > 0:
            total += t / p * r
    return total / len(rewards)


# ch08.conformal_threshold: the ceil((n + 1)(1 - alpha))-th smallest score, +inf past n.


def _kth_smallest(scores, k):
    return float(np.partition(np.asarray(scores, dtype=float), k - 1)[k - 1]) if k <= len(scores) else math.inf


def _conf_no_plus_one(scores, alpha):  # n(1 - alpha): no finite-sample correction
    return _kth_smallest(scores, max(1, math.ceil(len(scores) * (1 - alpha))))


def _conf_floor(scores, alpha):  # rounds the rank down
    return _kth_smallest(scores, max(1, math.floor((len(scores) + 1) * (1 - alpha))))


def _conf_never_inf(scores, alpha):  # the largest score where the set must be everything
    return _kth_smallest(scores, min(len(scores), math.ceil((len(scores) + 1) * (1 - alpha))))


def _conf_interpolated(scores, alpha):  # an interpolated quantile
    return float(np.quantile(np.asarray(scores, dtype=float), 1 - alpha))


def _conf_loop(scores, alpha):  # honest: sort and count in plain Python
    ordered, rank = sorted(float(x) for x in scores), math.ceil((len(scores) + 1) * (1 - alpha))
    return ordered[rank - 1] if rank <= len(ordered) else math.inf


# ch13.log_q_loss: mean cross-entropy of [pos - log q_pos, neg - log q_neg] with the positive first.


def _logq_rows(pos_scores, neg_scores, pos_q, neg_q, pos_shift=-1.0, neg_shift=-1.0):
    pos = torch.as_tensor(np.asarray(pos_scores, dtype=float)) + pos_shift * torch.log(torch.as_tensor(
        np.asarray(pos_q, dtype=float)))
    neg = torch.as_tensor(np.asarray(neg_scores, dtype=float)) + neg_shift * torch.log(torch.as_tensor(
        np.asarray(neg_q, dtype=float)))
    return torch.cat([pos[:, None], neg], dim=1)


def _logq_none(pos_scores, neg_scores, pos_q, neg_q):  # no correction at all
    rows = _logq_rows(pos_scores, neg_scores, pos_q, neg_q, 0.0, 0.0)
    return float((torch.logsumexp(rows, 1) - rows[:, 0]).mean())


def _logq_added(pos_scores, neg_scores, pos_q, neg_q):  # adds log q instead of subtracting it
    rows = _logq_rows(pos_scores, neg_scores, pos_q, neg_q, 1.0, 1.0)
    return float((torch.logsumexp(rows, 1) - rows[:, 0]).mean())


def _logq_negatives_only(pos_scores, neg_scores, pos_q, neg_q):  # corrects the negatives only
    rows = _logq_rows(pos_scores, neg_scores, pos_q, neg_q, 0.0, -1.0)
    return float((torch.logsumexp(rows, 1) - rows[:, 0]).mean())


def _logq_summed(pos_scores, neg_scores, pos_q, neg_q):  # sums over the rows instead of averaging
    rows = _logq_rows(pos_scores, neg_scores, pos_q, neg_q)
    return float((torch.logsumexp(rows, 1) - rows[:, 0]).sum())


def _logq_cross_entropy(pos_scores, neg_scores, pos_q, neg_q):  # honest: F.cross_entropy with target 0
    rows = _logq_rows(pos_scores, neg_scores, pos_q, neg_q)
    return float(F.cross_entropy(rows, torch.zeros(len(rows), dtype=torch.long)))


MUTANTS = {
    "ch01.one_hot_lookup": [_lookup_index, _lookup_flat, _lookup_max_id, _lookup_detached],
    "ch01.row_grad_count": [_count_no_minlength, _count_presence, _count_per_sequence],
    "ch01.param_count": [_params_no_bias, _params_tied_drops_bias, _params_bias_of_d],
    "ch02.cosine": [_cos_dot, _cos_squared_norms, _cos_one_norm, _cos_distance, _cos_tensor],
    "ch02.cosine_zero": [_zero_only_a, _zero_only_b, _zero_returns_0, _zero_wrong_error],
    "ch02.k_occurrence": [_kocc_self, _kocc_out_degree, _kocc_farthest, _kocc_cosine, _kocc_k_minus_one],
    "ch03.pmi": [_pmi_log2, _pmi_zero_not_inf, _pmi_col_sums_twice, _pmi_no_total, _pmi_positive, _pmi_swapped,
                 _pmi_add_one],
    "ch03.sgns_pair_grad": [_sgns_ascent, _sgns_push_sign, _sgns_negs_times_negs, _sgns_x_without_negs, _sgns_c_sign],
    "ch04.info_nce": [_nce_unnormalised, _nce_square, _nce_sum, _nce_times_t, _nce_wrong_target, _nce_wrong_axis],
    "ch04.uniformity": [_unif_with_diagonal, _unif_unnormalised, _unif_mean_of_log, _unif_not_squared,
                        _unif_fixed_t],
    "ch05.causal_attention": [_attn_no_scale, _attn_scale_dv, _attn_strict, _attn_future, _attn_softmax_queries,
                              _attn_no_mask, _attn_mask_after_softmax],
    "ch05.padding_mask": [_pad_inverted, _pad_off_by_one, _pad_flat, _pad_int, _pad_wrong_axis],
    "ch06.top_k": [_topk_smallest, _topk_zero, _topk_strict, _topk_global, _topk_first_axis, _topk_k_plus_one],
    "ch07.ece": [_ece_edges_below, _ece_drops_one, _ece_one_apart, _ece_rounded, _ece_unweighted, _ece_signed,
                 _ece_true_label],
    "ch07.posterior_update": [_post_no_outer, _post_no_reward, _post_plus, _post_no_one, _post_returns_a, _post_b_by_u],
    "ch08.responsibilities": [_resp_naive, _resp_no_weights, _resp_std, _resp_no_norm, _resp_wrong_axis,
                              _resp_half_norm],
    "ch09.ndcg_at_10": [_ndcg_no_min, _ndcg_no_cut, _ndcg_discount_off, _ndcg_unnormalised, _ndcg_ideal_from_list,
                        _ndcg_first_undiscounted],
    "ch08.conformal_threshold": [_conf_no_plus_one, _conf_floor, _conf_never_inf, _conf_interpolated],
    "ch13.log_q_loss": [_logq_none, _logq_added, _logq_negatives_only, _logq_summed],
    "ch09.ips": [_ips_snips, _ips_no_target, _ips_times_p, _ips_matches_only, _ips_unguarded],
    "ch10.hyperplane_codes": [_codes_ge, _codes_big_endian, _codes_bits, _codes_shift],
    "ch11.csls": [_csls_rows_twice, _csls_all_mean, _csls_smallest, _csls_no_two, _csls_k_plus_one,
                  _csls_cols_best_only],
    "ch12.merge_shards": [_merge_round_robin, _merge_positions, _merge_ascending, _merge_sorted_ids,
                          _merge_first_shard_first],
}

HONEST = {
    "ch01.one_hot_lookup": [_lookup_eye, _lookup_compare],
    "ch01.row_grad_count": [_count_index_add, _count_loop],
    "ch01.param_count": [_params_factored],
    "ch02.cosine": [_cos_numpy, _cos_loop],
    "ch02.cosine_zero": [_cos_numpy, _zero_any],
    "ch02.k_occurrence": [_kocc_numpy],
    "ch03.pmi": [_pmi_loop, _pmi_torch],
    "ch03.sgns_pair_grad": [_sgns_loop],
    "ch04.info_nce": [_nce_logsumexp],
    "ch04.uniformity": [_unif_pdist, _unif_loop, _unif_both_orders],
    "ch05.causal_attention": [_attn_loop, _attn_additive],
    "ch05.padding_mask": [_pad_loop],
    "ch06.top_k": [_topk_scatter, _topk_sort],
    "ch07.ece": [_ece_bucketize, _ece_numpy],
    "ch07.posterior_update": [_post_einsum],
    "ch08.responsibilities": [_resp_distributions],
    "ch09.ndcg_at_10": [_ndcg_numpy],
    "ch08.conformal_threshold": [_conf_loop],
    "ch13.log_q_loss": [_logq_cross_entropy],
    "ch09.ips": [_ips_loop],
    "ch10.hyperplane_codes": [_codes_loop],
    "ch11.csls": [_csls_partition],
    "ch12.merge_shards": [_merge_heap],
}


def _pairs(table):
    return [pytest.param(eid, fn, id=f"{eid}-{fn.__name__.lstrip('_')}") for eid, fns in table.items() for fn in fns]


@pytest.mark.parametrize(("eid", "mutant"), _pairs(MUTANTS))
def test_every_mutant_fails(eid, mutant):
    res = check(eid, mutant, quiet=True)
    assert not res, f"{mutant.__name__} passes {eid}: its hidden cases miss the rule it breaks"


@pytest.mark.parametrize(("eid", "honest"), _pairs(HONEST))
def test_every_honest_variant_passes(eid, honest):
    res = check(eid, honest, quiet=True)
    assert res, res.message


def test_every_exercise_has_mutants_and_an_honest_variant():
    ids = list_exercises()
    assert sorted(MUTANTS) == ids and sorted(HONEST) == ids
    assert all(len(MUTANTS[e]) >= 2 for e in ids) and all(HONEST[e] for e in ids)


def test_every_forbidden_name_is_a_real_function():
    for eid in list_exercises():
        for name in _load(eid).forbids:
            module, _, attr = name.rpartition(".")
            assert callable(getattr(importlib.import_module(module), attr)), f"{eid}: {name}"
