"""embedlab.calibration against torchmetrics (ECE), scikit-learn (bins, NLL, Brier, logistic
regression = matrix scaling) and a direct optimisation (temperature)."""

import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss
from torchmetrics.functional.classification import multiclass_calibration_error

from embedlab.calibration import (
    ScalingConfig,
    brier_score,
    confidence_bins,
    confidence_ece,
    expected_calibration_error,
    fit_confidence,
    fit_scaling,
    nll,
    reliability_bins,
)


def _data(n=2000, c=5, seed=0, sharp=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = sharp * torch.randn(n, c, generator=g, dtype=torch.float64)
    # labels drawn from a *softer* distribution than the logits say: an overconfident model
    y = torch.multinomial(torch.softmax(logits / 2, -1), 1, generator=g).squeeze(1)
    return logits, y


@pytest.mark.parametrize("n_bins", [5, 15, 30])
def test_ece_equal_width_matches_torchmetrics(n_bins):
    logits, y = _data()
    p = torch.softmax(logits, -1)
    ref = multiclass_calibration_error(p, y, num_classes=5, n_bins=n_bins, norm="l1").item()
    assert expected_calibration_error(p, y, n_bins) == pytest.approx(ref, abs=1e-6)
    assert ref > 0.05  # the data are miscalibrated, so agreement is not agreement on 0


def test_a_wrong_ece_fails_the_reference():
    logits, y = _data(seed=1)
    p = torch.softmax(logits, -1)
    ref = multiclass_calibration_error(p, y, num_classes=5, n_bins=15, norm="l1").item()
    bins = reliability_bins(p, y, 15)
    unweighted = float(np.mean(np.abs(bins.accuracy - bins.confidence)))  # forgets n_b / N
    assert abs(unweighted - ref) > 1e-3


def test_bins_match_sklearn_calibration_curve_both_strategies():
    logits, y = _data(seed=2)
    p = torch.softmax(logits, -1).numpy()
    conf, correct = p.max(1), (p.argmax(1) == y.numpy()).astype(int)
    for ours, theirs in (("width", "uniform"), ("mass", "quantile")):
        bins = reliability_bins(p, y, 10, ours)
        prob_true, prob_pred = calibration_curve(correct, conf, n_bins=10, strategy=theirs)
        np.testing.assert_allclose(bins.accuracy, prob_true, atol=1e-12)
        np.testing.assert_allclose(bins.confidence, prob_pred, atol=1e-12)
    mass = reliability_bins(p, y, 10, "mass")
    assert mass.count.min() >= 195 and mass.count.max() <= 205


def test_nll_and_brier_match_sklearn():
    logits, y = _data(seed=3)
    p = torch.softmax(logits, -1).numpy()
    assert nll(p, y) == pytest.approx(log_loss(y.numpy(), p, labels=range(5)), rel=1e-10)
    # The multiclass Brier score is the sum over classes of the binary one (one class against the rest);
    # sklearn's binary brier_score_loss is the reference (its multiclass form needs scikit-learn >= 1.7).
    per_class = [brier_score_loss((y.numpy() == c).astype(int), p[:, c], pos_label=1) for c in range(5)]
    assert brier_score(p, y) == pytest.approx(sum(per_class), rel=1e-10)


def test_perfectly_calibrated_model_has_small_ece_only_with_many_samples():
    rng = np.random.default_rng(0)
    for n, lo, hi in ((100, 0.04, 0.2), (100_000, 0.0, 0.01)):
        conf = rng.uniform(0.5, 1.0, n)
        p = np.stack([conf, 1 - conf], 1)
        y = (rng.random(n) > conf).astype(int)  # class 0 with probability conf: calibrated
        assert lo <= expected_calibration_error(p, y, 15) <= hi


def test_temperature_scaling_finds_the_nll_minimum():
    logits, y = _data(seed=4)
    t = fit_scaling(logits, y, "temperature").temperature
    assert 1.5 < t < 2.5  # labels were drawn at temperature 2

    def loss(temp):
        return torch.nn.functional.cross_entropy(logits / temp, y).item()

    grid = np.linspace(1.0, 3.0, 401)
    best = grid[np.argmin([loss(s) for s in grid])]
    assert t == pytest.approx(best, abs=5e-3)
    assert loss(t) <= loss(t * 1.01) and loss(t) <= loss(t / 1.01)


def test_matrix_scaling_is_multinomial_logistic_regression():
    logits, y = _data(n=1500, c=4, seed=5, sharp=1.5)
    ours = fit_scaling(logits, y, "matrix")
    # newton-cg: scikit-learn 1.2's lbfgs stops early here (max |diff| 1.3e-5, its NLL above ours);
    # newton-cg converges on 1.2 and on the pinned version alike (< 2e-7)
    lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000, solver="newton-cg").fit(logits.numpy(), y.numpy())
    p_ours = torch.softmax(ours(logits), -1).numpy()
    np.testing.assert_allclose(p_ours, lr.predict_proba(logits.numpy()), atol=1e-5)


