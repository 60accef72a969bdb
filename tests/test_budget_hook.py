"""The root conftest.py fails an nbval session whose chapter ran over the budget."""

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
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [],
            "source": ["import time\n", "time.sleep(0.3)"]}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "tiny.ipynb").write_text(json.dumps(nb))
    env = {**os.environ, "EMBEDLAB_CHAPTER_BUDGET_S": budget}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "tiny.ipynb"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_chapter_over_budget_fails_the_session(tmp_path: Path) -> None:
    proc = _run(tmp_path, budget="0.1")
    assert proc.returncode != 0, proc.stdout
    assert "OVER BUDGET" in proc.stdout and "chapter run times under nbval" in proc.stdout


def test_chapter_within_budget_passes(tmp_path: Path) -> None:
    proc = _run(tmp_path, budget="90")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tiny.ipynb" in proc.stdout and "OVER BUDGET" not in proc.stdout
