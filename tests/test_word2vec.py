"""Tests for embedlab.word2vec (chapter 3): counts, PMI, subsampling, full softmax; against NumPy, SciPy, gensim."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from embedlab import word2vec as w2v
from embedlab.data import Vocabulary


def _toy_corpus(seed: int = 0, n_sent: int = 20, vocab: int = 12) -> w2v.EncodedCorpus:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    sents = [[words[j] for j in rng.integers(0, vocab, rng.integers(1, 15))] for _ in range(n_sent)]
    return w2v.encode_sentences(sents, Vocabulary.from_tokens(w for s in sents for w in s))


def _direct_counts(corpus: w2v.EncodedCorpus, window: int, dynamic: bool = False) -> np.ndarray:
    V = len(corpus.vocab)
    C = np.zeros((V, V))
    ids, sent = corpus.ids, corpus.sentence
    for i in range(len(ids)):
        for j in range(len(ids)):
            d = abs(i - j)
            if 1 <= d <= window and sent[i] == sent[j]:
                C[ids[i], ids[j]] += (window - d + 1) / window if dynamic else 1.0
    return C


# -- counting and PMI ----------------------------------------------------------------------------
@pytest.mark.parametrize("dynamic", [False, True])
def test_cooccurrence_matches_a_direct_double_loop(dynamic):
    corpus = _toy_corpus()
    C = w2v.cooccurrence(corpus, 3, dynamic=dynamic).toarray()
    np.testing.assert_allclose(C, _direct_counts(corpus, 3, dynamic))
    np.testing.assert_allclose(C, C.T)


def test_cooccurrence_vocab_size_keeps_the_top_block():
    corpus = _toy_corpus()
    full = w2v.cooccurrence(corpus, 2).toarray()
    np.testing.assert_allclose(w2v.cooccurrence(corpus, 2, vocab_size=5).toarray(), full[:5, :5])


@pytest.mark.parametrize("alpha", [1.0, 0.75])
def test_pmi_matches_a_dense_numpy_computation(alpha):
    C = w2v.cooccurrence(_toy_corpus(1), 2).toarray()
    total = C.sum()
    p_wc = C / total
    p_w = C.sum(1) / total
    p_c = C.sum(0) ** alpha / (C.sum(0) ** alpha).sum()
    with np.errstate(divide="ignore"):
        expected = np.log(p_wc / (p_w[:, None] * p_c[None, :]))
    got = w2v.pmi(C, alpha=alpha)
    observed = C > 0
    assert got.nnz == observed.sum()
    dense = got.toarray()
    np.testing.assert_allclose(dense[observed], expected[observed], rtol=1e-10)
    ppmi = w2v.ppmi(C, alpha=alpha).toarray()
    np.testing.assert_allclose(ppmi, np.where(observed, np.maximum(expected, 0), 0.0), rtol=1e-10, atol=1e-12)


def test_shifted_ppmi_is_the_positive_part_of_pmi_minus_the_shift():
    C = w2v.cooccurrence(_toy_corpus(1), 2).toarray()
    dense = w2v.pmi(C, alpha=0.75).toarray()
    observed = C > 0
    for shift in (0.0, math.log(5), 1):
        expected = np.where(observed, np.maximum(dense - shift, 0.0), 0.0)
        got = w2v.ppmi(C, alpha=0.75, shift=shift)
        np.testing.assert_allclose(got.toarray(), expected, rtol=1e-12, atol=0)
        assert (got.data > 0).all()  # zeros are not stored
    for bad in (-0.1, float("inf"), float("nan"), True, "1"):
        with pytest.raises(ValueError, match="shift"):
            w2v.ppmi(C, shift=bad)


def test_pmi_with_given_context_counts_and_subsampled_counts():
    corpus = _toy_corpus(2)
    C = w2v.cooccurrence(corpus, 2).toarray()
    counts = corpus.counts.astype(float)
    keep = np.linspace(0.3, 1.0, len(counts))
    Cs = w2v.subsampled_counts(C, keep).toarray()
    np.testing.assert_allclose(Cs, C * keep[:, None] * keep[None, :])
    noise = w2v.noise_distribution(counts)
    got = w2v.pmi(Cs, alpha=0.75, context_counts=counts).toarray()
    obs = Cs > 0
    r, c = np.nonzero(obs)
    expected = np.log(Cs[r, c]) - np.log(Cs.sum(1)[r]) - np.log(noise[c])
    np.testing.assert_allclose(got[r, c], expected, rtol=1e-10)


def test_pmi_refuses_an_observed_context_with_zero_count():
    # An observed pair whose given context count is 0 once stored PMI = +inf.
    C = np.array([[0, 2, 1], [2, 0, 3], [1, 3, 0]], dtype=float)
    with pytest.raises(ValueError, match=r"context_counts is 0 for context\(s\) \[1\]"):
        w2v.pmi(C, context_counts=np.array([5.0, 0.0, 4.0]))
    # A zero count for a context that no pair uses is fine: it only shifts the normaliser.
    C0 = C.copy()
    C0[:, 2] = 0
    got = w2v.pmi(C0, context_counts=np.array([5.0, 4.0, 0.0]))
    assert np.isfinite(got.data).all() and got.nnz == 4
    for bad in (np.array([1.0, np.nan, 1.0]), np.array([1.0, -1.0, 1.0]), np.ones(4)):
        with pytest.raises(ValueError, match="context_counts"):
            w2v.pmi(C, context_counts=bad)
    for bad in (0, -0.5, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match="alpha"):
            w2v.pmi(C, alpha=bad)
    with pytest.raises(ValueError, match="finite"):
        w2v.pmi(np.array([[0.0, np.inf], [1.0, 0.0]]))


def test_pmi_with_a_large_alpha_does_not_overflow():
    # n_c ** alpha overflows float64 for alpha = 500 (5 ** 500 > 1e349); the log-space form does not.
    C = np.array([[0, 2, 1], [2, 0, 3], [1, 3, 0]], dtype=float)
    alpha = 500.0
    log_ctx = alpha * np.log(C.sum(0))
    log_p_ctx = log_ctx - (log_ctx.max() + np.log(np.exp(log_ctx - log_ctx.max()).sum()))
    r, c = np.nonzero(C)
    expected = np.log(C[r, c]) - np.log(C.sum(1)[r]) - log_p_ctx[c]
    got = w2v.pmi(C, alpha=alpha).toarray()
    np.testing.assert_allclose(got[r, c], expected, rtol=1e-12)


def test_keep_probabilities_and_noise_match_gensim():
    gensim = pytest.importorskip("gensim")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    p = 1.0 / np.arange(1, 41)
    sents = [list(rng.choice(words, size=50, p=p / p.sum())) for _ in range(200)]
    model = gensim.models.Word2Vec(vector_size=4, min_count=1, sample=1e-2, negative=5, workers=1, seed=0)
    model.build_vocab(sents)
    wv = model.wv
    counts = np.array([wv.get_vecattr(w, "count") for w in wv.index_to_key], dtype=float)
    keep = w2v.keep_probabilities(counts, 1e-2)
    gensim_keep = np.array([wv.get_vecattr(w, "sample_int") for w in wv.index_to_key]) / 2**32
    np.testing.assert_allclose(keep, gensim_keep, atol=1e-6)
    noise = w2v.noise_distribution(counts)
    gensim_noise = np.diff(np.concatenate([[0], model.cum_table])) / model.cum_table[-1]
    np.testing.assert_allclose(noise, gensim_noise, atol=1e-6)


# -- full softmax ------------------------------------------------------------------------------------
def test_softmax_cross_entropy_matches_torch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 11, generator=g) * 3
    targets = torch.randint(0, 11, (7,), generator=g)
    torch.testing.assert_close(w2v.softmax_cross_entropy(logits, targets), F.cross_entropy(logits, targets))
    model = w2v.SkipGramSoftmax(11, 4)
    batch = torch.stack([torch.randint(0, 11, (7,), generator=g), targets], 1)
    torch.testing.assert_close(model.loss(batch), F.cross_entropy(model(batch[:, 0]), targets))
    torch.testing.assert_close(model.log_probs(batch[:, 0]).exp().sum(1), torch.ones(7))
    with pytest.raises(ValueError):
        w2v.softmax_cross_entropy(logits, targets[:3])
    with pytest.raises(ValueError):
        w2v.softmax_cross_entropy(logits, targets + 11)


def test_skipgram_pairs_count_like_cooccurrence():
    corpus = _toy_corpus(3)
    pairs = w2v.skipgram_pairs(corpus, 2, vocab_size=6).numpy()
    C = np.zeros((6, 6))
    np.add.at(C, (pairs[:, 0], pairs[:, 1]), 1)
    np.testing.assert_allclose(C, w2v.cooccurrence(corpus, 2, vocab_size=6).toarray())


def test_corpus_bad_input():
    vocab = Vocabulary.from_tokens(["a", "b", "a"])
    with pytest.raises(ValueError, match="empty corpus"):
        w2v.encode_sentences([], vocab)
    with pytest.raises(ValueError, match="empty corpus"):
        w2v.encode_sentences([["zzz"]], vocab)
    with pytest.raises(TypeError):
        w2v.encode_sentences(["a", "b"], vocab)
    corpus = w2v.encode_sentences([["a", "b", "a"]], vocab)
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="window"):
            w2v.cooccurrence(corpus, bad)
    with pytest.raises(ValueError, match="empty"):
        w2v.pmi(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sample"):
        w2v.keep_probabilities(np.array([1.0, 2.0]), -1.0)
    assert math.isclose(w2v.keep_probabilities(np.array([1.0, 2.0]), 0.0).sum(), 2.0)


# -- the chapter's automatic checks --------------------------------------------------------------------
def test_ch03_checks_accept_correct_answers_and_reject_wrong_ones():
    from embedlab.exercises import check

    def my_pmi(C):
        C = np.asarray(C, dtype=float)
        total = C.sum()
        with np.errstate(divide="ignore"):
            return np.log(C * total / (C.sum(1, keepdims=True) * C.sum(0, keepdims=True)))

    def my_grad(x, c, negs):
        s_pos = torch.sigmoid(-(x @ c))
        s_neg = torch.sigmoid(negs @ x)
        return -s_pos * c + s_neg @ negs, -s_pos * x, s_neg[:, None] * x[None, :]

    assert check("ch03.pmi", my_pmi, quiet=True)
    assert check("ch03.sgns_pair_grad", my_grad, quiet=True)
    assert not check("ch03.pmi", lambda C: np.log1p(np.asarray(C)), quiet=True)
    assert not check("ch03.sgns_pair_grad", lambda x, c, n: (c, x, n), quiet=True)


def test_count_helpers_refuse_nan_and_take_numpy_scalars():
    import numpy as np
    import pytest

    from embedlab import word2vec as w2v

    with pytest.raises(ValueError, match="counts contains NaN"):
        w2v.keep_probabilities(np.array([10.0, np.nan, 3.0]))  # was a NaN probability
    with pytest.raises(ValueError, match="counts contains NaN"):
        w2v.noise_distribution(np.array([10.0, np.nan]))
    with pytest.raises(ValueError, match="sample must be a number"):
        w2v.keep_probabilities(np.array([10.0, 3.0]), sample=True)
    np.testing.assert_allclose(w2v.noise_distribution(np.array([1.0, 3.0]), power=np.float32(1.0)), [0.25, 0.75])
    np.testing.assert_allclose(w2v.keep_probabilities(np.array([1, 3]), np.float64(0.0)), [1.0, 1.0])
