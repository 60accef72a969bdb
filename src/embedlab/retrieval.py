"""Semantic search: score documents for a query, from sparse baselines to a trained dual encoder.

Taught in chapter 10 (retrieval), on the WordNet reverse dictionary
(:mod:`embedlab.data.wordnet`: queries are definitions, documents are words). Every scorer
returns ``scores: (n_queries, n_documents)``, which :func:`embedlab.ranking.evaluate` turns into
MRR and recall@k; no metric is computed here.

Word vectors come as one :class:`embedlab.data.WordVectors` (what :func:`embedlab.data.load_glove`
returns; a ``(words, vectors)`` pair is accepted too), whose cached word index is used as it is.
Embeddings are made unit length by :func:`embedlab._rows.unit_rows` with ``zero="raise"``: an
all-zero text average or tower output has no direction and is refused (``F.normalize`` would
keep it as a zero vector that scores 0 against everything).

* :func:`tfidf_scores`: cosine of scikit-learn TF-IDF vectors, over words or character n-grams.
  A document here is one word, so word-level TF-IDF can only match a definition that contains
  its answer, which the task removes: it sits at chance by construction. Character n-grams
  match morphology ("bakes" and "baker" share ``bake``). :func:`choose_tfidf_corpus` picks the
  corpus the IDF is fitted on by validation MRR.
* :func:`average_glove`: the mean GloVe vector of a text's words, mean-centred per side (on a
  mean from :func:`glove_mean` of training texts, or the side's own). Without centring, every
  definition points along the same common direction and ranks the same hub words first;
  subtracting a mean removes it.
* :class:`DualEncoder` and :func:`fit_dual_encoder`: two towers trained with chapter 4's InfoNCE
  through the course's :class:`~embedlab.train.Trainer`. The query tower pools a definition's
  frozen GloVe vectors with four learned attention heads (each weight a function of the word's
  vector, frequency rank and position, so that words never seen in training still get one) and
  maps the result linearly; the word tower maps the word's own GloVe vector linearly, so test
  words that training never saw still get an embedding. On the reverse dictionary it reaches an
  MRR of about 0.18 against character TF-IDF's 0.12, in about 15 s on one CPU thread; MLP towers
  overfit its 20,888 training definitions, and so does fine-tuning the word vectors.
* :func:`top1` turns a query's scores into the features of its top-ranked word (its score, its
  margin over the runner-up, its softmax probability at a temperature, and whether it is
  correct) and :func:`best_relevant` gives the label that temperature scaling
  (:func:`embedlab.calibration.fit_scaling`) fits against: the retrieval-specific half of
  calibrating a search engine's confidence. The generic half lives in :mod:`embedlab.calibration`.

Why this module runs past 400 lines: it is one concept, scoring documents for queries, from the
baselines to the trained model that has to beat them and the confidence of what they return; the
chapter compares them on one task and every part shares the text-to-vectors code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import nn

from embedlab import _checks
from embedlab._rows import softmax, unit_rows
from embedlab.data import WordVectors, as_word_vectors, tokenize
from embedlab.losses import info_nce
from embedlab.probability import check_temperature
from embedlab.ranking import evaluate, hit_rate_at_k, rank_items
from embedlab.train import History, TrainConfig, Trainer
from embedlab.utils import evaluating

if TYPE_CHECKING:
    from embedlab.data.wordnet import Split

__all__ = [
    "tfidf_scores",
    "choose_tfidf_corpus",
    "average_glove",
    "glove_mean",
    "idf_weights",
    "DualEncoderConfig",
    "DualEncoder",
    "fit_dual_encoder",
    "TopOne",
    "top1",
    "best_relevant",
]

Analyzer = Literal["word", "char_wb", "char"]
Vectors = WordVectors | tuple[Sequence[str], np.ndarray]  # embedlab.data.WordVectors, or a (words, vectors) pair


def _texts(texts, name: str) -> list[str]:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{name} must be a sequence of strings (not one string)")
    if len(texts) == 0:
        raise ValueError(f"{name} is empty")
    return list(texts)


# --------------------------------------------------------------------------------------- TF-IDF
def tfidf_scores(
    queries: Sequence[str],
    documents: Sequence[str],
    *,
    analyzer: Analyzer = "word",
    ngram_range: tuple[int, int] | None = None,
    fit_on: Literal["queries", "documents", "both"] | Sequence[str] = "queries",
    chunk: int = 1000,
) -> np.ndarray:
    """Cosine similarities of TF-IDF vectors: (n_queries, n_documents) float32.

    ``ngram_range`` defaults to ``(1, 1)`` for words and ``(3, 5)`` for characters
    (``"char_wb"``: n-grams inside word boundaries, padded with a space). The IDF is fitted on
    ``fit_on``: ``"queries"`` (the default), ``"documents"``, ``"both"``, or an explicit corpus
    of texts. An evaluation should pass an explicit corpus that holds no test text, such as the
    training definitions, and pick between corpora on validation queries with
    :func:`choose_tfidf_corpus`: fitting the IDF on the test queries themselves lets the test set
    shape the scorer. Rows are unit vectors (scikit-learn's ``norm="l2"``), so the product of the
    two matrices is the cosine; a text with no known term has a zero row and scores 0 against
    everything. Queries go ``chunk`` at a time, so only a (chunk, n) block of the sparse product
    exists at once.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    queries, documents = _texts(queries, "queries"), _texts(documents, "documents")
    if analyzer not in ("word", "char_wb", "char"):
        raise ValueError(f"analyzer must be 'word', 'char_wb' or 'char', got {analyzer!r}")
    if ngram_range is None:
        ngram_range = (1, 1) if analyzer == "word" else (3, 5)
    try:
        lo, hi = (_checks.integer(n, "ngram_range", low=1) for n in ngram_range)
    except (TypeError, ValueError):
        lo = hi = 0
    if not 1 <= lo <= hi:
        raise _checks.ArgumentError(f"ngram_range must be two integers 1 <= low <= high, got {ngram_range!r}")
    if isinstance(fit_on, str):
        corpus = {"queries": queries, "documents": documents, "both": queries + documents}.get(fit_on)
        if corpus is None:
            raise ValueError(f"fit_on must be 'queries', 'documents', 'both' or a corpus of texts, got {fit_on!r}")
    else:
        corpus = _texts(fit_on, "fit_on")
    chunk = _checks.integer(chunk, "chunk", low=1)
    vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=(int(lo), int(hi))).fit(corpus)
    Q, D = vectorizer.transform(queries), vectorizer.transform(documents).T.tocsc()  # (n_q, V), (V, n_d)
    out = np.empty((len(queries), len(documents)), dtype=np.float32)
    for start in range(0, len(queries), int(chunk)):
        out[start : start + chunk] = (Q[start : start + chunk] @ D).toarray()
    return out


