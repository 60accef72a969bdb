"""Structure tests for the chapter notebooks (nbval separately re-runs them and compares outputs).

A chapter fails here if it is missing from the table of contents, was not stored executed in
order, holds an error or warning output, lacks the bootstrap cell, breaks the chapter contract
(objectives, figures, exercises with solutions, an automatic check, summary, references), or is
over the run-time budget, or if the run-time page is stale.
"""

from __future__ import annotations

import re

import pytest

from tools import chapters as ch

CHAPTERS = ch.chapter_paths()
IDS = [p.stem for p in CHAPTERS]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def _markdown(nb: dict) -> str:
    return "\n".join(_src(c) for c in nb["cells"] if c["cell_type"] == "markdown")


def test_there_are_chapters():
    assert CHAPTERS, "no chapters found in chapters/"


def test_every_chapter_is_in_the_toc_and_every_toc_file_exists():
    toc = ch.toc_files()
    for path in CHAPTERS:
        assert f"chapters/{path.stem}" in toc, f"{path.name} is not listed in _toc.yml"
    for entry in toc:
        candidates = [ch.ROOT / f"{entry}{ext}" for ext in ("", ".md", ".ipynb")]
        assert any(c.is_file() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


@pytest.fixture(params=CHAPTERS, ids=IDS)
def nb(request) -> dict:
    nb = ch.read_nb(request.param)
    nb["_path"] = request.param
    return nb


def test_first_cell_is_the_generated_bootstrap(nb):
    first = nb["cells"][0]
    assert first["cell_type"] == "code", "cell 0 must be the bootstrap code cell"
    modules = ch.bootstrap_modules(_src(first))
    assert modules is not None and "embedlab" in modules, "cell 0 is not the bootstrap cell"
    assert _src(first) == ch.bootstrap_source(modules, ch.bootstrap_debian(_src(first))), \
        "run `python -m tools.chapters bootstrap`"
    assert "remove-cell" in first.get("metadata", {}).get("tags", []), "tag the bootstrap cell remove-cell"
    out = "".join("".join(o.get("text", "")) for o in first.get("outputs", []))
    assert re.fullmatch(r"embedlab \S+\n", out), f"the bootstrap cell should only print the version, got {out!r}"


def test_stored_executed_in_order(nb):
    counts = [c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"]
    assert counts and None not in counts, "some code cells were never executed: run make execute"
    assert counts == list(range(1, len(counts) + 1)), "cells were not run once, top to bottom, in a fresh kernel"


def test_no_errors_warnings_or_stderr(nb):
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"cell {i} stored a traceback"
            if out["output_type"] == "stream":
                assert out["name"] != "stderr", f"cell {i} wrote to stderr: {''.join(out['text'])[:300]!r}"
                text = "".join(out["text"])
                assert not re.search(r"\w*Warning\b|Traceback", text), f"cell {i} printed a warning: {text[:300]!r}"
            for mime, data in out.get("data", {}).items():
                if mime == "text/plain":
                    assert "Warning:" not in "".join(data), f"cell {i} shows a warning"


def test_chapter_contract(nb):
    md = _markdown(nb)
    code = "\n".join(_src(c) for c in nb["cells"] if c["cell_type"] == "code")
    titles = re.findall(r"^# (.+)$", md, flags=re.M)
    assert len(titles) == 1, f"a chapter has exactly one '# ' title, found {titles}"
    assert re.search(r"^## Learning objectives", md, flags=re.M), "missing '## Learning objectives'"
    assert re.search(r"^## Summary", md, flags=re.M), "missing '## Summary'"
    assert re.search(r"^## References", md, flags=re.M) and "{footbibliography}" in md, "missing references"
    assert "seed_everything(" in code and "get_device(" in code
    assert "import *" not in code and "filterwarnings" not in code

    exercises = re.findall(r"```\{exercise\}[^\n]*\n:label: (ex-[\w-]+)", md)
    assert len(exercises) >= 3, f"at least three exercises, found {exercises}"
    assert len(set(exercises)) == len(exercises)
    solutions = re.findall(r"```\{solution(?:-start)?\} (ex-[\w-]+)\n:class: dropdown", md)
    assert sorted(solutions) == sorted(exercises), "every exercise needs exactly one dropdown solution"
    assert re.search(r"\bcheck\(\s*[\"']ch\d\d\.", code), "at least one exercise is checked by embedlab.exercises"

    images = sum(
        1 for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    )
    assert images >= 2, f"at least two figures, found {images}"


def test_notebook_size(nb):
    assert nb["_path"].stat().st_size < 3_000_000, "keep notebooks under 3 MB (lighter figures)"


def test_runtime_recorded_and_within_budget(nb):
    t = ch.runtime_of(nb)
    assert t is not None, "no stored run time: execute the chapter with make execute"
    assert t <= ch.BUDGET_S, f"{nb['_path'].name} took {t} s, over the {ch.BUDGET_S:.0f} s budget"


def test_runtime_page_is_current():
    stored = ch.RUNTIMES_PAGE.read_text(encoding="utf-8")
    assert stored == ch.runtimes_page(), "book/runtimes.md is stale: run `python -m tools.chapters runtimes`"


def called_exercises(paths) -> set[str]:
    """The exercise ids the given chapters call ``check(...)`` on."""
    return {i for path in paths
            for i in re.findall(r"check\(\s*[\"'](ch\d\d\.\w+)[\"']", "".join(
                "".join(c["source"]) for c in ch.read_nb(path)["cells"]))}


def test_every_registered_exercise_is_checked_by_a_chapter():
    """A hidden check no chapter calls is dead code (chapter 6's causal_attention was one)."""
    from embedlab.exercises import list_exercises

    called = called_exercises(ch.chapter_paths())
    assert set(list_exercises()) <= called, f"no chapter calls {sorted(set(list_exercises()) - called)}"
    # the guard can fail: without chapter 6, its top_k check is no chapter's
    without_06 = called_exercises([p for p in ch.chapter_paths() if not p.stem.startswith("06")])
    assert "ch06.top_k" in set(list_exercises()) - without_06
