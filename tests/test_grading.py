"""Grades an LMS takes (issue 23, findings 6, 8 and 9, and the feedback modes): each test reproduces
a defect of the grader as it was and passes because it is fixed.

Most tests need no kernel. The one end-to-end test grades a five-notebook class in a folder whose
name has a space, laid out as Moodle and Canvas download it (about 3 s a notebook on idle cores).
"""

from __future__ import annotations

import csv
import os
import re
import time
import unicodedata
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from embedlab import grade
from embedlab.exercises import CheckResult, _load, check
from embedlab.grading.kernel import find_function
from embedlab.grading.reports import feedback, file_names, message, prepare_out, write_reports
from embedlab.grading.run import Outcome
from embedlab.grading.submissions import find_submissions

ROOT = Path(__file__).resolve().parents[1]
STUB = "def ndcg_at_10(ranked, relevant):\n    return 0"
GOOD = '''import math

def ndcg_at_10(ranked, relevant):
    rel = set(relevant)
    dcg = sum(1 / math.log2(r + 2) for r, item in enumerate(ranked[:10]) if item in rel)
    return dcg / sum(1 / math.log2(r + 2) for r in range(min(len(rel), 10)))'''


def _write(path: Path, *cells: str, student: str | None = None, age: float = 0.0) -> Path:
    nb = new_notebook(cells=[new_markdown_cell('`check("ch09.ndcg_at_10", ndcg_at_10)`')]
                      + [new_code_cell(c) for c in cells])
    if student:
        nb.metadata["student"] = student
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


# --------------------------------------------------------------------------- finding 8: partial credit


def test_every_hidden_case_is_run_and_counted():
    # was: the count stopped at the first failure, so a constant 0 scored 0 of 9; it is right on 2
    res = check("ch09.ndcg_at_10", lambda ranked, relevant: 0, quiet=True)
    assert (res.passed, res.total) == (2, 9) and "passed 2 of 9. First failure, case 1 of 9" in res.message
    assert [f.case for f in res.failures] == [1, 2, 4, 5, 6, 8, 9]
    assert all(f.kind == "value" for f in res.failures)

    def no_cutoff(ranked, relevant):  # right except where the list is longer than 10
        import math
        rel = set(relevant)
        dcg = sum(1 / math.log2(r + 2) for r, item in enumerate(ranked) if item in rel)
        return min(1.0, dcg / sum(1 / math.log2(r + 2) for r in range(min(len(rel), 10))))

    res = check("ch09.ndcg_at_10", no_cutoff, quiet=True)
    assert res.passed == res.total - len(res.failures) and res.passed > res.failures[0].case - 1


def test_points_are_earned_in_proportion_to_the_cases_passed(tmp_path):
    r = CheckResult("ch09.ndcg_at_10", 3, 5, "m")
    outcome = Outcome("bob", Path("bob.ipynb"), [r], submitted="2026-01-01T00:00:00+00:00")
    write_reports([outcome], tmp_path, ["ch09.ndcg_at_10"], {"ch09.ndcg_at_10": 2.0}, "full", {}, [], {"bob": "bob"})
    long = list(csv.DictReader(open(tmp_path / "gradebook.csv", encoding="utf-8")))
    assert long[0]["points"] == "1.2" and long[0]["max_points"] == "2.0" and long[0]["file"] == "bob.ipynb"
    wide = list(csv.reader(open(tmp_path / "grades.csv", encoding="utf-8")))
    assert wide == [["student", "file", "submitted", "ch09.ndcg_at_10", "total", "possible"],
                    ["bob", "bob.ipynb", "2026-01-01T00:00:00+00:00", "1.2", "1.2", "2.0"]]
    assert grade._points("ch09.ndcg_at_10=2, ch01.param_count=0.5") == {"ch09.ndcg_at_10": 2.0,
                                                                       "ch01.param_count": 0.5}


# --------------------------------------------------------------------------- finding 6: identities


