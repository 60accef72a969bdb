"""Root test configuration for nbval: numeric-aware output comparison and the chapter budget.

With ``--nbval``, stored and fresh outputs are compared by ``tools/nbcompare.py``: text exactly,
numbers within one unit of their last printed place or a cell's declared tolerance, so that the
chapters verify on any CPU (their last digits move with the SIMD kernels).

It lives at the repository root because `pytest --nbval chapters` collects only conftest files
above the chapters (tests/conftest.py is not one of them). While nbval re-runs a notebook we add
up the time of its cells and report it against EMBEDLAB_CHAPTER_BUDGET_S (default 90 s, the book's
promise for 2 idle CPU cores). The session fails only for a chapter past EMBEDLAB_BUDGET_SLACK
(default 2) times the budget: machine speed drifts 2-3x within a day, and a test may guard a budget
only with slack that noise cannot cross. The promise itself is measured by `make execute` on an
idle machine and checked by tests/test_chapters.py.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))

_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False):
        import nbcompare  # tools/nbcompare.py

        nbcompare.install()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _notebook_seconds:
        return
    budget = float(os.environ.get("EMBEDLAB_CHAPTER_BUDGET_S", "90"))
    # These machines drift 2-3x in speed within a day: over the budget is reported, and only a
    # chapter past SLACK x budget (a regression no slow period explains) fails the session.
    slack = float(os.environ.get("EMBEDLAB_BUDGET_SLACK", "2"))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    over = {p: s for p, s in _notebook_seconds.items() if s > budget}
    failed = {p: s for p, s in over.items() if s > slack * budget}
    if reporter is not None:
        reporter.write_sep("-", f"chapter run times under nbval (budget {budget:.0f} s)")
        for p, s in sorted(_notebook_seconds.items()):
            flag = "   FAILED: over slack x budget" if p in failed else "   OVER BUDGET" if p in over else ""
            reporter.write_line(f"{s:7.1f} s  {p}{flag}")
        if over and not failed:
            reporter.write_line(
                f"over the {budget:.0f} s budget (reported, not failed below {slack * budget:.0f} s; "
                "check `make execute` on an idle machine): " + ", ".join(sorted(over)), yellow=True
            )
    if failed:
        if reporter is not None:
            reporter.write_line(
                f"chapters over {slack:g} x the {budget:.0f} s budget: {sorted(failed)}", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
