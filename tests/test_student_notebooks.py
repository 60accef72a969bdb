"""The student edition of each chapter keeps every exercise and loses every solution; its notebooks
read as plain Markdown in Jupyter and Colab, and its book's launch buttons open them."""

import re
import shutil
import subprocess
import sys

import nbformat
import pytest
import yaml

from tools import chapters as ch
from tools import student_notebooks as sn
from tools.myst_markdown import Converter, plain_markdown
from tools.student_notebooks import strip_solutions

_DIRECTIVE = re.compile(r"^\s*(`{3,}|:{3,})\s*\{")
_OPTION = re.compile(r"^\s*:[\w-]+:")
_ROLE = re.compile(r"\{[\w:+-]+\}`")
_INLINE_MATH = re.compile(r"(?<![$\\])\$[^$\n]+\$(?!\$)")


@pytest.mark.parametrize("path", ch.chapter_paths(), ids=lambda p: p.stem)
def test_student_version_has_exercises_but_no_solutions(path):
    nb = ch.read_nb(path)
    student = strip_solutions(nb, int(path.name[:2]))
    text = "\n".join("".join(c["source"]) for c in student["cells"])
    original = "\n".join("".join(c["source"]) for c in nb["cells"])
    exercises = re.findall(r":label: (ex-[\w-]+)", original)
    assert exercises and re.findall(r":label: (ex-[\w-]+)", text) == exercises
    assert "solution-start" not in text and "solution-end" not in text
    for k, ex in enumerate(exercises, 1):
        assert f"Your solution to Exercise {int(path.name[:2])}.{k} ({ex}) here." in text
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
    assert 'check("ch09.a"' in text and 'Your solution to "F" (ex-09-b) here.' in text
    ids = [c["id"] for c in student["cells"] if "id" in c]
    assert len(ids) == len(set(ids))


