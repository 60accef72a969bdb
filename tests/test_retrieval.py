"""embedlab.retrieval: TF-IDF against scikit-learn, averaged vectors by hand, a dual encoder that
learns a synthetic task it cannot solve untrained, and the features that calibrate a ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from embedlab.calibration import confidence_ece, fit_confidence, fit_scaling
from embedlab.data.wordnet import Split
from embedlab.ranking import evaluate
from embedlab.retrieval import (
    DualEncoder,
    DualEncoderConfig,
    average_glove,
    best_relevant,
    choose_tfidf_corpus,
    fit_dual_encoder,
    glove_mean,
    idf_weights,
    tfidf_scores,
    top1,
)

QUERIES = ["a person who bakes bread", "a young dog", "frozen water", "the baker's dog barks"]
WORDS = ["baker", "puppy", "ice", "dog", "bread"]


# -------------------------------------------------------------------------------------- TF-IDF
@pytest.mark.parametrize("analyzer, ngrams", [("word", (1, 1)), ("char_wb", (3, 5)), ("char", (2, 4))])
@pytest.mark.parametrize("fit_on", ["queries", "documents", "both"])
def test_tfidf_matches_a_direct_sklearn_computation(analyzer, ngrams, fit_on):
    corpus = {"queries": QUERIES, "documents": WORDS, "both": QUERIES + WORDS}[fit_on]
    v = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams).fit(corpus)
    expected = (v.transform(QUERIES) @ v.transform(WORDS).T).toarray()
    got = tfidf_scores(QUERIES, WORDS, analyzer=analyzer, ngram_range=ngrams, fit_on=fit_on, chunk=3)
    assert got.shape == (4, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_tfidf_defaults_and_what_words_can_match():
    word = tfidf_scores(QUERIES, WORDS)  # word level, IDF from the queries
    assert word[3, 3] > 0 and word[0, 4] > 0  # "dog" and "bread" occur in those definitions
    assert word[0, 0] == 0  # "baker" does not occur as a word: no match at all
    char = tfidf_scores(QUERIES, WORDS, analyzer="char_wb")  # (3, 5) by default
    assert char[0, 0] > 0  # "bakes" and "baker" share "bak", "bake"
    np.testing.assert_allclose(char, tfidf_scores(QUERIES, WORDS, analyzer="char_wb", ngram_range=(3, 5)))


def test_tfidf_fits_an_explicit_corpus_and_chooses_one_on_validation():
    corpus = ["bread and dogs", "a dog", "ice and water"]  # e.g. training definitions
    v = TfidfVectorizer().fit(corpus)
    expected = (v.transform(QUERIES) @ v.transform(WORDS).T).toarray()
    np.testing.assert_allclose(tfidf_scores(QUERIES, WORDS, fit_on=corpus), expected, atol=1e-6)
    relevant = tuple(np.array([i]) for i in range(4))
    valid = Split(tuple(QUERIES), tuple(WORDS), relevant, tuple(("n", i) for i in range(4)))
    best, mrr = choose_tfidf_corpus(valid, {"training": corpus, "candidate words": "documents"})
    assert set(mrr) == {"training", "candidate words"} and best == max(mrr, key=lambda n: mrr[n])
    for name, fit_on in [("training", corpus), ("candidate words", "documents")]:
        S = tfidf_scores(QUERIES, WORDS, analyzer="char_wb", fit_on=fit_on)
        assert mrr[name] == pytest.approx(evaluate(S, valid.relevant, k=5).mrr.mean())
    with pytest.raises(ValueError, match="corpora"):
        choose_tfidf_corpus(valid, {})


@pytest.mark.parametrize("kwargs, match", [
    (dict(analyzer="chars"), "analyzer"), (dict(fit_on=[]), "fit_on is empty"),
    (dict(ngram_range=(3, 2)), "ngram_range"),
    (dict(ngram_range=(0, 1)), "ngram_range"), (dict(fit_on="words"), "fit_on"), (dict(chunk=0), "chunk"),
])  # fmt: skip
def test_tfidf_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tfidf_scores(QUERIES, WORDS, **kwargs)
    with pytest.raises(ValueError, match="queries must be a sequence of strings"):
        tfidf_scores("a person", WORDS)
    with pytest.raises(ValueError, match="documents is empty"):
        tfidf_scores(QUERIES, [])


# ------------------------------------------------------------------------------- averaged GloVe
TOY = (["the", "dog", "barks", "cat", "dead-on"],
       np.array([[1, 1, 0], [0, 2, 0], [0, 0, 4], [3, 0, 0], [0, 3, 4]], dtype=np.float32))  # fmt: skip


def test_average_glove_by_hand():
    texts = ["The dog barks!", "cat", "dead-on", "a cat unknownword"]
    X = average_glove(texts, TOY, centre=False)
    means = np.array([[1, 3, 4], [3, 0, 0], [0, 3, 4], [3, 0, 0]]) / np.array([[3], [1], [1], [1]])
    # "dead-on" is a vocabulary entry: its own vector, not the mean of "dead" and "on" (both unknown)
    np.testing.assert_allclose(X, means / np.linalg.norm(means, axis=1, keepdims=True), atol=1e-6)
    C = average_glove(texts, TOY)  # each side centred on its own mean
    centred = means - means.mean(axis=0)
    np.testing.assert_allclose(C, centred / np.linalg.norm(centred, axis=1, keepdims=True), atol=1e-6)
    assert C.dtype == np.float32


def test_average_glove_centres_on_a_given_mean_and_weights_words():
    train = ["the dog", "the cat", "barks"]
    m = glove_mean(train, TOY)
    np.testing.assert_allclose(m, np.mean([[0.5, 1.5, 0], [2, 0.5, 0], [0, 0, 4]], axis=0))
    texts = ["The dog barks!", "cat"]
    raw = np.array([[1, 3, 4], [9, 0, 0]]) / np.array([[3], [3]])
    centred = (raw - m) / np.linalg.norm(raw - m, axis=1, keepdims=True)
    np.testing.assert_allclose(average_glove(texts, TOY, mean=m), centred, atol=1e-6)
    idf = idf_weights(train)  # "the" in 2 of 3 texts, the others in 1: smoothed log((1+n)/(1+df)) + 1
    assert idf["the"] == pytest.approx(np.log(4 / 3) + 1) and idf["dog"] == pytest.approx(np.log(2) + 1)
    w = {"the": 1.0, "dog": 3.0}  # "barks" is missing: it gets the largest weight, 3
    X = average_glove(["the dog barks"], TOY, centre=False, weights=w)
    expected = np.array([1, 1, 0]) + 3 * np.array([0, 2, 0]) + 3 * np.array([0, 0, 4])
    np.testing.assert_allclose(X[0], expected / np.linalg.norm(expected), atol=1e-6)
    with pytest.raises(ValueError, match="needs centre=True"):
        average_glove(texts, TOY, centre=False, mean=m)
    with pytest.raises(ValueError, match="mean must have shape"):
        average_glove(texts, TOY, mean=m[:2])
    with pytest.raises(ValueError, match="weights must be finite and positive"):
        average_glove(texts, TOY, weights={"the": 0.0})


def test_average_glove_errors():
    with pytest.raises(ValueError, match=r"1 texts have no word in the vocabulary \(e.g. index 1: 'zzz'\)"):
        average_glove(["dog", "zzz"], TOY)
    with pytest.raises(ValueError, match="at least 2 texts"):
        average_glove(["dog"], TOY)
    with pytest.raises(ValueError, match="zero vector"):
        average_glove(["dog", "dog"], TOY)  # equal texts minus their mean: no direction left
    with pytest.raises(ValueError, match="centre must be True or False"):
        average_glove(["dog", "cat"], TOY, centre=None)
    with pytest.raises(ValueError, match=r"vocab_vectors: .*5 words need vectors of shape \(5, dim\)"):
        average_glove(["dog", "cat"], (TOY[0], TOY[1][:4]))
    with pytest.raises(ValueError, match="a pair"):
        average_glove(["dog", "cat"], TOY[1])


# --------------------------------------------------------------------------------- dual encoder
def _name(prefix: str, i: int) -> str:
    """A token of letters only (tokenize splits at digits): _name("c", 27) == "cbb"."""
    return prefix + chr(97 + i // 26) + chr(97 + i % 26)


def _synthetic(n_answers: int = 240, e: int = 16, seed: int = 0):
    """A task no untrained scorer solves: a definition is 2 frequent filler words and 3 content
    words, and its answer's vector is a fixed random rotation of the content words' mean (plus
    noise). The dual encoder must learn the rotation (and to ignore the fillers) from 180 answers
    and apply it to 60 answers and definitions it never saw."""
    rng = np.random.default_rng(seed)
    n_fill, n_content = 10, 150
    fill = rng.normal(0, 1, (n_fill, e))
    content = rng.normal(0, 1, (n_content, e))
    rotation = np.linalg.qr(rng.normal(size=(e, e)))[0]
    picks = np.stack([rng.choice(n_content, 3, replace=False) for _ in range(n_answers)])
    answers = content[picks].mean(axis=1) @ rotation.T + 0.1 * rng.normal(size=(n_answers, e))
    words = [_name(p, i) for p, n in (("f", n_fill), ("c", n_content), ("a", n_answers)) for i in range(n)]
    vectors = np.concatenate([fill, content, answers]).astype(np.float32)  # fillers first: the most frequent
    queries = [" ".join([_name("f", rng.integers(n_fill)), _name("c", p[0]), _name("f", rng.integers(n_fill)),
                         _name("c", p[1]), _name("c", p[2])]) for p in picks]  # fmt: skip

    def split(idx: np.ndarray) -> Split:  # answers sorted by name, as reverse_dictionary sorts words
        names = sorted(_name("a", i) for i in idx)
        relevant = tuple(np.array([names.index(_name("a", i))]) for i in idx)
        return Split(tuple(queries[i] for i in idx), tuple(names), relevant, tuple(("noun", int(i)) for i in idx))

    return (words, vectors), split(np.arange(180)), split(np.arange(180, n_answers))


SMALL = DualEncoderConfig(dim=16, batch_size=64, steps=300, lr=1e-2, dropout=0.0)


@pytest.fixture(scope="module")
def synthetic():
    vocab, train, test = _synthetic()
    model, history = fit_dual_encoder(train, vocab, SMALL, valid=test, eval_every=100)
    return vocab, train, test, model, history


def test_dual_encoder_learns_the_synthetic_task(synthetic):
    vocab, train, test, model, history = synthetic
    chance = np.mean(1 / np.arange(1, len(test.words) + 1))  # MRR of a random ranking: 0.078 for 60 words
    untrained = evaluate(average_glove(test.queries, vocab) @ average_glove(test.words, vocab).T, test.relevant)
    learned = evaluate(model.scores(test.queries, test.words), test.relevant).means()["mrr"]
    assert untrained.means()["mrr"] < 2 * chance
    assert learned > 0.6 > 5 * chance, learned  # on answers and definitions it never saw
    assert history.eval_steps == [100, 200, 300] and history.eval_curve("mrr")[-1] == pytest.approx(learned)
    assert history.loss[-1] < history.loss[0]
    assert not model.training


def test_dual_encoder_is_deterministic_and_leaves_the_global_rng_alone(synthetic):
    vocab, train, test, model, _ = synthetic
    torch.manual_seed(123)
    state = torch.get_rng_state()
    again, _ = fit_dual_encoder(train, vocab, SMALL)
    assert torch.equal(torch.get_rng_state(), state)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    np.testing.assert_array_equal(model.scores(test.queries, test.words), again.scores(test.queries, test.words))
    assert "vectors" not in model.state_dict()  # the frozen table is not part of what was trained
    other, _ = fit_dual_encoder(train, vocab, DualEncoderConfig(**{**SMALL.__dict__, "seed": 1}))
    assert not torch.equal(other.query_tower[1].weight, model.query_tower[1].weight)


def test_dual_encoder_shapes_and_variants():
    vocab, train, test = _synthetic(n_answers=200)
    for cfg in (DualEncoderConfig(dim=8, hidden=12, pooling="mean", heads=3, positions=False, steps=3, batch_size=8),
                DualEncoderConfig(dim=8, heads=2, steps=3, batch_size=500, learn_temperature=False)):  # fmt: skip
        model, history = fit_dual_encoder(train, vocab, cfg)
        q, w = model.encode(test.queries, "query"), model.encode(test.words, "word")
        assert q.shape == (20, 8) and w.shape == (20, 8)
        torch.testing.assert_close(q.norm(dim=1), torch.ones(20))
        assert len(history.loss) == 3 and history.evals == []
    assert model.log_temperature.requires_grad is False and model.temperature.item() == pytest.approx(0.05)
    assert model.attention.out_features == 2 and model.query_tower[1].in_features == 2 * 16
    model.train()
    model.encode(["faa cab"], "query")
    assert model.training  # encode restores the mode it found


@pytest.mark.parametrize("kwargs, match", [
    (dict(dim=0), "dim"), (dict(heads=1.5), "heads"), (dict(batch_size=1), "batch_size"), (dict(hidden=-1), "hidden"),
    (dict(pooling="max"), "pooling"), (dict(temperature=0), "temperature"), (dict(lr=0), "lr"),
    (dict(dropout=1.0), "dropout"), (dict(weight_decay=float("nan")), "weight_decay"), (dict(steps=True), "steps"),
])  # fmt: skip
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DualEncoderConfig(**kwargs)
    assert DualEncoderConfig(lr=np.float32(0.01), heads=np.int64(2)).heads == 2  # NumPy scalars are numbers


def test_fit_and_encode_errors():
    vocab, train, _ = _synthetic(n_answers=200)
    bad = Split(train.queries[:2], train.words, (np.array([0]), np.array([len(train.words)])), train.synsets[:2])
    with pytest.raises(ValueError, match="word ids outside"):
        fit_dual_encoder(bad, vocab, SMALL)
    empty = Split(train.queries[:2], train.words, (np.array([0]), np.array([], dtype=np.int64)), train.synsets[:2])
    with pytest.raises(ValueError, match="at least one word"):
        fit_dual_encoder(empty, vocab, SMALL)
    one = Split(train.queries[:1], train.words, train.relevant[:1], train.synsets[:1])
    with pytest.raises(ValueError, match="at least 2 definitions"):
        fit_dual_encoder(one, vocab, SMALL)
    unknown = Split(("zzz qqq",) + train.queries[1:], train.words, train.relevant, train.synsets)
    with pytest.raises(ValueError, match=r"train\.queries: 1 texts have no word"):
        fit_dual_encoder(unknown, vocab, SMALL)
    with pytest.raises(ValueError, match="side must be"):
        DualEncoder(vocab, SMALL).encode(["faa"], "document")


# ------------------------------------------------------------------------ scores to confidence
def test_top1_by_hand():
    scores = np.array([[0.1, 0.9, 0.3, 0.9], [0.5, 0.2, 0.4, 0.0], [0.0, 0.0, 1.0, 0.2]])
    relevant = [np.array([3]), np.array([0, 2]), np.array([1])]
    t = top1(scores, relevant, temperature=0.5)
    np.testing.assert_array_equal(t.word, [1, 0, 2])  # a tie goes to the lower id
    np.testing.assert_array_equal(t.correct, [False, True, False])
    np.testing.assert_allclose(t.score, [0.9, 0.5, 1.0])
    np.testing.assert_allclose(t.margin, [0.0, 0.1, 0.8])
    expected = torch.softmax(torch.tensor(scores) / 0.5, dim=1).numpy()[np.arange(3), t.word]
    np.testing.assert_allclose(t.confidence, expected, rtol=1e-12)
    np.testing.assert_allclose(top1(scores, relevant, temperature=np.float32(0.5), chunk=1).confidence, expected)
    np.testing.assert_array_equal(t.features(), np.stack([t.score, t.margin], axis=1))
    np.testing.assert_array_equal(best_relevant(scores, relevant), [3, 0, 1])
    np.testing.assert_array_equal(best_relevant(scores, [np.array([3, 1])] * 3), [1, 1, 3])  # row 0: a tie, lower id


def test_top1_and_best_relevant_errors():
    scores = np.zeros((2, 3))
    with pytest.raises(ValueError, match="n_words >= 2"):
        top1(np.zeros((2, 1)), [np.array([0])] * 2)
    with pytest.raises(ValueError, match="finite"):
        top1(np.array([[0.0, np.nan]]), [np.array([0])])
    with pytest.raises(ValueError, match="temperature"):
        top1(scores, [np.array([0])] * 2, temperature=0)
    with pytest.raises(ValueError, match="chunk"):
        top1(scores, [np.array([0])] * 2, chunk=0)
    with pytest.raises(ValueError, match="one array per query"):
        best_relevant(scores, [np.array([0])])
    with pytest.raises(ValueError, match=r"relevant\[1\] must hold word ids in 0..2"):
        best_relevant(scores, [np.array([0]), np.array([3])])


def test_calibrating_a_synthetic_retriever_lowers_its_ece():
    # 2,000 queries over 300 words, where the right word gets a bonus that varies by query: at
    # temperature 1 the softmax is nearly uniform (confidence ~ 1/300) while the top word is
    # right about half the time. Fit on half of the queries, measure on the other half.
    rng = np.random.default_rng(0)
    n, m = 2000, 300
    scores = rng.normal(0, 0.1, (n, m))
    answer = rng.integers(0, m, n)
    scores[np.arange(n), answer] += rng.uniform(0, 0.5, n)
    relevant = [np.array([a]) for a in answer]
    fit, test = np.arange(n // 2), np.arange(n // 2, n)
    rel_fit, rel_test = [relevant[i] for i in fit], [relevant[i] for i in test]
    raw = top1(scores[test], rel_test)
    before = confidence_ece(raw.confidence, raw.correct)
    assert 0.3 < raw.correct.mean() < 0.7 and raw.confidence.max() < 0.01 and before > 0.3
    tau = fit_scaling(torch.from_numpy(scores[fit]), best_relevant(scores[fit], rel_fit)).temperature
    scaled = top1(scores[test], rel_test, temperature=tau)
    after_tau = confidence_ece(scaled.confidence, scaled.correct)
    held = top1(scores[fit], rel_fit, temperature=tau)
    isotonic = fit_confidence(held.score, held.correct, "isotonic")
    logistic = fit_confidence(held.features(), held.correct, "logistic")
    after_iso = confidence_ece(isotonic(scaled.score), scaled.correct)
    after_log = confidence_ece(logistic(scaled.features()), scaled.correct)
    assert tau < 0.2 and after_tau < before
    assert max(after_iso, after_log) < 0.06 < before, (before, after_tau, after_iso, after_log)


# ------------------------------------------------------------- one word-vector type, zero rows, dtypes
def test_retrieval_takes_word_vectors_and_its_cached_index():
    from embedlab.data import WordVectors

    wv = WordVectors(*TOY)
    np.testing.assert_array_equal(average_glove(["dog", "cat"], wv), average_glove(["dog", "cat"], TOY))
    model = DualEncoder(wv, SMALL)
    assert model.index is wv.index  # not rebuilt


def test_a_zero_embedding_is_refused_not_kept_as_a_zero_row():
    # F.normalize kept an all-zero tower output as a zero "unit" vector that scores 0 with everything
    model = DualEncoder(TOY, DualEncoderConfig(dim=4, dropout=0.0))
    with torch.no_grad():
        for p in model.word_tower.parameters():
            p.zero_()
    with pytest.raises(ValueError, match="word embeddings has a zero row"):
        model.encode(["dog", "cat"], "word")
    with torch.no_grad():  # a tiny but non-zero output still has a direction: unit length
        model.word_tower[1].bias.fill_(1e-30)
    np.testing.assert_allclose(model.encode(["dog"], "word").norm(dim=1).numpy(), 1.0, rtol=1e-6)


def test_top1_takes_bfloat16_scores_and_a_tiny_temperature():
    s = torch.tensor([[0.5, 0.25, 0.0], [0.0, 1.0, 0.5]], dtype=torch.bfloat16)
    t = top1(s, [np.array([0]), np.array([2])], temperature=1e-300)  # p(top) -> 1, no 0/0
    np.testing.assert_array_equal(t.word, [0, 1])
    np.testing.assert_allclose(t.confidence, 1.0)
    np.testing.assert_array_equal(t.correct, [True, False])
    with pytest.raises(ValueError, match="chunk must be an integer"):
        top1(s, [np.array([0])] * 2, chunk=2.0)


def test_dual_encoder_config_checks_by_name_and_takes_numpy_numbers():
    cfg = DualEncoderConfig(dim=np.int64(8), lr=np.float32(0.01), dropout=np.float64(0.0))
    assert cfg.dim == 8
    for kwargs, match in [(dict(positions="yes"), "positions must be True or False"),
                          (dict(heads=2.0), "heads must be an integer"),
                          (dict(lr=0), "lr must be > 0"), (dict(dropout=1.0), "dropout must be"),
                          (dict(pooling="max"), "pooling must be"), (dict(weight_decay=float("nan")), "weight_decay")]:
        with pytest.raises(ValueError, match=match):
            DualEncoderConfig(**kwargs)
