"""Automatic checks for the chapters' exercises.

Used by every chapter. A student writes a function; ``check("ch01.lookup", my_fn)`` runs it on
hidden test cases against a reference implementation and prints a short, friendly verdict. It
never raises at the student: an exception inside their function becomes a message naming the
case and the error. The returned :class:`CheckResult` is truthy when every case passed, so the
course's own notebooks can ``assert`` it on the reference solutions.

Exercises live in ``embedlab.checks.chNN`` modules (one per chapter) as :class:`Exercise`
objects named ``EXERCISES``; they are found by the prefix of the id, loaded on demand.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["Case", "Exercise", "CheckResult", "check", "close", "list_exercises"]


@dataclass
class Case:
    """One hidden input: positional and keyword arguments for the student's function."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""


def close(got: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-6) -> str | None:
    """Compare two results; return ``None`` if they match, else a short reason."""
    if isinstance(expected, (tuple, list)) and not isinstance(expected, str):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a sequence of {len(expected)} items, got {type(got).__name__}"
        for i, (g, e) in enumerate(zip(got, expected)):
            why = close(g, e, rtol=rtol, atol=atol)
            if why:
                return f"item {i}: {why}"
        return None
    if isinstance(expected, (torch.Tensor, np.ndarray)):
        try:
            g = torch.as_tensor(np.asarray(got) if not isinstance(got, torch.Tensor) else got)
        except Exception:
            return f"expected a tensor, got {type(got).__name__}"
        e = torch.as_tensor(expected)
        if tuple(g.shape) != tuple(e.shape):
            return f"expected shape {tuple(e.shape)}, got {tuple(g.shape)}"
        if e.dtype == torch.bool or not torch.is_floating_point(e):
            if g.dtype.is_floating_point != e.dtype.is_floating_point or not torch.equal(g.to(e.dtype), e):
                return "values differ"
            return None
        g64, e64 = g.detach().double().cpu(), e.detach().double().cpu()
        if not torch.allclose(g64, e64, rtol=rtol, atol=atol, equal_nan=True):
            err = (g64 - e64).abs().max().item()
            return f"values differ (largest absolute difference {err:.3g})"
        return None
    if isinstance(expected, float):
        try:
            g = float(got)
        except (TypeError, ValueError):
            return f"expected a number, got {type(got).__name__}"
        if not np.isclose(g, expected, rtol=rtol, atol=atol):
            return f"expected {expected:.6g}, got {g:.6g}"
        return None
    return None if got == expected else f"expected {expected!r}, got {got!r}"


@dataclass
class Exercise:
    """An automatically checked exercise.

    Attributes:
        id: ``"chNN.name"``.
        reference: the correct implementation.
        cases: a function that builds the hidden cases (called once per check, seeded inside).
        hint: shown when a case fails.
        compare: ``(got, expected) -> reason or None``; defaults to :func:`close`.
        expect_error: the exception type the student's function must raise on every case
            (for exercises about validating bad input); ``reference`` is then unused.
    """

    id: str
    reference: Callable[..., Any]
    cases: Callable[[], Sequence[Case]]
    hint: str = ""
    compare: Callable[[Any, Any], str | None] = close
    expect_error: type[BaseException] | None = None


@dataclass
class CheckResult:
    exercise: str
    passed: int
    total: int
    message: str

    def __bool__(self) -> bool:
        return self.total > 0 and self.passed == self.total

    def __repr__(self) -> str:  # what a notebook shows when the result is the last expression
        return self.message


def _load(exercise_id: str) -> Exercise:
    prefix, _, _ = exercise_id.partition(".")
    try:
        module = importlib.import_module(f"embedlab.checks.{prefix}")
    except ModuleNotFoundError as e:
        raise KeyError(f"no exercises for {prefix!r}; known: {list_exercises()}") from e
    table = {ex.id: ex for ex in module.EXERCISES}
    if exercise_id not in table:
        raise KeyError(f"unknown exercise {exercise_id!r}; {prefix} has {sorted(table)}")
    return table[exercise_id]


def list_exercises() -> list[str]:
    """Ids of every automatically checked exercise in the course."""
    import pkgutil

    import embedlab.checks as checks

    ids: list[str] = []
    for info in pkgutil.iter_modules(checks.__path__):
        module = importlib.import_module(f"embedlab.checks.{info.name}")
        ids += [ex.id for ex in module.EXERCISES]
    return sorted(ids)


def _clone(value: Any) -> Any:
    """Give the student their own copy, so an in-place edit cannot change the reference's input."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value


def check(exercise_id: str, fn: Callable[..., Any], *, quiet: bool = False) -> CheckResult:
    """Run ``fn`` on the hidden cases of ``exercise_id`` and print a verdict.

    Returns a :class:`CheckResult` (truthy when all cases pass). Never raises because of the
    student's code; raises ``KeyError`` only for an unknown exercise id.
    """
    ex = _load(exercise_id)
    cases = list(ex.cases())
    passed = 0
    failure = ""
    for n, case in enumerate(cases, 1):
        label = f"case {n} of {len(cases)}" + (f" ({case.label})" if case.label else "")
        if ex.expect_error is not None:
            try:
                fn(*_clone(case.args), **_clone(case.kwargs))
            except ex.expect_error:
                passed += 1
                continue
            except Exception as e:  # noqa: BLE001 - reported to the student, not raised
                failure = f"{label}: expected {ex.expect_error.__name__}, got {type(e).__name__}: {e}"
                break
            failure = f"{label}: expected {ex.expect_error.__name__} to be raised, nothing was"
            break
        expected = ex.reference(*_clone(case.args), **_clone(case.kwargs))
        try:
            got = fn(*_clone(case.args), **_clone(case.kwargs))
        except Exception as e:  # noqa: BLE001 - reported to the student, not raised
            where = traceback.extract_tb(e.__traceback__)[-1]
            failure = f"{label}: your function raised {type(e).__name__}: {e} (line {where.lineno})"
            break
        if got is None and expected is not None:
            failure = f"{label}: your function returned None; did you forget `return`?"
            break
        why = ex.compare(got, expected)
        if why:
            failure = f"{label}: {why}"
            break
        passed += 1
    if not cases:
        message = f"[{exercise_id}] has no cases: this is a bug in the course, please report it."
    elif passed == len(cases):
        message = f"[{exercise_id}] passed all {len(cases)} hidden cases. Well done!"
    else:
        hint = f"\n  Hint: {ex.hint}" if ex.hint else ""
        message = f"[{exercise_id}] not yet: passed {passed} of {len(cases)}. First failure, {failure}.{hint}"
    if not quiet:
        print(message)
    return CheckResult(exercise_id, passed, len(cases), message)
