"""What a grading run writes: a fresh output folder, two gradebooks and each student's feedback.

Used by :mod:`embedlab.grade` (book/instructors.md). The output folder is fresh for every run: a
folder that is not empty is refused unless ``overwrite`` is given, and then only a previous run's
files may be in it (they are removed first, so no stale feedback of a student who is no longer in
the class remains).

**Points.** Each exercise is worth :attr:`Exercise.points` (1 unless changed), earned in
proportion to the hidden cases passed: 3 of 5 cases of a 2-point exercise earn 1.2 points.

**Feedback modes.** ``full`` shows each check's verdict as the student's own ``check(...)`` call
prints it (the first failing case, its reason, which may quote the expected value, and the hint).
The two *marked* modes never show an expected value: ``hints`` gives the cases passed, which cases
failed and how (the function raised, timed out or could not be called: those reasons are shown;
a wrong value is only called wrong) and the exercise's hint; ``pass-fail`` gives each exercise's
pass or fail and nothing else. The mode also sets the gradebook's ``message`` column.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from embedlab.exercises import CheckResult
from embedlab.grading.run import Outcome
from embedlab.grading.submissions import safe_file_name

__all__ = ["FEEDBACK_MODES", "GRADEBOOK_COLUMNS", "feedback", "file_names", "message", "points",
           "prepare_out", "write_reports"]

FEEDBACK_MODES = ("full", "hints", "pass-fail")
GRADEBOOK_COLUMNS = ["student", "file", "exercise", "passed", "cases_passed", "cases_total", "points",
                     "max_points", "message"]
OUTPUTS = ("gradebook.csv", "grades.csv", "notes.txt", "feedback", "executed")  # what a run writes


def prepare_out(out: Path, overwrite: bool) -> None:
    """Make ``out`` a fresh, empty output folder; refuse to mix with anything already there."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a folder")
    present = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if present and not overwrite:
        raise ValueError(f"--out {str(out)!r} is not empty ({', '.join(present[:5])}"
                         f"{', ...' if len(present) > 5 else ''}): choose a new folder, or pass --overwrite to "
                         "replace a previous run's grades")
    foreign = [name for name in present if name not in OUTPUTS]
    if foreign:
        raise ValueError(f"--out {str(out)!r} holds files a grading run does not write ({', '.join(foreign[:5])}); "
                         "--overwrite only replaces a previous run's grades: choose another folder")
    for name in present:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def file_names(students: list[str]) -> dict[str, str]:
    """A distinct feedback file name (without suffix) per student, also on a case-insensitive disk."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for student in students:
        base = name = safe_file_name(student)
        n = 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        names[student] = name
    return names


def _hinted(r: CheckResult, hint: str) -> str:
    if not r.failures:  # passed, or not checked at all (no function, a dead kernel): no hidden value in it
        return r.message
    head = f"[{r.exercise}] not yet: passed {r.passed} of {r.total} hidden cases."
    lines = [head]
    for f in r.failures:
        how = "its result is not the expected one" if f.kind == "value" else f.reason
        lines.append(f"  - case {f.case} of {r.total}: {how}")
    if hint:
        lines.append(f"  Hint: {hint}")
    return "\n".join(lines)


def message(r: CheckResult, mode: str, hint: str = "") -> str:
    """The verdict on one exercise as ``mode`` shows it (see the module docstring)."""
    if mode == "full":
        return r.message
    if mode == "hints":
        return _hinted(r, hint)
    return f"[{r.exercise}] {'passed' if r else 'not passed'}."


def points(r: CheckResult, worth: float) -> float:
    """Points earned: ``worth`` in proportion to the cases passed, rounded to 2 decimals."""
    return round(worth * r.passed / r.total, 2) if r.total > 0 else 0.0


def feedback(outcome: Outcome, mode: str, hints: dict[str, str]) -> str:
    """The Markdown feedback file for one student."""
    done = f"{outcome.passed} of {len(outcome.results)} checked exercises passed"
    lines = [f"# Feedback for {outcome.student}", "", f"Notebook `{outcome.path.name}`: {done}.", ""]
    if mode == "pass-fail":
        lines += ["| exercise | verdict |", "|---|---|"]
        lines += [f"| {r.exercise} | {'passed' if r else 'not passed'} |" for r in outcome.results]
        return "\n".join(lines) + "\n"
    lines += ["| exercise | verdict | hidden cases passed |", "|---|---|---|"]
    lines += [f"| {r.exercise} | {'passed' if r else 'not yet'} | {r.passed} of {r.total} |" for r in outcome.results]
    for r in outcome.results:
        lines += ["", f"## {r.exercise}", "", message(r, mode, hints.get(r.exercise, "")).strip()]
    if outcome.problems:
        lines += ["", "## Running your notebook", ""] + [f"- {p}" for p in outcome.problems]
    return "\n".join(lines) + "\n"


def write_reports(outcomes: list[Outcome], out: Path, exercise_ids: list[str], worth: dict[str, float],
                  mode: str, hints: dict[str, str], notes: list[str], names: dict[str, str]) -> None:
    """``gradebook.csv`` (a row per student and exercise), ``grades.csv`` (a row per student: the
    file, its modification time, points per exercise, the total and the points possible),
    ``feedback/`` and ``notes.txt``."""
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(GRADEBOOK_COLUMNS)
        for o in outcomes:
            for r in o.results:
                writer.writerow([o.student, o.path.name, r.exercise, int(bool(r)), r.passed, r.total,
                                 points(r, worth[r.exercise]), worth[r.exercise],
                                 message(r, mode, hints.get(r.exercise, ""))])
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "file", "submitted", *exercise_ids, "total", "possible"])
        possible = round(sum(worth[e] for e in exercise_ids), 2)
        for o in outcomes:
            got = {r.exercise: points(r, worth[r.exercise]) for r in o.results}
            writer.writerow([o.student, o.path.name, o.submitted, *(got[e] for e in exercise_ids),
                             round(sum(got.values()), 2), possible])
    for o in outcomes:
        (out / "feedback" / f"{names[o.student]}.md").write_text(feedback(o, mode, hints), encoding="utf-8")
    if notes:
        (out / "notes.txt").write_text("".join(f"- {n}\n" for n in notes), encoding="utf-8")
