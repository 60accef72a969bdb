"""Ranking items by score, and ranking metrics with their uncertainty (chapters 9 and 10).

Chapter 9 ranks all 1,682 MovieLens-100K items for each of 943 users, with each user's training
items excluded; chapter 10 ranks documents for queries. Both then ask how good the top of the
ranking is, and how sure that answer is:

* :func:`rank_items` returns each user's top ``k`` item ids, best first, never an excluded one.
* :func:`reciprocal_rank` is ``1 / rank`` of the first relevant item in the *full* ranking,
  found without sorting it: count the items that come before.
* :func:`recall_at_k`, :func:`precision_at_k`, :func:`ndcg_at_k`, :func:`hit_rate_at_k` are
  per-user metrics of a ranked list (binary relevance, trec_eval's definitions), and
  :func:`coverage` is the fraction of the catalogue that appears in anybody's top ``k``.
* :func:`evaluate` bundles everything into a :class:`RankingReport`.

**Ties.** Equal scores are ordered by the lower item id first. A tie rule has to be stated:
otherwise the order of equal (or, after float rounding, equal-looking) scores is whatever the
sort kernel did, and it differs between CPUs, NumPy versions and chunk sizes, so a chapter's
printed top-10 would not reproduce. trec_eval breaks ties by document name *descending*, which is
why the tests compare with it on tie-free scores and check our rule by hand.

**Scores** are ``(n_users, n_items)`` real numbers (NumPy, or a torch tensor, converted). NaN is
refused: it compares false with everything, so its rank would be an accident of the sort. ``-inf``
is a legitimate "never recommend" score and ``+inf`` an "always": both rank like any other value.

**Item sets** (``relevant``, ``exclude``): a scipy.sparse matrix whose nonzeros mark the items
(explicit zeros do not count), or a sequence of ``n_users`` integer arrays (a 1-D integer array
of length ``n_users`` means one item per user, as in leave-one-out). They are sets: a repeated id
counts once. A user without relevant items has no recall (0/0), so every metric refuses such users
rather than skip them silently; a relevant item that is also excluded (a test item among the
training items) is refused as leakage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from embedlab._checks import ArgumentError, integer
from embedlab.intervals import bootstrap_ci

__all__ = ["rank_items", "reciprocal_rank", "recall_at_k", "precision_at_k", "ndcg_at_k", "hit_rate_at_k",
           "coverage", "RankingReport", "evaluate"]


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()  # NumPy has no bfloat16
    return np.asarray(x)


_FLOAT_EXACT = 2**53  # every integer of magnitude up to this is a float64


def _scores(scores) -> np.ndarray:
    s = _to_numpy(scores)
    if s.dtype == bool or not (np.issubdtype(s.dtype, np.integer) or np.issubdtype(s.dtype, np.floating)):
        raise ArgumentError(f"scores must be real numbers, got dtype {s.dtype}")
    if s.ndim != 2 or 0 in s.shape:
        raise ArgumentError(f"scores must be an (n_users, n_items) array with both >= 1, got shape {s.shape}")
    if np.issubdtype(s.dtype, np.integer) and s.dtype.itemsize == 8 and (
        s.max() > _FLOAT_EXACT or s.min() < -_FLOAT_EXACT
    ):
        # 64-bit integers beyond 2**53 are not all floats: 2**53 and 2**53 + 1 would tie in float64.
        # Replace them by their rank among all the distinct scores: same order, same ties, and
        # small enough to be exact in float64 (a full-size copy, only for such scores).
        s = np.unique(s, return_inverse=True)[1].reshape(s.shape)
    return s  # converted to float64 chunk by chunk (exact for float32), so no full-size copy


@dataclass(frozen=True)
class _Sets:
    """Item sets, CSR layout: user ``u``'s items are ``indices[indptr[u]:indptr[u + 1]]``, sorted, unique."""

    indptr: np.ndarray
    indices: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.indptr)

    def mask(self, start: int, stop: int, n_items: int) -> np.ndarray:
        """(stop - start, n_items) bool: True where the item is in the user's set."""
        m = np.zeros((stop - start, n_items), dtype=bool)
        rows = np.repeat(np.arange(stop - start), self.sizes[start:stop])
        m[rows, self.indices[self.indptr[start] : self.indptr[stop]]] = True
        return m

    def keys(self, width: int) -> np.ndarray:
        """``user * width + item`` for every pair, ascending (users ascending, items sorted)."""
        return np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), self.sizes) * width + self.indices


