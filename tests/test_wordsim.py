"""embedlab.wordsim (chapter 3): word-vector evaluation against gensim's KeyedVectors and scipy."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab import wordsim
from embedlab.data import WordVectors


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
    got = wordsim.word_pair_spearman(WordVectors(words, V), pairs)
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
    got = wordsim.analogy_accuracy(WordVectors(words, V.astype(np.float32)), wordsim.read_analogies(path))
    total = next(s for s in sections if s["section"] == "Total accuracy")
    assert got.correct == len(total["correct"]) and got.answered == len(total["correct"]) + len(total["incorrect"])
    assert got.accuracy == pytest.approx(score) and 0 < got.correct < got.answered
    assert got.total == 61 and set(got.by_section) == {"first", "second"}


def test_evaluation_bad_input(tmp_path):
    words = ["a", "b", "c"]
    V = np.eye(3)
    with pytest.raises(KeyError, match="unknown word 'zebra'"):
        wordsim.nearest_words(WordVectors(words, V), "zebra")
    with pytest.raises(ValueError, match="one row per word"):
        wordsim.nearest_words(WordVectors(words, V[:2]), "a")
    with pytest.raises(ValueError, match="pairs"):
        wordsim.word_pair_spearman(WordVectors(words, V), [("x", "y", 1.0)] * 5)
    with pytest.raises(ValueError, match="no word pairs"):
        wordsim.word_pair_spearman(WordVectors(words, V), [])
    bad = tmp_path / "bad.txt"
    bad.write_text("a b c d\n")
    with pytest.raises(ValueError, match="section"):
        wordsim.read_analogies(bad)


def test_word_pair_spearman_bootstrap_interval():
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(50)]
    V = rng.normal(size=(50, 8))
    pairs = [(words[a], words[b], float(rng.normal())) for a, b in rng.integers(0, 50, (200, 2)) if a != b]
    got = wordsim.word_pair_spearman(WordVectors(words, V), pairs, bootstrap=500)
    lo, hi = got.interval
    assert lo < got.spearman < hi and hi - lo < 0.5
    assert np.isnan(wordsim.word_pair_spearman(WordVectors(words, V), pairs).interval[0])


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
    got = wordsim.word_pair_spearman(WordVectors(words, V), pairs)
    assert got.spearman == pytest.approx(spearmanr(cos, [s for *_, s in pairs]).statistic, abs=1e-9)
    near = wordsim.nearest_words(WordVectors(words, V), "w3", k=19)
    assert all(score == 0.0 for _, score in near)
    analogies = {"s": [("w0", "w1", "w2", "w3"), ("w3", "w1", "w2", "w4")]}
    result = wordsim.analogy_accuracy(WordVectors(words, V), analogies)
    assert result.answered == 2 and 0.0 <= result.accuracy <= 1.0


# -- what similarity cannot say (chapter 11) -------------------------------------------------------------
def test_direction_accuracy_by_hand_and_symmetric_scores_get_one_half():
    from embedlab.similarity import cosine, euclidean

    assert wordsim.direction_accuracy([3.0, 1.0, 2.0, 5.0], [1.0, 3.0, 2.0, 4.0]) == pytest.approx(2.5 / 4)
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(500, 50)).astype(np.float32), rng.normal(size=(500, 50)).astype(np.float32)
    for score in (cosine, euclidean):  # computed in both orders: exactly equal, every pair a tie
        assert wordsim.direction_accuracy(score(A, B), score(B, A)) == 0.5
    with pytest.raises(ValueError, match="one shape"):
        wordsim.direction_accuracy([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        wordsim.direction_accuracy([np.nan], [1.0])


def test_split_pairs_by_word_keeps_test_words_out_of_training():
    pairs = [(f"w{i}", f"w{j}") for i in range(60) for j in range(i + 1, 60) if (i * j) % 7 == 1]
    train, test = wordsim.split_pairs_by_word(pairs, test_fraction=0.3, seed=1)
    assert train and test and not {w for p in train for w in p} & {w for p in test for w in p}
    assert set(train) | set(test) <= set(pairs)
    mixed = len(pairs) - len(train) - len(test)
    assert mixed > 0  # pairs with one word on each side are dropped
    assert wordsim.split_pairs_by_word(pairs, test_fraction=0.3, seed=1) == (train, test)
    for bad in (0, 1, 1.5, True):
        with pytest.raises(ValueError, match="test_fraction"):
            wordsim.split_pairs_by_word(pairs, test_fraction=bad)
    with pytest.raises(ValueError, match="no pairs"):
        wordsim.split_pairs_by_word([])


def _hierarchy(n_words: int = 1000, d: int = 10, seed: int = 0):
    """Words with a hidden level along a direction u; each pair goes from a lower to a higher level."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    level = rng.normal(size=n_words)
    V = rng.normal(size=(n_words, d)) + 3.0 * level[:, None] * u
    words = [f"w{i}" for i in range(n_words)]
    pairs = []
    for _ in range(6000):
        i, j = rng.choice(n_words, 2, replace=False)
        if level[j] > level[i] + 0.3:
            pairs.append((words[i], words[j]))
    return V, words, sorted(set(pairs)), u


