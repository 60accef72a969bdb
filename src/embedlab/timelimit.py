"""Running a student's code for one hidden case: a time limit, and the student's line in a verdict.

Used by :mod:`embedlab.exercises` (a check in the student's own notebook) and
:mod:`embedlab.grading.kernel` (the grader's cell in a graded notebook). :func:`run_case` calls the
student's function on one case and keeps what happened as data, a :class:`CaseRun` (what it
returned, in the wire form of :mod:`embedlab.grading.wire`, or what it raised): judging it is
:func:`embedlab.exercises.judge`'s job, which the grader does in its own process.

In the main thread of a Unix process (a Jupyter or Colab kernel on Linux or macOS, a script,
pytest) a case past its limit is interrupted with ``SIGALRM`` and the verdict says which of the
student's lines it was running. Elsewhere (Windows, another thread, a timer already in use) the
case runs in a daemon thread and the check stops *waiting* after the limit; Python cannot stop
that thread. Either way the signal arrives between bytecodes: one long C call finishes first, and
a bare ``except:`` in the student's own loop can swallow it (:func:`run_with_time_limit` notices
and still reports the case as too slow).

"The student's line" is the innermost frame of a traceback or stack that is not embedlab's,
torch's, numpy's, the standard library's or site-packages' (:func:`is_students_file`).
"""

from __future__ import annotations

import inspect
import os
import signal
import sys
import sysconfig
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

import numpy as np
import torch

__all__ = ["CaseRun", "CaseTimeout", "describe_exception", "is_students_file", "run_case", "run_with_time_limit",
           "signature_problem", "student_line"]


def _library_dirs() -> tuple[str, ...]:
    """Folders whose code is not the student's: embedlab, torch, numpy, the standard library and
    site-packages. Everything else (a notebook cell, ``/tmp/ipykernel_*/*.py``, a test) is theirs."""
    here = os.path.dirname(os.path.abspath(__file__))  # the embedlab package
    dirs = {here, os.path.dirname(os.path.abspath(torch.__file__)), os.path.dirname(os.path.abspath(np.__file__))}
    paths = sysconfig.get_paths()
    dirs |= {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)}
    return tuple(os.path.realpath(d) + os.sep for d in dirs)


_LIBRARY_DIRS = _library_dirs()


def is_students_file(filename: str) -> bool:
    if filename.startswith("<frozen") or not filename:
        return False
    if filename.startswith("<"):  # <ipython-input-3-...>, <string>
        return True
    return not os.path.realpath(filename).startswith(_LIBRARY_DIRS)


def student_line(frames: Iterable[tuple[str, int | None, str | None]]) -> str:
    """`` (line N: code)`` for the innermost frame that is the student's, else ``""``.

    ``frames`` runs from the outermost to the innermost, as ``(filename, lineno, source line)``.
    """
    found = ""
    for filename, lineno, line in frames:
        if lineno is not None and is_students_file(filename):
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


def describe_exception(e: BaseException) -> str:
    """``"ValueError: bad input (line 3: ...)"``; safe against exceptions with a broken ``__str__``."""
    try:
        text = str(e)
    except BaseException:  # noqa: BLE001
        text = ""
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = text if len(text) <= 200 else text[:197] + "..."
    where = student_line(_tb_frames(e.__traceback__))
    if isinstance(e, SystemExit):
        text = f"sys.exit({text})" if text else "sys.exit()"
        return f"SystemExit ({text} ends the whole program; return a value instead){where}"
    return f"{type(e).__name__}{': ' + text if text else ''}{where}"


# --------------------------------------------------------------------------- the time limit


class CaseTimeout(BaseException):
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


def run_with_time_limit(work: Callable[[], Any], timeout: float | None) -> tuple[bool, Any]:
    """Run ``work()``; ``(True, its value)`` if it finished in time, else ``(False, where)`` with
    ``where`` the student's line it was running (maybe ``""``). Exceptions from ``work`` propagate."""
    if timeout is None:
        return True, work()
    if _can_use_alarm():
        fired = False

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            nonlocal fired
            fired = True
            raise CaseTimeout

        previous = signal.signal(signal.SIGALRM, on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                value = work()
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except CaseTimeout as e:
            return False, student_line(_tb_frames(e.__traceback__)) + _NEVER_ENDS
        finally:
            signal.signal(signal.SIGALRM, previous)
        if fired:  # the student's code caught CaseTimeout and carried on: still over time
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
        where = student_line(_stack_frames(frame))
        return False, f"{where}{_NEVER_ENDS}; it is still running in the background (restart the kernel to stop it)"
    if "error" in outcome:
        raise outcome["error"]
    return True, outcome["value"]


# --------------------------------------------------------------------------- one case, as data

_KINDS = ("returned", "raised", "call", "timeout")


@dataclass(frozen=True)
class CaseRun:
    """What the student's function did on one hidden case, as data that can be judged elsewhere.

    ``kind``: ``"returned"`` (``value`` holds the result in wire form), ``"raised"`` (``raised``
    lists the exception's classes as ``"module.QualName"``, most derived first, ``text`` describes
    it), ``"call"`` (the function cannot be called with the case's arguments: ``text`` says why) or
    ``"timeout"`` (``text`` says where it was).
    """

    kind: str
    value: Any = None
    raised: tuple[str, ...] = ()
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "raised": list(self.raised), "text": self.text}

    @classmethod
    def from_json(cls, obj: Any) -> CaseRun:
        """Read one back from what a kernel wrote; ``ValueError`` if it is not one."""
        if not isinstance(obj, dict) or obj.get("kind") not in _KINDS:
            raise ValueError("not a case run")
        raised, text = obj.get("raised", []), obj.get("text", "")
        if not isinstance(raised, list) or not all(isinstance(r, str) for r in raised) or not isinstance(text, str):
            raise ValueError("not a case run")
        return cls(obj["kind"], obj.get("value"), tuple(r[:200] for r in raised[:64]), text[:1000])


def signature_problem(fn: Callable[..., Any], args: tuple, kwargs: dict) -> str | None:
    """Why ``fn`` cannot be called with ``args`` and ``kwargs`` (in the student's words), or ``None``."""
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


def _class_names(e: BaseException) -> tuple[str, ...]:
    return tuple(f"{c.__module__}.{c.__qualname__}" for c in type(e).__mro__)


def run_case(fn: Callable[..., Any], args: tuple, kwargs: dict, timeout: float | None,
             observe: str | None = None) -> CaseRun:
    """Call ``fn(*args, **kwargs)`` within ``timeout`` seconds and keep what happened (see
    :class:`CaseRun`). Turning the result into data (:func:`embedlab.grading.wire.observe`) runs
    under the same limit: a returned object is the student's, and so is its code. Raises only
    ``KeyboardInterrupt``."""
    from embedlab.grading.wire import observe as to_data

    problem = signature_problem(fn, args, kwargs)
    if problem:
        return CaseRun("call", text=problem)

    def work() -> CaseRun:
        try:
            got = fn(*args, **kwargs)
        except (KeyboardInterrupt, CaseTimeout):
            raise
        except BaseException as e:  # noqa: BLE001 - SystemExit included: reported, never raised
            return CaseRun("raised", raised=_class_names(e), text=describe_exception(e))
        return CaseRun("returned", value=to_data(got, observe))

    try:
        finished, outcome = run_with_time_limit(work, timeout)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - e.g. the returned object's own code raised while read
        return CaseRun("raised", raised=_class_names(e), text=f"{describe_exception(e)} (reading what it returned)")
    if not finished:
        return CaseRun("timeout", text=f"your function did not finish within {timeout:g} s{outcome}")
    return outcome
