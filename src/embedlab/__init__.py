"""embedlab: the tested code behind *From Similarity to Probability*.

One small module per concept; each module's docstring names the chapter that teaches it.
Importing the package has no side effects (no seeding, no device probing, no downloads): it
imports no submodule, not even torch.

Two array worlds, one boundary:

* torch: the layers, losses and training (chapters 3-6, 12) take and return tensors and keep the
  caller's dtype and device; float16 and bfloat16 are accepted wherever float32 is (reductions
  that would overflow or lose bits, such as softmax and norms, are computed in float32).
* NumPy: the estimators and metrics (clustering, calibration, ranking, bandits, retrieval,
  intervals) are float64 on the CPU; they take tensors too, converting them (detached, on the CPU;
  bfloat16 through float32, since NumPy has none).

Below the concepts, each primitive has one private home, so that one input gets one answer
everywhere (readers import the concepts, not these):

* ``embedlab._checks``: argument checking. One exception, ``ArgumentError``, both a ``ValueError``
  and a ``TypeError``, whose message starts with the argument's name; ``bool`` is never a number.
* ``embedlab._rows``: softmax over scores, unit rows (with the zero-row policy), top-k with one tie
  rule (the lower id first, also at the boundary of the list) and the overlap of two id lists,
  one torch implementation answering in both worlds.

Where each concept lives: :data:`CONCEPTS` is the map, one row per concept (the concept, its
module, the public names it covers, the chapters that teach it); tests/test_layout.py imports every
name of every row from its module. The same map as a table::

"""

from __future__ import annotations

import textwrap
from importlib.metadata import PackageNotFoundError, version
from typing import NamedTuple

try:
    __version__ = version("embedlab")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "Concept", "CONCEPTS"]


class Concept(NamedTuple):
    """One row of the concept map: ``names`` are importable from ``embedlab.<module>`` and defined there."""

    concept: str
    module: str  # relative to embedlab: "similarity", "data.movielens"
    names: tuple[str, ...]
    chapters: str  # "1", "3-6, 9", "all"