def test_fit_direction_learns_the_axis_and_generalises_to_new_words():
    V, words, pairs, u = _hierarchy()
    index = {w: i for i, w in enumerate(words)}
    train, test = wordsim.split_pairs_by_word(pairs, test_fraction=0.3, seed=0)
    lo, up = (V[[index[p[k]] for p in train]] for k in (0, 1))
    w = wordsim.fit_direction(lo, up)
    assert w @ u / np.linalg.norm(w) > 0.9  # the hidden axis, up to scale
    ta, tb = (V[[index[p[k]] for p in test]] for k in (0, 1))
    s = (tb - ta) @ w
    assert wordsim.direction_accuracy(s, -s) > 0.85  # on words it never saw
    # the same vectors with the hierarchy removed: no direction to find, back to chance
    flat = V - np.outer(V @ u, u)
    w0 = wordsim.fit_direction(flat[[index[p[0]] for p in train]], flat[[index[p[1]] for p in train]])
    s0 = (flat[[index[p[1]] for p in test]] - flat[[index[p[0]] for p in test]]) @ w0
    assert abs(wordsim.direction_accuracy(s0, -s0) - 0.5) < 0.12
    with pytest.raises(ValueError, match="one shape"):
        wordsim.fit_direction(lo, up[:, :3])


def test_word_pair_spearman_by_components_matches_sklearn_pca():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(200)]
    V = rng.normal(size=(200, 8)) * np.arange(8, 0, -1) + 3.0  # distinct variances, an offset
    pairs = [(words[a], words[b], float(rng.random())) for a, b in rng.integers(0, 200, (80, 2)) if a != b]
    got = wordsim.word_pair_spearman_by_components(WordVectors(words, V), pairs, [1, 3, 8])
    Z = PCA(8).fit_transform(V)  # a component's sign flips both words' coordinates: cosines stay
    def rho(M):
        return wordsim.word_pair_spearman(WordVectors(words, M), pairs).spearman

    for k, r in zip([1, 3, 8], got):
        assert r.spearman == pytest.approx(rho(Z[:, :k]), abs=1e-9)
    centred = wordsim.word_pair_spearman(WordVectors(words, V - V.mean(0)), pairs).spearman
    assert got[-1].spearman == pytest.approx(centred, abs=1e-9)
    assert got[-1].spearman != pytest.approx(rho(V), abs=1e-3)
    (top2,) = wordsim.word_pair_spearman_by_components(WordVectors(words, V), pairs, [3], remove_top=2)
    assert top2.spearman == pytest.approx(rho(Z[:, 2:5]), abs=1e-9)
    for bad in ([], [0], [9], [2.0]):
        with pytest.raises(ValueError, match="ks must be integers in 1..8"):
            wordsim.word_pair_spearman_by_components(WordVectors(words, V), pairs, bad)
    with pytest.raises(ValueError, match="ks must be integers in 1..6"):
        wordsim.word_pair_spearman_by_components(WordVectors(words, V), pairs, [7], remove_top=2)
    with pytest.raises(ValueError, match="remove_top must be"):
        wordsim.word_pair_spearman_by_components(WordVectors(words, V), pairs, [1], remove_top=8)


