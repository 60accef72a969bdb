"""What runs inside a graded student's kernel: call each exercise's function on the hidden inputs
and hand back what it did, as data. No verdict is formed here.

Used by :mod:`embedlab.grading.run`, which appends one cell calling :func:`evaluate` to each
notebook after the student's cells, and only then writes the hidden inputs (wire form,
:mod:`embedlab.grading.wire`) into the notebook's work folder. :func:`evaluate` finds the function
each exercise asks for, runs it on every case (:func:`embedlab.timelimit.run_case`) and appends
one JSON line per case to a file; the grader reads those lines as data and compares them with the
reference in its own process (:func:`embedlab.exercises.judge`). The expected values never enter
the kernel, and in a sandbox (:mod:`embedlab.grading.sandbox`) neither do the hidden checks.

Everything here runs in the student's process, so none of it is trusted: a notebook can replace
this module and write any line it likes. What it cannot do is make a wrong result compare equal
(the comparison is elsewhere) or call the library function that is the exercise's answer while its
function runs (:func:`unavailable`). A student who copies that function's source from the package
defeats the second; so does reading the book's published solution.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import types
from collections.abc import Iterator
from typing import Any

from embedlab.grading import wire
from embedlab.timelimit import run_case

__all__ = ["CASES_FILE", "GRADING_CELL_MARK", "RUNS_FILE", "evaluate", "find_function", "grading_source",
           "unavailable"]

GRADING_CELL_MARK = "# Added by embedlab.grade"
CASES_FILE = ".embedlab-cases.json"
RUNS_FILE = ".embedlab-runs.jsonl"


def _defined_functions(namespace: dict[str, Any]) -> list[str]:
    """The public functions the notebook itself defined (not imported from a package)."""
    return sorted(name for name, value in namespace.items()
                  if isinstance(value, types.FunctionType) and not name.startswith("_")
                  and getattr(value, "__module__", None) in (None, "__main__", "builtins"))


def find_function(namespace: dict[str, Any], exercise_id: str, names: list[str]) -> tuple[Any, str]:
    """``(the student's function, "")`` for ``exercise_id``, looked up by ``names`` in order, or
    ``(None, why not)``: a missing function is named with the functions the notebook does define
    (a correct ``my_lookup`` is not graded as ``one_hot_lookup``, but the student is told why), and a
    function imported from embedlab is refused."""
    found = [n for n in names if n in namespace]
    if not found:
        also = f" (nor `{names[1]}`)" if len(names) > 1 else ""
        defined = _defined_functions(namespace)
        listed = (f"; it defines {', '.join(f'`{n}`' for n in defined)}" if defined else "; it defines no function")
        return None, (f"[{exercise_id}] not checked: the notebook defines no function named `{names[0]}`{also}"
                      f"{listed}. The exercise asks for a function with exactly that name: rename yours to "
                      f"`{names[0]}`.")
    fn = namespace[found[0]]
    module = getattr(fn, "__module__", None)
    if isinstance(module, str) and module.partition(".")[0] == "embedlab":
        return None, (f"[{exercise_id}] not checked: `{found[0]}` is {module}'s function, imported rather than "
                      "written in the notebook.")
    return fn, ""


def _resolve(dotted: str) -> tuple[Any, str, Any] | None:
    """``(owner, attribute, value)`` for ``"package.module.function"`` (or ``module.Class.method``)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:-1]:
                owner = getattr(owner, name)
            return owner, parts[-1], getattr(owner, parts[-1])
        except AttributeError:
            return None
    return None


@contextlib.contextmanager
def unavailable(names: list[str], exercise_id: str) -> Iterator[None]:
    """While inside, each function in ``names`` raises ``RuntimeError("... is not available in
    graded work ...")``, however the student's code reaches it.

    A Python function gets a new ``__code__``, so every reference to that one function object
    (imported under another name, wrapped in a ``def``, a ``lambda`` or a ``functools.partial``)
    meets it; anything else (a builtin such as ``torch.topk``) is replaced where it is defined.
    Restored on the way out.
    """
    undo: list[Any] = []
    try:
        for dotted in names:
            found = _resolve(dotted)
            if found is None:
                continue
            owner, attr, fn = found
            message = (f"{dotted} is not available in graded work: exercise {exercise_id} asks you to write it "
                       "yourself, without it")
            if isinstance(fn, types.FunctionType) and not fn.__code__.co_freevars:
                key = f"__embedlab_graded_work_{fn.__code__.co_name}__"
                scope: dict[str, Any] = {}
                exec(f"def {fn.__code__.co_name}(*args, **kwargs):\n    raise RuntimeError({key})\n", scope)
                undo.append((fn, fn.__code__, fn.__globals__, key))
                fn.__globals__[key] = message
                fn.__code__ = scope[fn.__code__.co_name].__code__
            else:
                def stub(*args: Any, _message: str = message, **kwargs: Any) -> Any:
                    raise RuntimeError(_message)

                undo.append((owner, attr, fn))
                setattr(owner, attr, stub)
        yield
    finally:
        for item in reversed(undo):
            if len(item) == 4:
                fn, code, scope_, key = item
                fn.__code__ = code
                scope_.pop(key, None)
            else:
                setattr(*item)


class _Capped(io.TextIOBase):
    """A text sink for what the student's function prints while it is graded (kept nowhere)."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def evaluate(namespace: dict[str, Any], cases_file: str = CASES_FILE, runs_file: str = RUNS_FILE) -> None:
    """Run every exercise in ``cases_file`` (written by the grader) on the function ``namespace``
    defines, appending one JSON line per case (or one per missing function) to ``runs_file``."""
    with open(cases_file, encoding="utf-8") as f:
        spec = json.load(f)
    with open(runs_file, "a", encoding="utf-8") as out:
        for ex in spec["exercises"]:
            eid = ex["id"]
            fn, why = find_function(namespace, eid, ex["names"])
            if fn is None:
                out.write(json.dumps({"exercise": eid, "missing": why}) + "\n")
                out.flush()
                continue
            with unavailable(ex["forbids"], eid):
                for n, case in enumerate(ex["cases"]):
                    args, kwargs = wire.decode(case["args"]), wire.decode(case["kwargs"])
                    with contextlib.redirect_stdout(_Capped()), contextlib.redirect_stderr(_Capped()):
                        run = run_case(fn, tuple(args), kwargs, ex["timeout"], ex["observe"])
                    out.write(json.dumps({"exercise": eid, "case": n, "run": run.to_json()}) + "\n")
                    out.flush()  # what ran is kept even if a later case kills the kernel
                    if run.kind == "timeout":
                        break


def grading_source() -> str:
    """The cell appended to a graded notebook."""
    return (f"{GRADING_CELL_MARK}: the hidden cases, run on the functions this notebook defined; the grader\n"
            "# compares the results outside this notebook.\n"
            "import embedlab.grading.kernel as _embedlab_grading_kernel\n"
            "_embedlab_grading_kernel.evaluate(globals())\n")
