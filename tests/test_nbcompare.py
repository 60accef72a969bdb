"""The numeric-aware output comparison (tools/nbcompare.py) that nbval uses for the chapters.

It must accept what moves between CPU kernels (a last digit, a trained number within its measured
spread) and still catch every real change: a probe accuracy 0.850 -> 0.700, a word in a neighbour
list, a changed shape, a count.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import nbcompare as nc

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = nc.Tolerance()
PROBE = nc.Tolerance(atol=0.03, why="probe accuracy; spread 0.822-0.850 across kernels")


@pytest.mark.parametrize(
    "ref, test",
    [
        ("accuracy 0.850", "accuracy 0.851"),  # rounding either side of a boundary
        ("loss 1.92 nats", "loss 1.91 nats"),
        ("r = 3.1e-08", "r = 3.2e-08"),
        ("0.850", "0.85"),  # the same number printed with fewer digits
        ("shape (64, 32), error < 1e-12", "shape (64, 32), error < 1e-12"),
    ],
)
def test_default_accepts_a_last_digit_and_identical_text(ref, test):
    assert nc.text_difference(ref, test, DEFAULT) is None


@pytest.mark.parametrize(
    "ref, test, reason",
    [
        ("probe accuracy 0.850", "probe accuracy 0.700", "allowed"),
        ("probe accuracy 0.850", "probe accuracy 0.848", "allowed"),  # two units in the last place
        ("changed by 9.4e-16", "changed by 7.2e-16", "allowed"),  # rounding noise printed as a value
        ("shape (64, 32)", "shape (64, 33)", "integers compare exactly"),
        ("32% of 154 words", "32% of 155 words", "integers compare exactly"),
        ("king: queen, prince", "king: prince, queen", "text differs"),  # a near-tie order
        ("neighbours: paris, rome", "neighbours: paris, lyon", "text differs"),
        ("a\nb 0.5", "a\nb 0.5\nc", "text differs"),
        ("nan", "0.5", "text differs"),
    ],
)
def test_default_catches_real_changes(ref, test, reason):
    why = nc.text_difference(ref, test, DEFAULT)
    assert why is not None and reason in why, why


def test_a_declared_tolerance_accepts_the_measured_spread_and_no_more():
    assert nc.text_difference("probe 0.850", "probe 0.822", PROBE) is None
    assert nc.text_difference("probe 0.850", "probe 0.700", PROBE) is not None
    assert nc.text_difference("(64, 32)", "(64, 33)", PROBE) is not None  # integers still exact
    counts = nc.Tolerance(atol=2, integers=True, why="words in sampled text")
    assert nc.text_difference("154 words", "155 words", counts) is None
    assert nc.text_difference("154 words", "160 words", counts) is not None
    relative = nc.Tolerance(rtol=0.05, why="throughput-free ratio")
    assert nc.text_difference("x 100.0", "x 104.0", relative) is None
    assert nc.text_difference("x 100.0", "x 106.0", relative) is not None


def test_numbers_glued_to_words_are_text():
    assert nc.text_difference("ch04 done", "ch05 done", PROBE) is not None
    assert nc.NUMBER.findall("x86_64 ch04 d=32 -0.5 1e-3 R@10") == ["32", "-0.5", "1e-3", "10"]


def test_tolerance_from_metadata_validates_with_clear_errors():
    assert nc.Tolerance.from_metadata({}) == DEFAULT
    ok = {"embedlab": {"tolerance": {"atol": 0.03, "why": "spread 0.02"}}}
    assert nc.Tolerance.from_metadata(ok).atol == 0.03
    bad = [
        ({"atol": 0.03}, "why"),
        ({"atol": 0.03, "why": "x", "rtl": 1}, "unknown keys"),
        ({"atol": -1, "why": "x"}, "atol"),
        ({"rtol": "5%", "why": "x"}, "rtol"),
        ({"integers": "yes", "why": "x"}, "integers"),
    ]
    for spec, name in bad:
        with pytest.raises(ValueError, match=name):
            nc.Tolerance.from_metadata({"embedlab": {"tolerance": spec}})


def test_reconcile_makes_agreeing_outputs_identical_and_reports_the_rest():
    ref = [
        {"output_type": "stream", "name": "stdout", "text": "acc 0.850\n"},
        {"output_type": "execute_result", "data": {"text/plain": "tensor(0.5000)", "image/png": "x"}},
    ]
    test = [
        {"output_type": "stream", "name": "stdout", "text": "acc 0.851\n"},
        {"output_type": "execute_result", "data": {"text/plain": "tensor(0.7000)", "image/png": "y"}},
    ]
    problems = nc.reconcile(test, ref, DEFAULT)
    assert test[0]["text"] == "acc 0.850\n"  # made identical
    assert test[1]["data"]["text/plain"] == "tensor(0.7000)"  # left for nbval to report
    assert len(problems) == 1 and "0.5000 vs 0.7000" in problems[0]


def test_sanitizers_apply_before_numbers_compare():
    sanitize = nc.load_sanitizers(ROOT / "tests" / "nbval_sanitize.cfg")
    ref = [{"output_type": "stream", "name": "stdout", "text": "trained in 12.5 s at 512,000 words/s\n"}]
    test = [{"output_type": "stream", "name": "stdout", "text": "trained in 31.0 s at 203,000 words/s\n"}]
    assert nc.reconcile(test, ref, DEFAULT, sanitize) == []


def _cell(source: str, stored: str, tolerance: dict | None = None) -> dict:
    metadata = {"embedlab": {"tolerance": tolerance}} if tolerance else {}
    return {"cell_type": "code", "execution_count": 1, "metadata": metadata, "source": source,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": stored}]}


def test_nbval_uses_the_numeric_comparison(tmp_path: Path):
    """End to end: pytest --nbval with the root conftest accepts noise and fails real changes."""
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "nbcompare.py", tmp_path / "tools" / "nbcompare.py")
    cells = [
        _cell("print('accuracy 0.851')", "accuracy 0.850\n"),  # 0: last digit: pass
        _cell("print('accuracy 0.700')", "accuracy 0.850\n"),  # 1: real change: fail
        _cell("print('probe 0.822')", "probe 0.850\n", {"atol": 0.03, "why": "spread"}),  # 2: pass
        _cell("print('shape (64, 33)')", "shape (64, 32)\n"),  # 3: shape: fail
        _cell("print('paris, lyon')", "paris, rome\n"),  # 4: a word: fail
    ]
    for i, c in enumerate(cells):
        c["execution_count"] = i + 1
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "tiny.ipynb").write_text(json.dumps(nb))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
         "-v", "--rootdir", str(tmp_path), "tiny.ipynb"],
        cwd=tmp_path, env={**os.environ, "EMBEDLAB_CHAPTER_BUDGET_S": "90"},
        capture_output=True, text=True, timeout=180,
    )
    verdicts = dict(re.findall(r"tiny\W+ipynb::Cell (\d+) (PASSED|FAILED)", proc.stdout))
    assert verdicts == {"0": "PASSED", "1": "FAILED", "2": "PASSED", "3": "FAILED", "4": "FAILED"}, proc.stdout
    assert "0.850 vs 0.700" in proc.stdout  # the report names the number that moved
