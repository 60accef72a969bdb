"""Skip-gram with negative sampling (SGNS), trained with hand-written gradients (chapter 3).

word2vec's objective: for each (centre, context) pair in a window, raise ``σ(x · c)`` for the
real context and lower ``σ(x · n)`` for ``k`` noise words drawn from the unigram^0.75
distribution. The corpus, subsampling and noise distribution are :mod:`embedlab.word2vec`'s.

:class:`SGNS` is batched so that it runs about as fast as gensim's C code on a CPU: a step takes
``streams × stream_len`` contiguous centre tokens, scores every centre against all its window
positions at once, and shares ``shared_negatives`` noise words across the whole step (each
weighted so that the objective stays the usual ``k`` negatives per positive pair).
:func:`sgns_loss` and :func:`sgns_gradients` are the per-step objective and its gradient, tested
against autograd. Shapes: ``S`` streams, ``L`` centres per stream, ``W`` window, ``D`` dimension,
``K`` shared negatives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from embedlab import _checks
from embedlab.train import progress_bar
from embedlab.word2vec import EncodedCorpus, keep_probabilities, noise_distribution

__all__ = ["sgns_loss", "sgns_gradients", "SGNSConfig", "SGNSStats", "SGNS"]


def _windows(ctx: torch.Tensor, span: int) -> torch.Tensor:
    """ctx: (S, L + span - 1, D) -> view (S, L, D, span): the window of context rows of each centre."""
    return ctx.unfold(1, span, 1)


def sgns_loss(
    x: torch.Tensor,
    ctx: torch.Tensor,
    mask: torch.Tensor,
    neg: torch.Tensor,
    neg_weight: torch.Tensor,
) -> torch.Tensor:
    """The SGNS objective of one batched step (summed, to be minimised).

    x: (S, L, D) centre (input) vectors; ctx: (S, L + 2W, D) output vectors of the positions
    around them (centre ``t`` of stream ``s`` sees ``ctx[s, t : t + 2W + 1]``); mask: (S, L, 2W+1)
    1.0 where that position is a real context of the centre; neg: (K, D) output vectors of the
    shared negatives; neg_weight: (S, L) weight of each shared negative for each centre.

    ``loss = -Σ mask · log σ(x·c) - Σ_centres weight · Σ_K log σ(-x·n)``
    """
    span = mask.shape[-1]
    pos = torch.einsum("sld,sldj->slj", x, _windows(ctx, span))
    neg_scores = x.reshape(-1, x.shape[-1]) @ neg.T  # (S*L, K)
    return -(mask * F.logsigmoid(pos)).sum() - (neg_weight.reshape(-1, 1) * F.logsigmoid(-neg_scores)).sum()


def _band(full: torch.Tensor, span: int) -> torch.Tensor:
    """full: (S, L, L + span - 1) contiguous -> view (S, L, span) with ``[s, t, j] = full[s, t, t + j]``."""
    S, L, _ = full.shape
    return full.as_strided((S, L, span), (full.stride(0), full.stride(1) + 1, full.stride(2)))


def sgns_gradients(
    x: torch.Tensor,
    ctx: torch.Tensor,
    mask: torch.Tensor,
    neg: torch.Tensor,
    neg_weight: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hand-written gradient of :func:`sgns_loss` (shapes as there).

    Returns ``(g_x, g_ctx, g_neg)`` = minus the gradients of the loss (the direction SGD adds),
    with the shapes of ``x: (S, L, D)``, ``ctx: (S, L + 2W, D)`` and ``neg: (K, D)``.

    Why it is fast: one batched product scores every centre of a stream against every position of
    the stream's window, ``(S, L, L + 2W)``; the scores we need are a band of that matrix (a view,
    no copy). The gradients are two more batched products with the band matrix of coefficients,
    so the context rows are neither copied per pair nor scattered per pair.
    """
    S, L, D = x.shape
    span = mask.shape[-1]
    full = torch.bmm(x, ctx.transpose(1, 2))  # (S, L, L + 2W): all centre-position scores
    pos = _band(full, span)  # (S, L, 2W + 1)
    coef = torch.zeros_like(full)
    _band(coef, span).copy_(mask * torch.sigmoid(-pos))  # d/ds log σ(s) = σ(-s), real pairs only
    xf = x.reshape(-1, D)
    neg_scores = xf @ neg.T  # (S*L, K)
    g_neg_scores = neg_weight.reshape(-1, 1) * torch.sigmoid(neg_scores)  # minus d/ds log σ(-s)
    g_x = torch.bmm(coef, ctx)  # (S, L, D): Σ_j coef[s, t, j] · ctx[s, t + j]
    g_x.view(-1, D).sub_(g_neg_scores @ neg)
    g_ctx = torch.bmm(coef.transpose(1, 2), x)  # (S, L + 2W, D): each row gathers all its centres
    g_neg = -(g_neg_scores.T @ xf)  # (K, D)
    return g_x, g_ctx, g_neg


