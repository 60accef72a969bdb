"""embedlab.exercises: verdicts, friendliness, and every registered exercise's reference passes."""

import signal
import sys
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import embedlab.exercises as exercises
import embedlab.matching as matching
import embedlab.timelimit as timelimit
from embedlab.exercises import Case, CheckResult, Exercise, check, list_exercises


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
    # the first and last axes swapped (what .T did before torch deprecated it beyond 2-D)
    msg = check("ch01.one_hot_lookup", lambda ids, w: w[ids].transpose(0, -1), quiet=True).message
    assert "expected shape" in msg


def test_student_cannot_corrupt_the_reference_inputs():
    def mutating(ids, weight):
        out = F.one_hot(ids, weight.shape[0]).to(weight.dtype) @ weight.detach()
        weight.data.zero_()  # an in-place edit must not change what the reference sees
        return out if not weight.requires_grad else out + 0 * weight.sum()

    assert check("ch01.one_hot_lookup", mutating, quiet=True)

    def mutating_mask(lengths, S):
        keep = torch.arange(S)[None, :] < lengths[:, None]
        lengths -= 1  # in place, after use
        return keep[:, None, None, :]

    assert check("ch05.padding_mask", mutating_mask, quiet=True)
    nested = {"t": torch.ones(2), "xs": [torch.zeros(1)]}
    copy = exercises._clone(nested)
    copy["t"].zero_(), copy["xs"][0].fill_(5)
    assert nested["t"].sum() == 2 and nested["xs"][0].item() == 0  # keyword arguments are copied too
    w = torch.ones(2, requires_grad=True)
    assert exercises._clone((w,))[0].requires_grad  # ch01's product-or-lookup case relies on this


def test_unknown_exercise_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown exercise"):
        check("ch01.nope", lambda: None)
    with pytest.raises(KeyError, match="no exercises for"):
        check("ch99.x", lambda: None)


def test_mismatch_gives_a_reason_and_close_reads_the_obvious_way():
    mismatch, close = matching.mismatch, matching.close
    assert mismatch(torch.ones(2), torch.ones(2)) is None
    assert "shape" in mismatch(torch.ones(3), torch.ones(2))
    assert mismatch(1.0 + 1e-9, 1.0) is None and mismatch(2.0, 1.0)
    assert mismatch((1, torch.zeros(1)), (1, torch.zeros(1))) is None
    assert "item 1" in mismatch((1, torch.ones(1)), (1, torch.zeros(1)))
    assert mismatch(torch.tensor([1, 2]), torch.tensor([1, 2])) is None
    # `if close(a, b):` means "they match" (it used to return None, i.e. falsy, when they did)
    assert close(torch.ones(2), torch.ones(2)) is True
    assert close(torch.ones(2), torch.zeros(2)) is False
    assert close(1.0 + 1e-9, 1.0) and not close(2.0, 1.0)


def test_dtype_is_named_when_only_the_dtype_is_wrong():
    mismatch = matching.mismatch
    why = mismatch(torch.tensor([1.0, 2.0]), torch.tensor([1, 2]))
    assert "dtype" in why and "torch.int64" in why and "torch.float32" in why and "values are right" in why
    assert "values differ" not in why
    why = mismatch(torch.tensor([1.0, 3.0]), torch.tensor([1, 2]))
    assert "values differ at 1 of 2 positions" in why and "index [1]" in why and "dtype" in why
    assert "values differ" in mismatch(torch.tensor([1, 3]), torch.tensor([1, 2]))
    assert mismatch(torch.tensor([1, 2], dtype=torch.int32), torch.tensor([1, 2])) is None  # any integer dtype
    assert "dtype torch.bool" in mismatch(torch.tensor([1, 0]), torch.tensor([True, False]))
    assert mismatch(torch.ones(2, dtype=torch.float32), torch.ones(2, dtype=torch.float64)) is None
    why = mismatch(torch.tensor([[0.0, 1.0], [2.0, 3.5]]), torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
    assert "values differ" in why and "(1, 1)" in why and "expected 3, got 3.5" in why
    assert "NaN" in mismatch(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]))
    assert mismatch(torch.tensor([float("-inf"), 1.0]), torch.tensor([float("-inf"), 1.0])) is None
    assert "integer" in mismatch(6.0, 6) and mismatch(np.int64(6), 6) is None
    res = check("ch01.row_grad_count", lambda ids, V: torch.bincount(ids.reshape(-1), minlength=V).float(), quiet=True)
    assert not res and "dtype" in res.message and "values differ" not in res.message