def _item_sets(x, n_users: int, n_items: int | None, name: str) -> _Sets:
    if sp.issparse(x):
        if x.shape[0] != n_users or (n_items is not None and x.shape[1] != n_items):
            want = f"({n_users}, {n_items})" if n_items is not None else f"({n_users}, n_items)"
            raise ArgumentError(f"{name} must have shape {want}, got {x.shape}")
        m = sp.csr_array(x, copy=True)
        m.eliminate_zeros()  # a stored zero is not a nonzero
        m.sum_duplicates()  # also sorts each row's indices
        return _Sets(m.indptr.astype(np.int64), m.indices.astype(np.int64))
    if isinstance(x, (str, bytes)) or not isinstance(x, (Sequence, np.ndarray, torch.Tensor)):
        raise ArgumentError(f"{name} must be a scipy.sparse matrix or a sequence of {n_users} integer arrays, "
                            f"got {type(x).__name__} (convert e.g. a pandas Series with list(...))")
    if len(x) != n_users:
        raise ArgumentError(f"{name} must hold one item array per user ({n_users}), got {len(x)}")
    rows = []
    for u, row in enumerate(x):
        r = _to_numpy(row)
        if r.size == 0:  # [] is float64 to NumPy: an empty set is fine whatever its dtype
            rows.append(np.empty(0, dtype=np.int64))
            continue
        if r.dtype == bool or not np.issubdtype(r.dtype, np.integer):
            raise ArgumentError(f"{name}[{u}] must hold integer item ids, got dtype {r.dtype} (a boolean mask? "
                            "use np.flatnonzero or a scipy.sparse matrix)")
        if r.ndim > 1:
            raise ArgumentError(f"{name}[{u}] must be a 1-D array of item ids, got shape {r.shape}")
        if r.min() < 0 or (n_items is not None and r.max() >= n_items):
            limit = f"0..{n_items - 1}" if n_items is not None else ">= 0"
            raise ArgumentError(f"{name}[{u}] has item ids outside {limit}: min {r.min()}, max {r.max()}")
        rows.append(np.unique(r.astype(np.int64)))  # 0-d (one item per user) becomes (1,)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    return _Sets(indptr, np.concatenate(rows) if rows else np.empty(0, dtype=np.int64))


def _require_relevant(rel: _Sets) -> None:
    if empty := int(np.count_nonzero(rel.sizes == 0)):
        raise ArgumentError(f"relevant: {empty} of {len(rel.sizes)} users have no relevant items, so their "
                            "metrics are undefined (recall is 0/0); drop those users before evaluating")


def _check_no_leak(rel: _Sets, excl: _Sets, n_items: int) -> None:
    """Refuse relevant items that are also excluded: they could never be ranked, and their presence
    means test items leaked into the training items."""
    leaked = np.flatnonzero(np.isin(rel.keys(n_items), excl.keys(n_items)))
    if leaked.size:
        users = np.unique(np.searchsorted(rel.indptr, leaked, side="right") - 1)
        u, i = divmod(int(rel.keys(n_items)[leaked[0]]), n_items)
        raise ArgumentError(f"relevant and exclude overlap for {users.size} users (e.g. user {u}, item {i}): a "
                            "relevant item that is excluded can never be ranked; test items leaked into the training "
                            "items")


def _chunk(s: np.ndarray, start: int, stop: int) -> np.ndarray:
    block = s[start:stop].astype(np.float64)  # a copy: callers write into it
    bad = np.isnan(block).any(axis=1)
    if bad.any():
        raise ArgumentError(f"scores contain NaN (user {start + int(np.argmax(bad))}); NaN has no place in a ranking")
    return block