@dataclass
class SGNSConfig:
    """Settings of :class:`SGNS`; the defaults are gensim's (``sg=1``) where they exist."""

    dim: int = 100
    window: int = 5  # largest window; each centre draws its own from 1..window
    negatives: int = 5  # k: negatives per positive pair that the objective stands for
    shared_negatives: int = 64  # K: noise words actually drawn per step, shared by all its centres
    streams: int = 16  # a step takes `streams` runs of `stream_len` contiguous centre tokens
    stream_len: int = 32
    epochs: int = 5
    lr: float = 0.025
    min_lr: float = 1e-4
    sample: float = 1e-3
    noise_power: float = 0.75
    seed: int = 0
    log_every: int = 50  # steps between loss records (computing the loss costs time)

    def __post_init__(self) -> None:
        for name in ("dim", "window", "negatives", "shared_negatives", "streams", "stream_len", "epochs", "log_every"):
            _checks.integer(getattr(self, name), name, low=1)
        _checks.number(self.lr, "lr", low=0, low_open=True)
        _checks.number(self.min_lr, "min_lr", low=0, low_open=True)
        _checks.number(self.sample, "sample", low=0)
        _checks.number(self.noise_power, "noise_power")
        _checks.integer(self.seed, "seed", low=0)
        if not 0 < self.min_lr <= self.lr:
            raise ValueError(f"need 0 < min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}")


@dataclass
class SGNSStats:
    """What :meth:`SGNS.train` measured. ``words`` counts centre tokens trained on (after
    subsampling): gensim's "effective words"."""

    words: int = 0
    raw_words: int = 0
    seconds: float = 0.0
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # mean loss per centre token, every log_every steps

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.seconds > 0 else float("nan")