def test_odd_return_values_are_explained_not_raised():
    """Each of these raised through check before (or passed a wrong answer)."""

    class Awkward:
        def __eq__(self, other):
            raise RuntimeError("no comparing me")

        def __repr__(self):
            raise RuntimeError("no printing me")

    for fn, words in [
        (lambda V, d, tied: np.array([1, 2]), "expected a single number"),
        (lambda V, d, tied: torch.tensor([V, d]), "expected a single number"),
        (lambda V, d, tied: Awkward(), "returned an Awkward, which cannot be graded"),
        (lambda V, d, tied: "30050000", "expected a number, got a str"),
    ]:
        res = check("ch01.param_count", fn, quiet=True)
        assert not res and words in res.message, res.message
    res = check("ch01.one_hot_lookup", lambda ids, w: (F.one_hot(ids, w.shape[0]).to(w.dtype) @ w).tolist(), quiet=True)
    assert not res and "expected a tensor of shape (5, 3), got a list" in res.message


def test_a_comparison_that_raises_or_answers_a_bool_is_handled(monkeypatch):
    def compare_raises(got, expected):
        raise SystemExit("bad compare")

    for compare, fn, ok, words in [
        (compare_raises, lambda x: x, False, "could not compare what your function returned"),
        (matching.close, lambda x: x, True, "passed all 1"),  # a bool: True means they match
        (matching.close, lambda x: x + 1, False, "values differ"),
    ]:
        ex = Exercise("ch00.demo", reference=lambda x: x, cases=lambda: [Case((torch.ones(2),))], compare=compare)
        monkeypatch.setattr(exercises, "_load", lambda _id, ex=ex: ex)
        res = check("ch00.demo", fn, quiet=True)
        assert bool(res) is ok and words in res.message, res.message


def test_sys_exit_in_student_code_is_reported_not_raised():
    res = check("ch01.one_hot_lookup", lambda ids, w: sys.exit(1), quiet=True)
    assert not res and "case 1 of" in res.message and "SystemExit" in res.message
    res = check("ch02.cosine_zero", lambda a, b: sys.exit(), quiet=True)  # the expect_error path too
    assert not res and "expected ValueError, got SystemExit" in res.message


def test_keyboard_interrupt_still_stops_the_check():
    # Deliberate: the interrupt button must work as everywhere else in Python.
    def interrupted(ids, w):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check("ch01.one_hot_lookup", interrupted, quiet=True)


def test_wrong_arguments_none_nan_and_not_a_function():
    res = check("ch01.one_hot_lookup", lambda ids: ids, quiet=True)
    assert not res and "cannot be called with 2 positional arguments" in res.message
    res = check("ch01.param_count", lambda V, d: V * d, quiet=True)
    assert not res and "tied" in res.message
    assert "returned None" in check("ch02.cosine", lambda a, b: None, quiet=True).message
    res = check("ch02.cosine", lambda a, b: float("nan"), quiet=True)
    assert not res and "got nan" in res.message
    res = check("ch01.one_hot_lookup", torch.ones(3), quiet=True)  # the result, not the function
    assert not res and "needs your function itself" in res.message


def test_an_endless_loop_times_out_and_the_alarm_is_restored():
    def endless(ids, weight):
        while True:
            pass

    before = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    res = check("ch01.one_hot_lookup", endless, quiet=True, timeout=60)
    assert time.monotonic() - start < 600  # stopped: the loop never ends by itself
    assert not res and "case 1 of" in res.message and "did not finish within 60 s" in res.message
    first = endless.__code__.co_firstlineno  # where it was stuck: the `while` or the `pass`
    assert f"(line {first + 1}: while True:)" in res.message or f"(line {first + 2}: pass)" in res.message
    assert signal.getsignal(signal.SIGALRM) == before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)

    def stubborn(ids, weight):  # swallows the interruption and returns anyway: still too slow
        try:
            while True:
                pass
        except BaseException:
            return weight

    assert "did not finish" in check("ch01.one_hot_lookup", stubborn, quiet=True, timeout=60).message
    assert check("ch01.param_count", lambda V, d, tied: V * d * (1 if tied else 2) + V, quiet=True, timeout=None)