def rank_items(scores, k: int, *, exclude=None, chunk: int = 1024) -> np.ndarray:
    """Each user's ``k`` best items, best first: scores (n_users, n_items) -> (n_users, k) int64.

    Order: score descending, then item id ascending (see the module docstring for why). Excluded
    items are never returned. Users are processed ``chunk`` at a time, so the working memory is
    about ``chunk * n_items * 20`` bytes whatever ``n_users`` is.

    Raises:
        ValueError: on NaN scores, if ``k`` is not in ``1..n_items`` or fewer than ``k`` items
            remain for some user after exclusion, or on a bad ``exclude`` or ``chunk``.
    """
    s = _scores(scores)
    n_users, n_items = s.shape
    k = integer(k, "k", low=1, high=n_items)
    chunk = integer(chunk, "chunk", low=1)
    excl = None if exclude is None else _item_sets(exclude, n_users, n_items, "exclude")
    return _rank(s, k, excl, chunk)


def _rank(s: np.ndarray, k: int, excl: _Sets | None, chunk: int) -> np.ndarray:
    n_users, n_items = s.shape
    if excl is not None and (excl.sizes > n_items - k).any():
        u = int(np.argmax(excl.sizes > n_items - k))
        raise ArgumentError(f"k={k} is more than the {n_items - excl.sizes[u]} items left for user {u} after exclusion")
    out = np.empty((n_users, k), dtype=np.int64)
    for start in range(0, n_users, chunk):
        stop = min(start + chunk, n_users)
        key = -_chunk(s, start, stop)  # ascending key = best first
        if excl is not None:
            key[excl.mask(start, stop, n_items)] = np.nan  # partition and sort put NaN last
        # The k-th best key of each row; everything strictly better is in, and of the items tied
        # with it, the lowest ids fill the remaining places. argpartition alone would pick among
        # those ties in an order that depends on the kernel.
        kth = np.partition(key, k - 1, axis=1)[:, k - 1 : k]  # (b, 1)
        take = key < kth
        tied = key == kth
        need = k - take.sum(axis=1, keepdims=True)
        straddle = np.flatnonzero(tied.sum(axis=1, keepdims=True) > need)  # rows where the tie is cut
        take |= tied
        if straddle.size:
            take[straddle] &= ~tied[straddle] | (np.cumsum(tied[straddle], axis=1) <= need[straddle])
        idx = np.nonzero(take)[1].reshape(stop - start, k)  # ascending ids within each row
        order = np.argsort(np.take_along_axis(key, idx, axis=1), axis=1, kind="stable")  # stable: ids stay ascending
        out[start:stop] = np.take_along_axis(idx, order, axis=1)
    return out


def reciprocal_rank(scores, relevant, *, exclude=None, chunk: int = 1024) -> np.ndarray:
    """``1 / rank`` of each user's first relevant item in the full ranking: (n_users,) float64.

    The ranking is the one :func:`rank_items` would return for ``k = n_items`` (excluded items
    removed, ties by lower id), but it is never sorted: the rank of the best relevant item ``j`` is
    1 + the items scoring strictly higher + the items scoring the same with a lower id.
    The mean over users is the MRR. Users are processed ``chunk`` at a time.
    """
    s = _scores(scores)
    rel, excl = _relevant_and_excluded(s, relevant, exclude)
    return _rr(s, rel, excl, integer(chunk, "chunk", low=1))


def _relevant_and_excluded(s: np.ndarray, relevant, exclude) -> tuple[_Sets, _Sets | None]:
    n_users, n_items = s.shape
    rel = _item_sets(relevant, n_users, n_items, "relevant")
    _require_relevant(rel)
    excl = None if exclude is None else _item_sets(exclude, n_users, n_items, "exclude")
    if excl is not None:
        _check_no_leak(rel, excl, n_items)
    return rel, excl


