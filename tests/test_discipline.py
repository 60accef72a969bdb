"""tools.discipline: rules 1 and 3 of "How this book compares" (no choice made on test data; no
comparison hedged as "slightly better"), checked on every chapter, and shown to catch the slips
they exist for."""

from __future__ import annotations

import nbformat
import pytest

from tools import chapters, discipline


@pytest.mark.parametrize("path", chapters.chapter_paths(), ids=lambda p: p.stem)
def test_every_chapter_follows_the_checkable_rules(path):
    assert discipline.violations(path) == []


@pytest.mark.parametrize("source", [
    "T = fit_temperature(logits_test, y_test)",
    "s = calibration.fit_scaling(task.test.logits, task.test.labels)",
    "k = choose_components(X, pairs=ws_test)",
    "idf = select_idf_corpus(corpora, queries=test_queries)",
    "best = tune_alpha(grid, data=split.test)",
    "m = fit_confidence(features[test_idx], correct[test_idx])",
    "c = choose_k(valid, score=lambda q: ndcg(q, tests))",
])
def test_a_choice_on_test_data_is_caught(source):
    found = discipline.violations_in_source(source)
    assert len(found) == 1 and "chooses using" in found[0]


@pytest.mark.parametrize("source", [
    "T = fit_temperature(logits_valid, y_valid)",
    "s = fit_scaling(task.valid.logits, task.valid.labels)",
    "k = choose_components(X_latest, pairs=contest)",   # 'test' inside a word is not a test split
    "print(evaluate(model, test_ids))",                 # scoring on test is what test is for
    "%time T = fit_temperature(lv, yv)",                # magics do not break the parse
])
def test_choices_on_validation_and_scoring_on_test_pass(source):
    assert discipline.violations_in_source(source) == []


def test_a_notebook_with_a_test_choice_fails_the_command(tmp_path, monkeypatch, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# x"), nbformat.v4.new_code_cell("T = fit_temperature(z_test, y_test)")]
    path = tmp_path / "99_bad.ipynb"
    nbformat.write(nb, path)
    monkeypatch.setattr(chapters, "chapter_paths", lambda: [path])
    assert discipline.main([]) == 1
    assert "99_bad.ipynb cell 1, line 1: fit_temperature(...) chooses using y_test, z_test" in capsys.readouterr().out
    nb.cells[1].source = "T = fit_temperature(z_valid, y_valid)"
    nbformat.write(nb, path)
    assert discipline.main([]) == 0


def test_a_hedged_comparison_is_caught_and_plain_statements_pass():
    for text in ("the annealed softmax finished slightly ahead of Thompson sampling",
                 "BPR is marginally better", "Slightly\nworse on SimLex"):
        assert len(discipline.hedges_in_text(text)) == 1, text
    for text in ("a tie: the interval contains 0", "0.2 higher, with a paired interval clear of zero",
                 "slightly more than half of the pairs"):
        assert discipline.hedges_in_text(text) == [], text
