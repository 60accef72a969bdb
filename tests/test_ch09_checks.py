"""Chapter 9's automatic exercise check: the reference passes, the usual mistakes fail."""

from __future__ import annotations

import math

from embedlab.exercises import check


def _dcg(ranked, relevant, k=10, offset=2):
    rel = set(relevant)
    return sum(1 / math.log2(r + offset) for r, item in enumerate(ranked[:k]) if item in rel)


def test_the_solution_passes():
    def good(ranked, relevant):
        return _dcg(ranked, relevant) / sum(1 / math.log2(r + 2) for r in range(min(len(set(relevant)), 10)))

    assert check("ch09.ndcg_at_10", good, quiet=True)


def test_an_ideal_list_not_cut_at_10_fails_on_users_with_many_items():
    def uncut(ranked, relevant):
        return _dcg(ranked, relevant) / sum(1 / math.log2(r + 2) for r in range(len(set(relevant))))

    res = check("ch09.ndcg_at_10", uncut, quiet=True)
    assert not res and "25 relevant items" in res.message


def test_counting_past_position_10_fails():
    def whole_list(ranked, relevant):
        return _dcg(ranked, relevant, k=len(ranked)) / sum(
            1 / math.log2(r + 2) for r in range(min(len(set(relevant)), 10)))

    res = check("ch09.ndcg_at_10", whole_list, quiet=True)
    assert not res and "longer than 10" in res.message


def test_an_off_by_one_discount_fails():
    def shifted(ranked, relevant):
        ideal = sum(1 / math.log2(r + 3) for r in range(min(len(set(relevant)), 10)))
        return _dcg(ranked, relevant, offset=3) / ideal

    assert not check("ch09.ndcg_at_10", shifted, quiet=True)