def _rr(s: np.ndarray, rel: _Sets, excl: _Sets | None, chunk: int) -> np.ndarray:
    n_users, n_items = s.shape
    ids = np.arange(n_items)
    out = np.empty(n_users, dtype=np.float64)
    for start in range(0, n_users, chunk):
        stop = min(start + chunk, n_users)
        key = -_chunk(s, start, stop)
        is_rel = rel.mask(start, stop, n_items)
        best = np.where(is_rel, key, np.inf).min(axis=1, keepdims=True)  # (b, 1): best relevant key
        # The first relevant item with that key (its score may be -inf, hence not argmin above).
        j = np.argmax(is_rel & (key == best), axis=1)[:, None]
        before = (key < best) | ((key == best) & (ids < j))
        if excl is not None:
            before &= ~excl.mask(start, stop, n_items)
        out[start:stop] = 1.0 / (1.0 + before.sum(axis=1))
    return out


def _ranked(ranked, k, n_items: int | None = None) -> np.ndarray:
    """Validate ``ranked`` (n_users, >=k) and return its first ``k`` columns as int64."""
    r = _to_numpy(ranked)
    if r.dtype == bool or not np.issubdtype(r.dtype, np.integer):
        raise ArgumentError(f"ranked must hold integer item ids, got dtype {r.dtype}")
    if r.ndim != 2 or 0 in r.shape:
        raise ArgumentError(f"ranked must be an (n_users, k) array with both >= 1, got shape {r.shape}")
    k = r.shape[1] if k is None else integer(k, "k", low=1, high=r.shape[1])
    top = r[:, :k].astype(np.int64)
    if top.min() < 0 or (n_items is not None and top.max() >= n_items):
        raise ArgumentError(f"ranked has item ids outside 0..{'n_items - 1' if n_items is None else n_items - 1}")
    srt = np.sort(top, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
    if dup.any():  # a repeated item would be counted twice and push recall above 1
        raise ArgumentError(f"ranked repeats an item within a user's top {k} (user {int(np.argmax(dup))})")
    return top


def _hit_matrix(top: np.ndarray, rel: _Sets) -> np.ndarray:
    """(n_users, k) bool: is ``top[u, j]`` one of user ``u``'s relevant items."""
    width = int(max(top.max(), rel.indices.max())) + 1
    rel_keys = rel.keys(width)  # sorted, so membership is a binary search
    keys = np.arange(top.shape[0], dtype=np.int64)[:, None] * width + top
    pos = np.minimum(np.searchsorted(rel_keys, keys), rel_keys.size - 1)
    return rel_keys[pos] == keys


def _hits(ranked, relevant, k) -> tuple[np.ndarray, np.ndarray]:
    """The hit matrix of the top ``k`` and (n_users,) the number of relevant items per user."""
    top = _ranked(ranked, k)
    rel = _item_sets(relevant, top.shape[0], None, "relevant")
    _require_relevant(rel)
    return _hit_matrix(top, rel), rel.sizes


def _ndcg(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    k = hits.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2))  # ranks 1..k
    ideal = np.cumsum(discount)[np.minimum(n_rel, k) - 1]  # all relevant items on top
    return hits @ discount / ideal


def recall_at_k(ranked, relevant, k: int | None = None) -> np.ndarray:
    """``|top-k ∩ relevant| / |relevant|`` per user: ranked (n_users, >=k) -> (n_users,) float64.

    ``k=None`` uses all of ``ranked``'s columns (as in every metric below). trec_eval's ``recall_k``.
    """
    hits, n_rel = _hits(ranked, relevant, k)
    return hits.sum(axis=1) / n_rel


def precision_at_k(ranked, relevant, k: int | None = None) -> np.ndarray:
    """``|top-k ∩ relevant| / k`` per user (trec_eval's ``P_k``): (n_users,) float64."""
    hits, _ = _hits(ranked, relevant, k)
    return hits.sum(axis=1) / hits.shape[1]


