"""Contrastive learning on scikit-learn's 8×8 digits: data, augmentations, encoder, probes.

Taught in chapter 4. The losses themselves live in :mod:`embedlab.losses`; this module holds
what a SimCLR-style run needs around them (Chen et al., 2020):

* :func:`load_digits_split`: the 1,797 digits of ``sklearn.datasets.load_digits`` (shipped inside
  scikit-learn, so no download), scaled to [0, 1] and split once, stratified, with a fixed seed;
* :func:`augment`: random rotations, shifts, pixel noise and erasing, drawn from a
  ``torch.Generator`` so that a run is reproducible; the encoder learns to ignore exactly these;
* :class:`MLPEncoder`: a small MLP backbone whose output is the representation, followed by a
  projection head on which the loss is computed (probes use the representation);
* :func:`embed`: the frozen features of a batch of images;
* :class:`SimCLRConfig` and :func:`train_simclr`: the one training recipe (two views per digit,
  NT-Xent on the head, Adam with a warm-up and cosine decay, :class:`embedlab.train.Trainer`)
  that chapters 4 and 8 both run.

Scoring those features with labels they never saw in training (a linear probe, k-NN) is
:mod:`embedlab.probes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedlab._checks import integer, number
from embedlab.losses import nt_xent
from embedlab.train import History, TrainConfig, Trainer, cosine_schedule
from embedlab.utils import evaluating

__all__ = [
    "DigitsSplit",
    "load_digits_split",
    "AugmentConfig",
    "augment",
    "EncoderConfig",
    "MLPEncoder",
    "embed",
    "SimCLRConfig",
    "train_simclr",
]


# -- data -----------------------------------------------------------------------------------------
@dataclass
class DigitsSplit:
    """Train and test images ``(N, 8, 8)`` in [0, 1] (float32) and their labels ``(N,)`` (int64)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_digits_split(test_fraction: float = 0.2, seed: int = 0) -> DigitsSplit:
    """Load ``sklearn.datasets.load_digits()`` and split it, stratified by class.

    The pixels are counts 0..16 in the original data; we divide by 16.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype(np.float32) / 16.0  # (1797, 8, 8)
    y = digits.target.astype(np.int64)
    tr_x, te_x, tr_y, te_y = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return DigitsSplit(torch.from_numpy(tr_x), torch.from_numpy(tr_y), torch.from_numpy(te_x), torch.from_numpy(te_y))


# -- augmentations --------------------------------------------------------------------------------
@dataclass
class AugmentConfig:
    """Ranges of the random transformations; each one is drawn independently per image."""

    max_rotation: float = 15.0  # degrees, uniform in [-max, max]
    max_shift: float = 1.0  # pixels, uniform in [-max, max] along each axis
    scale: tuple[float, float] = (0.9, 1.1)  # zoom factor range
    noise_std: float = 0.1  # Gaussian pixel noise (pixels are in [0, 1])
    erase_prob: float = 0.5  # probability of blanking one square patch
    erase_size: int = 3  # side of that patch, in pixels

    def __post_init__(self) -> None:
        if self.max_rotation < 0 or self.max_shift < 0 or self.noise_std < 0:
            raise ValueError("max_rotation, max_shift and noise_std must be >= 0")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be a range (lo, hi) with 0 < lo <= hi, got {self.scale}")
        if not 0 <= self.erase_prob <= 1:
            raise ValueError(f"erase_prob must be in [0, 1], got {self.erase_prob}")
        if self.erase_size < 0:
            raise ValueError(f"erase_size must be >= 0, got {self.erase_size}")


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator)


def augment(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    config: AugmentConfig | None = None,
) -> torch.Tensor:
    """A random view of each image.

    images: (B, H, W) in [0, 1]  ->  (B, H, W) in [0, 1]

    One affine warp per image (rotation, zoom, shift; bilinear resampling, zeros outside), then
    pixel noise, then, with probability ``erase_prob``, a blanked square ("random erasing").
    All randomness comes from ``generator`` (on the CPU), so a seeded run is reproducible.
    """
    cfg = config or AugmentConfig()
    if images.ndim != 3:
        raise ValueError(f"images must have shape (B, H, W), got {tuple(images.shape)}")
    B, H, W = images.shape
    if B == 0:
        raise ValueError("images is an empty batch")
    dev = images.device
    angle = _uniform(B, -cfg.max_rotation, cfg.max_rotation, generator) * math.pi / 180
    zoom = _uniform(B, cfg.scale[0], cfg.scale[1], generator)
    # affine_grid works in normalised coordinates [-1, 1]: one pixel is 2 / W wide.
    shift = _uniform(2 * B, -cfg.max_shift, cfg.max_shift, generator).view(B, 2) * torch.tensor([2 / W, 2 / H])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], -1), torch.stack([sin, cos, shift[:, 1]], -1)], 1)
    theta = theta.to(device=dev, dtype=images.dtype)  # (B, 2, 3): output pixel -> input pixel
    grid = F.affine_grid(theta, [B, 1, H, W], align_corners=False)
    out = F.grid_sample(images.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out.squeeze(1)  # (B, H, W)
    if cfg.noise_std > 0:
        out = out + cfg.noise_std * torch.randn(B, H, W, generator=generator).to(dev, images.dtype)
    if cfg.erase_prob > 0 and cfg.erase_size > 0:
        s = min(cfg.erase_size, H, W)
        top = torch.randint(0, H - s + 1, (B,), generator=generator)
        left = torch.randint(0, W - s + 1, (B,), generator=generator)
        on = torch.rand(B, generator=generator) < cfg.erase_prob
        rows, cols = torch.arange(H), torch.arange(W)
        in_rows = (rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + s)  # (B, H)
        in_cols = (cols[None, :] >= left[:, None]) & (cols[None, :] < left[:, None] + s)  # (B, W)
        mask = (in_rows[:, :, None] & in_cols[:, None, :] & on[:, None, None]).to(dev)  # (B, H, W)
        out = out.masked_fill(mask, 0.0)
    return out.clamp(0.0, 1.0)


# -- encoder --------------------------------------------------------------------------------------
@dataclass
class EncoderConfig:
    in_dim: int = 64  # 8 × 8 pixels
    hidden: int = 256
    rep_dim: int = 128  # the representation the probes see
    proj_dim: int = 32  # where the contrastive loss is computed


class MLPEncoder(nn.Module):
    """An MLP backbone ``f`` and a projection head ``g``; the loss sees ``g(f(x))``.

    SimCLR found that probing ``f(x)`` works better than probing ``g(f(x))``: the head can throw
    away information (such as the augmentation itself) that the loss does not need.
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        c = config or EncoderConfig()
        self.config = c
        self.backbone = nn.Sequential(
            nn.Flatten(),  # (B, H, W) -> (B, H*W)
            nn.Linear(c.in_dim, c.hidden),
            nn.ReLU(),
            nn.Linear(c.hidden, c.rep_dim),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(c.rep_dim, c.proj_dim))

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 8, 8) -> (B, rep_dim)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 8, 8) -> (B, proj_dim), the vectors the contrastive loss compares."""
        return self.head(self.backbone(x))


@torch.no_grad()
def embed(model: MLPEncoder, images: torch.Tensor, *, head: bool = False, batch_size: int = 1024) -> torch.Tensor:
    """Frozen features of ``images: (N, 8, 8)`` -> ``(N, rep_dim)`` (or ``(N, proj_dim)`` with ``head``)."""
    device = next(model.parameters()).device
    parts = []
    with evaluating(model):
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device)  # (b, 8, 8)
            parts.append((model(x) if head else model.represent(x)).cpu())
    return torch.cat(parts)


# -- the training recipe --------------------------------------------------------------------------
@dataclass
class SimCLRConfig:
    """One SimCLR-style run on the digits (chapters 4 and 8 use it with their own settings)."""

    temperature: float | None = 0.2  # NT-Xent's tau (None: only with another objective)
    steps: int = 1500  # optimiser steps
    batch: int = 128  # digits per step; each gives two views, so 2 * batch vectors meet in the loss
    lr: float = 3e-3  # Adam
    warmup: int = 50  # linear warm-up steps before the cosine decay
    seed: int = 0  # the initial weights (torch.manual_seed) and the batch generator
    log_every: int = 10
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    def __post_init__(self) -> None:
        if self.temperature is not None:
            number(self.temperature, "temperature", low=0, low_open=True)
        integer(self.steps, "steps", low=1)
        integer(self.batch, "batch", low=2)  # NT-Xent needs a negative
        number(self.lr, "lr", low=0, low_open=True)
        integer(self.warmup, "warmup", low=0)
        integer(self.seed, "seed", low=0)
        integer(self.log_every, "log_every", low=1)


def train_simclr(
    train_x: torch.Tensor,
    config: SimCLRConfig,
    *,
    objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> tuple[MLPEncoder, History]:
    """Train an :class:`MLPEncoder` on two random views of ``train_x: (N, 8, 8)`` per step.

    The loss is NT-Xent on the projection head, unless ``objective(z1, z2)`` is given (chapter
    4 swaps in other losses). ``torch.manual_seed(config.seed)`` draws the initial weights, so a
    run is reproducible, and the batches come from :class:`embedlab.train.Trainer`'s generator.
    Returns the trained model and the :class:`embedlab.train.History`.
    """
    if train_x.ndim != 3 or train_x.shape[0] < 1:
        raise ValueError(f"train_x must be images (N, H, W), got shape {tuple(train_x.shape)}")
    c = config
    if c.temperature is None and objective is None:
        raise ValueError("config.temperature is None: NT-Xent needs a temperature (or pass an objective)")
    torch.manual_seed(c.seed)  # the encoder's initial weights
    model = MLPEncoder(c.encoder)

    def get_batch(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, train_x.shape[0], (c.batch,), generator=gen)
        x = train_x[idx]  # (batch, 8, 8)
        return augment(x, gen, c.augment), augment(x, gen, c.augment)  # two views of each digit

    def loss_fn(model: MLPEncoder, views: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        z1, z2 = model(views[0]), model(views[1])  # (batch, proj_dim) each
        if objective is not None:
            return objective(z1, z2)
        assert c.temperature is not None  # checked above
        return nt_xent(z1, z2, c.temperature)

    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_schedule(warmup=c.warmup, total=c.steps))
    loop = TrainConfig(max_steps=c.steps, seed=c.seed, log_every=c.log_every, progress=progress,
                       desc=desc or ("NT-Xent, tau=" + str(c.temperature) if objective is None else "training"))
    history = Trainer(model, opt, get_batch, loss_fn, loop, scheduler=sched).run()
    return model, history
