"""The root conftest.py reports each chapter's run time under nbval against the budget and never fails on it
(the budget is guarded by the stored run times, tests/test_chapters.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, budget: str) -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "nbcompare.py", tmp_path / "tools" / "nbcompare.py")
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [],
            "source": ["import time\n", "time.sleep(0.3)"]}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "tiny.ipynb").write_text(json.dumps(nb))
    env = {**os.environ, "EMBEDLAB_CHAPTER_BUDGET_S": budget}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "tiny.ipynb"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,  # generous: a busy machine
    )


def test_a_chapter_far_over_budget_is_reported_and_never_fails_the_session(tmp_path: Path) -> None:
    proc = _run(tmp_path, budget="0.01")  # 0.3 s is 30 x the budget: still only reported
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "chapter run times under nbval" in proc.stdout
    assert "tiny.ipynb   over budget (reported)" in proc.stdout and "reported, never failed" in proc.stdout


def test_a_chapter_within_budget_is_listed_without_a_flag(tmp_path: Path) -> None:
    proc = _run(tmp_path, budget="90")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tiny.ipynb" in proc.stdout and "over budget" not in proc.stdout


def test_a_wrong_output_still_fails(tmp_path: Path) -> None:
    """The hook reports times; it must not swallow a real failure."""
    nb_path = tmp_path / "tiny.ipynb"
    proc = _run(tmp_path, budget="90")  # writes the notebook; now store an output the cell does not print
    nb = json.loads(nb_path.read_text())
    nb["cells"][0]["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["never printed\n"]}]
    nb_path.write_text(json.dumps(nb))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "tiny.ipynb"],
        cwd=tmp_path, env={**os.environ, "EMBEDLAB_CHAPTER_BUDGET_S": "90"}, capture_output=True, text=True,
        timeout=600,
    )
    assert proc.returncode != 0 and "chapter run times under nbval" in proc.stdout