def test_ids_come_from_file_names_nfc_and_are_never_mangled(tmp_path):
    nfd = unicodedata.normalize("NFD", "José")
    _write(tmp_path / f"{nfd}.ipynb")  # a Mac's spelling: the same student as NFC José
    _write(tmp_path / "Jose.ipynb")  # differs by an accent: another student
    _write(tmp_path / "Zoë Ng.ipynb")
    _write(tmp_path / "mallory.ipynb", student="alice", age=0)  # metadata claims alice's row
    _write(tmp_path / "alice.ipynb", age=100)
    subs, notes = find_submissions(tmp_path)
    assert [s.student for s in subs] == ["Jose", "José", "Zoë Ng", "alice", "mallory"]
    assert subs[1].student == unicodedata.normalize("NFC", "José") and notes == []
    by_id = {s.student: s.path.name for s in subs}
    assert by_id["alice"] == "alice.ipynb" and by_id["mallory"] == "mallory.ipynb"
    # only when asked, the metadata names the student; a collision keeps the latest and says so
    subs, notes = find_submissions(tmp_path, id_from_metadata=True)
    alice = next(s for s in subs if s.student == "alice")
    assert alice.path.name == "mallory.ipynb" and alice.superseded == [tmp_path / "alice.ipynb"]
    assert "mallory" not in {s.student for s in subs}
    assert any("2 notebooks for student 'alice'" in n and "not graded: alice.ipynb" in n for n in notes)


def test_duplicates_keep_the_latest_and_are_reported(tmp_path):
    _write(tmp_path / "José.ipynb", age=50)
    _write(tmp_path / f"{unicodedata.normalize('NFD', 'José')}.ipynb", age=10)  # newer: graded
    _write(tmp_path / "rita.ipynb")
    _write(tmp_path / "rita_v2.ipynb")
    _write(tmp_path / "s1234567.ipynb")  # student numbers are not tries
    _write(tmp_path / "s7654321.ipynb")
    subs, notes = find_submissions(tmp_path)
    assert [s.student for s in subs] == ["José", "rita", "rita_v2", "s1234567", "s7654321"]  # a person decides
    assert len(notes) == 2
    assert subs[0].path.name == unicodedata.normalize("NFD", "José") + ".ipynb"
    assert any("2 notebooks for student 'José'" in n and "graded the one modified last" in n for n in notes)
    assert any("may be one student's tries" in n and "rita, rita_v2" in n for n in notes)
    assert file_names(["Ana", "ana", "a/b"]) == {"Ana": "Ana", "ana": "ana-2", "a/b": "a_b"}


# --------------------------------------------------------------------------- finding 9: plumbing


def test_moodle_and_canvas_layouts_are_read(tmp_path):
    moodle = tmp_path / "Ana María López_12345_assignsubmission_file_"
    _write(moodle / "lab.ipynb", age=10)
    _write(moodle / "old" / "lab-draft.ipynb", age=100)
    _write(moodle / ".ipynb_checkpoints" / "lab-checkpoint.ipynb")
    _write(tmp_path / "smithjohn_4411_90001_lab.ipynb", age=100)
    _write(tmp_path / "smithjohn_late_4411_90002_lab-1.ipynb", age=10)
    _write(tmp_path / "smithjane_4412_90003_lab.ipynb")
    _write(tmp_path / "bob" / "whatever.ipynb")
    subs, notes = find_submissions(tmp_path)
    got = {s.student: (s.layout, s.path.name) for s in subs}
    assert got == {"Ana María López_12345": ("folder", "lab.ipynb"), "bob": ("folder", "whatever.ipynb"),
                   "smithjohn_4411": ("canvas", "smithjohn_late_4411_90002_lab-1.ipynb"),
                   "smithjane_4412": ("canvas", "smithjane_4412_90003_lab.ipynb")}
    assert len(notes) == 2 and all("graded the one modified last" in n for n in notes)


def test_the_output_folder_is_fresh_or_explicitly_overwritten(tmp_path):
    out = tmp_path / "grades"
    (out / "feedback").mkdir(parents=True)
    (out / "feedback" / "gone-student.md").write_text("stale")
    (out / "gradebook.csv").write_text("old")
    with pytest.raises(ValueError, match="not empty .*--overwrite"):
        prepare_out(out, overwrite=False)
    prepare_out(out, overwrite=True)
    assert out.is_dir() and list(out.iterdir()) == []  # no stale feedback remains
    (out / "thesis.tex").write_text("mine")
    with pytest.raises(ValueError, match="does not write"):
        prepare_out(out, overwrite=True)
    assert (out / "thesis.tex").read_text() == "mine"


def test_a_function_under_another_name_is_named_in_the_message():
    notebook = {"__name__": "__main__"}  # a notebook's globals: its functions' module is __main__
    exec("import torch\n\ndef my_lookup(ids, weight):\n"
         "    one_hot = torch.nn.functional.one_hot(ids, weight.shape[0])\n"
         "    return one_hot.to(weight.dtype) @ weight", notebook)
    my_lookup = notebook["my_lookup"]
    names = _load("ch01.one_hot_lookup").lookup_names
    fn, why = find_function(notebook, "ch01.one_hot_lookup", names)
    assert fn is None and "no function named `one_hot_lookup`" in why
    assert "it defines `my_lookup`" in why and "rename yours to `one_hot_lookup`" in why
    fn, _ = find_function({"one_hot_lookup": my_lookup}, "ch01.one_hot_lookup", names)
    assert fn is my_lookup and check("ch01.one_hot_lookup", fn, quiet=True)


