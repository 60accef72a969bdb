"""How well a mean is known: intervals over draws, and over paired differences (all chapters).

The book's "how we compare" discipline (see the page of that name) rests on three intervals:

* :func:`mean_interval`: the Student-t interval of a mean over independent draws (seeds,
  few-shot episodes). It says how well the *mean* is known, not how much one draw varies.
* :func:`bootstrap_ci`: the percentile bootstrap of a mean over evaluation units (users,
  queries, pairs), resampled with replacement. It reflects which units happened to be in the test
  set, not the training randomness.
* :func:`paired_difference`: the bootstrap interval of the mean *difference* between two methods
  scored on the same units. Pairing removes the units' shared difficulty, so it is far narrower
  than two separate intervals; a difference whose interval contains 0 is a tie.

Everything is float64 NumPy; tensors are accepted (converted on the CPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from embedlab._checks import ArgumentError, array, integer, number

__all__ = [
    "mean_interval",
    "bootstrap_ci",
    "paired_difference",
    "Comparison",
    "compare",
    "SeedSpread",
    "seed_spread",
    "bootstrap_indices",
    "percentile_interval",
]


def _level(level) -> float:
    v = number(level, "level")
    if not 0 < v < 1:
        raise ArgumentError(f"level must be strictly between 0 and 1 (0.95 for 95%), got {v!r}")
    return v


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` and its Student-t confidence interval: ``(mean, low, high)``.

    Over random draws (few-shot episodes, seeds): the interval says how well the mean is known,
    not how much one draw varies. Equals ``scipy.stats.t.interval(level, n - 1, mean, sem)``.
    """
    from scipy.stats import t

    v = array(values, "values").reshape(-1)
    if v.size < 2:
        raise ArgumentError(f"values must hold at least 2 numbers (an interval needs a spread), got {v.size}")
    level = _level(level)
    m, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))
    half = float(t.ppf(0.5 + level / 2, df=v.size - 1)) * se
    return m, m - half, m + half


