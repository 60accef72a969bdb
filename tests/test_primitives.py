"""The private homes of the primitives, against references: embedlab._checks (argument checks) and
embedlab._rows (softmax, unit rows, top-k with the lower-id tie rule, list overlap).

Each comparison is a small function that returns what differs from the reference; every such
function is also shown to catch a deliberately wrong implementation, so that a check that cannot
fail does not pass for a test.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import torch
from sklearn.preprocessing import normalize
from torch.nn import functional as F

from embedlab import _checks as checks
from embedlab import _rows as rows
from embedlab._checks import ArgumentError

RNG = np.random.default_rng(21)


def refused(prefix: str, fn, /, *args, **kwargs) -> ArgumentError:
    """fn(*args, **kwargs) raises an ArgumentError (a ValueError and a TypeError) whose message starts with ``name``."""
    with pytest.raises(ArgumentError) as info:
        fn(*args, **kwargs)
    e = info.value
    assert isinstance(e, ValueError) and isinstance(e, TypeError)
    assert str(e).startswith(prefix), f"the message should start with {prefix!r}: {e}"
    return e


# --------------------------------------------------------------------------- softmax, log_softmax


def softmax_differences(fn, x: np.ndarray, *, log: bool = False, tol: float = 1e-12) -> list[str]:
    """What differs between fn(x) and scipy's and torch's softmax (float64), with NumPy and tensor input."""
    ref_scipy = (scipy.special.log_softmax if log else scipy.special.softmax)(x, axis=-1)
    ref_torch = (F.log_softmax if log else F.softmax)(torch.from_numpy(x), dim=-1).numpy()
    problems = []
    for label, got in (("numpy", fn(x)), ("torch", fn(torch.from_numpy(x)).numpy())):
        for ref_name, ref in (("scipy", ref_scipy), ("torch", ref_torch)):
            finite = np.isfinite(ref)
            if not (np.array_equal(np.isfinite(got), finite) and np.array_equal(got[~finite], ref[~finite])):
                problems.append(f"{label} input: non-finite entries differ from {ref_name}")
            elif not np.allclose(got[finite], ref[finite], rtol=tol, atol=tol):
                problems.append(f"{label} input: values differ from {ref_name}")
    return problems


CASES = {
    "random": RNG.normal(size=(7, 11)) * 3,
    "masked (-inf)": np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf], [1.0, 1.0, 1.0]]),
    "scale 1e300": np.array([[1e300, 0.0, -1e300], [1e300, 1e300, 0.0], [-1e300, -1e300, -1e300]]),
    "scale 1e-300": RNG.normal(size=(3, 5)) * 1e-300,
    "one entry": np.array([[5.0], [-1e300]]),
    "3-d": RNG.normal(size=(2, 3, 4)),
}


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_softmax_equals_scipy_and_torch_in_float64(case, log):
    fn = rows.log_softmax if log else rows.softmax
    assert softmax_differences(fn, CASES[case], log=log) == []


def test_the_softmax_comparison_catches_a_wrong_softmax():
    naive = lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True) if isinstance(z, np.ndarray) else (  # noqa: E731
        z.exp() / z.exp().sum(-1, keepdim=True))
    assert softmax_differences(naive, CASES["random"]) == []  # fine at small scale ...
    with np.errstate(over="ignore", invalid="ignore"):
        assert softmax_differences(naive, CASES["scale 1e300"])  # ... NaN at 1e300: caught
    no_mask = lambda z: rows.softmax(np.where(np.isneginf(z), -1e3, z) if isinstance(z, np.ndarray)  # noqa: E731
                                     else torch.where(torch.isneginf(z), -1e3, z))
    assert softmax_differences(no_mask, CASES["masked (-inf)"], log=True)  # a masked entry must be -inf, not -1000
    off_by_temperature = lambda z: rows.softmax(z * 1.0001)  # noqa: E731
    assert softmax_differences(off_by_temperature, CASES["random"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_keeps_a_low_precision_dtype_and_equals_torch_computed_in_float32(dtype, log):
    x = torch.from_numpy(RNG.normal(size=(6, 9)) * 4).to(dtype)
    x[0, 3] = -float("inf")
    fn, ref_fn = (rows.log_softmax, F.log_softmax) if log else (rows.softmax, F.softmax)
    got = fn(x)
    assert got.dtype == dtype
    assert torch.equal(got, ref_fn(x.float(), dim=-1).to(dtype))
    # within the dtype's rounding of the float64 truth (scipy)
    ref64 = (scipy.special.log_softmax if log else scipy.special.softmax)(x.double().numpy(), axis=-1)
    eps = torch.finfo(dtype).eps
    np.testing.assert_allclose(got.double().numpy(), ref64, rtol=eps, atol=eps)
    if dtype == torch.float16:  # NumPy float16 stays NumPy float16
        got_np = fn(x.numpy())
        assert got_np.dtype == np.float16 and np.array_equal(got_np, got.numpy())


def test_softmax_of_large_half_precision_scores_does_not_overflow():
    x = torch.tensor([[60000.0, 59990.0, -60000.0]], dtype=torch.float16)  # exp(60000) is far beyond float16
    got = rows.softmax(x)
    assert torch.isfinite(got).all() and abs(float(got.float().sum()) - 1) < 1e-3
    np.testing.assert_allclose(got.float().numpy(), scipy.special.softmax(x.double().numpy(), -1), atol=1e-3)


def test_integer_scores_compute_in_each_worlds_float():
    """NumPy integers compute in float64, the NumPy world's float (they gave float32 before), torch
    integers in torch's default dtype."""
    for fn, ref in ((rows.softmax, scipy.special.softmax), (rows.log_softmax, scipy.special.log_softmax)):
        got = fn(np.array([[1, 2, 3], [40, 0, -40]]))
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, ref(np.array([[1.0, 2.0, 3.0], [40.0, 0.0, -40.0]]), axis=-1), rtol=1e-15)
        assert fn(torch.tensor([1, 2, 3])).dtype == torch.get_default_dtype()
    got = rows.unit_rows(np.array([[3, 4], [1, 1]]))
    assert got.dtype == np.float64 and np.array_equal(got, normalize(np.array([[3.0, 4.0], [1.0, 1.0]])))