def test_vector_scaling_improves_nll_and_temperature_keeps_argmax():
    logits, y = _data(seed=6)
    base = torch.nn.functional.cross_entropy(logits, y).item()
    for kind in ("temperature", "vector", "matrix"):
        s = fit_scaling(logits, y, kind, ScalingConfig(l2=1e-3))
        assert torch.nn.functional.cross_entropy(s(logits), y).item() < base
    s = fit_scaling(logits, y, "temperature")
    assert torch.equal(s(logits).argmax(1), logits.argmax(1))


def test_bad_input_is_named():
    logits, y = _data(n=10)
    p = torch.softmax(logits, -1)
    with pytest.raises(ValueError, match="rows must sum to 1"):
        expected_calibration_error(logits.abs(), y)
    with pytest.raises(ValueError, match="labels"):
        nll(p, y[:5])
    with pytest.raises(ValueError, match="labels"):
        brier_score(p, y + 5)
    with pytest.raises(ValueError, match="n_bins"):
        reliability_bins(p, y, 0)
    with pytest.raises(ValueError, match="strategy"):
        reliability_bins(p, y, 5, "equal")
    with pytest.raises(ValueError, match="kind"):
        fit_scaling(logits, y, "platt")
    with pytest.raises(ValueError, match="logits"):
        fit_scaling(logits[:, :1], y * 0)
    assert expected_calibration_error(p.numpy(), y.numpy(), np.int64(5)) >= 0  # NumPy scalars accepted


def test_ch07_ece_exercise_accepts_a_reference_and_rejects_wrong_answers():
    from embedlab.exercises import check

    def ece(probs, labels, n_bins):
        conf, pred = probs.max(1)
        correct = (pred == labels).double()
        ids = torch.clamp((conf * n_bins).long(), max=n_bins - 1)
        total = 0.0
        for b in range(n_bins):
            m = ids == b
            if m.any():
                total += m.double().mean() * (correct[m].mean() - conf[m].mean()).abs()
        return float(total)

    assert check("ch07.ece", ece, quiet=True)

    def unweighted(probs, labels, n_bins):
        bins = reliability_bins(probs, labels, n_bins)
        return float(np.mean(np.abs(bins.accuracy - bins.confidence)))

    assert not check("ch07.ece", unweighted, quiet=True)
    assert not check("ch07.ece", lambda p, y, b: expected_calibration_error(p, y, b, "mass"), quiet=True)


# -- one event per prediction (chapter 10) --------------------------------------------------------
def test_confidence_bins_are_reliability_bins_of_the_top_label():
    logits, y = _data(seed=7)
    p = torch.softmax(logits, -1)
    conf, pred = p.max(1)
    for strategy in ("width", "mass"):
        ours = confidence_bins(conf, pred == y, 10, strategy)
        ref = reliability_bins(p, y, 10, strategy)
        for field in ("edges", "confidence", "accuracy", "count"):
            np.testing.assert_array_equal(getattr(ours, field), getattr(ref, field))
    assert confidence_ece(conf.numpy(), (pred == y).int().numpy()) == expected_calibration_error(p, y)


def _overconfident(n=4000, seed=0):
    """A score whose confidence says sigmoid(8 s) while the truth is sigmoid(3 s) + a margin effect."""
    rng = np.random.default_rng(seed)
    score, margin = rng.normal(0, 0.5, n), rng.uniform(0, 1, n)
    correct = rng.random(n) < 1 / (1 + np.exp(-(3 * score + 2 * margin - 1)))
    return score, margin, 1 / (1 + np.exp(-8 * score)), correct


