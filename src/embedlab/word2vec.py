"""word2vec's statistics and its full-softmax model: co-occurrence, PMI, subsampling, skip-gram.

Taught in chapter 3. The pieces, in the order the chapter uses them:

* :func:`encode_sentences` turns tokenised sentences into one flat id stream (``ids: (N,)``) with
  a sentence index per token (``sentence: (N,)``), dropping out-of-vocabulary words as gensim does.
* :func:`cooccurrence` counts word–context pairs inside a window (the "statistical map"),
  :func:`pmi` / :func:`ppmi` turn the counts into (positive, optionally shifted) pointwise
  mutual information.
* :func:`keep_probabilities` and :func:`noise_distribution` are word2vec's frequent-word
  subsampling and its unigram^0.75 negative-sampling distribution.
* :class:`SkipGramSoftmax` is skip-gram with a full softmax and an output bias, trained with
  :class:`embedlab.train.Trainer`; :func:`softmax_cross_entropy` is its loss written out.

Skip-gram with negative sampling, trained on the :class:`EncodedCorpus` and the distributions
defined here, is :mod:`embedlab.sgns`; evaluating the vectors (word-pair correlations,
analogies, nearest words) is :mod:`embedlab.wordsim`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.special import logsumexp
from torch import nn

from embedlab import _checks
from embedlab.data import Vocabulary

__all__ = [
    "EncodedCorpus",
    "encode_sentences",
    "cooccurrence",
    "pmi",
    "ppmi",
    "subsampled_counts",
    "pair_values",
    "keep_probabilities",
    "noise_distribution",
    "skipgram_pairs",
    "softmax_cross_entropy",
    "SkipGramSoftmax",
]


# ----------------------------------------------------------------------------------------------
# Corpus and counts
# ----------------------------------------------------------------------------------------------
@dataclass
class EncodedCorpus:
    """A tokenised corpus as one flat stream of in-vocabulary ids.

    ids: (N,) int64 token ids; sentence: (N,) int64 sentence index of each token (non-decreasing).
    Windows never cross a sentence boundary. ``raw_words`` counts the tokens before
    out-of-vocabulary words were dropped (gensim's "raw words").
    """

    ids: np.ndarray
    sentence: np.ndarray
    vocab: Vocabulary
    raw_words: int

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def counts(self) -> np.ndarray:
        """counts: (V,) how often each vocabulary word occurs in the stream."""
        return np.bincount(self.ids, minlength=len(self.vocab)).astype(np.int64)


def encode_sentences(sentences: Sequence[Sequence[str]], vocab: Vocabulary) -> EncodedCorpus:
    """Map tokenised sentences to ids, dropping words outside ``vocab`` (as word2vec does).

    Raises:
        ValueError: if there are no sentences or no in-vocabulary token at all.
    """
    if isinstance(sentences, str) or (len(sentences) > 0 and isinstance(sentences[0], str)):
        raise TypeError("sentences must be a sequence of token lists, e.g. [['a', 'b'], ['c']]")
    ids: list[int] = []
    sent: list[int] = []
    raw = 0
    stoi = vocab.stoi
    for s, tokens in enumerate(sentences):
        raw += len(tokens)
        kept = [stoi[t] for t in tokens if t in stoi]
        ids.extend(kept)
        sent.extend([s] * len(kept))
    if not ids:
        raise ValueError("empty corpus: no sentence contains a vocabulary word")
    return EncodedCorpus(np.asarray(ids, dtype=np.int64), np.asarray(sent, dtype=np.int64), vocab, raw)


def cooccurrence(
    corpus: EncodedCorpus, window: int, *, dynamic: bool = False, vocab_size: int | None = None
) -> sp.csr_matrix:
    """Symmetric word–context counts within ``window`` words, not crossing sentences.

    Returns ``C: (V, V)`` sparse, ``C[w, c]`` = how often ``c`` occurs within ``window`` positions
    of ``w``. With ``dynamic=True`` a pair at distance ``d`` counts ``(window - d + 1) / window``:
    its expected count when the window is redrawn uniformly from ``1..window`` for every centre,
    as word2vec does. ``vocab_size`` keeps only ids below it (e.g. the most frequent words).
    """
    window = _checks.integer(window, "window", low=1)
    if len(corpus) == 0:
        raise ValueError("empty corpus")
    V = len(corpus.vocab) if vocab_size is None else int(vocab_size)
    if not 1 <= V <= len(corpus.vocab):
        raise ValueError(f"vocab_size must be in 1..{len(corpus.vocab)}, got {vocab_size}")
    ids, sent = corpus.ids, corpus.sentence
    rows, cols, vals = [], [], []
    for d in range(1, window + 1):
        a, b = ids[:-d], ids[d:]
        ok = (sent[:-d] == sent[d:]) & (a < V) & (b < V)
        a, b = a[ok], b[ok]
        weight = (window - d + 1) / window if dynamic else 1.0
        rows += [a, b]  # both directions: b is a context of a and a of b
        cols += [b, a]
        vals.append(np.full(2 * a.shape[0], weight))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    return sp.coo_matrix((v, (r, c)), shape=(V, V)).tocsr()  # tocsr sums duplicate pairs


def pmi(
    counts: sp.spmatrix | np.ndarray, *, alpha: float = 1.0, context_counts: np.ndarray | None = None
) -> sp.csr_matrix:
    """Pointwise mutual information of the observed pairs of a count matrix.

    ``PMI(w, c) = log P(w, c) / (P(w) P_alpha(c))`` with ``P(w, c) = C[w, c] / |D|``,
    ``P(w) = C[w, :].sum() / |D|`` and the context marginal raised to ``alpha`` and renormalised
    (``alpha = 0.75`` is word2vec's noise distribution; Levy, Goldberg & Dagan, 2015).
    The context marginal is the column sums of ``counts`` unless ``context_counts: (V,)`` is given
    (e.g. the word counts word2vec draws its negatives from).

    counts: (V, V) non-negative. Returns a sparse (V, V) matrix holding PMI at the observed
    (non-zero) pairs only; unobserved pairs have PMI = -inf and are not stored.

    Raises:
        ValueError: for an empty, negative or non-finite count matrix, an ``alpha`` that is not a
            finite number > 0, or ``context_counts`` of the wrong shape, negative, or zero for a
            context that ``counts`` observes (its PMI would be ``+inf``: an observed pair whose
            context has probability 0).
    """
    C = sp.csr_matrix(counts, dtype=np.float64)
    C.eliminate_zeros()
    if C.nnz == 0:
        raise ValueError("the count matrix is empty (no co-occurrences)")
    if not np.isfinite(C.data).all() or (C.data < 0).any():
        raise ValueError("counts must be finite and non-negative")
    alpha = _checks.number(alpha, "alpha", low=0, low_open=True)
    row = np.asarray(C.sum(axis=1)).ravel()
    col = np.asarray(C.sum(axis=0)).ravel() if context_counts is None else np.asarray(context_counts, dtype=np.float64)
    if col.shape != (C.shape[1],) or not np.isfinite(col).all() or (col < 0).any():
        raise ValueError(f"context_counts must be {C.shape[1]} finite non-negative counts, got shape {col.shape}")
    observed = np.unique(C.indices)  # contexts that occur in at least one pair
    unseen = observed[col[observed] == 0]
    if unseen.size:
        # Column sums are positive wherever a pair was observed; given counts need not be.
        raise ValueError(
            f"context_counts is 0 for context(s) {unseen[:5].tolist()}, which counts observes: PMI would be "
            "+inf there (an observed pair whose context has probability 0). Count every observed context."
        )
    # log P_alpha(c) = alpha log n_c - log Σ_c' n_c'^alpha, in log space: n_c ** alpha itself
    # overflows float64 for large alpha. Zero counts give log 0 = -inf, and only for contexts
    # that no pair uses (checked above), so no -inf reaches the result.
    with np.errstate(divide="ignore"):
        a_log = alpha * np.log(col)
    log_p_ctx = a_log - logsumexp(a_log)
    r_idx = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
    out = C.copy()
    # log C_wc - log C_w. - log P_alpha(c) = log[(C_wc/|D|) / ((C_w./|D|) P_alpha(c))]
    out.data = np.log(C.data) - np.log(row[r_idx]) - log_p_ctx[C.indices]
    return out


def ppmi(counts: sp.spmatrix | np.ndarray, *, alpha: float = 1.0, shift: float = 0.0) -> sp.csr_matrix:
    """Positive PMI, ``max(PMI - shift, 0)``, as a sparse (V, V) matrix (zeros not stored).

    ``shift = log k`` gives the *shifted* PPMI of Levy & Goldberg (2014): the positive part of the
    matrix ``PMI - log k`` that skip-gram with ``k`` negatives implicitly factorises. An unobserved
    pair (PMI = -inf) is 0 whatever the shift.

    Raises:
        ValueError: for a ``shift`` that is not a finite number >= 0, and as :func:`pmi`.
    """
    shift = _checks.number(shift, "shift", low=0)  # e.g. log k
    out = pmi(counts, alpha=alpha)
    out.data = np.maximum(out.data - shift, 0.0)
    out.eliminate_zeros()
    return out


def subsampled_counts(counts: sp.spmatrix, keep: np.ndarray) -> sp.csr_matrix:
    """Expected pair counts after frequent-word subsampling: ``C[w, c] · keep[w] · keep[c]``.

    counts: (V, V), keep: (V,) from :func:`keep_probabilities` -> (V, V). An approximation of what
    word2vec sees: it ignores that removing a word brings farther words into the window.
    """
    keep = _checks.array(keep, "keep", ndim=1)
    if keep.shape != (counts.shape[0],) or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"need a square (V, V) count matrix and keep: (V,), got {counts.shape} and {keep.shape}")
    D = sp.diags(keep)
    return sp.csr_matrix(D @ sp.csr_matrix(counts) @ D)


def pair_values(M: sp.spmatrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Entries ``M[rows[i], cols[i]]`` of a sparse matrix: rows, cols: (P,) -> (P,)."""
    return np.asarray(sp.csr_matrix(M)[rows, cols]).ravel()


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """word2vec's subsampling: the probability of keeping each occurrence of a word.

    counts: (V,) -> (V,) in (0, 1]. gensim's formula: with ``t = sample · Σ counts``,
    ``keep = (sqrt(count / t) + 1) · t / count`` capped at 1, so a word much more frequent than
    ``t`` keeps about ``sqrt(t / count)`` of its occurrences. ``sample=0`` keeps everything.
    """
    counts = _checks.array(counts, "counts", ndim=1)  # NaN and inf refused by name
    if (counts <= 0).any():
        raise _checks.ArgumentError("counts must be a non-empty 1-D array of positive counts")
    sample = _checks.number(sample, "sample", low=0)
    if sample == 0:
        return np.ones_like(counts)
    t = sample * counts.sum()
    return np.minimum((np.sqrt(counts / t) + 1.0) * t / counts, 1.0)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Negative-sampling distribution ``counts**power / Σ counts**power``: (V,) -> (V,)."""
    counts = _checks.array(counts, "counts", ndim=1)  # NaN and inf refused by name
    if (counts < 0).any() or counts.sum() == 0:
        raise _checks.ArgumentError("counts must be a non-empty 1-D array of non-negative counts, not all zero")
    power = _checks.number(power, "power")
    p = counts**power
    return p / p.sum()


# ----------------------------------------------------------------------------------------------
# Skip-gram with a full softmax
# ----------------------------------------------------------------------------------------------
def skipgram_pairs(corpus: EncodedCorpus, window: int, *, vocab_size: int | None = None) -> torch.Tensor:
    """Every (centre, context) pair within ``window`` inside a sentence: (P, 2) int64.

    ``vocab_size`` keeps only pairs whose two ids are below it (the most frequent words). The
    pair counts are exactly :func:`cooccurrence` (non-dynamic) with the same arguments.
    """
    window = _checks.integer(window, "window", low=1)
    C = cooccurrence(corpus, window, vocab_size=vocab_size).tocoo()
    reps = C.data.astype(np.int64)
    rows = np.repeat(C.row.astype(np.int64), reps)
    cols = np.repeat(C.col.astype(np.int64), reps)
    return torch.as_tensor(np.stack([rows, cols], axis=1))


def softmax_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of ``-log softmax(logits)[target]`` = ``logsumexp(z) - z[target]``.

    logits: (B, V), targets: (B,) int -> scalar. Same value as ``F.cross_entropy``.
    """
    if logits.ndim != 2 or targets.ndim != 1 or logits.shape[0] != targets.shape[0]:
        raise ValueError(f"need logits (B, V) and targets (B,), got {tuple(logits.shape)} and {tuple(targets.shape)}")
    if targets.numel() and (targets.min() < 0 or targets.max() >= logits.shape[1]):
        raise ValueError(f"targets must be in 0..{logits.shape[1] - 1}")
    picked = logits.gather(1, targets[:, None]).squeeze(1)
    return (torch.logsumexp(logits, dim=1) - picked).mean()


class SkipGramSoftmax(nn.Module):
    """Skip-gram with a full softmax over the vocabulary and an output bias (chapter 3).

    ``logits = W_in[centre] @ W_out.T + b``: centre: (B,) -> (B, V). ``p(c | w) = softmax(logits)``.
    """

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        if vocab_size < 2 or dim < 1:
            raise ValueError(f"need vocab_size >= 2 and dim >= 1, got {vocab_size}, {dim}")
        self.embed = nn.Embedding(vocab_size, dim)  # W_in
        self.out = nn.Linear(dim, vocab_size, bias=True)  # W_out and the output bias b
        nn.init.normal_(self.embed.weight, std=0.1)
        nn.init.normal_(self.out.weight, std=0.1)
        nn.init.zeros_(self.out.bias)

    def forward(self, centre: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(centre))  # (B, V)

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        """batch: (B, 2) of (centre, context) ids -> mean cross-entropy of the contexts."""
        return softmax_cross_entropy(self(batch[:, 0]), batch[:, 1])

    @torch.no_grad()
    def log_probs(self, centres: torch.Tensor) -> torch.Tensor:
        """log p(c | w) for every context: centres: (B,) -> (B, V)."""
        return torch.log_softmax(self(centres), dim=-1)
