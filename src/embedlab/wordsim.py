"""Evaluating word vectors: correlation with human similarity judgments, analogies, neighbours.

Taught in chapter 3 (and reused wherever a chapter scores a table of word vectors). Every
function takes the table as one :class:`embedlab.data.WordVectors` ``wv`` (what
:func:`embedlab.data.load_glove` returns; ``WordVectors(words, vectors)`` wraps any other table,
and a plain ``(words, vectors)`` pair is accepted too), and compares words by cosine similarity,
the way gensim's ``KeyedVectors`` does (checked against it in the tests). Vectors with NaN or
infinite entries are refused (they have no cosine), as are human scores that are not finite:

* :func:`word_pair_spearman`: Spearman's rho between cosine similarity and human scores
  (WordSim-353, SimLex-999), with an optional bootstrap interval;
* :func:`read_analogies` and :func:`analogy_accuracy`: 3CosAdd on ``questions-words.txt``, and
  its control, the nearest neighbour of ``c`` alone (Linzen 2016);
* :func:`nearest_words`: the ``k`` most similar words to a query.

Chapter 11 (limits of the map) adds what a symmetric score cannot say, and what compression costs:

* :func:`direction_accuracy`: how often a score ranks a directed pair (hyponym, hypernym) above
  its reverse; any symmetric score, cosine included, gets exactly 0.5;
* :func:`fit_direction`: the simplest asymmetric score, a learned direction ``w`` scoring
  ``w · (v_b − v_a)``, with :func:`split_pairs_by_word` for test pairs whose words were never
  seen in training;
* :func:`word_pair_spearman_by_components`: word-pair Spearman after projecting the vectors onto
  ``k`` principal components, optionally after removing the top ones (all-but-the-top).

An all-zero row is treated as orthogonal to everything (cosine 0), explicitly: see :func:`_unit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from embedlab import _checks
from embedlab._rows import topk as _row_topk
from embedlab._rows import unit_rows
from embedlab.data import WordVectors, as_word_vectors
from embedlab.geometry import pca
from embedlab.intervals import Comparison, bootstrap_indices, percentile_interval

__all__ = [
    "PairEval",
    "word_pair_spearman",
    "compare_spearman",
    "read_analogies",
    "AnalogyEval",
    "analogy_accuracy",
    "nearest_words",
    "direction_accuracy",
    "split_pairs_by_word",
    "fit_direction",
    "word_pair_spearman_by_components",
]


def _table(wv) -> tuple[WordVectors, np.ndarray]:
    """The table and its vectors as float64 (n, D); refuses an empty table and NaN or ±inf."""
    wv = as_word_vectors(wv)
    return wv, _checks.array(wv.vectors, "wv.vectors", ndim=2)


def _unit(V: np.ndarray) -> torch.Tensor:
    """Rows scaled to unit length: V: (n, D) float64 -> (n, D) tensor.

    ``zero="zero"`` on purpose: a benchmark scores a whole vocabulary, and all-zero rows occur in
    legitimate tables. word2vec's output vectors start at zero (``SGNS.W_out``, gensim's
    ``syn1neg``) and stay zero for a word never drawn as a context or negative, and padding rows are
    zero. Such a row gets cosine 0 with everything (as in :func:`nearest_words` and scikit-learn)
    instead of aborting the evaluation of thousands of other words.
    """
    return unit_rows(torch.from_numpy(V), zero="zero", name="wv.vectors")


@dataclass
class PairEval:
    """Spearman's rho between cosine similarity and human scores on the covered pairs, with a
    percentile bootstrap interval over pairs (``(nan, nan)`` when no bootstrap was asked for)."""

    spearman: float
    pairs_used: int
    pairs_total: int
    interval: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def coverage(self) -> float:
        return self.pairs_used / self.pairs_total


def _spearman_rows(model: np.ndarray, human: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair: model, human: (R, n) -> (R,). Ties get average ranks."""
    from scipy.stats import rankdata

    a = rankdata(model, axis=1)
    b = rankdata(human, axis=1)
    a -= a.mean(1, keepdims=True)
    b -= b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def word_pair_spearman(
    wv: WordVectors,
    pairs: Sequence[tuple[str, str, float]],
    *,
    bootstrap: int = 0,
    seed: int = 0,
) -> PairEval:
    """Spearman correlation of cosine similarity with human judgments.

    wv: the word vectors (:class:`embedlab.data.WordVectors`); pairs: ``(word1, word2, score)``.
    Pairs with a word outside the table are skipped (as gensim's ``evaluate_word_pairs`` does by
    default). ``bootstrap > 0`` resamples the covered pairs that many times for a 95% interval:
    benchmarks of a few hundred pairs are noisy, and the interval says how noisy.

    Raises:
        ValueError: for no pairs, fewer than 3 covered pairs, a score that is not a finite number
            (NaN would make the ranks, and so rho, meaningless), or vectors with NaN or ±inf.
    """
    wv, V = _table(wv)
    return _spearman(V, wv.index, pairs, bootstrap, seed)


