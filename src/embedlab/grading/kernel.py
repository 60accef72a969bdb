"""What runs inside a student's kernel: find each exercise's function, run its hidden check, and
hand every result back as data (one JSON line per exercise, after a sentinel and a per-run token).

Used by :mod:`embedlab.grading.run` (the cell it appends to each notebook) and by the
Otter-Grader tests of :mod:`embedlab.grading.otter`. Keep this module small: it is the part of
the grader that runs in the student's process, the part a later, out-of-process comparison
shrinks to "call the function on the inputs and return the outputs".
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import types
from typing import Any

from embedlab import exercises
from embedlab.exercises import CheckResult, check

__all__ = ["GRADING_CELL_MARK", "SENTINEL", "check_namespace", "function_names", "grading_source", "report"]

SENTINEL = "@@embedlab-grade@@"
GRADING_CELL_MARK = "# Added by embedlab.grade"


def function_names(exercise_id: str) -> list[str]:
    """Names to look the student's function up by: the one the exercise asks for, then the id's tail."""
    ex = exercises._load(exercise_id)
    tail = exercise_id.partition(".")[2]
    return [ex.function_name] + ([tail] if tail != ex.function_name else [])


def _defined_functions(namespace: dict[str, Any]) -> list[str]:
    """The public functions the notebook itself defined (not imported from a package)."""
    return sorted(name for name, value in namespace.items()
                  if isinstance(value, types.FunctionType) and not name.startswith("_")
                  and getattr(value, "__module__", None) in (None, "__main__", "builtins"))


def check_namespace(exercise_id: str, namespace: dict[str, Any], timeout: float | None) -> CheckResult:
    """Check the function a notebook defined for ``exercise_id`` (found in ``namespace``) quietly.

    A missing function fails with a message naming the function the exercise asks for and the
    functions the notebook does define (a correct ``my_lookup`` is not graded as
    ``one_hot_lookup``, but the student is told why).
    """
    names = function_names(exercise_id)
    total = len(exercises._load(exercise_id).cases())
    found = [n for n in names if n in namespace]
    if not found:
        also = f" (nor `{names[1]}`)" if len(names) > 1 else ""
        defined = _defined_functions(namespace)
        listed = (f"; it defines {', '.join(f'`{n}`' for n in defined)}" if defined else "; it defines no function")
        return CheckResult(exercise_id, 0, total, f"[{exercise_id}] not checked: the notebook defines no function "
                           f"named `{names[0]}`{also}{listed}. The exercise asks for a function with exactly that "
                           f"name: rename yours to `{names[0]}`.")
    fn = namespace[found[0]]
    module = getattr(fn, "__module__", None)
    if isinstance(module, str) and module.partition(".")[0] == "embedlab":
        return CheckResult(exercise_id, 0, total, f"[{exercise_id}] not checked: `{found[0]}` is {module}'s "
                           "function, imported rather than written in the notebook.")
    return check(exercise_id, fn, quiet=True, timeout=timeout)


class _Capped(io.TextIOBase):
    """A text sink that keeps at most ``limit`` characters (what the student prints during a check)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.kept, self.limit = 0, limit

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.kept = min(self.limit, self.kept + len(text))
        return len(text)


def report(namespace: dict[str, Any], exercise_ids: list[str], timeout: float | None, token: str,
           results_file: str | None = None) -> None:
    """Run every check in the student's kernel and print each result as ``SENTINEL token {json}``,
    also appended to ``results_file`` when given (the kernel's output channel may drop messages
    under load, after a notebook printed megabytes; a file does not)."""
    out = sys.stdout
    for eid in exercise_ids:
        try:
            with contextlib.redirect_stdout(_Capped()), contextlib.redirect_stderr(_Capped()):
                result = check_namespace(eid, namespace, timeout)
            row = {"exercise": eid, "passed": result.passed, "total": result.total, "message": result.message,
                   "failures": [list(f) for f in result.failures]}
        except KeyboardInterrupt:  # the grader's limit for this cell (or the function raised it): go on
            row = {"exercise": eid, "passed": 0, "total": -1, "message": f"[{eid}] not checked: the check was "
                   "interrupted (the grader's time limit, or the function raised KeyboardInterrupt)."}
        except Exception as e:  # noqa: BLE001 - e.g. embedlab missing in the kernel: reported per exercise
            row = {"exercise": eid, "passed": 0, "total": -1,
                   "message": f"[{eid}] not checked: the grader's check failed: {type(e).__name__}: {e}"}
        line = f"{SENTINEL} {token} {json.dumps(row)}\n"
        out.write(line)
        out.flush()
        if results_file:
            with open(results_file, "a", encoding="utf-8") as f:
                f.write(line)


def grading_source(exercise_ids: list[str], timeout: float | None, token: str, results_file: str | None = None) -> str:
    """The cell appended to a notebook: reload the checks (undoing casual monkeypatching), then report."""
    modules = ["embedlab.exercises", *sorted({f"embedlab.checks.{e.partition('.')[0]}" for e in exercise_ids}),
               "embedlab.grading.kernel"]
    return (
        f"{GRADING_CELL_MARK}: the hidden checks, run on the functions this notebook defined.\n"
        "import importlib as _embedlab_il, sys as _embedlab_sys\n"
        f"for _embedlab_m in {modules!r}:\n"
        "    if _embedlab_m in _embedlab_sys.modules:\n"
        "        _embedlab_il.reload(_embedlab_sys.modules[_embedlab_m])\n"
        "    else:\n"
        "        _embedlab_il.import_module(_embedlab_m)\n"
        f"_embedlab_il.import_module('embedlab.grading.kernel').report(globals(), {exercise_ids!r}, {timeout!r}, "
        f"{token!r}, {results_file!r})\n"
    )
