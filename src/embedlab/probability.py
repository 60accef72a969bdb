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

Inputs: logits may be ``-inf`` (a masked entry, probability 0) but not NaN or ``+inf``
(``softmax([inf, 0])`` has no value: refused naming ``logits``, as is a slice of only ``-inf``).
float16 and bfloat16 are computed in float32 and returned in their dtype. Where ``logits / t``
overflows (a tiny temperature), the result is its limit, computed from ``(logits - max) / t``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from embedlab import _checks
from embedlab._checks import ArgumentError
from embedlab._rows import compute_dtype

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
        ValueError (an ``ArgumentError``, also a ``TypeError``): naming ``name``, for a bool, a
            non-number, a tensor or array with more than zero dimensions, NaN, ±inf, a value
            ``<= 0`` or one so small that ``1 / t`` overflows float64 (below ``2**-1024``: a
            subnormal). A non-empty ``hint`` is appended to the message (sampling adds how to
            get greedy decoding, the ``t -> 0`` limit).
    """
    suffix = f"; {hint}" if hint else ""
    value = t
    if isinstance(t, torch.Tensor):
        if t.ndim != 0:
            raise ArgumentError(f"{name} must be a single number (a 0-d tensor), got a tensor of shape "
                                f"{tuple(t.shape)}")
        if t.dtype == torch.bool or t.is_complex():
            raise ArgumentError(f"{name} must be a real number, got a tensor of dtype {t.dtype}")
        value = t.detach().item()
    elif isinstance(t, np.ndarray):
        if t.ndim != 0:
            raise ArgumentError(f"{name} must be a single number, got an array of shape {t.shape}")
        value = t.item()  # a 0-d array becomes its Python scalar; checked below like one
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{name} must be a finite number > 0, got {t!r}{suffix}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ArgumentError(f"{name} must be a finite number > 0, got {value}{suffix}")
    if not math.isfinite(1.0 / value):
        # 1/t = inf would turn every positive logit into +inf and the softmax into NaN
        raise ArgumentError(f"{name} is too small: 1/{name} overflows float64 (got {value!r}){suffix}")
    if isinstance(t, torch.Tensor) and t.requires_grad:
        return t
    return value


def _axis(x: torch.Tensor, dim, name: str) -> int:
    if x.ndim == 0:
        raise ArgumentError(f"{name} must have at least one dimension (the one the distribution runs along)")
    try:
        dim = _checks.integer(dim, "dim", low=-x.ndim, high=x.ndim - 1)
    except ArgumentError:
        raise ArgumentError(f"dim must be an integer axis of {name} with shape {tuple(x.shape)}, got {dim!r}") from None
    if x.shape[dim] == 0:
        raise ArgumentError(f"{name} has an empty axis dim={dim}: shape {tuple(x.shape)}")
    return dim


def _logits(logits, dim: int, name: str = "logits") -> tuple[torch.Tensor, int]:
    """Logits as a floating tensor (dtype and device kept) and the axis; refuses NaN, +inf and a
    slice with every entry -inf, by name."""
    z = _checks.tensor(logits, name, empty=True)
    dim = _axis(z, dim, name)
    if bool(torch.isnan(z).any()):
        raise ArgumentError(f"{name} contains NaN")
    if bool(torch.isposinf(z).any()):
        # softmax([inf, 0]) would be exp(inf - inf) = NaN: there is no distribution to give
        raise ArgumentError(f"{name} contains +inf; a probability needs finite logits (-inf masks an entry)")
    if bool(torch.isneginf(z).all(dim).any()):
        raise ArgumentError(f"{name} has a slice along dim={dim} where every logit is -inf: nothing is left "
                            "to be probable")
    return z, dim


def _scaled(z: torch.Tensor, t, dim: int) -> torch.Tensor:
    """``z / t`` in the compute dtype (float32 for float16/bfloat16); where that overflows to
    +inf (a tiny t), ``(z - max) / t`` instead, which has the same softmax and no +inf."""
    z = z.to(compute_dtype(z.dtype))
    fi = torch.finfo(z.dtype)
    if not isinstance(t, torch.Tensor) and (t < fi.tiny or 1.0 / t > fi.max) and z.device.type != "mps":
        z = z.double()  # t itself would round to 0 (or 1/t to inf) in float32: 0/0 is NaN
    scaled = z / t
    if bool(torch.isposinf(scaled).any()):
        scaled = (z - z.detach().amax(dim=dim, keepdim=True)) / t
    return scaled


def softmax(logits, temperature=1.0, dim: int = -1) -> torch.Tensor:
    """``softmax(logits / temperature)`` along ``dim``.

    logits: (..., V) -> (..., V), each slice along ``dim`` non-negative and summing to 1, in the
    logits' float dtype. Equals ``torch.softmax(logits / temperature, dim)`` where that is finite;
    the temperature may be a learnable tensor.

    Raises:
        ValueError: naming ``logits`` for NaN, ``+inf`` or a slice of only ``-inf``; naming
            ``temperature`` or ``dim`` for a bad one.
    """
    z, dim = _logits(logits, dim)
    t = check_temperature(temperature)
    return torch.softmax(_scaled(z, t, dim), dim=dim).to(z.dtype)


def log_softmax(logits, temperature=1.0, dim: int = -1) -> torch.Tensor:
    """``log softmax(logits / temperature)`` along ``dim``, computed stably (no ``log(0)`` = -inf
    from an underflowed probability). logits: (..., V) -> (..., V); inputs as :func:`softmax`."""
    z, dim = _logits(logits, dim)
    t = check_temperature(temperature)
    return torch.log_softmax(_scaled(z, t, dim), dim=dim).to(z.dtype)


def _tolerance(dtype: torch.dtype, atol: float | None) -> float:
    if atol is None:
        # sqrt(eps): 1.5e-8 in float64, 3.5e-4 in float32; loose enough for a softmax over a large
        # vocabulary, tight enough to catch a row that was never normalised.
        return math.sqrt(torch.finfo(dtype).eps)
    return _checks.number(atol, "atol", low=0)


def entropy(probs, dim: int = -1, *, zero: ZeroRows = "raise", atol: float | None = None) -> torch.Tensor:
    """Shannon entropy in nats, ``H(p) = -Σ_i p_i log p_i`` with ``0 log 0 = 0``.

    probs: (..., V) -> (...). Ranges from 0 (all mass on one outcome) to ``log V`` (uniform).
    Equals ``torch.distributions.Categorical(probs=p).entropy()`` and ``scipy.stats.entropy(p)``
    on valid distributions; unlike them it does not renormalise silently: every slice must be
    non-negative and sum to 1 within ``atol`` (default ``sqrt(eps)`` of the input's dtype, so a
    float16 or bfloat16 row that sums to 1 up to its own rounding is accepted). float16 and
    bfloat16 are summed and evaluated in float32 and the entropy returned in their dtype.

    Args:
        zero: what an all-zero slice means. ``"raise"`` (default): it is not a distribution, an
            error. ``"zero"``: entropy 0, for attention rows whose every key is masked (chapter 5
            returns such rows as all zeros: no distribution, no uncertainty to measure).

    Raises:
        ValueError: naming ``probs`` for a negative value, NaN, or a slice that does not sum to 1.
    """
    _checks.choice(zero, "zero", ("raise", "zero"))
    p_in = torch.as_tensor(probs) if not isinstance(probs, torch.Tensor) else probs
    if not p_in.is_floating_point():
        raise ArgumentError(f"probs must be a floating tensor of probabilities, got dtype {p_in.dtype}")
    dim = _axis(p_in, dim, "probs")
    tol = _tolerance(p_in.dtype, atol)  # the input's rounding decides what "sums to 1" means
    p = p_in.to(compute_dtype(p_in.dtype))
    if bool(torch.isnan(p).any()) or bool((p < 0).any()) or bool(torch.isinf(p).any()):
        raise ArgumentError("probs must be non-negative probabilities (found a negative value, NaN or inf; did you "
                            "pass logits? use entropy_from_logits)")
    total = p.sum(dim=dim)  # (...)
    ok = (total - 1).abs() <= tol
    if zero == "zero":
        ok |= total == 0
    if not bool(ok.all()):
        first = torch.nonzero(~ok, as_tuple=False)[0].tolist()  # index into the other axes
        bad = total[tuple(first)].item()
        hint = (" (an all-zero slice is allowed with zero='zero')" if bad == 0
                else "; did you pass logits? use entropy_from_logits")
        raise ArgumentError(
            f"probs must sum to 1 along dim={dim} (within {tol:.1g}); "
            f"the slice at index {first} sums to {bad:.6g}{hint}"
        )
    return (-torch.special.xlogy(p, p).sum(dim=dim)).to(p_in.dtype)


def entropy_from_logits(logits, temperature=1.0, dim: int = -1) -> torch.Tensor:
    """Entropy in nats of ``softmax(logits / temperature)``, without forming ``log 0``.

    logits: (..., V) -> (...). Uses ``H = -Σ p log p`` with ``log p = log_softmax``, which stays
    finite where a probability underflows to 0 (its term is then exactly 0). A ``-inf`` logit (a
    masked key) has ``p = 0`` and contributes 0, as in ``torch.distributions.Categorical`` and
    ``scipy.stats.entropy``; float16/bfloat16 logits are computed in float32 and the result is
    returned in their dtype.
    """
    z, dim = _logits(logits, dim)
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
        ValueError (also a TypeError): if ``k`` is not an integer in ``1..V``, or logits hold NaN.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() < 1 or logits.shape[-1] == 0:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ArgumentError(f"logits must be a tensor with a non-empty last axis, got {shape}")
    V = logits.shape[-1]
    k = _checks.integer(k, "k", low=1, high=V)
    if logits.is_floating_point() and bool(torch.isnan(logits).any()):
        raise ArgumentError("logits contains NaN; NaN has no place in a ranking")
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest value
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
        raise ArgumentError(f"logits must be a (B, V) tensor, got {shape}")
    _logits(logits, -1)  # NaN, +inf and rows of only -inf have no distribution to sample from
    scaled = _scaled(logits.detach().float().cpu(), t, -1)
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
        ValueError (also a TypeError): for a bad temperature, logits with NaN or +inf, a row with
            fewer than ``k`` finite logits, or a ``k`` that is not an integer.
    """
    t = check_temperature(temperature, hint="for the deterministic top k, use torch.topk")
    t = float(t.detach()) if isinstance(t, torch.Tensor) else t
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ArgumentError(f"logits must be a (B, V) tensor, got {shape}")
    k = _checks.integer(k, "k")
    _logits(logits, -1)  # NaN and +inf refused by name
    finite = torch.isfinite(logits).sum(dim=1)
    if not 1 <= k <= int(finite.min()):
        raise ArgumentError(f"k must be between 1 and the fewest finite logits in a row ({int(finite.min())}), "
                            f"got {k}")
    # float64 on the CPU: Gumbel noise needs -log(-log(u)) of u near 0 and 1, and a CPU generator
    # must give the same slate whatever device the scores came from.
    scaled = _greedy_safe_scale(logits.detach().double().cpu(), t)
    u = torch.rand(scaled.shape, generator=generator, dtype=torch.float64).clamp_(min=1e-300)
    gumbel = -torch.log(-torch.log(u))
    return torch.topk(scaled + gumbel, int(k), dim=1).indices.to(logits.device)