def _spearman(V: np.ndarray, index: dict[str, int], pairs, bootstrap: int = 0, seed: int = 0) -> PairEval:
    bootstrap = _checks.integer(bootstrap, "bootstrap", low=0)
    seed = _checks.integer(seed, "seed", low=0)
    if len(pairs) == 0:
        raise _checks.ArgumentError("pairs is empty: no word pairs given")
    V = _unit(V).numpy()
    used = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
    if len(used) < 3:
        raise _checks.ArgumentError(f"pairs: only {len(used)} of {len(pairs)} pairs have both words in the "
                                    "vocabulary")
    a, b, human = (np.array(col) for col in zip(*used))
    human = _checks.array(human, "pairs' scores", ndim=1)  # NaN or a string score refused by name
    model = (V[a] * V[b]).sum(1)
    rho = float(_spearman_rows(model[None], human[None])[0])
    interval = (float("nan"), float("nan"))
    if bootstrap > 0:
        rhos = np.concatenate([_spearman_rows(model[idx], human[idx])
                               for idx in bootstrap_indices(len(used), bootstrap, seed)])
        interval = percentile_interval(rhos, 0.95)
    return PairEval(rho, len(used), len(pairs), interval)


def compare_spearman(
    wv_a: WordVectors,
    wv_b: WordVectors,
    pairs: Sequence[tuple[str, str, float]],
    *,
    names: tuple[str, str] = ("a", "b"),
    bootstrap: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Paired comparison of two tables on one word-pair benchmark: rho_a - rho_b with a 95% interval.

    Both tables are scored on the same pairs, those covered by *both* (one evaluation set for the
    two rows), and every bootstrap resample draws the same pairs for both, so the interval is
    that of the difference: far narrower than two separate intervals, whose overlap says little.
    A difference whose interval contains 0 is a tie (:class:`embedlab.intervals.Comparison`).
    """
    wv_a, A = _table(wv_a)
    wv_b, B = _table(wv_b)
    bootstrap = _checks.integer(bootstrap, "bootstrap", low=1)
    seed = _checks.integer(seed, "seed", low=0)
    if not (isinstance(names, (tuple, list)) and len(names) == 2 and all(isinstance(n, str) for n in names)):
        raise _checks.ArgumentError(f"names must be two strings (one per table), got {names!r}")
    if len(pairs) == 0:
        raise _checks.ArgumentError("pairs is empty: no word pairs given")
    ia, ib = wv_a.index, wv_b.index
    used = [(w1, w2, s) for w1, w2, s in pairs if w1 in ia and w2 in ia and w1 in ib and w2 in ib]
    if len(used) < 3:
        raise _checks.ArgumentError(f"pairs: only {len(used)} of {len(pairs)} pairs have both words in both tables")
    w1, w2, human = zip(*used)
    human_arr = _checks.array(np.array(human), "pairs' scores", ndim=1)
    cos = []
    for V, index in ((A, ia), (B, ib)):
        U = _unit(V).numpy()
        cos.append((U[[index[w] for w in w1]] * U[[index[w] for w in w2]]).sum(1))
    diff = float(_spearman_rows(cos[0][None], human_arr[None])[0] - _spearman_rows(cos[1][None], human_arr[None])[0])
    diffs = np.concatenate([
        _spearman_rows(cos[0][idx], human_arr[idx]) - _spearman_rows(cos[1][idx], human_arr[idx])
        for idx in bootstrap_indices(len(used), bootstrap, seed)
    ])
    low, high = percentile_interval(diffs, 0.95)
    return Comparison((names[0], names[1]), diff, low, high, 0.95, True, len(used))


def read_analogies(path: str | Path) -> dict[str, list[tuple[str, str, str, str]]]:
    """Read a ``questions-words.txt`` file: ``{section: [(a, b, c, d), ...]}``, lower-cased.

    A section header that appears again continues that section: its analogies are appended, none
    dropped. (gensim's ``evaluate_word_analogies`` lists the two runs as two sections of the same
    name; a dict keyed by name holds them as one, with the same questions and counts.)
    """
    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    current = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            current = line[1:].strip()
            sections.setdefault(current, [])  # not `= []`: a repeated header would drop the first run
        elif line.strip():
            if current is None:
                raise ValueError(f"{path}: analogy before the first ': section' line")
            parts = line.lower().split()
            if len(parts) != 4:
                raise ValueError(f"{path}: malformed analogy line {line!r}")
            sections[current].append(tuple(parts))  # type: ignore[arg-type]
    if not sections:
        raise ValueError(f"{path}: no analogies found")
    return sections


@dataclass
class AnalogyEval:
    """Accuracy on the questions whose four words are in the vocabulary; ``per_question`` holds,
    for each section, whether each answered question was right (in file order), so that two
    methods on the same questions can be compared pair by pair."""

    accuracy: float
    correct: int
    answered: int
    total: int
    by_section: dict[str, tuple[int, int]]  # section -> (correct, answered)
    per_question: dict[str, np.ndarray] = field(default_factory=dict)  # section -> (answered,) bool

    @property
    def coverage(self) -> float:
        return self.answered / self.total


def analogy_accuracy(
    wv: WordVectors,
    analogies: dict[str, list[tuple[str, str, str, str]]],
    *,
    restrict: int | None = 30_000,
    chunk: int = 1024,
    method: str = "offset",
) -> AnalogyEval:
    """a : b :: c : ?  answered by ``argmax_x cos(x, b - a + c)`` over unit vectors, x ∉ {a, b, c}.

    Searches the first ``restrict`` words (rows sorted by frequency) and skips questions with a
    word outside them, as gensim's ``evaluate_word_analogies`` does. Of tied candidates the lower
    row (the more frequent word) is the answer.

    ``method="only-c"`` is the control of Linzen (2016): the same search for the nearest word to
    ``c`` alone (x ∉ {a, b, c}), ignoring the offset. The answer is often ``c``'s nearest neighbour
    anyway (a plural, a participle), and 3CosAdd's accuracy means something about the offset only
    as a gain over this control.
    """
    if method not in ("offset", "only-c"):
        raise _checks.ArgumentError(f"method must be 'offset' or 'only-c', got {method!r}")
    wv, V = _table(wv)
    n = V.shape[0] if restrict is None else min(_checks.integer(restrict, "restrict", low=1), V.shape[0])
    chunk = _checks.integer(chunk, "chunk", low=1)
    U = _unit(V[:n])  # (n, D)
    index = wv.index if n == len(wv) else {w: i for w, i in wv.index.items() if i < n}
    questions, section_of = [], []
    total = 0
    for name, rows in analogies.items():
        for quad in rows:
            total += 1
            if all(w in index for w in quad):
                questions.append([index[w] for w in quad])
                section_of.append(name)
    if total == 0:
        raise _checks.ArgumentError("analogies is empty: no analogies given")
    correct = np.zeros(len(questions), dtype=bool)
    Q = torch.as_tensor(np.array(questions, dtype=np.int64).reshape(-1, 4))
    for start in range(0, Q.shape[0], chunk):
        q = Q[start : start + chunk]
        target = U[q[:, 1]] - U[q[:, 0]] + U[q[:, 2]] if method == "offset" else U[q[:, 2]]
        scores = target @ U.T  # (chunk, n): the norm of target does not change the argmax
        scores.scatter_(1, q[:, :3], -float("inf"))
        best = _row_topk(scores, 1, nan_checked=True)[1][:, 0]  # ties: the lower row
        correct[start : start + chunk] = (best == q[:, 3]).numpy()
    by_section: dict[str, tuple[int, int]] = {}
    for name, ok in zip(section_of, correct):
        c, a = by_section.get(name, (0, 0))
        by_section[name] = (c + int(ok), a + 1)
    names = np.array(section_of, dtype=object)
    per_question = {name: correct[names == name] for name in by_section}
    answered = len(questions)
    acc = float(correct.mean()) if answered else float("nan")
    return AnalogyEval(acc, int(correct.sum()), answered, total, by_section, per_question)


def nearest_words(wv: WordVectors, query: str, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` words with the highest cosine similarity to ``query`` (itself excluded; ties: the
    lower row first).

    Raises:
        KeyError: if ``query`` is not in the table. ValueError: if ``k`` is not in ``1..V-1``.
    """
    wv, V = _table(wv)
    row = wv.row(query)
    k = _checks.integer(k, "k", low=1, high=len(wv) - 1)
    U = _unit(V)  # (V, D)
    scores = (U @ U[row]).clamp(-1.0, 1.0)  # (V,) cosines
    scores[row] = -float("inf")  # the query is not its own neighbour
    best, idx = _row_topk(scores, k)
    return [(wv.words[int(i)], float(s)) for s, i in zip(best, idx)]


# -- what similarity cannot say (chapter 11) ------------------------------------------------------------
def direction_accuracy(forward, backward) -> float:
    """How often the true order of a directed pair outscores its reverse.

    forward: (n,) scores of the pairs in their true order, ``s(hyponym, hypernym)``; backward:
    (n,) the scores of the reversed pairs, ``s(hypernym, hyponym)``  ->  float in [0, 1]. A tie
    counts one half: a score that cannot tell the order is at 0.5. A symmetric score (cosine,
    dot, Euclidean) always ties, so it gets exactly 0.5, whatever the words.
    """
    # NaN compares false with everything: refused (by name) with ±inf
    f = _checks.array(forward, "forward", ndim=1)
    b = _checks.array(backward, "backward", ndim=1)
    if f.shape != b.shape:
        raise _checks.ArgumentError(f"forward and backward must be non-empty (n,) arrays of one shape, got "
                                    f"{f.shape} and {b.shape}")
    return float(np.mean((f > b) + 0.5 * (f == b)))


def split_pairs_by_word(
    pairs: Sequence[tuple[str, str]], *, test_fraction: float = 0.3, seed: int = 0
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split word pairs so that no word of a test pair occurs in a training pair.

    Each distinct word goes to the test side with probability ``test_fraction`` (sorted words,
    a ``numpy`` generator seeded with ``seed``); a pair whose words are both on one side goes to
    that side, a mixed pair is dropped. A random split of pairs would let a model memorise that
    "animal" is a hypernym-like word (*lexical memorisation*, Levy et al. 2015) and test on
    pairs that contain it again.
    """
    test_fraction = _checks.number(test_fraction, "test_fraction", low=0, high=1, low_open=True, high_open=True)
    seed = _checks.integer(seed, "seed", low=0)
    if len(pairs) == 0:
        raise ValueError("no pairs given")
    vocab = sorted({w for p in pairs for w in p})
    test_words = {w for w, u in zip(vocab, np.random.default_rng(seed).random(len(vocab))) if u < test_fraction}
    train = [p for p in pairs if p[0] not in test_words and p[1] not in test_words]
    test = [p for p in pairs if p[0] in test_words and p[1] in test_words]
    return train, test


def fit_direction(lower, upper, *, C: float = 1.0, threads: int | None = 1) -> np.ndarray:
    """A direction ``w`` along which the upper word of each pair lies further than the lower.

    lower: (n, D) vectors of the hyponyms, upper: (n, D) of their hypernyms  ->  w: (D,).
    The score ``s(a, b) = w · (v_b − v_a)`` says "b is above a"; it is antisymmetric,
    ``s(b, a) = −s(a, b)``, which a cosine can never be. Fitted as a logistic regression
    (scikit-learn, no intercept) on the differences ``v_upper − v_lower`` labelled 1 and their
    negations labelled 0: the simplest asymmetric score, a single "generality" axis.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    lo = _checks.array(lower, "lower", ndim=2)
    up = _checks.array(upper, "upper", ndim=2)
    C = _checks.number(C, "C", low=0, low_open=True)
    if lo.shape != up.shape:
        raise _checks.ArgumentError(f"lower and upper must be non-empty (n, D) arrays of one shape, got {lo.shape} "
                                    f"and {up.shape}")
    diff = up - lo  # (n, D)
    X = np.concatenate([diff, -diff])  # (2n, D): both orders, so the fit cannot prefer either label
    y = np.r_[np.ones(len(diff)), np.zeros(len(diff))]
    with threadpool_limits(limits=threads):
        model = LogisticRegression(C=C, fit_intercept=False, max_iter=5000).fit(X, y)
    return model.coef_[0]


def word_pair_spearman_by_components(
    wv: WordVectors, pairs: Sequence[tuple[str, str, float]], ks: Sequence[int], *,
    remove_top: int = 0,
) -> list[PairEval]:
    """Word-pair Spearman after projecting the vectors onto ``k`` principal components, for each k.

    wv: the word vectors (:class:`embedlab.data.WordVectors`); ks: the numbers of components to keep  ->
    one :class:`PairEval` per ``k``, in the order of ``ks``. The PCA is fitted on all ``V`` rows.
    The kept components are numbers ``remove_top + 1 .. remove_top + k``: ``remove_top > 0``
    drops the top ones first, as all-but-the-top does (Mu & Viswanath 2018). The projection is
    centred, so with ``remove_top=0`` and ``k = D`` the score is that of the mean-centred vectors,
    which can differ from that of the raw vectors (:func:`word_pair_spearman`).
    """
    wv, V = _table(wv)
    D = V.shape[1]
    remove_top = _checks.integer(remove_top, "remove_top", low=0, high=D - 1)
    lim, given = D - remove_top, list(ks)
    try:
        ks = [_checks.integer(k, "ks", low=1, high=lim) for k in given]
    except _checks.ArgumentError:
        ks = []
    if not ks:  # empty, or one entry not an integer in range
        raise _checks.ArgumentError(f"ks must be integers in 1..{lim} (D minus remove_top), got {given!r}")
    fit = pca(V, int(remove_top) + max(ks))
    proj = fit.projected.numpy()  # (V, remove_top + max k) centred coordinates, largest variance first
    return [_spearman(proj[:, remove_top : remove_top + k], wv.index, pairs) for k in ks]