@pytest.mark.parametrize("fn", [rows.softmax, rows.log_softmax], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("bad, why", [
    ([[0.0, np.nan, 1.0]], "NaN"),
    ([[np.inf, 0.0]], "+inf"),
    ([[0.0, 1.0], [-np.inf, -np.inf]], "every score is -inf"),
])
def test_softmax_refuses_what_has_no_distribution_naming_the_argument(fn, bad, why):
    for x in (np.array(bad), torch.tensor(bad), torch.tensor(bad).to(torch.bfloat16)):
        e = refused("logits", fn, x, name="logits")
        assert why in str(e)


@pytest.mark.parametrize("bad", [np.array(1.0), np.zeros((3, 0)), np.array([True, False]), np.array([1 + 1j])])
def test_softmax_refuses_what_is_not_a_score_row(bad):
    refused("scores", rows.softmax, bad)


# --------------------------------------------------------------------------- unit rows


def unit_row_differences(fn, x: np.ndarray, scale: float = 1.0) -> list[str]:
    """fn(x * scale) against sklearn's normalize(x) (at unit scale, where sklearn's norm is exact)."""
    ref = normalize(x)
    problems = []
    for label, got in (("numpy", fn(x * scale)), ("torch", fn(torch.from_numpy(x * scale)).numpy())):
        if not np.allclose(got, ref, rtol=1e-13, atol=1e-15):
            problems.append(f"{label} input at scale {scale:g}: rows differ from sklearn")
    return problems


@pytest.mark.parametrize("scale", [1.0, 1e-300, 1e300, 1e-320, 1e307])
def test_unit_rows_equal_sklearn_at_every_scale(scale):
    x = RNG.normal(size=(8, 5))
    if scale < 1e-310:  # subnormal: keep the entries' ratios exact
        x = np.round(x * 4) + 5
    assert unit_row_differences(rows.unit_rows, x, scale) == []


def test_the_unit_row_comparison_catches_a_naive_norm():
    naive = lambda x: x / (x**2).sum(-1, keepdims=True) ** 0.5  # noqa: E731
    x = RNG.normal(size=(4, 3))
    assert unit_row_differences(naive, x) == []
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        assert unit_row_differences(naive, x, 1e300)  # the square overflows: 0 or NaN
        assert unit_row_differences(naive, x, 1e-300)  # the square underflows: inf or NaN


def test_unit_rows_zero_rows_raise_by_name_or_stay_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e-300, 0.0]])
    e = refused("keys", rows.unit_rows, x, name="keys")
    assert "[[1]]" in str(e) or "[1]" in str(e)
    got = rows.unit_rows(x, zero="zero")
    np.testing.assert_array_equal(got, normalize(x * np.array([[1.0], [1.0], [1e300]])))  # sklearn keeps zeros
    assert np.array_equal(got[1], [0.0, 0.0]) and np.array_equal(got[2], [1.0, 0.0])
    t = rows.unit_rows(torch.tensor(x), zero="zero")
    assert torch.equal(t, torch.from_numpy(got))
    refused("zero", rows.unit_rows, x, zero="skip")