CONCEPTS: tuple[Concept, ...] = (
    Concept("corpus, tokenize, Vocabulary, word pairs, GloVe as WordVectors (one type for word vectors), "
            "checked download", "data",
            ("load_shakespeare", "tokenize", "Vocabulary", "load_word_pairs", "load_glove", "WordVectors",
             "wiki_articles", "download"), "1"),
    Concept("MovieLens-100K (recbole copy or checked download), splits (temporal, random, k-fold), synthetic "
            "ratings", "data.movielens",
            ("load_movielens100k", "temporal_split", "random_split", "kfold", "synthetic_ratings"), "9"),
    Concept("WordNet 3.0 synsets (Debian's or NLTK's files), the reverse dictionary: definitions as queries, "
            "words as documents, disjoint test/validation/train synsets; lexicographer files, hypernym pairs, "
            "sense counts", "data.wordnet",
            ("load_wordnet", "reverse_dictionary", "hypernym_pairs", "sense_counts"), "10, 11"),
    Concept("dot, cosine, Euclidean, normalize (the zero-vector policy), similarity matrices, exact top-k search",
            "similarity", ("dot", "cosine", "euclidean", "normalize", "pairwise_cosine", "topk"), "1, 2"),
    Concept("concentration of distances, hubness, neighbour overlap, PCA; intrinsic dimension (TwoNN), hubness "
            "corrections (CSLS, centring, all-but-the-top), neighbour coherence", "geometry",
            ("relative_contrast", "k_occurrence", "neighbour_overlap", "pca", "twonn_dimension", "csls_topk",
             "all_but_the_top", "neighbour_coherence"), "2, 11"),
    Concept("co-occurrence, PMI/PPMI, subsampling, noise distribution, full-softmax skip-gram", "word2vec",
            ("cooccurrence", "pmi", "ppmi", "subsampled_counts", "noise_distribution", "SkipGramSoftmax"), "3"),
    Concept("skip-gram with negative sampling (hand-written gradients)", "sgns",
            ("SGNS", "sgns_loss", "sgns_gradients"), "3"),
    Concept("word-vector evaluation: word-pair Spearman (and two tables compared, paired), analogies, "
            "nearest words; direction of asymmetric relations (a symmetric score ties), a learned direction, "
            "pairs split by word; Spearman vs kept principal components", "wordsim",
            ("word_pair_spearman", "compare_spearman", "analogy_accuracy", "nearest_words", "direction_accuracy",
             "fit_direction", "split_pairs_by_word", "word_pair_spearman_by_components"), "3, 11"),
    Concept("temperature, softmax, entropy, top-k filter, sampling (one token, or k items without replacement)",
            "probability",
            ("check_temperature", "softmax", "entropy", "top_k_filter", "sample_next", "sample_without_replacement"),
            "3-6, 9"),
    Concept("contrastive losses (InfoNCE, NT-Xent, triplet, margin), alignment and uniformity", "losses",
            ("info_nce", "nt_xent", "triplet_loss", "margin_contrastive_loss", "alignment", "uniformity"), "4"),
    Concept("digits data, augmentations, encoder, frozen features", "contrastive",
            ("load_digits_split", "augment", "MLPEncoder", "embed"), "4"),
    Concept("probes of a representation: linear probe, k-NN accuracy, control tasks and selectivity", "probes",
            ("linear_probe_accuracy", "knn_accuracy", "control_task", "control_task_probe"), "4, 11"),
    Concept("prototype classifiers: class prototypes, nearest centroid, cosine-softmax over prototypes, the "
            "cosine-softmax classifier, the Gaussian prototype layer, few-shot accuracy", "prototypes",
            ("class_prototypes", "nearest_centroid_predict", "cosine_prototype_logits", "CosineClassifier",
             "gaussian_prototype_layer", "few_shot_accuracy"), "7, 8"),
    Concept("how well a mean is known: the t interval over draws, the bootstrap over units, the paired "
            "difference of two methods (a tie when it contains 0); the one resampler and percentile interval",
            "intervals",
            (
                "mean_interval",
                "bootstrap_ci",
                "paired_difference",
                "compare",
                "Comparison",
                "seed_spread",
                "SeedSpread",
                "bootstrap_indices",
                "percentile_interval",
            ),
            "all"),
    Concept("clustering: GMM by EM, vMF mixture, spectral clustering, k-means, BIC", "cluster",
            ("fit_gmm", "fit_vmf_mixture", "spectral_clustering", "kmeans", "bic"), "8"),
    Concept("attention weights, masks, multi-head attention", "attention",
            ("attention_weights", "causal_mask", "padding_mask", "scaled_dot_product_attention",
             "MultiHeadAttention"), "5"),
    Concept("the GPT model and generate", "transformer", ("GPT", "GPTConfig", "generate"), "6"),
    Concept("character-LM pipeline: codec, batches, bigram baseline, evaluation, CPU/GPU configs, make_trainer",
            "charlm",
            ("char_vocabulary", "encode_text", "decode_ids", "get_batch", "bigram_loss", "evaluate", "pick_config",
             "make_trainer"), "6"),
    Concept("calibration: reliability bins, ECE (equal width / mass), NLL, Brier, temperature / vector / matrix "
            "scaling; the confidence of one event (isotonic, logistic)", "calibration",
            ("reliability_bins", "expected_calibration_error", "nll", "brier_score", "fit_scaling",
             "confidence_ece", "fit_confidence"), "7, 10"),
    Concept("conformal prediction: split-conformal threshold, nonconformity scores (LAC, APS with randomised "
            "tie-breaking), prediction sets, their coverage and sizes; retrieval sets from a calibrated similarity",
            "conformal",
            ("conformal_threshold", "conformity_scores", "prediction_sets", "set_coverage", "set_sizes",
             "retrieval_threshold", "retrieval_sets"), "8, 10"),
    Concept("von Mises-Fisher density and normaliser, kappa fit, vMF class posterior", "vmf",
            ("log_normalizer", "log_density", "estimate_kappa", "fit_classes"), "7"),
    Concept("bandits with embedded arms: epsilon-greedy, Boltzmann, Thompson sampling, regret; offline replay "
            "of a log", "bandits", ("EpsilonGreedy", "Boltzmann", "Thompson", "simulate", "replay"), "7, 9"),
    Concept("bandits that share evidence through the item vectors: a Gaussian posterior over the taste, linear "
            "Thompson sampling, LinUCB", "linbandits", ("LinearPosterior", "LinearThompson", "LinUCB"), "7"),
    Concept("off-policy evaluation: a log with propensities; replay (uniform logs only), IPS (clipped), "
            "self-normalised IPS, direct method, doubly robust; a semi-synthetic world (softmax, greedy and "
            "uniform policies, a simulated log, a policy's true value)", "offpolicy",
            ("BanditLog", "Estimate", "replay_estimate", "ips_estimate", "snips_estimate", "dm_estimate",
             "dr_estimate", "softmax_policy", "greedy_policy", "uniform_policy", "simulate_log", "policy_value"),
            "9"),
    Concept("ranking items by score with exclusions; recall/precision/NDCG/MRR/hit rate/coverage", "ranking",
            ("rank_items", "recall_at_k", "precision_at_k", "ndcg_at_k", "reciprocal_rank", "hit_rate_at_k",
             "coverage", "evaluate"), "9, 10"),
    Concept("approximate nearest neighbours: random-hyperplane LSH, inverted-file index (k-means cells, nprobe), "
            "neighbour recall, held-out query split", "ann",
            ("RandomHyperplaneLSH", "IVFIndex", "neighbour_recall", "held_out_split"), "10"),
    Concept("recommendation models: user/item factors (full softmax, BPR; per-pair full, in-batch and sampled "
            "softmax), scores with norm/bias knobs, biased MF on ratings", "recommend",
            ("fit_factors", "score_matrix", "fit_biased_mf", "rmse"), "9, 13"),
    Concept("the softmax at scale: full, in-batch and sampled softmax, proposals (uniform, popularity^beta), the "
            "log Q correction, the exact expected gradient of a sampled loss", "sampledsoftmax",
            ("proposal", "sample_negatives", "full_softmax_loss", "in_batch_softmax_loss", "sampled_softmax_loss",
             "full_softmax_gradient", "expected_sampled_gradient"), "13"),
    Concept("EASE: item-item weights in closed form from co-occurrence counts (zero diagonal), a popularity "
            "correction, settings chosen on validation (under a coverage constraint)", "ease",
            ("EASE", "fit_ease", "choose_ease", "select_under_coverage"), "9"),
    Concept("semantic search: TF-IDF (words, character n-grams; the IDF corpus chosen on validation), averaged "
            "GloVe (centred, IDF-weighted), the dual encoder (InfoNCE), top-1 features for calibrating a ranking",
            "retrieval",
            ("tfidf_scores", "choose_tfidf_corpus", "average_glove", "glove_mean", "idf_weights", "DualEncoder",
             "fit_dual_encoder", "top1"), "10"),
    Concept("reference recommenders on our splits: implicit's ALS and BPR, Surprise's SVD and SVD++", "reclibs",
            ("implicit_als", "implicit_bpr", "surprise_rmse"), "9"),
    Concept("data-parallel training with DDP (torchrun, gloo/NCCL): a rank's share of one global batch, "
            "all-reduce bytes and time, the single-process reference, launch", "distributed",
            ("global_batch", "rank_slice", "allreduce_cost", "run_single", "launch"), "12"),
    Concept("an index too big for one machine: sharded exact search and the top-k merge, IVF-PQ memory/recall/"
            "speed (faiss) with re-ranking, memory and search cost at 10^9 items, one query's memory-bound scan",
            "bigindex", ("sharded_search", "merge_topk", "ivfpq_table", "memory_at_scale", "scan_seconds"), "12"),
    Concept("the training loop, schedules, checkpoints, progress bars", "train",
            ("Trainer", "TrainConfig", "cosine_schedule", "progress_bar"), "3-6, 12"),
    Concept("seeding, device, timer, below, evaluating (eval mode)", "utils",
            ("seed_everything", "get_device", "Timer", "below", "evaluating"), "all"),
    Concept("figure style and shared plots", "plotting", ("style", "subplots", "similarity_heatmap"), "all"),
    Concept("auto-checked exercises (check, every hidden case counted); their hidden cases live in "
            "embedlab.checks.chNN", "exercises",
            ("check", "judge", "Exercise", "Case", "CheckResult", "Failure", "GRADED_WORK"), "all"),
    Concept("comparing a student's result with the reference without trusting it (shape, dtype, the worst "
            "position; a reason, never an exception)", "matching",
            ("mismatch", "close", "describe_kind", "short_repr"), "all"),
    Concept("running a student's code for one case: the time limit (SIGALRM or a thread), the student's line "
            "in a verdict", "timelimit",
            ("run_with_time_limit", "CaseTimeout", "describe_exception", "is_students_file", "student_line",
             "run_case", "CaseRun", "signature_problem"), "all"),
    Concept("grading a class offline, the command: python -m embedlab.grade", "grade",
            ("grade", "main", "SANDBOXING"), "all"),
    Concept("grading: whose notebook is which (file names, Canvas and Moodle layouts, NFC ids, duplicates "
            "kept by modification time)", "grading.submissions",
            ("find_submissions", "Submission", "exercises_named", "safe_file_name"), "all"),
    Concept("grading: inside the student's kernel, find the function, run it on the hidden inputs, hand back "
            "what it returned as data; the exercise's library answer unavailable meanwhile",
            "grading.kernel", ("evaluate", "find_function", "unavailable", "grading_source", "CASES_FILE",
                               "RUNS_FILE", "GRADING_CELL_MARK"), "all"),
    Concept("grading: the data between a kernel and the grader (plain values, never pickled, size-capped)",
            "grading.wire", ("encode", "decode", "observe", "autograd_ops", "Opaque", "Traced", "WireError",
                             "MAX_ELEMENTS"), "all"),
    Concept("grading: one notebook run headless in a fresh kernel and folder (time limits, capped output), "
            "judged in the grader's process", "grading.run",
            ("grade_notebook", "Outcome", "HiddenCases", "hidden_cases", "cases_payload", "judge_runs",
             "kernelspec"), "all"),
    Concept("grading: a sandbox per kernel from Linux namespaces (no network, read-only files, hidden class "
            "and checks, memory limit, no surviving processes)", "grading.sandbox",
            ("probe", "command", "hidden_paths", "pid_namespace", "survivors", "UNPROTECTED"), "all"),
    Concept("grading: a fresh output folder, long and wide gradebooks, points, feedback modes (full, hints, "
            "pass-fail)", "grading.reports",
            ("prepare_out", "write_reports", "feedback", "message", "points", "file_names"), "all"),
    Concept("grading: the hidden checks as Otter-Grader tests", "grading.otter", ("export_otter",), "all"),
)


def _concept_table(concepts: tuple[Concept, ...]) -> str:
    """The map as the fixed-width table of this docstring (concept wrapped at 58 characters)."""
    width, mod_width = 58, 26
    lines = [f"    {'concept':<{width}} {'module':<{mod_width}} chapters",
             f"    {'-' * width} {'-' * mod_width} --------"]
    for c in concepts:
        wrapped = textwrap.wrap(f"{c.concept} ({', '.join(c.names)})", width - 2)
        lines.append(f"    {wrapped[0]:<{width}} {'embedlab.' + c.module:<{mod_width}} {c.chapters}")
        lines += [f"      {w}" for w in wrapped[1:]]
    return "\n".join(lines) + "\n"


__doc__ = (__doc__ or "") + _concept_table(CONCEPTS)
