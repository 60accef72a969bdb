"""Chapter 10's automatic exercise check: the reference passes, the usual mistakes fail."""

from __future__ import annotations

import numpy as np

from embedlab.exercises import check


def _codes(x, planes, *, strict=True, little_endian=True):
    proj = np.asarray(x) @ np.asarray(planes).T
    bits = proj > 0 if strict else proj >= 0
    weights = 2 ** np.arange(bits.shape[1])
    return (bits * (weights if little_endian else weights[::-1])).sum(1)


def test_the_solution_passes():
    assert check("ch10.hyperplane_codes", _codes, quiet=True)


def test_counting_a_zero_projection_as_a_one_fails():
    res = check("ch10.hyperplane_codes", lambda x, p: _codes(x, p, strict=False), quiet=True)
    assert not res and "exactly 0" in res.message


def test_bits_in_the_wrong_order_fail():
    assert not check("ch10.hyperplane_codes", lambda x, p: _codes(x, p, little_endian=False), quiet=True)


def test_returning_the_bits_instead_of_a_code_fails():
    assert not check("ch10.hyperplane_codes", lambda x, p: np.asarray(x) @ np.asarray(p).T > 0, quiet=True)