@pytest.mark.parametrize("bad", [[[1.0, np.nan]], [[np.inf, 1.0]]])
def test_unit_rows_refuse_non_finite_rows(bad):
    refused("x", rows.unit_rows, np.array(bad))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_unit_rows_of_low_precision_input_are_computed_in_float32(dtype):
    x = torch.tensor([[300.0, 400.0], [1e-4, 0.0]]).to(dtype)  # 300**2 overflows float16
    got = rows.unit_rows(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, torch.from_numpy(normalize(x.double().numpy())).float())


def test_unit_rows_gradient_is_that_of_x_over_its_norm():
    x = torch.tensor([[3.0, 4.0], [1e-3, 2e-3]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    (rows.unit_rows(x) * w).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    (F.normalize(x2, dim=-1) * w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


# --------------------------------------------------------------------------- top-k


def stable_reference(s: np.ndarray, k: int, largest: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The tie rule, written out: a stable sort keeps equal scores in id order, so lower ids come first."""
    order = np.argsort(-s if largest else s, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(s, order, -1), order


def topk_differences(fn, s: np.ndarray, k: int, largest: bool = True) -> list[str]:
    """fn's top-k of s (NumPy and torch input) against the stable-sort reference."""
    ref_vals, ref_ids = stable_reference(s, k, largest)
    problems = []
    for label, (vals, ids) in (("numpy", fn(s, k, largest=largest)),
                               ("torch", tuple(t.numpy() for t in fn(torch.from_numpy(s), k, largest=largest)))):
        if not np.array_equal(ids, ref_ids):
            problems.append(f"{label} input, k={k}: ids differ from the stable sort")
        if not np.array_equal(vals, ref_vals):
            problems.append(f"{label} input, k={k}: values differ")
    return problems


def higher_id_first(s, k, largest=True):
    """A deliberately wrong tie rule: among equal scores, the higher id first."""
    a = s.numpy() if isinstance(s, torch.Tensor) else s
    n = a.shape[-1]
    order = (n - 1) - np.argsort(-a[..., ::-1] if largest else a[..., ::-1], axis=-1, kind="stable")[..., :k]
    vals, ids = np.take_along_axis(a, order, -1), order
    return (torch.from_numpy(vals), torch.from_numpy(ids)) if isinstance(s, torch.Tensor) else (vals, ids)


def ties_cut_anywhere(s, k, largest=True):
    """Right order inside the list, but ties at its boundary decided by the highest ids."""
    a = s.numpy() if isinstance(s, torch.Tensor) else s
    ids = np.sort(higher_id_first(a, k, largest)[1], axis=-1)
    vals = np.take_along_axis(a, ids, -1)
    order = np.argsort(-vals if largest else vals, axis=-1, kind="stable")
    vals, ids = np.take_along_axis(vals, order, -1), np.take_along_axis(ids, order, -1)
    return (torch.from_numpy(vals), torch.from_numpy(ids)) if isinstance(s, torch.Tensor) else (vals, ids)


TIES = RNG.integers(0, 4, size=(40, 25))  # 4 values over 25 ids: every row is full of ties


@pytest.mark.parametrize("largest", [True, False])
def test_topk_equals_the_stable_sort_on_tie_heavy_integer_scores_for_every_k(largest):
    for k in range(1, TIES.shape[1] + 1):
        assert topk_differences(rows.topk, TIES, k, largest) == []
        assert topk_differences(rows.topk, TIES.astype(np.float64) / 3, k, largest) == []


def test_topk_at_the_boundary_of_the_selection_the_lowest_tied_ids_get_in():
    s = np.array([[1, 5, 3, 5, 5, 3, 0]])
    vals, ids = rows.topk(s, 2)
    assert ids.tolist() == [[1, 3]] and vals.tolist() == [[5, 5]]  # ids 1 and 3 of the three 5s
    vals, ids = rows.topk(s, 4)
    assert ids.tolist() == [[1, 3, 4, 2]]  # then the lower of the two 3s
    vals, ids = rows.topk(s, 3, largest=False)
    assert ids.tolist() == [[6, 0, 2]]  # smallest: 0, 1, then the lower of the two 3s


def test_the_topk_comparison_catches_a_wrong_tie_rule():
    assert any(topk_differences(higher_id_first, TIES, k) for k in range(1, 25))
    assert any(topk_differences(ties_cut_anywhere, TIES, k) for k in range(1, 25))
    no_ties = RNG.permutation(25)[None, :].repeat(3, 0)
    assert all(topk_differences(higher_id_first, no_ties, k) == [] for k in range(1, 26))  # ties are the point


def test_topk_of_int64_above_2_to_the_53_is_exact():
    base = 2**53
    s = np.array([[base + 1, base, base + 3, base + 2, base + 3, -(base + 1)]], dtype=np.int64)
    assert float(base + 1) == float(base)  # as float64 these would tie
    for k in range(1, s.shape[1] + 1):
        for largest in (True, False):
            assert topk_differences(rows.topk, s, k, largest) == []
    vals, ids = rows.topk(s, 3)
    assert ids.tolist() == [[2, 4, 3]] and vals.dtype == np.int64 and vals[0, 0] == base + 3


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int32])
def test_topk_numpy_and_torch_inputs_give_identical_ids(dtype):
    s = torch.from_numpy(TIES.astype(np.float64) / 2).to(dtype)
    vals, ids = rows.topk(s, 7)
    assert vals.dtype == dtype and ids.dtype == torch.int64
    _, ref_ids = stable_reference(s.double().numpy(), 7)
    assert np.array_equal(ids.numpy(), ref_ids)
    if dtype not in (torch.bfloat16,):
        np_vals, np_ids = rows.topk(s.numpy(), 7)
        assert np.array_equal(np_ids, ids.numpy()) and np.array_equal(np_vals, vals.numpy())


def test_topk_keeps_leading_axes_and_ranks_infinities():
    s = RNG.integers(0, 3, size=(2, 3, 9)).astype(np.float64)
    s[0, 0, 4] = np.inf
    s[1, 2, 0] = -np.inf
    vals, ids = rows.topk(s, 4)
    ref_vals, ref_ids = stable_reference(s, 4)
    assert ids.shape == (2, 3, 4) and np.array_equal(ids, ref_ids) and np.array_equal(vals, ref_vals)
    assert ids[0, 0, 0] == 4


def test_topk_refuses_nan_and_a_bad_k_by_name():
    s = np.array([[1.0, np.nan, 0.0]])
    refused("scores", rows.topk, s, 1)
    refused("sims", rows.topk, torch.tensor(s), 1, name="sims")
    for bad_k in (0, 4, True, 2.0, "2"):
        refused("k", rows.topk, np.ones((2, 3)), bad_k)
    assert rows.topk(np.ones((2, 3)), np.int64(3))[1].tolist() == [[0, 1, 2]] * 2


# --------------------------------------------------------------------------- overlap


def overlap_by_sets(a, b) -> np.ndarray:
    pairs = zip(np.asarray(a).tolist(), np.asarray(b).tolist())
    return np.array([len(set(ra) & set(rb)) / len(ra) for ra, rb in pairs])


def ids_lists(n: int, k: int, universe: int) -> np.ndarray:
    return np.stack([RNG.choice(universe, size=k, replace=False) for _ in range(n)])


@pytest.mark.parametrize("k, m", [(5, 5), (3, 8), (8, 3), (1, 1)])
def test_overlap_equals_a_set_computation(k, m):
    a, b = ids_lists(30, k, 12), ids_lists(30, m, 12)
    expected = overlap_by_sets(a, b)
    got = rows.overlap(a, b)
    assert got.dtype == np.float64 and np.array_equal(got, expected)
    assert np.array_equal(rows.overlap(torch.from_numpy(a), torch.from_numpy(b)), expected)
    assert 0 < expected.mean() < 1  # the case has partial overlaps, not only 0 and 1


def test_the_overlap_comparison_catches_a_wrong_denominator():
    a, b = ids_lists(30, 3, 12), ids_lists(30, 8, 12)
    by_b = np.array([len(set(ra) & set(rb)) / len(rb) for ra, rb in zip(a.tolist(), b.tolist())])
    assert not np.array_equal(by_b, rows.overlap(a, b))
    assert np.array_equal(rows.overlap(a, b), overlap_by_sets(a, b))


def test_overlap_ignores_order_and_refuses_what_is_not_an_id_matrix():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    assert rows.overlap(a, a[:, ::-1]).tolist() == [1.0, 1.0]  # a reversed view (torch refused its strides)
    assert rows.overlap(a.tolist(), np.array([[3, 9, 9], [7, 8, 9]], dtype=np.int32)).tolist() == [1 / 3, 0.0]
    refused("found", rows.overlap, a, a[:1], name_a="found", name_b="true")
    refused("found", rows.overlap, a.astype(float), a, name_a="found")
    refused("true", rows.overlap, a, a > 2, name_b="true")
    refused("a", rows.overlap, a[0], a[0])
    refused("a", rows.overlap, np.array([["x", "y"]]), a[:1, :2])
    refused("a", rows.overlap, np.zeros((2, 0), dtype=int), a)


# --------------------------------------------------------------------------- argument checks

ZERO_D = [np.int64(3), np.array(3), torch.tensor(3), np.uint8(3), torch.tensor(3, dtype=torch.int16)]
NOT_INTEGERS = [True, np.bool_(True), torch.tensor(True), 3.0, np.float64(3.0), torch.tensor(3.0), "3", None,
                np.array([3]), 3 + 0j, np.nan]


def integer_verdicts(fn) -> list[str]:
    """What a would-be integer check gets wrong about the package's rules."""
    problems = []
    for v in [3, *ZERO_D]:
        try:
            got = fn(v, "n")
            if got != 3 or type(got) is not int:
                problems.append(f"{v!r} gave {got!r}")
        except Exception as e:  # noqa: BLE001 - any refusal of a valid integer is the finding
            problems.append(f"{v!r} refused ({e})")
    for v in NOT_INTEGERS:
        try:
            fn(v, "n")
            problems.append(f"{v!r} accepted")
        except ArgumentError as e:
            if not str(e).startswith("n"):
                problems.append(f"{v!r}: message does not start with the name")
        except Exception as e:  # noqa: BLE001
            problems.append(f"{v!r}: {type(e).__name__}, not ArgumentError")
    return problems


def test_integer_accepts_numpy_and_0d_integers_and_refuses_bool_floats_and_strings():
    assert integer_verdicts(checks.integer) == []


def test_the_integer_verdicts_catch_a_naive_check():
    def isinstance_int(v, name):
        if not isinstance(v, int):
            raise ArgumentError(f"{name} must be an integer")
        return v

    def int_of(v, name):
        try:
            return int(v)
        except (TypeError, ValueError) as e:
            raise ArgumentError(f"{name}: {e}") from None

    assert any("True accepted" in p for p in integer_verdicts(isinstance_int))  # bool is an int subclass
    assert any("refused" in p for p in integer_verdicts(isinstance_int))  # numpy integers
    assert any("3.0 accepted" in p for p in integer_verdicts(int_of))  # a float truncated


def test_integer_bounds_name_the_argument():
    assert checks.integer(5, "k", low=1, high=5) == 5
    assert "between 1 and 5" in str(refused("k", checks.integer, 6, "k", low=1, high=5))
    assert ">= 1" in str(refused("k", checks.integer, 0, "k", low=1))
    assert "<= 2" in str(refused("k", checks.integer, np.int64(3), "k", high=2))


def test_number_accepts_numbers_and_0d_arrays_and_refuses_bool_nan_strings_and_complex():
    for v in (2, 2.5, np.float32(2.5), np.int8(2), np.array(2.5), torch.tensor(2.5), torch.tensor(2.5).half(),
              torch.tensor(2.5, dtype=torch.bfloat16), torch.tensor(2)):
        got = checks.number(v, "temperature")
        assert type(got) is float and got == float(v)
    for v in (True, np.bool_(False), torch.tensor(False), np.nan, float("inf"), -np.inf, np.float16("nan"),
              torch.tensor(float("nan")), "1", None, 1 + 0j, np.complex128(1), torch.tensor(1 + 0j), [1.0],
              np.array([1.0])):
        refused("temperature", checks.number, v, "temperature")
    assert checks.number(np.inf, "scale", finite=False) == np.inf
    for huge in (10**400, -(10**400)):  # an int beyond float64: refused by name (it was an OverflowError)
        refused("scale", checks.number, huge, "scale", finite=False)
    refused("scale", checks.number, np.nan, "scale", finite=False)  # NaN never


def test_number_bounds_open_and_closed():
    assert checks.number(0, "t", low=0) == 0.0
    assert "> 0" in str(refused("t", checks.number, 0.0, "t", low=0, low_open=True))
    assert "< 1" in str(refused("level", checks.number, 1, "level", high=1, high_open=True))
    refused("t", checks.number, 5e-324, "t", low=1e-300)  # a subnormal temperature is below a floor
    assert checks.number(1, "level", low=0, high=1) == 1.0


def test_choice_and_flag():
    assert checks.choice("zero", "zero_policy", ("raise", "zero")) == "zero"
    e = refused("zero_policy", checks.choice, "skip", "zero_policy", ("raise", "zero"))
    assert "'raise' or 'zero'" in str(e) and "'skip'" in str(e)
    refused("mode", checks.choice, None, "mode", ["a"])
    refused("mode", checks.choice, b"a", "mode", ["a"])
    assert checks.flag(True, "causal") is True and checks.flag(np.bool_(False), "causal") is False
    for v in (0, 1, "no", "True", None, np.int64(1), torch.tensor(True)):
        refused("causal", checks.flag, v, "causal")


def test_array_converts_tensors_and_lists_and_refuses_what_is_not_real_numbers():
    got = checks.array(torch.tensor([[1.5, 2.0]], dtype=torch.bfloat16), "x")
    assert got.dtype == np.float64 and got.tolist() == [[1.5, 2.0]]
    assert checks.array([[1, 2]], "x", dtype=None).dtype.kind == "i"
    assert checks.array(torch.ones(2, dtype=torch.float16, requires_grad=True), "x").dtype == np.float64
    for bad in (np.array([True]), torch.tensor([True]), np.array([1j]), torch.tensor([1j]), np.array(["a"]),
                np.array([object()]), "abc", [[1, 2], [3]]):
        refused("embeddings", checks.array, bad, "embeddings")
    refused("x", checks.array, np.zeros((2, 3)), "x", ndim=1)
    assert checks.array(np.zeros(3), "x", ndim=(1, 2)).shape == (3,)
    refused("x", checks.array, np.zeros((0, 3)), "x")
    assert checks.array(np.zeros((0, 3)), "x", empty=True).shape == (0, 3)
    e = refused("x", checks.array, np.array([[1.0, 2.0], [3.0, np.nan]]), "x")
    assert "(1, 1)" in str(e)
    assert np.isnan(checks.array([np.nan], "x", finite=False)).all()


def test_tensor_keeps_dtype_and_device_and_refuses_what_is_not_real_numbers():
    for name in checks.FLOAT_DTYPES:
        t = torch.ones(2, 3, dtype=getattr(torch, name))
        assert checks.tensor(t, "q") is t
    assert checks.tensor(np.arange(3), "q").dtype == torch.get_default_dtype()
    assert checks.tensor(np.ones(3, dtype=np.float16), "q").dtype == torch.float16
    for bad in (torch.tensor([True]), torch.tensor([1j]), np.array([True]), "q", [["a"]]):
        refused("q", checks.tensor, bad, "q")
    assert checks.tensor(np.array(2.5), "q").shape == ()  # a 0-d array stays 0-d (it became shape (1,))
    assert checks.tensor(np.arange(6.0)[::-2], "q").tolist() == [5.0, 3.0, 1.0]  # a reversed view
    refused("q", checks.tensor, np.array(2.5), "q", ndim=1)
    refused("q", checks.tensor, torch.ones(3), "q", ndim=2)
    refused("q", checks.tensor, torch.ones(0), "q")
    refused("q", checks.tensor, torch.tensor([1.0, float("inf")]), "q", finite=True)
    assert checks.check_float_dtype(torch.bfloat16, "x") is torch.bfloat16
    refused("x", checks.check_float_dtype, torch.int64, "x")


def test_argument_error_is_caught_as_either_builtin():
    for builtin in (ValueError, TypeError):
        with pytest.raises(builtin, match="^k must be"):
            checks.integer(True, "k")


def test_ids_one_home_for_lists_of_ids():
    from embedlab._checks import ArgumentError, ids

    assert ids([3, 1], "rows").dtype == np.int64
    assert ids(torch.tensor([[0, 2]]), "found", ndim=2).tolist() == [[0, 2]]
    rev = np.arange(6).reshape(2, 3)[:, ::-1]
    assert ids(rev, "a", ndim=2).flags.c_contiguous
    for bad, why in [(np.array([True, False]), "integer ids, got dtype bool"),  # a mask is not a list of ids
                     (np.array([1.0, 2.0]), "integer ids, got dtype float64"),
                     (np.array([], dtype=np.int64), "empty"),
                     (np.array([[1]]), "shape"),
                     (np.array([0, 5]), r"outside 0\.\.4")]:
        with pytest.raises(ArgumentError, match=f"^rows .*{why}"):
            ids(bad, "rows", n=5)


def test_wide_topk_is_topk_with_ties_runs_and_ragged_tails():
    """The chunked selection of exact search gives _rows.topk's answer bit for bit: random
    scores, few distinct values (ties at the k-th place), long runs of equal top scores, -inf,
    and widths that are not a multiple of the chunk."""
    from embedlab._rows import topk as row_topk
    from embedlab._rows import wide_topk

    g = torch.Generator().manual_seed(0)
    for trial in range(200):
        b = int(torch.randint(1, 30, (1,), generator=g))
        n = int(torch.randint(20, 4000, (1,), generator=g))
        k = int(torch.randint(1, min(n, 50), (1,), generator=g))
        kind = trial % 3
        S = (torch.randn(b, n, generator=g) if kind == 0
             else torch.randint(0, 4 if kind == 1 else 50, (b, n), generator=g).float())
        if trial % 7 == 0:
            S[:, : n // 2] = S.amax()  # a run of ties at the top, across many chunks
        if trial % 5 == 0:
            S[0, 0] = -float("inf")  # exclude_self's mark
        expected, got = row_topk(S, k, nan_checked=True), wide_topk(S, k)
        assert torch.equal(expected[0], got[0]) and torch.equal(expected[1], got[1]), (trial, b, n, k)
