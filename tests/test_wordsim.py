"""embedlab.wordsim (chapter 3): word-vector evaluation against gensim's KeyedVectors and scipy."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab import wordsim


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
    got = wordsim.word_pair_spearman(V, words, pairs)
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
    got = wordsim.analogy_accuracy(V.astype(np.float32), words, wordsim.read_analogies(path))
    total = next(s for s in sections if s["section"] == "Total accuracy")
    assert got.correct == len(total["correct"]) and got.answered == len(total["correct"]) + len(total["incorrect"])
    assert got.accuracy == pytest.approx(score) and 0 < got.correct < got.answered
    assert got.total == 61 and set(got.by_section) == {"first", "second"}


def test_evaluation_bad_input(tmp_path):
    words = ["a", "b", "c"]
    V = np.eye(3)
    with pytest.raises(KeyError, match="unknown word 'zebra'"):
        wordsim.nearest_words(V, words, "zebra")
    with pytest.raises(ValueError, match="vectors must be"):
        wordsim.nearest_words(V[:2], words, "a")
    with pytest.raises(ValueError, match="pairs"):
        wordsim.word_pair_spearman(V, words, [("x", "y", 1.0)] * 5)
    with pytest.raises(ValueError, match="no word pairs"):
        wordsim.word_pair_spearman(V, words, [])
    bad = tmp_path / "bad.txt"
    bad.write_text("a b c d\n")
    with pytest.raises(ValueError, match="section"):
        wordsim.read_analogies(bad)


def test_word_pair_spearman_bootstrap_interval():
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(50)]
    V = rng.normal(size=(50, 8))
    pairs = [(words[a], words[b], float(rng.normal())) for a, b in rng.integers(0, 50, (200, 2)) if a != b]
    got = wordsim.word_pair_spearman(V, words, pairs, bootstrap=500)
    lo, hi = got.interval
    assert lo < got.spearman < hi and hi - lo < 0.5
    assert np.isnan(wordsim.word_pair_spearman(V, words, pairs).interval[0])


def test_a_zero_row_is_orthogonal_to_everything_not_an_error():
    # All-zero rows are legitimate in a vocabulary table (word2vec's output vectors start at zero):
    # the evaluation treats them as cosine 0, explicitly, and never produces NaN.
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(20)]
    V = rng.normal(size=(20, 5))
    V[3] = 0.0
    pairs = [(words[a], words[b], float(rng.normal())) for a, b in rng.integers(0, 20, (60, 2)) if a != b]
    from scipy.stats import spearmanr

    unit = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-300)  # row 3 stays 0
    cos = [float(unit[int(a[1:])] @ unit[int(b[1:])]) for a, b, _ in pairs]
    got = wordsim.word_pair_spearman(V, words, pairs)
    assert got.spearman == pytest.approx(spearmanr(cos, [s for *_, s in pairs]).statistic, abs=1e-9)
    near = wordsim.nearest_words(V, words, "w3", k=19)
    assert all(score == 0.0 for _, score in near)
    analogies = {"s": [("w0", "w1", "w2", "w3"), ("w3", "w1", "w2", "w4")]}
    result = wordsim.analogy_accuracy(V, words, analogies)
    assert result.answered == 2 and 0.0 <= result.accuracy <= 1.0
