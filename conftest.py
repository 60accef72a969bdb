"""Root test configuration: the chapter budget, enforced while nbval re-runs the chapters.

It lives at the repository root because `pytest --nbval chapters` collects only conftest files
above the chapters (tests/conftest.py is not one of them). While nbval re-runs a notebook we add
up the time of its cells; the session fails if any chapter took longer than
EMBEDLAB_CHAPTER_BUDGET_S (default 90 s, the book's promise for 2 CPU cores; a slower runner may
set a looser value). The stored run times are checked separately by tests/test_chapters.py.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _notebook_seconds:
        return
    budget = float(os.environ.get("EMBEDLAB_CHAPTER_BUDGET_S", "90"))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    over = {p: s for p, s in _notebook_seconds.items() if s > budget}
    if reporter is not None:
        reporter.write_sep("-", "chapter run times under nbval")
        for p, s in sorted(_notebook_seconds.items()):
            reporter.write_line(f"{s:7.1f} s  {p}{'   OVER BUDGET' if p in over else ''}")
    if over:
        if reporter is not None:
            reporter.write_line(f"chapters over the {budget:.0f} s budget: {sorted(over)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
