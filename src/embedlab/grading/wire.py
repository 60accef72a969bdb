"""The data a student's kernel and the grader exchange: inputs in, raw outputs back, never code.

Used by :mod:`embedlab.grading.kernel` (in the student's kernel) and :mod:`embedlab.grading.run`
(in the grader). The grader sends each hidden case's arguments, the kernel sends back what the
student's function returned, and the grader compares in its own process, which no student code
touches. So the format carries plain values only (JSON: numbers, strings, lists, tuples, dicts,
NumPy arrays and scalars, PyTorch tensors as base64 of their bytes), and :func:`decode`, which
reads what a student's process wrote, never unpickles, never imports a name, and refuses what is
too big or too deep. Whatever else a function returns travels as an :class:`Opaque` description
("a Foo"), which the grader reports instead of comparing.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["MAX_ELEMENTS", "Opaque", "Traced", "WireError", "autograd_ops", "decode", "encode", "observe"]

MAX_ELEMENTS = 20_000_000
"""Numbers one decoded value may hold in all (arrays and tensors included)."""
_MAX_DEPTH = 32
_MAX_TEXT = 10_000

# Plain dtypes only: what hidden cases use and what the comparisons understand.
_NUMPY = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"}
_TORCH = {"bool": torch.bool, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
          "int64": torch.int64, "uint8": torch.uint8, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "float32": torch.float32, "float64": torch.float64, "complex64": torch.complex64,
          "complex128": torch.complex128}


class WireError(ValueError):
    """What a kernel handed back is not a value the grader accepts (malformed, too big, too deep)."""


@dataclass(frozen=True)
class Opaque:
    """A value the wire does not carry, by its description (``"a generator"``); never equal to anything."""

    kind: str


@dataclass(frozen=True)
class Traced:
    """A returned value with what autograd recorded making it (:func:`observe` with ``"autograd"``):
    the names of the backward nodes in its graph (``"MmBackward"``, digits stripped) and whether it
    has a ``grad_fn`` at all. For exercises that prescribe *how* to compute (a product, not indexing)."""

    value: Any
    ops: frozenset[str]
    has_grad_fn: bool


def autograd_ops(tensor: torch.Tensor) -> frozenset[str]:
    """The backward-node names in ``tensor``'s autograd graph, digits stripped (``"IndexBackward"``)."""
    names: set[str] = set()
    stack, seen = [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__.rstrip("0123456789"))
        stack += [nxt for nxt, _ in node.next_functions]
    return frozenset(names)


def observe(value: Any, how: str | None = None) -> Any:
    """What the kernel sends back for a returned ``value``: :func:`encode` of it, and with
    ``how="autograd"`` also its autograd graph (decoded as a :class:`Traced`)."""
    if how is None:
        return encode(value)
    if how != "autograd":
        raise ValueError(f"observe: unknown how={how!r}")
    tensor = isinstance(value, torch.Tensor)
    ops = sorted(autograd_ops(value)) if tensor and value.grad_fn is not None else []
    return {"$": "traced", "value": encode(value), "ops": ops, "grad_fn": bool(tensor and value.grad_fn is not None)}


def _float(x: float) -> Any:
    return x if math.isfinite(x) else {"$": "float", "v": repr(x)}  # JSON has no nan/inf


def encode(value: Any, _depth: int = 0) -> Any:
    """A JSON-able form of ``value``; anything the wire does not carry becomes an :class:`Opaque`."""
    from embedlab.matching import describe_kind

    if _depth > _MAX_DEPTH:
        return {"$": "opaque", "kind": "a value nested too deep"}
    if value is None or type(value) is bool:
        return value
    if type(value) is str:
        return value[:_MAX_TEXT]
    if type(value) is int:
        return value if abs(value) < 2**63 else {"$": "int", "v": str(value)}
    if type(value) is float:
        return _float(value)
    if type(value) in (torch.Tensor, torch.nn.Parameter):
        name = str(value.dtype).removeprefix("torch.")
        if name not in _TORCH or value.layout != torch.strided or value.is_quantized:
            return {"$": "opaque", "kind": describe_kind(value)}
        flat = value.detach().cpu().contiguous()
        raw = (flat.view(torch.int16) if flat.dtype == torch.bfloat16 else flat).numpy().tobytes()
        return {"$": "tensor", "dtype": name, "shape": list(flat.shape), "grad": bool(value.requires_grad),
                "b": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, np.ndarray) and type(value) is np.ndarray:
        if value.dtype.name not in _NUMPY:
            return {"$": "opaque", "kind": describe_kind(value)}
        return {"$": "array", "dtype": value.dtype.name, "shape": list(value.shape),
                "b": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii")}
    if isinstance(value, np.generic) and value.dtype.name in _NUMPY:
        return {"$": "scalar", "dtype": value.dtype.name, "b": base64.b64encode(value.tobytes()).decode("ascii")}
    if type(value) in (list, tuple):
        items = [encode(v, _depth + 1) for v in value]
        return items if type(value) is list else {"$": "tuple", "v": items}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"$": "dict", "v": {k: encode(v, _depth + 1) for k, v in value.items()}}
    return {"$": "opaque", "kind": describe_kind(value)}


