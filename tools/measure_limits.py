"""Chapter 11 ("Limits of the map"): the measurements on real embeddings, in one short run.

Not a test: it prints the figures the chapter is written around, so that they can be checked
before the chapter asserts them. One thread (``torch`` and BLAS), GloVe 6B 50-d: the 50,000 most
frequent words, and the 20,000 most frequent where every point's neighbours are searched (an
exact search over 50,000 points costs about 20 s on one thread, over 20,000 about 3 s).

    PYTHONPATH=src python tools/measure_limits.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.stats import spearmanr
from threadpoolctl import threadpool_limits

from embedlab.classify import control_task_probe
from embedlab.data import load_glove, load_word_pairs
from embedlab.data.wordnet import hypernym_pairs, load_wordnet, sense_counts
from embedlab.geometry import all_but_the_top, k_occurrence, knn_indices, neighbour_coherence, skewness, twonn_dimension
from embedlab.similarity import cosine
from embedlab.wordsim import (
    direction_accuracy,
    fit_direction,
    split_pairs_by_word,
    word_pair_spearman,
    word_pair_spearman_by_components,
)

N_SEARCH = 20_000  # words whose neighbour lists are searched exhaustively
K = 10  # neighbours for hubness and coherence; CSLS neighbourhood


def section(title: str, start: list[float]) -> None:
    now = time.perf_counter()
    print(f"  [{now - start[0]:.1f} s]\n== {title}")
    start[0] = now


def main() -> None:
    torch.set_num_threads(1)
    clock = [time.perf_counter()]
    t0 = clock[0]
    words, V = load_glove(50_000)  # (50000, 50), rows by frequency
    index = {w: i for i, w in enumerate(words)}
    synsets = load_wordnet(("noun", "verb", "adj", "adv"))
    nouns = [s for s in synsets if s.pos == "noun"]
    rng = np.random.default_rng(0)
    X = V[:N_SEARCH]

    section(f"TwoNN intrinsic dimension (n = {N_SEARCH:,})", clock)
    gauss = rng.normal(size=X.shape).astype(np.float32)
    cov = np.cov(X, rowvar=False)
    same_cov = (rng.normal(size=X.shape) @ np.linalg.cholesky(cov).T).astype(np.float32)
    for name, data in [("GloVe", X), ("Gaussian N(0, I), 50-d", gauss), ("Gaussian, GloVe's covariance", same_cov)]:
        fit = twonn_dimension(data, duplicates="drop")
        mle = twonn_dimension(data, method="mle", duplicates="drop")
        print(f"{name:32s} fit {fit:5.1f}   mle {mle:5.1f}")
    for n in (5_000, 10_000):  # fewer points: neighbours farther away, a coarser scale
        sub = X[rng.choice(N_SEARCH, n, replace=False)]
        print(f"GloVe, random {n:,} of them        fit {twonn_dimension(sub, duplicates='drop'):5.1f}")

    section(f"hubness (k = {K}, cosine, n = {N_SEARCH:,}) and WordNet synonym retrieval", clock)
    synonyms: dict[int, set[int]] = {}
    for s in synsets:
        ids = [index[w] for w in s.lemmas if w in index and index[w] < N_SEARCH]
        for i in ids:
            synonyms.setdefault(i, set()).update(j for j in ids if j != i)
    queries = np.array(sorted(i for i, js in synonyms.items() if js))
    print(f"{len(queries):,} of the {N_SEARCH:,} words have a WordNet synonym among them")
    variants = [("cosine", X, None), ("centred", all_but_the_top(X, 0), None),
                ("all-but-the-top (1 PC)", all_but_the_top(X, 1), None), ("CSLS", X, K),
                ("centred + CSLS", all_but_the_top(X, 0), K)]
    base = None
    for name, data, csls in variants:
        idx = knn_indices(data, K, metric="cosine", csls=csls).numpy()  # (n, K)
        occ = np.bincount(idx.reshape(-1), minlength=N_SEARCH)
        hits = np.array([bool(synonyms[q] & set(idx[q])) for q in queries], dtype=float)
        base = hits if base is None else base
        diff = hits - base  # paired over the same queries
        print(f"{name:24s} skewness {skewness(occ):5.2f}  max N_k {occ.max():4d}  "
              f"N_k = 0: {np.mean(occ == 0):5.1%}  synonym in top {K}: {hits.mean():.3f} "
              f"({diff.mean():+.3f} ± {1.96 * diff.std(ddof=1) / np.sqrt(diff.size):.3f} vs cosine)")
    assert np.array_equal(occ, k_occurrence(data, K, metric="cosine", csls=csls).numpy())

    section("WordSim-353 Spearman after centring / all-but-the-top (50,000 words)", clock)
    ws = load_word_pairs("wordsim353")
    print(f"raw vectors  rho {word_pair_spearman(V, words, ws).spearman:.3f}")
    for d in (0, 1, 2, 3):
        rho = word_pair_spearman(all_but_the_top(V, d), words, ws).spearman
        print(f"remove top {d} (after centring)  rho {rho:.3f}")

    section("probe vs control task: noun.animal among words with one lexicographer file", clock)
    lexfiles: dict[str, set[str]] = {}
    for s in nouns:
        for w in s.lemmas:
            lexfiles.setdefault(w, set()).add(s.lexname)
    probe_words = [w for w in words if len(lexfiles.get(w, ())) == 1]
    lex = np.array([next(iter(lexfiles[w])) for w in probe_words])
    F = V[[index[w] for w in probe_words]]
    # animals against as many other nouns drawn at random: 2.3% of these words are animals, and a
    # probe on so rare a class scores its majority rate whatever the features
    animals = np.flatnonzero(lex == "noun.animal")
    others = rng.choice(np.flatnonzero(lex != "noun.animal"), animals.size, replace=False)
    rows = rng.permutation(np.concatenate([animals, others]))
    y = (lex[rows] == "noun.animal").astype(int)
    cut = int(0.7 * len(rows))
    print(f"{len(probe_words):,} nouns of one lexicographer file, {animals.size} animals; balanced set of "
          f"{len(rows)}, {cut} train / {len(rows) - cut} test words")
    for name, feats in [("GloVe", F[rows]), ("random vectors", rng.normal(size=(len(rows), F.shape[1])))]:
        r = control_task_probe(feats[:cut], y[:cut], feats[cut:], y[cut:], seed=0)
        print(f"{name:15s} probe {r.accuracy:.3f}  control {r.control_accuracy:.3f}  majority {r.majority:.3f}  "
              f"selectivity {r.selectivity:+.3f}")
    order = rng.permutation(len(lex))
    tr, te = order[: int(0.7 * len(lex))], order[int(0.7 * len(lex)) :]
    r = control_task_probe(F[tr], lex[tr], F[te], lex[te], seed=0)
    print(f"all {len(set(lex))} lexicographer files ({len(lex):,} words): probe {r.accuracy:.3f}  control "
          f"{r.control_accuracy:.3f}  majority {r.majority:.3f}  selectivity {r.selectivity:+.3f}")

    section("hypernym direction (WordNet noun @ pointers, both words in GloVe 50k)", clock)
    pairs = hypernym_pairs(nouns, vocabulary=index)
    a = np.array([index[p[0]] for p in pairs])
    b = np.array([index[p[1]] for p in pairs])
    fwd, bwd = cosine(V[a], V[b]).numpy(), cosine(V[b], V[a]).numpy()
    norm = np.linalg.norm(V, axis=1)
    print(f"{len(pairs):,} (hyponym, hypernym) pairs")
    print(f"cosine                      {direction_accuracy(fwd, bwd):.3f}")
    print(f"hypernym is more frequent   {direction_accuracy(a - b, b - a):.3f}")
    print(f"hypernym has larger norm    {direction_accuracy(norm[b] - norm[a], norm[a] - norm[b]):.3f}")
    train, test = split_pairs_by_word(pairs, test_fraction=0.3, seed=0)
    ta, tb = (np.array([index[p[i]] for p in train]) for i in (0, 1))
    ea, eb = (np.array([index[p[i]] for p in test]) for i in (0, 1))
    w = fit_direction(V[ta], V[tb])
    s = (V[eb] - V[ea]) @ w
    s_train = (V[tb] - V[ta]) @ w
    print(f"learned direction, disjoint words ({len(train):,} train / {len(test):,} test pairs)  "
          f"{direction_accuracy(s, -s):.3f}  (train {direction_accuracy(s_train, -s_train):.3f})")
    print(f"frequency on the same test  {direction_accuracy(ea - eb, eb - ea):.3f}")

    section(f"polysemy: WordNet senses vs neighbour coherence (k = {K}, n = {N_SEARCH:,})", clock)
    senses = sense_counts(synsets)
    coh = neighbour_coherence(X, K).numpy()
    ranks = np.array([i for i in range(N_SEARCH) if words[i] in senses])
    n_senses = np.array([senses[words[i]] for i in ranks])
    print(f"{len(ranks):,} words in WordNet; all: Spearman(senses, coherence) "
          f"{spearmanr(n_senses, coh[ranks]).statistic:+.3f}, Spearman(senses, rank) "
          f"{spearmanr(n_senses, ranks).statistic:+.3f}, Spearman(coherence, rank) "
          f"{spearmanr(coh[ranks], ranks).statistic:+.3f}")
    for lo, hi in [(0, 2_000), (2_000, 5_000), (5_000, 10_000), (10_000, 20_000)]:
        m = (ranks >= lo) & (ranks < hi)
        one, many = coh[ranks[m & (n_senses == 1)]], coh[ranks[m & (n_senses >= 10)]]
        print(f"ranks {lo:>6,}-{hi:<6,} n {m.sum():5d}  rho {spearmanr(n_senses[m], coh[ranks[m]]).statistic:+.3f}  "
              f"mean coherence 1 sense {one.mean():.3f} ({one.size}), 10+ senses {many.mean():.3f} ({many.size})")

    section("WordSim-353 Spearman vs number of principal components (PCA fitted on 50,000 words)", clock)
    ks = [1, 2, 3, 5, 10, 20, 30, 40, 50]
    for top in (0, 1, 2, 3):
        usable = [k for k in ks if k <= 50 - top]
        rhos = word_pair_spearman_by_components(V, words, ws, usable, remove_top=top)
        print(f"remove top {top}: " + "  ".join(f"k={k} {r.spearman:.3f}" for k, r in zip(usable, rhos)))
    section("done", clock)
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    with threadpool_limits(limits=1):
        main()