class SGNS:
    """Skip-gram with negative sampling, trained with hand-written SGD (chapter 3).

    ``W_in: (V, D)`` are the word vectors (gensim's ``wv``), ``W_out: (V, D)`` the context vectors
    (gensim's ``syn1neg``). Initialised like gensim: ``W_in`` uniform in ``±0.5/D``, ``W_out`` zero.
    """

    def __init__(self, counts: np.ndarray, config: SGNSConfig | None = None, *, device: str | torch.device = "cpu"):
        counts = np.asarray(counts)
        if counts.ndim != 1 or counts.size == 0 or (counts <= 0).any():
            raise ValueError("counts must be a non-empty 1-D array of positive word counts")
        self.config = cfg = config or SGNSConfig()
        self.device = torch.device(device)
        self.counts = counts
        V, D = counts.shape[0], cfg.dim
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.W_in = ((torch.rand(V, D, generator=self.generator) - 0.5) / D).to(self.device)
        self.W_out = torch.zeros(V, D, device=self.device)
        self.keep = torch.as_tensor(keep_probabilities(counts, cfg.sample), dtype=torch.float32)
        self.noise = torch.as_tensor(noise_distribution(counts, cfg.noise_power), dtype=torch.float32)

    def _epoch_layout(self, corpus: EncodedCorpus) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int]:
        """Subsample one epoch and cut it into streams.

        Returns ``windows: (S, T·L + 2W)`` token ids (-1 = padding), ``mask: (S, T·L, 2W+1)``,
        ``weight: (S, T·L)`` per-centre weight of the shared negatives, ``T`` steps, kept words.
        """
        cfg, g = self.config, self.generator
        W, S, L = cfg.window, cfg.streams, cfg.stream_len
        ids = torch.as_tensor(corpus.ids)
        sent = torch.as_tensor(corpus.sentence)
        kept = torch.rand(ids.shape[0], generator=g) < self.keep[ids]
        ids, sent = ids[kept], sent[kept]
        n = int(ids.shape[0])
        T = max(1, math.ceil(n / (S * L)))
        seg = T * L
        pad = S * seg - n
        # Padding gets id 0 and sentence -1: never a valid centre, never a context of a real word.
        ids = F.pad(ids, (W, pad + W), value=0)
        sent = F.pad(sent, (W, pad + W), value=-1)
        reduced = torch.randint(1, W + 1, (S * seg,), generator=g)  # word2vec's random window size
        # Stream s owns centres [s·seg, (s+1)·seg) and reads W extra positions on each side.
        idx = torch.arange(S)[:, None] * seg + torch.arange(seg + 2 * W)[None, :]
        win_ids, win_sent = ids[idx], sent[idx]  # (S, seg + 2W)
        centre_sent = win_sent[:, W : W + seg]  # (S, seg)
        offsets = torch.arange(-W, W + 1).abs()  # (2W+1,)
        mask = (
            (win_sent.unfold(1, 2 * W + 1, 1) == centre_sent[..., None])
            & (offsets > 0)
            & (offsets <= reduced.view(S, seg, 1))
            & (centre_sent[..., None] >= 0)
        )
        weight = mask.sum(-1).float() * (cfg.negatives / cfg.shared_negatives)
        return win_ids, mask.float(), weight, T, n

    @torch.no_grad()
    def train(self, corpus: EncodedCorpus, *, progress: bool = True, desc: str = "SGNS") -> SGNSStats:
        """Run ``config.epochs`` epochs of SGD over ``corpus`` and return throughput and losses."""
        if len(corpus) == 0:
            raise ValueError("empty corpus")
        if len(corpus.vocab) != self.W_in.shape[0]:
            raise ValueError(f"corpus vocabulary has {len(corpus.vocab)} words, the model {self.W_in.shape[0]}")
        cfg, g, dev = self.config, self.generator, self.device
        W, L, D = cfg.window, cfg.stream_len, cfg.dim
        stats = SGNSStats()
        # The learning rate decays linearly with progress, as in gensim; the total step count is
        # only known per epoch, so progress is measured in expected centre tokens.
        expected = float(corpus.counts @ self.keep.double().numpy()) * cfg.epochs
        bar = progress_bar(cfg.epochs, desc, enabled=progress, unit="epoch")
        start = time.perf_counter()
        done = 0  # centre tokens trained on so far
        step = 0
        for _ in range(cfg.epochs):
            win_ids, mask, weight, T, n = self._epoch_layout(corpus)
            negs = torch.multinomial(self.noise, T * cfg.shared_negatives, replacement=True, generator=g)
            negs = negs.view(T, cfg.shared_negatives).to(dev)
            win_ids, mask, weight = win_ids.to(dev), mask.to(dev), weight.to(dev)
            for t in range(T):
                lr = cfg.lr - (cfg.lr - cfg.min_lr) * min(1.0, (done + t * n / T) / expected)
                ctx_ids = win_ids[:, t * L : t * L + L + 2 * W]  # (S, L + 2W)
                centre_ids = ctx_ids[:, W : W + L]  # (S, L)
                m = mask[:, t * L : (t + 1) * L]
                w = weight[:, t * L : (t + 1) * L]
                x = self.W_in[centre_ids]  # (S, L, D)
                ctx = self.W_out[ctx_ids]  # (S, L + 2W, D)
                neg = self.W_out[negs[t]]  # (K, D)
                g_x, g_ctx, g_neg = sgns_gradients(x, ctx, m, neg, w)
                # Summed SGD updates; padded centres have zero mask and weight, so zero gradient.
                self.W_in.index_add_(0, centre_ids.reshape(-1), g_x.reshape(-1, D), alpha=lr)
                self.W_out.index_add_(0, ctx_ids.reshape(-1), g_ctx.reshape(-1, D), alpha=lr)
                self.W_out.index_add_(0, negs[t], g_neg, alpha=lr)
                step += 1
                if step % cfg.log_every == 0:
                    loss = sgns_loss(x, ctx, m, neg, w) / max(1.0, float((w > 0).sum()))
                    stats.steps.append(step)
                    stats.loss.append(float(loss))
            done += n
            stats.words += n
            stats.raw_words += corpus.raw_words
            bar.update(1)
        stats.seconds = time.perf_counter() - start
        bar.close()
        if not (torch.isfinite(self.W_in).all() and torch.isfinite(self.W_out).all()):
            raise FloatingPointError(
                "SGNS weights became inf/NaN: lower lr, or subsample (sample > 0) or use fewer streams"
            )
        return stats

    def vectors(self) -> np.ndarray:
        """The word vectors ``W_in`` as a (V, D) float32 NumPy array."""
        return self.W_in.detach().cpu().numpy().copy()
