"""Tests for embedlab.word2vec (chapter 3), against autograd, NumPy, SciPy and gensim references."""

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


# -- SGNS --------------------------------------------------------------------------------------------
def _sgns_case(seed: int = 0, S: int = 3, L: int = 4, W: int = 2, D: int = 5, K: int = 6):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(S, L, D, generator=g, dtype=torch.float64)
    ctx = torch.randn(S, L + 2 * W, D, generator=g, dtype=torch.float64)
    mask = (torch.rand(S, L, 2 * W + 1, generator=g) < 0.7).double()
    mask[:, :, W] = 0.0  # a centre is never its own context
    neg = torch.randn(K, D, generator=g, dtype=torch.float64)
    weight = mask.sum(-1) * 5 / K
    return x, ctx, mask, neg, weight


def test_sgns_gradients_match_autograd():
    x, ctx, mask, neg, weight = _sgns_case()
    leaves = [t.clone().requires_grad_(True) for t in (x, ctx, neg)]
    loss = w2v.sgns_loss(leaves[0], leaves[1], mask, leaves[2], weight)
    loss.backward()
    g_x, g_ctx, g_neg = w2v.sgns_gradients(x, ctx, mask, neg, weight)
    for hand, leaf in zip((g_x, g_ctx, g_neg), leaves):
        torch.testing.assert_close(hand, -leaf.grad)


def test_sgns_loss_equals_the_per_pair_objective():
    x, ctx, mask, neg, weight = _sgns_case(1)
    S, L, D = x.shape
    W = (mask.shape[-1] - 1) // 2
    expected = torch.zeros((), dtype=torch.float64)
    for s in range(S):
        for t in range(L):
            for j in range(2 * W + 1):
                if mask[s, t, j]:
                    expected -= F.logsigmoid(x[s, t] @ ctx[s, t + j])
            expected -= weight[s, t] * F.logsigmoid(-(neg @ x[s, t])).sum()
    torch.testing.assert_close(w2v.sgns_loss(x, ctx, mask, neg, weight), expected)


def _topic_corpus(seed: int = 0):
    """Two topics; words of a topic share contexts but never appear next to each other."""
    rng = np.random.default_rng(seed)
    sents = []
    for _ in range(1500):
        topic = rng.integers(2)
        heads = ["cat", "dog"] if topic == 0 else ["car", "bus"]
        ctx = [f"a{i}" for i in range(6)] if topic == 0 else [f"b{i}" for i in range(6)]
        sents.append([str(rng.choice(ctx)), str(rng.choice(heads)), str(rng.choice(ctx))])
    return w2v.encode_sentences(sents, Vocabulary.from_tokens(w for s in sents for w in s))


