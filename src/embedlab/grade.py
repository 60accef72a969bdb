"""Grade a class's notebooks offline: run each submission headless, then its exercises' hidden checks.

For instructors (book/instructors.md)::

    python -m embedlab.grade SUBMISSIONS_DIR [--out DIR] [--overwrite] [--exercises ch09.ndcg_at_10,...]
        [--points ch09.ndcg_at_10=2,...] [--feedback full|hints|pass-fail] [--id-from-metadata]
        [--timeout S] [--notebook-timeout S] [--check-timeout S] [--max-output CHARS] [--keep]
        [--sandbox auto|required|off] [--memory-gb G]
    make grade SUBMISSIONS=dir/ [EXERCISES=ch09.ndcg_at_10] [FEEDBACK=hints]

This module is the command; the steps live in :mod:`embedlab.grading` (submissions, the kernel
side, running a notebook, reports, the Otter export).

**Submissions.** One notebook per student, found by :func:`embedlab.grading.submissions.find_submissions`:
``name.ipynb`` directly in ``SUBMISSIONS_DIR``, Canvas's flat download names, or a subfolder per
student (Moodle's download). Ids come from the file or folder names, Unicode-normalised and never
mangled; the notebook's metadata is ignored unless ``--id-from-metadata``. Several notebooks for
one id: the one modified last is graded, and the others are listed loudly (and in ``notes.txt``).

**What is graded.** ``--exercises`` names the checked exercises (ids from
:func:`embedlab.exercises.list_exercises`); without it, every id that appears in a
``check("chNN.name"`` call anywhere in any submission. Pass ``--exercises`` for a graded
assignment, so that what is graded cannot depend on what a student deleted. The student's
function is looked up by :attr:`Exercise.function_name` (the name the exercise text asks for),
then by the part of the id after the dot; a missing function fails with a message naming the
expected function and the functions the notebook defines, one imported from embedlab fails too.
Every hidden case is run and counted; each exercise is worth its :attr:`Exercise.points` (or
``--points``), earned in proportion to the cases passed.

**How** (:mod:`embedlab.grading.run`): each notebook runs top to bottom in a fresh kernel and a
fresh temporary folder; a cell past ``--timeout`` is interrupted and the notebook goes on; past
``--notebook-timeout`` no further cell runs. Then one more cell runs the student's functions on
the hidden cases, each case limited to ``--check-timeout``.

**Verdicts are formed outside the student's process.** The student's kernel only runs the
student's functions on the hidden inputs (written into its folder after the student's cells ran)
and hands back what they returned, as data; the grader compares that with the reference in its own
process, against expected values that never enter the kernel. Nothing the kernel prints is read.
Patching ``numpy.isclose`` or a tensor's ``__eq__``, rewriting printed verdicts or replacing the
check function changes nothing; while a student's function runs, the library functions an
exercise asks them to write (:attr:`Exercise.forbids`) raise "not available in graded work".

**Containment** (``--sandbox``, :mod:`embedlab.grading.sandbox`). By default (``auto``) each
kernel runs sandboxed where the machine allows it (Linux with unprivileged user namespaces): no
network, nothing writable but its own folder (not the package, not site-packages, not the output
folder), the class folder, the output folder, the other work folders and the hidden checks out of
sight, ``--memory-gb`` of address space, and every process it started killed, and checked, before
the next notebook runs and before the gradebook is written. Where it cannot, the grader says so
loudly, says what is not protected, and goes on (``--sandbox required`` refuses instead; ``off``
is for debugging). Either way, a notebook that raises, loops, calls ``sys.exit`` or ``os._exit``,
kills its kernel or prints megabytes loses only its own points: a cell past ``--timeout`` is
interrupted, output kept is capped at ``--max-output`` characters, a kernel that ignores the
interrupt is killed.

**Outputs** in ``--out`` (default ``grades``), which must be new or empty (``--overwrite``
replaces a previous run's files, so no stale feedback remains): ``gradebook.csv`` (a row per
student and exercise: student, file, exercise, passed 0/1, cases_passed, cases_total, points,
max_points, message), ``grades.csv`` (a row per student: student, file, submitted, a column of
points per exercise, total, possible), ``feedback/<student>.md`` in the ``--feedback`` mode
(:mod:`embedlab.grading.reports`; ``hints`` and ``pass-fail`` never show a hidden expected value),
``executed/<student>.ipynb`` (the run, outputs capped), ``notes.txt`` (duplicates and look-alike
ids, when any), and a summary with the seconds per notebook on stdout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from embedlab import exercises
from embedlab.exercises import list_exercises
from embedlab.grading import sandbox
from embedlab.grading.otter import export_otter
from embedlab.grading.reports import FEEDBACK_MODES, file_names, prepare_out, write_reports
from embedlab.grading.run import Outcome, cases_payload, grade_notebook, hidden_cases
from embedlab.grading.submissions import exercises_named, find_submissions

__all__ = ["SANDBOXING", "grade", "main"]

SANDBOXING = ("auto", "required", "off")


def grade(submissions: str | Path, out: str | Path = "grades", *, exercise_ids: list[str] | None = None,
          timeout: float = 120.0, notebook_timeout: float = 600.0, check_timeout: float = exercises.DEFAULT_TIMEOUT,
          max_output: int = 1_000_000, keep: bool = False, overwrite: bool = False, feedback: str = "full",
          points: dict[str, float] | None = None, id_from_metadata: bool = False,
          sandboxing: str = "auto", memory_gb: float = 8.0, log: Any = print) -> list[Outcome]:
    """Grade every submission in ``submissions`` (see the module docstring); writes the reports to ``out``.

    Raises ``ValueError`` for a bad call (no such folder, ``out`` inside it or not empty without
    ``overwrite``, unknown exercise ids or feedback mode, nothing to grade, ``sandboxing="required"``
    on a machine that cannot sandbox); never because of a student's notebook.
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
    if sandboxing not in SANDBOXING:
        raise ValueError(f"sandboxing must be one of {', '.join(SANDBOXING)}, got {sandboxing!r}")
    if not memory_gb > 0:
        raise ValueError(f"memory_gb must be positive, got {memory_gb!r}")
    why_not = sandbox.probe() if sandboxing != "off" else "--sandbox off"
    if why_not and sandboxing == "required":
        raise ValueError(f"--sandbox required, but this machine cannot sandbox the notebooks: {why_not}")
    if feedback not in FEEDBACK_MODES:
        raise ValueError(f"feedback must be one of {', '.join(FEEDBACK_MODES)}, got {feedback!r}")
    subs, notes = find_submissions(folder, id_from_metadata=id_from_metadata)
    if not subs:
        raise ValueError(f"no .ipynb files in {str(folder)!r} or its student subfolders")
    known = list_exercises()
    if exercise_ids is None:
        named = set().union(*(exercises_named(s.notebook) for s in subs if not isinstance(s.notebook, Exception)))
        exercise_ids = [e for e in sorted(named) if e in known]
        if not exercise_ids:
            raise ValueError("no check(\"chNN.name\", ...) call in any submission: pass the exercises to grade")
    unknown = [e for e in [*exercise_ids, *(points or {})] if e not in known]
    if unknown:
        raise ValueError(f"unknown exercises {unknown}; known: {known}")
    bad = {e: p for e, p in (points or {}).items() if not p > 0}
    if bad:
        raise ValueError(f"points must be positive, got {bad}")
    hidden = hidden_cases(exercise_ids)
    loaded = {e: h.exercise for e, h in hidden.items()}
    totals = {e: len(h.cases) for e, h in hidden.items()}
    worth = {e: float((points or {}).get(e, ex.points)) for e, ex in loaded.items()}
    prepare_out(out, overwrite)
    names = file_names([s.student for s in subs])
    root = Path(tempfile.mkdtemp(prefix="embedlab-grade-"))
    settings = {"timeout": timeout, "notebook_timeout": notebook_timeout, "check_timeout": check_timeout,
                "max_output": max_output, "keep": keep, "out": out, "feedback": feedback, "file_names": names,
                "sandbox": why_not is None, "hide": sandbox.hidden_paths(folder, out, root), "memory_gb": memory_gb,
                "cases_payload": cases_payload(hidden, check_timeout),
                # every hidden case may use its whole limit, plus the kernel's imports
                "grading_timeout": sum(totals.values()) * check_timeout + 60}
    log(f"grading {len(subs)} notebooks in {folder} on {', '.join(exercise_ids)}"
        + (", each in a sandbox" if why_not is None else ""))
    if why_not is not None:
        log("WARNING: NOT SANDBOXED: " + sandbox.UNPROTECTED.format(why=why_not))
    for note in notes:
        log(f"NOTE: {note}")
    outcomes = []
    try:
        for sub in subs:
            outcome = grade_notebook(sub, hidden, root, settings)
            outcomes.append(outcome)
            note = f"; {outcome.problems[0]}" if outcome.problems else ""
            log(f"  {sub.student:<20} {outcome.passed}/{len(exercise_ids)} passed  {outcome.seconds:6.1f} s{note}")
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    write_reports(outcomes, out, exercise_ids, worth, feedback, {e: ex.hint for e, ex in loaded.items()}, notes,
                  names)
    seconds = [o.seconds for o in outcomes]
    log(f"{len(outcomes)} notebooks in {sum(seconds):.1f} s ({sum(seconds) / len(seconds):.1f} s per notebook); "
        f"wrote {out / 'gradebook.csv'}, {out / 'grades.csv'} and {out / 'feedback'}/"
        + (f"; work folders kept in {root}" if keep else "")
        + (f"; {len(notes)} notes to read above and in {out / 'notes.txt'}" if notes else ""))
    return outcomes


