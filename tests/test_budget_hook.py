"""The root conftest.py reports a chapter over budget and fails one past slack x budget."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, budget: str, slack: str = "2") -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "nbcompare.py", tmp_path / "tools" / "nbcompare.py")
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [],
            "source": ["import time\n", "time.sleep(0.3)"]}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "tiny.ipynb").write_text(json.dumps(nb))
    env = {**os.environ, "EMBEDLAB_CHAPTER_BUDGET_S": budget, "EMBEDLAB_BUDGET_SLACK": slack}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "tiny.ipynb"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_chapter_past_slack_times_the_budget_fails_the_session(tmp_path: Path) -> None:
    proc = _run(tmp_path, budget="0.1")  # 0.3 s > 2 x 0.1 s
    assert proc.returncode != 0, proc.stdout
    assert "FAILED: over slack x budget" in proc.stdout and "chapter run times under nbval" in proc.stdout


def test_chapter_over_budget_within_slack_is_reported_not_failed(tmp_path: Path) -> None:
    proc = _run(tmp_path, budget="0.2", slack="100")  # 0.3 s: over 0.2 s, far below 20 s
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OVER BUDGET" in proc.stdout and "reported, not failed" in proc.stdout


def test_chapter_within_budget_passes(tmp_path: Path) -> None:
    proc = _run(tmp_path, budget="90")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tiny.ipynb" in proc.stdout and "OVER BUDGET" not in proc.stdout