def choose_tfidf_corpus(
    split: Split,
    corpora: dict[str, Literal["queries", "documents", "both"] | Sequence[str]],
    *,
    analyzer: Analyzer = "char_wb",
    ngram_range: tuple[int, int] | None = None,
) -> tuple[str, dict[str, float]]:
    """The IDF corpus with the best MRR on ``split`` (a validation split), and every corpus's MRR.

    corpora: name -> what :func:`tfidf_scores` takes as ``fit_on`` (texts such as the training
    definitions, or ``"documents"``: the split's own candidate words). The choice is a setting
    like any other, so it is made on validation queries and only the chosen corpus is then used
    on the test queries; ties go to the first name.
    """
    if not isinstance(corpora, dict) or not corpora:
        raise _checks.ArgumentError("corpora must be a non-empty dict of name -> texts")
    mrr = {
        name: float(evaluate(tfidf_scores(split.queries, split.words, analyzer=analyzer, ngram_range=ngram_range,
                                          fit_on=corpus), split.relevant, k=min(10, len(split.words))).mrr.mean())
        for name, corpus in corpora.items()
    }  # fmt: skip
    return max(mrr, key=lambda n: mrr[n]), mrr


# -------------------------------------------------------------------------------- averaged GloVe
def _vocabulary(vocab_vectors: Vectors) -> tuple[dict[str, int], np.ndarray]:
    """The table's (cached) word -> row index and its vectors as float32 (V, e), finite."""
    try:
        wv = as_word_vectors(vocab_vectors, "vocab_vectors")
    except ValueError as e:
        raise _checks.ArgumentError(f"vocab_vectors: {e}") from None
    vectors = _checks.array(wv.vectors, "vocab_vectors.vectors", ndim=2, dtype=np.float32)
    return wv.index, vectors


