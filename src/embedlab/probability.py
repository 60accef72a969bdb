"""From scores to probabilities: temperature, softmax, entropy, top-k filtering and sampling.

The one home of these ideas for every chapter that turns similarities into a distribution:
chapter 3 (the softmax over a vocabulary), chapter 4 (InfoNCE's temperature), chapter 5 (how
peaked an attention row is) and chapter 6 (sampling text with a temperature and top-k).

* :func:`check_temperature` is the single validator of a temperature ``t > 0``. It accepts Python
  and NumPy numbers and 0-d tensors; a tensor that requires a gradient is returned unchanged, so
  a learnable temperature (CLIP learns its own) keeps its gradient. The one rule for tiny
  temperatures: ``t`` whose reciprocal overflows float64 (``t < 2**-1024``, e.g. the subnormal
  ``5e-324``) is refused; every accepted ``t`` is used, and where ``logits / t`` itself
  overflows, the samplers take its limit, the greedy choice (:func:`sample_without_replacement`,
  :class:`embedlab.bandits.Boltzmann`).
* :func:`softmax` / :func:`log_softmax` take a temperature: ``softmax(z / t)``. A small ``t``
  sharpens the distribution towards the argmax, a large one flattens it towards uniform.
* :func:`entropy` (of probabilities) and :func:`entropy_from_logits` measure, in nats, how spread
  out a distribution is: 0 for a one-hot row, ``log V`` for the uniform one.
* :func:`top_k_filter` and :func:`sample_next` are how a language model picks its next token.
* :func:`sample_without_replacement` draws ``k`` distinct items from ``softmax(z / t)`` at once
  (the Gumbel-top-k trick): how chapter 9 samples a slate of recommendations instead of taking
  the top ``k``.

Shapes: the distribution runs along ``dim`` (the last axis by default): ``(..., V)``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

__all__ = [
    "check_temperature",
    "softmax",
    "log_softmax",
    "entropy",
    "entropy_from_logits",
    "top_k_filter",
    "sample_next",
    "sample_without_replacement",
    "GREEDY_HINT",
]

ZeroRows = Literal["raise", "zero"]

# A temperature of 0 would divide by zero; its limit, always picking the argmax, is top-k with k=1.
GREEDY_HINT = "for greedy decoding use top_k=1"


def check_temperature(t, *, name: str = "temperature", hint: str = "") -> float | torch.Tensor:
    """Validate a temperature: a single finite number ``> 0``.

    Accepts a Python ``int``/``float``, a NumPy scalar or 0-d array (``np.float32(0.5)``) and a
    0-d tensor. Returns a ``float``, except for a tensor that ``requires_grad``, which is returned
    unchanged (same object, same graph) so that a learned temperature is trained through it.

    Raises:
        ValueError: naming ``name``, for a bool, a non-number, a tensor or array with more than
            zero dimensions, NaN, ±inf, a value ``<= 0`` or one so small that ``1 / t`` overflows
            float64 (below ``2**-1024``: a subnormal). A non-empty ``hint`` is appended to
            the message (sampling adds how to get greedy decoding, the ``t -> 0`` limit).
    """
    suffix = f"; {hint}" if hint else ""
    value = t
    if isinstance(t, torch.Tensor):
        if t.ndim != 0:
            raise ValueError(f"{name} must be a single number (a 0-d tensor), got a tensor of shape {tuple(t.shape)}")
        if t.dtype == torch.bool or t.is_complex():
            raise ValueError(f"{name} must be a real number, got a tensor of dtype {t.dtype}")
        value = t.detach().item()
    elif isinstance(t, np.ndarray):
        if t.ndim != 0:
            raise ValueError(f"{name} must be a single number, got an array of shape {t.shape}")
        value = t.item()  # a 0-d array becomes its Python scalar; checked below like one
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a finite number > 0, got {t!r}{suffix}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}{suffix}")
    if not math.isfinite(1.0 / value):
        # 1/t = inf would turn every positive logit into +inf and the softmax into NaN
        raise ValueError(f"{name} is too small: 1/{name} overflows float64 (got {value!r}){suffix}")
    if isinstance(t, torch.Tensor) and t.requires_grad:
        return t
    return value


def _logits(logits, dim: int) -> torch.Tensor:
    z = torch.as_tensor(logits)
    if not z.is_floating_point():
        z = z.to(torch.get_default_dtype())
    if z.ndim == 0:
        raise ValueError("logits must have at least one dimension (the one the distribution runs along)")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -z.ndim <= dim < z.ndim:
        raise ValueError(f"dim must be an integer axis of logits with shape {tuple(z.shape)}, got {dim!r}")
    if z.shape[dim] == 0:
        raise ValueError(f"logits has an empty axis dim={dim}: shape {tuple(z.shape)}")
    return z


def softmax(logits, temperature=1.0, dim: int = -1) -> torch.Tensor:
    """``softmax(logits / temperature)`` along ``dim``.

    logits: (..., V) -> (..., V), each slice along ``dim`` non-negative and summing to 1.
    Equals ``torch.softmax(logits / temperature, dim)``; the temperature may be a learnable tensor.
    """
    z = _logits(logits, dim)
    t = check_temperature(temperature)
    return torch.softmax(z / t, dim=dim)


def log_softmax(logits, temperature=1.0, dim: int = -1) -> torch.Tensor:
    """``log softmax(logits / temperature)`` along ``dim``, computed stably (no ``log(0)`` = -inf
    from an underflowed probability). logits: (..., V) -> (..., V)."""
    z = _logits(logits, dim)
    t = check_temperature(temperature)
    return torch.log_softmax(z / t, dim=dim)


def _tolerance(dtype: torch.dtype, atol: float | None) -> float:
    if atol is None:
        # sqrt(eps): 1.5e-8 in float64, 3.5e-4 in float32; loose enough for a softmax over a large
        # vocabulary, tight enough to catch a row that was never normalised.
        return math.sqrt(torch.finfo(dtype).eps)
    if isinstance(atol, bool) or not isinstance(atol, (int, float, np.integer, np.floating)) or not atol >= 0:
        raise ValueError(f"atol must be a number >= 0 or None, got {atol!r}")
    return float(atol)


def entropy(probs, dim: int = -1, *, zero: ZeroRows = "raise", atol: float | None = None) -> torch.Tensor:
    """Shannon entropy in nats, ``H(p) = -Σ_i p_i log p_i`` with ``0 log 0 = 0``.

    probs: (..., V) -> (...). Ranges from 0 (all mass on one outcome) to ``log V`` (uniform).
    Equals ``torch.distributions.Categorical(probs=p).entropy()`` and ``scipy.stats.entropy(p)``
    on valid distributions; unlike them it does not renormalise silently: every slice must be
    non-negative and sum to 1 within ``atol`` (default ``sqrt(eps)`` of the dtype).

    Args:
        zero: what an all-zero slice means. ``"raise"`` (default): it is not a distribution, an
            error. ``"zero"``: entropy 0, for attention rows whose every key is masked (chapter 5
            returns such rows as all zeros: no distribution, no uncertainty to measure).

    Raises:
        ValueError: naming ``probs`` for a negative value, NaN, or a slice that does not sum to 1.
    """
    if zero not in ("raise", "zero"):
        raise ValueError(f"zero must be 'raise' or 'zero', got {zero!r}")
    p = torch.as_tensor(probs)
    if not p.is_floating_point():
        raise ValueError(f"probs must be a floating tensor of probabilities, got dtype {p.dtype}")
    if p.ndim == 0:
        raise ValueError("probs must have at least one dimension (the one the distribution runs along)")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -p.ndim <= dim < p.ndim:
        raise ValueError(f"dim must be an integer axis of probs with shape {tuple(p.shape)}, got {dim!r}")
    if p.shape[dim] == 0:
        raise ValueError(f"probs has an empty axis dim={dim}: shape {tuple(p.shape)}")
    if bool(torch.isnan(p).any()) or bool((p < 0).any()):
        raise ValueError("probs must be non-negative probabilities (found a negative value or NaN)")
    total = p.sum(dim=dim)  # (...)
    tol = _tolerance(p.dtype, atol)
    ok = (total - 1).abs() <= tol
    if zero == "zero":
        ok |= total == 0
    if not bool(ok.all()):
        first = torch.nonzero(~ok, as_tuple=False)[0].tolist()  # index into the other axes
        bad = total[tuple(first)].item()
        hint = " (an all-zero slice is allowed with zero='zero')" if bad == 0 else ""
        raise ValueError(
            f"probs must sum to 1 along dim={dim} (within {tol:.1g}); "
            f"the slice at index {first} sums to {bad:.6g}{hint}"
        )
    return -torch.special.xlogy(p, p).sum(dim=dim)


def entropy_from_logits(logits, temperature=1.0, dim: int = -1) -> torch.Tensor:
    """Entropy in nats of ``softmax(logits / temperature)``, without forming ``log 0``.

    logits: (..., V) -> (...). Uses ``H = -Σ p log p`` with ``log p = log_softmax``, which stays
    finite where a probability underflows to 0 (its term is then exactly 0). A ``-inf`` logit (a
    masked key) has ``p = 0`` and contributes 0, as in ``torch.distributions.Categorical`` and
    ``scipy.stats.entropy``; float16/bfloat16 logits are computed in float32 and the result is
    returned in their dtype.
    """
    z = _logits(logits, dim)
    low_precision = z.dtype in (torch.float16, torch.bfloat16)
    log_p = log_softmax(z.float() if low_precision else z, temperature, dim)
    # p log p at p = 0 is 0, but exp(-inf) * -inf is NaN: zero the log first (also keeps the
    # gradient finite, since the masked entries then get no gradient through log p).
    safe_log_p = log_p.masked_fill(torch.isneginf(log_p), 0.0)
    h = -(log_p.exp() * safe_log_p).sum(dim=dim)
    return h.to(z.dtype) if low_precision else h


def _greedy_safe_scale(z: torch.Tensor, t: float) -> torch.Tensor:
    """``z / t`` for (B, V) float64 logits; where a finite logit overflows to ±inf (a tiny but
    accepted ``t``), the row is taken to its ``t -> 0`` limit instead: ``(z - max) / t`` with the
    overflowed entries clamped to the most negative float, so the order of the top is kept, the
    argmax wins, and an excluded (``-inf``) item still ranks below every finite one."""
    scaled = z / t
    finite = torch.isfinite(z)
    broken = (finite & ~torch.isfinite(scaled)).any(dim=1)
    if bool(broken.any()):
        rows = z[broken]
        top = rows.masked_fill(~torch.isfinite(rows), float("-inf")).max(dim=1, keepdim=True).values
        shifted = ((rows - top) / t).clamp(min=-torch.finfo(torch.float64).max)
        scaled[broken] = torch.where(finite[broken], shifted, rows)
    return scaled


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row and set the rest to ``-inf``.

    logits: (..., V) -> (..., V). After a softmax the kept tokens share all the probability,
    renormalised among themselves. Ties at the k-th value are all kept.

    Raises:
        TypeError: if ``k`` is not an integer. ValueError: if ``k`` is not in ``1..V``.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() < 1 or logits.shape[-1] == 0:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a tensor with a non-empty last axis, got {shape}")
    V = logits.shape[-1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if not 1 <= k <= V:
        raise ValueError(f"k must be between 1 and the vocabulary size {V}, got {k}")
    kth = torch.topk(logits, int(k), dim=-1).values[..., -1:]  # (..., 1): the k-th largest value
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_next(
    logits: torch.Tensor,
    *,
    temperature=1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row from ``softmax(logits / temperature)``, optionally top-k filtered.

    logits: (B, V) -> (B,) long, on the logits' device. Sampling itself runs on the CPU in
    float32 so that a CPU ``generator`` gives the same text whatever device the model is on.
    """
    t = check_temperature(temperature, hint=GREEDY_HINT)
    t = float(t.detach()) if isinstance(t, torch.Tensor) else t  # sampling is not differentiated
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a (B, V) tensor, got {shape}")
    scaled = logits.detach().float().cpu() / t
    if top_k is not None:
        scaled = top_k_filter(scaled, top_k)
    probs = scaled.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1).to(logits.device)


