"""Reproducibility and hardware helpers used at the top of every chapter, :func:`below` and
:func:`evaluating` (a module in eval mode for the length of a ``with`` block).

Nothing here runs at import time: a chapter calls :func:`seed_everything` and :func:`get_device`
explicitly in its first code cell, so the notebook says what it does.
"""

from __future__ import annotations

import os
import platform
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from embedlab._checks import ArgumentError, integer, number

__all__ = ["seed_everything", "get_device", "Timer", "describe_environment", "below", "evaluating"]


def seed_everything(seed: int = 0, *, deterministic: bool = False) -> int:
    """Seed Python's ``random``, NumPy's legacy global generator and torch (CPU and CUDA).

    Args:
        seed: a non-negative integer.
        deterministic: also ask torch for deterministic kernels (slower; CUDA needs
            ``CUBLAS_WORKSPACE_CONFIG``, which we set when it is missing).

    Returns:
        The seed, so that a chapter can print it.

    Chapters that need several independent streams should still create their own
    ``np.random.default_rng(seed)`` / ``torch.Generator`` and pass them around; this function
    only fixes the global state that library code falls back on.
    """
    seed = integer(seed, "seed", low=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    return seed


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the best available device: CUDA, then Apple's MPS, then the CPU.

    Args:
        prefer: ``"cpu"``, ``"cuda"`` or ``"mps"`` to force a choice. When ``None`` the
            environment variable ``EMBEDLAB_DEVICE`` is honoured (handy to test the CPU path
            on a GPU machine), then the automatic order above.

    Raises:
        ValueError: for an unknown name; RuntimeError when the requested device is absent.
    """
    choice = prefer if prefer is not None else os.environ.get("EMBEDLAB_DEVICE") or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    choice = choice.lower()
    if choice not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"unknown device {choice!r}; use 'cpu', 'cuda' or 'mps'")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but torch.cuda.is_available() is False")
    if choice == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise RuntimeError("MPS was requested but is not available on this machine")
    return torch.device(choice)


@dataclass
class Timer:
    """Wall-clock timer usable as a context manager: ``with Timer() as t: ...; t.seconds``."""

    seconds: float = 0.0
    _start: float = field(default=0.0, repr=False)

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def describe_environment(device: torch.device | None = None) -> str:
    """One line that says where a chapter ran (Python, torch, device, CPU threads)."""
    device = device or get_device()
    return (
        f"Python {platform.python_version()}, torch {torch.__version__.split('+')[0]}, "
        f"device {device.type}, {torch.get_num_threads()} CPU thread(s)"
    )


def below(value: float | np.floating | torch.Tensor, limit: float) -> str:
    """Check that a rounding-level ``value`` is below ``limit``; return ``"< limit"`` for printing.

    Agreement with a reference (``max |ours - torch|``) is rounding noise, and its digits change
    with the CPU's SIMD kernels. A chapter prints the bound that holds everywhere, never the
    noise: ``print(f"max |ours - torch| {below(err, 1e-12)}")`` prints ``max |ours - torch| < 1e-12``
    on every machine and raises ``AssertionError`` when the bound fails.

    Args:
        value: a real number: float, NumPy scalar or one-element tensor (gradients are ignored).
        limit: a positive float.
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"value must be a single number, got a tensor of shape {tuple(value.shape)}")
        value = value.detach().item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"value must be a real number, got {type(value).__name__}")
    value = float(value)  # NaN and inf stay: they fail the bound below, as a wrong result should
    limit = number(limit, "limit", low=0, low_open=True)
    if not value < limit:  # also catches NaN
        raise AssertionError(f"{value:.3g} is not below {limit:g}")
    return f"< {limit:g}"


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for a ``with`` block, then restore the modes it had.

    ``with evaluating(model): ...`` turns off dropout (and makes batch norm use its running
    statistics) while evaluating or sampling, and afterwards puts back exactly what was there,
    also when the block raises. Every submodule gets its own mode back, so a frozen part kept in
    eval mode inside a model that trains (a pretrained encoder, say) stays in eval mode; a plain
    ``model.train(was_training)`` would switch it to training.

    Gradients are not affected: combine with ``torch.no_grad()`` where none are needed.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modes = [(m, m.training) for m in model.modules()]  # every submodule, in case they differ
    model.eval()
    try:
        yield model
    finally:
        # modules() lists parents before children, and m.train() also resets m's children: so
        # each module's own call comes last for it and wins, and overrides of train() still run.
        for m, training in modes:
            m.train(training)
