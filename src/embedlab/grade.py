"""Grade a class's notebooks offline: run each submission headless, then its exercises' hidden checks.

For instructors (book/instructors.md)::

    python -m embedlab.grade SUBMISSIONS_DIR [--out DIR] [--exercises ch09.ndcg_at_10,...]
        [--timeout S] [--notebook-timeout S] [--check-timeout S] [--max-output CHARS] [--keep]
    make grade SUBMISSIONS=dir/ [EXERCISES=ch09.ndcg_at_10]

**Submissions.** One ``.ipynb`` per student, directly in ``SUBMISSIONS_DIR`` (subfolders are not
searched). The student id is the ``student`` field of the notebook's metadata when it is a
non-empty string, else the file name without ``.ipynb``; characters other than letters, digits,
``.``, ``_``, ``-`` and ``@`` become ``_``, and a repeated id gets ``-2``, ``-3``, ...

**What is graded.** ``--exercises`` names the checked exercises (ids from
:func:`embedlab.exercises.list_exercises`); without it, every id that appears in a
``check("chNN.name"`` call anywhere in any submission (the student notebooks of ``make student``
name each assigned check in the exercise text and in the empty solution cell). Pass
``--exercises`` for a graded assignment, so that what is graded cannot depend on what a student
deleted. The student's function is looked up by :attr:`Exercise.function_name` (the name the
exercise text asks for: ``ndcg_at_10`` for ``ch09.ndcg_at_10``, ``my_cosine`` for
``ch02.cosine``), then by the part of the id after the dot. A missing function, or one imported
from embedlab instead of written, fails with a message saying so.

**How.** Each notebook is copied into its own fresh temporary folder and executed top to bottom
in a fresh kernel (nbclient) running this Python, with the working directory, ``HOME`` and
``TMPDIR`` pointed into that folder. A cell that runs past ``--timeout`` is interrupted (like the
stop button) and the notebook goes on; past ``--notebook-timeout`` no further cell runs. A cell
that raises does not stop the notebook. Then, in the same kernel, one more cell reloads
:mod:`embedlab.exercises`, the chapter's checks and this module (undoing casual monkeypatching),
and runs ``check(id, fn, quiet=True)`` for every exercise, each hidden case limited to
``--check-timeout``, printing each :class:`CheckResult` as JSON on a line that starts with a
sentinel and a random per-run token. The grader reads those lines, never the human text.

**Containment: what is and is not guaranteed.** A notebook that raises, loops, calls
``sys.exit`` or ``os._exit``, kills its kernel or prints megabytes loses only its own points:
the kernel runs in a separate process and process group, output kept from it is capped at
``--max-output`` characters, a kernel that ignores the interrupt is killed, and the kernel's
process group (anything the notebook started that did not leave it) is killed after each
notebook. The grader only reads ``SUBMISSIONS_DIR`` (``--out`` may not lie inside it), and a
file the notebook writes with a relative path lands in its temporary folder. This is *not* a
sandbox: the kernel runs as the same OS user with the same permissions, so code that writes to
an absolute path, deletes files, reads other students' submissions, uses the network, exhausts
memory or disk, or (running in the same process as the checks) deliberately tampers with numpy,
torch or the check's result can do so. Grade untrusted notebooks inside a container or a
throwaway account or VM; the grader defends against honest mistakes, not against an attacker.

**Outputs** in ``--out`` (default ``grades``): ``gradebook.csv`` (student, exercise, passed 0/1,
cases_passed, cases_total, message), ``feedback/<student>.md`` and ``executed/<student>.ipynb``
(the run, outputs capped), and a summary with the seconds per notebook on stdout.

:func:`export_otter` writes the same checks as Otter-Grader test files (``--otter-tests DIR``).

Why this module is over 400 lines: one concept (grade a class offline), but running a student's
notebook so that nothing in it can stop the grading (time limits at two levels, an interrupt
that may be ignored, a kernel that may die, output that may be huge) is most of it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import re
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from embedlab import exercises
from embedlab.exercises import CheckResult, check, list_exercises

__all__ = [
    "Outcome",
    "check_namespace",
    "exercises_named",
    "export_otter",
    "find_submissions",
    "function_names",
    "grade",
    "main",
]

SENTINEL = "@@embedlab-grade@@"
GRADEBOOK_COLUMNS = ["student", "exercise", "passed", "cases_passed", "cases_total", "message"]
_CHECK_CALL = re.compile(r"check\(\s*[\"'](ch\d\d\.\w+)[\"']")
_ID_CHARS = re.compile(r"[^A-Za-z0-9._@-]")


@dataclass
class Outcome:
    """What grading one notebook gave: a result per exercise and what went wrong running it."""

    student: str
    path: Path
    results: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # e.g. "cell 3 (`while True:`) ... was interrupted"
    seconds: float = 0.0
    workdir: Path | None = None  # kept only with keep=True

    @property
    def passed(self) -> int:
        return sum(bool(r) for r in self.results)


# --------------------------------------------------------------------------- inside the kernel


def function_names(exercise_id: str) -> list[str]:
    """Names to look the student's function up by: the one the exercise asks for, then the id's tail."""
    ex = exercises._load(exercise_id)
    tail = exercise_id.partition(".")[2]
    return [ex.function_name] + ([tail] if tail != ex.function_name else [])


def check_namespace(exercise_id: str, namespace: dict[str, Any], timeout: float | None) -> CheckResult:
    """Check the function a notebook defined for ``exercise_id`` (found in ``namespace``) quietly.

    Used in the student's kernel by the grader and by the Otter-Grader tests of :func:`export_otter`.
    """
    names = function_names(exercise_id)
    total = len(exercises._load(exercise_id).cases())
    found = [n for n in names if n in namespace]
    if not found:
        also = f" (nor `{names[1]}`)" if len(names) > 1 else ""
        return CheckResult(exercise_id, 0, total, f"[{exercise_id}] not checked: the notebook defines no function "
                           f"named `{names[0]}`{also}. The exercise asks for a function with exactly that name.")
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


def _report(namespace: dict[str, Any], exercise_ids: list[str], timeout: float | None, token: str) -> None:
    """Run every check in the student's kernel and print each result as ``SENTINEL token {json}``."""
    out = sys.stdout
    for eid in exercise_ids:
        try:
            with contextlib.redirect_stdout(_Capped()), contextlib.redirect_stderr(_Capped()):
                result = check_namespace(eid, namespace, timeout)
            row = {"exercise": eid, "passed": result.passed, "total": result.total, "message": result.message}
        except KeyboardInterrupt:  # the grader's limit for this cell (or the function raised it): go on
            row = {"exercise": eid, "passed": 0, "total": -1, "message": f"[{eid}] not checked: the check was "
                   "interrupted (the grader's time limit, or the function raised KeyboardInterrupt)."}
        except Exception as e:  # noqa: BLE001 - e.g. embedlab missing in the kernel: reported per exercise
            row = {"exercise": eid, "passed": 0, "total": -1,
                   "message": f"[{eid}] not checked: the grader's check failed: {type(e).__name__}: {e}"}
        out.write(f"{SENTINEL} {token} {json.dumps(row)}\n")
        out.flush()


