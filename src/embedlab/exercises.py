"""Automatic checks for the chapters' exercises.

Used by every chapter. A student writes a function; ``check("ch01.lookup", my_fn)`` runs it on
hidden test cases against a reference implementation and prints a short, friendly verdict. It
never raises at the student: whatever their function does (raise any exception, ``sys.exit()``,
return something of the wrong type, loop forever) becomes a one-line message naming the case.
The returned :class:`CheckResult` is truthy when every case passed, so the course's own
notebooks can ``assert`` it on the reference solutions.

Two deliberate exceptions to "never raises": an unknown exercise id is a ``KeyError`` (a typo
in the call, not in the student's function), and ``KeyboardInterrupt`` (the kernel's interrupt
button, Ctrl-C) is let through, so a student can always stop a check the usual way.

Time limit: each case may run for ``timeout`` seconds (default :data:`DEFAULT_TIMEOUT`),
enforced by :mod:`embedlab.timelimit` (``SIGALRM`` where it can, else a thread it stops waiting
for: a runaway loop then keeps a CPU busy until the kernel is restarted, and the message says
so). Results are compared with the reference by :mod:`embedlab.matching`, which trusts nothing
the student's function returned.

Every case is run and counted, so ``passed`` is the true partial credit; the verdict names the
first failure and :attr:`CheckResult.failures` lists them all.

Exercises live in ``embedlab.checks.chNN`` modules (one per chapter) as :class:`Exercise`
objects named ``EXERCISES``; they are found by the prefix of the id, loaded on demand.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from embedlab.matching import describe_kind, mismatch
from embedlab.timelimit import CaseTimeout, describe_exception, run_with_time_limit

__all__ = [
    "DEFAULT_TIMEOUT",
    "Case",
    "Exercise",
    "CheckResult",
    "Failure",
    "check",
    "list_exercises",
]

DEFAULT_TIMEOUT: float = 60.0
"""Seconds one hidden case may run before the check gives up on it."""


@dataclass
class Case:
    """One hidden input: positional and keyword arguments for the student's function."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""


# --------------------------------------------------------------------------- comparing results

# --------------------------------------------------------------------------- exercises


@dataclass
class Exercise:
    """An automatically checked exercise.

    Attributes:
        id: ``"chNN.name"``.
        reference: the correct implementation.
        cases: a function that builds the hidden cases (called once per check, seeded inside).
        hint: shown when a case fails.
        compare: ``(got, expected) -> reason or None`` (a ``bool`` is also understood: ``True``
            means they match); defaults to :func:`embedlab.matching.mismatch`. It may raise on odd results: that is
            reported to the student, not raised.
        expect_error: the exception type the student's function must raise on every case
            (for exercises about validating bad input); ``reference`` is then unused.
        function: the name the exercise's text asks students to give their function, when it is
            not the part of the id after the dot (``"my_cosine"`` for ``ch02.cosine``). The
            grader (:mod:`embedlab.grade`) looks a student's function up by :attr:`function_name`.
        points: what the exercise is worth in the grader's gradebook (a share of it per hidden
            case passed); ``python -m embedlab.grade --points`` overrides it for one class.
        forbids: dotted names of library functions that *are* the answer
            (``"embedlab.calibration.expected_calibration_error"`` for "write ECE yourself"). While
            the grader runs the student's function they raise "not available in graded work", however
            the student reached them (imported, wrapped in a ``def``, a ``lambda`` or a ``partial``).
    """

    id: str
    reference: Callable[..., Any]
    cases: Callable[[], Sequence[Case]]
    hint: str = ""
    compare: Callable[[Any, Any], str | bool | None] = mismatch
    expect_error: type[BaseException] | None = None
    function: str = ""
    points: float = 1.0
    forbids: tuple[str, ...] = ()

    @property
    def function_name(self) -> str:
        """The name of the student's function: ``function``, else the part of the id after the dot."""
        return self.function or self.id.partition(".")[2]


class Failure(NamedTuple):
    """One hidden case that failed: its number (from 1), label, what kind of failure, and why.

    ``kind`` says whether ``reason`` may show the reference's answer: ``"value"`` (the result did
    not match: the reason may quote the expected value), ``"error"`` (the function raised, or did
    not raise what it should), ``"call"`` (it cannot be called with the case's arguments) or
    ``"timeout"``. The grader's marked feedback modes show the reason of every kind but ``"value"``.
    """

    case: int
    label: str
    kind: str
    reason: str


