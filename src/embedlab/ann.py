"""Approximate nearest-neighbour search, written out: random-hyperplane LSH and an inverted-file index.

Taught in chapter 10 (retrieval). Exact search is one matrix product and a top-k
(:func:`embedlab.similarity.topk`, the package's one exact k-NN); it reads every key for every
query. The two indexes here read fewer keys and may miss some neighbours:

* :class:`RandomHyperplaneLSH` (Charikar, 2002): each table hashes a vector to the signs of its
  projections onto ``n_bits`` random Gaussian directions, packed into one integer; two vectors at
  angle θ agree on a bit with probability 1 − θ/π. The candidates of a query are the keys that
  share its bucket in any of ``n_tables`` tables (plus, with ``probes``, the buckets one flipped
  bit away, Lv et al., 2007), re-ranked by their exact dot products.
* :class:`IVFIndex` (the inverted file of faiss' ``IndexIVFFlat``): k-means cuts the keys into
  ``n_lists`` cells; a query scores the ``nprobe`` cells whose centroids are nearest, exactly.

Both search by **dot product** on the vectors as given: for cosine similarity normalise keys and
queries first (:func:`embedlab.similarity.normalize`), as a faiss user does for ``METRIC_INNER_PRODUCT``.
They work on the CPU in float32 (as faiss-cpu) and return torch tensors ``(scores, indices)``
like :func:`~embedlab.similarity.topk`, largest score first, equal scores by the lower key id
(:func:`embedlab._rows.topk`); indices are rows of the keys given to ``build``. Vectors far from
unit size (largest entry outside 2**±32, e.g. ×1e30 or ×1e-30) are rescaled by a power of two
before float32 (one factor for all keys, one per query: no ranking changes), so their products
neither overflow nor underflow; the scores returned are the true dot products in float32 (±inf
or 0 beyond its range). :func:`measure_search` gives an index's recall and queries per second.
When a query has fewer than ``k`` candidates the missing places hold score ``-inf`` and
index ``-1``. :func:`neighbour_recall` measures how many true neighbours an index found, and
:func:`held_out_split` removes the queries from the index (the ann-benchmarks protocol), so that
no query finds itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from embedlab._checks import ArgumentError, ids, integer
from embedlab._rows import overlap
from embedlab._rows import topk as _topk
from embedlab.similarity import _blas_threads, normalize
from embedlab.utils import Timer

__all__ = ["RandomHyperplaneLSH", "IVFIndex", "neighbour_recall", "held_out_split", "measure_search"]

# Magnitudes float32 products handle without overflow or underflow: vectors whose largest |entry|
# lies outside [2**-32, 2**32] are rescaled by a power of two before they become float32 (exact, and
# a positive factor changes no ranking: one factor for all the keys, one per query). Ordinary
# vectors (unit ones, GloVe) are inside and go through untouched, bit for bit.
_SAFE_EXPONENT = 32


def _matrix(x, name: str, dim: int | None = None, *, per_row: bool = False) -> tuple[torch.Tensor, bool, np.ndarray]:
    """x as a float32 CPU tensor (n, d), whether it was a single vector (d,), and the power-of-two
    exponents it was divided by: one for the whole set, or one per row with ``per_row`` ((n,) int64,
    0 where nothing was rescaled). float16 and bfloat16 are widened; bool and complex are refused."""
    if isinstance(x, (str, bytes)):
        raise ArgumentError(f"{name} must be an array of numbers, got {type(x).__name__}")
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.is_complex() or t.dtype == torch.bool or not (t.is_floating_point() or t.dtype.is_signed or
                                                        t.dtype == torch.uint8):
        raise ArgumentError(f"{name} must be real numbers, got dtype {t.dtype}")
    single = t.ndim == 1
    t = t.unsqueeze(0) if single else t
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ArgumentError(f"{name} must be a non-empty matrix (n, d) or one vector (d,), got shape {tuple(t.shape)}")
    if dim is not None and t.shape[1] != dim:
        raise ArgumentError(f"{name} has dimension {t.shape[1]}, but the index holds vectors of dimension {dim}")
    t = t.to(device="cpu")
    t = t.to(torch.float64) if t.dtype != torch.float32 else t
    bad = ~torch.isfinite(t).all(1)
    if bool(bad.any()):  # NaN compares false with everything: it would hash and rank arbitrarily
        rows = torch.nonzero(bad).reshape(-1).tolist()
        raise ArgumentError(f"{name} contains NaN or infinite values (rows {rows[:5]}{' ...' * (len(rows) > 5)})")
    top = t.abs().amax(1).double().numpy()  # (n,) each row's largest |entry|
    if not per_row:
        top = top.max(keepdims=True)
    exps = np.frexp(top)[1].astype(np.int64)  # top = m · 2**e, m in [0.5, 1)
    exps[(top == 0) | (np.abs(exps) <= _SAFE_EXPONENT)] = 0
    if exps.any():
        scale = torch.from_numpy(np.ldexp(1.0, -exps))  # exact powers of two
        t = t.double() * (scale[:, None] if per_row else scale)
    t = t.to(torch.float32).contiguous()
    return t, single, exps if per_row else exps[:1]


def _true_scores(scores: torch.Tensor, exps: np.ndarray) -> torch.Tensor:
    """Undo the rescaling of :func:`_matrix`: scores (q, k) of rescaled vectors times 2**exps ((q, 1)
    or a scalar total exponent). float32 as the indexes answer: a dot product beyond float32's
    range is ±inf there (the ranking was done on the rescaled vectors, so it is exact)."""
    if not np.any(exps):
        return scores
    with np.errstate(over="ignore"):  # beyond float32: ±inf, as documented
        return torch.from_numpy(np.ldexp(scores.double().numpy(), exps).astype(np.float32))


# IVF scores held at once: 32 MB of float32 (so memory stays bounded at nprobe = n_lists). Measured
# on GloVe 100k, 256 cells, nprobe 32, one thread: 8.7k, 9.6k and 7.6k queries/s with 16, 32 and
# 64 MB. (Smaller blocks repeat the loop over cells; larger ones are presumably fresh memory on every
# search, as glibc maps blocks above 32 MB anew, and their page faults cost more than a fill.)
_SCORES_PER_BLOCK = 1 << 23


def _blocks(widths: list[int]) -> list[slice]:
    """Cut ascending row widths into consecutive blocks of at most _SCORES_PER_BLOCK padded scores."""
    blocks, first = [], 0
    for i, w in enumerate(widths):
        if i > first and (i - first + 1) * w > _SCORES_PER_BLOCK:
            blocks.append(slice(first, i))
            first = i
    return [*blocks, slice(first, len(widths))]


def _padded(q: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Result buffers (q, k): score -inf and index -1 wherever no candidate lands."""
    return torch.full((q, k), -float("inf")), torch.full((q, k), -1, dtype=torch.int64)


