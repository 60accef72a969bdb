"""embedlab: the tested code behind *From Similarity to Probability*.

One small module per concept; each module's docstring names the chapter that teaches it.
Importing the package has no side effects (no seeding, no device probing, no downloads).

Where each concept lives (one home each; import it from there)::

    concept                                                    module                      chapter
    ---------------------------------------------------------  --------------------------  -------
    corpus, tokenize, Vocabulary, word pairs, GloVe, download  embedlab.data (a package)   1
    MovieLens-100K (recbole copy or checked download),        embedlab.data.movielens     9
      splits, synthetic ratings
    WordNet 3.0 synsets (Debian's or NLTK's files), the       embedlab.data.wordnet       10, 11
      reverse dictionary: definitions as queries, words
      as documents, disjoint test/validation/train synsets;
      lexicographer files, hypernym pairs, sense counts
    dot, cosine, Euclidean, normalize (the zero-vector         embedlab.similarity         1, 2
      policy), similarity matrices, exact top-k search
    concentration of distances, hubness, neighbour overlap,    embedlab.geometry           2, 11
      PCA (neighbour search via similarity.topk); intrinsic
      dimension (TwoNN), hubness corrections (CSLS,
      centring, all-but-the-top), neighbour coherence
    co-occurrence, PMI/PPMI, subsampling, noise distribution,  embedlab.word2vec           3
      full-softmax skip-gram
    skip-gram with negative sampling (hand-written gradients)  embedlab.sgns               3
    word-vector evaluation: word-pair Spearman, analogies,     embedlab.wordsim            3, 11
      nearest words; direction of asymmetric relations
      (a symmetric score ties), a learned direction, pairs
      split by word; Spearman vs kept principal components
    temperature, softmax, entropy, top-k filter, sampling      embedlab.probability        3-6, 9
      (one token, or k items without replacement)
    contrastive losses (InfoNCE, NT-Xent, triplet, margin),    embedlab.losses             4
      alignment and uniformity
    digits data, augmentations, encoder, frozen features       embedlab.contrastive        4
    probes of a representation: linear probe, k-NN accuracy,   embedlab.probes             3, 4, 8, 11
      control tasks and selectivity
    prototype classifiers: class prototypes, nearest           embedlab.prototypes         7, 8
      centroid, cosine-softmax over prototypes, the cosine-
      softmax classifier (CosineClassifier), the Gaussian
      prototype layer, few-shot accuracy
    clustering: GMM by EM, vMF mixture, spectral clustering,   embedlab.cluster            8
      k-means, BIC
    attention weights, masks, multi-head attention             embedlab.attention          5
    the GPT model and generate                                 embedlab.transformer        6
    character-LM pipeline: codec, batches, bigram baseline,    embedlab.charlm             6
      evaluation, CPU/GPU configs, make_trainer
    calibration: reliability bins, ECE (equal width / mass),   embedlab.calibration        7, 10
      NLL, Brier, temperature / vector / matrix scaling;
      the confidence of one event (isotonic, logistic)
    von Mises-Fisher density, kappa fit, vMF class posterior   embedlab.vmf                7
    bandits with embedded arms: epsilon-greedy, Boltzmann,     embedlab.bandits            7, 9
      Thompson sampling, regret; offline replay of a log
    ranking items by score with exclusions; recall/precision/  embedlab.ranking            9, 10
      NDCG/MRR/hit rate/coverage; bootstrap intervals
    approximate nearest neighbours: random-hyperplane LSH,     embedlab.ann                10
      inverted-file index (k-means cells, nprobe),
      neighbour recall, held-out query split
    recommendation models: user/item factors (full softmax,    embedlab.recommend          9
      BPR), scores with norm/bias knobs, biased MF on ratings
    semantic search: TF-IDF (words, character n-grams),        embedlab.retrieval          10
      averaged GloVe, the dual encoder (InfoNCE), top-1
      features for calibrating a ranking
    reference recommenders on our splits: implicit's ALS and   embedlab.reclibs            9
      BPR, Surprise's SVD and SVD++
    data-parallel training with DDP (torchrun, gloo/NCCL):     embedlab.distributed        12
      a rank's share of one global batch, all-reduce bytes
      and time, the single-process reference, launch
    an index too big for one machine: sharded exact search     embedlab.bigindex           12
      and the top-k merge, IVF-PQ memory/recall/speed
      (faiss), memory and search cost at 10^9 items
    the training loop, schedules, checkpoints, progress bars   embedlab.train              3-6, 12
    seeding, device, timer, below, evaluating (eval mode)      embedlab.utils              all
    figure style and shared plots                              embedlab.plotting           all
    auto-checked exercises (check) and their hidden cases      embedlab.exercises, .checks all
    grading a class offline: each notebook run headless in a   embedlab.grade              all
      fresh kernel and folder, then its hidden checks;
      gradebook, feedback; Otter-Grader test export
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("embedlab")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
