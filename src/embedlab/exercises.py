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

Time limit: each case may run for ``timeout`` seconds (default :data:`DEFAULT_TIMEOUT`). In the
main thread of a Unix process (a Jupyter or Colab kernel on Linux or macOS, a script, pytest)
the case is interrupted with ``SIGALRM``: the student's code stops and the verdict says which
line it was running. Elsewhere (Windows, a check started from another thread, or when a timer
is already in use) the case runs in a daemon thread and the check stops *waiting* after the
limit; Python cannot stop that thread, so a runaway loop keeps a CPU busy until the kernel is
restarted, and the message says so. Either way the signal can only be delivered between Python
bytecodes: a single long-running C call (one huge matrix product) finishes before it is noticed,
and code that catches ``BaseException`` (a bare ``except:``) inside its own loop can swallow it.

Exercises live in ``embedlab.checks.chNN`` modules (one per chapter) as :class:`Exercise`
objects named ``EXERCISES``; they are found by the prefix of the id, loaded on demand.

Why this module is over 400 lines: one concept (check a student's function, never raise), and
about half of it is the defence that promise needs (time limits, locating the student's line in
a traceback, comparing whatever comes back without trusting its ``__eq__`` or ``__repr__``).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import signal
import sys
import sysconfig
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

import numpy as np
import torch

__all__ = [
    "DEFAULT_TIMEOUT",
    "Case",
    "Exercise",
    "CheckResult",
    "check",
    "close",
    "mismatch",
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


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters; never raises (a student's ``__repr__`` might)."""
    try:
        text = repr(value)
    except BaseException:  # noqa: BLE001 - a broken __repr__ must not reach the student
        return f"<a {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
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
        return f"expected a tensor of shape {tuple(e.shape)}, got {_kind(got)} (build a tensor, e.g. with {how})"
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
            f"expected {_short(e[first].item())}, got {_short(g[first].item())}{note}"
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
        return f"expected a number, got {_kind(got)} {_short(got)}"
    if isinstance(got, (torch.Tensor, np.ndarray)):
        size = got.numel() if isinstance(got, torch.Tensor) else got.size
        if size != 1:
            return f"expected a single number, got {_kind(got)}"
        item = got.reshape(-1)[0].item()
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            return f"expected a number, got {_kind(got)}"
        return item
    if isinstance(got, (int, np.integer)):
        return int(got)
    try:
        return float(got)
    except Exception:  # noqa: BLE001 - explained, never raised
        return f"expected a number, got {_kind(got)}"


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
            return f"expected a sequence of {len(expected)} items, got {_kind(got)}"
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
        return f"expected {_short(expected)}, got {_kind(got)} that cannot be compared with it ({type(e).__name__})"
    return None if same else f"expected {_short(expected)}, got {_short(got)}"


def close(got: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """``True`` when ``got`` matches ``expected`` (see :func:`mismatch` for the rules and the reason)."""
    return mismatch(got, expected, rtol=rtol, atol=atol) is None


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
            means they match); defaults to :func:`mismatch`. It may raise on odd results: that is
            reported to the student, not raised.
        expect_error: the exception type the student's function must raise on every case
            (for exercises about validating bad input); ``reference`` is then unused.
        function: the name the exercise's text asks students to give their function, when it is
            not the part of the id after the dot (``"my_cosine"`` for ``ch02.cosine``). The
            grader (:mod:`embedlab.grade`) looks a student's function up by :attr:`function_name`.
    """

    id: str
    reference: Callable[..., Any]
    cases: Callable[[], Sequence[Case]]
    hint: str = ""
    compare: Callable[[Any, Any], str | bool | None] = mismatch
    expect_error: type[BaseException] | None = None
    function: str = ""

    @property
    def function_name(self) -> str:
        """The name of the student's function: ``function``, else the part of the id after the dot."""
        return self.function or self.id.partition(".")[2]


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


def _library_dirs() -> tuple[str, ...]:
    """Folders whose code is not the student's: embedlab, torch, numpy, the standard library and
    site-packages. Everything else (a notebook cell, ``/tmp/ipykernel_*/*.py``, a test) is theirs."""
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = {here, os.path.dirname(os.path.abspath(torch.__file__)), os.path.dirname(os.path.abspath(np.__file__))}
    paths = sysconfig.get_paths()
    dirs |= {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)}
    return tuple(os.path.realpath(d) + os.sep for d in dirs)


_LIBRARY_DIRS = _library_dirs()


def _is_students(filename: str) -> bool:
    if filename.startswith("<frozen") or not filename:
        return False
    if filename.startswith("<"):  # <ipython-input-3-...>, <string>
        return True
    return not os.path.realpath(filename).startswith(_LIBRARY_DIRS)


def _student_line(frames: Iterable[tuple[str, int | None, str | None]]) -> str:
    """`` (line N: code)`` for the innermost frame that is the student's, else ``""``.

    ``frames`` runs from the outermost to the innermost, as ``(filename, lineno, source line)``.
    """
    found = ""
    for filename, lineno, line in frames:
        if lineno is not None and _is_students(filename):
            code = (line or "").strip()
            code = code if len(code) <= 60 else code[:57] + "..."
            found = f" (line {lineno}: {code})" if code else f" (line {lineno})"
    return found


def _tb_frames(tb: TracebackType | None) -> list[tuple[str, int | None, str | None]]:
    try:
        return [(f.filename, f.lineno, f.line) for f in traceback.extract_tb(tb)]
    except Exception:  # noqa: BLE001 - only decoration; never let it break the verdict
        return []


def _stack_frames(frame: FrameType | None) -> list[tuple[str, int | None, str | None]]:
    try:
        return [(f.filename, f.lineno, f.line) for f in traceback.extract_stack(frame)]
    except Exception:  # noqa: BLE001
        return []


def _describe(e: BaseException) -> str:
    """``"ValueError: bad input (line 3: ...)"``; safe against exceptions with a broken ``__str__``."""
    try:
        text = str(e)
    except BaseException:  # noqa: BLE001
        text = ""
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = text if len(text) <= 200 else text[:197] + "..."
    where = _student_line(_tb_frames(e.__traceback__))
    if isinstance(e, SystemExit):
        text = f"sys.exit({text})" if text else "sys.exit()"
        return f"SystemExit ({text} ends the whole program; return a value instead){where}"
    return f"{type(e).__name__}{': ' + text if text else ''}{where}"


# --------------------------------------------------------------------------- the time limit


class _Timeout(BaseException):
    """Raised inside the student's code by SIGALRM; a BaseException so ``except Exception`` in
    their code does not swallow it."""


_NEVER_ENDS = "; look for a loop that never ends"


def _can_use_alarm() -> bool:
    return (
        hasattr(signal, "setitimer")
        and hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # someone else's timer: do not clobber it
    )


def _with_time_limit(work: Callable[[], Any], timeout: float | None) -> tuple[bool, Any]:
    """Run ``work()``; ``(True, its value)`` if it finished in time, else ``(False, where)`` with
    ``where`` the student's line it was running (maybe ``""``). Exceptions from ``work`` propagate."""
    if timeout is None:
        return True, work()
    if _can_use_alarm():
        fired = False

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            nonlocal fired
            fired = True
            raise _Timeout

        previous = signal.signal(signal.SIGALRM, on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                value = work()
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _Timeout as e:
            return False, _student_line(_tb_frames(e.__traceback__)) + _NEVER_ENDS
        finally:
            signal.signal(signal.SIGALRM, previous)
        if fired:  # the student's code caught _Timeout and carried on: still over time
            return False, _NEVER_ENDS
        return True, value

    # Portable fallback: run in a daemon thread and stop waiting for it after ``timeout``.
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as e:  # noqa: BLE001 - handed back to the caller's thread below
            outcome["error"] = e

    worker = threading.Thread(target=target, name="embedlab-check", daemon=True)
    worker.start()
    worker.join(timeout)  # a KeyboardInterrupt here (the interrupt button) propagates, as it should
    if worker.is_alive():
        frame = sys._current_frames().get(worker.ident or -1)
        where = _student_line(_stack_frames(frame))
        return False, f"{where}{_NEVER_ENDS}; it is still running in the background (restart the kernel to stop it)"
    if "error" in outcome:
        raise outcome["error"]
    return True, outcome["value"]


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


def _run_case(ex: Exercise, fn: Callable[..., Any], case: Case, expected: Any) -> str | None:
    """The student's part of one case (their call and the comparison of what it returned):
    a failure reason, or ``None`` when it passed. Raises only ``KeyboardInterrupt`` and ``_Timeout``."""
    args, kwargs = _clone(case.args), _clone(case.kwargs)
    if ex.expect_error is not None:
        want = ex.expect_error.__name__
        try:
            fn(*args, **kwargs)
        except ex.expect_error:
            return None
        except (KeyboardInterrupt, _Timeout):
            raise
        except BaseException as e:  # noqa: BLE001 - SystemExit included: reported, never raised
            return f"expected {want}, got {_describe(e)}"
        return f"expected {want} to be raised, nothing was"
    try:
        got = fn(*args, **kwargs)
    except (KeyboardInterrupt, _Timeout):
        raise
    except BaseException as e:  # noqa: BLE001
        return f"your function raised {_describe(e)}"
    if got is None and expected is not None:
        return "your function returned None; did you forget `return`?"
    try:
        return _verdict(ex.compare(got, expected))
    except (KeyboardInterrupt, _Timeout):
        raise
    except BaseException as e:  # noqa: BLE001 - an odd returned object (its __eq__, __float__, ... raised)
        return f"could not compare what your function returned ({_kind(got)}): {_describe(e)}"


def check(
    exercise_id: str, fn: Callable[..., Any], *, quiet: bool = False, timeout: float | None = DEFAULT_TIMEOUT
) -> CheckResult:
    """Run ``fn`` on the hidden cases of ``exercise_id`` and print a verdict.

    Returns a :class:`CheckResult` (truthy when all cases pass). Stops at the first failing case
    and names it. ``timeout`` is the limit in seconds for each case (``None``: no limit; see the
    module docstring for how it is enforced and its limits).

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
            f"but got {_kind(fn)}. Pass the function's name, without calling it."
        )
        if not quiet:
            print(message)
        return CheckResult(exercise_id, 0, len(cases), message)
    passed = 0
    failure = ""
    for n, case in enumerate(cases, 1):
        label = f"case {n} of {len(cases)}" + (f" ({case.label})" if case.label else "")
        problem = _signature_problem(fn, case.args, case.kwargs)
        if problem:
            failure = f"{label}: {problem}"
            break
        expected = None
        if ex.expect_error is None:
            expected = ex.reference(*_clone(case.args), **_clone(case.kwargs))
        try:
            finished, outcome = _with_time_limit(functools.partial(_run_case, ex, fn, case, expected), timeout)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - belt and braces: nothing of the student's escapes
            finished, outcome = True, f"your function raised {_describe(e)}"
        if not finished:
            failure = f"{label}: your function did not finish within {timeout:g} s{outcome}"
            break
        if outcome is not None:
            failure = f"{label}: {outcome}"
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
