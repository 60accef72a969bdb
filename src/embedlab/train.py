"""The course's one training loop (in the spirit of minGPT's ``trainer.py``).

Every chapter that trains with autograd imports :class:`Trainer` instead of pasting a loop:
word2vec's full softmax (chapter 3), the contrastive encoder (chapter 4), the transformer
(chapter 6) and the later chapters. The loop owns what makes runs reproducible and resumable:

* a private ``torch.Generator`` from which every batch is drawn, saved in checkpoints, so a
  resumed run draws exactly the batches an uninterrupted run would have drawn;
* gradient clipping, an optional learning-rate schedule, periodic evaluation;
* mixed precision on CUDA only, where it pays off: bfloat16 autocast on GPUs that support it
  natively (A100, H100, RTX 30xx and newer), float16 with a gradient scaler on older ones (such
  as Colab's T4). The CPU path stays in float32, so results on a laptop match the stored notebooks;
* a ``tqdm.auto`` progress bar that shows the running loss.

Usage::

    trainer = Trainer(model, optimizer, get_batch, loss_fn, TrainConfig(max_steps=500))
    history = trainer.run()
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from embedlab._checks import flag, integer, number
from embedlab.utils import evaluating

__all__ = ["TrainConfig", "History", "Trainer", "cosine_schedule", "amp_dtype", "progress_bar"]

# A notebook progress bar sends a few widget messages per redraw. While a cell runs, nbval (and
# nbclient) do not read those messages; ZeroMQ queues about a thousand and silently drops the
# rest, which can include the "cell finished" message: nbval then fails with "Timeout ... waiting
# for output". A long run on a slow machine redraws thousands of times, so redraws are capped.
MAX_REDRAWS = 100


@dataclass
class TrainConfig:
    """Loop settings. ``max_steps`` counts optimiser steps, not epochs."""

    max_steps: int = 1000
    grad_clip: float | None = 1.0
    eval_every: int = 0  # 0: evaluate only at the end (if an eval_fn is given)
    log_every: int = 10  # how often the progress bar and history record the loss
    items_per_step: int = 0  # e.g. tokens per batch, for a throughput figure; 0 to skip
    amp: bool = True  # autocast (bfloat16, or float16 + gradient scaling), applied on CUDA only
    progress: bool = True
    desc: str = "training"
    seed: int = 0  # seeds the batch generator

    def __post_init__(self) -> None:
        integer(self.max_steps, "max_steps", low=0)
        integer(self.eval_every, "eval_every", low=0)
        integer(self.log_every, "log_every", low=1)
        integer(self.items_per_step, "items_per_step", low=0)
        integer(self.seed, "seed", low=0)
        if self.grad_clip is not None:
            number(self.grad_clip, "grad_clip", low=0, low_open=True)
        flag(self.amp, "amp")
        flag(self.progress, "progress")


@dataclass
class History:
    """What a run recorded: losses every ``log_every`` steps and the evaluations."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    items: int = 0

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("nan")

    def eval_curve(self, key: str) -> list[float]:
        return [e[key] for e in self.evals]


def amp_dtype(device_type: str, *, enabled: bool = True, bf16_supported: bool | None = None) -> torch.dtype | None:
    """The autocast dtype the Trainer uses on a device, or ``None`` for plain float32.

    CUDA gets bfloat16 where the GPU supports it natively and float16 (with gradient scaling)
    otherwise; CPU and MPS train in float32. ``bf16_supported`` overrides the hardware query,
    so that the choice can be tested on a machine without a GPU.
    """
    if not enabled or device_type != "cuda":
        return None
    if bf16_supported is None:
        try:
            bf16_supported = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.4 has no including_emulation argument
            bf16_supported = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16_supported else torch.float16