def test_fit_confidence_lowers_the_ece_on_held_out_predictions():
    score, margin, conf, correct = _overconfident()
    fit, test = slice(0, 2000), slice(2000, None)
    before = confidence_ece(conf[test], correct[test])
    iso = fit_confidence(score[fit], correct[fit])
    ref = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(score[fit], correct[fit])
    np.testing.assert_array_equal(iso(score[test]), ref.predict(score[test]))
    both = np.stack([score, margin], 1)
    logistic = fit_confidence(both[fit], correct[fit], "logistic")
    after_iso = confidence_ece(iso(score[test]), correct[test])
    after_log = confidence_ece(logistic(both[test]), correct[test])
    assert before > 0.1 and after_iso < 0.05 and after_log < 0.05, (before, after_iso, after_log)
    assert np.all(np.diff(iso(np.linspace(-3, 3, 50))) >= 0)  # isotonic: a higher score is never less sure
    assert 0 <= iso(np.array([-100.0, 100.0])).min() and iso(np.array([100.0]))[0] <= 1  # clipped outside


def test_event_calibration_errors():
    score, margin, conf, correct = _overconfident(n=50)
    with pytest.raises(ValueError, match=r"confidence must lie in \[0, 1\]"):
        confidence_ece(score, correct)
    with pytest.raises(ValueError, match="correct must have shape"):
        confidence_ece(conf, correct[:10])
    with pytest.raises(ValueError, match="booleans or 0/1"):
        confidence_ece(conf, correct * 2)
    with pytest.raises(ValueError, match="^confidence must have 1 dimension"):
        confidence_bins(conf[:, None], correct)
    with pytest.raises(ValueError, match="finite"):
        confidence_ece(np.full(50, np.nan), correct)
    with pytest.raises(ValueError, match="n_bins"):
        confidence_ece(conf, correct, n_bins=0)
    with pytest.raises(ValueError, match="one feature"):
        fit_confidence(np.stack([score, margin], 1), correct)
    with pytest.raises(ValueError, match="method"):
        fit_confidence(score, correct, "platt")
    with pytest.raises(ValueError, match="both correct and wrong"):
        fit_confidence(score, np.ones(50, dtype=bool), "logistic")
    with pytest.raises(ValueError, match="^features must have 1 or 2 dimension"):
        fit_confidence(np.zeros((2, 2, 2)), np.ones(2, dtype=bool))
    with pytest.raises(ValueError, match="2 columns"):
        fit_confidence(np.stack([score, margin], 1), correct, "logistic")(score)
    assert confidence_ece(conf, correct, np.int64(5)) >= 0  # NumPy scalars accepted