@pytest.fixture
def one_thread():
    """Small SGD steps are overhead-bound; a second OpenMP thread only spins on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sgns_learns_shared_contexts_and_is_deterministic(one_thread):
    corpus = _topic_corpus()
    cfg = w2v.SGNSConfig(dim=8, window=1, epochs=5, streams=4, stream_len=8, shared_negatives=8, sample=0, lr=0.05)
    runs = []
    for _ in range(2):
        model = w2v.SGNS(corpus.counts, cfg)
        stats = model.train(corpus, progress=False)
        runs.append(model.vectors())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert stats.words == 5 * len(corpus) and stats.loss[-1] < stats.loss[0]
    words = corpus.vocab.itos
    near = w2v.nearest_words(runs[0], words, "cat", k=1)[0][0]
    assert near == "dog", w2v.nearest_words(runs[0], words, "cat", k=3)


def test_sgns_bad_input():
    corpus = _toy_corpus()
    with pytest.raises(ValueError, match="window"):
        w2v.SGNSConfig(window=0)
    with pytest.raises(ValueError, match="counts"):
        w2v.SGNS(np.array([3, 0, 1]))
    with pytest.raises(ValueError, match="vocabulary"):
        w2v.SGNS(np.ones(len(corpus.vocab) + 1)).train(corpus, progress=False)


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


# -- evaluation ----------------------------------------------------------------------------------------
def test_word_pair_spearman_matches_gensim_and_scipy(tmp_path):
    gensim = pytest.importorskip("gensim")
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    V = rng.normal(size=(30, 6)).astype(np.float32)
    pairs = [(words[a], words[b], float(rng.integers(0, 5))) for a, b in rng.integers(0, 30, (40, 2)) if a != b]
    pairs.append(("w1", "unknown", 3.0))
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs))
    kv = gensim.models.KeyedVectors(6)
    kv.add_vectors(words, V)
    _, (rho_gensim, _), _ = kv.evaluate_word_pairs(str(path))
    got = w2v.word_pair_spearman(V, words, pairs)
    assert got.pairs_used == len(pairs) - 1 and got.pairs_total == len(pairs)
    assert got.spearman == pytest.approx(rho_gensim, abs=1e-6)
    known = pairs[:-1]
    cos = [
        float(V[int(a[1:])] @ V[int(b[1:])] / np.linalg.norm(V[int(a[1:])]) / np.linalg.norm(V[int(b[1:])]))
        for a, b, _ in known
    ]
    assert got.spearman == pytest.approx(spearmanr(cos, [s for *_, s in known]).statistic, abs=1e-9)


def test_analogy_accuracy_matches_gensim(tmp_path):
    gensim = pytest.importorskip("gensim")
    rng = np.random.default_rng(1)
    n, d = 40, 8
    words = [f"w{i}" for i in range(n)]
    V = rng.normal(size=(n, d))
    unit = V / np.linalg.norm(V, axis=1, keepdims=True)
    lines = []
    for q in range(60):  # plant half the answers so that accuracy is far from 0 and from 1
        a, b, c, dd = rng.choice(n, 4, replace=False)
        if q % 2 == 0:
            V[dd] = unit[b] - unit[a] + unit[c] + 0.05 * rng.normal(size=d)
            unit[dd] = V[dd] / np.linalg.norm(V[dd])
        lines.append(f"{words[a]} {words[b]} {words[c]} {words[dd]}")
    lines.insert(30, ": second")
    lines.append("w1 w2 w3 notaword")
    path = tmp_path / "questions.txt"
    path.write_text(": first\n" + "\n".join(lines) + "\n")
    kv = gensim.models.KeyedVectors(d)
    kv.add_vectors(words, V.astype(np.float32))
    score, sections = kv.evaluate_word_analogies(str(path))
    got = w2v.analogy_accuracy(V.astype(np.float32), words, w2v.read_analogies(path))
    total = next(s for s in sections if s["section"] == "Total accuracy")
    assert got.correct == len(total["correct"]) and got.answered == len(total["correct"]) + len(total["incorrect"])
    assert got.accuracy == pytest.approx(score) and 0 < got.correct < got.answered
    assert got.total == 61 and set(got.by_section) == {"first", "second"}


def test_evaluation_bad_input(tmp_path):
    words = ["a", "b", "c"]
    V = np.eye(3)
    with pytest.raises(KeyError, match="unknown word 'zebra'"):
        w2v.nearest_words(V, words, "zebra")
    with pytest.raises(ValueError, match="vectors must be"):
        w2v.nearest_words(V[:2], words, "a")
    with pytest.raises(ValueError, match="pairs"):
        w2v.word_pair_spearman(V, words, [("x", "y", 1.0)] * 5)
    with pytest.raises(ValueError, match="no word pairs"):
        w2v.word_pair_spearman(V, words, [])
    bad = tmp_path / "bad.txt"
    bad.write_text("a b c d\n")
    with pytest.raises(ValueError, match="section"):
        w2v.read_analogies(bad)


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


def test_word_pair_spearman_bootstrap_interval():
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(50)]
    V = rng.normal(size=(50, 8))
    pairs = [(words[a], words[b], float(rng.normal())) for a, b in rng.integers(0, 50, (200, 2)) if a != b]
    got = w2v.word_pair_spearman(V, words, pairs, bootstrap=500)
    lo, hi = got.interval
    assert lo < got.spearman < hi and hi - lo < 0.5
    assert np.isnan(w2v.word_pair_spearman(V, words, pairs).interval[0])