def bootstrap_indices(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Resamples of ``n`` units with replacement, in blocks: yields (rows, n) int64 index arrays,
    ``n_boot`` rows in all, from ``np.random.default_rng(seed)`` (about 4M indices, 32 MB, per
    block, so memory stays bounded at any ``n``). The one resampler of the package: a statistic
    other than the mean (a Spearman rho over word pairs) resamples with it too."""
    n = integer(n, "n", low=1)
    n_boot = integer(n_boot, "n_boot", low=1)
    rng = np.random.default_rng(integer(seed, "seed", low=0))
    per_block = max(1, (1 << 22) // n)
    for start in range(0, n_boot, per_block):
        yield rng.integers(0, n, size=(min(per_block, n_boot - start), n))


def percentile_interval(stats, level: float = 0.95) -> tuple[float, float]:
    """The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of bootstrap statistics; NaN
    statistics (a resample where the statistic is undefined, e.g. a constant column) are left out."""
    level = _level(level)
    low, high = np.nanquantile(np.asarray(stats, dtype=np.float64), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _bootstrap_means(v: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    return np.concatenate([v[idx].mean(axis=1) for idx in bootstrap_indices(v.size, n_boot, seed)])


def bootstrap_ci(values, *, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of per-unit ``values`` with a percentile bootstrap interval: ``(mean, low, high)``.

    Units (users, queries) are resampled with replacement ``n_boot`` times; ``low`` and ``high``
    are the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled means. The
    interval reflects which units happened to be in the test set, not the training randomness of
    the model. The same ``seed`` gives the same interval.
    """
    v = array(values, "values", ndim=1)
    if v.size < 2:
        raise ArgumentError(f"values must be a 1-D array of at least 2 units (users, queries), got shape {v.shape}")
    level = _level(level)
    n_boot = integer(n_boot, "n_boot", low=1)
    seed = integer(seed, "seed", low=0)
    low, high = percentile_interval(_bootstrap_means(v, n_boot, seed), level)
    return float(v.mean()), low, high


def paired_difference(a, b, *, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` over the same units, with its paired bootstrap interval: ``(diff, low, high)``.

    ``a`` and ``b`` are per-unit scores of two methods on the *same* units, in the same order
    (each unit's pair is resampled together). If ``low <= 0 <= high`` the two are tied at this
    level. Use a proper per-unit score (log-loss, a per-user metric), not an accuracy of the set.
    """
    x = array(a, "a", ndim=1)
    y = array(b, "b", ndim=1)
    if x.shape != y.shape:
        raise ArgumentError(f"a and b must score the same units, got shapes {x.shape} and {y.shape}")
    return bootstrap_ci(x - y, level=level, n_boot=n_boot, seed=seed)


@dataclass(frozen=True)
class Comparison:
    """The book's reading of a paired difference: ``diff = mean(a - b)`` with its interval, and a
    verdict that calls a difference whose interval contains 0 a tie (never "slightly better")."""

    names: tuple[str, str]
    diff: float  # mean of a - b over the shared units
    low: float
    high: float
    level: float
    higher_is_better: bool
    n_units: int

    @property
    def tie(self) -> bool:
        return self.low <= 0.0 <= self.high

    @property
    def winner(self) -> str | None:
        """The better method's name, or ``None`` for a tie."""
        if self.tie:
            return None
        a_larger = self.diff > 0
        return self.names[0] if a_larger == self.higher_is_better else self.names[1]

    @property
    def verdict(self) -> str:
        return "tie" if self.winner is None else f"{self.winner} better"

    def format(self, digits: int = 3) -> str:
        """``"a - b = +0.012 [+0.004, +0.020] (95%, 943 units): a better"``; ``digits`` decimals,
        chosen by the caller at a precision the numbers' spread across CPUs does not reach."""
        digits = integer(digits, "digits", low=0)
        a, b = self.names
        return (
            f"{a} - {b} = {self.diff:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}] "
            f"({self.level:.0%}, {self.n_units} units): {self.verdict}"
        )

    def __str__(self) -> str:
        return self.format()


def compare(
    a,
    b,
    *,
    names: tuple[str, str] = ("a", "b"),
    higher_is_better: bool = True,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare two methods scored on the same units (per-query NDCG, per-example log-loss).

    The paired bootstrap of :func:`paired_difference`, with the verdict the book uses: a
    difference whose interval contains 0 is a tie. ``higher_is_better=False`` for losses (NLL,
    Brier), so that the verdict names the method with the lower loss.
    """
    if not (isinstance(names, (tuple, list)) and len(names) == 2 and all(isinstance(n, str) for n in names)):
        raise ArgumentError(f"names must be two strings (one per method), got {names!r}")
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise ArgumentError(f"higher_is_better must be True or False, got {higher_is_better!r}")
    level = _level(level)
    d, low, high = paired_difference(a, b, level=level, n_boot=n_boot, seed=seed)
    n_units = int(np.asarray(a).reshape(-1).size)
    return Comparison((names[0], names[1]), d, low, high, level, bool(higher_is_better), n_units)


@dataclass(frozen=True)
class SeedSpread:
    """A score over several training seeds: mean, min and max (the range a ranking must report)."""

    mean: float
    low: float  # smallest over seeds
    high: float  # largest over seeds
    n_seeds: int

    def format(self, digits: int = 2) -> str:
        """``"0.82 (0.79-0.85 over 5 seeds)"``."""
        digits = integer(digits, "digits", low=0)
        return f"{self.mean:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f} over {self.n_seeds} seeds)"

    def overlaps(self, other: SeedSpread) -> bool:
        """True if the two seed ranges overlap: the ranking of the two is not settled by seeds."""
        if not isinstance(other, SeedSpread):
            raise ArgumentError(f"other must be a SeedSpread, got {type(other).__name__}")
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return self.format()


def seed_spread(values) -> SeedSpread:
    """Mean, min and max of one score over training seeds (at least 2: one seed has no range)."""
    v = array(values, "values").reshape(-1)
    if v.size < 2:
        raise ArgumentError(f"values must hold one score per seed, at least 2 seeds, got {v.size}")
    return SeedSpread(float(v.mean()), float(v.min()), float(v.max()), int(v.size))
