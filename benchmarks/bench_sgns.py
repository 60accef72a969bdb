"""SGNS (chapter 3) vs gensim Word2Vec.

Both train skip-gram with negative sampling on the corpus chapter 3 uses (gensim's Wikipedia
sample, parsed as ``gensim.corpora.WikiCorpus`` parses it, by :func:`embedlab.data.wiki_articles`,
and cut into sentences of at most 10,000 words, as gensim's Word2Vec cuts texts) with the same
settings: 100 dimensions, window 5, 5 negatives,
5 epochs, subsampling 1e-3, min_count 5, learning rate 0.025 decaying to 1e-4.

Speed is effective words per second counted the way gensim counts them: centre words trained on
after subsampling (``SGNSStats.words``; the first number ``Word2Vec.train`` returns), over the
training loop only (gensim's ``build_vocab`` and our model construction are not timed). Ours runs
with ``torch.set_num_threads(t)``, gensim with ``workers=t`` (plus the Python thread that feeds its
workers). Quality is Spearman's rho of cosine similarity with WordSim-353 and SimLex-999
(:func:`embedlab.wordsim.word_pair_spearman`, the same function for both). Each round trains
both from scratch with seed = round number.

    python -m benchmarks.bench_sgns                 # full size, writes benchmarks/results/sgns.json
    python -m benchmarks.bench_sgns --tiny --out /tmp/bench
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from . import _harness as harness

WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
SOURCES = ("src/embedlab/sgns.py", "src/embedlab/word2vec.py")
QUALITY = {"WordSim-353 ρ": True, "SimLex-999 ρ": True}  # metric -> higher is better


@dataclass
class Config:
    """The training settings both implementations get, and how the measurement is run."""

    dim: int = 100
    window: int = 5
    negatives: int = 5
    epochs: int = 5
    sample: float = 1e-3
    min_count: int = 5
    sentence_len: int = 10_000  # gensim's MAX_WORDS_IN_BATCH: it cuts longer texts there
    articles: int | None = None  # None: the whole sample (106 articles, 453k tokens)
    threads: tuple[int, ...] = (1, 2)
    rounds: int = 3


FULL = Config()
TINY = Config(dim=16, epochs=1, articles=6, threads=(1, 2), rounds=2)


def load_corpus(cfg: Config):
    """Chapter 3's corpus: tokenised sentences, the vocabulary and the encoded id stream."""
    from embedlab.data import Vocabulary, gensim_test_data, wiki_articles
    from embedlab.word2vec import encode_sentences

    articles = wiki_articles(gensim_test_data(WIKI_SAMPLE), cfg.articles)  # WikiCorpus's texts, no fork
    n = cfg.sentence_len
    sentences = [a[i : i + n] for a in articles for i in range(0, len(a), n)]
    vocab = Vocabulary.from_tokens((w for s in sentences for w in s), min_count=cfg.min_count)
    return sentences, vocab, encode_sentences(sentences, vocab)


def spearman(vectors, words: Sequence[str], pairs) -> float | None:
    """rho on the covered pairs; None when fewer than 3 pairs are covered (the tiny corpus)."""
    from embedlab.data import WordVectors
    from embedlab.wordsim import word_pair_spearman

    try:
        return word_pair_spearman(WordVectors(list(words), vectors), pairs).spearman
    except ValueError:
        return None


def measure(cfg: Config, device: torch.device) -> list[dict]:
    from gensim.models import Word2Vec

    from embedlab.data import load_word_pairs
    from embedlab.sgns import SGNS, SGNSConfig

    start = time.perf_counter()
    sentences, vocab, corpus = load_corpus(cfg)
    print(f"  corpus: {len(sentences)} sentences, {len(corpus):,} in-vocabulary tokens, "
          f"{len(vocab):,} words (loaded in {time.perf_counter() - start:.1f} s)")
    pairs = {"WordSim-353 ρ": load_word_pairs("wordsim353"), "SimLex-999 ρ": load_word_pairs("simlex999")}
    counts = corpus.counts

    def quality(vectors, words) -> dict[str, float | None]:
        return {metric: spearman(vectors, words, p) for metric, p in pairs.items()}

    def one_setting(threads: int) -> dict:
        def ours(r: int) -> harness.Measurement:
            with harness.torch_threads(threads):
                model = SGNS(counts, SGNSConfig(dim=cfg.dim, window=cfg.window, negatives=cfg.negatives,
                                                epochs=cfg.epochs, sample=cfg.sample, seed=r), device=device)
                stats = model.train(corpus, progress=False)
            return harness.Measurement(stats.words_per_second, quality(model.vectors(), vocab.itos))

        def gensim(r: int) -> harness.Measurement:
            model = Word2Vec(vector_size=cfg.dim, window=cfg.window, negative=cfg.negatives, sg=1,
                             min_count=cfg.min_count, sample=cfg.sample, workers=threads, seed=r)
            model.build_vocab(sentences)
            if len(model.wv) != len(vocab):  # the same corpus must give the same vocabulary
                raise RuntimeError(f"gensim kept {len(model.wv)} words, we kept {len(vocab)}")
            t0 = time.perf_counter()
            effective, _raw = model.train(sentences, total_examples=model.corpus_count, epochs=cfg.epochs)
            seconds = time.perf_counter() - t0
            return harness.Measurement(effective / seconds, quality(model.wv.vectors, model.wv.index_to_key))

        label = f"{threads} thread{'s' * (threads != 1)}"
        mine, theirs = harness.interleave(ours, gensim, cfg.rounds, label=label)
        return harness.row(
            label, "words/s", "embedlab.sgns.SGNS", "gensim Word2Vec (sg=1)", mine, theirs,
            quality_higher_is_better=QUALITY,
            note=f"ours: torch.set_num_threads({threads}) on {device.type}; gensim: workers={threads}",
        )

    return [one_setting(t) for t in cfg.threads]


def versions() -> dict[str, str]:
    import gensim

    return {"gensim": gensim.__version__}


def main(argv: Sequence[str] | None = None) -> Path:
    return harness.main(__file__, argv, (FULL, TINY), measure, sources=SOURCES, versions=versions,
                        notes="Words/s: centre words trained on after subsampling, training loop only. "
                              "Quality: Spearman's rho of cosine similarity with human scores on the "
                              "covered pairs.")


if __name__ == "__main__":
    main()