def test_a_repeated_section_header_keeps_both_runs_like_gensim(tmp_path):
    gensim = pytest.importorskip("gensim")
    rng = np.random.default_rng(2)
    n, d = 30, 6
    words = [f"w{i}" for i in range(n)]
    V = rng.normal(size=(n, d))
    unit = V / np.linalg.norm(V, axis=1, keepdims=True)

    def block(count):
        out = []
        for q in range(count):
            a, b, c, dd = rng.choice(n, 4, replace=False)
            if q % 2 == 0:  # plant some answers
                V[dd] = unit[b] - unit[a] + unit[c] + 0.05 * rng.normal(size=d)
                unit[dd] = V[dd] / np.linalg.norm(V[dd])
            out.append(f"{words[a]} {words[b]} {words[c]} {words[dd]}")
        return out

    text = [": capital", *block(8), ": family", *block(6), ": capital", *block(10)]  # 'capital' twice
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(text) + "\n")
    kv = gensim.models.KeyedVectors(d)
    kv.add_vectors(words, V.astype(np.float32))
    score, sections = kv.evaluate_word_analogies(str(path))
    ours = wordsim.read_analogies(path)
    assert [len(ours[s]) for s in ("capital", "family")] == [18, 6]
    assert [s["section"] for s in sections] == ["capital", "family", "capital", "Total accuracy"]
    got = wordsim.analogy_accuracy(WordVectors(words, V.astype(np.float32)), ours)
    total = sections[-1]
    assert got.total == 24 and got.answered == len(total["correct"]) + len(total["incorrect"])
    assert got.correct == len(total["correct"]) and got.accuracy == pytest.approx(score)
    for name in ("capital", "family"):  # gensim's runs of one name, summed, are our one section
        runs = [s for s in sections if s["section"] == name]
        assert got.by_section[name] == (sum(len(s["correct"]) for s in runs),
                                        sum(len(s["correct"]) + len(s["incorrect"]) for s in runs))


# -- one type for word vectors, and inputs that used to give garbage -------------------------------------
def test_word_vectors_unpacks_indexes_once_and_the_old_order_is_refused():
    wv = WordVectors(["a", "b", "c"], np.eye(3, dtype=np.float32))
    words, vectors = wv  # what load_glove used to return
    assert words == ["a", "b", "c"] and vectors.shape == (3, 3) and len(wv) == 3 and wv.dim == 3
    assert wv.index == {"a": 0, "b": 1, "c": 2} and wv.index is wv.index and wv.row("c") == 2
    with pytest.raises(KeyError, match="unknown word 'z'"):
        wv.row("z")
    with pytest.raises(ValueError, match="distinct"):
        _ = WordVectors(["a", "a"], np.eye(2)).index
    pairs = [("a", "b", 1.0), ("a", "c", 2.0), ("b", "c", 3.0)]
    plain = (words, np.array([[1.0, 0, 0], [1, 1, 0], [0, 1, 1]]))
    assert wordsim.word_pair_spearman(plain, pairs).pairs_used == 3  # a plain (words, vectors) pair is fine
    with pytest.raises(ValueError, match="wv must be a WordVectors"):
        wordsim.word_pair_spearman(vectors, pairs)  # bare vectors, as the old (vectors, words, ...) order passed
    with pytest.raises(ValueError, match="wv must be a WordVectors"):
        wordsim.word_pair_spearman((vectors, words), pairs)


def test_word_pair_spearman_refuses_nan_scores_and_vectors():
    wv = WordVectors(["a", "b", "c", "d"], np.random.default_rng(0).normal(size=(4, 3)))
    pairs = [("a", "b", 1.0), ("a", "c", float("nan")), ("b", "c", 3.0), ("c", "d", 2.0)]
    with pytest.raises(ValueError, match="scores contains NaN"):
        wordsim.word_pair_spearman(wv, pairs)
    bad = wv.vectors.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"wv.vectors contains NaN or infinite values at index \(2, 1\)"):
        wordsim.word_pair_spearman(WordVectors(wv.words, bad), [p for p in pairs if p[2] == p[2]])


def test_nearest_words_and_analogies_break_ties_by_the_lower_row():
    # integer-valued vectors with many exact ties: the answer must not depend on the kernel
    rng = np.random.default_rng(0)
    V = rng.integers(-1, 2, size=(60, 3)).astype(np.float64)
    V[np.abs(V).sum(1) == 0] = [1, 0, 0]
    words = [f"w{i}" for i in range(60)]
    wv = WordVectors(words, V)
    U = V / np.linalg.norm(V, axis=1, keepdims=True)
    for q in range(60):
        cos = U @ U[q]
        cos[q] = -np.inf
        ref = np.argsort(-cos, kind="stable")[:7]  # stable: equal cosines stay in row order
        got = [int(w[1:]) for w, _ in wordsim.nearest_words(wv, f"w{q}", k=7)]
        assert got == ref.tolist()
    tied = WordVectors(["a", "b", "c", "x", "y"], np.array([[1.0, 0], [0, 1], [1, 0], [0, 1], [0, 1]]))
    # b - a + c = (0, 1): x and y tie exactly; the lower row (x) is the answer
    assert wordsim.analogy_accuracy(tied, {"s": [("a", "b", "c", "x")]}).correct == 1
    assert wordsim.analogy_accuracy(tied, {"s": [("a", "b", "c", "y")]}).correct == 0