# -- issue 21: a confidence on an inner edge b/B opens the bin above, in float32 and float64 --------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, torch.float32, torch.float64])
def test_ece_of_the_probe_does_not_depend_on_the_dtype(dtype):
    rows = [[0.6, 0.4], [0.55, 0.45]]
    p = torch.tensor(rows, dtype=dtype) if isinstance(dtype, torch.dtype) else np.array(rows, dtype=dtype)
    # 0.6 opens bin 6 (right, conf 0.6), 0.55 is in bin 5 (wrong, conf 0.55): (0.4 + 0.55) / 2 =
    # 0.475. With 0.6 below its edge both share bin 5 (acc 0.5, conf 0.575): 0.075.
    assert expected_calibration_error(p, np.array([0, 1]), 10) == pytest.approx(0.475, abs=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_inner_edge_opens_the_bin_above(dtype):
    # three confidences: half a bin below the edge b/B, on it (b/B as written, in the dtype), half a
    # bin above. The documented rule puts the edge value with the one above: counts (1, 2).
    for n_bins in range(2, 21):
        for b in range(1, n_bins):
            edge = b / n_bins
            conf = np.array([edge - 0.5 / n_bins, edge, edge + 0.5 / n_bins], dtype=dtype)
            bins = confidence_bins(conf, np.array([True, False, True]), n_bins)
            assert bins.count.tolist() == [1, 2], (b, n_bins, dtype)
            assert bins.confidence[1] == pytest.approx((float(conf[1]) + float(conf[2])) / 2)
            # the edges are b/B itself, whatever the dtype rounds it to
            assert bins.edges[b] == float(dtype(edge))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_confidence_zero_and_one_go_to_the_first_and_last_bins(dtype):
    for n_bins in (1, 2, 10, 20):
        bins = confidence_bins(np.array([0.0, 1.0], dtype=dtype), np.array([False, True]), n_bins)
        assert bins.count.tolist() == ([2] if n_bins == 1 else [1, 1])
        assert bins.edges[0] == 0.0 and bins.edges[-1] == 1.0
        assert confidence_ece(np.array([0.0, 1.0], dtype=dtype), np.array([False, True]), n_bins) == 0.0


def test_edges_where_torchmetrics_disagrees_with_the_documented_rule():
    # torchmetrics casts confidences to float32 and bins them with torch.linspace(0, 1, B + 1) in
    # float32 and bucketize(right=True): the same rule (an edge value opens the bin above), but
    # float32 linspace lands one ulp above b/B at these ten inner edges (B <= 20), so torchmetrics
    # puts a confidence of exactly b/B in the bin below. Away from edges the two agree
    # (test_ece_equal_width_matches_torchmetrics); at edges we follow the documented rule.
    off = [(3, 7), (5, 12), (3, 13), (6, 13), (3, 14), (6, 14), (3, 15), (6, 15), (7, 15), (9, 20)]
    found = [(b, n) for n in range(2, 21) for b in range(1, n)
             if torch.linspace(0, 1, n + 1, dtype=torch.float32)[b].item() > np.float32(b / n)]
    assert found == sorted(off, key=lambda bn: (bn[1], bn[0]))
    for b, n_bins in off:
        for dtype in (np.float32, np.float64):
            conf = np.array([b / n_bins, b / n_bins + 0.5 / n_bins], dtype=dtype)
            assert confidence_bins(conf, np.array([True, True]), n_bins).count.tolist() == [2]
    # the consequence, on a three-row example at 3/7: torchmetrics' ECE is half of ours
    k = 25
    rows = [[v] + [(1 - v) / (k - 1)] * (k - 1) for v in (3 / 7 - 1 / 14, 3 / 7, 3 / 7 + 1 / 14)]
    p, y = torch.tensor(rows, dtype=torch.float64), torch.tensor([1, 0, 0])
    ours = expected_calibration_error(p, y, 7)
    ref = multiclass_calibration_error(p, y, num_classes=k, n_bins=7, norm="l1").item()
    assert ours == pytest.approx(10 / 21) and ref == pytest.approx(5 / 21, abs=1e-6)


# -- issue 21: scikit-learn 1.9's Brier score, fit_scaling's max_iter, dtypes --------------------------
@pytest.mark.parametrize("c", [2, 3, 5])
def test_brier_score_is_sklearns_multiclass_form_for_every_number_of_classes(c):
    logits, y = _data(n=300, c=c, seed=c)
    p = torch.softmax(logits, -1).numpy()
    ours = brier_score(p, y)
    assert ours == pytest.approx(brier_score_loss(y.numpy(), p, labels=range(c), scale_by_half=False), rel=1e-12)
    # scikit-learn's default halves it for two classes only (the docstring says so)
    default = brier_score_loss(y.numpy(), p, labels=range(c))
    assert default == pytest.approx(ours / 2 if c == 2 else ours, rel=1e-12)


def test_fit_scaling_refuses_max_iter_below_one_by_name():
    # max_iter=0 returned T = 1.0, the unfitted start, as if it were the fit
    logits, y = _data(n=200)
    with pytest.raises(ValueError, match="^config.max_iter must be an integer >= 1"):
        fit_scaling(logits, y, config=ScalingConfig(max_iter=0))
    with pytest.raises(ValueError, match="^config.max_iter must be an integer"):
        fit_scaling(logits, y, config=ScalingConfig(max_iter=2.5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^config.l2"):
        fit_scaling(logits, y, "vector", config=ScalingConfig(l2=float("nan")))
    assert fit_scaling(logits, y, config=ScalingConfig(max_iter=np.int64(50))).temperature > 1  # overconfident


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_probabilities_and_logits_are_accepted(dtype):
    # a genuine float16 softmax was refused with "did you pass logits?" (its rows sum to 1 only to
    # ~1e-3); bfloat16 crashed in .numpy()
    logits, y = _data(n=500, c=10, seed=7)
    p = torch.softmax(logits.to(dtype), -1)
    assert (p.double().sum(-1) - 1).abs().max() > 1e-4  # the rounding the old check refused (measured)
    ref = torch.softmax(logits.to(dtype).double(), -1)
    assert expected_calibration_error(p, y, 10) == pytest.approx(expected_calibration_error(ref, y, 10), abs=0.02)
    assert nll(p, y) == pytest.approx(nll(ref, y), rel=0.02)
    assert brier_score(p, y) == pytest.approx(brier_score(ref, y), rel=0.02)
    t = fit_scaling(logits.to(dtype), y).temperature
    assert t == pytest.approx(fit_scaling(logits.to(dtype).double(), y).temperature, rel=1e-9)
    conf = p.max(-1).values
    assert 0 <= confidence_ece(conf, p.argmax(-1) == y, 10) <= 1
    with pytest.raises(ValueError, match="did you pass logits"):
        expected_calibration_error(logits.abs().to(dtype), y)


def test_bfloat16_edges_follow_the_documented_rule():
    # a confidence equal to b/B rounded to bfloat16 opens the bin above, as in float16/32/64
    for b in range(2, 21):
        for k in range(1, b):
            edge = torch.tensor(k / b, dtype=torch.float64).to(torch.bfloat16)
            bins = confidence_bins(edge.reshape(1), torch.tensor([True]), b)
            np.testing.assert_array_equal(bins.count, [1])
            assert bins.confidence[0] >= bins.edges[k] and bins.edges[k] == float(edge)


def test_calibration_refuses_bool_and_float_labels_and_bool_probs_by_name():
    logits, y = _data(n=20, c=3)
    p = torch.softmax(logits, -1)
    with pytest.raises(ValueError, match="^labels must be an array of real numbers"):
        brier_score(p, y == 0)
    with pytest.raises(ValueError, match="^labels must be integers"):
        nll(p, y.double())
    with pytest.raises(ValueError, match="^probs must be an array of real numbers"):
        brier_score(p > 0.5, y)
    with pytest.raises(ValueError, match="^eps must be"):
        nll(p, y, eps=float("nan"))
    with pytest.raises(ValueError, match="^strategy must be"):
        expected_calibration_error(p, y, 10, "quantile")  # type: ignore[arg-type]
    assert nll(p, y, eps=np.float32(1e-6)) > 0


def _ece_by_definition(p: np.ndarray, y: np.ndarray, b: int) -> float:
    """ECE straight from the rule: float64 copy, argmax (first maximum), edges k/B rounded to the
    input's dtype, an inner edge opening the bin above, 1.0 in the last bin."""
    p64 = p.astype(np.float64)
    conf, correct = p64.max(1), (p64.argmax(1) == y).astype(np.float64)
    edges = (np.arange(b + 1, dtype=p.dtype) / p.dtype.type(b)).astype(np.float64)
    ids = np.searchsorted(edges[1:-1], conf, side="right")
    total = 0.0
    for k in range(b):
        inside = ids == k
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return total


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_top_label_keeps_ties_edges_and_the_value(dtype):
    """The top label is taken without a float64 copy and bins without a binary search per value;
    ties for the top (the first maximal class decides), confidences on every edge and at 1.0
    still land as the rule says, to 1e-12 of the value computed by definition."""
    rng = np.random.default_rng(0)
    for c, b in ((2, 10), (3, 15), (10, 7)):
        q = rng.integers(0, 4, size=(3000, c)).astype(np.float64) + 1e-3  # many ties for the top
        q /= q.sum(1, keepdims=True)
        y = rng.integers(c, size=3000)
        p = q.astype(dtype)
        assert abs(expected_calibration_error(p, y, b) - _ece_by_definition(p, y, b)) < 1e-12
    edges = (np.arange(11, dtype=dtype) / dtype(10))
    conf = np.concatenate([edges, np.nextafter(edges, dtype(0)), np.nextafter(edges, dtype(2))]).clip(0.5, 1)
    p = np.stack([conf, 1 - conf], 1).astype(dtype)  # top confidence on, just below and just above each edge
    y = rng.integers(2, size=len(p))
    assert abs(expected_calibration_error(p, y, 10) - _ece_by_definition(p, y, 10)) < 1e-12
    bins = reliability_bins(p, y, 10)
    assert bins.count.sum() == len(p) and 1.0 in p.max(1) and bins.confidence[-1] > 0.9