def _token_ids(texts: list[str], index: dict[str, int], name: str) -> list[list[int]]:
    """Vocabulary rows of each text: the text itself when it is a vocabulary entry (a document
    word such as ``"dead-on"`` keeps its own vector), else its in-vocabulary tokens."""
    ids = [[index[t]] if t in index else [index[w] for w in tokenize(t) if w in index] for t in texts]
    empty = [i for i, row in enumerate(ids) if not row]
    if empty:
        raise ValueError(f"{name}: {len(empty)} texts have no word in the vocabulary (e.g. index {empty[0]}: "
                         f"{texts[empty[0]]!r}); use a larger vocabulary or drop them")  # fmt: skip
    return ids


def idf_weights(texts: Sequence[str]) -> dict[str, float]:
    """Inverse document frequency of each word of ``texts``: word -> ``log((1 + n) / (1 + df)) + 1``
    (scikit-learn's smoothed IDF, over :func:`embedlab.data.tokenize`'s tokens). Fitted on the
    training definitions, it is the weight :func:`average_glove` gives a word, so that "a", "of"
    and "the" stop dominating a definition's average (SIF's idea, with IDF for the weight)."""
    texts = _texts(texts, "texts")
    df: dict[str, int] = {}
    for t in texts:
        for w in set(tokenize(t)):
            df[w] = df.get(w, 0) + 1
    n = len(texts)
    return {w: math.log((1 + n) / (1 + d)) + 1.0 for w, d in df.items()}


def _averages(texts: list[str], vocab_vectors: Vectors, weights: Mapping[str, float] | None = None) -> np.ndarray:
    """(n, e) float64: each text's mean word vector, weighted by ``weights`` (a word missing from
    it gets the largest weight: a word the weighting corpus never saw is rarer than any it did)."""
    index, vectors = _vocabulary(vocab_vectors)
    rows = _token_ids(texts, index, "texts")
    if weights is None:
        return np.stack([vectors[row].mean(axis=0) for row in rows]).astype(np.float64)
    if not isinstance(weights, Mapping) or not weights:
        raise _checks.ArgumentError("weights must be a non-empty mapping word -> weight (e.g. idf_weights(...))")
    w_max = max(weights.values())
    if not all(np.isfinite(w) and w > 0 for w in weights.values()):
        raise _checks.ArgumentError("weights must be finite and positive")
    out = np.empty((len(rows), vectors.shape[1]))
    for i, (text, row) in enumerate(zip(texts, rows)):
        tokens = [text] if text in index else [w for w in tokenize(text) if w in index]  # as _token_ids
        w = np.array([weights.get(t, w_max) for t in tokens])
        out[i] = w @ vectors[row].astype(np.float64) / w.sum()
    return out


def glove_mean(
    texts: Sequence[str], vocab_vectors: Vectors, *, weights: Mapping[str, float] | None = None
) -> np.ndarray:
    """The mean of the texts' average word vectors: (n,) texts -> (e,) float64, the vector that
    :func:`average_glove` subtracts. Compute it on training or validation texts (with the same
    ``weights``) and pass it as ``mean=`` to centre test queries without using the test
    queries' own statistics."""
    return _averages(_texts(texts, "texts"), vocab_vectors, weights).mean(axis=0)