def sample_without_replacement(
    logits: torch.Tensor,
    k: int,
    *,
    temperature=1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``k`` distinct indices per row, in order, from ``softmax(logits / temperature)``.

    logits: (B, V) -> (B, k) long. The result has the distribution of drawing one index, removing
    it, renormalising and drawing again, ``k`` times (sequential sampling without replacement),
    but costs one top-k: add independent Gumbel(0, 1) noise to ``logits / t`` and keep the ``k``
    largest (Kool et al., 2019). ``-inf`` logits (excluded items) are never drawn. As ``t -> 0``
    it becomes the deterministic top ``k``; as ``t -> inf``, a uniform random subset.

    Raises:
        ValueError: for a bad temperature, a row with NaN or fewer than ``k`` finite logits.
        TypeError: if ``k`` is not an integer.
    """
    t = check_temperature(temperature, hint="for the deterministic top k, use torch.topk")
    t = float(t.detach()) if isinstance(t, torch.Tensor) else t
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a (B, V) tensor, got {shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    if logits.isnan().any():
        raise ValueError("logits contain NaN")
    finite = torch.isfinite(logits).sum(dim=1)
    if not 1 <= k <= int(finite.min()):
        raise ValueError(f"k must be between 1 and the fewest finite logits in a row ({int(finite.min())}), got {k}")
    # float64 on the CPU: Gumbel noise needs -log(-log(u)) of u near 0 and 1, and a CPU generator
    # must give the same slate whatever device the scores came from.
    scaled = _greedy_safe_scale(logits.detach().double().cpu(), t)
    u = torch.rand(scaled.shape, generator=generator, dtype=torch.float64).clamp_(min=1e-300)
    gumbel = -torch.log(-torch.log(u))
    return torch.topk(scaled + gumbel, int(k), dim=1).indices.to(logits.device)
