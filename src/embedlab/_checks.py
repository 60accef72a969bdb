"""Argument checks: the one home of the package's input validation (private).

Every public function checks its arguments here, so that one input gets one answer everywhere:

* one exception, :class:`ArgumentError`, a subclass of both ``ValueError`` and ``TypeError``
  (a caller may catch either, as NumPy's ``AxisError`` is both a ``ValueError`` and an
  ``IndexError``); its message always starts with the argument's name;
* numbers: Python ``int``/``float``, NumPy scalars and 0-d arrays or tensors are numbers; ``bool``
  is not (``True`` as a count is a bug, not a 1); a float is never truncated to an integer;
* arrays: NumPy arrays, tensors (any device, ``requires_grad`` or not) and nested lists; float16
  and bfloat16 are accepted wherever float32 is (NumPy has no bfloat16, so it is widened to
  float32 on the way to NumPy); bool, complex and object arrays are refused by name.

The boundary between the two array worlds: the layers, losses and training (chapters 3-6, 12)
are torch and keep the caller's dtype and device; the estimators and metrics (clustering,
calibration, ranking, bandits, retrieval) are NumPy float64 on the CPU, and take tensors by
converting them with :func:`array`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["ArgumentError", "integer", "number", "choice", "flag", "array", "tensor", "ids", "check_float_dtype",
           "FLOAT_DTYPES"]

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")  # torch dtypes by name: no torch import here


def _is_tensor(x: Any) -> bool:
    # torch is not imported here, so that the data loaders (NumPy only) stay light: a tensor can
    # only exist if torch is already loaded.
    t = sys.modules.get("torch")
    return t is not None and isinstance(x, t.Tensor)


class ArgumentError(ValueError, TypeError):
    """A bad argument. Both a ``ValueError`` and a ``TypeError``; the message names the argument."""


def _scalar(value: Any) -> Any:
    """A 0-d array or tensor as its Python scalar; anything else unchanged."""
    if _is_tensor(value) and value.ndim == 0 and str(value.dtype) != "torch.bool" and not value.is_complex():
        return value.detach().item()
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return value.item()
    return value


def integer(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as a Python ``int`` in ``low..high`` (either bound optional, both inclusive).

    Accepts ``int``, NumPy integers and 0-d integer arrays/tensors; refuses ``bool``, floats (also
    ``3.0``: a float count is usually a computed value that should have been rounded on purpose)
    and everything else.
    """
    v = _scalar(value)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise ArgumentError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    v = int(v)
    if (low is not None and v < low) or (high is not None and v > high):
        if low is not None and high is not None:
            bound = f"between {low} and {high}"
        elif low is not None:
            bound = f">= {low}"
        else:
            bound = f"<= {high}"
        raise ArgumentError(f"{name} must be an integer {bound}, got {v}")
    return v


def number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
) -> float:
    """``value`` as a Python ``float`` in the interval given by ``low``/``high``.

    ``low_open``/``high_open`` exclude the bound itself (``low=0, low_open=True`` is "> 0").
    NaN is always refused; ±inf unless ``finite=False``. Accepts ``int``, ``float``, NumPy
    scalars and 0-d arrays/tensors; refuses ``bool`` and everything else.
    """
    v = _scalar(value)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    try:
        v = float(v)
    except OverflowError:  # a Python int beyond float64's range (10**400)
        raise ArgumentError(f"{name} must be a number within float64's range, got an integer of "
                            f"{len(str(abs(int(v))))} digits") from None
    if math.isnan(v) or (finite and math.isinf(v)):
        raise ArgumentError(f"{name} must be a finite number, got {v}")
    below = low is not None and (v <= low if low_open else v < low)
    above = high is not None and (v >= high if high_open else v > high)
    if below or above:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}")
        raise ArgumentError(f"{name} must be {' and '.join(parts)}, got {v!r}")
    return v


def choice(value: Any, name: str, options: Iterable[str]) -> str:
    """``value`` if it is one of ``options`` (strings), else an error listing them."""
    opts = tuple(options)
    if not isinstance(value, str) or value not in opts:
        listed = ", ".join(repr(o) for o in opts[:-1]) + f" or {opts[-1]!r}" if len(opts) > 1 else repr(opts[0])
        raise ArgumentError(f"{name} must be {listed}, got {value!r}")
    return value


