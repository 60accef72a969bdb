"""The student version of each chapter keeps every exercise and loses every solution."""

import re

import pytest

from tools import chapters as ch
from tools.student_notebooks import strip_solutions


@pytest.mark.parametrize("path", ch.chapter_paths(), ids=lambda p: p.stem)
def test_student_version_has_exercises_but_no_solutions(path):
    nb = ch.read_nb(path)
    student = strip_solutions(nb)
    text = "\n".join("".join(c["source"]) for c in student["cells"])
    original = "\n".join("".join(c["source"]) for c in nb["cells"])
    exercises = re.findall(r":label: (ex-[\w-]+)", original)
    assert exercises and re.findall(r":label: (ex-[\w-]+)", text) == exercises
    assert "solution-start" not in text and "solution-end" not in text
    for ex in exercises:
        assert f"Your solution to {ex} here." in text
    for check_id in set(re.findall(r"check\(\s*[\"'](ch\d\d\.\w+)", original)):
        assert f'check("{check_id}"' in text, f"the student version should point to {check_id}"
    assert all(not c.get("outputs") for c in student["cells"] if c["cell_type"] == "code")
    student_code = {"".join(c["source"]) for c in student["cells"] if c["cell_type"] == "code"}
    solved = [src for src in student_code if "result = check(" in src]
    assert not solved, f"a solution's code cell survived: {solved[0][:200]!r}"


def test_unclosed_solution_is_an_error():
    nb = {"cells": [{"cell_type": "markdown", "source": "```{solution-start} ex-01-x\n:class: dropdown\n```",
                     "metadata": {}}]}
    with pytest.raises(ValueError, match="no solution-end"):
        strip_solutions(nb)


def test_exercise_and_solution_start_in_one_cell_keep_the_exercise():
    md = "```{exercise} E\n:label: ex-09-a\nDo it.\n```\n\n```{solution-start} ex-09-a\n:class: dropdown\n```"
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": md, "id": "a"},
        {"cell_type": "code", "metadata": {}, "source": "result = check('ch09.a', f)", "outputs": [],
         "execution_count": 1, "id": "b"},
        {"cell_type": "markdown", "metadata": {}, "id": "c",
         "source": "Why.\n\n```{solution-end}\n```\n\n```{exercise} F\n:label: ex-09-b\nMore.\n```\n\n"
                   "```{solution-start} ex-09-b\n:class: dropdown\n```"},
        {"cell_type": "code", "metadata": {}, "source": "answer = 2", "outputs": [], "execution_count": 2, "id": "d"},
        {"cell_type": "markdown", "metadata": {}, "source": "```{solution-end}\n```\n## Summary", "id": "e"},
    ]
    student = strip_solutions({"cells": cells, "metadata": {}})
    text = "\n".join("".join(c["source"]) for c in student["cells"])
    assert ":label: ex-09-a" in text and ":label: ex-09-b" in text and "## Summary" in text
    assert "result = check" not in text and "answer = 2" not in text and "Why." not in text
    assert 'check("ch09.a"' in text and "Your solution to ex-09-b here." in text
    ids = [c["id"] for c in student["cells"] if "id" in c]
    assert len(ids) == len(set(ids))
