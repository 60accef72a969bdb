"""tools/stages.py: make test runs every stage even after one fails, and names what failed."""

from __future__ import annotations

from pathlib import Path

from tools import stages

JUNIT_FAIL = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="1" errors="1">
<testcase classname="tests.test_x" name="test_ok" file="tests/test_x.py"/>
<testcase classname="tests.test_x" name="test_wrong" file="tests/test_x.py"><failure message="boom"/></testcase>
<testcase classname="chapters.03.ipynb" name="Cell 4" file="chapters/03.ipynb"><error message="oops"/></testcase>
</testsuite></testsuites>"""

MAKEFILE = """\
first:
\t@echo first runs
\t@exit 1
second:
\t@printf '%s' '{junit}' > $(JUNIT)
\t@exit 1
lintish:
\t@echo 'src/embedlab/x.py:3:1: F401 [*] `os` imported but unused'
\t@echo 'src/embedlab/y.py:7: error: Incompatible return value type  [return-value]'
\t@exit 1
last:
\t@echo last runs too
"""


def test_every_stage_runs_after_failures_and_the_table_names_the_failing_ids(tmp_path: Path, capsys) -> None:
    (tmp_path / "Makefile").write_text(MAKEFILE.format(junit=JUNIT_FAIL.replace("\n", "")))
    code = stages.main(["first", "second", "lintish", "last"], root=tmp_path)
    out = capsys.readouterr().out
    assert code == 1
    assert "first runs" in out and "last runs too" in out  # streamed, and the last stage ran
    summary = out[out.index("===== make test: 1 of 4 stages passed"):]
    rows = {line.split()[0]: line for line in summary.splitlines()[1:] if line and not line.startswith(("-", "FAILED"))}
    assert rows["stage"].split()[:4] == ["stage", "result", "seconds", "failing"]
    assert "FAILED (2)" in rows["first"] and "see _build/stages/first.log" in rows["first"]
    assert "tests/test_x.py::test_wrong; chapters/03.ipynb::Cell 4" in rows["second"]
    assert "test_ok" not in rows["second"]
    assert "src/embedlab/x.py:3:1 F401; src/embedlab/y.py:7 return-value" in rows["lintish"]  # ruff's, then mypy's
    assert "passed" in rows["last"]
    assert "FAILED stages: first, second, lintish" in summary
    assert (tmp_path / "_build" / "stages" / "first.log").read_text().startswith("first runs\n")


def test_all_passing_exits_zero(tmp_path: Path, capsys) -> None:
    (tmp_path / "Makefile").write_text("a:\n\t@true\nb:\n\t@true\n")
    assert stages.main(["a", "b"], root=tmp_path) == 0
    assert "2 of 2 stages passed" in capsys.readouterr().out


def test_usage(capsys) -> None:
    assert stages.main([]) == 2 and stages.main(["--all"]) == 2
    assert "usage" in capsys.readouterr().err


def test_the_junit_reader_on_a_missing_or_broken_report(tmp_path: Path) -> None:
    assert stages.failing_tests(tmp_path / "none.xml") == []
    (tmp_path / "bad.xml").write_text("<testsuite")
    assert stages.failing_tests(tmp_path / "bad.xml") == ["(unreadable report bad.xml)"]