def test_the_makefile_quotes_the_submissions_folder():
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^grade:.*?\n((?:\t.*\n)+)", text, flags=re.M).group(1)
    line = next(ln for ln in recipe.splitlines() if "embedlab.grade" in ln)
    assert '"$(SUBMISSIONS)"' in line and "--overwrite" in line, line


# --------------------------------------------------------------------------- feedback modes


def test_marked_feedback_never_shows_an_expected_value():
    res = check("ch09.ndcg_at_10", lambda ranked, relevant: 0, quiet=True)
    values = re.findall(r"expected (\d\.\d+),", " ".join(f.reason for f in res.failures))
    assert "0.289065" in values and len(values) == 4  # the full verdict shows them
    hinted = message(res, "hints", "the idea")
    assert "passed 2 of 9" in hinted and "case 2 of 9: its result is not the expected one" in hinted
    assert "Hint: the idea" in hinted and not any(v.strip(",") in hinted for v in values)
    assert message(res, "pass-fail") == "[ch09.ndcg_at_10] not passed."
    outcome = Outcome("bob", Path("bob.ipynb"), [res], ["cell 2 (`x`) raised NameError"])
    text = feedback(outcome, "pass-fail", {})
    assert "| ch09.ndcg_at_10 | not passed |" in text and "2 of 9" not in text and "NameError" not in text
    raised = check("ch09.ndcg_at_10", lambda ranked, relevant: 1 / 0, quiet=True)
    assert "ZeroDivisionError" in message(raised, "hints")  # the student's own error is no secret


# --------------------------------------------------------------------------- end to end


def test_a_class_downloaded_from_moodle_and_canvas_in_a_folder_with_a_space(tmp_path):
    subs = tmp_path / "class 2026 (B)"
    _write(subs / "Zoë Ng_101_assignsubmission_file_" / "ndcg.ipynb", GOOD)
    _write(subs / "smithjohn_4411_90001_ndcg.ipynb", STUB)
    _write(subs / "renamed.ipynb", GOOD.replace("def ndcg_at_10", "def my_ndcg"))
    out = tmp_path / "out dir"
    logs: list[str] = []
    start = time.monotonic()
    outcomes = grade.grade(subs, out, exercise_ids=["ch09.ndcg_at_10"], feedback="hints", points={
        "ch09.ndcg_at_10": 2}, timeout=60, check_timeout=60, log=logs.append)
    print(f"\n{len(outcomes)} notebooks in {time.monotonic() - start:.1f} s", *logs, sep="\n")
    wide = {r["student"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}
    assert {s: wide[s]["total"] for s in wide} == {"Zoë Ng_101": "2.0", "renamed": "0.0", "smithjohn_4411": "0.44"}
    assert wide["smithjohn_4411"]["file"] == "smithjohn_4411_90001_ndcg.ipynb" and wide["renamed"]["submitted"]
    text = {p.stem: p.read_text(encoding="utf-8") for p in (out / "feedback").iterdir()}
    assert sorted(text) == ["Zoë Ng_101", "renamed", "smithjohn_4411"]
    assert "`ndcg_at_10`" in text["renamed"] and "`my_ndcg`" in text["renamed"]
    assert "expected 1, got 0" not in text["smithjohn_4411"] and "passed 2 of 9" in text["smithjohn_4411"]
    executed = (out / "executed" / "smithjohn_4411.ipynb").read_text(encoding="utf-8")
    assert "@@embedlab-grade@@" not in executed and "expected 1" not in executed  # the verdicts stay hidden
    # a second run into the same folder: refused, then replaced; the student who left leaves no file
    assert grade.main([str(subs), "--out", str(out), "--exercises", "ch09.ndcg_at_10"]) == 2
    (subs / "renamed.ipynb").unlink()
    (subs / "smithjohn_4411_90001_ndcg.ipynb").unlink()
    assert grade.main([str(subs), "--out", str(out), "--exercises", "ch09.ndcg_at_10", "--overwrite",
                       "--feedback", "pass-fail"]) == 0
    assert [p.name for p in (out / "feedback").iterdir()] == ["Zoë Ng_101.md"]
    assert [p.name for p in (out / "executed").iterdir()] == ["Zoë Ng_101.ipynb"]