class _Index:
    """What both indexes share: the keys' count and dimension, and per-query candidate counts."""

    dim: int | None = None
    n: int = 0
    candidate_counts: np.ndarray | None = None  # (q,) keys scored exactly per query in the last search

    @property
    def candidates_per_query(self) -> float:
        """Mean number of keys whose dot product the last search computed (exact search: all n)."""
        if self.candidate_counts is None:
            raise RuntimeError("no search has run yet")
        return float(self.candidate_counts.mean())

    _key_exp: int = 0  # the keys were divided by 2**_key_exp (see _matrix)

    def _queries(self, queries, k) -> tuple[torch.Tensor, bool, int, np.ndarray]:
        """Queries as rescaled float32 rows, whether one vector was given, k, and the exponent (q, 1)
        that turns a rescaled score back into the true one."""
        if self.n == 0:
            raise RuntimeError(f"{type(self).__name__} is empty: call build(keys) first")
        Q, single, exps = _matrix(queries, "queries", self.dim, per_row=True)
        return Q, single, integer(k, "k", low=1, high=self.n), (exps + self._key_exp)[:, None]


class RandomHyperplaneLSH(_Index):
    """Random-hyperplane (sign) LSH with ``n_tables`` hash tables of ``n_bits`` bits each.

    More bits make buckets smaller (fewer candidates, faster, lower recall); more tables give a
    neighbour more chances to share a bucket (more candidates, higher recall). ``n_bits=0``
    puts every key in one bucket: the search is then exact. ``seed`` fixes the hyperplanes.
    """

    def __init__(self, dim: int, n_bits: int = 16, n_tables: int = 8, seed: int = 0) -> None:
        self.dim = integer(dim, "dim", low=1)
        self.n_bits = integer(n_bits, "n_bits", low=0, high=62)  # packed into an int64
        self.n_tables = integer(n_tables, "n_tables", low=1)
        self.seed = integer(seed, "seed", low=0)
        rng = np.random.default_rng(self.seed)
        self.planes = rng.standard_normal((self.n_tables, self.dim, self.n_bits)).astype(np.float32)  # (T, d, B)
        self._bit_values = np.left_shift(np.int64(1), np.arange(self.n_bits, dtype=np.int64))  # (B,) 1, 2, 4, ...

    def _codes(self, proj: np.ndarray) -> np.ndarray:
        """Projections (..., B) -> bucket codes (...): bit b is set where projection b is positive."""
        return ((proj > 0) * self._bit_values).sum(-1)

    def build(self, keys) -> RandomHyperplaneLSH:
        """Hash the keys (n, d) into every table; returns the index."""
        K, _, exps = _matrix(keys, "keys", self.dim)
        self._key_exp = int(exps[0])
        X = K.numpy()
        # One table at a time: all tables at once would hold an (T, n, B) array (400 MB for GloVe).
        codes = np.stack([self._codes(X @ self.planes[t]) for t in range(self.n_tables)])  # (T, n)
        # A bucket is a run of equal codes after sorting, found by binary search at query time:
        # no Python dict of arrays to build, and the lookup is vectorised over queries.
        self._order = np.argsort(codes, axis=1, kind="stable")  # (T, n) key ids, grouped by bucket
        self._sorted = np.take_along_axis(codes, self._order, axis=1)  # (T, n) their codes, ascending
        self.keys, self.n = K, K.shape[0]
        return self

    def bucket_sizes(self, table: int = 0) -> np.ndarray:
        """Sizes of the non-empty buckets of one table (they sum to n)."""
        integer(table, "table", low=0, high=self.n_tables - 1)
        if self.n == 0:
            raise RuntimeError("RandomHyperplaneLSH is empty: call build(keys) first")
        return np.unique(self._sorted[table], return_counts=True)[1]

    def search(self, queries, k: int, *, probes: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The k keys of largest dot product among each query's candidates.

        queries: (q, d) or (d,)  ->  (scores, indices), each (q, k) or (k,); ``-inf``/``-1`` pad a
        query with fewer than k candidates. ``probes`` (0..n_bits): per table, also visit the
        buckets that differ in one of the ``probes`` bits whose projections lie nearest zero
        (the bits a neighbour most likely has flipped). Sets :attr:`candidate_counts`.
        """
        Q, single, k, exps = self._queries(queries, k)
        probes = integer(probes, "probes", low=0, high=self.n_bits)
        q, T, n = Q.shape[0], self.n_tables, self.n
        proj = Q.numpy() @ self.planes  # (T, q, B)
        codes = self._codes(proj)[..., None]  # (T, q, 1)
        if probes:
            flip = np.argsort(np.abs(proj), axis=-1)[..., :probes]  # (T, q, p) least certain bits first
            codes = np.concatenate([codes, codes ^ self._bit_values[flip]], axis=-1)  # (T, q, 1 + p)
        lo = np.stack([np.searchsorted(self._sorted[t], codes[t], side="left") for t in range(T)])  # (T, q, P)
        hi = np.stack([np.searchsorted(self._sorted[t], codes[t], side="right") for t in range(T)])
        # Bucket ranges as positions in the flattened (T·n,) order array, one row per query.
        starts = (lo + (np.arange(T) * n)[:, None, None]).transpose(1, 0, 2).reshape(q, -1)  # (q, T·P)
        lengths = (hi - lo).transpose(1, 0, 2).reshape(q, -1)  # (q, T·P)
        order = self._order.reshape(-1)
        scores, idx = _padded(q, k)
        counts = np.zeros(q, dtype=np.int64)
        for i in range(q):
            keep = lengths[i] > 0
            s, length = starts[i][keep], lengths[i][keep]
            if length.size == 0:
                continue  # no key shares a bucket with this query: all padding
            # Every position of every range at once: range r contributes s_r, s_r + 1, ..., s_r + len_r - 1.
            total = int(length.sum())
            pos = np.repeat(s - np.cumsum(length) + length, length) + np.arange(total)
            cand = torch.from_numpy(np.unique(order[pos]))  # (c,) a key in several tables counts once
            counts[i] = cand.numel()
            kk = min(k, cand.numel())
            # Re-rank exactly: the candidates' dot products (the product exact search computes, and
            # rescaled vectors cannot overflow it), then the package's one top-k; cand is ascending,
            # so its tie rule, the lower position first, is the lower key id first.
            best, j = _topk(Q[i : i + 1] @ self.keys[cand].T, kk)  # (1, kk)
            scores[i, :kk], idx[i, :kk] = best[0], cand[j[0]]
        self.candidate_counts = counts
        scores = _true_scores(scores, exps)
        return (scores[0], idx[0]) if single else (scores, idx)


# Rows per block of a Lloyd step and of filing the keys: a (block, n_lists) float32 score matrix,
# 4 MB at 1,024 cells, reused by every block, so it stays in the cache between the product and the
# argmax (8,192-row blocks ran 1.6x slower, 65,536-row ones 1.9x, measured on one thread).
_LLOYD_BLOCK = 1 << 10


def _seed(X: torch.Tensor, n_lists: int, rng: np.random.Generator, per_cell: int = 8) -> torch.Tensor:
    """k-means++ centres drawn from a subsample of ``per_cell · n_lists`` rows of X: (L, d).

    Each next centre is a row drawn with probability ∝ its squared distance to the nearest centre
    so far (Arthur & Vassilvitskii, 2007). On the subsample one draw costs a matrix-vector product
    of ``per_cell · L`` rows, so the whole start costs about as much as one Lloyd step, not L
    passes over the training rows."""
    m = X.shape[0]
    s = min(m, per_cell * n_lists)
    S = X[torch.from_numpy(np.sort(rng.choice(m, s, replace=False)))] if s < m else X  # (s, d)
    sq = (S * S).sum(1)  # (s,)
    chosen = [int(rng.integers(s))]
    d2 = (sq - 2 * (S @ S[chosen[0]]) + sq[chosen[0]]).clamp_(min=0).double()  # (s,)
    for _ in range(1, n_lists):
        total = float(d2.sum())
        if total > 0:
            cum = torch.cumsum(d2, 0)
            j = min(int(torch.searchsorted(cum, torch.tensor([rng.random() * total], dtype=torch.float64))), s - 1)
        else:  # every row sits on a centre already (duplicates): any row
            j = int(rng.integers(s))
        chosen.append(j)
        d2 = torch.minimum(d2, (sq - 2 * (S @ S[j]) + sq[j]).clamp_(min=0).double())
    return S[chosen].clone()


def _lloyd(X: torch.Tensor, n_lists: int, max_iter: int, rng: np.random.Generator,
           seeding: str = "kmeans++") -> torch.Tensor:
    """Euclidean k-means on the float32 rows X (m, d): ``n_lists`` centres (L, d), float32.

    The start is k-means++ on a subsample (:func:`_seed`; ``seeding="random"``: distinct rows
    drawn at random, faiss's start). k-means++ over all the rows would cost one pass over them per
    centre, more than all the Lloyd steps at a thousand cells; on 8 rows per cell it costs about
    one step. On GloVe (400k keys, 1,024 cells) the two starts gave recall@10 0.917 and 0.912 at
    nprobe 32 (seed 0), inside the spread between seeds (0.910-0.917). Each step
    assigns every row to its nearest centre, ``argmin ‖x − c‖² = argmax x·c − ‖c‖²/2`` (‖x‖² is
    the same for every centre), one matrix product per block of rows, and moves each centre to the
    mean of its rows with one ``index_add_`` (no loop over cells). A centre that loses all its rows
    keeps its place. Stops early when no row changes cell.
    """
    m = X.shape[0]
    C = _seed(X, n_lists, rng) if seeding == "kmeans++" else \
        X[torch.from_numpy(np.sort(rng.choice(m, n_lists, replace=False)))].clone()  # (L, d)
    labels = torch.full((m,), -1, dtype=torch.int64)
    scores = torch.empty(min(m, _LLOYD_BLOCK), n_lists, dtype=X.dtype)
    for _ in range(max_iter):
        half = (C * C).sum(1) * -0.5  # (L,) −‖c‖²/2
        new = torch.empty(m, dtype=torch.int64)
        for start in range(0, m, _LLOYD_BLOCK):
            block = X[start : start + _LLOYD_BLOCK]
            out = scores[: block.shape[0]]
            torch.addmm(half, block, C.T, out=out)  # (b, L) x·c − ‖c‖²/2
            new[start : start + block.shape[0]] = out.argmax(1)
        if torch.equal(new, labels):
            break
        labels = new
        sums = torch.zeros_like(C).index_add_(0, labels, X)  # (L, d)
        counts = torch.bincount(labels, minlength=n_lists)  # (L,)
        filled = counts > 0
        C[filled] = sums[filled] / counts[filled, None].to(X.dtype)
    return C


class IVFIndex(_Index):
    """An inverted-file index: k-means cells, and exact scores inside the ``nprobe`` nearest cells.

    ``build`` trains the coarse quantiser with float32 Lloyd steps (:func:`_lloyd`: a k-means++
    start drawn from 8 keys per cell, ``max_iter=10`` as faiss trains an IVF) on ``train_size``
    keys drawn at random (default ``min(n, 64·n_lists)``: faiss asks for at least 39 per cell).
    Not :func:`embedlab.cluster.kmeans`: its k-means++ start over every training key costs more
    than the iterations at a thousand cells, and its float64 distance matrices double the memory
    traffic of every step. Its centroids are then scaled to unit length and every key
    goes to the cell of largest centroid·key, which is how queries choose cells, so a key is always found where a query
    looks for it. (faiss trains spherical k-means for inner product; Euclidean k-means on unit
    keys, normalised afterwards, gives the same kind of cells, and the tests compare recall.)
    Keys are stored sorted by cell, so a cell is one contiguous block (``offsets``).
    """

    def __init__(self, n_lists: int = 1024, *, seed: int = 0, train_size: int | None = None,
                 max_iter: int = 10) -> None:
        self.n_lists = integer(n_lists, "n_lists", low=1)
        self.seed = integer(seed, "seed", low=0)
        self.train_size = None if train_size is None else integer(train_size, "train_size", low=self.n_lists)
        self.max_iter = integer(max_iter, "max_iter", low=1)

    def build(self, keys) -> IVFIndex:
        """Train the cells on (a sample of) the keys (n, d) and file every key; returns the index."""
        K, _, exps = _matrix(keys, "keys")
        self._key_exp = int(exps[0])
        n = K.shape[0]
        if self.n_lists > n:
            raise ArgumentError(f"n_lists ({self.n_lists}) must not exceed the number of keys ({n})")
        m = min(n, 64 * self.n_lists) if self.train_size is None else self.train_size
        if m > n:
            raise ArgumentError(f"train_size ({m}) must not exceed the number of keys ({n})")
        rng = np.random.default_rng(self.seed)
        sample = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
        self.train_ids = sample  # (m,) the keys k-means saw (the benchmark trains faiss on the same)
        centres = _lloyd(K[sample], self.n_lists, self.max_iter, rng)
        # A centroid of unit keys is shorter than 1; only its direction matters for cosine cells.
        # zero="zero": a centroid at exactly 0 (keys cancelling out) stays 0, so it scores 0 against
        # every vector: it gets the keys and queries whose scores against all the other centroids
        # are negative (keys and queries alike, so a key is still found where a query looks).
        self.centroids = normalize(centres, zero="zero")  # (L, d)
        # With duplicate keys k-means returns identical centroids. Each such group scores through
        # its lowest id (_cell_scores), so a key and a query equal to it see the same exact tie
        # and both break it the same way: lower cell id first (argmax returns the first maximum;
        # _probe ranks with embedlab._rows.topk's rule).
        first: dict[bytes, int] = {}  # a centroid's bytes -> its lowest cell id
        self._same_as = torch.tensor([first.setdefault(row.numpy().tobytes(), c) for c, row in
                                      enumerate(self.centroids)])  # (L,) lowest id of an identical centroid
        self._distinct = bool(torch.equal(self._same_as, torch.arange(self.n_lists)))  # no column to copy
        self.dim = K.shape[1]
        cell = torch.empty(n, dtype=torch.int64)  # (n,) each key's cell
        buffer = torch.empty(min(n, _LLOYD_BLOCK), self.n_lists)
        for start in range(0, n, _LLOYD_BLOCK):
            block = K[start : start + _LLOYD_BLOCK]
            cell[start : start + block.shape[0]] = self._cell_scores(block, out=buffer[: block.shape[0]]).argmax(1)
        order = torch.argsort(cell, stable=True)
        self.ids = order  # (n,) row of the keys at each stored position
        self.keys = K[order].contiguous()  # (n, d) cell 0's keys, then cell 1's, ...
        sizes = torch.bincount(cell, minlength=self.n_lists)
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.int64), sizes.cumsum(0)])  # (L + 1,)
        self.list_sizes, self.n = sizes.numpy(), n
        return self

    def _cell_scores(self, X: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """centroid·x for X (b, d) -> (b, L), identical centroids given bit-identical scores (a
        matrix product need not round two equal columns alike); ``out``: a (b, L) buffer to use."""
        scores = X @ self.centroids.T if out is None else torch.matmul(X, self.centroids.T, out=out)
        return scores if self._distinct else scores[:, self._same_as]

    def _probe(self, Q: torch.Tensor, nprobe: int) -> torch.Tensor:
        """The nprobe cells nearest to each query, nearest first, ties by lower cell id (the
        package's one top-k, :func:`embedlab._rows.topk`; torch.topk does not promise it):
        Q (q, d) -> (q, nprobe)."""
        return _topk(self._cell_scores(Q), nprobe, name="cell scores")[1]

    def probe(self, queries, nprobe: int = 8) -> torch.Tensor:
        """Which cells a search with ``nprobe`` visits: queries (q, d) -> cell ids (q, nprobe)."""
        Q, single, _, _ = self._queries(queries, 1)
        cells = self._probe(Q, integer(nprobe, "nprobe", low=1, high=self.n_lists))
        return cells[0] if single else cells

    def search(self, queries, k: int, *, nprobe: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """The k keys of largest dot product inside each query's ``nprobe`` nearest cells.

        queries: (q, d) or (d,)  ->  (scores, indices), each (q, k) or (k,); ``-inf``/``-1`` pad
        a query whose cells hold fewer than k keys. ``nprobe = n_lists`` scores every key (exact).
        Sets :attr:`candidate_counts`.
        """
        Q, single, k, exps = self._queries(queries, k)
        nprobe = integer(nprobe, "nprobe", low=1, high=self.n_lists)
        cells = self._probe(Q, nprobe)  # (q, p)
        sizes = torch.from_numpy(self.list_sizes)[cells]  # (q, p) keys in each probed cell
        width = sizes.sum(1)  # (q,) candidates of each query
        start = sizes.cumsum(1) - sizes  # (q, p) where each cell's scores begin in the query's row
        scores, idx = _padded(Q.shape[0], k)
        # Queries in blocks of similar width, each block's buffer padded to its widest query, so
        # that little of the buffer is padding (cells are uneven: on GloVe 100k with 256 cells the
        # widest of 1,000 queries scores 1.3-1.7x the mean number of keys).
        order = torch.argsort(width)
        for block in _blocks(width[order].tolist()):
            rows = order[block]
            scores[rows], idx[rows] = self._scan(Q[rows], cells[rows], start[rows], int(width[rows[-1]]), k)
        self.candidate_counts = width.numpy()
        scores = _true_scores(scores, exps)
        return (scores[0], idx[0]) if single else (scores, idx)

    def _scan(self, Q, cells, start, width: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact scores of queries Q (b, d) against the keys of their cells (b, p); the best k of each.

        Row i of a (b, width) buffer holds query i's scores, cell after cell (cell j from
        ``start[i, j]``), and one torch.topk selects from it. Each query has its own key set, so
        this is not the single product of :func:`~embedlab.similarity.topk`. Per cell, the
        queries that visit it are scored in one matrix product with its contiguous block of
        keys; gathering candidate rows per query instead would copy every candidate vector.
        Selecting per cell was slower: torch.topk takes 17 ns per score on rows of a few hundred
        (one cell) against 1.5 ns on rows of thousands (measured, k = 10, one thread).
        """
        b, p = cells.shape
        scores, idx = _padded(b, k)
        if width == 0:
            return scores, idx  # every probed cell is empty
        buffer = torch.full((b, width), -float("inf"))  # (b, width) -inf where a query has fewer
        flat = cells.reshape(-1)  # (b·p,) the cell of each (query, probe) slot
        by_cell = torch.argsort(flat, stable=True)  # the slots, grouped by cell
        visits = torch.bincount(flat, minlength=self.n_lists)  # (L,)
        row = by_cell // p  # (b·p,) the query of each grouped slot
        begin = row * width + start.reshape(-1)[by_cell]  # (b·p,) where its scores go in the flat buffer
        cells_visited, counts = torch.nonzero(visits).reshape(-1).tolist(), visits[visits > 0].tolist()
        offsets, pos = self.offsets.tolist(), 0
        blas = _blas_threads()
        if blas is None:  # no threadpoolctl: torch's product (NumPy's threads could not follow torch's)
            into, steps = buffer.view(-1), torch.arange(int(self.list_sizes.max()))
            for c, count in zip(cells_visited, counts):
                lo, hi = offsets[c], offsets[c + 1]
                if hi > lo:
                    here = slice(pos, pos + count)
                    into[begin[here, None] + steps[: hi - lo]] = Q[row[here]] @ self.keys[lo:hi].T  # (count, size)
                pos += count
        else:
            # The same loop in NumPy (arrays sharing the tensors' memory): a cell's product is small
            # (tens of queries by hundreds of keys), so the per-call cost of torch's operations was
            # most of the search, and each query's row of it is one slice of the buffer, copied as
            # such (measured: 1.4x the torch loop's speed on GloVe at nprobe 32, one thread). The
            # queries are gathered once, grouped by cell, so that each cell's are a slice.
            into_n, begin_l = buffer.view(-1).numpy(), begin.tolist()
            grouped, keys = Q[row].numpy(), self.keys.numpy()  # (b·p, d) the queries of the grouped slots
            scratch = np.empty(max(counts) * int(self.list_sizes.max()), dtype=np.float32)
            with blas.limit(limits=torch.get_num_threads()):
                for c, count in zip(cells_visited, counts):
                    lo, hi = offsets[c], offsets[c + 1]
                    if hi > lo:
                        size = hi - lo
                        product = scratch[: count * size].reshape(count, size)
                        np.matmul(grouped[pos : pos + count], keys[lo:hi].T, out=product)
                        for r, at in enumerate(begin_l[pos : pos + count]):
                            into_n[at : at + size] = product[r]
                    pos += count
        kk = min(k, width)
        # One more than needed: where the (k+1)-th score equals the k-th, a tie may be cut at the
        # boundary (cheaper than counting the k-th score's copies in the whole buffer).
        best, col = torch.topk(buffer, min(kk + 1, width), dim=1)  # (b, kk[+1]) ties in any order
        cut = torch.zeros(0, dtype=torch.int64)  # rows where a tie straddles the boundary
        if width > kk:
            cut = torch.nonzero(best[:, kk] == best[:, kk - 1]).reshape(-1)
        best, col = best[:, :kk].contiguous(), col[:, :kk].contiguous()
        ids = self._column_ids(cells, start, col, best)
        # The package's tie rule, lower key id first (buffer columns are in probe order, not id
        # order). Rows where a tie straddles the boundary are redone from the whole row; then
        # every list is ordered by (score descending, id ascending).
        if cut.numel():
            cols = torch.arange(width).repeat(cut.numel(), 1)  # (c, width) every column
            row_ids = self._column_ids(cells[cut], start[cut], cols, buffer[cut])
            by_id = torch.argsort(row_ids, dim=1, stable=True)  # padding (id n) last
            sv, ranked = torch.sort(buffer[cut].gather(1, by_id), dim=1, descending=True, stable=True)
            best[cut], ids[cut] = sv[:, :kk], row_ids.gather(1, by_id.gather(1, ranked[:, :kk]))
        ids, by_id = ids.sort(dim=1)
        best, by_score = best.gather(1, by_id).sort(dim=1, descending=True, stable=True)
        ids = ids.gather(1, by_score)
        scores[:, :kk] = best
        idx[:, :kk] = torch.where(ids < self.n, ids, -1)
        return scores, idx

    def _column_ids(self, cells, start, col, values) -> torch.Tensor:
        """Key ids of buffer columns col (b, c) given each row's probed cells and their starts;
        ``self.n`` where the column is padding (its value is -inf)."""
        j = torch.searchsorted(start, col, right=True) - 1  # (b, c) which probed cell holds each column
        stored = (self.offsets[cells.gather(1, j)] + col - start.gather(1, j)).clamp_(0, self.n - 1)
        return torch.where(torch.isfinite(values), self.ids[stored], self.n)


def neighbour_recall(found, exact, k: int | None = None) -> float:
    """Recall@k of an approximate search: mean over queries of |found top-k ∩ exact top-k| / k.

    found, exact: (q, ≥k) neighbour indices, best first (exact from :func:`~embedlab.similarity.topk`).
    ``k`` defaults to ``exact``'s width. This is the ANN notion of recall (how many of the true
    nearest neighbours the index returned), not the relevance recall of :mod:`embedlab.ranking`
    (how many *relevant items* a ranking found). Padding (``-1``) in ``found`` counts as a miss.
    """
    F, E = (ids(x, name, ndim=(1, 2)) for x, name in ((found, "found"), (exact, "exact")))
    F, E = (a[None] if a.ndim == 1 else a for a in (F, E))  # one query's list
    if F.shape[0] != E.shape[0]:
        raise ArgumentError(f"found has {F.shape[0]} queries but exact has {E.shape[0]}")
    k = E.shape[1] if k is None else integer(k, "k", low=1, high=E.shape[1])
    if k > F.shape[1]:
        raise ArgumentError(f"found has {F.shape[1]} neighbours per query, fewer than k = {k}")
    F, E = F[:, :k], E[:, :k]
    if (E < 0).any():
        raise ArgumentError("exact contains padding (-1): the exact neighbours must be real keys")
    E_sorted = np.sort(E, axis=1)
    if (E_sorted[:, 1:] == E_sorted[:, :-1]).any():
        raise ArgumentError("exact repeats an index within a query")
    # each true neighbour counted once: the share of exact's ids that found holds (embedlab._rows)
    return float(overlap(E, F, name_a="exact", name_b="found").mean())


def held_out_split(vectors, n_queries: int, seed: int = 0) -> tuple[object, object, np.ndarray, np.ndarray]:
    """Hold out ``n_queries`` random rows as queries; the others are the keys.

    vectors: (n, d) array or tensor -> ``(keys (n - n_queries, d), queries (n_queries, d),
    key_ids, query_ids)``, the ids (sorted NumPy int64) being rows of ``vectors``. As in
    ann-benchmarks, queries are not in the index, so a query cannot find itself at distance 0.
    An index's result ``i`` is ``vectors[key_ids[i]]``.
    """
    n = len(vectors)
    if n < 2:
        raise ArgumentError(f"vectors needs at least 2 rows to hold some out, got {n}")
    n_queries = integer(n_queries, "n_queries", low=1, high=n - 1)
    query_ids = np.sort(np.random.default_rng(integer(seed, "seed", low=0)).choice(n, n_queries, replace=False))
    is_key = np.ones(n, dtype=bool)
    is_key[query_ids] = False
    key_ids = np.flatnonzero(is_key)
    take = (lambda ids: vectors[torch.from_numpy(ids)]) if isinstance(vectors, torch.Tensor) else (
        lambda ids: np.asarray(vectors)[ids])
    return take(key_ids), take(query_ids), key_ids, query_ids


def measure_search(search: Callable[[Any], tuple[Any, Any]], queries, exact, k: int | None = None, *,
                   repeats: int = 1) -> tuple[float, float]:
    """(recall@k, queries per second) of one search over all ``queries``: the one recall-and-speed
    measurement of chapter 10, :func:`embedlab.bigindex.ivfpq_table` and ``benchmarks/bench_ann.py``.

    ``search(queries)`` answers ``(scores, ids)`` (q, ≥k), as this module's indexes, faiss indexes
    and :func:`~embedlab.similarity.topk` do; ``exact``: (q, ≥k) the true neighbours. The search
    runs ``repeats`` times over the whole query set, timed with :class:`embedlab.utils.Timer`;
    the speed is that of the fastest pass (the least disturbed by the rest of the machine), the
    recall that of the last pass's ids (:func:`neighbour_recall`).
    """
    if not callable(search):
        raise ArgumentError(f"search must be a function of the queries, got {type(search).__name__}")
    repeats = integer(repeats, "repeats", low=1)
    n_queries = len(queries)
    if n_queries == 0:
        raise ArgumentError("queries is empty")
    best, found = float("inf"), None
    for _ in range(repeats):
        with Timer() as t:
            _, found = search(queries)
        best = min(best, t.seconds)
    return neighbour_recall(found, exact, k), n_queries / max(best, 1e-12)