def _bytes(obj: dict, dtype: np.dtype, count: int) -> np.ndarray:
    raw = base64.b64decode(str(obj["b"]), validate=True)
    if len(raw) != count * dtype.itemsize:
        raise WireError(f"{len(raw)} bytes for {count} values of {dtype}")
    return np.frombuffer(raw, dtype=dtype).copy()


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_ELEMENTS

    def take(self, n: int) -> None:
        self.left -= n
        if n < 0 or self.left < 0:
            raise WireError(f"more than {MAX_ELEMENTS:,} numbers")


def _shape(obj: dict) -> tuple[int, ...]:
    shape = obj["shape"]
    if not isinstance(shape, list) or len(shape) > 16 or not all(type(s) is int and 0 <= s for s in shape):
        raise WireError(f"bad shape {str(shape)[:40]}")
    return tuple(shape)


def _decode(obj: Any, depth: int, budget: _Budget) -> Any:
    if depth > _MAX_DEPTH:
        raise WireError("nested too deep")
    if obj is None or type(obj) in (bool, str):
        return obj
    if type(obj) is int:
        budget.take(1)
        return obj
    if type(obj) is float:
        budget.take(1)
        return obj
    if type(obj) is list:
        return [_decode(v, depth + 1, budget) for v in obj]
    if type(obj) is not dict or "$" not in obj:
        raise WireError(f"not a wire value: {type(obj).__name__}")
    tag = obj["$"]
    if tag == "tuple":
        return tuple(_decode(v, depth + 1, budget) for v in obj["v"])
    if tag == "dict":
        return {str(k): _decode(v, depth + 1, budget) for k, v in dict(obj["v"]).items()}
    if tag == "float":
        value = float(str(obj["v"]))
        if math.isfinite(value):
            raise WireError("a finite float sent as text")
        return value
    if tag == "int":
        text = str(obj["v"])
        if len(text) > 4000:
            raise WireError("an integer too long")
        return int(text)
    if tag == "traced":
        ops = obj["ops"]
        if not isinstance(ops, list) or len(ops) > 10_000 or not all(type(o) is str for o in ops):
            raise WireError("bad autograd ops")
        return Traced(_decode(obj["value"], depth + 1, budget), frozenset(o[:100] for o in ops), obj["grad_fn"] is True)
    if tag == "opaque":
        return Opaque(str(obj["kind"])[:200])
    if tag in ("array", "scalar", "tensor"):
        name = str(obj["dtype"])
        if tag == "tensor" and name not in _TORCH or tag != "tensor" and name not in _NUMPY:
            raise WireError(f"dtype {name[:20]!r}")
        shape = _shape(obj) if tag != "scalar" else ()
        count = math.prod(shape)
        budget.take(count)
        if tag == "tensor":
            np_dtype = np.dtype("int16" if name == "bfloat16" else name)
            flat = torch.from_numpy(_bytes(obj, np_dtype, count))
            tensor = (flat.view(torch.bfloat16) if name == "bfloat16" else flat).reshape(shape)
            return tensor.requires_grad_(True) if obj.get("grad") is True and tensor.is_floating_point() else tensor
        array = _bytes(obj, np.dtype(name), count)
        return array.reshape(shape) if tag == "array" else array[0]
    raise WireError(f"unknown tag {str(tag)[:20]!r}")


def decode(obj: Any) -> Any:
    """The value :func:`encode` gave ``obj`` for; raises :class:`WireError` on anything else."""
    try:
        return _decode(obj, 0, _Budget())
    except WireError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
        raise WireError(f"malformed: {type(e).__name__}: {str(e)[:80]}") from None