def ndcg_at_k(ranked, relevant, k: int | None = None) -> np.ndarray:
    """Normalised discounted cumulative gain with binary gains (trec_eval's ``ndcg_cut_k``).

    ``DCG = Σ_{rank r <= k, item relevant} 1 / log2(r + 1)``, divided by the DCG of an ideal list,
    which has its ``min(|relevant|, k)`` relevant items on top. (n_users,) float64 in [0, 1].
    """
    return _ndcg(*_hits(ranked, relevant, k))


def hit_rate_at_k(ranked, relevant, k: int | None = None) -> np.ndarray:
    """1.0 where at least one relevant item is in the top ``k``, else 0.0: (n_users,) float64."""
    hits, _ = _hits(ranked, relevant, k)
    return np.asarray(hits.any(axis=1), dtype=np.float64)  # numpy's stubs type .any(axis=1) as possibly a scalar


def coverage(ranked, n_items: int, k: int | None = None) -> float:
    """Fraction of the ``n_items`` catalogue that appears in at least one user's top ``k``."""
    n_items = integer(n_items, "n_items", low=1)
    return float(np.unique(_ranked(ranked, k, n_items)).size / n_items)


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class RankingReport:
    """Per-user metrics at cut-off ``k`` from :func:`evaluate`.

    recall, ndcg, mrr, hit_rate: (n_users,) float64 (``mrr`` holds each user's reciprocal rank in
    the full ranking; its mean is the MRR); coverage: one float for the whole set of top-k lists.
    """

    k: int
    n_users: int
    recall: np.ndarray
    ndcg: np.ndarray
    mrr: np.ndarray
    hit_rate: np.ndarray
    coverage: float

    def __post_init__(self) -> None:
        for name in ("recall", "ndcg", "mrr", "hit_rate"):  # frozen means the arrays too: read-only copies
            values = np.array(getattr(self, name), dtype=np.float64)
            values.setflags(write=False)
            object.__setattr__(self, name, values)

    def _names(self) -> dict[str, str]:
        k = self.k
        return {f"recall@{k}": "recall", f"ndcg@{k}": "ndcg", "mrr": "mrr", f"hit@{k}": "hit_rate"}

    def means(self) -> dict[str, float]:
        """``{'recall@10': ..., 'ndcg@10': ..., 'mrr': ..., 'hit@10': ..., 'coverage@10': ...}``."""
        out = {key: float(getattr(self, field).mean()) for key, field in self._names().items()}
        out[f"coverage@{self.k}"] = self.coverage
        return out

    def interval(self, metric: str, **bootstrap_kw) -> tuple[float, float, float]:
        """``(mean, low, high)`` of one per-user metric by :func:`bootstrap_ci` over users.

        ``metric`` is a key of :meth:`means` (``'recall@10'``) or a field name (``'recall'``).
        Coverage has no per-user values, so it has no interval here.
        """
        names = self._names()
        field = names.get(metric, metric if metric in names.values() else None)
        if field is None:
            why = " (coverage is one number for all users, not a mean over them)" if "coverage" in str(metric) else ""
            raise ArgumentError(f"metric must be one of {sorted(names) + sorted(names.values())}, got {metric!r}{why}")
        return bootstrap_ci(getattr(self, field), **bootstrap_kw)


def evaluate(scores, relevant, *, k: int = 10, exclude=None) -> RankingReport:
    """Rank every user's items (excluding ``exclude``) and measure the top ``k`` against ``relevant``.

    scores: (n_users, n_items); relevant, exclude: item sets (see the module docstring).
    """
    s = _scores(scores)
    n_users, n_items = s.shape
    k = integer(k, "k", low=1, high=n_items)
    rel, excl = _relevant_and_excluded(s, relevant, exclude)  # parsed once for both rankings
    top = _rank(s, k, excl, 1024)
    hits = _hit_matrix(top, rel)
    return RankingReport(k=k, n_users=n_users, recall=hits.sum(axis=1) / rel.sizes, ndcg=_ndcg(hits, rel.sizes),
                         mrr=_rr(s, rel, excl, 1024), hit_rate=np.asarray(hits.any(axis=1), dtype=np.float64),
                         coverage=float(np.unique(top).size / n_items))
