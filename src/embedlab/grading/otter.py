"""The grader's hidden checks as Otter-Grader test files, for courses that grade with Otter.

Used by ``python -m embedlab.grade --otter-tests DIR`` (:mod:`embedlab.grade`, book/instructors.md).
"""

from __future__ import annotations

from pathlib import Path

from embedlab import exercises
from embedlab.exercises import list_exercises

__all__ = ["export_otter"]


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
        names = exercises._load(eid).lookup_names
        path = tests / f"{name}.py"
        path.write_text(
            f'"""Otter-Grader test for {eid}, written by embedlab.grading.otter: embedlab\'s hidden check."""\n\n'
            "from otter.test_files import test_case\n\n"
            "OK_FORMAT = False\n\n"
            f"name = {name!r}\n"
            f"points = {points!r}\n\n\n"
            f"@test_case(points={points!r}, hidden=False)\n"
            f"def test_{name}(env):\n"
            "    from embedlab.exercises import check\n"
            "    from embedlab.grading.kernel import find_function\n\n"
            f"    fn, why = find_function(env, {eid!r}, {names!r})\n"
            "    assert fn is not None, why\n"
            f"    result = check({eid!r}, fn, quiet=True, timeout={exercises.DEFAULT_TIMEOUT!r})\n"
            "    assert result, result.message\n",
            encoding="utf-8")
        written.append(path)
    return written