def test_outside_the_main_thread_the_timeout_uses_a_worker_thread():
    stop = threading.Event()

    def stuck(ids, weight):
        stop.wait(600)

    results = []
    t = threading.Thread(target=lambda: results.append(check("ch01.one_hot_lookup", stuck, quiet=True, timeout=60)))
    t.start()
    t.join(600)  # a limit, not a verdict: the check gives up after 60 s
    stop.set()
    assert results and not results[0]
    msg = results[0].message
    assert "did not finish within 60 s" in msg and "still running in the background" in msg
    assert f"(line {stuck.__code__.co_firstlineno + 1}: stop.wait(600))" in msg

    def good(V, d, tied):  # and a function that finishes passes, its value handed back from the thread
        return V * d * (1 if tied else 2) + V

    results.clear()
    t = threading.Thread(target=lambda: results.append(check("ch01.param_count", good, quiet=True)))
    t.start()
    t.join(600)  # a limit, not a verdict: good() returns at once
    assert results and results[0]


def test_the_reported_line_is_the_students_not_the_librarys():
    def student(ids, weight):
        x = ids + 1
        return torch.einsum("ij,jk->ik", weight, x)  # raises inside torch/functional.py

    res = check("ch01.one_hot_lookup", student, quiet=True)
    assert not res and "raised RuntimeError" in res.message
    assert f"(line {student.__code__.co_firstlineno + 2}: " in res.message

    def bincount_floats(ids, V):
        return torch.bincount(ids.reshape(-1).float(), minlength=V)  # raises in C: no library frame

    res = check("ch01.row_grad_count", bincount_floats, quiet=True)
    assert f"(line {bincount_floats.__code__.co_firstlineno + 1}: " in res.message
    assert timelimit.is_students_file("/tmp/ipykernel_1234/3456789.py")  # a Jupyter cell
    assert timelimit.is_students_file("<ipython-input-3-0123abcd>")
    assert not timelimit.is_students_file(torch.nn.functional.__file__)
    assert not timelimit.is_students_file(np.__file__) and not timelimit.is_students_file(exercises.__file__)
    assert not timelimit.is_students_file(threading.__file__)


def test_one_hot_lookup_must_be_a_product_not_indexing():
    def product(ids, w):
        return F.one_hot(ids, w.shape[0]).to(w.dtype) @ w

    assert check("ch01.one_hot_lookup", product, quiet=True)
    einsum = lambda ids, w: torch.einsum("...v,vd->...d", F.one_hot(ids, w.shape[0]).to(w.dtype), w)  # noqa: E731
    assert check("ch01.one_hot_lookup", einsum, quiet=True)
    for lookup in (
        lambda ids, w: w[ids],
        lambda ids, w: F.embedding(ids, w),
        lambda ids, w: w.index_select(0, ids.reshape(-1)).reshape(*ids.shape, -1),
        lambda ids, w: w[ids] * 1.0,
    ):
        res = check("ch01.one_hot_lookup", lookup, quiet=True)
        assert not res and "weight that requires grad" in res.message, res.message
        assert "one-hot matrix product" in res.message, res.message
    res = check("ch01.one_hot_lookup", lambda ids, w: product(ids, w).detach(), quiet=True)
    assert not res and "autograd" in res.message


def test_result_is_truthy_only_when_all_pass():
    assert not CheckResult("x", 0, 0, "")
    assert CheckResult("x", 3, 3, "")
    assert not CheckResult("x", 2, 3, "")


def test_padding_mask_must_be_boolean():
    def mask(lengths, S):
        return (torch.arange(S)[None, :] < lengths[:, None])[:, None, None, :]

    assert check("ch05.padding_mask", mask, quiet=True)
    # a 0/1 integer mask has the right values, but F.scaled_dot_product_attention rejects it
    res = check("ch05.padding_mask", lambda lengths, S: mask(lengths, S).long(), quiet=True)
    assert not res and "dtype torch.bool" in res.message and "values are right" in res.message


def test_posterior_update_catches_a_missing_outer_product_or_reward():
    def right(a_inv, b, x, r):
        return np.linalg.inv(np.linalg.inv(a_inv) + np.outer(x, x)), b + r * x

    def no_outer(a_inv, b, x, r):  # u * u instead of u uᵀ
        u = a_inv @ x
        return a_inv - (u * u) / (1 + x @ u), b + r * x

    def no_reward(a_inv, b, x, r):  # every observation counted as a click
        u = a_inv @ x
        return a_inv - np.outer(u, u) / (1 + x @ u), b + x

    assert check("ch07.posterior_update", right, quiet=True)
    for wrong in (no_outer, no_reward):
        assert not check("ch07.posterior_update", wrong, quiet=True)