@dataclass
class CheckResult:
    """What a check found: ``passed`` of ``total`` hidden cases (every case counted), the verdict
    as the student sees it, and each failed case (:class:`Failure`)."""

    exercise: str
    passed: int
    total: int
    message: str
    failures: list[Failure] = field(default_factory=list)

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
    """A fresh copy for each caller, so an in-place edit by the student cannot change the
    reference's input (or the next case's). Keeps ``requires_grad`` and tensor subclasses."""
    if isinstance(value, torch.Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(True) if value.requires_grad else copy
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, tuple):
        items = [_clone(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value


# --------------------------------------------------------------------------- the student's line


# --------------------------------------------------------------------------- check


def _verdict(compared: Any) -> str | None:
    """A ``compare`` function's answer as a reason or ``None``: ``None``/``True``/``""`` match."""
    if compared is None or compared is True:
        return None
    if compared is False:
        return "values differ"
    return str(compared) or None


def _signature_problem(fn: Callable[..., Any], args: tuple, kwargs: dict) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: just call it
        return None
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        how = f"{len(args)} positional argument{'s' if len(args) != 1 else ''}"
        if kwargs:
            how += " and " + ", ".join(f"{k}=..." for k in kwargs)
        name = getattr(fn, "__name__", "your function")
        return f"your function cannot be called with {how}: {e}; its signature is {name}{sig}"
    return None


def _run_case(ex: Exercise, fn: Callable[..., Any], case: Case, expected: Any) -> tuple[str, str] | None:
    """The student's part of one case (their call and the comparison of what it returned):
    ``(kind, reason)`` of a failure (see :class:`Failure`), or ``None`` when it passed. Raises only
    ``KeyboardInterrupt`` and ``CaseTimeout``."""
    args, kwargs = _clone(case.args), _clone(case.kwargs)
    if ex.expect_error is not None:
        want = ex.expect_error.__name__
        try:
            fn(*args, **kwargs)
        except ex.expect_error:
            return None
        except (KeyboardInterrupt, CaseTimeout):
            raise
        except BaseException as e:  # noqa: BLE001 - SystemExit included: reported, never raised
            return "error", f"expected {want}, got {describe_exception(e)}"
        return "error", f"expected {want} to be raised, nothing was"
    try:
        got = fn(*args, **kwargs)
    except (KeyboardInterrupt, CaseTimeout):
        raise
    except BaseException as e:  # noqa: BLE001
        return "error", f"your function raised {describe_exception(e)}"
    if got is None and expected is not None:
        return "error", "your function returned None; did you forget `return`?"
    try:
        verdict = _verdict(ex.compare(got, expected))
        return None if verdict is None else ("value", verdict)
    except (KeyboardInterrupt, CaseTimeout):
        raise
    except BaseException as e:  # noqa: BLE001 - an odd returned object (its __eq__, __float__, ... raised)
        return "value", f"could not compare what your function returned ({describe_kind(got)}): {describe_exception(e)}"


def check(
    exercise_id: str, fn: Callable[..., Any], *, quiet: bool = False, timeout: float | None = DEFAULT_TIMEOUT
) -> CheckResult:
    """Run ``fn`` on the hidden cases of ``exercise_id`` and print a verdict.

    Returns a :class:`CheckResult` (truthy when all cases pass). Every case is run and counted
    (partial credit is the true count), and the verdict names the first failure. One exception:
    a case that runs past ``timeout`` ends the check, the cases after it counted as failed and not
    run (each would wait out its limit too), and the verdict says so. ``timeout`` is the limit in
    seconds for each case (``None``: no limit; see the module docstring for how it is enforced).

    Never raises because of the student's code; raises ``KeyError`` only for an unknown exercise
    id, and lets ``KeyboardInterrupt`` through so the student can interrupt a slow check.
    """
    ex = _load(exercise_id)
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    cases = list(ex.cases())
    if not callable(fn):
        message = (
            f"[{exercise_id}] not checked: check needs your function itself, e.g. check({exercise_id!r}, my_function), "
            f"but got {describe_kind(fn)}. Pass the function's name, without calling it."
        )
        if not quiet:
            print(message)
        return CheckResult(exercise_id, 0, len(cases), message)
    passed = 0
    failures: list[Failure] = []
    for n, case in enumerate(cases, 1):
        problem = _signature_problem(fn, case.args, case.kwargs)
        if problem:
            failures.append(Failure(n, case.label, "call", problem))
            continue
        expected = None
        if ex.expect_error is None:
            expected = ex.reference(*_clone(case.args), **_clone(case.kwargs))
        try:
            finished, outcome = run_with_time_limit(functools.partial(_run_case, ex, fn, case, expected), timeout)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - belt and braces: nothing of the student's escapes
            finished, outcome = True, ("error", f"your function raised {describe_exception(e)}")
        if not finished:
            # The one case that ends the check: every further case would wait out its limit too.
            left = len(cases) - n
            rest = (f"; the {left} cases after it were not run" if left > 1 else
                    "; the case after it was not run" if left else "")
            failures.append(Failure(n, case.label, "timeout", f"your function did not finish within {timeout:g} s"
                                                              f"{outcome}{rest}"))
            break
        if outcome is not None:
            failures.append(Failure(n, case.label, *outcome))
            continue
        passed += 1
    if not cases:
        message = f"[{exercise_id}] has no cases: this is a bug in the course, please report it."
    elif passed == len(cases):
        message = f"[{exercise_id}] passed all {len(cases)} hidden cases. Well done!"
    else:
        first = failures[0]
        label = f"case {first.case} of {len(cases)}" + (f" ({first.label})" if first.label else "")
        hint = f"\n  Hint: {ex.hint}" if ex.hint else ""
        message = (f"[{exercise_id}] not yet: passed {passed} of {len(cases)}. First failure, {label}: "
                   f"{first.reason}.{hint}")
    if not quiet:
        print(message)
    return CheckResult(exercise_id, passed, len(cases), message, failures)