def average_glove(
    texts: Sequence[str],
    vocab_vectors: Vectors,
    *,
    centre: bool = True,
    mean: np.ndarray | None = None,
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Unit vectors of texts: the mean word vector, minus a common mean vector if ``centre``.

    texts: (n,) -> (n, e) float32. The subtracted vector is ``mean`` when given (e.g.
    :func:`glove_mean` of the training definitions: the test queries' own mean would let the
    test set shape the scorer), else the mean over ``texts``. Call it once per side (queries,
    documents): centring is what makes the averages usable (without it a definition's average
    is mostly the direction every definition shares); it is the first step of Mu and Viswanath's
    "all-but-the-top", which also removes a few top principal directions, and Arora et al.'s SIF
    removes the first one after weighting frequent words down. ``weights`` (word -> weight, e.g.
    :func:`idf_weights` of the training definitions) turns the mean into a weighted mean. Words
    outside the vocabulary are skipped; a text with none in it raises ``ValueError``.
    """
    texts = _texts(texts, "texts")
    centre = _checks.flag(centre, "centre")
    X = _averages(texts, vocab_vectors, weights)  # (n, e)
    if mean is not None:
        if not centre:
            raise _checks.ArgumentError("mean= is the vector to centre on; it needs centre=True")
        m = _checks.array(mean, "mean", ndim=1, dtype=np.float64)
        if m.shape != (X.shape[1],):
            raise _checks.ArgumentError(f"mean must have shape ({X.shape[1]},), got {m.shape}")
        X = X - m
    elif centre:
        if len(texts) < 2:
            raise ValueError("centre=True needs at least 2 texts (one text minus its own mean is zero)")
        X = X - X.mean(axis=0)
    # the zero-vector policy of embedlab.similarity: a zero row has no direction, no cosine: refused
    return unit_rows(X, zero="raise", name="texts").astype(np.float32)


# ---------------------------------------------------------------------------------- dual encoder
@dataclass
class DualEncoderConfig:
    """Settings of :func:`fit_dual_encoder`. The defaults won on the reverse dictionary's
    validation split (MRR 0.265 over its 2,528 words), changing one setting at a time: mean
    pooling 0.224, one head 0.244, no dropout 0.260, MLP towers of 256 units 0.245 (they overfit
    the 20,888 training definitions), CLIP's symmetric loss 0.262."""

    dim: int = 128  # embedding dimension of both towers
    hidden: int = 0  # hidden width of an MLP in each tower; 0 for a linear map
    dropout: float = 0.2  # on each tower's input
    pooling: Literal["attention", "mean"] = "attention"
    heads: int = 4  # attention pooling: how many weighted means of the definition's words
    positions: bool = True  # attention pooling: add a learned score per position in the definition
    temperature: float = 0.05  # InfoNCE's initial temperature
    learn_temperature: bool = True
    batch_size: int = 256
    steps: int = 2000
    lr: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        for name, low in (("dim", 1), ("heads", 1), ("batch_size", 2), ("steps", 1), ("hidden", 0), ("seed", 0)):
            _checks.integer(getattr(self, name), name, low=low)
        _checks.choice(self.pooling, "pooling", ("attention", "mean"))
        _checks.flag(self.positions, "positions")
        _checks.flag(self.learn_temperature, "learn_temperature")
        check_temperature(self.temperature)
        _checks.number(self.lr, "lr", low=0, low_open=True)
        _checks.number(self.weight_decay, "weight_decay", low=0)
        _checks.number(self.dropout, "dropout", low=0, high=1, high_open=True)


MAX_POSITION = 32  # positions with their own attention score (99% of WordNet's noun glosses have <= 30 words)


def _tower(e: int, hidden: int, dim: int, dropout: float = 0.0) -> nn.Module:
    if hidden == 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(e, dim))
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(e, hidden), nn.GELU(), nn.Linear(hidden, dim))