def _grading_source(exercise_ids: list[str], timeout: float | None, token: str) -> str:
    modules = ["embedlab.exercises", *sorted({f"embedlab.checks.{e.partition('.')[0]}" for e in exercise_ids}),
               "embedlab.grade"]
    return (
        "# Added by embedlab.grade: the hidden checks, run on the functions this notebook defined.\n"
        "import importlib as _embedlab_il, sys as _embedlab_sys\n"
        f"for _embedlab_m in {modules!r}:\n"
        "    if _embedlab_m in _embedlab_sys.modules:\n"
        "        _embedlab_il.reload(_embedlab_sys.modules[_embedlab_m])\n"
        "    else:\n"
        "        _embedlab_il.import_module(_embedlab_m)\n"
        f"_embedlab_il.import_module('embedlab.grade')._report(globals(), {exercise_ids!r}, {timeout!r}, {token!r})\n"
    )


# --------------------------------------------------------------------------- finding the submissions


def _safe_id(text: str) -> str:
    return _ID_CHARS.sub("_", text.strip()).lstrip(".") or "unnamed"


def find_submissions(folder: Path) -> list[tuple[str, Path, Any]]:
    """``(student id, path, notebook or the error that stopped reading it)`` for each ``*.ipynb``."""
    import nbformat

    found: list[tuple[str, Path, Any]] = []
    seen: dict[str, int] = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        try:
            nb: Any = nbformat.read(path, as_version=4)
            named = nb.metadata.get("student")
        except Exception as e:  # noqa: BLE001 - a broken file loses its own points, nothing else
            nb, named = e, None
        student = _safe_id(named if isinstance(named, str) and named.strip() else path.stem)
        seen[student] = seen.get(student, 0) + 1
        if seen[student] > 1:
            student = f"{student}-{seen[student]}"
        found.append((student, path, nb))
    return found