def progress_bar(total: int, desc: str, *, enabled: bool = True, **kwargs: Any):
    """A ``tqdm.auto`` bar that redraws at most about ``MAX_REDRAWS`` times and twice a second.

    ``kwargs`` go to ``tqdm`` (``unit=``, ``file=``, ...). Used by :class:`Trainer` and by
    :meth:`embedlab.sgns.SGNS.train`.
    """
    from tqdm.auto import tqdm  # imported here: tqdm picks its front end (widget or text) at call time

    kwargs.setdefault("mininterval", 0.5)
    # An explicit miniters turns off tqdm's adaptive miniters, so the bound holds however fast
    # the steps are.
    kwargs.setdefault("miniters", max(1, total // MAX_REDRAWS))
    return tqdm(total=total, desc=desc, disable=not enabled, leave=True, **kwargs)


def cosine_schedule(warmup: int, total: int, min_ratio: float = 0.1) -> Callable[[int], float]:
    """Linear warm-up then cosine decay to ``min_ratio``: a multiplier for ``LambdaLR``."""
    if total <= 0 or warmup < 0:
        raise ValueError("total must be positive and warmup non-negative")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


M = TypeVar("M", bound=nn.Module)  # the model's class, so that loss_fn and eval_fn may use its own methods


class Trainer(Generic[M]):
    """Runs ``max_steps`` optimiser steps of ``loss_fn(model, get_batch(generator))``.

    Args:
        model: the module being trained (already on its device).
        optimizer: any ``torch.optim`` optimiser over the model's parameters.
        get_batch: draws a batch using the trainer's ``torch.Generator`` (pass it to
            ``torch.randint(..., generator=g)`` and friends so that runs resume exactly).
        loss_fn: returns a scalar loss tensor for a batch.
        config: loop settings.
        scheduler: an optional learning-rate scheduler, stepped once per step.
        eval_fn: ``model -> {name: value}``, called every ``eval_every`` steps and at the end.
    """

    def __init__(
        self,
        model: M,
        optimizer: torch.optim.Optimizer,
        get_batch: Callable[[torch.Generator], Any],
        loss_fn: Callable[[M, Any], torch.Tensor],
        config: TrainConfig | None = None,
        *,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        eval_fn: Callable[[M], dict[str, float]] | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.get_batch = get_batch
        self.loss_fn = loss_fn
        self.config = config or TrainConfig()
        self.scheduler = scheduler
        self.eval_fn = eval_fn
        self.step = 0
        self.history = History()
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.device = next(model.parameters()).device
        # float16 needs loss scaling so that small gradients do not underflow; bfloat16 does not.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """bfloat16 or float16 when training under autocast (CUDA only), else ``None``."""
        return amp_dtype(self.device.type, enabled=self.config.amp)

    # -- the loop ---------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                              enabled=self.amp_dtype is not None)

    def _evaluate(self) -> None:
        if self.eval_fn is None:
            return
        with torch.no_grad(), self._autocast(), evaluating(self.model):
            result = {k: float(v) for k, v in self.eval_fn(self.model).items()}
        self.history.eval_steps.append(self.step)
        self.history.evals.append(result)

    def run(self, steps: int | None = None) -> History:
        """Train until ``config.max_steps`` (or for ``steps`` more steps) and return the history."""
        cfg = self.config
        end = cfg.max_steps if steps is None else min(cfg.max_steps, self.step + steps)
        self.model.train()
        bar = progress_bar(end - self.step, cfg.desc, enabled=cfg.progress)
        start = time.perf_counter()
        running = None
        while self.step < end:
            batch = self.get_batch(self.generator)
            with self._autocast():
                loss = self.loss_fn(self.model, batch)
            if not torch.isfinite(loss):
                bar.close()
                raise FloatingPointError(f"loss became {loss.item()} at step {self.step}; lower the learning rate")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()  # the scaler is a no-op unless training in float16
            if cfg.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.scheduler is not None:
                self.scheduler.step()
            self.step += 1
            self.history.items += cfg.items_per_step
            if self.step % cfg.log_every == 0 or self.step == end:
                value = loss.item()
                running = value if running is None else 0.9 * running + 0.1 * value
                self.history.steps.append(self.step)
                self.history.loss.append(value)
                bar.set_postfix(loss=f"{running:.3f}", refresh=False)
            bar.update(1)
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step != end:
                self._evaluate()
        self.history.seconds += time.perf_counter() - start
        bar.close()
        if self.step == cfg.max_steps or steps is not None:
            self._evaluate()
        return self.history

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimiser, schedule, step, RNG."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "step": self.step,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),  # dropout masks come from the global generator
            # ... and on a GPU from the CUDA generators, one per device.
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "scaler": self.scaler.state_dict(),
            "history": asdict(self.history),
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.history = History(**state["history"])

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint (plain tensors and containers: loadable with ``weights_only=True``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), path)
        return path

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save`, without unpickling arbitrary objects."""
        state = torch.load(path, map_location=self.device, weights_only=True)
        # RNG states must live on the CPU whatever map_location did.
        state["generator"] = state["generator"].cpu()
        state["torch_rng"] = state["torch_rng"].cpu()
        self.load_state_dict(state)