def _markdown(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def _solution_text(nb: dict) -> list[str]:
    """The lines (long enough to be distinctive) that only the solutions hold."""
    lines, inside = [], False
    for cell in nb["cells"]:
        for line in "".join(cell["source"]).split("\n"):
            if "{solution-start}" in line:
                inside = True
            elif "{solution-end}" in line:
                inside = False
            elif inside and len(line.strip()) > 40:
                lines.append(line.strip())
    kept = "\n".join("".join(c["source"]) for c in strip_solutions(nb)["cells"])
    return [line for line in lines if line not in kept]  # a line the exercise also says is not a leak


def student_problems(path, student: dict) -> list[str]:
    """What is wrong with the student notebook of chapter ``path`` (empty: nothing)."""
    nb, n = ch.read_nb(path), int(path.name[:2])
    problems: list[str] = []
    markdown = _markdown(student)
    text = "\n".join(markdown)
    every = "\n".join("".join(c["source"]) for c in student["cells"])
    problems += [f"solution text left: {line[:60]!r}" for line in _solution_text(nb) if line in every]
    for cell in markdown:
        fences = [line for line in cell.split("\n") if line.lstrip().startswith(("```", ":::"))]
        problems += [f"directive left: {line!r}" for line in cell.split("\n") if _DIRECTIVE.match(line)]
        problems += [f"option line left: {line!r}" for line in cell.split("\n") if _OPTION.match(line)]
        problems += [f"MyST role left: {m.group(0)!r}" for m in _ROLE.finditer(cell)]
        if len(fences) % 2 or any(not re.fullmatch(r"\s*```[\w-]*\s*", f) for f in fences):
            problems.append(f"a fence that is not a plain code block: {fences}")
    titles = re.findall(r"```\{exercise\}[ \t]*(.*)", "\n".join(_markdown(nb)))
    headings = re.findall(r"^\*\*Exercise (\d+)\.(\d+)(?:: (.*))?\*\*$", text, flags=re.M)
    expected = [(str(n), str(k), title.strip()) for k, title in enumerate(titles, 1)]
    if headings != expected:
        problems.append(f"exercise headings {headings} instead of {expected}")
    source_math = set(_INLINE_MATH.findall("\n".join(_markdown(strip_solutions(nb)))))
    problems += [f"maths lost: {m!r}" for m in sorted(source_math) if m not in text]
    named = dict(sn._CHECK.findall("\n".join(_markdown(nb))))  # as the exercise calls it
    checks = {(i, named.get(i, f)) for c in nb["cells"] if c["cell_type"] == "code"
              for i, f in sn._CHECK.findall("".join(c["source"]))}
    code = "\n".join("".join(c["source"]) for c in student["cells"] if c["cell_type"] == "code")
    problems += [f"the placeholder does not name {f}" for _, f in checks if f"# Write {f}" not in code]
    return problems


@pytest.mark.parametrize("path", ch.chapter_paths(), ids=lambda p: p.stem)
def test_student_notebook_is_plain_markdown_with_numbered_exercises(path):
    student = sn.student_notebook(path)
    assert student_problems(path, student) == []
    assert re.search(r"\$[^$\n]+\$", "\n".join(_markdown(student))), "inline maths should survive"
    assert all(not c.get("outputs") for c in student["cells"] if c["cell_type"] == "code")
    nbformat.validate(nbformat.from_dict(student))  # Jupyter and Colab open it (ids where 4.5 wants them)


def test_the_old_student_notebooks_fail_these_checks():
    # Before the conversion, a student notebook was strip_solutions' output: the MyST directives,
    # :label: lines and roles were left, no exercise was numbered and no placeholder named a function.
    path = ch.chapter_paths()[0]
    old = strip_solutions(ch.read_nb(path))
    for cell in old["cells"]:  # the old placeholder text
        cell["source"] = re.sub(r"# Write [^\n]*\n", "", "".join(cell["source"]))
    problems = "\n".join(student_problems(path, old))
    for kind in ("directive left", "option line left", "MyST role left", "exercise headings", "does not name"):
        assert kind in problems


def test_a_solution_leak_and_lost_maths_are_caught():
    path = next(p for p in ch.chapter_paths() if p.name.startswith("02_"))
    student = sn.student_notebook(path)
    leak = _solution_text(ch.read_nb(path))[0]
    student["cells"].append({"cell_type": "markdown", "metadata": {}, "source": leak})
    for cell in student["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = "".join(cell["source"]).replace("$1/\\sqrt{d}$", "1/sqrt(d)")
    problems = "\n".join(student_problems(path, student))
    assert "solution text left" in problems and "maths lost" in problems


def _convert(md: str, chapter: int = 4, labels: dict | None = None) -> str:
    return Converter(chapter, labels or {}).convert(md)


def test_exercise_directives_become_numbered_bold_headings():
    md = ("```{exercise} Scale it\n:label: ex-04-a\n:class: hard\n\nShow that $s \\cdot x$ works.\n```\n\n"
          "```{exercise}\n:label: ex-04-b\nNo title.\n```")
    out = _convert(md)
    assert out == "**Exercise 4.1: Scale it**\n\nShow that $s \\cdot x$ works.\n\n**Exercise 4.2**\n\nNo title."
    gated = Converter(4, {})
    first = gated.convert("```{exercise-start} Long one\n:label: ex-04-c\n```\n\nText $x$.")
    assert first == "**Exercise 4.1: Long one**\n\nText $x$." and gated.convert("```{exercise-end}\n```") == ""


def test_admonitions_become_quoted_blocks_with_a_bold_title():
    assert _convert("```{admonition} The data\n:class: note\nFrom *here*.\n\nTwo.\n```") == (
        "> **The data**\n>\n> From *here*.\n>\n> Two.")
    assert _convert(":::{warning}\nCareful.\n:::").startswith("> **Warning**\n>\n> Careful.")
    nested = _convert("````{note}\nSee:\n```{math}\nx^2\n```\n````")
    assert nested == "> **Note**\n>\n> See:\n>\n> $$\n> x^2\n> $$"


def test_myst_roles_become_text_jupyter_renders():
    labels = {"ex-04-a": "4.1"}
    md = ("Use {math}`\\alpha` (exercise {ref}`ex-04-a`, {ref}`ex-04-a`, {ref}`the setup <sec-setup>`, "
          "{doc}`chapter 3 <../chapters/03_word2vec>`, {eq}`eq-loss`).\n(sec-setup)=\n% a comment\n"
          "$$\nx\n$$ (eq-loss)")
    out = _convert(md, labels=labels)
    assert out == ("Use $\\alpha$ (exercise 4.1, Exercise 4.1, the setup, chapter 3, (eq-loss)).\n$$\nx\n$$")


def test_citations_become_author_year_with_a_reference_list():
    nb = ch.read_nb(ch.chapter_paths()[0])
    student = plain_markdown(strip_solutions(nb), 1, sn.Bibliography(ch.ROOT / "book" / "references.bib"))
    text = "\n".join(_markdown(student))
    assert "Bengio et al. (2003)" in text and "footcite" not in text and "footbibliography" not in text
    assert re.search(r"^- .*Bengio.*neural probabilistic language model", text, flags=re.M)


def test_a_solution_directive_is_refused():
    with pytest.raises(ValueError, match="solution"):
        _convert("```{solution} ex-04-a\nThe answer.\n```")


def test_book_notebooks_are_untouched():
    # The instructor notebooks keep their MyST: the conversion works on copies.
    path = ch.chapter_paths()[0]
    before = path.read_bytes()
    sn.student_notebook(path)
    assert path.read_bytes() == before and b"{exercise}" in before


def test_the_student_book_launches_the_student_notebooks_on_the_student_branch(tmp_path):
    config = yaml.safe_load(sn.student_config())
    assert config["repository"]["branch"] == "student"
    assert config["repository"]["url"] == ch.repo_url()  # the rest of _config.yml is kept
    assert config["launch_buttons"]["colab_url"] and config["launch_buttons"]["binderhub_url"]
    src = sn.prepare_book_sources(tmp_path / "src")
    toc = yaml.safe_load((src / "_toc.yml").read_text(encoding="utf-8"))
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    chapter_pages = [f for f in files if f.startswith(f"{sn.STUDENT_DIR}/")]
    assert chapter_pages == [f"student/{p.stem}" for p in ch.chapter_paths()]
    assert not any(f.startswith("chapters/") for f in files)
    # sphinx-book-theme opens {path_to_book}{page}.ipynb on {branch}: student/NN_slug.ipynb on student.
    built = yaml.safe_load((src / "_config.yml").read_text(encoding="utf-8"))
    assert built["repository"]["branch"] == "student" and not built["repository"].get("path_to_book")
    for path in ch.chapter_paths():
        nb = ch.read_nb(src / "student" / path.name)
        text = "\n".join("".join(c["source"]) for c in nb["cells"])
        assert "{exercise}" in text and "solution-start" not in text  # MyST kept: exercise boxes
        assert "result = check(" not in text
        # sphinx-exercise numbers the book's exercises through the whole book: no "Exercise 9.1" here
        assert not re.search(r"Your solution to Exercise \d", text)
    assert "../chapters/" not in (src / "book" / "instructors.md").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("jupyter-book", path=str(sn.Path(sys.executable).parent)) is None,
                    reason="jupyter-book is not installed")
def test_the_student_book_builds_without_solutions(tmp_path):
    # About 15 s: Jupyter Book renders the stored notebooks, it does not run them.
    src = sn.prepare_book_sources(tmp_path / "src")
    assert sn.build_book(src, tmp_path / "html") == 0
    page = (tmp_path / "html" / "student" / "09_recommendation.html").read_text(encoding="utf-8")
    assert 'class="exercise admonition"' in page and "solution dropdown" not in page
    colab = "https://colab.research.google.com/github/embedlab/embedlab/blob/student/student/09_recommendation.ipynb"
    binder = "https://mybinder.org/v2/gh/embedlab/embedlab/student?urlpath=lab/tree/student/09_recommendation.ipynb"
    assert colab in page and binder in page
    assert subprocess.run(["grep", "-rl", "solution dropdown", str(tmp_path / "html")],
                          capture_output=True).stdout == b""