def test_direction_accuracy_takes_bfloat16_and_refuses_nan_by_name():
    import torch

    f = torch.tensor([1.0, 2.0, 3.0], dtype=torch.bfloat16)
    assert wordsim.direction_accuracy(f, -f) == 1.0
    with pytest.raises(ValueError, match="backward contains NaN"):
        wordsim.direction_accuracy(f, torch.tensor([0.0, float("nan"), 1.0]))


def test_compare_spearman_is_the_paired_bootstrap_of_two_scipy_rhos():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(80)]
    A, B = rng.normal(size=(80, 6)), rng.normal(size=(80, 6))
    # distinct pairs of distinct words: a self-pair's cosine is 1 up to rounding, and such near-ties
    # would rank differently in two correct implementations
    ij = sorted({(i, j) for i, j in rng.integers(0, 80, size=(140, 2)) if i < j})
    pairs = [(words[i], words[j], float(rng.uniform(0, 10))) for i, j in ij]
    # b misses two words: both rows are scored on the pairs both cover (one evaluation set)
    b = WordVectors(words[2:], B[2:])
    c = wordsim.compare_spearman(WordVectors(words, A), b, pairs, names=("A", "B"), bootstrap=300, seed=3)
    shared = [(x, y, s) for x, y, s in pairs if x not in ("w0", "w1") and y not in ("w0", "w1")]
    assert c.n_units == len(shared) < len(pairs)

    def cosines(V, i, x, y):
        u, v = V[i[x]], V[i[y]]
        return u @ v / np.linalg.norm(u) / np.linalg.norm(v)

    ia = {w: k for k, w in enumerate(words)}
    human = np.array([s for _, _, s in shared])
    ca = np.array([cosines(A, ia, x, y) for x, y, _ in shared])
    cb = np.array([cosines(np.vstack([A[:2], B[2:]]), ia, x, y) for x, y, _ in shared])
    expect = spearmanr(ca, human).statistic - spearmanr(cb, human).statistic
    assert abs(c.diff - expect) < 1e-12
    # the interval: same resamples for both rows, by hand with numpy's generator
    rng_b = np.random.default_rng(3)
    idx = rng_b.integers(0, len(shared), size=(300, len(shared)))
    d = [spearmanr(ca[r], human[r]).statistic - spearmanr(cb[r], human[r]).statistic for r in idx]
    low, high = np.nanquantile(d, [0.025, 0.975])
    assert abs(c.low - low) < 1e-12 and abs(c.high - high) < 1e-12
    # a table against itself: difference exactly 0 and a tie; an unpaired reading would not be 0-wide
    same = wordsim.compare_spearman(b, b, pairs, bootstrap=50)
    assert same.diff == 0 and same.low == same.high == 0 and same.tie
    with pytest.raises(ValueError, match="^names"):
        wordsim.compare_spearman(b, b, pairs, names=("x",))
    with pytest.raises(ValueError, match="^bootstrap"):
        wordsim.compare_spearman(b, b, pairs, bootstrap=0)


def test_analogy_only_c_is_the_nearest_neighbour_of_c_by_brute_force():
    # Linzen (2016)'s control: the answer to a : b :: c : ? is c's nearest word, a, b and c excluded.
    rng = np.random.default_rng(7)
    V = rng.normal(size=(40, 5))
    words = [f"w{i}" for i in range(40)]
    quads = [tuple(f"w{i}" for i in rng.choice(40, 4, replace=False)) for _ in range(30)]
    analogies = {"one": quads[:12], "two": quads[12:]}
    U = V / np.linalg.norm(V, axis=1, keepdims=True)
    expected = []
    for a, b, c, d in quads:
        ia, ib, ic, id_ = (int(w[1:]) for w in (a, b, c, d))
        cos = U @ U[ic]
        cos[[ia, ib, ic]] = -np.inf
        expected.append(int(np.argmax(cos)) == id_)
    got = wordsim.analogy_accuracy(WordVectors(words, V), analogies, method="only-c")
    np.testing.assert_array_equal(np.r_[got.per_question["one"], got.per_question["two"]], expected)
    assert got.correct == sum(expected)
    offset = wordsim.analogy_accuracy(WordVectors(words, V), analogies)
    for name, (c, n) in offset.by_section.items():  # per_question agrees with the section counts
        assert offset.per_question[name].sum() == c and offset.per_question[name].size == n
    with pytest.raises(ValueError, match="method must be 'offset' or 'only-c'"):
        wordsim.analogy_accuracy(WordVectors(words, V), analogies, method="3cosmul")
