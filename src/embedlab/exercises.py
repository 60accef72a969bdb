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

Running and judging are separate steps: :func:`embedlab.timelimit.run_case` calls the student's
function and keeps what it returned *as data* (:mod:`embedlab.grading.wire`); :func:`judge`
compares that with the reference. :func:`check` does both in the notebook; the grader runs the
first step in the student's kernel and the second in its own process, so nothing the student's
code does (patching ``numpy.isclose``, a tensor's ``__eq__``, the printed verdict) can change a verdict.

Exercises live in ``embedlab.checks.chNN`` modules (one per chapter) as :class:`Exercise`
objects named ``EXERCISES``; they are found by the prefix of the id, loaded on demand.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from embedlab.grading.wire import Opaque, Traced, WireError, decode
from embedlab.matching import describe_kind, mismatch
from embedlab.timelimit import CaseRun, describe_exception, run_case

__all__ = [
    "DEFAULT_TIMEOUT",
    "Case",
    "Exercise",
    "CheckResult",
    "Failure",
    "GRADED_WORK",
    "check",
    "judge",
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
        observe: what to record of a returned value besides the value itself, for a ``compare``
            that needs it (``"autograd"``: its autograd graph, see :func:`embedlab.grading.wire.observe`).
            The grader compares outside the student's process, so ``compare`` sees only such data.
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
    observe: str | None = None

    @property
    def function_name(self) -> str:
        """The name of the student's function: ``function``, else the part of the id after the dot."""
        return self.function or self.id.partition(".")[2]

    @property
    def lookup_names(self) -> list[str]:
        """Names the grader looks the student's function up by: :attr:`function_name`, then the id's tail."""
        tail = self.id.partition(".")[2]
        return [self.function_name] + ([tail] if tail != self.function_name else [])


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


# --------------------------------------------------------------------------- judging


def _verdict(compared: Any) -> str | None:
    """A ``compare`` function's answer as a reason or ``None``: ``None``/``True``/``""`` match."""
    if compared is None or compared is True:
        return None
    if compared is False:
        return "values differ"
    return str(compared) or None


def _judge_case(ex: Exercise, run: CaseRun, expected: Any) -> tuple[str, str] | None:
    """``(kind, reason)`` of a failed case (see :class:`Failure`), or ``None`` when it passed."""
    if run.kind in ("call", "timeout"):
        return run.kind, run.text
    if ex.expect_error is not None:
        want = ex.expect_error.__name__
        if run.kind == "raised":
            full = f"{ex.expect_error.__module__}.{ex.expect_error.__qualname__}"
            return None if full in run.raised else ("error", f"expected {want}, got {run.text}")
        return "error", f"expected {want} to be raised, nothing was"
    if run.kind == "raised":
        return "error", f"your function raised {run.text}"
    try:
        got = decode(run.value)
    except WireError as e:
        return "value", f"what your function returned could not be read back ({e})"
    if isinstance(got, Opaque) or isinstance(got, Traced) and isinstance(got.value, Opaque):
        kind = got.kind if isinstance(got, Opaque) else got.value.kind
        return "value", (f"your function returned {kind}, which cannot be graded: return numbers, lists, "
                         "tuples, NumPy arrays or tensors")
    if (got.value if isinstance(got, Traced) else got) is None and expected is not None:
        return "error", "your function returned None; did you forget `return`?"
    try:
        verdict = _verdict(ex.compare(got, expected))
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - an odd value (a ragged list, ...): reported, not raised
        return "value", f"could not compare what your function returned ({describe_kind(got)}): {describe_exception(e)}"
    return None if verdict is None else ("value", verdict)


def judge(ex: Exercise, cases: Sequence[Case], runs: Sequence[CaseRun], *, stopped: str = "") -> CheckResult:
    """The verdict on ``runs`` (what the student's function did on ``cases``, in order; see
    :func:`embedlab.timelimit.run_case`), each compared with the reference's answer here.

    This is the whole of the judging: :func:`check` calls it in the student's notebook, the grader
    (:mod:`embedlab.grading.run`) in its own process on the runs a graded kernel handed back as
    data. Cases without a run count as failed: after a case that ran past its limit they were not
    run (the timeout's reason says so); otherwise the check stopped early, and ``stopped`` says why.
    """
    passed = 0
    failures: list[Failure] = []
    for n, case in enumerate(cases, 1):
        if n > len(runs):
            if runs and runs[-1].kind == "timeout":
                break  # the timed-out case's reason names the cases after it
            failures.append(Failure(n, case.label, "error", f"not run: {stopped or 'the check stopped early'}"))
            continue
        run = runs[n - 1]
        expected = None
        if ex.expect_error is None and run.kind not in ("call", "timeout"):
            expected = ex.reference(*_clone(case.args), **_clone(case.kwargs))
        failure = _judge_case(ex, run, expected)
        if failure is None:
            passed += 1
            continue
        kind, reason = failure
        if kind == "timeout":
            left = len(cases) - n
            reason += (f"; the {left} cases after it were not run" if left > 1 else
                       "; the case after it was not run" if left else "")
        failures.append(Failure(n, case.label, kind, reason))
        if kind == "timeout":
            break
    if not cases:
        message = f"[{ex.id}] has no cases: this is a bug in the course, please report it."
    elif passed == len(cases):
        message = f"[{ex.id}] passed all {len(cases)} hidden cases. Well done!"
    else:
        first = failures[0]
        label = f"case {first.case} of {len(cases)}" + (f" ({first.label})" if first.label else "")
        hint = f"\n  Hint: {ex.hint}" if ex.hint else ""
        message = (f"[{ex.id}] not yet: passed {passed} of {len(cases)}. First failure, {label}: "
                   f"{first.reason}.{hint}")
    return CheckResult(ex.id, passed, len(cases), message, failures)


# --------------------------------------------------------------------------- check

GRADED_WORK = "EMBEDLAB_GRADED_WORK"
"""Set in a graded kernel's environment: :func:`check` then leaves the checking to the grader."""


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
    id, and lets ``KeyboardInterrupt`` through so the student can interrupt a slow check. In a
    notebook the grader runs (:data:`GRADED_WORK` set) it checks nothing and says so: the grader
    runs the hidden cases itself, after the notebook.
    """
    if os.environ.get(GRADED_WORK):
        message = f"[{exercise_id}] is checked by the grader after your notebook has run."
        if not quiet:
            print(message)
        return CheckResult(exercise_id, 0, 0, message)
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
    runs: list[CaseRun] = []
    for case in cases:
        runs.append(run_case(fn, _clone(case.args), _clone(case.kwargs), timeout, ex.observe))
        if runs[-1].kind == "timeout":
            break
    result = judge(ex, cases, runs)
    if not quiet:
        print(result.message)
    return result
