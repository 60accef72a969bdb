"""embedlab.exercises: verdicts, friendliness, and every registered exercise's reference passes."""

import pytest
import torch

from embedlab.exercises import CheckResult, check, close, list_exercises


def test_every_registered_reference_passes_its_own_check():
    ids = list_exercises()
    assert ids, "no exercises registered"
    from embedlab.exercises import _load

    for ex_id in ids:
        ex = _load(ex_id)
        if ex.expect_error is None:
            assert check(ex_id, ex.reference, quiet=True), ex_id


def test_a_wrong_answer_fails_with_a_helpful_message(capsys):
    result = check("ch01.one_hot_lookup", lambda ids, w: w[ids] * 2)
    out = capsys.readouterr().out
    assert not result and result.passed == 0 and result.total >= 4
    assert "not yet" in out and "values differ" in out and "Hint:" in out


def test_an_exception_in_student_code_is_reported_not_raised(capsys):
    def broken(ids, weight):
        raise RuntimeError("oops")

    result = check("ch01.one_hot_lookup", broken)
    assert not result
    assert "raised RuntimeError: oops" in capsys.readouterr().out


def test_missing_return_and_wrong_shape_are_explained():
    assert "returned None" in check("ch01.one_hot_lookup", lambda ids, w: None, quiet=True).message
    msg = check("ch01.one_hot_lookup", lambda ids, w: w[ids].T, quiet=True).message
    assert "expected shape" in msg


def test_student_cannot_corrupt_the_reference_inputs():
    def mutating(ids, weight):
        out = weight[ids].clone()
        weight.zero_()  # an in-place edit must not change what the reference sees
        return out

    assert check("ch01.one_hot_lookup", mutating, quiet=True)


def test_unknown_exercise_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown exercise"):
        check("ch01.nope", lambda: None)
    with pytest.raises(KeyError, match="no exercises for"):
        check("ch99.x", lambda: None)


def test_close_compares_structures():
    assert close(torch.ones(2), torch.ones(2)) is None
    assert "shape" in close(torch.ones(3), torch.ones(2))
    assert close(1.0 + 1e-9, 1.0) is None and close(2.0, 1.0)
    assert close((1, torch.zeros(1)), (1, torch.zeros(1))) is None
    assert "item 1" in close((1, torch.ones(1)), (1, torch.zeros(1)))
    assert close(torch.tensor([1, 2]), torch.tensor([1, 2])) is None
    assert close(torch.tensor([1.0, 2.0]), torch.tensor([1, 2])) == "values differ"


def test_result_is_truthy_only_when_all_pass():
    assert not CheckResult("x", 0, 0, "")
    assert CheckResult("x", 3, 3, "")
    assert not CheckResult("x", 2, 3, "")
