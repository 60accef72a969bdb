"""Comparing what a student's function returned with the reference's answer, never trusting it.

Used by :mod:`embedlab.exercises` (every hidden case) and by the chapters' checks that need their
own comparison (``embedlab.checks.ch01``). :func:`mismatch` gives the reason two results differ in
the student's words (shape, dtype, the worst position and its values), :func:`close` the yes/no.
Nothing here calls the student's ``__eq__`` or ``__repr__`` where it could raise unexplained: a
result of any type gets a reason, never an exception. It holds no hidden case and imports nothing
of the grader, so the grader's own process can compare outputs handed back as data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["close", "describe_kind", "mismatch", "short_repr"]


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters; never raises (a student's ``__repr__`` might)."""
    try:
        text = repr(value)
    except BaseException:  # noqa: BLE001 - a broken __repr__ must not reach the student
        return f"<a {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_kind(value: Any) -> str:
    """A student-facing name for what ``value`` is: 'a tensor of shape (2, 3)', 'a list', ..."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} ({value.dtype})"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} ({value.dtype})"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _dtype_kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "bool"
    if dtype.is_complex:
        return "complex"
    return "float" if dtype.is_floating_point else "int"


_KIND_NAMES = {"bool": "a boolean tensor (dtype torch.bool)", "int": "an integer tensor (dtype torch.int64)"}


def _as_tensor(got: Any) -> torch.Tensor:
    if isinstance(got, torch.Tensor):
        return got.detach()
    if isinstance(got, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(got))
    if isinstance(got, (bool, int, float, np.number, np.bool_)):
        return torch.as_tensor(np.asarray(got))
    raise TypeError(type(got).__name__)


def _where(index: torch.Tensor) -> str:
    return str(tuple(int(i) for i in index)) if index.numel() > 1 else f"[{int(index[0])}]" if index.numel() else "()"


def _tensor_mismatch(got: Any, expected: torch.Tensor | np.ndarray, rtol: float, atol: float) -> str | None:
    e = _as_tensor(expected).cpu()
    try:
        g = _as_tensor(got).cpu()
    except Exception:  # noqa: BLE001 - a list, a dict, an object array...: explained, never raised
        how = "torch.stack(...)" if isinstance(got, (list, tuple)) else "torch.tensor(...)"
        return (f"expected a tensor of shape {tuple(e.shape)}, got {describe_kind(got)} (build a tensor, e.g. with "
                f"{how})")
    if tuple(g.shape) != tuple(e.shape):
        return f"expected shape {tuple(e.shape)}, got shape {tuple(g.shape)}"
    want, have = _dtype_kind(e.dtype), _dtype_kind(g.dtype)
    if have == "complex" and want != "complex":
        return f"expected a real tensor ({e.dtype}), got dtype {g.dtype}"
    if want in ("bool", "int"):
        # Exact, with torch's type promotion: 0.7 is compared as 0.7, not cast to 0 or True first.
        same = g == e
        if have != want:
            if bool(same.all()):
                return f"wrong dtype: expected {_KIND_NAMES[want]}, got dtype {g.dtype} — the values are right"
            note = f" (and the dtype should be torch.{'bool' if want == 'bool' else 'int64'}, not {g.dtype})"
        else:
            note = ""
        if bool(same.all()):
            return None
        bad = (~same).nonzero()
        first = tuple(int(i) for i in bad[0])
        return (
            f"values differ at {len(bad)} of {e.numel()} positions, first at index {_where(bad[0])}: "
            f"expected {short_repr(e[first].item())}, got {short_repr(g[first].item())}{note}"
        )
    # Floating-point reference: any real dtype is accepted (float32 for float64 is fine, within rtol).
    g64, e64 = g.double(), e.double()
    ok = torch.isclose(g64, e64, rtol=rtol, atol=atol, equal_nan=True)
    if bool(ok.all()):
        return None
    bad = (~ok).nonzero()
    diff = (g64 - e64).abs().masked_fill(ok, 0).nan_to_num(nan=float("inf"))  # NaN counts as the worst
    worst = (diff == diff.max()).nonzero()[0]
    at = tuple(int(i) for i in worst)
    nan_note = ""
    if bool((g64.isnan() & ~e64.isnan()).any()):
        nan_note = f"; your result has NaN at {int((g64.isnan() & ~e64.isnan()).sum())} position(s)"
    return (
        f"values differ at {len(bad)} of {e.numel()} positions; the largest difference is at index {_where(worst)}: "
        f"expected {e64[at].item():.6g}, got {g64[at].item():.6g}{nan_note}"
    )


def _number(got: Any) -> float | int | str:
    """``got`` as a Python number, or a reason why it is not one."""
    if isinstance(got, (bool, np.bool_)) or isinstance(got, (str, bytes)):
        return f"expected a number, got {describe_kind(got)} {short_repr(got)}"
    if isinstance(got, (torch.Tensor, np.ndarray)):
        size = got.numel() if isinstance(got, torch.Tensor) else got.size
        if size != 1:
            return f"expected a single number, got {describe_kind(got)}"
        item = got.reshape(-1)[0].item()
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            return f"expected a number, got {describe_kind(got)}"
        return item
    if isinstance(got, (int, np.integer)):
        return int(got)
    try:
        return float(got)
    except Exception:  # noqa: BLE001 - explained, never raised
        return f"expected a number, got {describe_kind(got)}"


def mismatch(got: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-6) -> str | None:
    """Why ``got`` does not match ``expected``: a short reason, or ``None`` when they match.

    Tensors and arrays must have the same shape. A floating-point reference accepts any real
    dtype within ``rtol``/``atol`` (NaN matches NaN); an integer or boolean reference is compared
    exactly and also needs an integer or boolean result (the message says "dtype" when only the
    dtype is wrong). Numbers, and tuples/lists item by item. Never raises for anything ``got`` is.
    Use :func:`close` for a yes/no answer.
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a sequence of {len(expected)} items, got {describe_kind(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            why = mismatch(g, e, rtol=rtol, atol=atol)
            if why is not None:
                return f"item {i}: {why}"
        return None
    if isinstance(expected, (torch.Tensor, np.ndarray)):
        return _tensor_mismatch(got, expected, rtol, atol)
    if isinstance(expected, (float, int, np.number)) and not isinstance(expected, (bool, np.bool_)):
        g = _number(got)
        if isinstance(g, str):
            return g
        if isinstance(expected, (int, np.integer)):
            if isinstance(g, float):
                if g == expected:
                    return f"expected an integer (int), got a float, {g!r} — the value is right"
                return f"expected {int(expected)}, got {g:.6g}"
            return None if g == expected else f"expected {int(expected)}, got {g}"
        if not np.isclose(g, float(expected), rtol=rtol, atol=atol, equal_nan=True):
            return f"expected {float(expected):.6g}, got {g:.6g}"
        return None
    try:
        same = bool(got == expected)
    except Exception as e:  # noqa: BLE001 - e.g. an __eq__ that raises, or an ambiguous array truth value
        return (f"expected {short_repr(expected)}, got {describe_kind(got)} that cannot be compared with it "
                f"({type(e).__name__})")
    return None if same else f"expected {short_repr(expected)}, got {short_repr(got)}"


def close(got: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """``True`` when ``got`` matches ``expected`` (see :func:`mismatch` for the rules and the reason)."""
    return mismatch(got, expected, rtol=rtol, atol=atol) is None