def exercises_named(nb: Any) -> set[str]:
    """Ids in ``check("chNN.name"`` calls anywhere in a notebook (markdown or code)."""
    return {m for cell in nb.cells for m in _CHECK_CALL.findall("".join(cell.get("source", "")))}


# --------------------------------------------------------------------------- running one notebook


def _size(content: dict[str, Any]) -> int:
    """Characters an output message would add to the notebook (roughly; only used for the cap)."""
    n = len(content.get("text", "")) + len(content.get("evalue", ""))
    n += sum(len(line) for line in content.get("traceback", []))
    for value in content.get("data", {}).values():
        n += len(value) if isinstance(value, str) else len(json.dumps(value))
    return n


_CLIENT: type | None = None


def _client_class() -> type:
    """A NotebookClient that caps kept output and, on a cell timeout, interrupts once, then gives up."""
    global _CLIENT
    if _CLIENT is not None:
        return _CLIENT
    import nbformat
    from jupyter_core.utils import ensure_async
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    class GradingClient(NotebookClient):
        cap = 1_000_000
        kept = 0
        truncated = False
        interrupted = False
        grading_index = -1

        def output(self, outs: list[nbformat.NotebookNode], msg: dict[str, Any], display_id: str | None,
                   cell_index: int) -> nbformat.NotebookNode | None:
            content = msg.get("content", {})
            # The grading cell's result lines are always kept; anything else counts against the cap.
            if cell_index != self.grading_index or SENTINEL not in content.get("text", ""):
                self.kept += _size(content)
                if self.kept > self.cap:
                    if not self.truncated:
                        self.truncated = True
                        note = f"[embedlab.grade: output cut here, past {self.cap:,} characters]\n"
                        outs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
                    return None
            return super().output(outs, msg, display_id, cell_index)

        async def _async_handle_timeout(self, timeout: int,
                                        cell: nbformat.NotebookNode | None = None) -> dict[str, Any] | None:
            if not self.interrupted:  # first time: the stop button; wait up to `timeout` again for the reply
                self.interrupted = True
                assert self.km is not None  # a cell timed out, so its kernel is running (nbclient asserts the same)
                await ensure_async(self.km.interrupt_kernel())
                return None
            # cast: nbclient annotates cell as NotebookNode but handles None ("Cell contents not found.")
            raise CellTimeoutError.error_from_timeout_and_cell("the kernel ignored the interrupt", timeout,
                                                               cast(nbformat.NotebookNode, cell))

    _CLIENT = GradingClient
    return _CLIENT


def _kernel_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    (workdir / ".tmp").mkdir(exist_ok=True)
    # Keep what the course needs from the real home (user site-packages, caches) while HOME moves.
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    env.setdefault("MPLCONFIGDIR", os.path.join(config, "matplotlib"))  # no font-cache rebuild per student
    env.setdefault("EMBEDLAB_DATA", os.path.expanduser("~/.cache/embedlab"))
    env.setdefault("PYTHONUSERBASE", site.getuserbase())
    env.update(HOME=str(workdir), TMPDIR=str(workdir / ".tmp"), IPYTHONDIR=str(workdir / ".ipython"))
    for key in [k for k in env if k.startswith(("JPY_", "JUPYTER_", "IPY_"))]:
        del env[key]
    return env


def _first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return line if len(line) <= 40 else line[:37] + "..."


def _error_summary(outputs: list[Any]) -> str | None:
    for out in outputs:
        if out.get("output_type") == "error":
            value = (out.get("evalue") or "").strip().splitlines()
            text = value[0] if value else ""
            text = text if len(text) <= 160 else text[:157] + "..."
            return f"{out.get('ename', 'an error')}{': ' + text if text else ''}"
    return None