class DualEncoder(nn.Module):
    """A query tower and a word tower over frozen word vectors, both ending on the unit sphere.

    ``vocab_vectors``: a :class:`embedlab.data.WordVectors` (or ``(words, vectors: (V, e))``) with
    rows in frequency order (GloVe's order), so
    that a row index is a frequency rank. The table is a non-persistent buffer: a state dict holds
    only what was trained, and loading one needs the same vectors.
    """

    vectors: torch.Tensor  # buffers, declared for type checkers (nn.Module.__getattr__ returns Tensor | Module)
    log_rank: torch.Tensor

    def __init__(self, vocab_vectors: Vectors, config: DualEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DualEncoderConfig()
        self.index, vectors = _vocabulary(vocab_vectors)
        V, e = vectors.shape
        self.register_buffer("vectors", torch.from_numpy(vectors), persistent=False)  # (V, e), frozen
        # log(1 + rank): the attention can learn "frequent words matter less" (IDF-like), and the
        # rank is known for every word, including those no training definition contains.
        self.register_buffer("log_rank", torch.log1p(torch.arange(V, dtype=torch.float32)), persistent=False)
        H = cfg.heads if cfg.pooling == "attention" else 1
        self.attention = nn.Linear(e + 1, H)  # a word's pooling scores from its vector and rank
        self.position = nn.Parameter(torch.zeros(MAX_POSITION, H)) if cfg.positions else None
        self.query_tower = _tower(H * e, cfg.hidden, cfg.dim, cfg.dropout)
        self.word_tower = _tower(e, cfg.hidden, cfg.dim, cfg.dropout)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(cfg.temperature)),
                                            requires_grad=cfg.learn_temperature)  # fmt: skip

    @property
    def temperature(self) -> torch.Tensor:
        # Clamped at 0.01 (CLIP caps its logit scale at 100): below it the loss can blow up.
        return self.log_temperature.exp().clamp_min(0.01)

    def token_ids(self, texts: Sequence[str], name: str = "texts") -> tuple[torch.Tensor, torch.Tensor]:
        """Padded vocabulary rows (n, T) int64 and their mask (n, T) bool (True: a real word)."""
        rows = _token_ids(_texts(texts, name), self.index, name)
        T = max(map(len, rows))
        ids = torch.zeros(len(rows), T, dtype=torch.int64)
        mask = torch.zeros(len(rows), T, dtype=torch.bool)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = True
        return ids, mask

    def _mean(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) padded rows -> (B, e): the plain mean of each row's vectors."""
        m = mask[..., None].to(self.vectors.dtype)  # (B, T, 1)
        return (self.vectors[ids] * m).sum(dim=1) / m.sum(dim=1)

    def _attend(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) padded rows -> (B, H * e): H weighted means, weights a softmax over the words."""
        x = self.vectors[ids]  # (B, T, e)
        score = self.attention(torch.cat([x, self.log_rank[ids, None]], dim=-1))  # (B, T, H)
        if self.position is not None:
            # WordNet's glosses start with the genus ("a small carved or molded figure"): where a
            # word stands says how much it tells. Positions past the table share its last row.
            pos = torch.arange(ids.shape[1], device=ids.device).clamp_max(self.position.shape[0] - 1)
            score = score + self.position[pos]  # (T, H) broadcast over the batch
        weights = torch.softmax(score.masked_fill(~mask[..., None], -math.inf), dim=1)  # (B, T, H); padding 0
        return torch.einsum("bth,bte->bhe", weights, x).flatten(1)

    def queries(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) padded definitions -> (B, dim) unit vectors (an all-zero embedding, which has no
        direction, raises instead of staying zero as ``F.normalize`` would leave it)."""
        pooled = self._attend(ids, mask) if self.config.pooling == "attention" else self._mean(ids, mask)
        return unit_rows(self.query_tower(pooled), zero="raise", name="query embeddings")

    def words(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) padded words (one row each, usually) -> (B, dim) unit vectors; a multi-token
        word is the plain mean of its rows. A zero embedding raises, as in :meth:`queries`."""
        return unit_rows(self.word_tower(self._mean(ids, mask)), zero="raise", name="word embeddings")

    @torch.no_grad()
    def encode(self, texts: Sequence[str], side: Literal["query", "word"], batch_size: int = 4096) -> torch.Tensor:
        """Embeddings of ``texts`` on one side: (n,) -> (n, dim) float32, unit rows."""
        if side not in ("query", "word"):
            raise ValueError(f"side must be 'query' or 'word', got {side!r}")
        ids, mask = self.token_ids(texts)
        tower = self.queries if side == "query" else self.words
        device = self.vectors.device
        with evaluating(self):  # no dropout; the caller's mode comes back afterwards
            return torch.cat([tower(ids[i : i + batch_size].to(device), mask[i : i + batch_size].to(device)).cpu()
                              for i in range(0, len(ids), batch_size)])  # fmt: skip

    def scores(self, queries: Sequence[str], words: Sequence[str]) -> np.ndarray:
        """Cosine scores (n_queries, n_words) float32, ready for :func:`embedlab.ranking.evaluate`."""
        return (self.encode(queries, "query") @ self.encode(words, "word").T).numpy()


def fit_dual_encoder(
    train: Split,
    vocab_vectors: Vectors,
    config: DualEncoderConfig | None = None,
    *,
    valid: Split | None = None,
    eval_every: int = 0,
) -> tuple[DualEncoder, History]:
    """Train a :class:`DualEncoder` on ``train``'s (definition, word) pairs with InfoNCE.

    Each step draws ``batch_size`` definitions and one of each one's words; the other words of
    the batch are its negatives (:func:`embedlab.losses.info_nce`). ``train`` and ``valid`` are
    :class:`embedlab.data.wordnet.Split` (anything with ``queries``, ``words``, ``relevant``).
    With ``valid``, the validation MRR over ``valid.words`` is recorded every ``eval_every`` steps
    and at the end (``history.eval_curve("mrr")``). The same config gives the same model; the
    global random state is left as it was. Returns the model in eval mode.
    """
    cfg = config or DualEncoderConfig()
    with torch.random.fork_rng(devices=[]):  # the initial weights come from the seed, not the caller's state
        torch.manual_seed(cfg.seed)
        model = DualEncoder(vocab_vectors, cfg)
    q_ids, q_mask = model.token_ids(train.queries, "train.queries")  # (n_q, T)
    w_ids, w_mask = model.token_ids(train.words, "train.words")  # (n_w, T_w)
    counts = torch.tensor([len(r) for r in train.relevant])
    if len(counts) != len(q_ids) or (counts == 0).any():
        raise ValueError("train.relevant must give every query at least one word")
    flat = torch.from_numpy(np.concatenate([np.asarray(r, dtype=np.int64) for r in train.relevant]))
    if flat.min() < 0 or flat.max() >= len(w_ids):
        raise ValueError(f"train.relevant has word ids outside 0..{len(w_ids) - 1}")
    starts = torch.cumsum(counts, 0) - counts
    B = min(cfg.batch_size, len(q_ids))
    if B < 2:
        raise ValueError("train needs at least 2 definitions: InfoNCE needs a negative")

    def get_batch(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        q = torch.randperm(len(q_ids), generator=g)[:B]  # (B,) distinct definitions
        pick = (torch.rand(len(q), generator=g) * counts[q]).long()  # one of each one's words
        return q, flat[starts[q] + pick]

    def loss_fn(m: DualEncoder, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        q, w = batch
        qm, wm = q_mask[q], w_mask[w]
        tq, tw = int(qm.sum(1).max()), int(wm.sum(1).max())  # the batch's longest: less padding to pool
        zq, zw = m.queries(q_ids[q, :tq], qm[:, :tq]), m.words(w_ids[w, :tw], wm[:, :tw])  # (B, dim) each
        # Two definitions in a batch may share a word (two senses of it): the duplicate is then a
        # false negative, an approximation kept for its simplicity. (CLIP's symmetric loss, which
        # also picks each word's definition, scored the same on the validation split.)
        return info_nce(zq, zw, m.temperature)

    eval_fn: Callable[[DualEncoder], dict[str, float]] | None = None
    if valid is not None:
        def eval_fn(m: DualEncoder) -> dict[str, float]:
            return {"mrr": evaluate(m.scores(valid.queries, valid.words), valid.relevant).means()["mrr"]}

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    trainer = Trainer(model, optimizer, get_batch, loss_fn, eval_fn=eval_fn,
                      config=TrainConfig(max_steps=cfg.steps, grad_clip=1.0, eval_every=eval_every,
                                         log_every=max(1, cfg.steps // 200), progress=cfg.progress,
                                         desc="dual encoder", seed=cfg.seed))  # fmt: skip
    history = trainer.run()
    return model.eval(), history


# ------------------------------------------------------------------- from scores to confidence
@dataclass(frozen=True, eq=False)
class TopOne:
    """The top-ranked word of each query, and what calibration needs to know about it.

    word: (n,) int64 its id; score: (n,) its score; margin: (n,) its lead over the runner-up;
    confidence: (n,) its probability under ``softmax(scores / temperature)`` over all candidates;
    correct: (n,) bool, whether it is one of the query's relevant words.
    """

    word: np.ndarray
    score: np.ndarray
    margin: np.ndarray
    confidence: np.ndarray
    correct: np.ndarray

    def features(self) -> np.ndarray:
        """(n, 2) float64: ``[score, margin]``, the inputs of a learned confidence
        (:func:`embedlab.calibration.fit_confidence`)."""
        return np.stack([self.score, self.margin], axis=1)


def _score_matrix(scores) -> np.ndarray:
    """scores as a finite (n, m) NumPy array, m >= 2, integer or float as given (bfloat16: float32)."""
    s = _checks.array(scores, "scores", ndim=2, dtype=None, empty=True)
    if s.shape[0] == 0 or s.shape[1] < 2:
        raise _checks.ArgumentError(f"scores must be (n_queries, n_words) with n_words >= 2, got shape {s.shape}")
    if s.dtype.kind == "f" and not np.isfinite(s).all():
        raise _checks.ArgumentError("scores must hold finite numbers (found NaN or ±inf)")
    return s


def top1(scores, relevant, *, temperature: float = 1.0, chunk: int = 1024) -> TopOne:
    """Features of each query's top word: scores (n, m), relevant (n,) word-id arrays -> :class:`TopOne`.

    The ranking is :func:`embedlab.ranking.rank_items`'s (ties go to the lower id) and
    ``correct`` is its hit rate at 1. At ``temperature=1`` a cosine's softmax over thousands of
    words is almost uniform (a confidence near ``1 / m``), whatever the accuracy: the temperature
    is what calibration fits. Queries go ``chunk`` at a time through the softmax (float64).
    """
    s = _score_matrix(scores)
    t = check_temperature(temperature)
    t = float(t.detach()) if isinstance(t, torch.Tensor) else t  # a confidence is not differentiated
    chunk = _checks.integer(chunk, "chunk", low=1)
    top = rank_items(s, 2)  # (n, 2): best and runner-up
    rows = np.arange(len(s))
    best, second = s[rows, top[:, 0]].astype(np.float64), s[rows, top[:, 1]].astype(np.float64)
    confidence = np.empty(len(s))
    for i in range(0, len(s), int(chunk)):
        z = (s[i : i + chunk].astype(np.float64) - best[i : i + chunk, None]) / t  # (c, m), max 0, no overflow
        p = softmax(z, name="scores / temperature")  # (c, m) the package's one softmax
        confidence[i : i + chunk] = p[np.arange(len(p)), top[i : i + chunk, 0]]
    correct = hit_rate_at_k(top[:, :1], relevant) > 0
    return TopOne(top[:, 0], best, best - second, confidence, correct)


def best_relevant(scores, relevant) -> np.ndarray:
    """The best-scoring relevant word of each query (ties: the lower id): (n,) int64.

    A query with several correct words has no single label; temperature scaling
    (:func:`embedlab.calibration.fit_scaling`) gets this one, so that its NLL is that of the
    correct word the ranking puts first, and "argmax == label" is exactly "the top word is
    correct".
    """
    s = _score_matrix(scores)
    if len(relevant) != len(s):
        raise ValueError(f"relevant must hold one array per query ({len(s)}), got {len(relevant)}")
    out = np.empty(len(s), dtype=np.int64)
    for i, r in enumerate(relevant):
        r = np.unique(np.asarray(r))  # sorted, so argmax's first maximum is the lowest id
        if r.size == 0 or not np.issubdtype(r.dtype, np.integer) or r[0] < 0 or r[-1] >= s.shape[1]:
            raise ValueError(f"relevant[{i}] must hold word ids in 0..{s.shape[1] - 1}, got {r!r}")
        out[i] = r[np.argmax(s[i, r])]
    return out
