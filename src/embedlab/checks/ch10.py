"""Hidden cases for chapter 10 (retrieval)."""

from __future__ import annotations

import numpy as np

from embedlab.exercises import Case, Exercise


def _hyperplane_codes(x, planes) -> np.ndarray:
    """Reference: bit j of a row's code is 1 when its dot product with planes[j] is > 0."""
    x, planes = np.asarray(x, dtype=np.float64), np.asarray(planes, dtype=np.float64)
    bits = (x @ planes.T) > 0                                   # (n, n_bits)
    return (bits.astype(np.int64) << np.arange(planes.shape[0], dtype=np.int64)).sum(axis=1)


def _code_cases() -> list[Case]:
    rng = np.random.default_rng(1010)
    cases = []
    for n, d, bits, label in [(5, 3, 4, "5 vectors, 4 bits"), (50, 16, 12, "50 vectors, 12 bits"),
                              (20, 50, 30, "30 bits")]:
        cases.append(Case(args=(rng.standard_normal((n, d)), rng.standard_normal((bits, d))), label=label))
    planes = np.eye(3)
    x = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [-2.0, 3.0, 5.0]])
    cases.append(Case(args=(x, planes), label="dot products of exactly 0"))
    cases.append(Case(args=(rng.standard_normal((4, 8)), rng.standard_normal((1, 8))), label="a single bit"))
    return cases


EXERCISES = [
    Exercise(
        id="ch10.hyperplane_codes",
        reference=_hyperplane_codes,
        cases=_code_cases,
        hint="the test is strictly greater than 0; plane 0 gives the lowest bit (2**0); return one integer per "
        "row of x, not the bits.",
    ),
]
