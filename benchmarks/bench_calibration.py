"""Expected calibration error (chapter 7) vs torchmetrics' MulticlassCalibrationError.

Top-label ECE with 15 equal-width bins over the predictions of a 10-class model: ours is
:func:`embedlab.calibration.expected_calibration_error` (the top label taken in the input's
dtype, bins and sums in float64), the reference is
``torchmetrics.functional.classification.multiclass_calibration_error(norm="l1")``, the
implementation most PyTorch users would reach for. The predictions are synthetic but shaped like
a real classifier's: logits ``scale * N(0, 1)`` with the true class boosted, so confidences spread
over the whole [0.1, 1] range and every bin is used.

Speed is predictions scored per second, including the conversion each side needs from a float32
probability tensor. Quality: both ECE values (they must agree within 1e-4: torchmetrics bins in
float32, we in float64, so a confidence on a bin edge may fall either side), recorded per round.

    python -m benchmarks.bench_calibration                 # full size, writes benchmarks/results/calibration.json
    python -m benchmarks.bench_calibration --tiny --out /tmp/bench
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from . import _harness as harness
from . import _load

SOURCES = ("src/embedlab/calibration.py", "benchmarks/_load.py")
ECE = "ECE (15 equal-width bins)"
AGREEMENT = 1e-4  # float32 (torchmetrics) vs float64 (ours) binning of the same confidences


@dataclass
class Config:
    predictions: int = 1_000_000
    classes: int = 10
    bins: int = 15
    threads: tuple[int, ...] = (1, 2)
    rounds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("predictions", "classes", "bins", "rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


FULL = Config()
TINY = Config(predictions=5_000, rounds=2)


def predictions(cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """probs: (N, C) float32, labels: (N,) int64 from a synthetic, somewhat overconfident model."""
    g = torch.Generator().manual_seed(cfg.seed)
    labels = torch.randint(cfg.classes, (cfg.predictions,), generator=g)
    logits = 2.0 * torch.randn(cfg.predictions, cfg.classes, generator=g)
    logits[torch.arange(cfg.predictions), labels] += 2.5  # right more often than not
    return torch.softmax(logits, -1), labels


def measure(cfg: Config, device: torch.device) -> list[dict]:
    from torchmetrics.functional.classification import multiclass_calibration_error

    from embedlab.calibration import expected_calibration_error

    probs, labels = predictions(cfg)
    print(f"  {cfg.predictions:,} predictions over {cfg.classes} classes, {cfg.bins} bins "
          "(both on the CPU: ours is NumPy)")

    def one_setting(threads: int) -> dict:
        values: dict[int, float] = {}

        def reference(r: int) -> harness.Measurement:
            with harness.torch_threads(threads):
                t0 = time.perf_counter()
                value = float(multiclass_calibration_error(probs, labels, num_classes=cfg.classes,
                                                           n_bins=cfg.bins, norm="l1"))
                seconds = time.perf_counter() - t0
            values[r] = value
            return harness.Measurement(cfg.predictions / seconds, {ECE: value})

        def ours(r: int) -> harness.Measurement:
            with harness.torch_threads(threads):
                t0 = time.perf_counter()
                value = expected_calibration_error(probs, labels, cfg.bins, "width")
                seconds = time.perf_counter() - t0
            theirs = values.get(r)
            if theirs is None:  # ours ran first this round: ask the reference now, untimed
                theirs = float(multiclass_calibration_error(probs, labels, num_classes=cfg.classes,
                                                            n_bins=cfg.bins, norm="l1"))
            if abs(value - theirs) > AGREEMENT:
                raise AssertionError(f"ECE differs: ours {value:.6f}, torchmetrics {theirs:.6f}")
            return harness.Measurement(cfg.predictions / seconds, {ECE: value})

        label = f"{threads} thread{'s' * (threads != 1)}"
        with _load.Load() as load:
            mine, theirs = harness.interleave(ours, reference, cfg.rounds, label=label)
        return _load.mark(harness.row(
            label, "predictions/s", "embedlab.calibration.expected_calibration_error",
            "torchmetrics multiclass_calibration_error", mine, theirs,
            quality_higher_is_better={ECE: False},
            note=(f"{cfg.predictions:,} predictions, {cfg.classes} classes, {cfg.bins} equal-width bins; "
                  f"torch.set_num_threads({threads}) for both (ours: NumPy and single-pass torch reductions)"),
            goal=1.0,  # issue 26: at least torchmetrics' speed, with the same value (checked above)
        ), threads, load)

    return [one_setting(t) for t in cfg.threads]


def versions() -> dict[str, str]:
    import torchmetrics

    return {"torchmetrics": torchmetrics.__version__}


def main(argv: Sequence[str] | None = None) -> Path:
    return harness.main(__file__, argv, (FULL, TINY), measure, sources=SOURCES, versions=versions,
                        notes="Predictions scored per second. Both ECE values are recorded; they must agree "
                              "within 1e-4 in every round (checked).")


if __name__ == "__main__":
    main()