async def _execute(nb: Any, workdir: Path, kernel_dirs: str, ids: list[str], settings: dict[str, Any],
                   outcome: Outcome) -> str:
    """Run the student's cells, then the grading cell; returns the grading cell's stdout."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    token = secrets.token_hex(8)
    n_student = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(_grading_source(ids, settings["check_timeout"], token)))
    specs = KernelSpecManager(kernel_dirs=[kernel_dirs])
    km = AsyncKernelManager(kernel_name="embedlab-grade", kernel_spec_manager=specs)
    client = _client_class()(nb, km=km, timeout=1, allow_errors=True, record_timing=False,
                             iopub_timeout=60, startup_timeout=120)
    client.cap, client.grading_index = settings["max_output"], n_student
    log = open(workdir.parent / f"{workdir.name}.kernel.log", "wb")  # noqa: SIM115 - closed below
    pgid = None
    stdout = ""
    try:
        await client.async_start_new_kernel(env=_kernel_env(workdir), cwd=str(workdir), stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL)
        pgid = getattr(km.provisioner, "pgid", None)
        await client.async_start_new_kernel_client()
        deadline = time.monotonic() + settings["notebook_timeout"]
        alive = True
        for index, cell in enumerate(nb.cells[:n_student]):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            where = f"cell {index + 1} (`{_first_line(cell.source)}`)"
            left = deadline - time.monotonic()
            if left <= 0:
                outcome.problems.append(f"the notebook ran past its {settings['notebook_timeout']:g} s limit: "
                                        f"{where} and the cells after it were not run")
                break
            client.timeout = max(1, math.ceil(min(settings["timeout"], left)))
            client.interrupted = False
            try:
                await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except DeadKernelError:
                outcome.problems.append(f"the kernel died while running {where} (os._exit, exit(), a crash or "
                                        "running out of memory); nothing could be checked")
                alive = False
                break
            except CellTimeoutError:
                outcome.problems.append(f"{where} ran past {client.timeout} s and ignored the interrupt, so the "
                                        "kernel was stopped; nothing could be checked")
                alive = False
                break
            if client.interrupted:
                outcome.problems.append(f"{where} ran past {client.timeout} s and was interrupted")
            elif (error := _error_summary(cell.outputs)) is not None:
                outcome.problems.append(f"{where} raised {error}")
        if client.truncated:
            outcome.problems.append(f"the notebook printed more than {settings['max_output']:,} characters; "
                                    "the rest of its output was not kept")
        if alive:
            grading = nb.cells[n_student]
            client.timeout, client.interrupted = max(1, math.ceil(settings["grading_timeout"])), False
            try:
                await client.async_execute_cell(grading, n_student, execution_count=client.code_cells_executed + 1)
            except (DeadKernelError, CellTimeoutError) as e:
                what = "the kernel died" if isinstance(e, DeadKernelError) else "they ran past the grader's limit"
                outcome.problems.append(f"the checks did not finish: {what}")
            stdout = "".join(o.get("text", "") for o in grading.outputs
                             if o.get("output_type") == "stream" and o.get("name") == "stdout")
            error = _error_summary(grading.outputs)
            if error:
                outcome.problems.append(f"the checks could not run: {error}")
        return "\n".join(line for line in stdout.splitlines() if line.startswith(f"{SENTINEL} {token} "))
    finally:
        with contextlib.suppress(Exception):
            if client.kc is not None:
                client.kc.stop_channels()
        with contextlib.suppress(Exception):
            if await km.is_alive():
                await km.shutdown_kernel(now=True)
        if pgid and hasattr(os, "killpg") and pgid != os.getpgid(0):
            with contextlib.suppress(OSError):  # whatever the notebook started and left running
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await km.cleanup_resources()
        log.close()


def _parse(lines: str, ids: list[str], totals: dict[str, int], problems: list[str]) -> list[CheckResult]:
    got: dict[str, CheckResult] = {}
    for line in lines.splitlines():
        try:
            row = json.loads(line.split(" ", 2)[2])
            eid, passed, total, message = row["exercise"], int(row["passed"]), int(row["total"]), str(row["message"])
        except (IndexError, KeyError, TypeError, ValueError):
            continue
        if eid in totals and eid not in got:
            total = total if total >= 0 else totals[eid]
            got[eid] = CheckResult(eid, max(0, min(passed, total)), total, message)
    reason = problems[-1] if problems else "the checks printed no result"
    return [got[e] if e in got else CheckResult(e, 0, totals[e], f"[{e}] not checked: {reason}.") for e in ids]


def _kernelspec(root: Path) -> str:
    from ipykernel.kernelspec import make_ipkernel_cmd

    spec = root / "kernels" / "embedlab-grade"
    spec.mkdir(parents=True, exist_ok=True)
    argv = make_ipkernel_cmd(executable=sys.executable)  # this Python, whatever kernels are installed
    spec_json = {"argv": argv, "display_name": "embedlab grader", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(spec_json))
    return str(spec.parent)


def _grade_notebook(student: str, path: Path, nb: Any, ids: list[str], root: Path, settings: dict[str, Any],
                   totals: dict[str, int]) -> Outcome:
    """Grade one submission in a fresh folder under ``root`` and a fresh kernel (see the module docstring)."""
    import nbformat

    start = time.monotonic()
    outcome = Outcome(student, path)
    if isinstance(nb, Exception):
        outcome.problems.append(f"the notebook could not be read: {type(nb).__name__}: {str(nb)[:160]}")
        outcome.results = _parse("", ids, totals, outcome.problems)
        outcome.seconds = time.monotonic() - start
        return outcome
    workdir = Path(tempfile.mkdtemp(prefix=f"{student}-", dir=root))
    shutil.copy2(path, workdir / path.name)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    try:
        from jupyter_core.utils import run_sync  # also works where an event loop already runs (a notebook)

        lines = run_sync(_execute)(nb, workdir, settings["kernel_dirs"], ids, settings, outcome)
    except Exception as e:  # noqa: BLE001 - e.g. the kernel would not start: this student only
        outcome.problems.append(f"the grader could not run the notebook: {type(e).__name__}: {str(e)[:160]}")
        lines = ""
    outcome.results = _parse(lines, ids, totals, outcome.problems)
    executed = settings["out"] / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        nbformat.write(nb, executed / f"{student}.ipynb")
    if settings["keep"]:
        outcome.workdir = workdir
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        (workdir.parent / f"{workdir.name}.kernel.log").unlink(missing_ok=True)
    outcome.seconds = time.monotonic() - start
    return outcome


# --------------------------------------------------------------------------- reports


def _feedback(outcome: Outcome) -> str:
    done = f"{outcome.passed} of {len(outcome.results)} checked exercises passed"
    lines = [f"# Feedback for {outcome.student}", "", f"Notebook `{outcome.path.name}`: {done}.", "",
             "| exercise | verdict | hidden cases passed |", "|---|---|---|"]
    lines += [f"| {r.exercise} | {'passed' if r else 'not yet'} | {r.passed} of {r.total} |" for r in outcome.results]
    for r in outcome.results:
        lines += ["", f"## {r.exercise}", "", r.message.strip()]
    if outcome.problems:
        lines += ["", "## Running your notebook", ""] + [f"- {p}" for p in outcome.problems]
    return "\n".join(lines) + "\n"


def _write_reports(outcomes: list[Outcome], out: Path) -> None:
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(GRADEBOOK_COLUMNS)
        for o in outcomes:
            for r in o.results:
                writer.writerow([o.student, r.exercise, int(bool(r)), r.passed, r.total, r.message])
    for o in outcomes:
        (out / "feedback" / f"{o.student}.md").write_text(_feedback(o), encoding="utf-8")


def grade(submissions: str | Path, out: str | Path = "grades", *, exercise_ids: list[str] | None = None,
          timeout: float = 120.0, notebook_timeout: float = 600.0, check_timeout: float = exercises.DEFAULT_TIMEOUT,
          max_output: int = 1_000_000, keep: bool = False, log: Any = print) -> list[Outcome]:
    """Grade every notebook in ``submissions`` (see the module docstring); writes the reports to ``out``.

    Raises ``ValueError`` for a bad call (no such folder, ``out`` inside it, unknown exercise ids,
    nothing to grade); never because of a student's notebook.
    """
    folder, out = Path(submissions).resolve(), Path(out).resolve()
    if not folder.is_dir():
        raise ValueError(f"no submissions folder {str(folder)!r}")
    if out == folder or folder in out.parents:
        raise ValueError(f"--out {str(out)!r} lies inside the submissions folder; the grader never writes there")
    for name, value in [("timeout", timeout), ("notebook_timeout", notebook_timeout),
                        ("check_timeout", check_timeout), ("max_output", max_output)]:
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    subs = find_submissions(folder)
    if not subs:
        raise ValueError(f"no .ipynb files in {str(folder)!r}")
    known = list_exercises()
    if exercise_ids is None:
        exercise_ids = sorted(set().union(*(exercises_named(nb) for _, _, nb in subs if not isinstance(nb, Exception))))
        exercise_ids = [e for e in exercise_ids if e in known]
        if not exercise_ids:
            raise ValueError("no check(\"chNN.name\", ...) call in any submission: pass the exercises to grade")
    unknown = [e for e in exercise_ids if e not in known]
    if unknown:
        raise ValueError(f"unknown exercises {unknown}; known: {known}")
    totals = {e: len(exercises._load(e).cases()) for e in exercise_ids}
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="embedlab-grade-"))
    settings = {"timeout": timeout, "notebook_timeout": notebook_timeout, "check_timeout": check_timeout,
                "max_output": max_output, "keep": keep, "out": out, "kernel_dirs": _kernelspec(root),
                # every hidden case may use its whole limit, plus the kernel's imports
                "grading_timeout": sum(totals.values()) * check_timeout + 60}
    log(f"grading {len(subs)} notebooks in {folder} on {', '.join(exercise_ids)}")
    outcomes = []
    try:
        for student, path, nb in subs:
            outcome = _grade_notebook(student, path, nb, exercise_ids, root, settings, totals)
            outcomes.append(outcome)
            note = f"; {outcome.problems[0]}" if outcome.problems else ""
            log(f"  {student:<20} {outcome.passed}/{len(exercise_ids)} passed  {outcome.seconds:6.1f} s{note}")
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    _write_reports(outcomes, out)
    seconds = [o.seconds for o in outcomes]
    log(f"{len(outcomes)} notebooks in {sum(seconds):.1f} s ({sum(seconds) / len(seconds):.1f} s per notebook); "
        f"wrote {out / 'gradebook.csv'} and {out / 'feedback'}/" + (f"; work folders kept in {root}" if keep else ""))
    return outcomes


# --------------------------------------------------------------------------- Otter-Grader


def export_otter(exercise_ids: list[str], out: str | Path, points: float = 1) -> list[Path]:
    """Write one Otter-Grader exception-based test file per exercise into ``out/tests/``.

    Each test runs embedlab's hidden check on the student's function (looked up as the grader
    does), so embedlab must be installed where Otter grades. Then ``otter generate`` in ``out``
    builds the autograder zip, and ``otter run -a autograder.zip notebook.ipynb`` grades one
    notebook; in a student notebook, ``otter.Notebook().check("ch09_ndcg_at_10")`` runs one test.
    """
    known = list_exercises()
    unknown = [e for e in exercise_ids if e not in known]
    if unknown or not exercise_ids:
        raise ValueError(f"unknown exercises {unknown}; known: {known}")
    tests = Path(out) / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    written = []
    for eid in exercise_ids:
        name = eid.replace(".", "_")
        path = tests / f"{name}.py"
        path.write_text(
            f'"""Otter-Grader test for {eid}, written by embedlab.grade.export_otter: embedlab\'s hidden check."""\n\n'
            "from otter.test_files import test_case\n\n"
            "OK_FORMAT = False\n\n"
            f"name = {name!r}\n"
            f"points = {points!r}\n\n\n"
            f"@test_case(points={points!r}, hidden=False)\n"
            f"def test_{name}(env):\n"
            "    from embedlab.grade import check_namespace\n\n"
            f"    result = check_namespace({eid!r}, env, {exercises.DEFAULT_TIMEOUT!r})\n"
            "    assert result, result.message\n",
            encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embedlab.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", nargs="?", help="folder with one .ipynb per student")
    parser.add_argument("--out", default="grades", help="where the gradebook and feedback go (default: grades)")
    parser.add_argument("--exercises", help="comma-separated exercise ids (default: those the notebooks name)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    parser.add_argument("--notebook-timeout", type=float, default=600.0, help="seconds for all cells (default 600)")
    parser.add_argument("--check-timeout", type=float, default=exercises.DEFAULT_TIMEOUT,
                        help=f"seconds per hidden case (default {exercises.DEFAULT_TIMEOUT:g})")
    parser.add_argument("--max-output", type=int, default=1_000_000, help="output characters kept per notebook")
    parser.add_argument("--keep", action="store_true", help="keep each notebook's work folder (paths printed)")
    parser.add_argument("--otter-tests", metavar="DIR", help="write Otter-Grader tests for --exercises to DIR/tests")
    args = parser.parse_args(argv)
    ids = [e.strip() for e in args.exercises.split(",") if e.strip()] if args.exercises else None
    try:
        if args.otter_tests:
            for path in export_otter(ids or [], args.otter_tests):
                print(f"wrote {path}")
            return 0
        if not args.submissions:
            parser.error("give a submissions folder (or --otter-tests DIR with --exercises)")
        grade(args.submissions, args.out, exercise_ids=ids, timeout=args.timeout,
              notebook_timeout=args.notebook_timeout, check_timeout=args.check_timeout,
              max_output=args.max_output, keep=args.keep)
    except ValueError as e:
        print(f"embedlab.grade: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
