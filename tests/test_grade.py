"""embedlab.grade and embedlab.grading: a fake class graded offline, what containment guarantees, the
Otter-Grader export.

The kernels here are real (one per notebook, about 2 s each). No verdict here may depend on the
machine's speed (a busy laptop, a CI runner with another job on the other core): notebooks that do
real work get limits of at least 60 s (:data:`LIMITS`), and so do the notebooks whose cells never
end by themselves: waiting the full limit for them (about 4 minutes) is the price of a verdict
that a cold import on a busy laptop cannot change. The whole file runs in about 5 minutes on 2 idle
cores. The Otter-Grader export is checked without otter-grader (a stand-in for ``otter.test_files``
with otter's ``test_case`` signature): otter-grader 7 needs wrapt<2, which the pinned environment
cannot hold, so an end-to-end ``otter run`` test could only ever be skipped here.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import sys
import time
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from embedlab import grade
from embedlab.exercises import CheckResult, _load, check, list_exercises
from embedlab.grading.kernel import find_function
from embedlab.grading.otter import export_otter
from embedlab.grading.submissions import exercises_named
from tools import chapters as ch
from tools.student_notebooks import strip_solutions

LIMITS = {"timeout": 60, "check_timeout": 60, "notebook_timeout": 600}  # generous: nothing here should stop
TASK = 'Write `ndcg_at_10(ranked, relevant)`. Check it with `check("ch09.ndcg_at_10", ndcg_at_10)`.'
GOOD = '''import math

def ndcg_at_10(ranked, relevant):
    rel = set(relevant)
    dcg = sum(1 / math.log2(r + 2) for r, item in enumerate(ranked[:10]) if item in rel)
    return dcg / sum(1 / math.log2(r + 2) for r in range(min(len(rel), 10)))'''
STUB = "def ndcg_at_10(ranked, relevant):\n    return 0"
HINT = _load("ch09.ndcg_at_10").hint


def _notebook(*cells: str, student: str | None = None) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell(TASK)] + [new_code_cell(c) for c in cells])
    if student:
        nb.metadata["student"] = student
    return nb


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def _grade(tmp: Path, notebooks: dict[str, nbformat.NotebookNode], raw: dict[str, str] | None = None, **kw):
    subs = tmp / "submissions"
    subs.mkdir()
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / name)
    for name, text in (raw or {}).items():
        (subs / name).write_text(text)
    (subs / "README.txt").write_text("not a notebook\n")
    before = _digest(subs)
    log: list[str] = []
    start = time.monotonic()
    outcomes = grade.grade(subs, tmp / "grades", exercise_ids=kw.pop("exercise_ids", None), log=log.append,
                           **{**LIMITS, **kw})
    print(f"\n{len(notebooks)} notebooks graded in {time.monotonic() - start:.1f} s:", *log, sep="\n")
    with open(tmp / "grades" / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return outcomes, rows, log, before, _digest(subs)


@pytest.fixture(scope="module")
def fake_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    notebooks = {
        "alice.ipynb": _notebook(GOOD),
        "bob.ipynb": _notebook(STUB),
        # a correct function, then sys.exit (an error IPython catches) and os._exit (the kernel dies)
        "dave.ipynb": _notebook(GOOD, "import sys\nsys.exit(1)", "import os\nos._exit(1)"),
        # the id comes from the metadata, as asked for; a relative write and 5 MB of output
        "submission_05.ipynb": _notebook(GOOD, "with open('scratch.txt', 'w') as f:\n    f.write('mine')",
                                         "print('x' * 5_000_000)", student="erin"),
    }
    # default exercises: those named
    outcomes, rows, log, before, after = _grade(tmp, notebooks, keep=True, id_from_metadata=True)
    yield {"tmp": tmp, "outcomes": {o.student: o for o in outcomes}, "rows": rows, "log": log,
           "before": before, "after": after}
    shutil.rmtree(next(iter(outcomes)).workdir.parent, ignore_errors=True)


# Every cell of these notebooks never ends by itself, so short limits test the limits and nothing else.
CAROL = ("def ndcg_at_10(ranked, relevant):\n    while True:\n        pass\n\n"  # a function that never returns,
         "while True:\n    pass")  # then a loop that never ends: interrupted, and the function is still defined
FRANK = (STUB + "\n\nwhile True:\n    try:\n        while True:\n            pass\n"
         "    except BaseException:\n        pass")


@pytest.fixture(scope="module")
def loop_class(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loops")
    notebooks = {"carol.ipynb": _notebook(CAROL), "frank.ipynb": _notebook(FRANK)}  # frank swallows the interrupt
    outcomes, rows, log, before, after = _grade(tmp, notebooks, keep=True)
    yield {"tmp": tmp, "outcomes": {o.student: o for o in outcomes}, "rows": rows, "log": log,
           "before": before, "after": after}
    shutil.rmtree(next(iter(outcomes)).workdir.parent, ignore_errors=True)


def test_the_gradebook_is_the_table_expected_by_hand(fake_class):
    rows = fake_class["rows"]
    assert rows[0] == ["student", "file", "exercise", "passed", "cases_passed", "cases_total", "points",
                       "max_points", "message"]
    expected = [
        ("alice", "alice.ipynb", "ch09.ndcg_at_10", "1", "9", "9", "1.0", "1.0",
         "[ch09.ndcg_at_10] passed all 9 hidden cases. Well done!"),
        # every case is run and counted: a constant 0 is right on the 2 cases whose NDCG is 0
        ("bob", "bob.ipynb", "ch09.ndcg_at_10", "0", "2", "9", "0.22", "1.0", "[ch09.ndcg_at_10] not yet: passed 2 "
         "of 9. First failure, case 1 of 9 (the only relevant item first): expected 1, got 0.\n  Hint: " + HINT),
        ("dave", "dave.ipynb", "ch09.ndcg_at_10", "0", "0", "9", "0.0", "1.0", "[ch09.ndcg_at_10] not checked: the "
         "kernel died while running cell 4 (`import os`) (os._exit, exit(), a crash or running out of memory); "
         "nothing could be checked."),
        ("erin", "submission_05.ipynb", "ch09.ndcg_at_10", "1", "9", "9", "1.0", "1.0",
         "[ch09.ndcg_at_10] passed all 9 hidden cases. Well done!"),
    ]
    assert [tuple(r) for r in rows[1:]] == expected


def test_cells_and_functions_that_never_end_are_stopped(loop_class):
    got = {r[0]: [r[0], *r[2:6], r[8]] for r in loop_class["rows"][1:]}  # the columns of the first gradebook
    expected_carol = ("[ch09.ndcg_at_10] not yet: passed 0 of 9. First failure, case 1 of 9 (the only relevant item "
                      "first): your function did not finish within 60 s (line ?); look for a loop that never "
                      "ends; the 8 cases after it were not run.\n"
                      "  Hint: " + HINT)
    assert got["carol"][1:5] == ["ch09.ndcg_at_10", "0", "0", "9"]
    # the alarm stops the loop on its `while` line or its `pass` line, as the interpreter happens to be
    assert re.sub(r"\((line 2: while True:|line 3: pass)\)", "(line ?)", got["carol"][5]) == expected_carol
    assert got["frank"][2] == "0" and "ignored the interrupt, so the kernel was stopped" in got["frank"][5]
    text = (loop_class["tmp"] / "grades" / "feedback" / "carol.md").read_text()
    assert "- cell 2 (`def ndcg_at_10(ranked, relevant):`) ran past 60 s and was interrupted" in text
    seconds = {o.student: o.seconds for o in loop_class["outcomes"].values()}
    assert seconds["carol"] >= 60 + 60  # the cell's limit, then the check's: both were waited for
    assert loop_class["before"] == loop_class["after"]


def test_the_submissions_folder_is_unchanged(fake_class):
    assert fake_class["before"] == fake_class["after"]
    assert "scratch.txt" not in fake_class["after"]


def test_relative_writes_land_in_the_notebooks_own_folder(fake_class):
    erin = fake_class["outcomes"]["erin"]
    assert (erin.workdir / "scratch.txt").read_text() == "mine"
    assert (erin.workdir / "submission_05.ipynb").is_file()  # the copy it ran from
    others = [o.workdir for o in fake_class["outcomes"].values() if o.student != "erin"]
    assert len(set(others)) == 3 and not any((w / "scratch.txt").exists() for w in others)


def test_output_is_capped_and_the_student_is_told(fake_class):
    executed = fake_class["tmp"] / "grades" / "executed" / "erin.ipynb"
    assert executed.stat().st_size < 100_000  # 5 MB printed, the cap is 1,000,000 characters
    assert "output cut here" in executed.read_text()
    assert "printed more than 1,000,000 characters" in " ".join(fake_class["outcomes"]["erin"].problems)


def test_feedback_names_what_went_wrong_without_tracebacks(fake_class):
    folder = fake_class["tmp"] / "grades" / "feedback"
    assert sorted(p.name for p in folder.iterdir()) == [f"{s}.md" for s in ("alice", "bob", "dave", "erin")]
    text = {p.stem: p.read_text() for p in folder.iterdir()}
    assert "| ch09.ndcg_at_10 | passed | 9 of 9 |" in text["alice"] and "Running your notebook" not in text["alice"]
    assert "| ch09.ndcg_at_10 | not yet | 2 of 9 |" in text["bob"] and "Hint: DCG" in text["bob"]
    assert "- cell 3 (`import sys`) raised SystemExit: 1" in text["dave"] and "the kernel died" in text["dave"]
    assert all("Traceback" not in t and "File \"" not in t for t in text.values())


def test_the_summary_gives_seconds_per_notebook(fake_class):
    log = fake_class["log"]
    assert "on ch09.ndcg_at_10" in log[0] and "4 notebooks in" in log[-1] and "s per notebook" in log[-1]
    seconds = {o.student: o.seconds for o in fake_class["outcomes"].values()}
    for student, s in seconds.items():
        assert re.search(rf"^  {student} .* {s:6.1f} s", "\n".join(log), flags=re.M), student


@pytest.mark.parametrize("which", ["fake_class", "loop_class"])
def test_no_kernel_or_child_process_outlives_grading(which, request):
    if not Path("/proc/self/cwd").exists():
        pytest.skip("needs /proc")
    graded = request.getfixturevalue(which)
    root = str(next(iter(graded["outcomes"].values())).workdir.parent)
    left = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.readlink(proc / "cwd").startswith(root):
                    left.append(proc.name)
            except OSError:
                pass
    assert not left, f"processes still running in the grading folders: {left}"


def test_a_tampered_check_an_import_and_a_broken_file(tmp_path):
    tamper = ("import embedlab.exercises as ex\nex.check = lambda i, f, **k: ex.CheckResult(i, 9, 9, 'all good')\n"
              "import embedlab.grading.kernel as g\ng.check = ex.check")
    notebooks = {
        "gina.ipynb": _notebook(STUB, tamper),  # patches the check: the grader reloads it
        "hank.ipynb": _notebook("from embedlab.ranking import ndcg_at_k as ndcg_at_10"),
    }
    _, rows, _, before, after = _grade(tmp_path, notebooks, raw={"ivan.ipynb": "{ not json"},
                                       exercise_ids=["ch09.ndcg_at_10"])
    got = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert [got[s]["passed"] for s in ("gina", "hank", "ivan")] == ["0"] * 3
    assert "expected 1, got 0" in got["gina"]["message"]  # the real check ran, not the patched one
    assert "is embedlab.ranking's function, imported rather than written" in got["hank"]["message"]
    assert "could not be read" in got["ivan"]["message"] and got["ivan"]["cases_total"] == "9"
    assert before == after


# --------------------------------------------------------------------------- without kernels


def test_bad_calls_are_clear_errors(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    with pytest.raises(ValueError, match="no .ipynb files"):
        grade.grade(subs, tmp_path / "out")
    nbformat.write(_notebook(GOOD), subs / "a.ipynb")
    with pytest.raises(ValueError, match="inside the submissions folder"):
        grade.grade(subs, subs / "grades")
    with pytest.raises(ValueError, match="unknown exercises"):
        grade.grade(subs, tmp_path / "out", exercise_ids=["ch09.nope"])
    with pytest.raises(ValueError, match="no submissions folder"):
        grade.grade(tmp_path / "missing", tmp_path / "out")
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), subs / "a.ipynb")
    with pytest.raises(ValueError, match="pass the exercises"):
        grade.grade(subs, tmp_path / "out")
    assert grade.main([str(subs), "--out", str(subs / "g")]) == 2 and "embedlab.grade:" in capsys.readouterr().err
    assert list(subs.iterdir()) == [subs / "a.ipynb"]


def test_the_function_name_each_exercise_text_asks_for_is_the_one_graded():
    named = {}
    for path in ch.chapter_paths():
        for cell in ch.read_nb(path)["cells"]:
            if cell["cell_type"] == "markdown":
                for block in re.findall(r"```\{exercise\}.*?\n```", "".join(cell["source"]), flags=re.S):
                    named.update(re.findall(r"check\(\s*[\"'](ch\d\d\.\w+)[\"']\s*,\s*(\w+)", block))
    assert named and set(named) <= set(list_exercises())
    for ex_id, fn in named.items():
        assert _load(ex_id).lookup_names[0] == fn, f"{ex_id}: the text asks for {fn}; set function= in its check"


@pytest.mark.parametrize("path", ch.chapter_paths(), ids=lambda p: p.stem)
def test_the_student_version_does_not_define_the_graded_function(path):
    nb = ch.read_nb(path)
    ids = set(re.findall(r"check\(\s*[\"'](ch\d\d\.\w+)", "".join("".join(c["source"]) for c in nb["cells"])))
    student = nbformat.from_dict(strip_solutions(nb))
    assert exercises_named(student) == ids  # what the grader picks by default
    code = "\n".join("".join(c.source) for c in student.cells if c.cell_type == "code")
    for ex_id in ids:
        for name in _load(ex_id).lookup_names:
            # an import from embedlab is allowed: the grader refuses embedlab's own functions
            assert not re.search(rf"^\s*(def\s+{name}\b|{name}\s*=[^=])", code, flags=re.M), (ex_id, name)


def check_namespace(eid: str, namespace: dict) -> CheckResult | str:
    """What the grader's kernel and judge do with a notebook's globals, in one process."""
    fn, why = find_function(namespace, eid, _load(eid).lookup_names)
    return check(eid, fn, quiet=True) if fn is not None else why


def test_check_namespace_finds_the_asked_name_and_refuses_embedlabs_own():
    from embedlab.similarity import cosine

    def my_cosine(a, b):
        n = float(a.norm() * b.norm())
        if n == 0:
            raise ValueError("zero vector")
        return float(a @ b) / n

    assert check_namespace("ch02.cosine", {"my_cosine": my_cosine, "cosine": cosine})
    res = check_namespace("ch02.cosine", {"cosine": cosine})  # the student version imports it
    assert isinstance(res, str) and "embedlab.similarity's function" in res
    res = check_namespace("ch09.ndcg_at_10", {})
    assert isinstance(res, str) and "defines no function named `ndcg_at_10`" in res
    assert "; it defines no function." in res


# --------------------------------------------------------------------------- Otter-Grader


def _fake_otter(monkeypatch):
    """Just enough of otter.test_files for an exported file to run without otter installed."""

    class test_case:  # noqa: N801 - otter's name
        # otter.test_files.test_case's keyword arguments (otter-grader 4-7): a keyword otter does not
        # take fails here as it would under otter
        def __init__(self, name=None, points=None, hidden=False, success_message=None, failure_message=None):
            self.meta = {"name": name, "points": points, "hidden": hidden}

        def __call__(self, fn):
            self.fn = fn
            return self

    module = types.ModuleType("otter.test_files")
    module.test_case = test_case
    monkeypatch.setitem(sys.modules, "otter", types.ModuleType("otter"))
    monkeypatch.setitem(sys.modules, "otter.test_files", module)
    return test_case


def test_the_otter_export_runs_the_hidden_check(tmp_path, monkeypatch):
    test_case = _fake_otter(monkeypatch)
    assert grade.main(["--otter-tests", str(tmp_path), "--exercises", "ch09.ndcg_at_10"]) == 0
    source = (tmp_path / "tests" / "ch09_ndcg_at_10.py").read_text()
    env: dict = {}
    exec(compile(source, "ch09_ndcg_at_10.py", "exec"), env)
    assert env["name"] == "ch09_ndcg_at_10" and env["points"] == 1 and env["OK_FORMAT"] is False
    (case,) = [v for v in env.values() if isinstance(v, test_case)]
    assert case.meta["points"] == 1 and case.meta["hidden"] is False
    student: dict = {}
    exec(GOOD, student)
    case.fn(student)  # passes: no exception
    exec(STUB, student)
    with pytest.raises(AssertionError, match="expected 1, got 0"):
        case.fn(student)
    with pytest.raises(ValueError, match="unknown exercises"):
        export_otter(["ch09.nope"], tmp_path)