def _points(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    try:
        return {e.strip(): float(p) for e, _, p in (item.partition("=") for item in text.split(",") if item.strip())}
    except ValueError as e:
        raise ValueError(f"--points takes ch09.ndcg_at_10=2,...: {e}") from e


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embedlab.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", nargs="?", help="folder with the class's notebooks (flat, Canvas or Moodle)")
    parser.add_argument("--out", default="grades", help="where the gradebooks and feedback go (default: grades)")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous run's files in --out")
    parser.add_argument("--exercises", help="comma-separated exercise ids (default: those the notebooks name)")
    parser.add_argument("--points", help="points per exercise, e.g. ch09.ndcg_at_10=2 (default: each check's)")
    parser.add_argument("--feedback", choices=FEEDBACK_MODES, default="full",
                        help="full (the check's verdict), hints (no expected values) or pass-fail")
    parser.add_argument("--id-from-metadata", action="store_true",
                        help="take the student id from the notebook's metadata 'student' field when set")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    parser.add_argument("--notebook-timeout", type=float, default=600.0, help="seconds for all cells (default 600)")
    parser.add_argument("--check-timeout", type=float, default=exercises.DEFAULT_TIMEOUT,
                        help=f"seconds per hidden case (default {exercises.DEFAULT_TIMEOUT:g})")
    parser.add_argument("--max-output", type=int, default=1_000_000, help="output characters kept per notebook")
    parser.add_argument("--keep", action="store_true", help="keep each notebook's work folder (paths printed)")
    parser.add_argument("--sandbox", choices=SANDBOXING, default="auto",
                        help="auto (sandbox where the machine can, warn loudly where not), required, or off")
    parser.add_argument("--memory-gb", type=float, default=8.0, help="address space per sandboxed kernel (default 8)")
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
              max_output=args.max_output, keep=args.keep, overwrite=args.overwrite, feedback=args.feedback,
              points=_points(args.points), id_from_metadata=args.id_from_metadata, sandboxing=args.sandbox,
              memory_gb=args.memory_gb)
    except ValueError as e:
        print(f"embedlab.grade: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