def flag(value: Any, name: str) -> bool:
    """``value`` if it is a ``bool`` (or NumPy bool): ``"no"`` or ``0`` as a switch is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_float_dtype(dtype: torch.dtype, name: str) -> torch.dtype:
    """``dtype`` if it is one of float16, bfloat16, float32, float64, else an error naming ``name``."""
    if str(dtype).removeprefix("torch.") not in FLOAT_DTYPES:
        raise ArgumentError(f"{name} must hold floating-point numbers (float16, bfloat16, float32 or float64), "
                            f"got dtype {dtype}")
    return dtype


def _kind_error(name: str, what: str) -> ArgumentError:
    return ArgumentError(f"{name} must be an array of real numbers, got {what}")


def array(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype: Any = np.float64,
    finite: bool = True,
    empty: bool = False,
) -> np.ndarray:
    """``x`` as a NumPy array of ``dtype`` (``None`` keeps integer or float input as it is).

    Tensors are detached and moved to the CPU; bfloat16 goes through float32 (NumPy has no
    bfloat16). Refuses strings, bool, complex and object input, a wrong number of dimensions,
    an empty array (unless ``empty``) and, with ``finite``, NaN or ±inf (naming the first row).
    """
    if isinstance(x, (str, bytes)):
        raise _kind_error(name, type(x).__name__)
    if _is_tensor(x):
        t = x.detach().cpu()
        if str(t.dtype) == "torch.bool" or t.is_complex():
            raise _kind_error(name, f"dtype {t.dtype}")
        a = (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy()
    else:
        try:
            a = np.asarray(x)
        except (ValueError, TypeError) as e:  # ragged lists
            raise _kind_error(name, f"{type(x).__name__} that is not a rectangular array ({e})") from None
    if a.dtype.kind not in "iuf":
        raise _kind_error(name, f"dtype {a.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if a.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ArgumentError(f"{name} must have {want} dimension(s), got shape {a.shape}")
    if not empty and a.size == 0:
        raise ArgumentError(f"{name} is empty (shape {a.shape})")
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        where = f" at index {tuple(int(i) for i in bad)}" if a.ndim else ""
        raise ArgumentError(f"{name} contains NaN or infinite values{where}")
    return a


def tensor(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    finite: bool = False,
    empty: bool = False,
) -> torch.Tensor:
    """``x`` as a floating-point tensor, keeping a tensor's dtype (float16/bfloat16/32/64) and device.

    Integer input becomes the default float dtype; NumPy and lists are converted. Refuses
    bool, complex and non-numeric input, a wrong number of dimensions, an empty tensor (unless
    ``empty``) and, with ``finite``, NaN or ±inf.
    """
    import torch  # the torch world: loading it here is the point

    if isinstance(x, (str, bytes)):
        raise _kind_error(name, type(x).__name__)
    if isinstance(x, torch.Tensor):
        t = x
    else:
        a = array(x, name, dtype=None, finite=False, empty=True)
        t = torch.from_numpy(a if a.flags.c_contiguous else a.copy())  # ascontiguousarray makes 0-d 1-d
    if t.dtype == torch.bool or t.is_complex():
        raise _kind_error(name, f"dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if t.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ArgumentError(f"{name} must have {want} dimension(s), got shape {tuple(t.shape)}")
    if not empty and t.numel() == 0:
        raise ArgumentError(f"{name} is empty (shape {tuple(t.shape)})")
    if finite and not bool(torch.isfinite(t).all()):
        raise ArgumentError(f"{name} contains NaN or infinite values")
    return t


def ids(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] = 1,
    n: int | None = None,
) -> np.ndarray:
    """``x`` as a non-empty int64 NumPy array of ids (rows, items, tokens), each in ``0..n-1`` if ``n``.

    A boolean mask is refused (a mask is not a list of ids: ``[True, False]`` would mean rows 1
    and 0), as are floats (``2.0`` is a computed id that should have been rounded on purpose).
    Returns a C-contiguous copy, so a reversed view is fine.
    """
    if _is_tensor(x):
        x = x.detach().cpu().numpy()
    a = np.asarray(x) if not isinstance(x, (str, bytes)) else np.asarray([x])
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    shape_word = " or ".join({1: "a 1-d array", 2: "a matrix"}.get(d, f"{d}-d") for d in allowed)
    if a.dtype.kind not in "iu":
        raise ArgumentError(f"{name} must be {shape_word} of integer ids, got dtype {a.dtype}")
    if a.ndim not in allowed:
        raise ArgumentError(f"{name} must be {shape_word} of integer ids, got shape {a.shape}")
    if a.size == 0:
        raise ArgumentError(f"{name} is empty (shape {a.shape})")
    if n is not None and (a.min() < 0 or a.max() >= n):
        raise ArgumentError(f"{name} has ids outside 0..{n - 1}")
    return np.array(a, dtype=np.int64)
