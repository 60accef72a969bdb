"""Tests for embedlab.sgns (chapter 3): gradients against autograd, the objective, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from embedlab import word2vec as w2v
from embedlab.data import Vocabulary, WordVectors
from embedlab.sgns import SGNS, SGNSConfig, sgns_gradients, sgns_loss
from embedlab.wordsim import nearest_words


def _toy_corpus(seed: int = 0, n_sent: int = 20, vocab: int = 12) -> w2v.EncodedCorpus:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    sents = [[words[j] for j in rng.integers(0, vocab, rng.integers(1, 15))] for _ in range(n_sent)]
    return w2v.encode_sentences(sents, Vocabulary.from_tokens(w for s in sents for w in s))


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
    loss = sgns_loss(leaves[0], leaves[1], mask, leaves[2], weight)
    loss.backward()
    g_x, g_ctx, g_neg = sgns_gradients(x, ctx, mask, neg, weight)
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
    torch.testing.assert_close(sgns_loss(x, ctx, mask, neg, weight), expected)


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
    cfg = SGNSConfig(dim=8, window=1, epochs=5, streams=4, stream_len=8, shared_negatives=8, sample=0, lr=0.05)
    runs = []
    for _ in range(2):
        model = SGNS(corpus.counts, cfg)
        stats = model.train(corpus, progress=False)
        runs.append(model.vectors())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert stats.words == 5 * len(corpus) and stats.loss[-1] < stats.loss[0]
    words = corpus.vocab.itos
    near = nearest_words(WordVectors(words, runs[0]), "cat", k=1)[0][0]
    assert near == "dog", nearest_words(WordVectors(words, runs[0]), "cat", k=3)


def test_sgns_bad_input():
    corpus = _toy_corpus()
    with pytest.raises(ValueError, match="window"):
        SGNSConfig(window=0)
    with pytest.raises(ValueError, match="counts"):
        SGNS(np.array([3, 0, 1]))
    with pytest.raises(ValueError, match="vocabulary"):
        SGNS(np.ones(len(corpus.vocab) + 1)).train(corpus, progress=False)


