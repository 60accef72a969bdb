"""The student version of each chapter keeps every exercise and loses every solution."""

import re

import pytest
from student_notebooks import strip_solutions

import chapters as ch


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
    assert len(student["cells"]) < len(nb["cells"])


def test_unclosed_solution_is_an_error():
    nb = {"cells": [{"cell_type": "markdown", "source": "```{solution-start} ex-01-x\n:class: dropdown\n```",
                     "metadata": {}}]}
    with pytest.raises(ValueError, match="no solution-end"):
        strip_solutions(nb)
